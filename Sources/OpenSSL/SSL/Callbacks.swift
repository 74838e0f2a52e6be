import Foundation
internal import COpenSSL

// The TLS feature callbacks (SNI, ALPN select, keylog, info, sessions, OCSP,
// DTLS cookies): their Swift types, the set a connection pins, and the
// non-capturing C functions OpenSSL calls.
//
// Every C function below finds its Swift owner through OpenSSL's own data
// slots — the `Connection` through the SSL's app data (`Connection.from`),
// the `Context` through the SSL_CTX's (`Context.from`) — never through a
// global. An error a Swift closure throws is stored in the connection's
// `callbackError` and the C function returns OpenSSL's failure value for
// that callback, so the call that drove OpenSSL throws `.callback(error)`.
// Nothing Swift throws, and no trap, crosses into C.

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

/// The callbacks a connection uses. A connection copies its context's set
/// when it is made (pinning them, so a context switch in the server-name
/// callback does not lose them) and, after a switch, takes from the new
/// context only the roles it has no callback for.
struct CallbackSet {
    var serverName: Context.ServerNameCallback?
    var alpnSelect: Context.ALPNSelectCallback?
    var keylog: Context.KeylogCallback?
    var info: Context.InfoCallback?
    var newSession: Context.NewSessionCallback?
    var ocspServer: Context.OCSPServerCallback?
    var ocspClient: Context.OCSPClientCallback?
    var cookieGenerate: Context.CookieGenerateCallback?
    var cookieVerify: Context.CookieVerifyCallback?
    var certificate: Context.CertificateCallback?

    /// Keeps every callback already set and takes `other`'s for the roles that have none.
    mutating func fillGaps(from other: CallbackSet) {
        serverName = serverName ?? other.serverName
        alpnSelect = alpnSelect ?? other.alpnSelect
        keylog = keylog ?? other.keylog
        info = info ?? other.info
        newSession = newSession ?? other.newSession
        ocspServer = ocspServer ?? other.ocspServer
        ocspClient = ocspClient ?? other.ocspClient
        cookieGenerate = cookieGenerate ?? other.cookieGenerate
        cookieVerify = cookieVerify ?? other.cookieVerify
        certificate = certificate ?? other.certificate
    }
}

/// One call of the info callback: where the handshake is, and any alert.
/// - SeeAlso: SSL_CTX_set_info_callback(3)
public struct InfoEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened (OpenSSL's `where` bits, `SSL_CB_*`).
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The handshake state machine moved.
        public static let loop = Kind(rawValue: SSL_CB_LOOP)
        /// A handshake function returned (`value` is its result).
        public static let exit = Kind(rawValue: SSL_CB_EXIT)
        /// Reading (with `.alert`: an alert was received).
        public static let read = Kind(rawValue: SSL_CB_READ)
        /// Writing (with `.alert`: an alert was sent).
        public static let write = Kind(rawValue: SSL_CB_WRITE)
        /// An alert; `InfoEvent.alert` describes it.
        public static let alert = Kind(rawValue: SSL_CB_ALERT)
        /// This side is the client.
        public static let connect = Kind(rawValue: SSL_ST_CONNECT)
        /// This side is the server.
        public static let accept = Kind(rawValue: SSL_ST_ACCEPT)
        /// A handshake started.
        public static let handshakeStart = Kind(rawValue: SSL_CB_HANDSHAKE_START)
        /// A handshake finished.
        public static let handshakeDone = Kind(rawValue: SSL_CB_HANDSHAKE_DONE)
    }

    /// An alert sent or received.
    public struct Alert: Sendable, Hashable, CustomStringConvertible {
        /// True when this side sent it, false when it came from the peer.
        public let isSent: Bool
        /// True for a fatal alert, false for a warning (close_notify is a warning).
        public let isFatal: Bool
        /// The alert's number (0 close_notify, 40 handshake_failure, 42 bad_certificate, 80 internal_error, …).
        public let code: Int32
        /// OpenSSL's name for it ("close notify", "handshake failure", …).
        public let text: String

        public var description: String {
            "\(isSent ? "sent" : "received") \(isFatal ? "fatal" : "warning") alert \(code) (\(text))"
        }
    }

    /// The `where` bits.
    public let kind: Kind
    /// OpenSSL's `ret` value: for an alert, the level in the high byte and
    /// the code in the low byte; for `.exit`, the function's result.
    public let value: Int32
    /// The handshake state at the event, as `SSL_state_string_long` words it.
    public let state: String

    /// True for the event that starts a handshake.
    public var isHandshakeStart: Bool { kind.contains(.handshakeStart) }
    /// True for the event that ends a handshake.
    public var isHandshakeDone: Bool { kind.contains(.handshakeDone) }

    /// The alert, when this event is one.
    public var alert: Alert? {
        guard kind.contains(.alert) else { return nil }
        let text = SSL_alert_desc_string_long(value).map { String(cString: $0) } ?? "unknown"
        return Alert(isSent: kind.contains(.write), isFatal: (value >> 8) == SSL3_AL_FATAL,
                     code: value & 0xFF, text: text)
    }

    public var description: String {
        if let alert { return alert.description }
        if isHandshakeStart { return "handshake start" }
        if isHandshakeDone { return "handshake done" }
        return state
    }
}

// MARK: - C functions OpenSSL calls

/// `SSL_CTX_set_tlsext_servername_callback`: installed on every context (a
/// connection may carry a pinned callback onto a context that has none).
/// Without a callback it answers as if none were installed (NOACK).
func serverNameTrampoline(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?,
                          _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let connection = Connection.from(ssl) else { return SSL_TLSEXT_ERR_NOACK }
    return connection.runServerNameCallback(alert: alert)
}

/// `SSL_CTX_set_alpn_select_cb`: installed on every context; no callback means no ALPN.
func alpnSelectTrampoline(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                          _ outLength: UnsafeMutablePointer<UInt8>?, _ input: UnsafePointer<UInt8>?,
                          _ inputLength: UInt32, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let out, let outLength, let input, let connection = Connection.from(ssl) else {
        return SSL_TLSEXT_ERR_NOACK
    }
    return connection.runALPNSelect(out: out, outLength: outLength,
                                    offered: UnsafeBufferPointer(start: input, count: Int(inputLength)))
}

/// `SSL_CTX_set_keylog_callback`: installed only where key logging is wanted (see `Context.installKeylogTrampoline`).
func keylogTrampoline(_ ssl: OpaquePointer?, _ line: UnsafePointer<CChar>?) {
    guard let ssl, let line, let connection = Connection.from(ssl), let callback = connection.callbacks.keylog else {
        return
    }
    callback(connection, String(cString: line))
}

/// `SSL_set_info_callback`: installed on each connection that has an info callback.
func infoTrampoline(_ ssl: OpaquePointer?, _ kind: Int32, _ value: Int32) {
    guard let ssl, let connection = Connection.from(ssl), let callback = connection.callbacks.info else { return }
    let state = SSL_state_string_long(ssl).map { String(cString: $0) } ?? ""
    callback(connection, InfoEvent(kind: InfoEvent.Kind(rawValue: kind), value: value, state: state))
}

/// `SSL_CTX_sess_set_new_cb`. Returns 0: the Swift `Session` takes a
/// reference of its own, so OpenSSL keeps (and later frees) its own.
func newSessionTrampoline(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let session, let connection = Connection.from(ssl),
          let callback = connection.callbacks.newSession,
          let wrapped = try? Session(borrowing: session, origin: connection.context) else {
        ErrorQueue.clear()
        return 0
    }
    callback(connection, wrapped)
    return 0
}

/// `SSL_CTX_sess_set_remove_cb`: finds the Context through the SSL_CTX's app data.
func removeSessionTrampoline(_ sslContext: OpaquePointer?, _ session: OpaquePointer?) {
    guard let sslContext, let session, let context = Context.from(sslContext),
          let callback = context.state.withLock({ $0.removeSession }),
          let wrapped = try? Session(borrowing: session, origin: context) else {
        ErrorQueue.clear()
        return
    }
    // Cache calls the callback makes are held back: OpenSSL may hold the cache lock now.
    SessionCacheCalls.current.runCallback(for: wrapped) { callback(context, wrapped) }
}

/// `SSL_CTX_set_tlsext_status_cb`: installed on every context; serves the
/// server role (staple a response) and the client role (judge it).
func ocspStatusTrampoline(_ ssl: OpaquePointer?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    // Without a connection (cannot happen for an SSL made by Connection):
    // NOACK, which a server reads as "no staple" and a client as "accept".
    guard let ssl, let connection = Connection.from(ssl) else { return SSL_TLSEXT_ERR_NOACK }
    return SSL_is_server(ssl) == 1 ? connection.runOCSPServerCallback() : connection.runOCSPClientCallback()
}

/// `SSL_CTX_set_cookie_generate_cb` (DTLS contexts).
func cookieGenerateTrampoline(_ ssl: OpaquePointer?, _ cookie: UnsafeMutablePointer<UInt8>?,
                              _ length: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let ssl, let cookie, let length, let connection = Connection.from(ssl) else { return 0 }
    return connection.runCookieGenerate(into: cookie, length: length)
}

/// `SSL_CTX_set_cookie_verify_cb` (DTLS contexts).
func cookieVerifyTrampoline(_ ssl: OpaquePointer?, _ cookie: UnsafePointer<UInt8>?, _ length: UInt32) -> Int32 {
    guard let ssl, let connection = Connection.from(ssl) else { return 0 }
    let bytes = cookie.map { Array(UnsafeBufferPointer(start: $0, count: Int(length))) } ?? []
    return connection.runCookieVerify(bytes)
}

/// `DTLS_set_timer_cb`: the first retransmission timeout is the connection's
/// chosen one; each later one doubles, up to 60 s (OpenSSL's own rule).
func dtlsTimerTrampoline(_ ssl: OpaquePointer?, _ previous: UInt32) -> UInt32 {
    let initial = ssl.flatMap { Connection.from($0) }?.dtlsInitialTimeoutMicroseconds ?? 1_000_000
    if previous == 0 { return initial }
    return min(previous.multipliedReportingOverflow(by: 2).partialValue, 60_000_000)
}

// MARK: - Running the Swift side

extension Connection {
    func runServerNameCallback(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.serverName else { return SSL_TLSEXT_ERR_NOACK }
        do {
            try callback(self)
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            alert?.pointee = SSL_AD_INTERNAL_ERROR
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runALPNSelect(out: UnsafeMutablePointer<UnsafePointer<UInt8>?>, outLength: UnsafeMutablePointer<UInt8>,
                       offered: UnsafeBufferPointer<UInt8>) -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.alpnSelect else { return SSL_TLSEXT_ERR_NOACK }
        let entries = ALPN.parse(offered)
        let names = entries.map { String(decoding: offered[$0], as: UTF8.self) }
        do {
            guard let choice = try callback(self, names) else { return SSL_TLSEXT_ERR_NOACK }
            guard let index = names.firstIndex(of: choice), let base = offered.baseAddress else {
                throw UsageError(operation: "ALPN select",
                                 reason: "the callback chose \"\(choice)\", which the client did not offer (\(names))")
            }
            // Point into the client's list: OpenSSL copies the choice before the buffer goes away.
            let range = entries[index]
            out.pointee = base + range.lowerBound
            outLength.pointee = UInt8(range.count)
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runOCSPServerCallback() -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.ocspServer else { return SSL_TLSEXT_ERR_NOACK }
        do {
            guard let response = try callback(self), !response.isEmpty else { return SSL_TLSEXT_ERR_NOACK }
            // OpenSSL takes ownership of the copy and frees it with OPENSSL_free.
            guard let copy = CRYPTO_malloc(response.count, #fileID, #line) else {
                throw ErrorQueue.drain("staple OCSP response", detail: "out of memory")
            }
            response.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { copy.copyMemory(from: base, byteCount: bytes.count) }
            }
            guard cossl_SSL_set_tlsext_status_ocsp_resp(raw, copy.assumingMemoryBound(to: UInt8.self),
                                                        response.count) == 1 else {
                cossl_OPENSSL_free(copy)
                throw ErrorQueue.drain("staple OCSP response")
            }
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runOCSPClientCallback() -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.ocspClient else { return 1 }
        do {
            return try callback(self, stapledOCSPResponse) ? 1 : 0
        } catch {
            callbackError = error
            return -1
        }
    }

    func runCookieGenerate(into cookie: UnsafeMutablePointer<UInt8>, length: UnsafeMutablePointer<UInt32>) -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.cookieGenerate else {
            callbackError = UsageError(operation: "DTLS cookie exchange", reason: "no cookie generate callback is set")
            return 0
        }
        do {
            let bytes = try callback(self)
            guard (1...Int(DTLS1_COOKIE_LENGTH)).contains(bytes.count) else {
                throw UsageError(operation: "generate DTLS cookie",
                                 reason: "a cookie is 1 to \(DTLS1_COOKIE_LENGTH) bytes; the callback made \(bytes.count)")
            }
            cookie.update(from: bytes, count: bytes.count)
            length.pointee = UInt32(bytes.count)
            return 1
        } catch {
            callbackError = error
            return 0
        }
    }

    func runCookieVerify(_ cookie: [UInt8]) -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.cookieVerify else {
            callbackError = UsageError(operation: "DTLS cookie exchange", reason: "no cookie verify callback is set")
            return 0
        }
        do {
            return try callback(self, cookie) ? 1 : 0
        } catch {
            callbackError = error
            return 0
        }
    }
}

/// ALPN's wire format: each protocol as a length byte and its bytes.
enum ALPN {
    /// The ranges of the protocols in a wire-format list; stops at a truncated entry.
    static func parse(_ wire: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 0
        while index < wire.count {
            let length = Int(wire[index])
            let start = index + 1
            guard length > 0, start + length <= wire.count else { break }
            ranges.append(start..<start + length)
            index = start + length
        }
        return ranges
    }

    /// Encodes a protocol list.
    /// - Throws: `OpenSSLError` for an empty list, or a protocol that is empty or longer than 255 bytes.
    static func encode(_ protocols: [String], operation: String) throws -> [UInt8] {
        guard !protocols.isEmpty else {
            throw OpenSSLError(operation: operation, detail: "the protocol list is empty")
        }
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw OpenSSLError(operation: operation,
                                   detail: "protocol \"\(name)\" is \(bytes.count) bytes; ALPN allows 1 to 255")
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        return wire
    }
}
