import Foundation
internal import COpenSSL

// Per-connection ALPN, info callback and OCSP request.

extension Connection {
    // MARK: ALPN

    /// Client: sets the protocols this connection offers with ALPN, most
    /// preferred first, replacing its context's list.
    /// - Throws: `OpenSSLError` for an empty list, or a protocol that is
    ///   empty or longer than 255 bytes.
    /// - SeeAlso: SSL_set_alpn_protos(3)
    public func setALPNProtocols(_ protocols: [String]) throws {
        let wire = try ALPN.encode(protocols, operation: "set ALPN protocols")
        ErrorQueue.clear()
        // Note the inverted convention: 0 is success here.
        guard SSL_set_alpn_protos(raw, wire, UInt32(wire.count)) == 0 else {
            throw ErrorQueue.drain("set ALPN protocols")
        }
    }

    /// The protocol ALPN negotiated, on either side; nil before the
    /// handshake, when either side did not use ALPN, or when the server
    /// found no overlap.
    /// - SeeAlso: SSL_get0_alpn_selected(3)
    public var alpnProtocol: String? {
        var bytes: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(raw, &bytes, &length)
        guard let bytes, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
    }

    // MARK: Info callback

    /// Sets this connection's info callback, replacing the one it took from
    /// its context (nil removes it). It sees handshake starts and ends,
    /// state changes and alerts.
    /// - SeeAlso: SSL_set_info_callback(3)
    public func setInfoCallback(_ callback: Context.InfoCallback?) {
        callbacks.info = callback
        SSL_set_info_callback(raw, callback == nil ? nil : infoTrampoline)
    }

    // MARK: OCSP stapling

    /// Client: asks the server to staple an OCSP response (the
    /// status_request extension). The context's OCSP client callback then
    /// judges the response; without the request no OCSP callback runs on
    /// either side. Call before the handshake.
    /// - Throws: `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: SSL_set_tlsext_status_type(3)
    public func requestOCSP() throws {
        try ErrorQueue.check("request OCSP stapling") {
            Int32(truncatingIfNeeded: cossl_SSL_set_tlsext_status_type(raw, TLSEXT_STATUSTYPE_ocsp))
        }
    }

    /// True when this client asked for OCSP stapling.
    /// - SeeAlso: SSL_get_tlsext_status_type(3)
    public var requestsOCSP: Bool { cossl_SSL_get_tlsext_status_type(raw) == TLSEXT_STATUSTYPE_ocsp }

    /// Client: the OCSP response the server stapled, verbatim (empty when none).
    /// - SeeAlso: SSL_get_tlsext_status_ocsp_resp(3)
    public var stapledOCSPResponse: [UInt8] {
        var bytes: UnsafeMutablePointer<UInt8>?
        let length = cossl_SSL_get_tlsext_status_ocsp_resp(raw, &bytes)
        guard let bytes, length > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: bytes, count: length))
    }
}
