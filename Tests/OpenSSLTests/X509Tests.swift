import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Certificates: loading, encodings, every getter compared with `openssl x509`, and bad input.
@Suite("X509")
struct X509Tests {
    static let fixtureNames = ["negative-serial.pem", "ed25519.pem", "nul-byte-san.pem", "utf8-names.pem"]

    /// A few certificates of the system bundle, plus the fixtures.
    static var comparisonFiles: [String] {
        fixtureNames.map(Fixtures.path) + systemBundleSample
    }

    static let systemBundleSample: [String] = {
        let directory = "/etc/ssl/certs"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".pem") }.sorted().prefix(6).map { directory + "/" + $0 }
    }()

    @Test("X01 certificate PEM and DER round-trip", arguments: fixtureNames)
    func pemAndDERRoundTrip(name: String) throws {
        let original = try X509(pem: try Fixtures.bytes(name))
        let der = try original.der
        let fromDER = try X509(der: der)
        #expect(fromDER == original)
        #expect(try fromDER.der == der)
        let pem = try original.pem
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(try X509(pem: pem) == original)
        // The DER matches what openssl writes for the same file.
        let reference = try ExternalTool.openssl(["x509", "-in", Fixtures.path(name), "-outform", "PEM"])
        #expect(pem == reference)
        #expect(try X509(pemOrDER: der) == original)
        #expect(try X509(pemOrDER: Array(pem.utf8)) == original)
        expectErrorQueueEmpty()
    }

    @Test("X04 getters match openssl x509", arguments: comparisonFiles)
    func gettersMatchOpenSSL(path: String) throws {
        let certificate = try X509(pem: try Data(contentsOf: URL(fileURLWithPath: path)))
        let tool = { (args: [String]) in try ExternalTool.openssl(["x509", "-in", path, "-noout"] + args) }

        // Serial: openssl prints uppercase hex with a leading '-' for negative values.
        let serial = try tool(["-serial"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            serial.lowercased() == "serial=" + certificate.serialNumber.hexString.uppercased().lowercased()
                || serial.lowercased() == "serial=0" + certificate.serialNumber.hexString)
        // Names in RFC 2253 form.
        let subject = try tool(["-subject", "-nameopt", "RFC2253,-esc_msb,utf8"]).trimmingCharacters(in: .newlines)
        #expect(subject == "subject=" + (try certificate.subject.rfc2253String))
        let issuer = try tool(["-issuer", "-nameopt", "RFC2253,-esc_msb,utf8"]).trimmingCharacters(in: .newlines)
        #expect(issuer == "issuer=" + (try certificate.issuer.rfc2253String))
        // Validity.
        let dates = try tool(["-dates"]).split(separator: "\n")
        #expect(dates.count == 2)
        #expect(try Self.parseOpenSSLDate(String(dates[0].dropFirst("notBefore=".count))) == certificate.notBefore)
        #expect(try Self.parseOpenSSLDate(String(dates[1].dropFirst("notAfter=".count))) == certificate.notAfter)
        // Fingerprints.
        for (flag, digest) in [("-sha1", MessageDigest.sha1), ("-sha256", .sha256), ("-sha512", .sha512)] {
            let line = try tool(["-fingerprint", flag]).trimmingCharacters(in: .whitespacesAndNewlines)
            let expected = String(line[line.index(after: try #require(line.firstIndex(of: "=")))...])
            #expect(try certificate.fingerprint(digest) == expected)
        }
        // Public key.
        #expect(try tool(["-pubkey"]) == certificate.publicKey.publicKeyPEM())
        // The whole text, which covers version, signature algorithm and every extension.
        let text = try tool(["-text"] + RuntimeOpenSSL.onelineNames)
        #expect(try certificate.text == text)
        #expect(text.contains("Version: \(certificate.version) "))
        #expect(text.contains("Signature Algorithm: \(certificate.signatureAlgorithm)\n"))
        for ext in certificate.extensions {
            let body = ext.text
            #expect(
                text.contains(body.split(separator: "\n").first.map(String.init) ?? body),
                "extension \(ext.oid) text not in openssl's output")
        }
        expectErrorQueueEmpty()
    }

    static func parseOpenSSLDate(_ text: String) throws -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "MMM d HH:mm:ss yyyy zzz"
        let collapsed = text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return try #require(formatter.date(from: collapsed), "cannot parse \(text)")
    }

    @Test("X04 typed extensions of a certificate with every kind of SAN")
    func typedExtensions() throws {
        let certificate = try X509(pem: try Fixtures.bytes("utf8-names.pem"))
        #expect(certificate.version == 3)
        // A 20-byte serial survives whole.
        #expect(certificate.serialNumber.magnitude.count == 20)
        #expect(certificate.serialNumber.hexString == "7fa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3")
        #expect(certificate.serialNumber.int64Value == nil)
        #expect(certificate.signatureAlgorithm == "ecdsa-with-SHA256")

        let sans = try #require(try certificate.subjectAlternativeNames)
        #expect(sans.count == 9)
        #expect(sans[0] == .dnsName("example.com"))
        #expect(sans[1] == .dnsName("*.example.com"))
        #expect(sans[2] == .ipAddress([192, 0, 2, 1]))
        #expect(sans[2].valueString == "192.0.2.1")
        #expect(sans[3].valueString == "2001:db8::1")
        #expect(sans[3] == (try GeneralName.ipAddress("2001:db8::1")))
        #expect(sans[4] == .email("a@example.com"))
        #expect(sans[5] == .uri("https://example.com/x"))
        #expect(sans[6] == .registeredID("1.2.3.4"))
        guard case .directoryName(let dirName) = sans[7] else {
            Issue.record("expected a directory name, got \(sans[7])")
            return
        }
        #expect(dirName.rfc2253String == "CN=Dir Name,O=Dir Org,C=US")
        #expect(sans[7].typeName == "dirName")
        guard case .otherName(let typeID, let value) = sans[8] else {
            Issue.record("expected an otherName, got \(sans[8])")
            return
        }
        #expect(typeID == "1.3.6.1.4.1.311.20.2.3")
        // [0] EXPLICIT is stripped by OpenSSL: the value is the UTF8String itself.
        #expect(value == [0x0c, 15] + Array("upn@example.com".utf8))

        #expect(try certificate.basicConstraints == BasicConstraints(isCA: true, pathLength: 2))
        #expect(try certificate.keyUsage == [.digitalSignature, .keyCertSign, .cRLSign])
        #expect(try certificate.keyUsage?.names == ["Digital Signature", "Certificate Sign", "CRL Sign"])
        let eku = try #require(try certificate.extendedKeyUsage)
        #expect(eku == [.serverAuth, .clientAuth, ExtendedKeyUsage(oid: "1.3.6.1.4.1.99999.1")])
        #expect(eku.map(\.name) == ["TLS Web Server Authentication", "TLS Web Client Authentication", nil])
        #expect(try certificate.crlDistributionPoints?.flatMap(\.urls) == ["http://crl.example.com/root.crl"])
        #expect(try certificate.ocspURLs == ["http://ocsp.example.com"])
        #expect(try certificate.caIssuerURLs == ["http://ca.example.com/root.crt"])
        let ski = try #require(try certificate.subjectKeyIdentifier)
        #expect(ski.count == 20)
        // `openssl req -x509` in 3.0 adds no authorityKeyIdentifier to a self-signed certificate.
        #expect(try certificate.authorityKeyIdentifier == nil)

        let exts = certificate.extensions
        #expect(
            exts.map(\.shortName) == [
                "subjectAltName", "basicConstraints", "keyUsage", "extendedKeyUsage",
                "crlDistributionPoints", "authorityInfoAccess", "subjectKeyIdentifier",
            ])
        #expect(exts.map(\.isCritical) == [false, true, true, false, false, false, false])
        #expect(exts[1].text == "CA:TRUE, pathlen:2")
        #expect(try certificate.issuerAlternativeNames == nil)
        #expect(certificate.isSelfSigned)
        #expect(certificate.matches(host: "www.example.com"))
        #expect(!certificate.matches(host: "a.b.example.com"))
        #expect(certificate.matches(ipAddress: "192.0.2.1"))
        #expect(certificate.matches(ipAddress: "2001:db8:0::1"))
        #expect(!certificate.matches(ipAddress: "192.0.2.2"))
        #expect(certificate.matches(email: "a@example.com"))
        expectErrorQueueEmpty()
    }

    @Test("Negative serial numbers keep their sign")
    func negativeSerial() throws {
        let certificate = try X509(pem: try Fixtures.bytes("negative-serial.pem"))
        #expect(certificate.serialNumber.isNegative)
        #expect(certificate.serialNumber.hexString == "-1234")
        #expect(certificate.serialNumber.int64Value == -0x1234)
        #expect(certificate.serialNumber == BigEndianInteger(-0x1234))
    }

    @Test("X05 a NUL byte inside a subjectAltName is kept")
    func nulByteInSAN() throws {
        let certificate = try X509(pem: try Fixtures.bytes("nul-byte-san.pem"))
        let sans = try #require(try certificate.subjectAlternativeNames)
        #expect(sans == [.dnsName("www.good.com\0www.evil.com"), .dnsName("plain.example")])
        guard case .dnsName(let name) = sans[0] else { return }
        #expect(name.utf8.count == 25)
        #expect(name != "www.good.com")
        // OpenSSL's own matcher refuses the embedded NUL too.
        #expect(!certificate.matches(host: "www.good.com"))
        // The signature of this fixture was broken by the patch; it must still parse and report.
        #expect(!certificate.isSelfSigned)
        expectErrorQueueEmpty()
    }

    @Test("An Ed25519 certificate")
    func ed25519Certificate() throws {
        let certificate = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let key = try certificate.publicKey
        #expect(key.type == .ed25519)
        #expect(key.typeName == "ED25519")
        #expect(key.bits == 256)  // OpenSSL 3.0 reports 256 for Ed25519 (EVP_PKEY_get_bits)
        #expect(!key.hasPrivateKey)
        #expect(certificate.signatureAlgorithm == "ED25519")
        #expect(certificate.isSelfSigned)
        #expect(certificate.isSigned(by: key))
        #expect(try certificate.subject.commonName == "ed25519 test")
    }

    @Test("Validity: expired, valid-at and not-yet-valid")
    func validity() throws {
        let certificate = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let start = try certificate.notBefore
        let end = try certificate.notAfter
        #expect(start < end)
        #expect(!certificate.hasExpired)
        #expect(certificate.isValid())
        #expect(certificate.isValid(at: start))
        #expect(certificate.isValid(at: end))
        #expect(!certificate.isValid(at: start.addingTimeInterval(-1)))
        #expect(!certificate.isValid(at: end.addingTimeInterval(1)))
    }

    @Test("Digests: named, unknown names throw")
    func digests() throws {
        let certificate = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let der = try certificate.der
        for digest in [MessageDigest.sha1, .sha256, .sha384, .sha512, MessageDigest("SHA3-256"), MessageDigest("sha512-256")] {
            #expect(try certificate.digest(digest) == digest.hash(der))
        }
        #expect(try certificate.digest(.sha256).count == 32)
        #expect(try certificate.fingerprint(.sha1).count == 20 * 3 - 1)
        let error = try #require(throws: OpenSSLError.self) { try certificate.digest(MessageDigest("no-such-digest")) }
        #expect(error.operation.contains("no-such-digest"))
        expectErrorQueueEmpty()
    }

    @Test("A PEM bundle: every certificate, junk between blocks, other labels skipped")
    func pemBundle() throws {
        let one = try String(decoding: Fixtures.bytes("ed25519.pem"), as: UTF8.self)
        let two = try String(decoding: Fixtures.bytes("negative-serial.pem"), as: UTF8.self)
        let key = try PKey.generate(.ec(.p256)).privateKeyPEM()
        let bundle = "leading junk\n" + one + "\nsome text between\n" + key + two + "trailing junk\n"
        let certificates = try X509.chain(pem: bundle)
        #expect(certificates.count == 2)
        #expect(try certificates[0].subject.commonName == "ed25519 test")
        #expect(try certificates[1].subject.commonName == "negative serial")

        let system = try X509.chain(pem: try Data(contentsOf: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt")))
        let count = try ExternalTool.run("/usr/bin/grep", ["-c", "BEGIN CERTIFICATE", "/etc/ssl/certs/ca-certificates.crt"])
        #expect(system.count == Int(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        expectErrorQueueEmpty()
    }

    @Test("A PEM bundle with a damaged block names the block")
    func pemBundleWithBrokenBlock() throws {
        let one = try String(decoding: Fixtures.bytes("ed25519.pem"), as: UTF8.self)
        var lines = try String(decoding: Fixtures.bytes("negative-serial.pem"), as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[3] = String(lines[3].reversed().dropFirst(7))  // damage the base64
        let broken = lines.joined(separator: "\n")
        let error = try #require(throws: OpenSSLError.self) { try X509.chain(pem: one + broken) }
        #expect(error.operation.contains("1"), "the error should name block 1: \(error)")
        expectErrorQueueEmpty()

        let noCertificates = try #require(throws: OpenSSLError.self) { try X509.chain(pem: "just text\n") }
        #expect(noCertificates.detail == "no certificate found")
        expectErrorQueueEmpty()
    }

    static let badInputs: [(String, [UInt8])] = [
        ("empty", []),
        ("garbage", Array("this is not a certificate".utf8)),
        ("random bytes", (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }),
        ("PEM header only", Array("-----BEGIN CERTIFICATE-----\n".utf8)),
        ("PEM with bad base64", Array("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".utf8)),
        (
            "PEM of a key",
            Array(
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+hm4CZvkYEDlAcKySnEzSEpjxMqODc8cvXmqmb1Vt3\n-----END PRIVATE KEY-----\n"
                    .utf8)
        ),
    ]

    @Test("X06 bad certificate input throws and leaves the queue empty", arguments: 0..<badInputs.count)
    func badInput(index: Int) throws {
        let (label, bytes) = Self.badInputs[index]
        #expect(throws: OpenSSLError.self, "PEM: \(label)") { try X509(pem: bytes) }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self, "DER: \(label)") { try X509(der: bytes) }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self, "chain: \(label)") { try X509.chain(pem: bytes) }
        expectErrorQueueEmpty()
    }

    @Test("X06 truncated certificates throw at every length", arguments: ["ed25519.pem", "utf8-names.pem"])
    func truncated(name: String) throws {
        let pem = try Fixtures.bytes(name)
        let der = try X509(pem: pem).der
        for length in stride(from: 0, to: der.count, by: 7) {
            #expect(throws: OpenSSLError.self) { try X509(der: Array(der[..<length])) }
        }
        for length in stride(from: 0, to: pem.count - 30, by: 13) {
            #expect(throws: OpenSSLError.self) { try X509(pem: Array(pem[..<length])) }
        }
        // DER with trailing bytes is refused too.
        let trailing = try #require(throws: OpenSSLError.self) { try X509(der: der + [0]) }
        #expect(trailing.detail?.contains("trailing") == true)
        expectErrorQueueEmpty()
    }

    @Test("The errors carry OpenSSL's reason")
    func errorsCarryReasons() throws {
        let error = try #require(throws: OpenSSLError.self) { try X509(pem: "no certificate here") }
        #expect(error.hasReason("no start line"))
        #expect(error.hasReason(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE))
        #expect(error.entries.first?.library == "PEM routines")
        #expect(error.description.contains("no start line"))
        #expect(error.description.hasPrefix("read certificate (PEM): "))
        let garbageDER = try #require(throws: OpenSSLError.self) { try X509(der: [0x30, 0x03, 0x02, 0x01, 0x01]) }
        #expect(!garbageDER.entries.isEmpty)
        #expect(garbageDER.entries.allSatisfy { $0.file != nil && $0.line > 0 })
        expectErrorQueueEmpty()
    }

    @Test("Certificates are equal and hash by DER; usable from many threads")
    func equalityAndSharing() async throws {
        let a = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let b = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let c = try X509(pem: try Fixtures.bytes("negative-serial.pem"))
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
        let fingerprints = await withTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { (try? a.fingerprint()) ?? "" }
            }
            var all: Set<String> = []
            for await value in group { all.insert(value) }
            return all
        }
        #expect(fingerprints == [try a.fingerprint()])
    }
}
