import OpenSSL
import Synchronization

/// A whole-chain verification hook that may wait — for a database of known
/// clients, a revocation service, an operator — without blocking the event
/// loop. It receives OpenSSL's verdict (and the Web-PKI policy's) in the
/// `PeerVerification` and answers `.accept` or `.reject`; a thrown error
/// fails the handshake with that error (`SSLError.callback`). `.decideLater`
/// has no meaning here and fails the handshake as a usage error.
///
/// On a client the handshake is suspended (OpenSSL's retry-verify) until the
/// answer comes. On a server OpenSSL 3.0 cannot suspend verification: the
/// handshake completes provisionally and the handler holds everything back
/// until the answer (see `OpenSSLServerHandler`). Either way it runs exactly
/// once per handshake, in a task of its own, and only when the peer
/// presented a certificate.
public typealias OpenSSLAsyncPeerVerifier = @Sendable (PeerVerification) async throws -> VerificationDecision

/// A server's certificate chosen while the handshake waits, from the name
/// the client asked for (SNI; nil when it sent none). A thrown error fails
/// the handshake with that error (`SSLError.callback`).
public typealias OpenSSLAsyncCertificateSelector = @Sendable (_ serverName: String?) async throws -> OpenSSLCertificateSelection

/// The certificate a server presents, chosen by an `OpenSSLAsyncCertificateSelector`.
public struct OpenSSLCertificateSelection: Sendable {
    /// The leaf first, then the intermediates to send with it.
    public var certificateChain: [X509]
    /// The leaf's private key.
    public var privateKey: PKey

    /// A certificate (leaf first, then intermediates) and its private key.
    public init(certificateChain: [X509], privateKey: PKey) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

/// What the connection's synchronous callbacks hand the handler while an
/// asynchronous answer is prepared. The callbacks run inside OpenSSL calls
/// the handler makes on its event loop; the box is locked only because the
/// callback types are `@Sendable`.
final class AsyncHookState: Sendable {
    enum CertificateStep {
        case notAsked
        case asked(serverName: String?)
        case chosen
    }

    struct Captured {
        var verification: PeerVerification?
        var certificate = CertificateStep.notAsked
    }

    let verifier: OpenSSLAsyncPeerVerifier?
    let certificateSelector: OpenSSLAsyncCertificateSelector?
    let captured = Mutex(Captured())

    init(verifier: OpenSSLAsyncPeerVerifier?, certificateSelector: OpenSSLAsyncCertificateSelector?) {
        self.verifier = verifier
        self.certificateSelector = certificateSelector
    }

    /// Installs the synchronous halves on `connection`: the whole-chain hook
    /// keeps the verification for the asynchronous one (a client postpones
    /// its decision; a server accepts provisionally), and the certificate
    /// callback suspends the handshake until a certificate has been chosen.
    func install(on connection: Connection, isServer: Bool) throws {
        if verifier != nil {
            connection.setPeerVerification { [self] _, verification in
                self.captured.withLock { $0.verification = verification }
                return isServer ? .accept : .decideLater
            }
            if isServer {
                // No TLS 1.3 ticket before the decision: a refused client must not resume.
                try connection.setSessionTicketCount(0)
            }
        }
        if certificateSelector != nil {
            connection.setCertificateCallback { [self] connection in
                let serverName = connection.serverName
                return self.captured.withLock { state in
                    switch state.certificate {
                    case .chosen:
                        return .ready
                    case .notAsked, .asked:
                        state.certificate = .asked(serverName: serverName)
                        return .retryLater
                    }
                }
            }
        }
    }

    /// The verification the whole-chain hook kept, taken (nil when none).
    func takeVerification() -> PeerVerification? {
        captured.withLock { state in
            defer { state.verification = nil }
            return state.verification
        }
    }

    /// True when the whole-chain hook kept a verification not yet taken.
    var hasVerification: Bool { captured.withLock { $0.verification != nil } }

    /// The server name the certificate callback was asked for, when it is waiting.
    var requestedServerName: String?? {
        captured.withLock { state in
            if case .asked(let name) = state.certificate { return .some(name) }
            return nil
        }
    }

    func markCertificateChosen() {
        captured.withLock { $0.certificate = .chosen }
    }
}
