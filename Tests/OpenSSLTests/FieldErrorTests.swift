import Foundation
import Testing
@testable import OpenSSL
import TestSupport

/// Certificates OpenSSL parses but with one field that does not decode (or
/// that holds an unusual value), made here by editing the DER of a good one:
/// the library reads every other field, and `ossl x509` prints the
/// certificate with that field as an error or a faithful value.
@Suite("One bad field never loses the certificate (G03)")
struct FieldErrorTests {
    static let pki = TestPKI.shared
    static let sanOID = "2.5.29.17"

    /// The test server certificate (basicConstraints, keyUsage, EKU, SAN,
    /// SKI, AKI; ecdsa-with-SHA256 by the intermediate), edited.
    static func edited(_ edit: (inout EditableCertificate) throws -> Void) throws -> (X509, [UInt8]) {
        var certificate = try EditableCertificate(try pki.server.der)
        try edit(&certificate)
        let der = certificate.der
        return (try X509(der: der), der)
    }

    /// What `openssl x509 -noout -text` says of `der`: OpenSSL parses it.
    static func opensslParses(_ der: [UInt8], _ directory: TemporaryDirectory, name: String) throws -> String {
        let path = try directory.write(name, der)
        let result = try ExternalTool.run("/usr/bin/openssl", ["x509", "-inform", "DER", "-in", path, "-noout", "-text"])
        #expect(result.status == 0, "openssl x509 refused \(name): \(result.stderr)")
        return result.stdout
    }

    /// `ossl x509 --json FILE`: the status, the single object, stderr's lines.
    static func json(_ path: String) throws -> (Int32, [String: Any], [String]) {
        let result = try OsslTool.run(["x509", "--json", path])
        let objects = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        let object = try #require(objects?.first, "no JSON object: \(result.stdout) \(result.stderr)")
        return (result.status, object, OsslTool.lines(result.stderr))
    }

    /// The fields of the good certificate that an edit must leave as they were.
    static func expectUnchanged(
        _ object: [String: Any], except changed: Set<String>,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let directory = try TemporaryDirectory()
        let (_, good, _) = try json(try directory.write("good.der", try pki.server.der))
        // These follow the DER, which every edit changes.
        let followDER: Set<String> = ["fingerprints", "pem", "selfSigned"]
        for (key, value) in good where !changed.contains(key) && !followDER.contains(key) {
            let same = NSDictionary(dictionary: [key: value]).isEqual(to: [key: object[key] as Any])
            #expect(same, "\(key): \(String(describing: object[key])) instead of \(value)", sourceLocation: sourceLocation)
        }
    }

    @Test("G03 a duplicated extension: that getter fails alone, extensions lists both, --json has the error and exits 0")
    func duplicatedExtension() throws {
        let (certificate, der) = try Self.edited { certificate in
            let san = try #require(certificate.extensionIndex(Self.sanOID))
            certificate.extensions.append(certificate.extensions[san])
        }
        let directory = try TemporaryDirectory()
        _ = try Self.opensslParses(der, directory, name: "duplicate.der")
        #expect(certificate.extensions.filter { $0.oid == Self.sanOID }.count == 2)
        #expect(certificate.extensions.count == Self.pki.server.extensions.count + 1)
        let error = try #require(throws: OpenSSLError.self) { _ = try certificate.subjectAlternativeNames }
        #expect(error.detail == "the extension occurs 2 times")
        // Every other getter reads.
        #expect(try certificate.keyUsage == Self.pki.server.keyUsage)
        #expect(try certificate.basicConstraints == Self.pki.server.basicConstraints)
        #expect(try certificate.extendedKeyUsage == Self.pki.server.extendedKeyUsage)
        #expect(try certificate.subjectKeyIdentifier == Self.pki.server.subjectKeyIdentifier)
        #expect(try certificate.authorityKeyIdentifier == Self.pki.server.authorityKeyIdentifier)
        #expect(try certificate.subject == Self.pki.server.subject)
        #expect(try certificate.notAfter == Self.pki.server.notAfter)

        let path = try directory.write("duplicate.der", der)
        let (status, object, stderr) = try Self.json(path)
        #expect(status == 0)
        let reason = "find extension 2.5.29.17: the extension occurs 2 times"
        #expect(object["subjectAltNames"] as? [String: String] == ["error": reason])
        #expect(stderr == ["ossl x509: \(path): certificate 1: subjectAltNames: \(reason)"])
        #expect((object["extensions"] as? [[String: Any]])?.filter { $0["name"] as? String == "subjectAltName" }.count == 2)
        try Self.expectUnchanged(object, except: ["subjectAltNames", "extensions"])
        // The summary too.
        let summary = try OsslTool.run(["x509", path])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("alt names:      error: \(reason)"), "\(summary.stdout)")
        #expect(summary.stdout.contains("key usage:      Digital Signature"))
    }

    @Test("G03 a subjectAltName and an authorityInfoAccess that do not decode: those getters fail with OpenSSL's reason")
    func undecodableExtensions() throws {
        let (certificate, der) = try Self.edited { certificate in
            // A SEQUENCE whose dNSName claims more bytes than there are.
            certificate.setExtensionValue(Self.sanOID, [0x30, 0x03, 0x82, 0x05, 0x61])
            // An AccessDescription that is a NULL.
            certificate.extensions.append(
                EditableCertificate.makeExtension("1.3.6.1.5.5.7.1.1", value: [0x30, 0x02, 0x05, 0x00]))
        }
        let directory = try TemporaryDirectory()
        let text = try Self.opensslParses(der, directory, name: "bad-san.der")
        #expect(text.contains("X509v3 Subject Alternative Name"))
        let sanError = try #require(throws: OpenSSLError.self) { _ = try certificate.subjectAlternativeNames }
        #expect(sanError.operation == "decode alternative name extension")
        #expect(
            !sanError.entries.isEmpty && sanError.entries.allSatisfy { $0.library == "asn1 encoding routines" }, "\(sanError)")
        let aiaError = try #require(throws: OpenSSLError.self) { _ = try certificate.authorityInfoAccess }
        #expect(aiaError.operation == "decode authorityInfoAccess extension" && !aiaError.entries.isEmpty)
        #expect(throws: OpenSSLError.self) { _ = try certificate.ocspURLs }
        #expect(try certificate.keyUsage == Self.pki.server.keyUsage)
        #expect(try certificate.extendedKeyUsage == Self.pki.server.extendedKeyUsage)
        #expect(try certificate.crlDistributionPoints == nil)
        #expect(certificate.extensions.map(\.oid).contains("1.3.6.1.5.5.7.1.1"))

        let path = try directory.write("bad-san.der", der)
        let (status, object, stderr) = try Self.json(path)
        #expect(status == 0)
        let error = try #require(object["subjectAltNames"] as? [String: String])
        #expect(error == ["error": "\(sanError)"])
        #expect(error["error"]?.hasPrefix("decode alternative name extension: ") == true)
        #expect(stderr == ["ossl x509: \(path): certificate 1: subjectAltNames: \(sanError)"])
        try Self.expectUnchanged(object, except: ["subjectAltNames", "extensions"])
    }

    @Test("G03 a notAfter that does not parse: notAfter throws, every other field reads; --json gives raw:<text>")
    func unparseableTime() throws {
        let garbled = Array("2801011200XXZ".utf8)
        let (certificate, der) = try Self.edited { certificate in
            certificate[.validity].children[1] = .primitive(0x17, garbled)
        }
        let directory = try TemporaryDirectory()
        let text = try Self.opensslParses(der, directory, name: "bad-time.der")
        #expect(text.contains("Bad time value"), "\(text)")
        let timeError = try #require(throws: OpenSSLError.self) { _ = try certificate.notAfter }
        #expect(timeError.description == "read notAfter: '2801011200XXZ' is not a valid UTCTime")
        #expect(certificate.encodedNotAfter == "2801011200XXZ")
        #expect(try certificate.notBefore == Self.pki.server.notBefore)
        #expect(certificate.hasExpired)  // fails closed
        #expect(!certificate.isValid())
        #expect(try certificate.subjectAlternativeNames == Self.pki.server.subjectAlternativeNames)

        let path = try directory.write("bad-time.der", der)
        let (status, object, stderr) = try Self.json(path)
        #expect(status == 0)
        #expect(object["notAfter"] as? String == "raw:2801011200XXZ")
        #expect(stderr == ["ossl x509: \(path): certificate 1: notAfter: read notAfter: '2801011200XXZ' is not a valid UTCTime"])
        try Self.expectUnchanged(object, except: ["notAfter"])
        let summary = try OsslTool.run(["x509", path])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains(" to raw:2801011200XXZ\n"), "\(summary.stdout)")
    }

    @Test(
        "G03 inner and outer signature algorithms that differ: signatureAlgorithm is the inner one, outerSignatureAlgorithm says so"
    )
    func mismatchedSignatureAlgorithms() throws {
        let (certificate, der) = try Self.edited { certificate in
            certificate.outerSignatureAlgorithm = .constructed(0x30, [DERNode.oid("1.2.840.10045.4.3.3")])  // ecdsa-with-SHA384
        }
        let directory = try TemporaryDirectory()
        let text = try Self.opensslParses(der, directory, name: "two-algorithms.der")
        let printed = text.components(separatedBy: "\n").filter { $0.contains("Signature Algorithm:") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(printed == ["Signature Algorithm: ecdsa-with-SHA256", "Signature Algorithm: ecdsa-with-SHA384"])
        #expect(certificate.signatureAlgorithm == "ecdsa-with-SHA256")
        #expect(certificate.outerSignatureAlgorithm == "ecdsa-with-SHA384")
        #expect(Self.pki.server.outerSignatureAlgorithm == Self.pki.server.signatureAlgorithm)

        let path = try directory.write("two-algorithms.der", der)
        let result = try OsslTool.run(["x509", "--json", path])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        #expect(
            result.stdout.contains(
                """
                "signatureAlgorithm": "ecdsa-with-SHA256",
                    "outerSignatureAlgorithm": "ecdsa-with-SHA384",
                    "publicKey"
                """), "\(result.stdout)")
        let good = try OsslTool.run(["x509", "--json", try directory.write("good.der", try Self.pki.server.der)])
        #expect(!good.stdout.contains("outerSignatureAlgorithm"))
        let summary = try OsslTool.run(["x509", path])
        #expect(summary.stdout.contains("signature:      ecdsa-with-SHA256 (outside the signed part: ecdsa-with-SHA384)"))
    }

    /// A subjectAltName of `names`, each a (tag, contents) pair.
    static func sanValue(_ names: [(UInt8, [UInt8])]) -> [UInt8] {
        DERNode.constructed(0x30, names.map { DERNode.primitive($0.0, $0.1) }).encoded
    }

    @Test("G03 address-and-mask iPAddresses are CIDR; dNSNames in valid UTF-8 read as text, invalid bytes as \\xNN")
    func faithfulAlternativeNames() throws {
        let (certificate, der) = try Self.edited { certificate in
            certificate.setExtensionValue(
                Self.sanOID,
                Self.sanValue([
                    (0x87, [192, 0, 2, 0, 255, 255, 255, 0]),
                    (
                        0x87,
                        [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 12) + [0xff, 0xff, 0xff, 0xff]
                            + [UInt8](repeating: 0, count: 12)
                    ),
                    (0x87, [10, 0, 0, 0, 255, 0, 255, 0]),
                    (0x82, Array("bücher.example".utf8)),
                    (0x82, Array("bad".utf8) + [0xff] + Array(".example".utf8)),
                ]))
        }
        let directory = try TemporaryDirectory()
        _ = try Self.opensslParses(der, directory, name: "names.der")
        let names = try #require(try certificate.subjectAlternativeNames)
        #expect(
            names.map(\.valueString) == [
                "192.0.2.0/24", "2001:db8::/32", "10.0.0.0/255.0.255.0",
                "bücher.example", "bad\\xff.example",
            ])
        let path = try directory.write("names.der", der)
        let (status, object, stderr) = try Self.json(path)
        #expect(status == 0 && stderr.isEmpty)
        #expect(
            object["subjectAltNames"] as? [[String: String]] == [
                ["type": "IP", "value": "192.0.2.0/24"], ["type": "IP", "value": "2001:db8::/32"],
                ["type": "IP", "value": "10.0.0.0/255.0.255.0"], ["type": "DNS", "value": "bücher.example"],
                ["type": "DNS", "value": "bad\\xff.example"],
            ])
    }

    /// One RDN: SET { SEQUENCE { type, value } }.
    static func rdn(_ oid: String, _ value: DERNode) -> DERNode {
        .constructed(0x31, [.constructed(0x30, [DERNode.oid(oid), value])])
    }

    @Test("G03 name attributes: a BIT STRING as hex:DER, UTF-8 in an IA5String as text, bytes not valid UTF-8 as \\xNN")
    func faithfulNameValues() throws {
        let (certificate, der) = try Self.edited { certificate in
            certificate[.subject].children += [
                Self.rdn("2.5.4.45", .primitive(0x03, [0x00, 0xab, 0xcd])),  // x500UniqueIdentifier, BIT STRING
                Self.rdn("1.2.840.113549.1.9.1", .primitive(0x16, Array("jörg@example.com".utf8))),  // emailAddress, IA5String
                Self.rdn("2.5.4.11", .primitive(0x16, [0x41, 0xc3, 0x28, 0x42])),  // OU, IA5String, not UTF-8
                Self.rdn("2.5.4.7", .primitive(0x14, Array("Z".utf8) + [0xe9] + Array("rich".utf8))),  // L, T61String, Latin-1
            ]
        }
        let directory = try TemporaryDirectory()
        _ = try Self.opensslParses(der, directory, name: "attributes.der")
        let components = try certificate.subject.components
        #expect(components.count == 5)
        let bits = components[1]
        #expect(!bits.isText && bits.value == nil)
        #expect(bits.valueDER == [0x03, 0x03, 0x00, 0xab, 0xcd])
        #expect(bits.displayValue == "hex:030300abcd")
        #expect(components[2].isText && components[2].displayValue == "jörg@example.com")
        #expect(components[3].displayValue == "A\\xc3(B")
        #expect(components[4].displayValue == "Z\\xe9rich")
        #expect(components[0].displayValue == "localhost" && components[0].valueDER == [0x0c, 0x09] + Array("localhost".utf8))

        let path = try directory.write("attributes.der", der)
        let (status, object, stderr) = try Self.json(path)
        #expect(status == 0 && stderr.isEmpty)
        #expect(
            object["subject"] as? [[String]] == [
                ["CN", "localhost"], ["x500UniqueIdentifier", "hex:030300abcd"],
                ["emailAddress", "jörg@example.com"], ["OU", "A\\xc3(B"], ["L", "Z\\xe9rich"],
            ])
        try Self.expectUnchanged(object, except: ["subject"])
    }

    @Test("G03 a certificate that does not parse at all is left out with one line and exit 1; the others are printed")
    func unparseableCertificateInBundle() throws {
        let good = try Self.pki.server.der
        let truncated = Array(good.dropLast(40))  // valid base64, not a certificate
        func pem(_ der: [UInt8]) -> String {
            let body = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            return "-----BEGIN CERTIFICATE-----\n\(body)\n-----END CERTIFICATE-----\n"
        }
        let directory = try TemporaryDirectory()
        let path = try directory.write("bundle.pem", try Self.pki.server.pem + pem(truncated) + Self.pki.root.pem)
        let result = try OsslTool.run(["x509", "--json", path])
        #expect(result.status == 1)
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(objects.count == 2)
        #expect(objects.last?["subject"] as? [[String]] == [["CN", "Test Root CA"]])
        let lines = OsslTool.lines(result.stderr)
        #expect(
            lines.count == 1
                && lines.first?.hasPrefix("ossl x509: \(path): certificate 2: read certificate 1 of PEM bundle: ") == true,
            "\(lines)")
        let summary = try OsslTool.run(["x509", path])
        #expect(summary.status == 1)
        #expect(summary.stdout.contains("bundle.pem [1/3]") && summary.stdout.contains("bundle.pem [3/3]"))
        #expect(!summary.stdout.contains("bundle.pem [2/3]"))
        // X509.eachCertificate is the library side of it.
        let entries = try X509.eachCertificate(inPEM: Array(try String(contentsOfFile: path, encoding: .utf8).utf8))
        #expect(entries.count == 3)
        #expect((try? entries[0].get()) == Self.pki.server)
        #expect(throws: OpenSSLError.self) { _ = try entries[1].get() }
        #expect((try? entries[2].get()) == Self.pki.root)
    }
}
