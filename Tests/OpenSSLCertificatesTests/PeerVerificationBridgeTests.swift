import Foundation
import OpenSSL
import OpenSSLCertificates
import SwiftASN1
import Testing
import X509
import _CryptoExtras
import TestSupport

/// B03: the whole-chain hook gets the peer's chain as `Certificate`s and
/// runs swift-certificates' `Verifier` beside OpenSSL's verdict.
///
/// `PeerVerification.validate(with:)` blocks the thread driving the
/// handshake until the async `Verifier` is done; the handshakes here run on
/// a thread of their own (as a blocking-socket server would), not on one of
/// Swift Testing's cooperative threads.
@Suite("Bridge: the whole-chain hook runs swift-certificates' Verifier")
struct PeerVerificationBridgeTests {
    var pki: TestPKI { TestPKI.shared }

    /// What the hook saw, recorded for the test to check after the handshake.
    final class Record: @unchecked Sendable {  // guarded by lock
        private let lock = NSLock()
        private var _peer: [Certificate] = []
        private var _verified: [Certificate]?
        private var _openSSLError: X509VerificationError?
        private var _swiftCertificates: CertificateValidationResult?

        func set(
            peer: [Certificate], verified: [Certificate]?, openSSLError: X509VerificationError?,
            swiftCertificates: CertificateValidationResult
        ) {
            lock.withLock {
                _peer = peer
                _verified = verified
                _openSSLError = openSSLError
                _swiftCertificates = swiftCertificates
            }
        }

        var peer: [Certificate] { lock.withLock { _peer } }
        var verified: [Certificate]? { lock.withLock { _verified } }
        var openSSLError: X509VerificationError? { lock.withLock { _openSSLError } }
        var swiftCertificates: CertificateValidationResult? { lock.withLock { _swiftCertificates } }
    }

    /// A user's own policy beside RFC 5280: the leaf must carry an RSA key.
    struct RequireRSALeaf: VerifierPolicy, Sendable {
        let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

        func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
            _RSA.Signing.PublicKey(chain.leaf.publicKey) == nil
                ? .failsToMeetPolicy(reason: "the leaf's key is not RSA") : .meetsPolicy
        }
    }

    /// A client context whose hook runs `verifier` and accepts only when
    /// both OpenSSL and swift-certificates accept.
    func client<Policy: VerifierPolicy>(
        _ makeVerifier: @escaping @Sendable () -> Verifier<Policy>,
        record: Record
    ) throws -> Context {
        let context = try Context.client(trusting: [pki.root])
        try context.setPeerVerification { _, verification in
            let result = try verification.validate(with: makeVerifier())
            record.set(
                peer: try verification.peerCertificates, verified: try verification.verifiedCertificates,
                openSSLError: verification.openSSLError, swiftCertificates: result)
            guard case .validCertificate = result, verification.isAcceptedByPolicy else { return .reject }
            return .accept
        }
        return context
    }

    /// Runs a handshake on a thread of its own; returns the client's failure, or nil when both sides finished.
    func handshake(client: Context, server: Context) async throws -> String? {
        try await onThread {
            let pair = try TLSPair(client: client, server: server)
            do {
                try pair.handshake()
                return nil
            } catch let failure as TLSPair.Failure {
                return "\(failure.side)"
            }
        }
    }

    @Test("B03 the hook gets the chain as Certificates and RFC 5280 agrees with OpenSSL on a good chain")
    func goodChainAccepted() async throws {
        let record = Record()
        let root = try Certificate(pki.root)
        let verifier = { @Sendable in
            Verifier(rootCertificates: CertificateStore([root])) { RFC5280Policy() }
        }
        let failure = try await handshake(
            client: try client(verifier, record: record),
            server: try Context.server(
                certificate: pki.server, key: pki.serverKey,
                chain: [pki.intermediate]))
        #expect(failure == nil)
        #expect(record.peer == [try Certificate(pki.server), try Certificate(pki.intermediate)])
        #expect(record.verified == [try Certificate(pki.server), try Certificate(pki.intermediate), root])
        #expect(record.openSSLError == nil)
        guard case .validCertificate(let chain) = record.swiftCertificates else {
            Issue.record("swift-certificates refused: \(String(describing: record.swiftCertificates))")
            return
        }
        #expect(Array(chain) == [try Certificate(pki.server), try Certificate(pki.intermediate), root])
    }

    @Test("B03 a user's policy in the Verifier refuses a chain OpenSSL accepts, and the hook's refusal fails the handshake")
    func userPolicyRefuses() async throws {
        let root = try Certificate(pki.root)
        let makeVerifier = { @Sendable in
            Verifier(rootCertificates: CertificateStore([root])) {
                RFC5280Policy()
                RequireRSALeaf()
            }
        }
        // P-256 leaf: OpenSSL accepts; the user's policy refuses.
        let refused = Record()
        let failure = try await handshake(
            client: try client(makeVerifier, record: refused),
            server: try Context.server(
                certificate: pki.server, key: pki.serverKey,
                chain: [pki.intermediate]))
        #expect(failure == "client")
        #expect(refused.openSSLError == nil)
        guard case .couldNotValidate(let failures) = refused.swiftCertificates else {
            Issue.record("swift-certificates accepted a P-256 leaf: \(String(describing: refused.swiftCertificates))")
            return
        }
        #expect(failures.contains { String(describing: $0.policyFailureReason).contains("not RSA") })

        // RSA leaf under the same root: both accept.
        let accepted = Record()
        let success = try await handshake(
            client: try client(makeVerifier, record: accepted),
            server: try Context.server(
                certificate: pki.rsaServer, key: pki.rsaServerKey,
                chain: [pki.intermediate]))
        #expect(success == nil)
        guard case .validCertificate = accepted.swiftCertificates else {
            Issue.record("swift-certificates refused the RSA leaf: \(String(describing: accepted.swiftCertificates))")
            return
        }
    }

    @Test("B03 on an expired leaf OpenSSL and RFC 5280 both refuse, each with its reason")
    func expiredLeafRefusedByBoth() async throws {
        let record = Record()
        let root = try Certificate(pki.root)
        let verifier = { @Sendable in
            Verifier(rootCertificates: CertificateStore([root])) { RFC5280Policy() }
        }
        let failure = try await handshake(
            client: try client(verifier, record: record),
            server: try Context.server(
                certificate: pki.expired, key: pki.expiredKey,
                chain: [pki.intermediate]))
        #expect(failure == "client")
        #expect(record.openSSLError?.code == .certHasExpired)
        #expect(record.peer.first == (try Certificate(pki.expired)))
        guard case .couldNotValidate(let failures) = record.swiftCertificates else {
            Issue.record("swift-certificates accepted an expired leaf")
            return
        }
        #expect(!failures.isEmpty)
    }
}

/// Runs `body` on a new thread and returns its result, so that blocking in
/// it never holds one of the cooperative pool's threads.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
