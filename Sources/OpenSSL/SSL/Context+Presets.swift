import Foundation

// The named constructors: a verifying client, a server, a mutual-TLS server.

extension Context {
    /// A client context that verifies servers: against `trusting` when given,
    /// else the system's roots; and, for every connection, the server's host
    /// name, which `Connection.setServerName(_:)` (or `setExpectedHost(_:)`)
    /// must name before the handshake. TLS 1.2 is the lowest version allowed.
    ///
    /// With the system's roots the verification policy is `.webPKI()` (a
    /// client of public servers gets the browsers' rules); with `trusting`
    /// it is `.openSSL` (a private PKI's own rules). Change it with
    /// `setVerificationPolicy(_:)`.
    ///
    /// - Parameters:
    ///   - roots: the only roots to trust, or nil for the system's.
    ///   - certificate: a client certificate for mutual TLS (with `key`).
    ///   - key: the private key of `certificate`.
    ///   - chain: intermediates sent after `certificate`.
    /// - Throws: `OpenSSLError` when a certificate or key is refused, or the
    ///   key does not match; with the system's roots, when the Public Suffix
    ///   List the Web-PKI policy needs cannot be read.
    public static func client(
        trusting roots: [X509]? = nil, certificate: X509? = nil, key: PKey? = nil,
        chain: [X509] = []
    ) throws -> Context {
        let context = try Context(.tlsClient)
        if let roots {
            try context.trust(roots)
        } else {
            try context.setDefaultVerifyPaths()
            try context.setVerificationPolicy(try .webPKI())
        }
        if let certificate, let key {
            try context.useCertificateChain([certificate] + chain)
            try context.usePrivateKey(key)
            try context.checkPrivateKey()
        }
        try context.setVerify(.peer)
        try context.setVerifiesHostnames(true)
        return context
    }

    /// A server context presenting `certificate` (and `chain` after it) with `key`.
    ///
    /// Finite-field DHE for TLS 1.2 stays off (`setDHAuto(_:)` turns it on):
    /// every current client offers an elliptic-curve group (ECDHE, always
    /// on), while DHE makes the server do a 2048-bit or larger modular
    /// exponentiation per handshake that the client chooses to trigger — a
    /// cheap way to load a server (CVE-2002-20001, "D(HE)at"). Turn it on
    /// when you must serve old TLS 1.2 clients with no EC group in common, as
    /// `ossl serve` does; TLS 1.3's ffdhe groups (`setGroups(_:)`) do not need it.
    /// - Throws: `OpenSSLError` when a certificate or key is refused, or the key does not match.
    public static func server(certificate: X509, key: PKey, chain: [X509] = []) throws -> Context {
        let context = try Context(.tlsServer)
        try context.useCertificateChain([certificate] + chain)
        try context.usePrivateKey(key)
        try context.checkPrivateKey()
        return context
    }

    /// A server that requires a client certificate. Clients are verified
    /// against `trusting` (when given) by OpenSSL; `verifier`, when given,
    /// sees each client chain and OpenSSL's verdict and decides — the place
    /// for trust on first use of self-signed client certificates or pinning.
    /// - Throws: `OpenSSLError` when a certificate or key is refused, or the key does not match.
    public static func mutualTLSServer(
        certificate: X509, key: PKey, chain: [X509] = [],
        trusting clientRoots: [X509] = [],
        verifier: PeerVerifier? = nil
    ) throws -> Context {
        let context = try server(certificate: certificate, key: key, chain: chain)
        try context.trust(clientRoots)
        if !clientRoots.isEmpty {
            try context.setClientCAList(try clientRoots.map { try $0.subject })
        }
        try context.setVerify([.peer, .failIfNoPeerCertificate])
        try context.setPeerVerification(verifier)
        // Resumed sessions of a verifying server must be tied to it.
        try context.setSessionIDContext(Array("swift-openssl mTLS".utf8))
        return context
    }
}
