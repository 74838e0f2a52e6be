import Foundation
internal import COpenSSL

extension Connection {
    /// This side's certificate, or nil when none is in use.
    /// - SeeAlso: SSL_get_certificate(3)
    public var certificate: X509? {
        SSL_get_certificate(raw).flatMap { try? X509(borrowing: $0) }
    }

    /// The peer's certificate, or nil (before the handshake; a client that sent none).
    /// - SeeAlso: SSL_get1_peer_certificate(3)
    public var peerCertificate: X509? {
        SSL_get1_peer_certificate(raw).map { X509(takingOwnership: $0) }
    }

    /// The chain the peer sent, leaf first (on both sides; OpenSSL leaves the
    /// leaf out on a server, and it is put back here). Present whatever the
    /// verification result, even under `.none`; nil when the peer sent nothing.
    /// - SeeAlso: SSL_get_peer_cert_chain(3)
    public var peerCertificateChain: [X509]? {
        guard let stack = SSL_get_peer_cert_chain(raw) else { return nil }
        var chain = X509.list(fromStack: stack)
        if isServer, let leaf = peerCertificate, chain.first != leaf {
            chain.insert(leaf, at: 0)
        }
        return chain.isEmpty ? nil : chain
    }

    /// The chain OpenSSL verified, leaf to trust anchor; nil unless the
    /// peer's chain verified (or the verification hook accepted it).
    /// - SeeAlso: SSL_get0_verified_chain(3)
    public var verifiedChain: [X509]? {
        guard peerCertificate != nil, SSL_get_verify_result(raw) == X509_V_OK else { return nil }
        let chain = X509.list(fromStack: SSL_get0_verified_chain(raw))
        return chain.isEmpty ? nil : chain
    }

    /// The negotiated cipher's name ("TLS_AES_128_GCM_SHA256"), nil before the handshake.
    /// - SeeAlso: SSL_CIPHER_get_name(3)
    public var cipherName: String? {
        SSL_get_current_cipher(raw).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) }
    }

    /// The negotiated cipher's secret bits, nil before the handshake.
    /// - SeeAlso: SSL_CIPHER_get_bits(3)
    public var cipherBits: Int? {
        SSL_get_current_cipher(raw).map { Int(SSL_CIPHER_get_bits($0, nil)) }
    }

    /// The protocol version the negotiated cipher first appeared in ("TLSv1.3"), nil before the handshake.
    /// - SeeAlso: SSL_CIPHER_get_version(3)
    public var cipherVersion: String? {
        SSL_get_current_cipher(raw).flatMap { SSL_CIPHER_get_version($0) }.map { String(cString: $0) }
    }

    /// The negotiated protocol version, nil before the handshake.
    /// - SeeAlso: SSL_version(3)
    public var protocolVersion: ProtocolVersion? {
        guard SSL_get_current_cipher(raw) != nil else { return nil }
        return ProtocolVersion(rawValue: SSL_version(raw))
    }

    /// The negotiated protocol's name ("TLSv1.3"), nil before the handshake.
    /// - SeeAlso: SSL_get_version(3)
    public var protocolVersionName: String? {
        guard SSL_get_current_cipher(raw) != nil else { return nil }
        return SSL_get_version(raw).map { String(cString: $0) }
    }

    /// True when the last handshake resumed a session.
    /// - SeeAlso: SSL_session_reused(3)
    public var isSessionReused: Bool { SSL_session_reused(raw) == 1 }

    /// A description of the handshake state ("SSL negotiation finished successfully").
    /// - SeeAlso: SSL_state_string_long(3)
    public var stateString: String {
        SSL_state_string_long(raw).map { String(cString: $0) } ?? ""
    }
}
