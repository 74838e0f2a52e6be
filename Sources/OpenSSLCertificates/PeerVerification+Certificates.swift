import Dispatch
import Foundation
import OpenSSL
import X509

extension PeerVerification {
    /// The chain the peer sent, leaf first, as swift-certificates'
    /// `Certificate`s: what gRPC Swift, swift-nio-ssl's world and
    /// swift-certificates' `Verifier` expect.
    /// - Throws: `CertificateBridgeError.refused` when swift-certificates
    ///   cannot parse one of them (OpenSSL's verdict stands regardless),
    ///   `OpenSSLError` when OpenSSL cannot write one's DER.
    public var peerCertificates: [Certificate] {
        get throws { try [Certificate](peerChain) }
    }

    /// The verified chain, leaf to trust anchor, as `Certificate`s; nil when
    /// there is none (see `verifiedChain`).
    /// - Throws: as `peerCertificates`.
    public var verifiedCertificates: [Certificate]? {
        get throws {
            guard let verifiedChain else { return nil }
            return try [Certificate](verifiedChain)
        }
    }

    /// Runs swift-certificates' `verifier` over the peer's chain (its leaf,
    /// with the rest of the chain as intermediates) and returns its verdict,
    /// beside OpenSSL's (`openSSLError`) and the context policy's (`error`).
    ///
    /// The verification hook is synchronous and `Verifier.validate` is
    /// async, so this call blocks the calling thread (the one driving the
    /// handshake) on a semaphore while a detached task runs the verifier on
    /// Swift's global executor. That is safe from an ordinary thread, which
    /// is how this library drives a `Connection` (blocking sockets, or a
    /// transport pump). Do not call it from a task on the global concurrent
    /// executor's own threads under load: blocking one of them while
    /// waiting for another can starve the pool (2 threads on a 2-core
    /// machine). An async caller outside the handshake should call
    /// `Verifier.validate(leaf:intermediates:)` with `peerCertificates` itself.
    ///
    /// - Parameter verifier: the verifier, with its trust roots and policies
    ///   (`RFC5280Policy`, `ServerIdentityPolicy`, or the user's own).
    /// - Returns: swift-certificates' verdict: `.validCertificate(chain)` or
    ///   `.couldNotValidate(failures)`.
    /// - Throws: `CertificateBridgeError.refused` when the peer sent no
    ///   certificate or one cannot cross to swift-certificates (as
    ///   `peerCertificates`).
    public func validate<Policy: VerifierPolicy>(
        with verifier: Verifier<Policy>
    ) throws -> CertificateValidationResult {
        let chain = try peerCertificates
        guard let leaf = chain.first else {
            throw CertificateBridgeError(
                .refused, operation: "validate peer chain with Verifier",
                detail: "the peer sent no certificate")
        }
        let intermediates = CertificateStore(chain.dropFirst())
        let box = BlockingResult<CertificateValidationResult>()
        // The verifier (whose policy a result builder may have made, and so
        // not Sendable) moves to the task: this thread does not touch it again.
        let handOver = HandOver(verifier)
        Task.detached {
            var verifier = handOver.value
            box.set(await verifier.validate(leaf: leaf, intermediates: intermediates))
        }
        return box.wait()
    }
}

/// A value moved to one task and used only there.
private final class HandOver<Value>: @unchecked Sendable {  // read once, by the one task it is handed to
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// One value handed from a task to a thread blocked waiting for it.
private final class BlockingResult<Value: Sendable>: @unchecked Sendable {  // value guarded by the semaphore's ordering
    private let semaphore = DispatchSemaphore(value: 0)
    private var value: Value?

    func set(_ value: Value) {
        self.value = value
        semaphore.signal()
    }

    func wait() -> Value {
        while true {
            semaphore.wait()
            if let value { return value }
        }
    }
}
