import Testing
import Foundation
import COpenSSL
@testable import OpenSSL

/// Every `cossl_` wrapper in shim.h is called here at least once, and the
/// check below fails when shim.h gains one that no test mentions.
@Suite("COpenSSL shims")
struct ShimTests {
    @Test("Every shim in shim.h is referenced by a test")
    func everyShimIsReferenced() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let header = try String(contentsOf: root.appendingPathComponent("Sources/COpenSSL/shim.h"), encoding: .utf8)
        let shims = Set(header.matches(of: /static inline [^(]*?\b(cossl_\w+)\(/).map { String($0.output.1) })
        #expect(shims.count > 10)
        var tests = ""
        let enumerator = try #require(
            FileManager.default.enumerator(
                at: root.appendingPathComponent("Tests"), includingPropertiesForKeys: nil))
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            tests += try String(contentsOf: url, encoding: .utf8)
        }
        let missing = shims.filter { !tests.contains($0 + "(") }
        #expect(missing.isEmpty, "shims no test calls: \(missing.sorted())")
    }

    @Test("Error-code shims decode library and reason as OpenSSL 3 packs them, system errors included")
    func errorCodeShims() throws {
        let packed = (UInt(ERR_LIB_SSL) << UInt(ERR_LIB_OFFSET)) | UInt(SSL_R_UNEXPECTED_EOF_WHILE_READING)
        #expect(cossl_ERR_GET_LIB(packed) == ERR_LIB_SSL)
        #expect(cossl_ERR_GET_REASON(packed) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        let system = (UInt(Int32.max) + 1) | UInt(EPIPE)  // ERR_SYSTEM_FLAG (a macro Swift cannot import)
        #expect(cossl_ERR_GET_LIB(system) == ERR_LIB_SYS)
        #expect(cossl_ERR_GET_REASON(system) == EPIPE)
        // A real entry: PEM's "no start line".
        let error = try #require(throws: OpenSSLError.self) { try X509(pem: "garbage") }
        #expect(error.entries.contains { $0.libraryCode == ERR_LIB_PEM && $0.reasonCode == PEM_R_NO_START_LINE })
        #expect(ERR_peek_error() == 0)
    }

    @Test("No OpenSSL function is used as a Swift function value, and no BoringSSL-shared inline helper is called")
    func noSymbolsSharedWithBoringSSL() throws {
        // Either would emit a symbol named after the C function alone, which the linker may
        // resolve to swift-nio-ssl's BoringSSL copy in a binary that links both (Docs/nio.md).
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/OpenSSL")
        let walker = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var offenders: [String] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            for match in text.matches(of: /(?:free:|[(,])\s*([A-Z][A-Z0-9_]*_free|getsockname|getpeername)\s*[,)]/) {
                offenders.append("\(url.lastPathComponent): \(match.1)")
            }
            for match in text.matches(of: /\bERR_GET_(?:LIB|REASON)\(/) {
                offenders.append("\(url.lastPathComponent): \(match.0)")
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }

    @Test("Memory, BIO and flag shims")
    func basicShims() throws {
        let memory = CRYPTO_malloc(16, #file, #line)
        cossl_OPENSSL_free(memory)
        cossl_OPENSSL_free(nil)
        let bio = try #require(BIO_new(BIO_s_mem()))
        defer { BIO_free(bio) }
        #expect(BIO_write(bio, "abc", 3) == 3)
        var base: UnsafeMutablePointer<CChar>?
        #expect(cossl_BIO_get_mem_data(bio, &base) == 3)
        #expect(base?[0] == CChar(UInt8(ascii: "a")))
        #expect(cossl_XN_FLAG_RFC2253() & cossl_ASN1_STRFLGS_ESC_MSB() != 0)
        #expect(cossl_XN_FLAG_ONELINE() & cossl_XN_FLAG_SEP_CPLUS_SPC() != 0)
        #expect(cossl_ASN1_STRFLGS_UTF8_CONVERT() == 0x10)
        #expect(cossl_X509V3_EXT_DUMP_UNKNOWN() == 3 << 16)
        #expect(
            cossl_EVP_PKEY_KEYPAIR() == EVP_PKEY_KEY_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_PRIVATE_KEY
        )
    }

    @Test("Stack shims over a real certificate's extensions")
    func stackShims() throws {
        let certificate = try X509(pem: try Fixtures.bytes("utf8-names.pem"))
        try certificate.withUnsafeOpenSSLPointer { x509 in
            let names = try #require(OpaquePointer(X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil)))
            defer { GENERAL_NAMES_free(names) }
            #expect(cossl_sk_GENERAL_NAME_num(names) == 9)
            #expect(cossl_sk_GENERAL_NAME_value(names, 0)?.pointee.type == GEN_DNS)

            let eku = try #require(OpaquePointer(X509_get_ext_d2i(x509, NID_ext_key_usage, nil, nil)))
            defer { EXTENDED_KEY_USAGE_free(eku) }
            #expect(cossl_sk_ASN1_OBJECT_num(eku) == 3)
            #expect(OBJ_obj2nid(cossl_sk_ASN1_OBJECT_value(eku, 0)) == NID_server_auth)

            let points = try #require(OpaquePointer(X509_get_ext_d2i(x509, NID_crl_distribution_points, nil, nil)))
            defer { CRL_DIST_POINTS_free(points) }
            #expect(cossl_sk_DIST_POINT_num(points) == 1)
            #expect(cossl_sk_DIST_POINT_value(points, 0)?.pointee.distpoint != nil)

            let access = try #require(OpaquePointer(X509_get_ext_d2i(x509, NID_info_access, nil, nil)))
            defer { AUTHORITY_INFO_ACCESS_free(access) }
            #expect(cossl_sk_ACCESS_DESCRIPTION_num(access) == 2)
            #expect(OBJ_obj2nid(cossl_sk_ACCESS_DESCRIPTION_value(access, 0)?.pointee.method) == NID_ad_OCSP)
        }
        ERR_clear_error()

        let stack = try #require(cossl_sk_X509_new_null())
        certificate.withUnsafeOpenSSLPointer { x509 in
            #expect(X509_up_ref(x509) == 1)
            #expect(cossl_sk_X509_push(stack, x509) == 1)
            #expect(cossl_sk_X509_num(stack) == 1)
            #expect(cossl_sk_X509_value(stack, 0) == x509)
        }
        cossl_sk_X509_pop_free(stack)
        let empty = try #require(cossl_sk_X509_new_null())
        cossl_sk_X509_free(empty)
    }

    @Test("PKCS#12 stack shims over a bundle's safes and bags")
    func pkcs12StackShims() throws {
        let key = try PKey.generate(.ec(.p256))
        let certificate = try X509Builder(subject: try X509Name([("CN", "shim")]), publicKey: key).sign(with: key)
        let der = try PKCS12(privateKey: key, certificate: certificate).der(passphrase: nil)
        try der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let p12 = try #require(d2i_PKCS12(nil, &cursor, buffer.count))
            defer { PKCS12_free(p12) }
            let safes = try #require(PKCS12_unpack_authsafes(p12))
            defer { cossl_sk_PKCS7_pop_free(safes) }
            #expect(cossl_sk_PKCS7_num(safes) == 2)  // certificates, key
            let safe = try #require(cossl_sk_PKCS7_value(safes, 0))
            #expect(OBJ_obj2nid(safe.pointee.type) == NID_pkcs7_data)
            let bags = try #require(PKCS12_unpack_p7data(safe))
            defer { cossl_sk_PKCS12_SAFEBAG_pop_free(bags) }
            #expect(cossl_sk_PKCS12_SAFEBAG_num(bags) == 1)
            let bag = try #require(cossl_sk_PKCS12_SAFEBAG_value(bags, 0))
            #expect(PKCS12_SAFEBAG_get_nid(bag) == NID_certBag)
        }
        expectErrorQueueEmpty()
    }
}
