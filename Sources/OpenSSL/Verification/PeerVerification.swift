import Foundation

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
    public init(
        peerChain: [X509], verifiedChain: [X509]?, error: X509VerificationError?,
        openSSLError: X509VerificationError?, policy: VerificationPolicy = .openSSL
    ) {
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
