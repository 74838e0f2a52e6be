import Foundation
internal import COpenSSL

// A connection's own options, certificate and key, in place of its context's.

extension Connection {
    /// Adds options for this connection only; returns all options now set.
    /// - SeeAlso: SSL_set_options(3)
    @discardableResult
    public func setOptions(_ options: SSLOptions) -> SSLOptions {
        SSLOptions(rawValue: SSL_set_options(raw, options.rawValue))
    }

    /// Removes options for this connection only; returns the options still set.
    /// - SeeAlso: SSL_clear_options(3)
    @discardableResult
    public func clearOptions(_ options: SSLOptions) -> SSLOptions {
        SSLOptions(rawValue: SSL_clear_options(raw, options.rawValue))
    }

    /// This connection's options (its context's, plus or minus its own changes).
    /// - SeeAlso: SSL_get_options(3)
    public var options: SSLOptions { SSLOptions(rawValue: SSL_get_options(raw)) }

    /// Uses `certificate` for this connection only. OpenSSL keeps one
    /// certificate per key type (RSA, ECDSA, Ed25519, …): this replaces the
    /// context's certificate of the same type, and a server picks among
    /// the types it has by what the client supports.
    /// - Throws: `OpenSSLError` when OpenSSL refuses it.
    /// - SeeAlso: SSL_use_certificate(3)
    public func useCertificate(_ certificate: X509) throws {
        try ErrorQueue.check("use certificate") { SSL_use_certificate(raw, certificate.raw) }
    }

    /// Uses `key` for this connection only, instead of its context's.
    /// - Throws: `OpenSSLError` when the key is public-only or does not match the certificate.
    /// - SeeAlso: SSL_use_PrivateKey(3)
    public func usePrivateKey(_ key: PKey) throws {
        try key.requirePrivate("use private key")
        try ErrorQueue.check("use private key") { SSL_use_PrivateKey(raw, key.raw) }
    }
}
