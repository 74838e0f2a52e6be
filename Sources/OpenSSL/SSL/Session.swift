import Foundation
internal import COpenSSL

/// A TLS session (OpenSSL's `SSL_SESSION`), the counterpart of pyOpenSSL's
/// `SSL.Session`: what a client keeps to resume a connection without a full
/// handshake.
///
/// Get one from `Connection.session` after a handshake, or — for TLS 1.3,
/// where tickets arrive after the handshake — from the context's
/// new-session callback (`Context.setNewSessionCallback(_:)`). Give it to
/// the next connection with `Connection.setSession(_:)`. For a cache outside
/// the process, store `der` and read it back with `Session(der:)`.
///
/// End connections with `shutdown()`: OpenSSL marks the session of a
/// connection that is dropped after its handshake without one as not
/// resumable (a connection that ended badly is not resumed), and that
/// includes the `Session` objects you hold for it.
///
/// A session holds secrets that resume the connection: keep serialised
/// sessions as private as keys.
public final class Session: @unchecked Sendable {
    // @unchecked Sendable: read-only accessors; OpenSSL copies a session before changing one that is shared.
    let handle: OwnedPointer<SSLSessionKind>
    var raw: OpaquePointer { handle.raw }
    /// The identity of the context whose connection produced the session;
    /// nil when it was read from DER. (An identity, not the object's address:
    /// a freed context's address can be reused by a new one.)
    let origin: UInt64?

    init(takingOwnership pointer: OpaquePointer, origin: Context?) {
        handle = OwnedPointer(takingOwnership: pointer)
        self.origin = origin?.identity
    }

    init(borrowing pointer: OpaquePointer, origin: Context?) throws {
        guard let owned = OwnedPointer<SSLSessionKind>(borrowing: pointer) else {
            throw ErrorQueue.drain("take a reference to a session")
        }
        handle = owned
        self.origin = origin?.identity
    }

    /// Reads a session serialised with `der`. It may be set on a connection
    /// of any context (there is no record of where it came from); a server
    /// resumes it only if it still accepts it (same session id context,
    /// ticket key, not expired).
    /// - Throws: `OpenSSLError` for empty, malformed or truncated input.
    /// - SeeAlso: d2i_SSL_SESSION(3)
    public convenience init(der: some ContiguousBytes) throws {
        let session = try MemoryBIO.fromDER(
            der, "read session (DER)",
            decode: { d2i_SSL_SESSION(nil, $0, $1) }, free: { SSL_SESSION_free($0) })
        self.init(takingOwnership: session, origin: nil)
    }

    /// The session serialised (ASN.1 DER), for an external cache.
    /// - Throws: `OpenSSLError` when OpenSSL cannot encode it.
    /// - SeeAlso: i2d_SSL_SESSION(3)
    public var der: [UInt8] {
        get throws {
            try MemoryBIO.der("write session (DER)") { i2d_SSL_SESSION(raw, $0) }
        }
    }

    /// The session id (empty for a TLS 1.3 or ticket-only session OpenSSL has not given one).
    /// - SeeAlso: SSL_SESSION_get_id(3)
    public var id: [UInt8] {
        var length: UInt32 = 0
        guard let bytes = SSL_SESSION_get_id(raw, &length) else { return [] }
        return Array(UnsafeBufferPointer(start: bytes, count: Int(length)))
    }

    /// The session id context the session was made under.
    /// - SeeAlso: SSL_SESSION_get0_id_context(3)
    public var idContext: [UInt8] {
        var length: UInt32 = 0
        guard let bytes = SSL_SESSION_get0_id_context(raw, &length) else { return [] }
        return Array(UnsafeBufferPointer(start: bytes, count: Int(length)))
    }

    /// The protocol version the session was negotiated with.
    /// - SeeAlso: SSL_SESSION_get_protocol_version(3)
    public var protocolVersion: ProtocolVersion? {
        ProtocolVersion(rawValue: SSL_SESSION_get_protocol_version(raw))
    }

    /// How long after `time` the session may be resumed, in seconds.
    /// - SeeAlso: SSL_SESSION_get_timeout(3)
    public var timeout: Int { SSL_SESSION_get_timeout(raw) }

    /// When the session was made.
    /// - SeeAlso: SSL_SESSION_get_time(3)
    public var time: Date { Date(timeIntervalSince1970: TimeInterval(cossl_SSL_SESSION_get_time(raw))) }

    /// True when the session carries a ticket (stateless resumption).
    /// - SeeAlso: SSL_SESSION_has_ticket(3)
    public var hasTicket: Bool { SSL_SESSION_has_ticket(raw) == 1 }

    /// The lifetime the server suggested for the ticket, in seconds (0 when none).
    /// - SeeAlso: SSL_SESSION_get_ticket_lifetime_hint(3)
    public var ticketLifetimeHint: Int { Int(SSL_SESSION_get_ticket_lifetime_hint(raw)) }

    /// True when the session can be used to resume.
    /// - SeeAlso: SSL_SESSION_is_resumable(3)
    public var isResumable: Bool { SSL_SESSION_is_resumable(raw) == 1 }

    /// The name of the session's cipher ("TLS_AES_256_GCM_SHA384").
    /// - SeeAlso: SSL_SESSION_get0_cipher(3)
    public var cipherName: String? {
        SSL_SESSION_get0_cipher(raw).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) }
    }

    /// The server name (SNI) the session was made for, when the server accepted one.
    /// - SeeAlso: SSL_SESSION_get0_hostname(3)
    public var serverName: String? {
        SSL_SESSION_get0_hostname(raw).map { String(cString: $0) }
    }

    /// The ALPN protocol negotiated in the session, if any.
    /// - SeeAlso: SSL_SESSION_get0_alpn_selected(3)
    public var alpnProtocol: String? {
        var bytes: UnsafePointer<UInt8>?
        var length = 0
        SSL_SESSION_get0_alpn_selected(raw, &bytes, &length)
        guard let bytes, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    /// The session's master secret (TLS 1.2 and below; on TLS 1.3 the
    /// resumption secret OpenSSL keeps in its place).
    /// - SeeAlso: SSL_SESSION_get_master_key(3)
    public var masterKey: [UInt8] {
        let length = SSL_SESSION_get_master_key(raw, nil, 0)
        guard length > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: length)
        let written = SSL_SESSION_get_master_key(raw, &out, length)
        return Array(out.prefix(written))
    }

    /// The peer's certificate recorded in the session, if any.
    /// - SeeAlso: SSL_SESSION_get0_peer(3)
    public var peerCertificate: X509? {
        SSL_SESSION_get0_peer(raw).flatMap { try? X509(borrowing: $0) }
    }

    /// Calls `body` with the underlying `SSL_SESSION *`. Valid only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

/// Which sessions a context caches (`SSL_SESS_CACHE_*`).
/// - SeeAlso: SSL_CTX_set_session_cache_mode(3)
public struct SessionCacheMode: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// No caching.
    public static let off: SessionCacheMode = []
    /// Cache the sessions of client connections (needed for the new-session callback on a client).
    public static let client = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_CLIENT))
    /// Cache the sessions of server connections (OpenSSL's default).
    public static let server = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_SERVER))
    /// Both.
    public static let both = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_BOTH))
    /// Do not flush expired sessions every 255 connections.
    public static let noAutoClear = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_NO_AUTO_CLEAR))
    /// Do not look sessions up in the internal cache (only through an external one).
    public static let noInternalLookup = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_NO_INTERNAL_LOOKUP))
    /// Do not store sessions in the internal cache.
    public static let noInternalStore = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_NO_INTERNAL_STORE))
    /// Neither look up nor store internally.
    public static let noInternal = SessionCacheMode(rawValue: Int(SSL_SESS_CACHE_NO_INTERNAL))
}

// MARK: - Context: the session cache

extension Context {
    /// Sets which sessions are cached; returns the previous mode (as pyOpenSSL does).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_session_cache_mode(3)
    @discardableResult
    public func setSessionCacheMode(_ mode: SessionCacheMode) throws -> SessionCacheMode {
        try ensureConfigurable("set session cache mode")
        return SessionCacheMode(rawValue: cossl_SSL_CTX_set_session_cache_mode(raw, mode.rawValue))
    }

    /// Which sessions are cached.
    /// - SeeAlso: SSL_CTX_get_session_cache_mode(3)
    public var sessionCacheMode: SessionCacheMode {
        SessionCacheMode(rawValue: cossl_SSL_CTX_get_session_cache_mode(raw))
    }

    /// Sets how many sessions the internal cache holds (0: no limit); returns the previous size.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for a negative size.
    /// - SeeAlso: SSL_CTX_sess_set_cache_size(3)
    @discardableResult
    public func setSessionCacheSize(_ size: Int) throws -> Int {
        try ensureConfigurable("set session cache size")
        guard size >= 0 else {
            throw OpenSSLError(operation: "set session cache size", detail: "the size must not be negative")
        }
        return cossl_SSL_CTX_sess_set_cache_size(raw, size)
    }

    /// How many sessions the internal cache holds at most (0: no limit).
    /// - SeeAlso: SSL_CTX_sess_get_cache_size(3)
    public var sessionCacheSize: Int { cossl_SSL_CTX_sess_get_cache_size(raw) }

    /// How many sessions the internal cache holds now.
    /// - SeeAlso: SSL_CTX_sess_number(3)
    public var cachedSessionCount: Int { cossl_SSL_CTX_sess_number(raw) }

    /// Sets the callback that receives each new session (see
    /// `NewSessionCallback`): on a client, the way to keep TLS 1.3 tickets.
    /// OpenSSL calls it on a client only when the cache mode includes
    /// `.client`, so this adds `.client` to the mode (and, on a
    /// `.tlsClient`/`.dtlsClient` context, `.noInternalStore`: a client
    /// never looks its internal cache up, so it would only grow).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_sess_set_new_cb(3)
    public func setNewSessionCallback(_ callback: NewSessionCallback?) throws {
        try ensureConfigurable("set new session callback")
        state.withLock { $0.callbacks.newSession = callback }
        guard callback != nil else {
            SSL_CTX_sess_set_new_cb(raw, nil)
            return
        }
        SSL_CTX_sess_set_new_cb(raw, newSessionTrampoline)
        var mode = sessionCacheMode.union(.client)
        if method == .tlsClient || method == .dtlsClient { mode.insert(.noInternalStore) }
        _ = cossl_SSL_CTX_set_session_cache_mode(raw, mode.rawValue)
    }

    /// Sets the callback told when a session leaves a server's internal cache.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_sess_set_remove_cb(3)
    public func setRemoveSessionCallback(_ callback: RemoveSessionCallback?) throws {
        try ensureConfigurable("set remove session callback")
        state.withLock { $0.removeSession = callback }
        SSL_CTX_sess_set_remove_cb(raw, callback == nil ? nil : removeSessionTrampoline)
    }

    /// Removes from the internal cache every session that has expired at
    /// `date` (now by default). The remove-session callback sees each one.
    /// Not configuration: allowed while the context is in use.
    ///
    /// Called from inside a remove-session callback, the flush is deferred
    /// (see `RemoveSessionCallback`): it runs once the OpenSSL call that ran
    /// the callback has returned.
    /// - SeeAlso: SSL_CTX_flush_sessions(3)
    public func flushSessions(expiredAt date: Date = Date()) {
        // 0 would mean "all"; a date before 1970 expires nothing anyway.
        let time = max(1, Int(date.timeIntervalSince1970.rounded(.down)))
        let calls = SessionCacheCalls.current
        if calls.isInsideRemoveCallback {
            calls.postpone(.flush(self, time: time))
            return
        }
        calls.perform { flushSessionsNow(time) }
    }

    /// Removes `session` from the internal cache and marks it not
    /// resumable; true when it was cached. The remove-session callback sees
    /// it (OpenSSL calls it even when the session was not cached). Allowed
    /// while the context is in use.
    ///
    /// Called from inside a remove-session callback, the removal is deferred
    /// (see `RemoveSessionCallback`): it runs once the OpenSSL call that ran
    /// the callback has returned, and this returns false, as the outcome is
    /// not known yet. A deferred removal of a session the callback has
    /// already been given in the same run is dropped: it has left the cache.
    ///
    /// OpenSSL also removes a connection's session by itself when the
    /// connection goes away after its handshake without a `shutdown()`.
    /// - SeeAlso: SSL_CTX_remove_session(3)
    @discardableResult
    public func removeSession(_ session: Session) -> Bool {
        let calls = SessionCacheCalls.current
        if calls.isInsideRemoveCallback {
            calls.postpone(.remove(self, session))
            return false
        }
        return calls.perform { removeSessionNow(session) }
    }

    fileprivate func flushSessionsNow(_ time: Int) {
        // The shim picks SSL_CTX_flush_sessions_ex on OpenSSL 3.4+ (the long form is deprecated there).
        cossl_SSL_CTX_flush_sessions(raw, time)
        ErrorQueue.clear()
    }

    fileprivate func removeSessionNow(_ session: Session) -> Bool {
        defer { ErrorQueue.clear() }
        return withExtendedLifetime(session) { SSL_CTX_remove_session(raw, session.raw) == 1 }
    }
}

// MARK: - Cache calls made from the remove-session callback

/// The session-cache calls (`removeSession`, `flushSessions`) a thread makes
/// from inside the remove-session callback, held back until OpenSSL has let
/// go of the cache.
///
/// OpenSSL runs the remove-session callback with the context's cache lock
/// held when it flushes (`SSL_CTX_flush_sessions`) and when a handshake
/// evicts a session from a full cache. A cache call made then cannot take the
/// lock: OpenSSL gives up on it and does nothing (the lock reports the
/// deadlock). So, per thread:
///
/// - a call made while a remove-session callback runs is queued;
/// - when the callback was run by `flushSessions` or `removeSession` (on
///   this thread), the queue runs right after OpenSSL's call returns, before
///   that method returns; calls those runs make from the callback join the
///   queue;
/// - when OpenSSL ran the callback by itself (during a handshake, or while
///   freeing a connection), this thread cannot tell when OpenSSL lets go, so
///   the queue runs on a thread of its own, which waits for the lock.
///
/// A queued removal of a session the callback has already been given in
/// the same run is dropped (it has left the cache; running it would only
/// call the callback again, without end if the callback removes the session
/// it is given), and so is a flush equal to one already queued.
final class SessionCacheCalls {
    enum Call: Sendable {
        case remove(Context, Session)
        case flush(Context, time: Int)
    }

    /// Remove-session callbacks running on this thread.
    private var callbackDepth = 0
    /// `flushSessions`/`removeSession` calls into OpenSSL running on this thread.
    private var operationDepth = 0
    /// Calls made from a callback, waiting for OpenSSL to let go of the cache.
    private var pending: [Call] = []
    /// The sessions given to a callback since the outermost call began, by
    /// their SSL_SESSION (held, so no address is reused meanwhile).
    private var reported: [OpaquePointer: Session] = [:]

    private static let key = "swift-openssl.SessionCacheCalls"

    /// This thread's record.
    static var current: SessionCacheCalls {
        let dictionary = Thread.current.threadDictionary
        if let existing = dictionary[key] as? SessionCacheCalls { return existing }
        let made = SessionCacheCalls()
        dictionary[key] = made
        return made
    }

    var isInsideRemoveCallback: Bool { callbackDepth > 0 }

    func postpone(_ call: Call) {
        switch call {
        case .remove(_, let session):
            // Already given to the callback in this run: it has left the cache.
            if reported[session.raw] != nil { return }
        case .flush(let context, let time):
            let queued = pending.contains {
                if case .flush(let other, let otherTime) = $0 { return other === context && otherTime == time }
                return false
            }
            if queued { return }
        }
        pending.append(call)
    }

    /// Runs a cache call into OpenSSL; when it is the outermost one, runs
    /// the calls its callbacks queued afterwards.
    func perform<R>(_ body: () -> R) -> R {
        operationDepth += 1
        let result = body()
        operationDepth -= 1
        if operationDepth == 0 && callbackDepth == 0 { runPending() }
        return result
    }

    /// Runs the remove-session callback for `session` (from the trampoline).
    func runCallback(for session: Session, _ body: () -> Void) {
        callbackDepth += 1
        reported[session.raw] = session
        body()
        callbackDepth -= 1
        guard callbackDepth == 0 && operationDepth == 0 else { return }
        // OpenSSL ran the callback on its own, maybe holding the cache lock
        // until a call this thread is inside returns: run the queued calls
        // on a thread that can wait for the lock.
        let calls = pending
        let seen = Array(reported.values)
        pending = []
        reported = [:]
        guard !calls.isEmpty else { return }
        Thread.detachNewThread {
            let mine = SessionCacheCalls.current
            mine.pending = calls
            for session in seen { mine.reported[session.raw] = session }
            mine.runPending()
        }
    }

    private func runPending() {
        operationDepth += 1
        var next = 0
        while next < pending.count {  // calls run here may queue more
            switch pending[next] {
            case .remove(let context, let session):
                if reported[session.raw] == nil {
                    _ = context.removeSessionNow(session)
                }
            case .flush(let context, let time):
                context.flushSessionsNow(time)
            }
            next += 1
        }
        pending = []
        operationDepth -= 1
        reported = [:]
    }
}

// MARK: - Connection: get, set, reuse

extension Connection {
    /// The connection's session: nil before a handshake. On TLS 1.3 a
    /// client's resumable session arrives after the handshake (use the
    /// context's new-session callback, or read first).
    /// - SeeAlso: SSL_get1_session(3)
    public var session: Session? {
        SSL_get1_session(raw).map { Session(takingOwnership: $0, origin: context) }
    }

    /// Client: offers `session` for resumption in the next handshake. The
    /// server reports reuse (`isSessionReused`) when it accepts it.
    /// - Throws: `UsageError` when the session came from a connection of
    ///   another context (a session read from DER is accepted from any);
    ///   `OpenSSLError` when OpenSSL refuses it.
    /// - SeeAlso: SSL_set_session(3)
    public func setSession(_ session: Session) throws {
        if let origin = session.origin, origin != context.identity {
            throw UsageError(
                operation: "set session",
                reason: "the session comes from a connection of another context")
        }
        try ErrorQueue.check("set session") { SSL_set_session(raw, session.raw) }
    }
}
