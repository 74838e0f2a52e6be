import Foundation
internal import COpenSSL

/// What the whole-chain verification hook sees: the chain the peer sent,
/// OpenSSL's own verdict on it, and the verdict of the context's
/// verification policy (`Context.verificationPolicy`).
///
/// Under `.openSSL` both verdicts are the same. Under `.webPKI()`, OpenSSL
/// may accept a chain a Web-PKI rule refuses (`error?.rule` names it), or
/// refuse a first chain when the policy's path search finds another.
public struct PeerVerification: Sendable {
    /// The chain as the peer sent it, leaf first.
    public let peerChain: [X509]
    /// The verified chain, leaf to trust anchor: the one the policy accepted,
    /// or, when the policy refused, the one OpenSSL verified; nil when neither.
    public let verifiedChain: [X509]?
    /// Why the policy refuses the chain (code, depth, certificate at fault,
    /// and `rule` for a Web-PKI rule), or nil when it accepts. Under
    /// `.openSSL` this is OpenSSL's verdict.
    public let error: X509VerificationError?
    /// OpenSSL's own verdict on the first chain it built, or nil when it verified.
    public let openSSLError: X509VerificationError?
    /// The policy the chain was verified by.
    public let policy: VerificationPolicy

    /// Makes a value (the library makes these; public for tests of hooks).
    public init(peerChain: [X509], verifiedChain: [X509]?, error: X509VerificationError?,
                openSSLError: X509VerificationError?, policy: VerificationPolicy = .openSSL) {
        self.peerChain = peerChain
        self.verifiedChain = verifiedChain
        self.error = error
        self.openSSLError = openSSLError
        self.policy = policy
    }

    /// The peer's own certificate.
    public var leaf: X509? { peerChain.first }
    /// True when OpenSSL verified the chain (trusted root, valid dates, host name when set, …).
    public var isTrustedByOpenSSL: Bool { openSSLError == nil }
    /// True when the policy accepts the chain (OpenSSL verified it, and,
    /// under `.webPKI()`, every rule passed).
    public var isAcceptedByPolicy: Bool { error == nil }
}

/// What the whole-chain hook decides.
public enum VerificationDecision: Sendable, Hashable {
    /// Accept the peer, whatever OpenSSL said (trust on first use, pinning
    /// a self-signed certificate).
    case accept
    /// Refuse the peer, whatever OpenSSL said (pinning: a trusted chain that is not the pinned one).
    case reject
    /// Suspend the handshake: it throws `SSLError.wantRetryVerify` until
    /// `Connection.setVerificationDecision(_:)` is called. Clients only
    /// (OpenSSL 3.0 cannot suspend a server's verification); on a server it
    /// fails the handshake with a `UsageError`.
    case decideLater
}

// MARK: - C trampolines

/// The SSL object a verification belongs to, found through the store
/// context's ex data (OpenSSL sets it for every TLS verification).
private func connection(of store: OpaquePointer) -> (OpaquePointer, Connection)? {
    let index = SSL_get_ex_data_X509_STORE_CTX_idx()
    guard index >= 0, let pointer = X509_STORE_CTX_get_ex_data(store, index) else { return nil }
    let ssl = OpaquePointer(pointer)
    guard let connection = Connection.from(ssl) else { return nil }
    return (ssl, connection)
}

/// `SSL_verify_cb` for the per-certificate callback. Never lets a Swift error cross into C.
func perCertificateVerifyTrampoline(_ ok: Int32, _ store: OpaquePointer?) -> Int32 {
    guard let store, let (_, connection) = connection(of: store) else { return ok }
    return connection.runPerCertificateCallback(ok: ok == 1, store: store)
}

/// The `SSL_CTX_set_cert_verify_callback` function installed on every context.
func chainVerifyTrampoline(_ store: OpaquePointer?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let store else { return 0 }
    guard let (ssl, connection) = connection(of: store) else {
        // Not one of ours (cannot happen for SSL made by Connection): OpenSSL's own verdict.
        return X509_verify_cert(store)
    }
    return connection.runPeerVerification(ssl: ssl, store: store)
}

extension X509VerificationError {
    /// The error recorded in a store context after a failed verification.
    init(store: OpaquePointer) {
        let code = Code(rawValue: X509_STORE_CTX_get_error(store))
        let depth = Int(X509_STORE_CTX_get_error_depth(store))
        let certificate = X509_STORE_CTX_get_current_cert(store).flatMap { try? X509(borrowing: $0) }
        self.init(code: code, depth: depth, certificate: certificate)
    }
}
