import Foundation

// The shapes of the TLS feature callbacks a Context (and a Connection) takes.
// Setting them: Context+Callbacks.swift, Connection+Callbacks.swift; how
// OpenSSL reaches them: Callbacks/.

extension Context {
    /// Called on a server when a ClientHello arrives, before the server
    /// picks its certificate: read `connection.serverName` and, for a
    /// certificate per host, switch with `connection.setContext(_:)`.
    /// A thrown error fails the handshake (with an internal-error alert) and
    /// comes out of the driving call as `SSLError.callback(thatError)`.
    public typealias ServerNameCallback = @Sendable (_ connection: Connection) throws -> Void

    /// Called on a server with the protocols the client offered, in the
    /// client's order. Return the one to use, or nil for "no overlap" (the
    /// handshake goes on without ALPN). Returning a protocol the client did
    /// not offer, or throwing, fails the handshake; the error comes out of
    /// the driving call as `SSLError.callback`.
    public typealias ALPNSelectCallback = @Sendable (_ connection: Connection, _ offered: [String]) throws -> String?

    /// Receives each secret of a handshake as one NSS key-log line
    /// (`CLIENT_RANDOM …` on TLS 1.2, `CLIENT_HANDSHAKE_TRAFFIC_SECRET …` and
    /// the other traffic-secret labels on TLS 1.3), without a newline.
    public typealias KeylogCallback = @Sendable (_ connection: Connection, _ line: String) -> Void

    /// Receives handshake progress and alerts (see `InfoEvent`).
    public typealias InfoCallback = @Sendable (_ connection: Connection, _ event: InfoEvent) -> Void

    /// Receives every new session a connection establishes: on a client the
    /// TLS 1.3 tickets (which arrive after the handshake, while reading) and
    /// TLS 1.2 sessions. Keep the `Session` (or its `der`) to resume later.
    public typealias NewSessionCallback = @Sendable (_ connection: Connection, _ session: Session) -> Void

    /// Called when a session leaves a server's internal cache (expired,
    /// flushed or removed), with the context whose cache it left.
    ///
    /// OpenSSL may run it while it holds the cache's lock (when flushing, and
    /// when a handshake evicts a session from a full cache). So
    /// `removeSession(_:)` and `flushSessions(expiredAt:)` called from it on
    /// the same thread are deferred until OpenSSL lets go: right after the
    /// `flushSessions`/`removeSession` call that ran the callback returns, or,
    /// when OpenSSL ran it during a handshake or while freeing a connection,
    /// on a thread of their own moments later. A deferred `removeSession`
    /// returns false. Do not make the callback wait for another thread that
    /// uses the same context's cache: that thread may be waiting for the lock.
    public typealias RemoveSessionCallback = @Sendable (_ context: Context, _ session: Session) -> Void

    /// Called on a server whose client asked for OCSP stapling: return the
    /// DER-encoded OCSP response to staple, or nil (or empty) to staple none.
    /// A thrown error fails the handshake and comes out of the driving call.
    public typealias OCSPServerCallback = @Sendable (_ connection: Connection) throws -> [UInt8]?

    /// Called on a client that asked for OCSP stapling (`requestOCSP()`),
    /// with the response the server stapled (empty when it stapled none).
    /// Return false to fail the handshake; a thrown error fails it too and
    /// comes out of the driving call.
    public typealias OCSPClientCallback = @Sendable (_ connection: Connection, _ response: [UInt8]) throws -> Bool

    /// DTLS server: makes the cookie sent in a HelloVerifyRequest (1 to 255
    /// bytes; anything else fails the call with a `UsageError`).
    public typealias CookieGenerateCallback = @Sendable (_ connection: Connection) throws -> [UInt8]

    /// DTLS server: says whether a cookie the client echoed is one this server made.
    public typealias CookieVerifyCallback = @Sendable (_ connection: Connection, _ cookie: [UInt8]) throws -> Bool
}
