import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Keys generated once for the builder, request and CRL tests (RSA generation is slow).
enum SharedTestKeys {
    static let rsa: Result<PKey, any Error> = Result { try PKey.generate(.rsa(bits: 2048)) }
}

/// One way of signing: key kind, digest, padding, and the signature
/// algorithm name `openssl x509 -text` shows for it.
struct SigningCase: Sendable, CustomTestStringConvertible {
    enum KeyKind: Sendable { case rsa, p256, p384, ed25519, ed448 }
    let keyKind: KeyKind
    let digest: MessageDigest?
    let padding: RSASignaturePadding
    let expectedAlgorithm: String
    var testDescription: String { expectedAlgorithm }

    func makeKey() throws -> PKey {
        switch keyKind {
        case .rsa: return try SharedTestKeys.rsa.get()
        case .p256: return try PKey.generate(.ec(.p256))
        case .p384: return try PKey.generate(.ec(.p384))
        case .ed25519: return try PKey.generate(.ed25519)
        case .ed448: return try PKey.generate(.ed448)
        }
    }

    static let all: [SigningCase] = [
        SigningCase(keyKind: .rsa, digest: .sha256, padding: .pkcs1v15, expectedAlgorithm: "sha256WithRSAEncryption"),
        SigningCase(keyKind: .rsa, digest: .sha384, padding: .pkcs1v15, expectedAlgorithm: "sha384WithRSAEncryption"),
        SigningCase(keyKind: .rsa, digest: .sha512, padding: .pkcs1v15, expectedAlgorithm: "sha512WithRSAEncryption"),
        SigningCase(keyKind: .rsa, digest: .sha256, padding: .pss, expectedAlgorithm: "rsassaPss"),
        SigningCase(keyKind: .p256, digest: .sha256, padding: .pkcs1v15, expectedAlgorithm: "ecdsa-with-SHA256"),
        SigningCase(keyKind: .p384, digest: .sha384, padding: .pkcs1v15, expectedAlgorithm: "ecdsa-with-SHA384"),
        SigningCase(keyKind: .ed25519, digest: nil, padding: .pkcs1v15, expectedAlgorithm: "ED25519"),
        SigningCase(keyKind: .ed448, digest: nil, padding: .pkcs1v15, expectedAlgorithm: "ED448"),
    ]
}

/// A fixed UTC date.
func utcDate(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
    let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    return calendar.date(from: components) ?? Date(timeIntervalSince1970: 0)
}

/// Runs `/usr/bin/openssl arguments…`, bounded in time, whatever its exit status.
func runOpenSSL(_ arguments: [String]) throws -> ExternalTool.Result {
    let result = try ExternalTool.run("/usr/bin/openssl", arguments)
    #expect(!result.timedOut, "openssl \(arguments.joined(separator: " ")) timed out")
    return result
}

extension ExternalTool.Result {
    /// Both streams, stdout first.
    var combined: String { stdout + stderr }
}

/// The first line where two texts differ, for readable failures.
func firstDifference(_ a: String, _ b: String) -> String {
    let left = a.split(separator: "\n", omittingEmptySubsequences: false)
    let right = b.split(separator: "\n", omittingEmptySubsequences: false)
    for index in 0..<max(left.count, right.count) {
        let l = index < left.count ? String(left[index]) : "<end>"
        let r = index < right.count ? String(right[index]) : "<end>"
        if l != r { return "line \(index + 1): '\(l)' vs '\(r)'" }
    }
    return "none"
}

/// Asserts that `body` throws an `OpenSSLError` whose text contains
/// `fragment`, and that OpenSSL's error queue is empty afterwards (I04).
func expectOpenSSLError(
    _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected an error containing '\(fragment)'", sourceLocation: sourceLocation)
    } catch let error as OpenSSLError {
        #expect(
            error.description.lowercased().contains(fragment.lowercased()),
            "\(error.description) should mention '\(fragment)'", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected OpenSSLError, got \(error)", sourceLocation: sourceLocation)
    }
    expectErrorQueueEmpty(sourceLocation: sourceLocation)
}

@Suite("X509Builder")
struct X509BuilderTests {
    // MARK: Fields, and openssl reading them identically

    /// A CA and a leaf carrying every field and extension the builder can set.
    static func richCertificate() throws -> (ca: X509, caKey: PKey, leaf: X509, leafKey: PKey) {
        let caKey = try PKey.generate(.ec(.p256))
        var ca = X509Builder(
            subject: try X509Name([("C", "DE"), ("O", "Builder Test"), ("CN", "Builder CA")]),
            publicKey: caKey, notBefore: utcDate(2020, 1, 2, 3, 4, 5), notAfter: utcDate(2060, 6, 7, 8, 9, 10))
        ca.serialNumber = BigEndianInteger(1)
        try ca.addBasicConstraints(isCA: true, pathLength: 1)
        try ca.addKeyUsage([.keyCertSign, .cRLSign, .digitalSignature])
        ca.addSubjectKeyIdentifier()
        try ca.addNameConstraints(
            permitted: [.dnsName(".example.com"), try .ipNetwork("10.0.0.0/8")],
            excluded: [.dnsName("bad.example.com"), try .ipNetwork("2001:db8::/32")])
        let caCertificate = try ca.sign(with: caKey, digest: .sha256)

        let leafKey = try PKey.generate(.ec(.p256))
        var leaf = X509Builder(
            subject: try X509Name([("CN", "www.example.com"), ("O", "Leaf Org")]),
            publicKey: leafKey, notBefore: utcDate(2021, 2, 3, 4, 5, 6), notAfter: utcDate(2049, 12, 31, 23, 59, 59))
        leaf.serialNumber = BigEndianInteger(magnitude: [0x80] + [UInt8](repeating: 0xab, count: 19))
        try leaf.addSubjectAlternativeNames([
            .dnsName("www.example.com"),
            try .ipAddress("10.1.2.3"),
            try .ipAddress("2001:db8::1"),
            .email("admin@example.com"),
            .uri("https://www.example.com/path"),
            .directoryName(try X509Name([("CN", "Directory Entry"), ("O", "Dir Org")])),
            .registeredID("1.2.3.4.5"),
            // UPN otherName with a UTF8String value.
            .otherName(typeID: "1.3.6.1.4.1.311.20.2.3", value: [0x0c, 0x05] + Array("a@b.c".utf8)),
        ])
        try leaf.addBasicConstraints(isCA: false)
        try leaf.addKeyUsage([.digitalSignature, .keyEncipherment])
        try leaf.addExtendedKeyUsage([.serverAuth, .clientAuth, ExtendedKeyUsage(oid: "1.3.6.1.4.1.99999.1")])
        leaf.addSubjectKeyIdentifier()
        leaf.addAuthorityKeyIdentifier()
        try leaf.addCRLDistributionPoints(urls: ["http://crl.example.com/ca.crl"])
        try leaf.addAuthorityInformationAccess(ocsp: ["http://ocsp.example.com"], caIssuers: ["http://example.com/ca.der"])
        leaf.addExtension(X509Extension(oid: "1.3.6.1.4.1.99999.2", critical: false, value: [0x0c, 0x03] + Array("raw".utf8)))
        let leafCertificate = try leaf.sign(with: caKey, digest: .sha384, issuer: caCertificate)
        return (caCertificate, caKey, leafCertificate, leafKey)
    }

    @Test("X04 a built certificate reads back with every field and extension that was set")
    func fieldsRoundTrip() throws {
        let (ca, caKey, leaf, leafKey) = try Self.richCertificate()
        #expect(leaf.version == 3)
        #expect(leaf.serialNumber.hexString == "80" + String(repeating: "ab", count: 19))
        #expect(try leaf.subject.rfc2253String == "O=Leaf Org,CN=www.example.com")
        #expect(try leaf.issuer == ca.subject)
        #expect(try leaf.notBefore == utcDate(2021, 2, 3, 4, 5, 6))
        #expect(try leaf.notAfter == utcDate(2049, 12, 31, 23, 59, 59))
        #expect(try ca.notAfter == utcDate(2060, 6, 7, 8, 9, 10))  // GeneralizedTime after 2049
        #expect(try leaf.publicKey.isPublicKeyEqual(to: leafKey))
        #expect(leaf.signatureAlgorithm == "ecdsa-with-SHA384")
        #expect(leaf.isSigned(by: caKey))
        #expect(!leaf.isSigned(by: leafKey))

        let sans = try #require(try leaf.subjectAlternativeNames)
        #expect(
            sans.map(\.description) == [
                "DNS:www.example.com", "IP:10.1.2.3", "IP:2001:db8::1", "email:admin@example.com",
                "URI:https://www.example.com/path", "dirName:O=Dir Org,CN=Directory Entry", "registeredID:1.2.3.4.5",
                "otherName:1.3.6.1.4.1.311.20.2.3;0c056140622e63",
            ])
        #expect(try leaf.basicConstraints == BasicConstraints(isCA: false))
        #expect(try leaf.keyUsage == [.digitalSignature, .keyEncipherment])
        #expect(try leaf.extendedKeyUsage == [.serverAuth, .clientAuth, ExtendedKeyUsage(oid: "1.3.6.1.4.1.99999.1")])
        #expect(try leaf.crlDistributionPoints?.flatMap(\.urls) == ["http://crl.example.com/ca.crl"])
        #expect(try leaf.ocspURLs == ["http://ocsp.example.com"])
        #expect(try leaf.caIssuerURLs == ["http://example.com/ca.der"])
        let raw = try #require(leaf.extensions.first { $0.oid == "1.3.6.1.4.1.99999.2" })
        #expect(raw.value == [0x0c, 0x03] + Array("raw".utf8))
        #expect(!raw.isCritical)
        #expect(
            leaf.extensions.map(\.oid) == [
                X509Extension.subjectAlternativeNameOID, X509Extension.basicConstraintsOID, X509Extension.keyUsageOID,
                X509Extension.extendedKeyUsageOID, X509Extension.subjectKeyIdentifierOID,
                X509Extension.authorityKeyIdentifierOID, X509Extension.crlDistributionPointsOID,
                X509Extension.authorityInfoAccessOID, "1.3.6.1.4.1.99999.2",
            ])
        #expect(
            leaf.extensions.filter(\.isCritical).map(\.oid) == [X509Extension.basicConstraintsOID, X509Extension.keyUsageOID])

        #expect(try ca.basicConstraints == BasicConstraints(isCA: true, pathLength: 1))
        #expect(try ca.keyUsage == [.digitalSignature, .keyCertSign, .cRLSign])
        #expect(ca.serialNumber == BigEndianInteger(1))
        #expect(ca.isSelfSigned)
        let constraints = try #require(ca.extensions.first { $0.oid == X509Extension.nameConstraintsOID })
        #expect(constraints.isCritical)
        #expect(constraints.text.contains("DNS:.example.com"))
        #expect(constraints.text.contains("IP:10.0.0.0/255.0.0.0"))
        #expect(constraints.text.contains("DNS:bad.example.com"))
        #expect(constraints.text.contains("IP:2001:DB8:0:0:0:0:0:0/FFFF:FFFF:0:0:0:0:0:0"))
    }

    @Test("X04 openssl x509 -text reads a built certificate exactly as X509.text does, with the values set")
    func opensslReadsBuiltCertificate() throws {
        let (ca, _, leaf, _) = try Self.richCertificate()
        do {
            let directory = try TemporaryDirectory()
            for (name, certificate) in [("leaf.pem", leaf), ("ca.pem", ca)] {
                let path = try directory.write(name, try certificate.pem)
                let result = try runOpenSSL(["x509", "-in", path, "-text", "-noout"] + RuntimeOpenSSL.onelineNames)
                #expect(result.status == 0, "\(result.stderr)")
                let ours = try certificate.text
                #expect(result.stdout == ours, "first difference: \(firstDifference(result.stdout, ours))")
            }
            let path = directory.path("leaf.pem")
            let text = try runOpenSSL(["x509", "-in", path, "-text", "-noout"] + RuntimeOpenSSL.onelineNames).stdout
            for expected in [
                "Version: 3 (0x2)",
                "Serial Number:\n            80:" + Array(repeating: "ab", count: 19).joined(separator: ":"),
                "Signature Algorithm: ecdsa-with-SHA384",
                "Issuer: C = DE, O = Builder Test, CN = Builder CA",
                "Not Before: Feb  3 04:05:06 2021 GMT",
                "Not After : Dec 31 23:59:59 2049 GMT",
                "Subject: CN = www.example.com, O = Leaf Org",
                "X509v3 Subject Alternative Name: \n                DNS:www.example.com, IP Address:10.1.2.3, IP Address:2001:DB8:0:0:0:0:0:1, email:admin@example.com, URI:https://www.example.com/path, DirName:/CN=Directory Entry/O=Dir Org, Registered ID:1.2.3.4.5, "
                    + RuntimeOpenSSL.upnOtherName("a@b.c"),
                "X509v3 Basic Constraints: critical\n                CA:FALSE",
                "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment",
                "X509v3 Extended Key Usage: \n                TLS Web Server Authentication, TLS Web Client Authentication, 1.3.6.1.4.1.99999.1",
                "X509v3 Subject Key Identifier: \n                "
                    + Hex.fingerprint(try #require(try leaf.subjectKeyIdentifier)),
                "X509v3 Authority Key Identifier: \n                "
                    + Hex.fingerprint(try #require(try ca.subjectKeyIdentifier)),
                "X509v3 CRL Distribution Points: \n                Full Name:\n                  URI:http://crl.example.com/ca.crl",
                "Authority Information Access: \n                OCSP - URI:http://ocsp.example.com\n                CA Issuers - URI:http://example.com/ca.der",
                "1.3.6.1.4.1.99999.2: \n                ..raw",
            ] {
                #expect(text.contains(expected), "openssl output lacks: \(expected)")
            }
            let caText = try runOpenSSL(
                [
                    "x509", "-in", directory.path("ca.pem"),
                    "-text", "-noout",
                ] + RuntimeOpenSSL.onelineNames
            ).stdout
            for expected in [
                "Serial Number: 1 (0x1)",
                "Not Before: Jan  2 03:04:05 2020 GMT",
                "Not After : Jun  7 08:09:10 2060 GMT",
                "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:1",
                "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign",
                "X509v3 Name Constraints: critical\n                Permitted:\n                  DNS:.example.com\n                  IP:10.0.0.0/255.0.0.0\n                Excluded:\n                  DNS:bad.example.com\n                  IP:2001:DB8:0:0:0:0:0:0/FFFF:FFFF:0:0:0:0:0:0",
            ] {
                #expect(caText.contains(expected), "openssl output lacks: \(expected)")
            }
        }
    }

    // MARK: Signature algorithms

    @Test("Signs with every algorithm; X509.isSigned(by:) and openssl verify both accept it", arguments: SigningCase.all)
    func signsWith(_ signing: SigningCase) throws {
        let caKey = try signing.makeKey()
        var ca = X509Builder(subject: try X509Name([("CN", "CA \(signing.expectedAlgorithm)")]))
        try ca.addBasicConstraints(isCA: true)
        try ca.addKeyUsage([.keyCertSign, .cRLSign])
        ca.addSubjectKeyIdentifier()
        let caCertificate = try ca.sign(with: caKey, digest: signing.digest, rsaPadding: signing.padding)

        let leafKey = try PKey.generate(.ec(.p256))
        var leaf = X509Builder(subject: try X509Name([("CN", "leaf")]), publicKey: leafKey)
        try leaf.addSubjectAlternativeNames([.dnsName("leaf.example")])
        leaf.addAuthorityKeyIdentifier()
        let leafCertificate = try leaf.sign(
            with: caKey, digest: signing.digest, rsaPadding: signing.padding,
            issuer: caCertificate)

        for certificate in [caCertificate, leafCertificate] {
            #expect(certificate.signatureAlgorithm == signing.expectedAlgorithm)
            #expect(certificate.isSigned(by: caKey))
            #expect(certificate.isSigned(by: try caKey.publicKey()))
            #expect(!certificate.isSigned(by: leafKey))
        }
        #expect(caCertificate.isSelfSigned)
        #expect(!leafCertificate.isSelfSigned)
        if signing.padding == .pss {
            #expect(try leafCertificate.text.contains("Mask Algorithm: mgf1 with sha256"))
            #expect(try leafCertificate.text.contains("Salt Length: 0x20"))
        }

        do {
            let directory = try TemporaryDirectory()
            let caPath = try directory.write("ca.pem", try caCertificate.pem)
            let leafPath = try directory.write("leaf.pem", try leafCertificate.pem)
            let result = try runOpenSSL(["verify", "-CAfile", caPath, leafPath])
            #expect(result.status == 0, "\(result.combined)")
            #expect(result.stdout == "\(leafPath): OK\n")
        }
    }

    @Test("A certificate signed by another key fails openssl verify (the verify check can fail)")
    func opensslVerifyRejectsWrongSigner() throws {
        let caKey = try PKey.generate(.ec(.p256))
        var ca = X509Builder(subject: try X509Name([("CN", "Real CA")]))
        try ca.addBasicConstraints(isCA: true)
        let caCertificate = try ca.sign(with: caKey)
        // Same issuer name, but signed by a stranger's key.
        let strangerKey = try PKey.generate(.ec(.p256))
        var leaf = X509Builder(subject: try X509Name([("CN", "leaf")]), publicKey: try PKey.generate(.ec(.p256)))
        leaf.issuer = try caCertificate.subject
        let forged = try leaf.sign(with: strangerKey)
        #expect(!forged.isSigned(by: caKey))
        do {
            let directory = try TemporaryDirectory()
            let caPath = try directory.write("ca.pem", try caCertificate.pem)
            let leafPath = try directory.write("leaf.pem", try forged.pem)
            let result = try runOpenSSL(["verify", "-CAfile", caPath, leafPath])
            #expect(result.status != 0)
            #expect(result.combined.contains("certificate signature failure"))
        }
    }

    // MARK: Defaults

    @Test("Defaults: self-signed issuer is the subject, random positive 128-bit serials, a year of validity, version 3")
    func defaults() throws {
        let key = try PKey.generate(.ed25519)
        let start = utcDate(2030, 1, 1)
        let builder = X509Builder(subject: try X509Name([("CN", "Defaults")]), notBefore: start)
        let first = try builder.sign(with: key)
        let second = try builder.sign(with: key)
        #expect(first.version == 3)
        #expect(try first.issuer == first.subject)
        #expect(try first.publicKey.isPublicKeyEqual(to: key))
        #expect(first.serialNumber.magnitude.count == 16)
        #expect(!first.serialNumber.isNegative)
        #expect(first.serialNumber != second.serialNumber)
        #expect(try first.notBefore == start)
        #expect(try first.notAfter == start.addingTimeInterval(365 * 86_400))
        #expect(first.extensions.isEmpty)
        #expect(first.signatureAlgorithm == "ED25519")

        var empty = X509Builder()
        empty.version = 1
        let v1 = try empty.sign(with: key)
        #expect(v1.version == 1)
        #expect(try v1.subject.components.isEmpty)
    }

    @Test("Issuer name comes from the issuer certificate unless set; an explicit issuer name wins")
    func issuerName() throws {
        let pki = TestPKI.shared
        let key = try PKey.generate(.ec(.p256))
        var builder = X509Builder(subject: try X509Name([("CN", "x")]), publicKey: key)
        let fromCertificate = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        #expect(try fromCertificate.issuer == pki.intermediate.subject)
        builder.issuer = try X509Name([("CN", "Someone Else")])
        let explicit = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        #expect(try explicit.issuer.commonName == "Someone Else")
    }

    @Test("Serial numbers of any length round-trip: 1 byte, high bit set, 20 bytes, zero, negative")
    func serialNumbers() throws {
        let key = try PKey.generate(.ec(.p256))
        let serials = [
            BigEndianInteger(1), BigEndianInteger(0x80), BigEndianInteger(magnitude: [UInt8](repeating: 0x7f, count: 20)),
            BigEndianInteger(magnitude: [UInt8](1...40)), BigEndianInteger(0), BigEndianInteger(-129),
        ]
        for serial in serials {
            var builder = X509Builder(subject: try X509Name([("CN", "serial")]))
            builder.serialNumber = serial
            let certificate = try builder.sign(with: key)
            #expect(certificate.serialNumber == serial)
        }
    }

    // MARK: Key identifiers

    @Test("subjectKeyIdentifier is SHA-1 of the public key bits (as OpenSSL's X509_pubkey_digest); AKI is the issuer's SKI")
    func keyIdentifiers() throws {
        let pki = TestPKI.shared
        for certificate in [pki.root, pki.intermediate, pki.server, pki.ed25519Server, pki.rsaServer] {
            var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length: UInt32 = 0
            let ok = certificate.withUnsafeOpenSSLPointer { X509_pubkey_digest($0, EVP_sha1(), &digest, &length) }
            #expect(ok == 1)
            let ski = try #require(try certificate.subjectKeyIdentifier)
            #expect(ski == Array(digest[..<Int(length)]))
            #expect(ski.count == 20)
        }
        #expect(try pki.server.authorityKeyIdentifier?.keyIdentifier == pki.intermediate.subjectKeyIdentifier)
        #expect(try pki.intermediate.authorityKeyIdentifier?.keyIdentifier == pki.root.subjectKeyIdentifier)
        #expect(try pki.root.authorityKeyIdentifier?.keyIdentifier == pki.root.subjectKeyIdentifier)
        #expect(try pki.server.authorityKeyIdentifier?.issuer == nil)
    }

    @Test("authorityKeyIdentifier: issuer name and serial on request; the key hash when the issuer has no SKI")
    func authorityKeyIdentifierVariants() throws {
        let caKey = try PKey.generate(.ec(.p256))
        var ca = X509Builder(subject: try X509Name([("CN", "No SKI CA")]))
        ca.serialNumber = BigEndianInteger(4242)
        try ca.addBasicConstraints(isCA: true)
        let caCertificate = try ca.sign(with: caKey)
        #expect(try caCertificate.subjectKeyIdentifier == nil)

        var leaf = X509Builder(subject: try X509Name([("CN", "leaf")]), publicKey: try PKey.generate(.ec(.p256)))
        leaf.addAuthorityKeyIdentifier(includeIssuerNameAndSerial: true)
        let certificate = try leaf.sign(with: caKey, issuer: caCertificate)
        let aki = try #require(try certificate.authorityKeyIdentifier)
        #expect(aki.keyIdentifier == (try X509Extension.keyIdentifier(of: caKey)))
        #expect(aki.serialNumber == BigEndianInteger(4242))
        #expect(aki.issuer == [.directoryName(try caCertificate.issuer)])
        #expect(try certificate.text.contains("DirName:/CN=No SKI CA\n                serial:10:92"))

        var selfSigned = X509Builder(subject: try X509Name([("CN", "self")]))
        selfSigned.serialNumber = BigEndianInteger(7)
        selfSigned.addAuthorityKeyIdentifier(includeIssuerNameAndSerial: true)
        let own = try selfSigned.sign(with: caKey)
        #expect(try own.authorityKeyIdentifier?.serialNumber == BigEndianInteger(7))
        #expect(try own.authorityKeyIdentifier?.issuer == [.directoryName(try own.subject)])
    }

    // MARK: Names

    @Test("X05 a subjectAltName with an embedded NUL is written and read back intact, never truncated")
    func nulInSubjectAltName() throws {
        let key = try PKey.generate(.ec(.p256))
        var builder = X509Builder(subject: try X509Name([("CN", "nul")]))
        try builder.addSubjectAlternativeNames([.dnsName("good.example\u{0}.evil.example"), .email("a\u{0}b@example.com")])
        let certificate = try builder.sign(with: key)
        let sans = try #require(try certificate.subjectAlternativeNames)
        #expect(sans == [.dnsName("good.example\u{0}.evil.example"), .email("a\u{0}b@example.com")])
        #expect(!certificate.matches(host: "good.example"))
        let ext = try #require(certificate.extensions.first { $0.oid == X509Extension.subjectAlternativeNameOID })
        #expect(ext.value.contains(0))
        // Reading back from DER alone, with no state from the builder.
        let reread = try X509(der: try certificate.der)
        #expect(try reread.subjectAlternativeNames == sans)
    }

    @Test("x400Address and ediPartyName general names pass through as DER")
    func opaqueGeneralNames() throws {
        let key = try PKey.generate(.ec(.p256))
        let x400: [UInt8] = [0xa3, 0x00]
        let edi: [UInt8] = [0xa5, 0x05, 0xa1, 0x03, 0x0c, 0x01, 0x78]
        var builder = X509Builder(subject: try X509Name([("CN", "opaque")]))
        try builder.addSubjectAlternativeNames([.x400Address(der: x400), .ediPartyName(der: edi)])
        let certificate = try builder.sign(with: key)
        #expect(try certificate.subjectAlternativeNames == [.x400Address(der: x400), .ediPartyName(der: edi)])
    }

    @Test("Name constraints built here are enforced by openssl verify")
    func nameConstraintsEnforced() throws {
        let caKey = try PKey.generate(.ec(.p256))
        var ca = X509Builder(subject: try X509Name([("CN", "Constrained CA")]))
        try ca.addBasicConstraints(isCA: true)
        try ca.addKeyUsage([.keyCertSign])
        try ca.addNameConstraints(permitted: [.dnsName("example.com")], excluded: [.dnsName("bad.example.com")])
        let caCertificate = try ca.sign(with: caKey)
        func leaf(_ host: String) throws -> X509 {
            var builder = X509Builder(subject: try X509Name([("CN", host)]), publicKey: try PKey.generate(.ec(.p256)))
            try builder.addSubjectAlternativeNames([.dnsName(host)])
            return try builder.sign(with: caKey, issuer: caCertificate)
        }
        do {
            let directory = try TemporaryDirectory()
            let caPath = try directory.write("ca.pem", try caCertificate.pem)
            for (host, allowed) in [("www.example.com", true), ("www.other.org", false), ("x.bad.example.com", false)] {
                let path = try directory.write("\(host).pem", try leaf(host).pem)
                let result = try runOpenSSL(["verify", "-CAfile", caPath, path])
                #expect((result.status == 0) == allowed, "\(host): \(result.combined)")
                if !allowed {
                    #expect(
                        result.combined.contains(
                            host.hasSuffix("other.org")
                                ? "permitted subtree violation"
                                : "excluded subtree violation"))
                }
            }
        }
    }

    @Test("Extension factories encode exactly what OpenSSL's own config encoder (X509V3_EXT_nconf) does")
    func factoriesMatchOpenSSLConfigEncoding() throws {
        // OpenSSL's own encoder, through X509V3_EXT_nconf, as a reference.
        func reference(_ name: String, _ value: String) throws -> [UInt8] {
            let ext = try #require(X509V3_EXT_nconf(nil, nil, name, value))
            defer { X509_EXTENSION_free(ext) }
            ERR_clear_error()
            return X509Extension(ext).value
        }
        #expect(
            try X509Extension.basicConstraints(BasicConstraints(isCA: true, pathLength: 3)).value
                == reference("basicConstraints", "critical,CA:TRUE,pathlen:3"))
        #expect(
            try X509Extension.basicConstraints(BasicConstraints(isCA: false)).value
                == reference("basicConstraints", "CA:FALSE"))
        #expect(
            try X509Extension.keyUsage([.digitalSignature, .keyEncipherment]).value
                == reference("keyUsage", "digitalSignature,keyEncipherment"))
        #expect(try X509Extension.keyUsage([.decipherOnly]).value == reference("keyUsage", "decipherOnly"))
        #expect(try X509Extension.keyUsage([.cRLSign, .keyCertSign]).value == reference("keyUsage", "keyCertSign,cRLSign"))
        #expect(
            try X509Extension.extendedKeyUsage([.serverAuth, .ocspSigning]).value
                == reference("extendedKeyUsage", "serverAuth,OCSPSigning"))
        #expect(
            try X509Extension.subjectAlternativeName([
                .dnsName("a.example"), try .ipAddress("192.0.2.1"), .email("x@y.z"), .uri("http://u"), .registeredID("1.2.3"),
            ]).value == reference("subjectAltName", "DNS:a.example,IP:192.0.2.1,email:x@y.z,URI:http://u,RID:1.2.3"))
        #expect(
            try X509Extension.nameConstraints(
                permitted: [.dnsName("example.com"), try .ipNetwork("192.168.0.0/16")],
                excluded: [.email("bad@example.com")]
            ).value
                == reference(
                    "nameConstraints",
                    "permitted;DNS:example.com,permitted;IP:192.168.0.0/255.255.0.0,excluded;email:bad@example.com"))
        #expect(
            try X509Extension.crlDistributionPoints([CRLDistributionPoint(fullName: [.uri("http://c/1.crl")])]).value
                == reference("crlDistributionPoints", "URI:http://c/1.crl"))
        #expect(
            try X509Extension.authorityInfoAccess([.ocsp("http://o"), .caIssuers("http://i")]).value
                == reference("authorityInfoAccess", "OCSP;URI:http://o,caIssuers;URI:http://i"))
        #expect(ERR_peek_error() == 0)
    }

    @Test("cRLDistributionPoints with reasons, a CRL issuer and a relative name read back")
    func distributionPointVariants() throws {
        let relative = try X509Name([("CN", "CRL Part 1")])
        let ext = try X509Extension.crlDistributionPoints([
            CRLDistributionPoint(
                fullName: [.uri("http://a/1.crl"), .uri("ldap://b/x")], reasonBits: [1, 2],
                crlIssuer: [.directoryName(try X509Name([("CN", "CRL Issuer")]))]),
            CRLDistributionPoint(fullName: [], relativeName: relative),
        ])
        let points = try ext.crlDistributionPoints()
        #expect(points.count == 2)
        #expect(points[0].urls == ["http://a/1.crl", "ldap://b/x"])
        #expect(points[0].reasonBits == [1, 2])
        #expect(points[0].crlIssuer == [.directoryName(try X509Name([("CN", "CRL Issuer")]))])
        #expect(points[1].relativeName == relative)
        #expect(ext.text.contains("Key Compromise, CA Compromise"))
    }

    // MARK: Errors

    @Test("I04 bad signing combinations throw with a clear reason and leave the error queue empty")
    func signingErrors() throws {
        let ecKey = try PKey.generate(.ec(.p256))
        let edKey = try PKey.generate(.ed25519)
        let ed448Key = try PKey.generate(.ed448)
        let builder = X509Builder(subject: try X509Name([("CN", "errors")]))

        expectOpenSSLError("public key") { _ = try builder.sign(with: try ecKey.publicKey()) }
        expectOpenSSLError("unknown digest 'NOPE-256'") { _ = try builder.sign(with: ecKey, digest: MessageDigest("NOPE-256")) }
        expectOpenSSLError("signs without a separate digest") { _ = try builder.sign(with: edKey, digest: .sha256) }
        expectOpenSSLError("signs without a separate digest") { _ = try builder.sign(with: ed448Key, digest: .sha512) }
        expectOpenSSLError("PSS padding needs an RSA key") { _ = try builder.sign(with: ecKey, rsaPadding: .pss) }

        var backwards = builder
        backwards.notBefore = utcDate(2030, 1, 1)
        backwards.notAfter = utcDate(2029, 12, 31)
        expectOpenSSLError("notAfter") { _ = try backwards.sign(with: ecKey) }

        var badVersion = builder
        badVersion.version = 4
        expectOpenSSLError("version 4") { _ = try badVersion.sign(with: ecKey) }
        var v1WithExtensions = builder
        v1WithExtensions.version = 1
        try v1WithExtensions.addBasicConstraints(isCA: false)
        expectOpenSSLError("need a version 3") { _ = try v1WithExtensions.sign(with: ecKey) }

        var twice = builder
        twice.addSubjectKeyIdentifier()
        twice.addSubjectKeyIdentifier()
        expectOpenSSLError("more than once") { _ = try twice.sign(with: ecKey) }

        let pki = TestPKI.shared
        var leaf = builder
        leaf.publicKey = try PKey.generate(.ec(.p256))
        expectOpenSSLError("does not belong to the issuer") { _ = try leaf.sign(with: ecKey, issuer: pki.intermediate) }
        expectOpenSSLError("no publicKey") { _ = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate) }

        var farFuture = builder
        farFuture.notAfter = utcDate(10000, 1, 1)
        expectOpenSSLError("cannot be written") { _ = try farFuture.sign(with: ecKey) }

        // The builder still works after all of that.
        #expect(try builder.sign(with: ecKey).isSigned(by: ecKey))
    }

    @Test("I04 extension values that cannot be encoded throw with a clear reason")
    func extensionErrors() throws {
        var builder = X509Builder()
        expectOpenSSLError("at least one name") { try builder.addSubjectAlternativeNames([]) }
        expectOpenSSLError("not ASCII") { try builder.addSubjectAlternativeNames([.dnsName("bücher.example")]) }
        expectOpenSSLError("not ASCII") { try builder.addSubjectAlternativeNames([.uri("http://ü")]) }
        expectOpenSSLError("5 bytes") { try builder.addSubjectAlternativeNames([.ipAddress([1, 2, 3, 4, 5])]) }
        expectOpenSSLError("object identifier 'not-an-oid'") {
            try builder.addSubjectAlternativeNames([.registeredID("not-an-oid")])
        }
        expectOpenSSLError("not one DER element") {
            try builder.addSubjectAlternativeNames([.otherName(typeID: "1.2.3", value: [0x0c, 0x09, 0x41])])
        }
        expectOpenSSLError("not one DER element") { try builder.addSubjectAlternativeNames([.x400Address(der: [])]) }
        expectOpenSSLError("OpenSSL cannot parse") {
            // A well-formed TLV that is not a valid GeneralName choice ([9]).
            try builder.addSubjectAlternativeNames([.ediPartyName(der: [0x89, 0x01, 0x00])])
        }
        expectOpenSSLError("only allowed with CA:TRUE") { try builder.addBasicConstraints(isCA: false, pathLength: 0) }
        expectOpenSSLError("negative") { try builder.addBasicConstraints(isCA: true, pathLength: -1) }
        expectOpenSSLError("at least one usage bit") { try builder.addKeyUsage([]) }
        expectOpenSSLError("at least one purpose") { try builder.addExtendedKeyUsage([]) }
        expectOpenSSLError("object identifier") { try builder.addExtendedKeyUsage([ExtendedKeyUsage(oid: "bogus")]) }
        expectOpenSSLError("no permitted or excluded") { try builder.addNameConstraints(permitted: []) }
        expectOpenSSLError("no distribution point") { try builder.addCRLDistributionPoints(urls: []) }
        expectOpenSSLError("either a full name or a relative name") {
            try builder.addCRLDistributionPoints([
                CRLDistributionPoint(
                    fullName: [.uri("http://x")],
                    relativeName: try X509Name([("CN", "x")]))
            ])
        }
        expectOpenSSLError("exactly one RDN") {
            try builder.addCRLDistributionPoints([
                CRLDistributionPoint(
                    fullName: [],
                    relativeName: try X509Name([("CN", "x"), ("O", "y")]))
            ])
        }
        expectOpenSSLError("no access description") { try builder.addAuthorityInformationAccess([]) }
        expectOpenSSLError("not ADDRESS/PREFIX") { _ = try GeneralName.ipNetwork("10.0.0.0/33") }
        expectOpenSSLError("not ADDRESS/PREFIX") { _ = try GeneralName.ipNetwork("10.0.0.0") }
        expectOpenSSLError("issuer name and serial number go together") {
            _ = try X509Extension.authorityKeyIdentifier(AuthorityKeyIdentifier(keyIdentifier: [1], issuer: [.dnsName("x")]))
        }
        expectOpenSSLError("nothing to identify") {
            _ = try X509Extension.authorityKeyIdentifier(AuthorityKeyIdentifier(keyIdentifier: nil))
        }
        expectOpenSSLError("identifier is empty") { _ = try X509Extension.subjectKeyIdentifier([]) }
        expectOpenSSLError("negative") { _ = try X509Extension.crlNumber(BigEndianInteger(-1)) }
        #expect(builder.extensionOIDs.isEmpty)
    }

    @Test("GeneralName.ipNetwork makes address+mask pairs")
    func ipNetworks() throws {
        #expect(try GeneralName.ipNetwork("10.0.0.0/8") == .ipAddress([10, 0, 0, 0, 255, 0, 0, 0]))
        #expect(try GeneralName.ipNetwork("192.168.1.0/23") == .ipAddress([192, 168, 1, 0, 255, 255, 254, 0]))
        #expect(try GeneralName.ipNetwork("0.0.0.0/0") == .ipAddress([0, 0, 0, 0, 0, 0, 0, 0]))
        let v6 = try GeneralName.ipNetwork("2001:db8::/33")
        guard case .ipAddress(let bytes) = v6 else {
            Issue.record("not an IP")
            return
        }
        #expect(bytes.count == 32)
        #expect(Array(bytes[16...]) == [255, 255, 255, 255, 0x80] + [UInt8](repeating: 0, count: 11))
    }

    @Test("DER integers: minimal two's complement for positive, negative and zero")
    func derIntegers() {
        #expect(DER.integer(BigEndianInteger(0)) == [0x02, 0x01, 0x00])
        #expect(DER.integer(BigEndianInteger(127)) == [0x02, 0x01, 0x7f])
        #expect(DER.integer(BigEndianInteger(128)) == [0x02, 0x02, 0x00, 0x80])
        #expect(DER.integer(BigEndianInteger(-1)) == [0x02, 0x01, 0xff])
        #expect(DER.integer(BigEndianInteger(-128)) == [0x02, 0x01, 0x80])
        #expect(DER.integer(BigEndianInteger(-129)) == [0x02, 0x02, 0xff, 0x7f])
        #expect(DER.integer(BigEndianInteger(-256)) == [0x02, 0x02, 0xff, 0x00])
        #expect(DER.length(200) == [0x81, 200])
        #expect(DER.length(0x1234) == [0x82, 0x12, 0x34])
    }
}

@Suite("TestPKI")
struct TestPKIBuilderTests {
    @Test("The shared PKI builds, with the documented names, extensions and chains")
    func sharedPKI() throws {
        let pki = TestPKI.shared
        #expect(pki.buildFailure == nil)
        #expect(try pki.root.subject.commonName == "Test Root CA")
        #expect(pki.root.isSelfSigned)
        #expect(try pki.root.basicConstraints == BasicConstraints(isCA: true))
        #expect(try pki.root.keyUsage == [.keyCertSign, .cRLSign])
        #expect(try pki.intermediate.subject.commonName == "Test Intermediate CA")
        #expect(try pki.intermediate.basicConstraints == BasicConstraints(isCA: true, pathLength: 0))
        #expect(pki.intermediate.isSigned(by: pki.rootKey))
        #expect(try pki.server.subject.commonName == "localhost")
        #expect(
            try pki.server.subjectAlternativeNames == [.dnsName("localhost"), try .ipAddress("127.0.0.1"), try .ipAddress("::1")])
        #expect(try pki.server.extendedKeyUsage == [.serverAuth])
        #expect(pki.server.isSigned(by: pki.intermediateKey))
        #expect(
            pki.server.matches(host: "localhost") && pki.server.matches(ipAddress: "127.0.0.1")
                && pki.server.matches(ipAddress: "::1"))
        #expect(try pki.client.subject.commonName == "Test Client")
        #expect(try pki.client.extendedKeyUsage == [.clientAuth])
        #expect(try pki.expired.notAfter < Date().addingTimeInterval(-29 * 86_400))
        #expect(pki.expired.hasExpired)
        #expect(try pki.notYetValid.notBefore > Date().addingTimeInterval(29 * 86_400))
        #expect(!pki.notYetValid.isValid())
        #expect(try pki.wrongHost.subjectAlternativeNames == [.dnsName("wrong.example")])
        #expect(!pki.wrongHost.matches(host: "localhost"))
        #expect(try pki.selfSignedClient.subject.commonName == "Self-Signed Client")
        #expect(pki.selfSignedClient.isSelfSigned)
        #expect(try pki.selfSignedClient.basicConstraints == BasicConstraints(isCA: false))
        #expect(try pki.selfSignedClient.extendedKeyUsage == [.clientAuth])
        #expect(pki.ed25519Root.signatureAlgorithm == "ED25519")
        #expect(pki.ed25519Server.isSigned(by: pki.ed25519RootKey))
        #expect(pki.ed25519ServerKey.type == .ed25519)
        #expect(try pki.ed25519Server.subjectAlternativeNames == [.dnsName("localhost"), try .ipAddress("127.0.0.1")])
        #expect(pki.rsaServerKey.type == .rsa && pki.rsaServerKey.bits == 2048)
        #expect(try pki.rsaServer.subjectAlternativeNames == pki.server.subjectAlternativeNames)
        #expect(pki.secondIntermediate.isSigned(by: pki.intermediateKey))
        #expect(try pki.secondIntermediate.basicConstraints?.isCA == true)
        #expect(pki.pathLengthViolatingLeaf.isSigned(by: pki.secondIntermediateKey))
        let pairs: [(PKey, X509)] = [
            (pki.rootKey, pki.root), (pki.intermediateKey, pki.intermediate), (pki.serverKey, pki.server),
            (pki.clientKey, pki.client), (pki.expiredKey, pki.expired), (pki.notYetValidKey, pki.notYetValid),
            (pki.wrongHostKey, pki.wrongHost), (pki.selfSignedClientKey, pki.selfSignedClient),
            (pki.ed25519RootKey, pki.ed25519Root), (pki.ed25519ServerKey, pki.ed25519Server),
            (pki.rsaServerKey, pki.rsaServer), (pki.secondIntermediateKey, pki.secondIntermediate),
            (pki.pathLengthViolatingLeafKey, pki.pathLengthViolatingLeaf),
        ]
        for (key, certificate) in pairs {
            #expect(key.hasPrivateKey)
            try certificate.checkPrivateKey(key)
        }
        #expect(Set(pairs.map { $0.1.serialNumber }).count == pairs.count)
    }

    @Test("openssl verify agrees with what each TestPKI certificate is for")
    func opensslVerifiesPKI() throws {
        do {
            let directory = try TemporaryDirectory()
            try TestPKI.shared.writePEMFiles(to: directory.url)
            func verify(_ arguments: [String]) throws -> ExternalTool.Result {
                try runOpenSSL(
                    ["verify"]
                        + arguments.map {
                            $0.hasSuffix(".pem") ? directory.path($0) : $0
                        })
            }
            let root = ["-CAfile", "root.pem", "-untrusted", "intermediate.pem"]
            for leaf in ["server.pem", "client.pem", "rsa-server.pem", "wrong-host.pem", "chain.pem"] {
                let result = try verify(root + [leaf])
                #expect(result.status == 0, "\(leaf): \(result.combined)")
            }
            #expect(try verify(["-CAfile", "root.pem", "-untrusted", "chain.pem", "server.pem"]).status == 0)
            #expect(try verify(["-CAfile", "ed25519-root.pem", "ed25519-server.pem"]).status == 0)
            #expect(try verify(root + ["-purpose", "sslserver", "server.pem"]).status == 0)
            #expect(try verify(root + ["-purpose", "sslclient", "client.pem"]).status == 0)
            let wrongPurpose = try verify(root + ["-purpose", "sslserver", "client.pem"])
            #expect(wrongPurpose.combined.contains("unsuitable certificate purpose"), "\(wrongPurpose.combined)")
            #expect(try verify(root + ["expired.pem"]).combined.contains("certificate has expired"))
            #expect(try verify(root + ["not-yet-valid.pem"]).combined.contains("certificate is not yet valid"))
            #expect(
                try verify(root + ["-verify_hostname", "localhost", "wrong-host.pem"]).combined.contains("hostname mismatch"))
            #expect(try verify(root + ["-verify_hostname", "localhost", "server.pem"]).status == 0)
            #expect(
                try verify([
                    "-CAfile", "root.pem", "-untrusted", "ca-bundle.pem", "-untrusted", "second-intermediate.pem",
                    "path-length-violating-leaf.pem",
                ]).combined.contains("path length constraint exceeded"))
            #expect(
                try verify(["-CAfile", "root.pem", "server.pem"]).combined.contains("unable to get local issuer certificate"))
            #expect(try verify(["-CAfile", "root.pem", "self-signed-client.pem"]).combined.contains("self-signed certificate"))
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.url.path)
            #expect(files.count == 31)
            #expect(try X509.chain(pem: Data(contentsOf: directory.url.appendingPathComponent("fullchain.pem"))).count == 3)
            let key = try PKey(privateKeyPEM: Data(contentsOf: directory.url.appendingPathComponent("server-key.pem")))
            #expect(key.isPublicKeyEqual(to: TestPKI.shared.serverKey))
        }
    }

    @Test("issueLeaf makes leaves with the asked names, dates, usage and key")
    func issueLeaf() throws {
        let pki = TestPKI.shared
        let start = utcDate(2024, 5, 6)
        let end = utcDate(2034, 5, 6)
        let (key, leaf) = try pki.issueLeaf(
            commonName: "adhoc", sans: [.dnsName("adhoc.example")], issuer: pki.intermediate,
            issuerKey: pki.intermediateKey, notBefore: start, notAfter: end)
        #expect(try leaf.subject.commonName == "adhoc")
        #expect(try leaf.subjectAlternativeNames == [.dnsName("adhoc.example")])
        #expect(try leaf.notBefore == start)
        #expect(try leaf.notAfter == end)
        #expect(try leaf.basicConstraints == BasicConstraints(isCA: false))
        #expect(try leaf.extendedKeyUsage == [.serverAuth])
        #expect(try leaf.publicKey.isPublicKeyEqual(to: key))
        #expect(leaf.isSigned(by: pki.intermediateKey))

        let givenKey = try PKey.generate(.ed25519)
        let (sameKey, ca) = try pki.issueLeaf(
            commonName: "sub CA", sans: [], issuer: pki.ed25519Root, issuerKey: pki.ed25519RootKey,
            notBefore: start, notAfter: end, isCA: true, extendedKeyUsage: [], key: givenKey)
        #expect(sameKey === givenKey)
        #expect(try ca.basicConstraints == BasicConstraints(isCA: true))
        #expect(try ca.keyUsage == [.digitalSignature, .keyCertSign, .cRLSign])
        #expect(try ca.extendedKeyUsage == nil)
        #expect(try ca.subjectAlternativeNames == nil)
        #expect(ca.signatureAlgorithm == "ED25519")
    }
}
