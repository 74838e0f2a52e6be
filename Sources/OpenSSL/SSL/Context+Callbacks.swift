import Foundation
internal import COpenSSL

extension Context {
    /// Installs the C side of the feature callbacks on a new SSL_CTX.
    ///
    /// OpenSSL looks the server-name, ALPN-select, keylog and OCSP callbacks
    /// up on the connection's *current* SSL_CTX. A connection pins its
    /// context's Swift callbacks, and may switch to another context inside
    /// the server-name callback; so that the pinned callbacks still run
    /// there, every context carries these C functions. Each one answers as
    /// if none were installed when the connection has no Swift callback for
    /// its role (NOACK, no ALPN, no key log, accept), so a context without
    /// callbacks behaves exactly as plain OpenSSL.
    func installFeatureCallbacks(_ context: OpaquePointer) {
        _ = cossl_SSL_CTX_set_tlsext_servername_callback(context, serverNameTrampoline)
        SSL_CTX_set_alpn_select_cb(context, alpnSelectTrampoline, nil)
        // Not the keylog trampoline: see `installKeylogTrampoline`.
        _ = cossl_SSL_CTX_set_tlsext_status_cb(context, ocspStatusTrampoline)
        SSL_CTX_set_cert_cb(context, certificateTrampoline, nil)
        if isDTLS {
            SSL_CTX_set_cookie_generate_cb(context, cookieGenerateTrampoline)
            SSL_CTX_set_cookie_verify_cb(context, cookieVerifyTrampoline)
        }
    }

    /// Stores one callback after checking that the context can still be configured.
    private func setCallback(_ operation: String, _ update: (inout CallbackSet) -> Void) throws {
        try ensureConfigurable(operation)
        state.withLock { update(&$0.callbacks) }
    }

    // MARK: SNI

    /// Sets the server-name (SNI) callback: called on a server with each
    /// ClientHello, where `connection.serverName` is the name the client
    /// asked for (nil when it sent none) and `connection.setContext(_:)`
    /// switches to the context holding that host's certificate. Connections
    /// keep this callback, and every other one they pinned, after a switch.
    ///
    /// Unlike pyOpenSSL, an error thrown by the callback is not swallowed:
    /// the handshake fails and the driving call throws `.callback(thatError)`.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_tlsext_servername_callback(3)
    public func setServerNameCallback(_ callback: ServerNameCallback?) throws {
        try setCallback("set server name callback") { $0.serverName = callback }
    }

    // MARK: ALPN

    /// Sets the protocols a client offers with ALPN, most preferred first
    /// ("h2", "http/1.1").
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for
    ///   an empty list or a protocol that is empty or longer than 255 bytes.
    /// - SeeAlso: SSL_CTX_set_alpn_protos(3)
    public func setALPNProtocols(_ protocols: [String]) throws {
        try ensureConfigurable("set ALPN protocols")
        let wire = try ALPN.encode(protocols, operation: "set ALPN protocols")
        ErrorQueue.clear()
        // Note the inverted convention: 0 is success here.
        guard SSL_CTX_set_alpn_protos(raw, wire, UInt32(wire.count)) == 0 else {
            throw ErrorQueue.drain("set ALPN protocols")
        }
    }

    /// Sets the server's ALPN choice: the callback gets the client's
    /// protocols in the client's order and returns one of them, or nil for
    /// "no overlap" (the handshake completes without ALPN). A server with no
    /// callback negotiates no protocol.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_alpn_select_cb(3)
    public func setALPNSelectCallback(_ callback: ALPNSelectCallback?) throws {
        try setCallback("set ALPN select callback") { $0.alpnSelect = callback }
    }

    /// A server choice for the common case: the first of `preferred` (the
    /// server's order) that the client offered, or no ALPN when none was.
    /// - Throws: `UsageError` when the context is in use.
    public func setALPNSelection(preferring preferred: [String]) throws {
        try setALPNSelectCallback { _, offered in preferred.first { offered.contains($0) } }
    }

    // MARK: Keylog and info

    /// Sets the key-log callback: it receives every secret as an NSS key-log
    /// line, the format Wireshark reads (`KeyLogFile` writes them to a
    /// file). Anyone holding these lines can decrypt the connections: use
    /// it for debugging only.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_keylog_callback(3)
    public func setKeylogCallback(_ callback: KeylogCallback?) throws {
        try setCallback("set keylog callback") { $0.keylog = callback }
        // Not in use yet (setCallback checked), so nothing reads the pointer now.
        SSL_CTX_set_keylog_callback(raw, callback == nil ? nil : keylogTrampoline)
    }

    /// Puts the keylog trampoline on this SSL_CTX, for a connection with a
    /// pinned keylog callback that switches to it (`Connection.setContext`).
    ///
    /// Unlike the other feature callbacks it is not on every context:
    /// OpenSSL formats each secret as text (`sprintf` per byte) before it
    /// calls a keylog callback at all, which costs about 7 % of a full TLS
    /// 1.3 handshake (Benchmarks/results.md). It only ever goes from unset
    /// to set, so handshakes running on other threads see either no
    /// callback or this one, and this one does nothing for a connection
    /// without a keylog callback.
    func installKeylogTrampoline() {
        if SSL_CTX_get_keylog_callback(raw) == nil {
            SSL_CTX_set_keylog_callback(raw, keylogTrampoline)
        }
    }

    /// Appends every connection's secrets to `file` (see `KeyLogFile`).
    /// - Throws: `UsageError` when the context is in use.
    public func setKeylogFile(_ file: KeyLogFile) throws {
        try setKeylogCallback(file.callback)
    }

    /// Sets the info callback, which sees handshake starts and ends, state
    /// changes and alerts of every connection made from this context
    /// (a connection can have its own: `Connection.setInfoCallback(_:)`).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_info_callback(3)
    public func setInfoCallback(_ callback: InfoCallback?) throws {
        try setCallback("set info callback") { $0.info = callback }
    }

    // MARK: OCSP stapling

    /// Server: sets the callback that returns the OCSP response to staple
    /// for a client that asked for one. It runs only when the client asked
    /// (`Connection.requestOCSP()`).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_tlsext_status_cb(3), SSL_set_tlsext_status_ocsp_resp(3)
    public func setOCSPServerCallback(_ callback: OCSPServerCallback?) throws {
        try setCallback("set OCSP server callback") { $0.ocspServer = callback }
    }

    /// Client: sets the callback that judges the server's stapled OCSP
    /// response. It runs only on connections that asked for stapling with
    /// `Connection.requestOCSP()`; parse and check the response there (the
    /// library passes the bytes verbatim).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_tlsext_status_cb(3), SSL_get_tlsext_status_ocsp_resp(3)
    public func setOCSPClientCallback(_ callback: OCSPClientCallback?) throws {
        try setCallback("set OCSP client callback") { $0.ocspClient = callback }
    }

    // MARK: DTLS cookies

    /// DTLS server: sets the callback that makes the HelloVerifyRequest
    /// cookie (used by `Connection.dtlsListen()` and with the
    /// `.cookieExchange` option).
    /// - Throws: `UsageError` when the context is in use or is not a DTLS context.
    /// - SeeAlso: SSL_CTX_set_cookie_generate_cb(3)
    public func setCookieGenerateCallback(_ callback: CookieGenerateCallback?) throws {
        try ensureDTLS("set cookie generate callback")
        try setCallback("set cookie generate callback") { $0.cookieGenerate = callback }
    }

    /// DTLS server: sets the callback that checks a cookie the client echoed.
    /// - Throws: `UsageError` when the context is in use or is not a DTLS context.
    /// - SeeAlso: SSL_CTX_set_cookie_verify_cb(3)
    public func setCookieVerifyCallback(_ callback: CookieVerifyCallback?) throws {
        try ensureDTLS("set cookie verify callback")
        try setCallback("set cookie verify callback") { $0.cookieVerify = callback }
    }

    /// True for the DTLS methods.
    var isDTLS: Bool { method == .dtls || method == .dtlsClient || method == .dtlsServer }

    func ensureDTLS(_ operation: String) throws {
        guard isDTLS else {
            throw UsageError(operation: operation, reason: "only DTLS contexts (.dtls, .dtlsClient, .dtlsServer) use it")
        }
    }
}
