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

/// `SSL_CTX_set_tlsext_servername_callback`: installed on every context (a
/// connection may carry a pinned callback onto a context that has none).
/// Without a callback it answers as if none were installed (NOACK).
func serverNameTrampoline(
    _ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?,
    _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ssl, let connection = Connection.from(ssl) else { return SSL_TLSEXT_ERR_NOACK }
    return connection.runServerNameCallback(alert: alert)
}

/// `SSL_CTX_set_alpn_select_cb`: installed on every context; no callback means no ALPN.
func alpnSelectTrampoline(
    _ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
    _ outLength: UnsafeMutablePointer<UInt8>?, _ input: UnsafePointer<UInt8>?,
    _ inputLength: UInt32, _ argument: UnsafeMutableRawPointer?
) -> Int32 {
    guard let ssl, let out, let outLength, let input, let connection = Connection.from(ssl) else {
        return SSL_TLSEXT_ERR_NOACK
    }
    return connection.runALPNSelect(
        out: out, outLength: outLength,
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
        let wrapped = try? Session(borrowing: session, origin: connection.context)
    else {
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
        let wrapped = try? Session(borrowing: session, origin: context)
    else {
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
func cookieGenerateTrampoline(
    _ ssl: OpaquePointer?, _ cookie: UnsafeMutablePointer<UInt8>?,
    _ length: UnsafeMutablePointer<UInt32>?
) -> Int32 {
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
