import OpenSSL

/// What a completed handshake negotiated, as a `Sendable` value that can
/// leave the event loop (to async code, a log, a metrics task).
///
/// Read from the handler's `Connection` at the moment the handshake
/// completed. Reach it with `OpenSSLHandler.handshakeResult` on the event
/// loop, or from anywhere with `Channel.openSSLHandshakeResult()` (a future,
/// so `try await channel.openSSLHandshakeResult().get()` in async code).
public struct TLSHandshakeResult: Sendable {
    /// The protocol version ("TLSv1.3" is `.tls1_3`); nil only if OpenSSL reported none.
    public let protocolVersion: ProtocolVersion?
    /// The negotiated cipher suite's name ("TLS_AES_128_GCM_SHA256").
    public let cipherName: String?
    /// The ALPN protocol both sides agreed on ("h2"), nil when none was.
    public let alpnProtocol: String?
    /// The server name: on a client, the one it sent (SNI); on a server, the one the client sent.
    public let serverName: String?
    /// The peer's certificate, nil when it sent none (a client without one).
    public let peerCertificate: X509?
    /// The chain the peer sent, leaf first (empty when it sent none),
    /// whatever the verification result.
    public let peerCertificateChain: [X509]
    /// The chain OpenSSL verified, leaf to trust anchor; nil unless the
    /// peer's chain verified (or the context's verification hook accepted it).
    public let verifiedChain: [X509]?
    /// True when the session was resumed (no certificate exchange took place).
    public let isSessionReused: Bool

    /// Reads the result off a connection whose handshake has completed.
    public init(connection: Connection) {
        protocolVersion = connection.protocolVersion
        cipherName = connection.cipherName
        alpnProtocol = connection.alpnProtocol
        serverName = connection.serverName
        peerCertificate = connection.peerCertificate
        peerCertificateChain = connection.peerCertificateChain ?? []
        verifiedChain = connection.verifiedChain
        isSessionReused = connection.isSessionReused
    }
}
