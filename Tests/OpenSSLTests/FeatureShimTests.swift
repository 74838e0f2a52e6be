import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The TLS-feature shims of shim.h, each called on real OpenSSL objects and checked.
@Suite("COpenSSL TLS feature shims")
struct FeatureShimTests {
    @Test("Callback and status-request shims install, set and read back")
    func callbackAndStatusShims() throws {
        let context = try #require(SSL_CTX_new(TLS_method()))
        defer { SSL_CTX_free(context) }
        #expect(cossl_SSL_CTX_set_tlsext_servername_callback(context) { _, _, _ in SSL_TLSEXT_ERR_OK } == 1)
        #expect(cossl_SSL_CTX_set_tlsext_status_cb(context) { _, _ in 1 } == 1)
        let ssl = try #require(SSL_new(context))
        defer { SSL_free(ssl) }
        #expect(cossl_SSL_get_tlsext_status_type(ssl) == -1)
        #expect(cossl_SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp) == 1)
        #expect(cossl_SSL_get_tlsext_status_type(ssl) == TLSEXT_STATUSTYPE_ocsp)
        let response: [UInt8] = [0x30, 0x03, 0x0A, 0x01, 0x00]
        let copy = try #require(CRYPTO_malloc(response.count, #file, #line))
        response.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { copy.copyMemory(from: base, byteCount: bytes.count) }
        }
        // The SSL takes the copy over.
        #expect(cossl_SSL_set_tlsext_status_ocsp_resp(ssl, copy.assumingMemoryBound(to: UInt8.self), response.count) == 1)
        var stored: UnsafeMutablePointer<UInt8>?
        #expect(cossl_SSL_get_tlsext_status_ocsp_resp(ssl, &stored) == response.count)
        #expect(stored.map { Array(UnsafeBufferPointer(start: $0, count: response.count)) } == response)
    }

    @Test("Session cache shims round-trip mode and size and count sessions")
    func sessionCacheShims() throws {
        let context = try #require(SSL_CTX_new(TLS_server_method()))
        defer { SSL_CTX_free(context) }
        #expect(cossl_SSL_CTX_get_session_cache_mode(context) == Int(SSL_SESS_CACHE_SERVER))
        #expect(cossl_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_BOTH)) == Int(SSL_SESS_CACHE_SERVER))
        #expect(cossl_SSL_CTX_get_session_cache_mode(context) == Int(SSL_SESS_CACHE_BOTH))
        #expect(cossl_SSL_CTX_sess_set_cache_size(context, 5) == Int(SSL_SESSION_CACHE_MAX_SIZE_DEFAULT))
        #expect(cossl_SSL_CTX_sess_get_cache_size(context) == 5)
        #expect(cossl_SSL_CTX_sess_number(context) == 0)
    }

    @Test("Handshake shims: negotiated group, peer signature, peer temporary key, renegotiation count")
    func handshakeShims() throws {
        // The default groups: X25519 on 3.0; on 3.5 the X25519MLKEM768 hybrid,
        // which has no NID and, being a KEM, no peer key.
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        pair.client.withUnsafeOpenSSLPointer { ssl in
            #expect(cossl_SSL_get_negotiated_group(ssl) == RuntimeOpenSSL.defaultTLS13GroupID)
            var nid: Int32 = 0
            #expect(cossl_SSL_get_peer_signature_nid(ssl, &nid) == 1)
            #expect(nid == NID_sha256)
            var key: OpaquePointer?
            if RuntimeOpenSSL.defaultTLS13HasPeerTemporaryKey {
                #expect(cossl_SSL_get_peer_tmp_key(ssl, &key) == 1)
                #expect(key.map { EVP_PKEY_get_base_id($0) } == EVP_PKEY_X25519)
            } else {
                #expect(cossl_SSL_get_peer_tmp_key(ssl, &key) == 0)
                #expect(key == nil)
            }
            EVP_PKEY_free(key)
            ERR_clear_error()
            #expect(cossl_SSL_total_renegotiations(ssl) == 0)
        }
        // X25519 pinned: the same answers on every version.
        let client = try TestContexts.client()
        try client.setGroups(["X25519"])
        let pinned = try TLSPair(client: client, server: try TestContexts.server())
        try pinned.handshake()
        pinned.client.withUnsafeOpenSSLPointer { ssl in
            #expect(cossl_SSL_get_negotiated_group(ssl) == NID_X25519)
            var key: OpaquePointer?
            #expect(cossl_SSL_get_peer_tmp_key(ssl, &key) == 1)
            #expect(key.map { EVP_PKEY_get_base_id($0) } == EVP_PKEY_X25519)
            EVP_PKEY_free(key)
        }
    }

    @Test("Time shims (3.0's long calls, 3.5's time_t ones): a session's creation time; flushing a server cache by date")
    func sessionTimeShims() throws {
        let server = try VersionedContexts.server(.tls1_2)
        try server.setOptions(.noTicket)  // stateful: the session stays in the server's cache
        try server.setTimeout(60)
        let before = time(nil)
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.handshake()
        let session = try #require(pair.server.session)
        _ = try pair.server.shutdown()
        let after = time(nil)
        session.withUnsafeOpenSSLPointer { raw in
            let made = cossl_SSL_SESSION_get_time(raw)
            #expect(made >= before && made <= after)
        }
        server.withUnsafeOpenSSLPointer { context in
            #expect(cossl_SSL_CTX_sess_number(context) == 1)
            cossl_SSL_CTX_flush_sessions(context, after)  // not expired yet
            #expect(cossl_SSL_CTX_sess_number(context) == 1)
            cossl_SSL_CTX_flush_sessions(context, after + 61)
            #expect(cossl_SSL_CTX_sess_number(context) == 0)
        }
        expectErrorQueueEmpty()
    }

    @Test("DTLS shims: timeout, retransmission, MTU, connected datagram BIO")
    func dtlsShims() throws {
        let context = try #require(SSL_CTX_new(DTLS_client_method()))
        defer { SSL_CTX_free(context) }
        let ssl = try #require(SSL_new(context))
        defer { SSL_free(ssl) }
        var left = timeval()
        #expect(cossl_DTLSv1_get_timeout(ssl, &left) == 0, "no timer before the handshake")
        #expect(cossl_DTLSv1_handle_timeout(ssl) == 0)
        #expect(cossl_SSL_set_mtu(ssl, 10) == 0, "below the DTLS minimum")
        #expect(cossl_SSL_set_mtu(ssl, 1200) == 1200)

        let socket = try UDPSocket.bind()
        let peer = try UDPSocket.bind()
        try socket.connect(host: "127.0.0.1", port: peer.localPort)
        let descriptor = try #require(socket.fileDescriptor)
        let bio = try #require(BIO_new_dgram(descriptor, BIO_NOCLOSE))
        defer { BIO_free(bio) }
        let address = try #require(BIO_ADDR_new())
        defer { BIO_ADDR_free(address) }
        var loopback = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        #expect(BIO_ADDR_rawmake(address, AF_INET, &loopback, MemoryLayout<in_addr>.size, peer.localPort.bigEndian) == 1)
        #expect(cossl_BIO_ctrl_set_connected(bio, address) == 1)
        #expect(BIO_write(bio, "hi", 2) == 2)
        var buffer = [UInt8](repeating: 0, count: 8)
        try peer.setReadTimeout(.seconds(5))
        #expect(try buffer.withUnsafeMutableBytes { try peer.read(into: $0) } == 2)
        #expect(buffer.prefix(2) == [UInt8(ascii: "h"), UInt8(ascii: "i")])
        ERR_clear_error()
    }
}
