import Foundation
internal import COpenSSL

/// A TLS 1.3 key update: whether the peer is asked to update its keys too.
public enum KeyUpdate: Sendable, Hashable {
    /// Update this side's sending keys only.
    case notRequested
    /// Update, and ask the peer to update its sending keys as well.
    case requested

    var rawValue: Int32 { self == .requested ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED }
}

// Key update, post-handshake authentication and renegotiation: what a
// connection can do once its handshake is over.

extension Connection {
    // MARK: TLS 1.3 key update

    /// Schedules a TLS 1.3 KeyUpdate; it is sent with the next write (or
    /// `doHandshake()`). With `.requested` the peer answers with a KeyUpdate
    /// of its own the next time it writes (`pendingKeyUpdate` shows it
    /// waiting there).
    /// - Throws: `OpenSSLError` before the handshake, on TLS 1.2, or while
    ///   another update is pending.
    /// - SeeAlso: SSL_key_update(3)
    public func requestKeyUpdate(_ kind: KeyUpdate = .requested) throws {
        try ErrorQueue.check("key update") { SSL_key_update(raw, kind.rawValue) }
    }

    /// The KeyUpdate waiting to be sent, if any: one this side scheduled, or
    /// the answer to a peer's `.requested` update (`.notRequested`).
    /// - SeeAlso: SSL_get_key_update_type(3)
    public var pendingKeyUpdate: KeyUpdate? {
        switch SSL_get_key_update_type(raw) {
        case SSL_KEY_UPDATE_REQUESTED: return .requested
        case SSL_KEY_UPDATE_NOT_REQUESTED: return .notRequested
        default: return nil
        }
    }

    // MARK: TLS 1.3 post-handshake client authentication

    /// Client: allows the server to ask for a certificate after the
    /// handshake (TLS 1.3). Set before the handshake; see also
    /// `Context.setPostHandshakeAuthentication(_:)`.
    /// - SeeAlso: SSL_set_post_handshake_auth(3)
    public func setPostHandshakeAuthentication(_ enabled: Bool) {
        SSL_set_post_handshake_auth(raw, enabled ? 1 : 0)
    }

    /// Server: asks the client for a certificate now, after a TLS 1.3
    /// handshake, and sends the request. The client answers when it next
    /// reads; the server's next `read` takes the answer, verifies it as
    /// `verifyMode` says (use `[.peer, .postHandshake]`, plus
    /// `.failIfNoPeerCertificate` to insist), and `peerCertificate` then
    /// returns it. After `.wantWrite`, call `doHandshake()` to finish sending.
    /// - Throws: `SSLError.ssl` when the client did not allow it ("extension
    ///   not received"), on TLS 1.2, or mid-handshake; I/O errors as `doHandshake()`.
    /// - SeeAlso: SSL_verify_client_post_handshake(3)
    public func requestClientCertificate() throws(SSLError) {
        ErrorQueue.clear()
        guard SSL_verify_client_post_handshake(raw) == 1 else {
            throw .ssl(ErrorQueue.drain("request a client certificate after the handshake"))
        }
        _ = try drive("post-handshake certificate request") { SSL_do_handshake(raw) }
    }

    // MARK: TLS 1.2 renegotiation

    /// Starts a TLS 1.2 renegotiation: the next `doHandshake()` (or read or
    /// write) sends the request. A peer with the `.noRenegotiation` option
    /// refuses it, and the renegotiation fails.
    /// - Throws: `OpenSSLError` on TLS 1.3 (which has no renegotiation), or
    ///   when this side has `.noRenegotiation`.
    /// - SeeAlso: SSL_renegotiate(3)
    public func renegotiate() throws {
        try ErrorQueue.check("renegotiate") { SSL_renegotiate(raw) }
    }

    /// True from `renegotiate()` until the renegotiation's handshake completes.
    /// - SeeAlso: SSL_renegotiate_pending(3)
    public var isRenegotiationPending: Bool { SSL_renegotiate_pending(raw) == 1 }

    /// How many renegotiations this connection has started.
    /// - SeeAlso: SSL_total_renegotiations(3)
    public var totalRenegotiations: Int { cossl_SSL_total_renegotiations(raw) }
}
