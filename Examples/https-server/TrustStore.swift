import OpenSSL
import OpenSSLNIO

/// The registry of known client certificates, standing in for a database or
/// a directory service: it answers after a delay, so it must be asked from
/// async code, never on an event loop.
actor TrustStore {
    /// SHA-256 digests of the DER of every known client certificate.
    private let known: Set<[UInt8]>
    /// How long each question takes (a network round trip).
    let delay: Duration
    /// Questions asked and questions still being answered (for tests and logs).
    private(set) var questions = 0
    private(set) var pending = 0

    /// A store that knows `certificates`.
    /// - Throws: `OpenSSLError` when a certificate cannot be encoded.
    init(knowing certificates: [X509], delay: Duration = .milliseconds(50)) throws {
        known = Set(try certificates.map { try $0.digest(.sha256) })
        self.delay = delay
    }

    /// Whether `certificate` is one of the known clients, after the store's delay.
    func isKnown(_ certificate: X509) async -> Bool {
        questions += 1
        pending += 1
        defer { pending -= 1 }
        try? await Task.sleep(for: delay)
        guard let digest = try? certificate.digest(.sha256) else { return false }
        return known.contains(digest)
    }
}

/// Who may talk to the server: a client whose certificate chain verifies to
/// the client CA (OpenSSL's verdict) and whose certificate the trust store
/// knows. Its `decide(_:)` has the shape of an asynchronous whole-chain
/// verification hook, `(PeerVerification) async throws -> VerificationDecision`.
struct ClientPolicy: Sendable {
    let trustStore: TrustStore

    /// Accepts a verified chain whose leaf the trust store knows; refuses
    /// everything else (no certificate, a chain OpenSSL refused, a stranger).
    func decide(_ verification: PeerVerification) async throws -> VerificationDecision {
        guard verification.isAcceptedByPolicy, let leaf = verification.leaf else { return .reject }
        return await trustStore.isKnown(leaf) ? .accept : .reject
    }
}
