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

    // MARK: Handshake secrets and messages

    /// The client's random (32 bytes) of the current session; nil before a handshake has begun.
    /// - SeeAlso: SSL_get_client_random(3)
    public var clientRandom: [UInt8]? {
        guard SSL_get_session(raw) != nil else { return nil }
        return Connection.bytes(count: SSL_get_client_random(raw, nil, 0)) { SSL_get_client_random(raw, $0, $1) }
    }

    /// The server's random (32 bytes) of the current session; nil before a handshake has begun.
    /// - SeeAlso: SSL_get_server_random(3)
    public var serverRandom: [UInt8]? {
        guard SSL_get_session(raw) != nil else { return nil }
        return Connection.bytes(count: SSL_get_server_random(raw, nil, 0)) { SSL_get_server_random(raw, $0, $1) }
    }

    /// The session's master secret (48 bytes), the same on both sides: a
    /// TLS 1.2-and-below notion. On TLS 1.3 it is the resumption secret
    /// OpenSSL keeps in its place, which differs by side (nil on a client
    /// until a ticket arrives). Nil before a handshake has begun.
    /// - SeeAlso: SSL_SESSION_get_master_key(3)
    public var masterKey: [UInt8]? {
        guard let session = SSL_get_session(raw) else { return nil }
        let key = Connection.bytes(count: SSL_SESSION_get_master_key(session, nil, 0)) {
            SSL_SESSION_get_master_key(session, $0, $1)
        }
        return key.isEmpty ? nil : key
    }

    /// The Finished message this side sent last; nil before it was sent.
    /// - SeeAlso: SSL_get_finished(3)
    public var finished: [UInt8]? {
        let key = Connection.bytes(count: SSL_get_finished(raw, nil, 0)) { SSL_get_finished(raw, $0, $1) }
        return key.isEmpty ? nil : key
    }

    /// The Finished message the peer sent last; nil before it arrived.
    /// - SeeAlso: SSL_get_peer_finished(3)
    public var peerFinished: [UInt8]? {
        let key = Connection.bytes(count: SSL_get_peer_finished(raw, nil, 0)) { SSL_get_peer_finished(raw, $0, $1) }
        return key.isEmpty ? nil : key
    }

    /// Derives `length` bytes of keying material from the session (RFC
    /// 5705 / RFC 8446 §7.5): both sides get the same bytes for the same
    /// label and context, and different bytes for another label or context.
    /// `context: nil` and an empty context differ on TLS 1.2, not on TLS 1.3.
    /// - Throws: `OpenSSLError` before the handshake, or for a length or
    ///   label OpenSSL refuses.
    /// - SeeAlso: SSL_export_keying_material(3)
    public func exportKeyingMaterial(label: String, context: [UInt8]? = nil, length: Int) throws -> [UInt8] {
        guard length > 0 else {
            throw OpenSSLError(operation: "export keying material", detail: "the length must be positive")
        }
        guard isHandshakeDone else {
            throw OpenSSLError(operation: "export keying material", detail: "the handshake has not completed")
        }
        var out = [UInt8](repeating: 0, count: length)
        let labelBytes = Array(label.utf8)
        let contextBytes = context ?? []
        try ErrorQueue.check("export keying material") {
            SSL_export_keying_material(
                raw, &out, length, labelBytes.map { CChar(bitPattern: $0) }, labelBytes.count,
                contextBytes, contextBytes.count, context == nil ? 0 : 1)
        }
        return out
    }

    // MARK: Negotiated parameters

    /// The key-exchange group negotiated ("x25519", "secp256r1", …); nil
    /// before the handshake or when none was used. OpenSSL 3.0 has no
    /// `SSL_get0_group_name`: this is the negotiated group id's name.
    /// - SeeAlso: SSL_get_negotiated_group(3), SSL_group_to_name(3)
    public var groupName: String? {
        guard let id = negotiatedGroupID else { return nil }
        return SSL_group_to_name(raw, id).map { String(cString: $0) }
    }

    /// The negotiated group as OpenSSL's NID (or `TLSEXT_nid_unknown | id`
    /// for a group OpenSSL has no NID for); nil before the handshake.
    /// - SeeAlso: SSL_get_negotiated_group(3)
    public var negotiatedGroupID: Int32? {
        // OpenSSL 3.0 reads the group from the session: without one it would crash.
        guard SSL_get_session(raw) != nil else { return nil }
        let id = cossl_SSL_get_negotiated_group(raw)
        return id > 0 ? id : nil
    }

    /// The digest the peer signed the handshake with ("SHA256"); nil when
    /// the peer did not sign, or signed without a separate digest (Ed25519).
    /// - SeeAlso: SSL_get_peer_signature_nid(3)
    public var peerSignatureDigest: String? {
        var nid: Int32 = 0
        guard cossl_SSL_get_peer_signature_nid(raw, &nid) == 1, nid != NID_undef else { return nil }
        return OBJ_nid2sn(nid).map { String(cString: $0) }
    }

    /// The kind of signature the peer made ("RSASSA-PSS", "id-ecPublicKey",
    /// "ED25519"); nil when the peer did not sign.
    /// - SeeAlso: SSL_get_peer_signature_type_nid(3)
    public var peerSignatureType: String? {
        var nid: Int32 = 0
        guard SSL_get_peer_signature_type_nid(raw, &nid) == 1, nid != NID_undef else { return nil }
        return OBJ_nid2sn(nid).map { String(cString: $0) }
    }

    /// The peer's ephemeral key-exchange key (its type and `bits` tell the
    /// group: X25519 is 253 bits); nil before the handshake, on a TLS 1.2
    /// server, which does not see one, and for a KEM group such as
    /// X25519MLKEM768 (OpenSSL 3.5's first default), which sends no key.
    /// - SeeAlso: SSL_get_peer_tmp_key(3)
    public var peerTemporaryKey: PKey? {
        var key: OpaquePointer?
        guard cossl_SSL_get_peer_tmp_key(raw, &key) == 1, let key else {
            ErrorQueue.clear()
            return nil
        }
        return PKey(takingOwnership: key, hasPrivateKey: false)
    }

    /// The cipher suites this connection would offer or accept, in preference order.
    /// - SeeAlso: SSL_get_cipher_list(3)
    public var cipherList: [String] {
        var names: [String] = []
        var index: Int32 = 0
        while let name = SSL_get_cipher_list(raw, index) {
            names.append(String(cString: name))
            index += 1
        }
        return names
    }

    /// The CA names of a client-certificate request: on a client, the list
    /// the server sent (empty before the handshake, or when the server did
    /// not ask for a certificate); on a server, the list it sends.
    /// - SeeAlso: SSL_get_client_CA_list(3)
    public var clientCAList: [X509Name] {
        X509Name.list(fromStack: SSL_get_client_CA_list(raw))
    }

    /// Calls a `get_…(ssl, out, outlen)` function twice: for the size, then for the bytes.
    static func bytes(count: Int, _ read: (UnsafeMutablePointer<UInt8>, Int) -> Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: count)
        let written = out.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { read($0, count) } ?? 0
        }
        return Array(out.prefix(max(0, min(written, count))))
    }
}
