import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// A serial as `openssl crl -text` prints it: whole bytes, uppercase hex.
private func opensslSerial(_ serial: BigEndianInteger) -> String {
    Hex.encode(serial.magnitude).uppercased()
}

@Suite("CRL")
struct CRLTests {
    static let lastUpdate = utcDate(2024, 3, 4, 5, 6, 7)
    static let nextUpdate = utcDate(2024, 3, 11, 5, 6, 7)
    static let longSerial = BigEndianInteger(magnitude: [0x7f] + [UInt8](repeating: 0x11, count: 19))

    /// A CRL from the test intermediate: the server revoked for key
    /// compromise, a 20-byte serial with no reason, the client on hold.
    static func sampleCRL() throws -> CRL {
        let pki = TestPKI.shared
        var builder = CRLBuilder(lastUpdate: lastUpdate, nextUpdate: nextUpdate, crlNumber: BigEndianInteger(4096))
        builder.revoke(pki.server, at: utcDate(2024, 3, 1), reason: .keyCompromise)
        builder.revoke(serialNumber: longSerial, at: utcDate(2024, 2, 1))
        builder.revoke(pki.client, at: utcDate(2024, 1, 1, 12), reason: .certificateHold)
        return try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
    }

    @Test("A built CRL reads back: issuer, dates, entries (sorted by serial), reasons, number, AKI, signature")
    func buildAndRead() throws {
        let pki = TestPKI.shared
        let crl = try Self.sampleCRL()
        #expect(crl.version == 2)
        #expect(try crl.issuer == pki.intermediate.subject)
        #expect(try crl.lastUpdate == Self.lastUpdate)
        #expect(try crl.nextUpdate == Self.nextUpdate)
        #expect(try crl.crlNumber == BigEndianInteger(4096))
        #expect(try crl.authorityKeyIdentifier?.keyIdentifier == pki.intermediate.subjectKeyIdentifier)
        #expect(crl.extensions.map(\.oid) == [X509Extension.authorityKeyIdentifierOID, X509Extension.crlNumberOID])
        #expect(crl.signatureAlgorithm == "ecdsa-with-SHA256")
        #expect(!crl.signature.isEmpty)
        #expect(crl.isSigned(by: pki.intermediateKey))
        #expect(crl.isSigned(by: try pki.intermediate.publicKey))
        #expect(!crl.isSigned(by: pki.rootKey))

        let entries = try crl.revoked
        let expected: [BigEndianInteger: (Date, Revoked.Reason?)] = [
            pki.server.serialNumber: (utcDate(2024, 3, 1), .keyCompromise),
            Self.longSerial: (utcDate(2024, 2, 1), nil),
            pki.client.serialNumber: (utcDate(2024, 1, 1, 12), .certificateHold),
        ]
        #expect(entries.count == 3)
        for entry in entries {
            let (date, reason) = try #require(expected[entry.serialNumber])
            #expect(entry.revocationDate == date)
            #expect(entry.reason == reason)
            #expect(entry.extensions.count == (reason == nil ? 0 : 1))
        }
        // OpenSSL sorts entries by serial (X509_CRL_sort): compare as DER INTEGER contents.
        let order = entries.map { DER.integerContent($0.serialNumber) }
        #expect(order == order.sorted { $0.count != $1.count ? $0.count < $1.count : $0.lexicographicallyPrecedes($1) })
        #expect(try crl.revocation(of: pki.server)?.reason == .keyCompromise)
        #expect(try crl.revocation(of: Self.longSerial)?.reason == nil)
        #expect(try crl.revocation(of: pki.rsaServer) == nil)
        #expect(crl.description == "CRL(issuer: CN = Test Intermediate CA, revoked: 3)")
    }

    @Test("PEM and DER round-trip byte for byte")
    func encodings() throws {
        let crl = try Self.sampleCRL()
        let pem = try crl.pem
        #expect(pem.hasPrefix("-----BEGIN X509 CRL-----\n"))
        #expect(pem.hasSuffix("-----END X509 CRL-----\n"))
        let der = try crl.der
        #expect(try CRL(pem: pem).der == der)
        #expect(try CRL(pem: Array(pem.utf8)).der == der)
        #expect(try CRL(der: der).der == der)
    }

    @Test("openssl crl -text reads a built CRL as CRL.text does, with the revoked serials and reasons; openssl crl verifies it")
    func opensslReadsBuiltCRL() throws {
        let pki = TestPKI.shared
        let crl = try Self.sampleCRL()
        let directory = try TemporaryDirectory()
        let path = try directory.write("crl.pem", try crl.pem)
        let text = try runOpenSSL(["crl", "-in", path, "-text", "-noout"] + RuntimeOpenSSL.onelineNames)
        #expect(text.status == 0, "\(text.stderr)")
        let ours = try crl.text
        #expect(text.stdout == ours, "first difference: \(firstDifference(text.stdout, ours))")
        for expected in [
            "Version 2 (0x1)",
            "Issuer: CN = Test Intermediate CA",
            "Last Update: Mar  4 05:06:07 2024 GMT",
            "Next Update: Mar 11 05:06:07 2024 GMT",
            "X509v3 CRL Number: \n                4096",
            "Serial Number: \(opensslSerial(pki.server.serialNumber))\n        Revocation Date: Mar  1 00:00:00 2024 GMT\n        CRL entry extensions:\n            X509v3 CRL Reason Code: \n                Key Compromise",
            "Serial Number: \(opensslSerial(Self.longSerial))\n        Revocation Date: Feb  1 00:00:00 2024 GMT\n",
            "Serial Number: \(opensslSerial(pki.client.serialNumber))\n        Revocation Date: Jan  1 12:00:00 2024 GMT\n        CRL entry extensions:\n            X509v3 CRL Reason Code: \n                Certificate Hold",
        ] {
            #expect(text.stdout.contains(expected), "openssl output lacks: \(expected)")
        }
        let serials = text.stdout.matches(of: /Serial Number: ([0-9A-F]+)/).map { String($0.output.1) }
        #expect(
            Set(serials)
                == Set(
                    [pki.server, pki.client].map { opensslSerial($0.serialNumber) }
                        + [opensslSerial(Self.longSerial)]))

        let caPath = try directory.write("intermediate.pem", try pki.intermediate.pem)
        let verify = try runOpenSSL(["crl", "-in", path, "-CAfile", caPath, "-noout"])
        #expect(verify.status == 0)
        #expect(verify.combined.contains("verify OK"))
        let rootPath = try directory.write("root.pem", try pki.root.pem)
        let wrong = try runOpenSSL(["crl", "-in", path, "-CAfile", rootPath, "-noout"])
        #expect(!wrong.combined.contains("verify OK"))
    }

    @Test("openssl verify -crl_check rejects a certificate the built CRL revokes, and accepts one it does not")
    func opensslHonoursRevocation() throws {
        let pki = TestPKI.shared
        var builder = CRLBuilder(lastUpdate: Date().addingTimeInterval(-3600))
        builder.revoke(pki.server, reason: .superseded)
        let crl = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        let directory = try TemporaryDirectory()
        try TestPKI.shared.writePEMFiles(to: directory.url)
        let crlPath = try directory.write("crl.pem", try crl.pem)
        let common = [
            "verify", "-crl_check", "-CAfile", directory.path("root.pem"),
            "-untrusted", directory.path("intermediate.pem"), "-CRLfile", crlPath,
        ]
        let revoked = try runOpenSSL(common + [directory.path("server.pem")])
        #expect(revoked.status != 0)
        #expect(revoked.combined.contains("certificate revoked"))
        let fine = try runOpenSSL(common + [directory.path("client.pem")])
        #expect(fine.status == 0, "\(fine.combined)")
    }

    @Test("A CRL made by openssl ca is read correctly")
    func readsOpenSSLCRL() throws {
        let pki = TestPKI.shared
        let directory = try TemporaryDirectory()
        try pki.writePEMFiles(to: directory.url)
        try directory.write("index.txt", "")
        try directory.write("crlnumber", "1000\n")
        let config = try directory.write(
            "ca.cnf",
            """
            [ca]
            default_ca = CA_default
            [CA_default]
            database = \(directory.path("index.txt"))
            crlnumber = \(directory.path("crlnumber"))
            default_md = sha384
            default_crl_days = 7

            """)
        let ca = [
            "-config", config, "-cert", directory.path("intermediate.pem"), "-keyfile", directory.path("intermediate-key.pem"),
        ]
        let revoke = try runOpenSSL(
            ["ca"] + ca + ["-revoke", directory.path("server.pem"), "-crl_reason", "cessationOfOperation"])
        #expect(revoke.status == 0, "\(revoke.combined)")
        let out = directory.path("tool.crl")
        let generate = try runOpenSSL(["ca"] + ca + ["-gencrl", "-out", out])
        #expect(generate.status == 0, "\(generate.combined)")

        let crl = try CRL(pem: try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(try crl.issuer == pki.intermediate.subject)
        #expect(try crl.crlNumber == BigEndianInteger(0x1000))
        #expect(crl.signatureAlgorithm == "ecdsa-with-SHA384")
        #expect(crl.isSigned(by: pki.intermediateKey))
        let nextUpdate = try #require(try crl.nextUpdate)
        #expect(abs(nextUpdate.timeIntervalSince(try crl.lastUpdate) - 7 * 86_400) < 2)
        let entries = try crl.revoked
        #expect(entries.map(\.serialNumber) == [pki.server.serialNumber])
        #expect(entries.first?.reason == .cessationOfOperation)
    }

    @Test("Every RFC 5280 reason round-trips and prints with OpenSSL's name; no reason reads as nil")
    func reasons() throws {
        let pki = TestPKI.shared
        var builder = CRLBuilder(lastUpdate: Self.lastUpdate)
        for (index, reason) in Revoked.Reason.all.enumerated() {
            builder.revoke(serialNumber: BigEndianInteger(Int64(100 + index)), at: Self.lastUpdate, reason: reason)
        }
        builder.revoke(serialNumber: BigEndianInteger(999), at: Self.lastUpdate)
        let crl = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        let read = Dictionary(uniqueKeysWithValues: try crl.revoked.map { ($0.serialNumber, $0.reason) })
        for (index, reason) in Revoked.Reason.all.enumerated() {
            #expect(read[BigEndianInteger(Int64(100 + index))] == .some(reason))
        }
        #expect(read[BigEndianInteger(999)] == .some(nil))
        #expect(Revoked.Reason.all.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10])
        #expect(
            Revoked.Reason.all.map(\.description) == [
                "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
                "cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "aACompromise",
            ])
        #expect(Revoked.Reason(rawValue: 7).name == nil)
        #expect(Revoked.Reason(rawValue: 7).description == "reason(7)")
        let text = try crl.text
        for name in [
            "Unspecified", "Key Compromise", "CA Compromise", "Affiliation Changed", "Superseded",
            "Cessation Of Operation", "Certificate Hold", "Remove From CRL", "Privilege Withdrawn", "AA Compromise",
        ] {
            #expect(text.contains("X509v3 CRL Reason Code: \n                \(name)\n"), "no \(name)")
        }
    }

    @Test("Without nextUpdate, entries or a CRL number, the CRL says so; extra CRL and entry extensions are kept")
    func minimalAndExtra() throws {
        let pki = TestPKI.shared
        var builder = CRLBuilder(lastUpdate: Self.lastUpdate)
        builder.nextUpdate = nil
        builder.includeAuthorityKeyIdentifier = false
        let empty = try builder.sign(with: pki.ed25519RootKey, issuer: pki.ed25519Root)
        #expect(try empty.nextUpdate == nil)
        #expect(try empty.revoked.isEmpty)
        #expect(try empty.crlNumber == nil)
        #expect(try empty.authorityKeyIdentifier == nil)
        #expect(empty.extensions.isEmpty)
        #expect(empty.signatureAlgorithm == "ED25519")
        #expect(empty.isSigned(by: pki.ed25519RootKey))
        #expect(try empty.text.contains("No Revoked Certificates."))
        #expect(try empty.text.contains("Next Update: NONE"))

        var extra = CRLBuilder(lastUpdate: Self.lastUpdate)
        let invalidity = X509Extension(oid: "2.5.29.24", critical: false, value: Array("\u{18}\u{0f}20240101000000Z".utf8))
        extra.revoked = [
            Revoked(
                serialNumber: BigEndianInteger(5), revocationDate: Self.lastUpdate, reason: .superseded,
                extensions: [invalidity])
        ]
        extra.extensions = [X509Extension(oid: "1.3.6.1.4.1.99999.3", critical: false, value: [0x05, 0x00])]
        let crl = try extra.sign(with: pki.rootKey, issuer: pki.root)
        #expect(crl.extensions.map(\.oid) == [X509Extension.authorityKeyIdentifierOID, "1.3.6.1.4.1.99999.3"])
        let entry = try #require(try crl.revoked.first)
        #expect(entry.reason == .superseded)
        #expect(entry.extensions.map(\.oid) == [X509Extension.reasonCodeOID, "2.5.29.24"])
        #expect(entry.extensions[1] == invalidity)
        #expect(try crl.text.contains("Invalidity Date: \n                Jan  1 00:00:00 2024 GMT"))
    }

    @Test(
        "CRLs sign with RSA (PKCS#1 and PSS), ECDSA and Ed448 issuers, and verify with the issuer key",
        arguments: [
            SigningCase.all[0], SigningCase.all[3], SigningCase.all[5], SigningCase.all[7],
        ])
    func signingAlgorithms(_ signing: SigningCase) throws {
        let key = try signing.makeKey()
        var ca = X509Builder(subject: try X509Name([("CN", "CRL CA \(signing.expectedAlgorithm)")]))
        try ca.addBasicConstraints(isCA: true)
        try ca.addKeyUsage([.cRLSign, .keyCertSign])
        ca.addSubjectKeyIdentifier()
        let caCertificate = try ca.sign(with: key, digest: signing.digest, rsaPadding: signing.padding)
        var builder = CRLBuilder(crlNumber: BigEndianInteger(1))
        builder.revoke(serialNumber: BigEndianInteger(77), reason: .affiliationChanged)
        let crl = try builder.sign(with: key, digest: signing.digest, rsaPadding: signing.padding, issuer: caCertificate)
        #expect(crl.signatureAlgorithm == signing.expectedAlgorithm)
        #expect(crl.isSigned(by: key))
        #expect(!crl.isSigned(by: TestPKI.shared.rootKey))
        let directory = try TemporaryDirectory()
        let verify = try runOpenSSL([
            "crl", "-in", try directory.write("crl.pem", try crl.pem),
            "-CAfile", try directory.write("ca.pem", try caCertificate.pem), "-noout",
        ])
        #expect(verify.combined.contains("verify OK"), "\(verify.combined)")
    }

    @Test("X06 I04 garbage, truncated, empty and wrongly labelled CRLs throw, and leave the queue empty")
    func badInput() throws {
        let crl = try Self.sampleCRL()
        let pem = try crl.pem
        let der = try crl.der
        expectOpenSSLError("no start line") { _ = try CRL(pem: "") }
        expectOpenSSLError("no start line") { _ = try CRL(pem: "garbage, not PEM") }
        expectOpenSSLError("read CRL (PEM)") { _ = try CRL(pem: String(pem.prefix(pem.count / 2))) }
        expectOpenSSLError("read CRL (PEM)") {
            _ = try CRL(pem: "-----BEGIN X509 CRL-----\nAAAA!!!!\n-----END X509 CRL-----\n")
        }
        expectOpenSSLError("no start line") { _ = try CRL(pem: try TestPKI.shared.root.pem) }
        expectOpenSSLError("empty input") { _ = try CRL(der: [UInt8]()) }
        expectOpenSSLError("read CRL (DER)") { _ = try CRL(der: Array(der.prefix(der.count - 7))) }
        expectOpenSSLError("read CRL (DER)") { _ = try CRL(der: [UInt8](repeating: 0x30, count: 40)) }
        expectOpenSSLError("trailing data") { _ = try CRL(der: der + [0x00]) }
        expectOpenSSLError("read CRL (DER)") { _ = try CRL(der: try TestPKI.shared.root.der) }
    }

    @Test("I04 bad CRL builds throw with a clear reason")
    func buildErrors() throws {
        let pki = TestPKI.shared
        let builder = CRLBuilder(lastUpdate: Self.lastUpdate)
        expectOpenSSLError("public key") {
            _ = try builder.sign(with: try pki.intermediateKey.publicKey(), issuer: pki.intermediate)
        }
        expectOpenSSLError("unknown digest 'WHIRLPOOL-9'") {
            _ = try builder.sign(with: pki.intermediateKey, digest: MessageDigest("WHIRLPOOL-9"), issuer: pki.intermediate)
        }
        expectOpenSSLError("signs without a separate digest") {
            _ = try builder.sign(with: pki.ed25519RootKey, digest: .sha256, issuer: pki.ed25519Root)
        }
        expectOpenSSLError("does not belong to the issuer") { _ = try builder.sign(with: pki.rootKey, issuer: pki.intermediate) }
        var backwards = builder
        backwards.nextUpdate = Self.lastUpdate.addingTimeInterval(-1)
        expectOpenSSLError("nextUpdate") { _ = try backwards.sign(with: pki.rootKey, issuer: pki.root) }
        var twice = builder
        twice.revoke(serialNumber: BigEndianInteger(1))
        twice.revoke(serialNumber: BigEndianInteger(1), reason: .superseded)
        expectOpenSSLError("serial 1 is listed twice") { _ = try twice.sign(with: pki.rootKey, issuer: pki.root) }
        var doubleReason = builder
        doubleReason.revoked = [
            Revoked(
                serialNumber: BigEndianInteger(2), revocationDate: Self.lastUpdate, reason: .superseded,
                extensions: [try .reasonCode(.keyCompromise)])
        ]
        expectOpenSSLError("both as `reason` and as an extension") {
            _ = try doubleReason.sign(with: pki.rootKey, issuer: pki.root)
        }
        var duplicate = builder
        duplicate.crlNumber = BigEndianInteger(1)
        duplicate.extensions = [try .crlNumber(BigEndianInteger(2))]
        expectOpenSSLError("added more than once") { _ = try duplicate.sign(with: pki.rootKey, issuer: pki.root) }
        expectOpenSSLError("negative") { _ = try X509Extension.reasonCode(Revoked.Reason(rawValue: -1)) }
        expectOpenSSLError("not a valid CRLReason") {
            _ = try X509Extension(oid: X509Extension.reasonCodeOID, critical: false, value: [0x02, 0x01, 0x01]).reasonCode()
        }
        expectOpenSSLError("not an INTEGER") {
            _ = try X509Extension(oid: X509Extension.crlNumberOID, critical: false, value: [0x04, 0x00]).crlNumber()
        }
        #expect(try builder.sign(with: pki.rootKey, issuer: pki.root).isSigned(by: pki.rootKey))
    }

    @Test("Builder shims: the X509_REVOKED stack (num, value)")
    func revokedStackShims() throws {
        let crl = try Self.sampleCRL()
        try crl.withUnsafeOpenSSLPointer { pointer in
            let stack = try #require(X509_CRL_get_REVOKED(pointer))
            #expect(cossl_sk_X509_REVOKED_num(stack) == 3)
            let first = try #require(cossl_sk_X509_REVOKED_value(stack, 0))
            #expect(ASN1.integer(X509_REVOKED_get0_serialNumber(first)) == (try crl.revoked[0].serialNumber))
            #expect(cossl_sk_X509_REVOKED_value(stack, 3) == nil)
        }
        #expect(cossl_sk_X509_REVOKED_num(nil) == -1)
    }
}
