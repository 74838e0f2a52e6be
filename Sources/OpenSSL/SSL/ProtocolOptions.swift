internal import COpenSSL

/// A TLS or DTLS protocol version.
public enum ProtocolVersion: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// TLS 1.0 (RFC 2246); refused at OpenSSL 3's default security level.
    case tls1 = 0x0301
    /// TLS 1.1 (RFC 4346); refused at OpenSSL 3's default security level.
    case tls1_1 = 0x0302
    /// TLS 1.2 (RFC 5246).
    case tls1_2 = 0x0303
    /// TLS 1.3 (RFC 8446).
    case tls1_3 = 0x0304
    /// DTLS 1.0 (RFC 4347).
    case dtls1 = 0xFEFF
    /// DTLS 1.2 (RFC 6347).
    case dtls1_2 = 0xFEFD

    /// The name OpenSSL uses ("TLSv1.3", "DTLSv1.2").
    public var description: String {
        switch self {
        case .tls1: return "TLSv1"
        case .tls1_1: return "TLSv1.1"
        case .tls1_2: return "TLSv1.2"
        case .tls1_3: return "TLSv1.3"
        case .dtls1: return "DTLSv1"
        case .dtls1_2: return "DTLSv1.2"
        }
    }
}

/// Peer verification settings (`SSL_VERIFY_*`).
public struct VerifyMode: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Do not ask for (server) or insist on (client) a verified peer certificate.
    public static let none: VerifyMode = []
    /// Verify the peer: a client fails on an unverifiable server; a server asks the client for a certificate.
    public static let peer = VerifyMode(rawValue: SSL_VERIFY_PEER)
    /// Server: fail the handshake when the client sends no certificate (with `.peer`).
    public static let failIfNoPeerCertificate = VerifyMode(rawValue: SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
    /// Server: ask for a client certificate only on the first handshake.
    public static let clientOnce = VerifyMode(rawValue: SSL_VERIFY_CLIENT_ONCE)
    /// Server: do not ask during the TLS 1.3 handshake; ask later with post-handshake authentication.
    public static let postHandshake = VerifyMode(rawValue: SSL_VERIFY_POST_HANDSHAKE)
}

/// Protocol options (`SSL_OP_*`), every one OpenSSL 3.0 defines.
/// - SeeAlso: SSL_CTX_set_options(3)
public struct SSLOptions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The workarounds for peer bugs that OpenSSL considers safe to turn on together (`SSL_OP_ALL`).
    public static let all = SSLOptions(rawValue: cossl_SSL_OP_ALL())
    /// Do not negotiate the extended master secret (RFC 7627) in TLS 1.2 and older.
    public static let noExtendedMasterSecret = SSLOptions(rawValue: cossl_SSL_OP_NO_EXTENDED_MASTER_SECRET())
    /// Zero the plaintext of received records once the application has read it.
    public static let cleansePlaintext = SSLOptions(rawValue: cossl_SSL_OP_CLEANSE_PLAINTEXT())
    /// Client: connect to servers that do not support secure renegotiation (RFC 5746).
    public static let legacyServerConnect = SSLOptions(rawValue: cossl_SSL_OP_LEGACY_SERVER_CONNECT())
    /// Hand record encryption to the kernel (kTLS) where the kernel and cipher allow it.
    public static let enableKTLS = SSLOptions(rawValue: cossl_SSL_OP_ENABLE_KTLS())
    /// Client: pad the ClientHello to dodge an F5 bug with hellos of certain sizes (RFC 7685).
    public static let tlsextPadding = SSLOptions(rawValue: cossl_SSL_OP_TLSEXT_PADDING())
    /// Server: do not prefer ECDHE-ECDSA ciphers for the Safari versions that mishandled them.
    public static let safariECDHEECDSABug = SSLOptions(rawValue: cossl_SSL_OP_SAFARI_ECDHE_ECDSA_BUG())
    /// Treat a peer that closes without close_notify as a clean close (not recommended: it hides truncation).
    public static let ignoreUnexpectedEOF = SSLOptions(rawValue: cossl_SSL_OP_IGNORE_UNEXPECTED_EOF())
    /// Server: accept renegotiation that the client starts (TLS 1.2 and older).
    public static let allowClientRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_CLIENT_RENEGOTIATION())
    /// Do not send the certificate_authorities extension (the CA names) in TLS 1.3.
    public static let disableTLSExtCANames = SSLOptions(rawValue: cossl_SSL_OP_DISABLE_TLSEXT_CA_NAMES())
    /// TLS 1.3 resumption: allow a PSK-only key exchange, without (EC)DHE (no forward secrecy).
    public static let allowNoDHEKex = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_NO_DHE_KEX())
    /// Do not send the empty fragments that protect CBC in SSL 3 and TLS 1.0 (a workaround for broken peers).
    public static let dontInsertEmptyFragments = SSLOptions(rawValue: cossl_SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS())
    /// DTLS: do not ask the socket for the path MTU; use the one set on the connection.
    public static let noQueryMTU = SSLOptions(rawValue: cossl_SSL_OP_NO_QUERY_MTU())
    /// DTLS server: require a cookie exchange (HelloVerifyRequest) before the handshake.
    public static let cookieExchange = SSLOptions(rawValue: cossl_SSL_OP_COOKIE_EXCHANGE())
    /// Do not issue (server) or use (client) session tickets.
    public static let noTicket = SSLOptions(rawValue: cossl_SSL_OP_NO_TICKET())
    /// DTLS: use Cisco AnyConnect's pre-standard version number (`DTLS1_BAD_VER`).
    public static let ciscoAnyConnect = SSLOptions(rawValue: cossl_SSL_OP_CISCO_ANYCONNECT())
    /// Server: always start a new session on renegotiation, never resume.
    public static let noSessionResumptionOnRenegotiation = SSLOptions(
        rawValue: cossl_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION())
    /// Do not use TLS compression (off in OpenSSL 3 unless explicitly enabled).
    public static let noCompression = SSLOptions(rawValue: cossl_SSL_OP_NO_COMPRESSION())
    /// Renegotiate with peers that do not support secure renegotiation (RFC 5746); unsafe.
    public static let allowUnsafeLegacyRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION())
    /// Do not negotiate encrypt-then-MAC (RFC 7366) for CBC ciphers.
    public static let noEncryptThenMAC = SSLOptions(rawValue: cossl_SSL_OP_NO_ENCRYPT_THEN_MAC())
    /// TLS 1.3 middlebox compatibility mode (dummy ChangeCipherSpec records and a session id); on by default.
    public static let enableMiddleboxCompat = SSLOptions(rawValue: cossl_SSL_OP_ENABLE_MIDDLEBOX_COMPAT())
    /// Server, with `cipherServerPreference`: prefer ChaCha20-Poly1305 when the client lists it first.
    public static let prioritizeChaCha = SSLOptions(rawValue: cossl_SSL_OP_PRIORITIZE_CHACHA())
    /// Server: choose the cipher by the server's preference order, not the client's.
    public static let cipherServerPreference = SSLOptions(rawValue: cossl_SSL_OP_CIPHER_SERVER_PREFERENCE())
    /// Server: accept the client's version in the premaster secret even when it is wrong (a workaround; weakens rollback protection).
    public static let tlsRollbackBug = SSLOptions(rawValue: cossl_SSL_OP_TLS_ROLLBACK_BUG())
    /// TLS 1.3 server: turn off OpenSSL's replay protection for early data.
    public static let noAntiReplay = SSLOptions(rawValue: cossl_SSL_OP_NO_ANTI_REPLAY())
    /// Do not use SSL 3.0.
    public static let noSSLv3 = SSLOptions(rawValue: cossl_SSL_OP_NO_SSLv3())
    /// Do not use TLS 1.0 (prefer ``Context/setMinimumProtocolVersion(_:)``).
    public static let noTLSv1 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1())
    /// Do not use TLS 1.1 (prefer ``Context/setMinimumProtocolVersion(_:)``).
    public static let noTLSv1_1 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_1())
    /// Do not use TLS 1.2 (prefer ``Context/setMinimumProtocolVersion(_:)``).
    public static let noTLSv1_2 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_2())
    /// Do not use TLS 1.3 (prefer ``Context/setMaximumProtocolVersion(_:)``).
    public static let noTLSv1_3 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_3())
    /// Do not use DTLS 1.0.
    public static let noDTLSv1 = SSLOptions(rawValue: cossl_SSL_OP_NO_DTLSv1())
    /// Do not use DTLS 1.2.
    public static let noDTLSv1_2 = SSLOptions(rawValue: cossl_SSL_OP_NO_DTLSv1_2())
    /// Refuse TLS 1.2 renegotiation.
    public static let noRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_NO_RENEGOTIATION())
    /// Server: add the server-hello extension CryptoPro's GOST clients expect.
    public static let cryptoproTLSExtBug = SSLOptions(rawValue: cossl_SSL_OP_CRYPTOPRO_TLSEXT_BUG())
    /// Every `noSSLv3`/`noTLSv1…` option at once (`SSL_OP_NO_SSL_MASK`).
    public static let noSSLMask = SSLOptions(rawValue: cossl_SSL_OP_NO_SSL_MASK())
    /// Every `noDTLSv1…` option at once (`SSL_OP_NO_DTLS_MASK`).
    public static let noDTLSMask = SSLOptions(rawValue: cossl_SSL_OP_NO_DTLS_MASK())
}

/// Connection modes (`SSL_MODE_*`).
/// - SeeAlso: SSL_CTX_set_mode(3)
public struct SSLModes: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `write` may accept part of the buffer and report how much (on by default here).
    public static let enablePartialWrite = SSLModes(rawValue: Int(SSL_MODE_ENABLE_PARTIAL_WRITE))
    /// A write retried after `wantWrite` may pass a buffer at another address (on by default here).
    public static let acceptMovingWriteBuffer = SSLModes(rawValue: Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    /// Retry reads internally after non-application records (OpenSSL 3's default).
    public static let autoRetry = SSLModes(rawValue: Int(SSL_MODE_AUTO_RETRY))
    /// Do not build the certificate chain automatically.
    public static let noAutoChain = SSLModes(rawValue: Int(SSL_MODE_NO_AUTO_CHAIN))
    /// Free idle read/write buffers (saves memory, costs about 12 % on small round trips).
    public static let releaseBuffers = SSLModes(rawValue: Int(SSL_MODE_RELEASE_BUFFERS))
    /// Client: put the current time in the first four bytes of the ClientHello random (old behaviour; it fingerprints the host).
    public static let sendClientHelloTime = SSLModes(rawValue: Int(SSL_MODE_SEND_CLIENTHELLO_TIME))
    /// Server: put the current time in the first four bytes of the ServerHello random.
    public static let sendServerHelloTime = SSLModes(rawValue: Int(SSL_MODE_SEND_SERVERHELLO_TIME))
    /// Client: send TLS_FALLBACK_SCSV (RFC 7507), for a retry at a lower version after a failed handshake.
    public static let sendFallbackSCSV = SSLModes(rawValue: Int(SSL_MODE_SEND_FALLBACK_SCSV))
    /// Allow asynchronous engine operations (`SSL_MODE_ASYNC`); calls may then fail with "want async".
    public static let async = SSLModes(rawValue: Int(SSL_MODE_ASYNC))
}

/// Which close_notify alerts a connection has sent and received (`SSL_get_shutdown(3)`).
public struct ShutdownState: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// This side sent close_notify.
    public static let sent = ShutdownState(rawValue: SSL_SENT_SHUTDOWN)
    /// The peer's close_notify was received.
    public static let received = ShutdownState(rawValue: SSL_RECEIVED_SHUTDOWN)
}
