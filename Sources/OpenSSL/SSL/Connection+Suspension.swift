import Foundation
internal import COpenSSL

// What an event loop needs to let a handshake wait for an answer that comes
// later (an asynchronous certificate choice or verification decision)
// without blocking: OpenSSL's certificate callback with suspend and resume,
// control of the TLS 1.3 tickets a server sends, dropping ciphertext the
// connection should no longer act on, and the server's session cache entry
// of one connection. Used by the OpenSSLNIO handlers (Docs/nio.md).

extension Context {
    /// What a certificate callback answers.
    public enum CertificateCallbackResult: Sendable, Hashable {
        /// The certificate and key are in place (or the defaults stand): the handshake goes on.
        case ready
        /// Not yet: the handshake stops with `SSLError.wantX509Lookup`; drive
        /// it again (`doHandshake()`) once the answer is in place, and the
        /// callback is called again.
        case retryLater
    }

    /// Called while the handshake is about to choose the certificate this
    /// side presents: on a server after the ClientHello has been read (the
    /// server name, `connection.serverName`, is known, and any server-name
    /// callback has run), on a client when the server asked for a
    /// certificate. Put a certificate and key in place with
    /// `connection.useCertificate(_:)`, `usePrivateKey(_:)` and
    /// `setCertificateChain(_:)`, or answer `.retryLater` to suspend the
    /// handshake until you have them. A thrown error fails the handshake
    /// (internal-error alert) and comes out of the driving call as
    /// `SSLError.callback(thatError)`.
    public typealias CertificateCallback = @Sendable (_ connection: Connection) throws -> CertificateCallbackResult

    /// Sets the certificate callback of the connections made from this
    /// context (see `CertificateCallback`). Connections keep it across a
    /// context switch.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_cert_cb(3)
    public func setCertificateCallback(_ callback: CertificateCallback?) throws {
        try ensureConfigurable("set certificate callback")
        state.withLock { $0.callbacks.certificate = callback }
    }
}

extension Connection {
    // MARK: Certificate callback

    /// Sets this connection's certificate callback, replacing its
    /// context's (see `Context.CertificateCallback`). It stays with the
    /// connection across `setContext(_:)`.
    /// - SeeAlso: SSL_set_cert_cb(3)
    public func setCertificateCallback(_ callback: Context.CertificateCallback?) {
        callbacks.certificate = callback
    }

    /// Sets the chain sent after this connection's certificate (the
    /// intermediates, leaf excluded), replacing its context's.
    /// - Throws: `OpenSSLError` when OpenSSL refuses a certificate.
    /// - SeeAlso: SSL_set1_chain(3)
    public func setCertificateChain(_ chain: [X509]) throws {
        try ErrorQueue.check("set certificate chain") { cossl_SSL_clear_chain_certs(raw) }
        for certificate in chain {
            try ErrorQueue.check("set certificate chain") { cossl_SSL_add1_chain_cert(raw, certificate.raw) }
        }
    }

    /// True while the handshake waits for a certificate callback that
    /// answered `.retryLater`.
    /// - SeeAlso: SSL_want_x509_lookup(3)
    public var isWaitingForCertificate: Bool { cossl_SSL_want_x509_lookup(raw) == 1 }

    func runCertificateCallback() -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.certificate else { return 1 }
        do {
            switch try callback(self) {
            case .ready: return 1
            case .retryLater: return -1
            }
        } catch {
            callbackError = error
            return 0
        }
    }

    // MARK: TLS 1.3 session tickets

    /// How many TLS 1.3 session tickets this server connection sends after
    /// its handshake (its context's `sessionTicketCount` until changed).
    /// - SeeAlso: SSL_get_num_tickets(3)
    public var sessionTicketCount: Int { SSL_get_num_tickets(raw) }

    /// Sets how many TLS 1.3 session tickets this server connection sends
    /// when its handshake completes. 0 before the handshake sends none (a
    /// server that has not decided yet whether to trust its client), and
    /// `issueSessionTicket()` sends them later.
    /// - Throws: `OpenSSLError` for a negative count or when OpenSSL refuses.
    /// - SeeAlso: SSL_set_num_tickets(3)
    public func setSessionTicketCount(_ count: Int) throws {
        guard count >= 0 else {
            throw OpenSSLError(operation: "set session ticket count", detail: "\(count) is negative")
        }
        try ErrorQueue.check("set session ticket count") { SSL_set_num_tickets(raw, count) }
    }

    /// Server, TLS 1.3: queues one more session ticket. It is written with
    /// the next `write` or `doHandshake()` call (call `doHandshake()` after
    /// the handshake to send it at once).
    /// - Throws: `OpenSSLError` when OpenSSL refuses (a client, or not TLS 1.3).
    /// - SeeAlso: SSL_new_session_ticket(3)
    public func issueSessionTicket() throws {
        try ErrorQueue.check("issue session ticket") { SSL_new_session_ticket(raw) }
    }

    // MARK: The server's session cache

    /// Server: takes this connection's session out of the session cache, so
    /// no other connection can resume it (until `addSessionToCache()`).
    /// Returns false when it was not there.
    ///
    /// OpenSSL marks a session it removes from a cache as never resumable
    /// again; `addSessionToCache()` therefore puts back a fresh copy.
    /// - SeeAlso: SSL_CTX_remove_session(3)
    @discardableResult
    public func removeSessionFromCache() -> Bool {
        guard let session = SSL_get_session(raw) else { return false }
        defer { ErrorQueue.clear() }
        // The cache is that of the context the connection was made from
        // (OpenSSL's session_ctx), even after a context switch.
        let removed = SSL_CTX_remove_session(originalContext.raw, session) == 1
        if removed { sessionTakenFromCache = true }
        return removed
    }

    /// Server: puts this connection's session into the session cache (back,
    /// after `removeSessionFromCache()`), when the context caches server
    /// sessions, the handshake completed and nothing failed. Returns false
    /// otherwise.
    ///
    /// A session `removeSessionFromCache()` took out is marked not resumable
    /// by OpenSSL, so what goes back is a copy made through its DER form
    /// (`i2d_SSL_SESSION`, `d2i_SSL_SESSION`): the same id, secrets, peer
    /// certificate, id context and lifetime, without the mark.
    /// - SeeAlso: SSL_CTX_add_session(3)
    @discardableResult
    public func addSessionToCache() -> Bool {
        guard let session = SSL_get_session(raw), SSL_is_init_finished(raw) == 1, !hasFailed,
            cossl_SSL_CTX_get_session_cache_mode(originalContext.raw) & Int(SSL_SESS_CACHE_SERVER) != 0
        else {
            return false
        }
        defer { ErrorQueue.clear() }
        if SSL_SESSION_is_resumable(session) == 1 {
            return SSL_CTX_add_session(originalContext.raw, session) == 1
        }
        guard sessionTakenFromCache,
            let copy = try? Session(der: try Session(borrowing: session, origin: nil).der)
        else { return false }
        sessionTakenFromCache = false
        return SSL_CTX_add_session(originalContext.raw, copy.raw) == 1
    }

    // MARK: Dropping ciphertext

    /// Memory BIOs: drops the ciphertext from the peer that OpenSSL has not
    /// read yet (the connection is being abandoned, or what follows must be
    /// read first). Does nothing on other transports.
    public func discardUnreadCiphertext() {
        memoryBuffers?.pointee.discardIncoming()
    }

    /// Memory BIOs: drops the ciphertext OpenSSL wrote that has not been
    /// taken with `bioRead` (a flight that must never reach the peer).
    /// Does nothing on other transports.
    public func discardPendingCiphertext() {
        memoryBuffers?.pointee.discardOutgoing()
    }
}

/// `SSL_CTX_set_cert_cb`: installed on every context (a connection may carry
/// a pinned callback onto a context that has none). Without a Swift
/// callback it answers "go on", exactly as if none were installed.
func certificateTrampoline(_ ssl: OpaquePointer?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let connection = Connection.from(ssl) else { return 1 }
    return connection.runCertificateCallback()
}
