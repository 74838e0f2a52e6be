internal import COpenSSL

/// A TLS or DTLS protocol version.
public enum ProtocolVersion: Int32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case tls1 = 0x0301
    case tls1_1 = 0x0302
    case tls1_2 = 0x0303
    case tls1_3 = 0x0304
    case dtls1 = 0xFEFF
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

    public static let all = SSLOptions(rawValue: cossl_SSL_OP_ALL())
    public static let noExtendedMasterSecret = SSLOptions(rawValue: cossl_SSL_OP_NO_EXTENDED_MASTER_SECRET())
    public static let cleansePlaintext = SSLOptions(rawValue: cossl_SSL_OP_CLEANSE_PLAINTEXT())
    public static let legacyServerConnect = SSLOptions(rawValue: cossl_SSL_OP_LEGACY_SERVER_CONNECT())
    public static let enableKTLS = SSLOptions(rawValue: cossl_SSL_OP_ENABLE_KTLS())
    public static let tlsextPadding = SSLOptions(rawValue: cossl_SSL_OP_TLSEXT_PADDING())
    public static let safariECDHEECDSABug = SSLOptions(rawValue: cossl_SSL_OP_SAFARI_ECDHE_ECDSA_BUG())
    /// Treat a peer that closes without close_notify as a clean close (not recommended: it hides truncation).
    public static let ignoreUnexpectedEOF = SSLOptions(rawValue: cossl_SSL_OP_IGNORE_UNEXPECTED_EOF())
    public static let allowClientRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_CLIENT_RENEGOTIATION())
    public static let disableTLSExtCANames = SSLOptions(rawValue: cossl_SSL_OP_DISABLE_TLSEXT_CA_NAMES())
    public static let allowNoDHEKex = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_NO_DHE_KEX())
    public static let dontInsertEmptyFragments = SSLOptions(rawValue: cossl_SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS())
    public static let noQueryMTU = SSLOptions(rawValue: cossl_SSL_OP_NO_QUERY_MTU())
    public static let cookieExchange = SSLOptions(rawValue: cossl_SSL_OP_COOKIE_EXCHANGE())
    /// Do not issue (server) or use (client) session tickets.
    public static let noTicket = SSLOptions(rawValue: cossl_SSL_OP_NO_TICKET())
    public static let ciscoAnyConnect = SSLOptions(rawValue: cossl_SSL_OP_CISCO_ANYCONNECT())
    public static let noSessionResumptionOnRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION())
    public static let noCompression = SSLOptions(rawValue: cossl_SSL_OP_NO_COMPRESSION())
    public static let allowUnsafeLegacyRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION())
    public static let noEncryptThenMAC = SSLOptions(rawValue: cossl_SSL_OP_NO_ENCRYPT_THEN_MAC())
    public static let enableMiddleboxCompat = SSLOptions(rawValue: cossl_SSL_OP_ENABLE_MIDDLEBOX_COMPAT())
    public static let prioritizeChaCha = SSLOptions(rawValue: cossl_SSL_OP_PRIORITIZE_CHACHA())
    public static let cipherServerPreference = SSLOptions(rawValue: cossl_SSL_OP_CIPHER_SERVER_PREFERENCE())
    public static let tlsRollbackBug = SSLOptions(rawValue: cossl_SSL_OP_TLS_ROLLBACK_BUG())
    public static let noAntiReplay = SSLOptions(rawValue: cossl_SSL_OP_NO_ANTI_REPLAY())
    public static let noSSLv3 = SSLOptions(rawValue: cossl_SSL_OP_NO_SSLv3())
    public static let noTLSv1 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1())
    public static let noTLSv1_1 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_1())
    public static let noTLSv1_2 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_2())
    public static let noTLSv1_3 = SSLOptions(rawValue: cossl_SSL_OP_NO_TLSv1_3())
    public static let noDTLSv1 = SSLOptions(rawValue: cossl_SSL_OP_NO_DTLSv1())
    public static let noDTLSv1_2 = SSLOptions(rawValue: cossl_SSL_OP_NO_DTLSv1_2())
    /// Refuse TLS 1.2 renegotiation.
    public static let noRenegotiation = SSLOptions(rawValue: cossl_SSL_OP_NO_RENEGOTIATION())
    public static let cryptoproTLSExtBug = SSLOptions(rawValue: cossl_SSL_OP_CRYPTOPRO_TLSEXT_BUG())
    public static let noSSLMask = SSLOptions(rawValue: cossl_SSL_OP_NO_SSL_MASK())
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
    public static let sendClientHelloTime = SSLModes(rawValue: Int(SSL_MODE_SEND_CLIENTHELLO_TIME))
    public static let sendServerHelloTime = SSLModes(rawValue: Int(SSL_MODE_SEND_SERVERHELLO_TIME))
    public static let sendFallbackSCSV = SSLModes(rawValue: Int(SSL_MODE_SEND_FALLBACK_SCSV))
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
