import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

@Suite("X509Request")
struct X509RequestTests {
    static func sampleRequest(key: PKey) throws -> (X509Request, [X509Extension]) {
        let extensions = [
            try X509Extension.subjectAlternativeName([
                .dnsName("www.example.com"), try .ipAddress("192.0.2.7"),
                .email("ops@example.com"),
            ]),
            try X509Extension.keyUsage([.digitalSignature, .keyEncipherment]),
            try X509Extension.extendedKeyUsage([.serverAuth]),
            try X509Extension.basicConstraints(BasicConstraints(isCA: false)),
        ]
        let builder = X509RequestBuilder(
            subject: try X509Name([("C", "FR"), ("O", "Request Org"), ("CN", "www.example.com")]), extensions: extensions)
        return (try builder.sign(with: key), extensions)
    }

    @Test("A built request reads back: subject, key, version, signature algorithm, requested extensions in order")
    func buildAndRead() throws {
        let key = try PKey.generate(.ec(.p256))
        let (request, extensions) = try Self.sampleRequest(key: key)
        #expect(request.version == 1)
        #expect(try request.subject.rfc2253String == "CN=www.example.com,O=Request Org,C=FR")
        #expect(try request.publicKey.isPublicKeyEqual(to: key))
        #expect(try !request.publicKey.hasPrivateKey)
        #expect(request.signatureAlgorithm == "ecdsa-with-SHA256")
        #expect(!request.signature.isEmpty)
        let read = try request.extensions
        #expect(read == extensions)
        #expect(read.map(\.shortName) == ["subjectAltName", "keyUsage", "extendedKeyUsage", "basicConstraints"])
        #expect(read[1].isCritical && read[3].isCritical && !read[0].isCritical)
        #expect(
            try request.subjectAlternativeNames == [
                .dnsName("www.example.com"), try .ipAddress("192.0.2.7"),
                .email("ops@example.com"),
            ])
        #expect(request.isSignatureValid)
        #expect(request.isSigned(by: key))
        #expect(!request.isSigned(by: try PKey.generate(.ec(.p256))))
        #expect(request.description == "X509Request(subject: C = FR, O = Request Org, CN = www.example.com)")
    }

    @Test("A request without extensions has none; an empty subject is allowed")
    func noExtensions() throws {
        let key = try PKey.generate(.ed25519)
        let request = try X509RequestBuilder().sign(with: key)
        #expect(try request.extensions.isEmpty)
        #expect(try request.subjectAlternativeNames == nil)
        #expect(try request.subject.components.isEmpty)
        #expect(request.signatureAlgorithm == "ED25519")
        #expect(request.isSignatureValid)
    }

    @Test("PEM and DER round-trip byte for byte; the old NEW CERTIFICATE REQUEST label loads too")
    func encodings() throws {
        let key = try PKey.generate(.ec(.p256))
        let (request, _) = try Self.sampleRequest(key: key)
        let pem = try request.pem
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----\n"))
        #expect(pem.hasSuffix("-----END CERTIFICATE REQUEST-----\n"))
        let der = try request.der
        #expect(try X509Request(pem: pem).der == der)
        #expect(try X509Request(der: der).der == der)
        #expect(try X509Request(pem: Array(pem.utf8)).subject == request.subject)
        let old = pem.replacingOccurrences(of: "CERTIFICATE REQUEST", with: "NEW CERTIFICATE REQUEST")
        #expect(try X509Request(pem: old).der == der)
    }

    @Test(
        "openssl req -verify accepts requests signed with every algorithm, and prints what X509Request.text prints",
        arguments: SigningCase.all)
    func opensslVerifies(_ signing: SigningCase) throws {
        let key = try signing.makeKey()
        var builder = X509RequestBuilder(subject: try X509Name([("CN", "csr \(signing.expectedAlgorithm)")]))
        try builder.addSubjectAlternativeNames([.dnsName("csr.example"), .uri("https://csr.example/")])
        let request = try builder.sign(with: key, digest: signing.digest, rsaPadding: signing.padding)
        #expect(request.signatureAlgorithm == signing.expectedAlgorithm)
        #expect(request.isSignatureValid)

        let directory = try TemporaryDirectory()
        let path = try directory.write("request.pem", try request.pem)
        let verify = try runOpenSSL(["req", "-verify", "-noout", "-in", path])
        #expect(verify.status == 0, "\(verify.combined)")
        #expect(verify.combined.contains("Certificate request self-signature verify OK"))
        #expect(!verify.combined.contains("failure"))
        let text = try runOpenSSL(["req", "-text", "-noout", "-in", path] + RuntimeOpenSSL.onelineNames)
        #expect(text.status == 0)
        let ours = try request.text
        #expect(text.stdout == ours, "first difference: \(firstDifference(text.stdout, ours))")
        #expect(text.stdout.contains("Subject: CN = csr \(signing.expectedAlgorithm)"))
        #expect(
            text.stdout.contains(
                "Requested Extensions:\n                X509v3 Subject Alternative Name: \n                    DNS:csr.example, URI:https://csr.example/"
            ))
    }

    @Test("A tampered request fails both X509Request's and openssl's signature check")
    func tampered() throws {
        let key = try PKey.generate(.ec(.p256))
        let request = try X509RequestBuilder(subject: try X509Name([("CN", "tamper-me")])).sign(with: key)
        var der = try request.der
        let marker = Array("tamper-me".utf8)
        let start = try #require((0...(der.count - marker.count)).first { der[$0..<($0 + marker.count)].elementsEqual(marker) })
        der[start] = UInt8(ascii: "T")
        let forged = try X509Request(der: der)
        #expect(try forged.subject.commonName == "Tamper-me")
        #expect(!forged.isSignatureValid)
        #expect(!forged.isSigned(by: key))
        expectErrorQueueEmpty()
        let directory = try TemporaryDirectory()
        let path = try directory.write("forged.pem", try forged.pem)
        let verify = try runOpenSSL(["req", "-verify", "-noout", "-in", path])
        // OpenSSL 3.0's `req -verify` reports the failure but still exits 0, so the message is what counts.
        #expect(verify.combined.contains("Certificate request self-signature verify failure"))
        #expect(!verify.combined.contains("verify OK"))
    }

    @Test("A request made by openssl req is read correctly")
    func readsOpenSSLRequest() throws {
        let directory = try TemporaryDirectory()
        let key = try PKey.generate(.rsa(bits: 2048))
        let keyPath = try directory.write("key.pem", try key.privateKeyPEM())
        let out = directory.path("req.pem")
        let made = try runOpenSSL([
            "req", "-new", "-key", keyPath, "-sha384", "-subj", "/O=Tool Org/CN=tool.example",
            "-addext", "subjectAltName=DNS:tool.example,IP:10.9.8.7",
            "-addext", "keyUsage=critical,digitalSignature", "-out", out,
        ])
        #expect(made.status == 0, "\(made.combined)")
        let request = try X509Request(pem: try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(try request.subject.rfc2253String == "CN=tool.example,O=Tool Org")
        #expect(request.signatureAlgorithm == "sha384WithRSAEncryption")
        #expect(try request.publicKey.isPublicKeyEqual(to: key))
        #expect(try request.subjectAlternativeNames == [.dnsName("tool.example"), try .ipAddress("10.9.8.7")])
        let keyUsage = try #require(try request.extensions.unique(X509Extension.keyUsageOID))
        #expect(keyUsage.isCritical)
        #expect(try keyUsage.keyUsage() == [.digitalSignature])
        #expect(request.isSignatureValid)
    }

    @Test("X509Builder(request:) certifies a request's subject, key and (optionally) its extensions")
    func certifyRequest() throws {
        let pki = TestPKI.shared
        let key = try PKey.generate(.ec(.p256))
        let (request, extensions) = try Self.sampleRequest(key: key)
        var builder = try X509Builder(request: request, copyExtensions: true)
        builder.addAuthorityKeyIdentifier()
        let certificate = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        #expect(try certificate.subject == request.subject)
        #expect(try certificate.publicKey.isPublicKeyEqual(to: key))
        #expect(Array(certificate.extensions.prefix(4)) == extensions)
        #expect(try certificate.authorityKeyIdentifier?.keyIdentifier == pki.intermediate.subjectKeyIdentifier)
        #expect(try X509Builder(request: request).extensionOIDs.isEmpty)

        var der = try request.der
        der[der.count - 3] ^= 0x01  // inside the signature
        let forged = try X509Request(der: der)
        expectOpenSSLError("does not verify") { _ = try X509Builder(request: forged) }
    }

    @Test("X06 I04 garbage, truncated, empty and wrongly labelled requests throw, and leave the queue empty")
    func badInput() throws {
        let key = try PKey.generate(.ec(.p256))
        let (request, _) = try Self.sampleRequest(key: key)
        let pem = try request.pem
        let der = try request.der
        expectOpenSSLError("no start line") { _ = try X509Request(pem: "") }
        expectOpenSSLError("no start line") { _ = try X509Request(pem: "this is not PEM at all") }
        expectOpenSSLError("read certificate request (PEM)") { _ = try X509Request(pem: String(pem.prefix(pem.count / 2))) }
        let garbled = pem.replacingOccurrences(
            of: "\n", with: "\n!!", options: [],
            range: pem.index(pem.startIndex, offsetBy: 40)..<pem.index(pem.startIndex, offsetBy: 120))
        expectOpenSSLError("read certificate request (PEM)") { _ = try X509Request(pem: garbled) }
        expectOpenSSLError("no start line") { _ = try X509Request(pem: try TestPKI.shared.server.pem) }
        expectOpenSSLError("empty input") { _ = try X509Request(der: [UInt8]()) }
        expectOpenSSLError("read certificate request (DER)") { _ = try X509Request(der: Array(der.dropLast(10))) }
        expectOpenSSLError("read certificate request (DER)") { _ = try X509Request(der: [UInt8](repeating: 0x5a, count: 64)) }
        expectOpenSSLError("trailing data") { _ = try X509Request(der: der + [0, 0]) }
        expectOpenSSLError("read certificate request (DER)") { _ = try X509Request(der: try TestPKI.shared.server.der) }
    }

    @Test("I04 bad signing combinations for requests throw with a clear reason")
    func signingErrors() throws {
        let ecKey = try PKey.generate(.ec(.p256))
        let edKey = try PKey.generate(.ed25519)
        let builder = X509RequestBuilder(subject: try X509Name([("CN", "errors")]))
        expectOpenSSLError("public key") { _ = try builder.sign(with: try ecKey.publicKey()) }
        expectOpenSSLError("unknown digest 'SHA-999'") { _ = try builder.sign(with: ecKey, digest: MessageDigest("SHA-999")) }
        expectOpenSSLError("signs without a separate digest") { _ = try builder.sign(with: edKey, digest: .sha256) }
        expectOpenSSLError("PSS padding needs an RSA key") { _ = try builder.sign(with: edKey, rsaPadding: .pss) }
        var twice = builder
        try twice.addSubjectAlternativeNames([.dnsName("a")])
        try twice.addSubjectAlternativeNames([.dnsName("b")])
        expectOpenSSLError("requested more than once") { _ = try twice.sign(with: ecKey) }
        #expect(try builder.sign(with: ecKey).isSignatureValid)
    }

    @Test("Builder shims: the X509_EXTENSION stack (new, push, num, value, pop_free)")
    func extensionStackShims() throws {
        let stack = try #require(cossl_sk_X509_EXTENSION_new_null())
        let ext = try #require(X509V3_EXT_nconf(nil, nil, "basicConstraints", "CA:FALSE"))
        #expect(cossl_sk_X509_EXTENSION_num(stack) == 0)
        #expect(cossl_sk_X509_EXTENSION_push(stack, ext) == 1)
        #expect(cossl_sk_X509_EXTENSION_num(stack) == 1)
        #expect(cossl_sk_X509_EXTENSION_value(stack, 0) == ext)
        #expect(cossl_sk_X509_EXTENSION_value(stack, 1) == nil)
        ERR_clear_error()
        cossl_sk_X509_EXTENSION_pop_free(stack)  // frees `ext` too
        #expect(cossl_sk_X509_EXTENSION_num(nil) == -1)
    }
}
