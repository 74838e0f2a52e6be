internal import COpenSSL

extension Context {
    /// Turns automatic Diffie-Hellman parameters on or off: with them, a TLS
    /// 1.2 server can use the finite-field DHE cipher suites
    /// (`DHE-RSA-AES128-GCM-SHA256`…), with a built-in RFC 7919 group sized
    /// to the certificate's key (ffdhe2048 for a 2048-bit RSA key, larger
    /// for stronger keys). A TLS 1.2 client with no elliptic-curve group in
    /// common then gets DHE instead of a handshake failure — what `openssl
    /// s_server` does. Off by default (see `Context.server(certificate:key:chain:)`
    /// for why). DHE suites need an RSA (or DSA) certificate; TLS 1.3's
    /// ffdhe groups are chosen with `setGroups(_:)` and do not need this.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: SSL_CTX_set_dh_auto(3)
    public func setDHAuto(_ on: Bool) throws {
        try ensureConfigurable("set automatic DH parameters")
        try ErrorQueue.check("set automatic DH parameters") {
            Int32(truncatingIfNeeded: cossl_SSL_CTX_set_dh_auto(raw, on ? 1 : 0))
        }
        state.withLock { $0.usesAutomaticDHParameters = on }
    }

    /// True when `setDHAuto(true)` turned automatic DH parameters on.
    public var usesAutomaticDHParameters: Bool { state.withLock { $0.usesAutomaticDHParameters } }
}
