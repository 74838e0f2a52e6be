import Testing
import Foundation
import COpenSSL
@testable import OpenSSL

/// The TLS shims: each one called against a real SSL_CTX / SSL and checked.
@Suite("COpenSSL TLS shims")
struct TLSShimTests {
    @Test("Every SSL_OP_* shim is a distinct bit or a documented mask, and matches SSLOptions")
    func optionShims() {
        let singles: [UInt64] = [
            cossl_SSL_OP_NO_EXTENDED_MASTER_SECRET(), cossl_SSL_OP_CLEANSE_PLAINTEXT(), cossl_SSL_OP_LEGACY_SERVER_CONNECT(),
            cossl_SSL_OP_ENABLE_KTLS(), cossl_SSL_OP_TLSEXT_PADDING(), cossl_SSL_OP_SAFARI_ECDHE_ECDSA_BUG(),
            cossl_SSL_OP_IGNORE_UNEXPECTED_EOF(), cossl_SSL_OP_ALLOW_CLIENT_RENEGOTIATION(),
            cossl_SSL_OP_DISABLE_TLSEXT_CA_NAMES(),
            cossl_SSL_OP_ALLOW_NO_DHE_KEX(), cossl_SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS(), cossl_SSL_OP_NO_QUERY_MTU(),
            cossl_SSL_OP_COOKIE_EXCHANGE(), cossl_SSL_OP_NO_TICKET(), cossl_SSL_OP_CISCO_ANYCONNECT(),
            cossl_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION(), cossl_SSL_OP_NO_COMPRESSION(),
            cossl_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION(), cossl_SSL_OP_NO_ENCRYPT_THEN_MAC(),
            cossl_SSL_OP_ENABLE_MIDDLEBOX_COMPAT(), cossl_SSL_OP_PRIORITIZE_CHACHA(), cossl_SSL_OP_CIPHER_SERVER_PREFERENCE(),
            cossl_SSL_OP_TLS_ROLLBACK_BUG(), cossl_SSL_OP_NO_ANTI_REPLAY(), cossl_SSL_OP_NO_SSLv3(), cossl_SSL_OP_NO_TLSv1(),
            cossl_SSL_OP_NO_TLSv1_2(), cossl_SSL_OP_NO_TLSv1_1(), cossl_SSL_OP_NO_TLSv1_3(), cossl_SSL_OP_NO_DTLSv1(),
            cossl_SSL_OP_NO_DTLSv1_2(), cossl_SSL_OP_NO_RENEGOTIATION(), cossl_SSL_OP_CRYPTOPRO_TLSEXT_BUG(),
        ]
        #expect(singles.allSatisfy { $0.nonzeroBitCount == 1 })
        // The DTLS version options reuse the TLS bits (OpenSSL defines them as aliases).
        #expect(cossl_SSL_OP_NO_DTLSv1() == cossl_SSL_OP_NO_TLSv1())
        #expect(cossl_SSL_OP_NO_DTLSv1_2() == cossl_SSL_OP_NO_TLSv1_2())
        #expect(Set(singles).count == singles.count - 2)
        #expect(cossl_SSL_OP_NO_SSL_MASK() & cossl_SSL_OP_NO_TLSv1_3() != 0)
        #expect(cossl_SSL_OP_NO_DTLS_MASK() & cossl_SSL_OP_NO_DTLSv1_2() != 0)
        #expect(cossl_SSL_OP_ALL() & cossl_SSL_OP_TLSEXT_PADDING() != 0)
        #expect(SSLOptions.noRenegotiation.rawValue == cossl_SSL_OP_NO_RENEGOTIATION())
    }

    @Test("Context and connection macro shims read back what they set")
    func contextAndConnectionShims() throws {
        let context = try #require(SSL_CTX_new(TLS_method()))
        defer { SSL_CTX_free(context) }
        #expect(cossl_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS)) & Int(SSL_MODE_RELEASE_BUFFERS) != 0)
        #expect(cossl_SSL_CTX_get_mode(context) & Int(SSL_MODE_RELEASE_BUFFERS) != 0)
        #expect(cossl_SSL_CTX_clear_mode(context, Int(SSL_MODE_RELEASE_BUFFERS)) & Int(SSL_MODE_RELEASE_BUFFERS) == 0)
        #expect(cossl_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1)
        #expect(cossl_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1)
        #expect(cossl_SSL_CTX_get_min_proto_version(context) == TLS1_2_VERSION)
        #expect(cossl_SSL_CTX_get_max_proto_version(context) == TLS1_3_VERSION)
        #expect(cossl_SSL_CTX_set1_groups_list(context, "X25519:P-256") == 1)
        var marker = 42
        try withUnsafeMutablePointer(to: &marker) { pointer in
            #expect(cossl_SSL_CTX_set_app_data(context, pointer) == 1)
            #expect(cossl_SSL_CTX_get_app_data(context) == UnsafeMutableRawPointer(pointer))
            let ssl = try #require(SSL_new(context))
            defer { SSL_free(ssl) }
            #expect(cossl_SSL_set_app_data(ssl, pointer) == 1)
            #expect(cossl_SSL_get_app_data(ssl) == UnsafeMutableRawPointer(pointer))
            #expect(cossl_SSL_set_mode(ssl, Int(SSL_MODE_AUTO_RETRY)) & Int(SSL_MODE_AUTO_RETRY) != 0)
            #expect(cossl_SSL_get_mode(ssl) & Int(SSL_MODE_AUTO_RETRY) != 0)
            #expect(cossl_SSL_clear_mode(ssl, Int(SSL_MODE_AUTO_RETRY)) & Int(SSL_MODE_AUTO_RETRY) == 0)
            #expect(cossl_SSL_set_min_proto_version(ssl, TLS1_3_VERSION) == 1)
            #expect(cossl_SSL_set_max_proto_version(ssl, TLS1_3_VERSION) == 1)
            #expect(cossl_SSL_set_tlsext_host_name(ssl, "example.com") == 1)
            #expect(cossl_SSL_want_read(ssl) == 0)
            #expect(cossl_SSL_want_write(ssl) == 0)
            #expect(cossl_SSL_want_retry_verify(ssl) == 0)
            // On a throwaway SSL, retry-verify only records the wait state.
            let throwaway = try #require(SSL_new(context))
            defer { SSL_free(throwaway) }
            #expect(cossl_SSL_set_retry_verify(throwaway) == 1)
            #expect(cossl_SSL_want_retry_verify(throwaway) == 1)
        }
        let certificate = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        certificate.withUnsafeOpenSSLPointer { x509 in
            #expect(X509_up_ref(x509) == 1)
            #expect(cossl_SSL_CTX_add_extra_chain_cert(context, x509) == 1)
            var chain: OpaquePointer?
            #expect(cossl_SSL_CTX_get_extra_chain_certs(context, &chain) == 1)
            #expect(cossl_sk_X509_num(chain) == 1)
            #expect(cossl_SSL_CTX_clear_extra_chain_certs(context) == 1)
            #expect(cossl_SSL_CTX_get_extra_chain_certs(context, &chain) == 1)
            #expect(chain == nil || cossl_sk_X509_num(chain) == 0)
        }
        ERR_clear_error()
    }

    @Test("Name-stack and memory-BIO shims")
    func nameStackAndBIOShims() throws {
        let stack = try #require(cossl_sk_X509_NAME_new_null())
        let name = try X509Name([("CN", "one")])
        let copy = try #require(name.withUnsafeOpenSSLPointer { X509_NAME_dup($0) })
        #expect(cossl_sk_X509_NAME_push(stack, copy) == 1)
        #expect(cossl_sk_X509_NAME_num(stack) == 1)
        #expect(X509_NAME_cmp(cossl_sk_X509_NAME_value(stack, 0), copy) == 0)
        cossl_sk_X509_NAME_pop_free(stack)

        let bio = try #require(BIO_new(BIO_s_mem()))
        defer { BIO_free(bio) }
        var byte: UInt8 = 0
        #expect(BIO_read(bio, &byte, 1) == -1)  // empty memory BIO: retry
        #expect(cossl_BIO_set_mem_eof_return(bio, 0) == 1)
        #expect(BIO_read(bio, &byte, 1) == 0)  // now end of file
    }
}
