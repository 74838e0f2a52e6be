import Foundation
import OpenSSL
import Testing
import TestSupport

/// The `ossl` command-line tool, run as a child process on real files:
/// every subcommand's happy path, bad input (exit status 2 and one line on
/// stderr), verification verdicts (0 and 1), and `serve` with `connect` on
/// 127.0.0.1 with trust on first use.
@Suite("ossl command-line tool")
struct CLITests {
    /// A temporary directory holding TestPKI's PEM files.
    private static func pkiDirectory() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try TestPKI.shared.writePEMFiles(to: directory.url)
        return directory
    }

    /// Records an issue unless `result` is an input error: status 2 and
    /// exactly one line on stderr, mentioning `mentioning`.
    private static func expectInputError(
        _ result: ExternalTool.Result, mentioning: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 2, "status \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
        let lines = OsslTool.lines(result.stderr)
        #expect(lines.count == 1, "expected one line on stderr, got: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            result.stderr.contains(mentioning), "stderr does not mention '\(mentioning)': \(result.stderr)",
            sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, "nothing on stdout for an input error: \(result.stdout)", sourceLocation: sourceLocation)
    }

    // MARK: x509

    @Test("x509 prints a summary block per certificate of a bundle")
    func x509Summary() throws {
        let directory = try Self.pkiDirectory()
        let result = try OsslTool.run(["x509", directory.path("fullchain.pem")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let output = result.stdout
        #expect(output.components(separatedBy: "subject:").count - 1 == 3)
        #expect(output.contains("fullchain.pem [1/3]"))
        #expect(output.contains("subject:        CN = localhost"))
        #expect(output.contains("issuer:         CN = Test Intermediate CA"))
        #expect(output.contains("alt names:      DNS:localhost, IP:127.0.0.1, IP:::1"))
        #expect(output.contains("public key:     EC 256 bits (prime256v1)"))
        #expect(output.contains("SHA-256:        \(try TestPKI.shared.server.fingerprint(.sha256))"))
        #expect(output.contains("days left)"))
        #expect(output.contains("CA:             yes (path length 0)"))
        #expect(output.contains("self-signed:    yes"))  // the root
        #expect(output.contains("key usage:      Certificate Sign, CRL Sign"))
    }

    @Test("x509 says how long ago an expired certificate expired")
    func x509Expired() throws {
        let directory = try Self.pkiDirectory()
        let result = try OsslTool.run(["x509", directory.path("expired.pem")])
        #expect(result.status == 0)
        #expect(
            result.stdout.contains("(expired 30 days ago)") || result.stdout.contains("(expired 29 days ago)"),
            "\(result.stdout)")
    }

    @Test("x509 --text prints what openssl x509 -text -noout prints")
    func x509Text() throws {
        let directory = try Self.pkiDirectory()
        let path = directory.path("server.pem")
        let result = try OsslTool.run(["x509", "--text", path])
        #expect(result.status == 0)
        #expect(
            result.stdout == (try ExternalTool.openssl(["x509", "-in", path, "-text", "-noout"] + RuntimeOpenSSL.onelineNames)))
    }

    @Test("x509 reads DER and stdin, and both give the same JSON as PEM")
    func x509DERAndStdin() throws {
        let directory = try Self.pkiDirectory()
        let der = try directory.write("server.der", try TestPKI.shared.server.der)
        let fromPEM = try OsslTool.run(["x509", "--json", directory.path("server.pem")])
        let fromDER = try OsslTool.run(["x509", "--json", der])
        let fromStdin = try OsslTool.run(["x509", "--json", "-"], input: Array(try TestPKI.shared.server.pem.utf8))
        #expect(fromPEM.status == 0 && fromDER.status == 0 && fromStdin.status == 0)
        #expect(fromDER.stdout == fromPEM.stdout)
        #expect(fromStdin.stdout == fromPEM.stdout)
        // Stable: a second run prints the same bytes.
        #expect(try OsslTool.run(["x509", "--json", der]).stdout == fromDER.stdout)
    }

    @Test("x509 --json: the documented values for a known certificate")
    func x509JSONValues() throws {
        let directory = try Self.pkiDirectory()
        let result = try OsslTool.run(["x509", "--json", directory.path("chain.pem")])
        #expect(result.status == 0)
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(objects.count == 2)
        let server = try #require(objects.first)
        let certificate = TestPKI.shared.server
        #expect(server["subject"] as? [[String]] == [["CN", "localhost"]])
        #expect(server["issuer"] as? [[String]] == [["CN", "Test Intermediate CA"]])
        #expect(server["serial"] as? String == certificate.serialNumber.hexString)
        #expect(server["version"] as? Int == 3)
        #expect(server["signatureAlgorithm"] as? String == "ecdsa-with-SHA256")
        let key = try #require(server["publicKey"] as? [String: Any])
        #expect(key["type"] as? String == "EC" && key["bits"] as? Int == 256 && key["curve"] as? String == "prime256v1")
        let fingerprints = try #require(server["fingerprints"] as? [String: String])
        #expect(
            fingerprints["sha256"] == (try certificate.fingerprint(.sha256)).replacingOccurrences(of: ":", with: "").lowercased())
        let names = try #require(server["subjectAltNames"] as? [[String: String]])
        #expect(
            names == [
                ["type": "DNS", "value": "localhost"], ["type": "IP", "value": "127.0.0.1"], ["type": "IP", "value": "::1"],
            ])
        let constraints = try #require(server["basicConstraints"] as? [String: Any])
        #expect(constraints["ca"] as? Bool == false && constraints["pathLength"] is NSNull)
        #expect(server["selfSigned"] as? Bool == false)
        #expect(try X509(pem: try #require(server["pem"] as? String)) == certificate)
        let intermediate = try #require(objects.last)
        let caConstraints = try #require(intermediate["basicConstraints"] as? [String: Any])
        #expect(caConstraints["ca"] as? Bool == true && caConstraints["pathLength"] as? Int == 0)
        #expect(intermediate["keyUsage"] as? [String] == (try TestPKI.shared.intermediate.keyUsage)?.names)
        #expect(intermediate["extendedKeyUsage"] is NSNull)
    }

    @Test("x509 keeps a NUL inside a SAN: escaped in the summary, \\u0000 in JSON; negative serials and UTF-8 names")
    func x509OddEncodings() throws {
        let nul = Fixtures.path("nul-byte-san.pem")
        let summary = try OsslTool.run(["x509", nul])
        #expect(summary.status == 0)
        #expect(
            summary.stdout.contains("alt names:      DNS:www.good.com\\x00www.evil.com, DNS:plain.example"), "\(summary.stdout)")
        let json = try OsslTool.run(["x509", "--json", nul])
        #expect(json.stdout.contains(#""value": "www.good.com\u0000www.evil.com""#))
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let names = try #require(objects.first?["subjectAltNames"] as? [[String: String]])
        #expect(names.first?["value"] == "www.good.com\u{0}www.evil.com")
        let negative = try OsslTool.run(["x509", "--json", Fixtures.path("negative-serial.pem")])
        #expect(negative.stdout.contains(#""serial": "-1234""#))
        let utf8 = try OsslTool.run(["x509", "--json", Fixtures.path("utf8-names.pem")])
        let utf8Objects = try #require(try JSONSerialization.jsonObject(with: Data(utf8.stdout.utf8)) as? [[String: Any]])
        let subject = try #require(utf8Objects.first?["subject"] as? [[String]])
        #expect(subject.contains(["O", "テスト GmbH"]) && subject.contains(["CN", "Grüße Straße"]))
        #expect(subject.map(\.[0]) == ["C", "O", "OU", "OU", "UID", "CN"])
    }

    /// Must show: every certificate of the system bundle, each with exactly the documented schema.
    @Test("x509 --json emits every certificate of the system CA bundle with the schema")
    func x509JSONSystemBundle() throws {
        let bundle = "/etc/ssl/certs/ca-certificates.crt"
        let text = try String(contentsOfFile: bundle, encoding: .utf8)
        let expectedCount = text.components(separatedBy: "-----BEGIN CERTIFICATE-----").count - 1
        #expect(expectedCount > 50)
        let result = try OsslTool.run(["x509", "--json", bundle], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [Any])
        #expect(objects.count == expectedCount)
        for (index, element) in objects.enumerated() {
            let object = try #require(element as? [String: Any], "certificate \(index) is not an object")
            let problems = JSONSchema.certificateProblems(object)
            #expect(problems.isEmpty, "certificate \(index): \(problems.joined(separator: "; "))")
        }
        // The bundle's certificates, in order.
        let fingerprints = objects.compactMap {
            (($0 as? [String: Any])?["fingerprints"] as? [String: Any])?["sha256"] as? String
        }
        let expected = try X509.chain(pem: text).map { try $0.digest(.sha256).map { String(format: "%02x", $0) }.joined() }
        #expect(fingerprints == expected)
    }

    // MARK: Bad input

    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case garbage, emptyStdin, missingFile, directory, brokenPEMBlock, keyInsteadOfCertificate
        var testDescription: String { rawValue }
    }

    @Test("bad input: exit status 2 and one clear line on stderr", arguments: BadInput.allCases)
    func badInput(_ kind: BadInput) throws {
        let directory = try Self.pkiDirectory()
        let result: ExternalTool.Result
        let mention: String
        switch kind {
        case .garbage:
            let path = try directory.write("garbage.bin", (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) })
            result = try OsslTool.run(["x509", path])
            mention = "garbage.bin: not PEM, and not a DER certificate"
        case .emptyStdin:
            result = try OsslTool.run(["x509", "-"])
            mention = "<stdin>: empty input"
        case .missingFile:
            result = try OsslTool.run(["x509", directory.path("missing.pem")])
            mention = "missing.pem: No such file or directory"
        case .directory:
            result = try OsslTool.run(["verify", "--ca", directory.path("root.pem"), directory.url.path])
            mention = "is a directory"
        case .brokenPEMBlock:
            var lines = try TestPKI.shared.intermediate.pem.split(separator: "\n").map(String.init)
            lines[3] = "!!!!" + lines[3].dropFirst(4)
            let path = try directory.write("broken.pem", try TestPKI.shared.server.pem + lines.joined(separator: "\n") + "\n")
            result = try OsslTool.run(["x509", path])
            mention = "broken.pem"
            #expect(result.stderr.contains("bad base64 decode"), "\(result.stderr)")
        case .keyInsteadOfCertificate:
            result = try OsslTool.run(["x509", directory.path("server-key.pem")])
            mention = "no certificate found"
        }
        Self.expectInputError(result, mentioning: mention)
    }

    @Test("a wrong or missing passphrase for an encrypted key: exit status 2 and one line")
    func wrongPassphrase() throws {
        let directory = try TemporaryDirectory()
        let key = directory.path("key.pem")
        let made = try OsslTool.run(["genkey", "--passphrase", "pass:right", "--out", key])
        #expect(made.status == 0)
        #expect(try String(contentsOfFile: key, encoding: .utf8).contains("BEGIN ENCRYPTED PRIVATE KEY"))
        let wrong = try OsslTool.run(["selfsign", "--key", key, "--passphrase", "pass:wrong", "--subject", "/CN=x"])
        Self.expectInputError(wrong, mentioning: "key.pem: wrong passphrase")
        let missing = try OsslTool.run(["req", "--key", key, "--subject", "/CN=x"])
        Self.expectInputError(missing, mentioning: "key.pem: the key is encrypted")
        let right = try OsslTool.run(["req", "--key", key, "--passphrase", "pass:right", "--subject", "/CN=x"])
        #expect(right.status == 0 && right.stdout.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----"))
    }

    @Test("usage errors: exit status 2, one line pointing at --help")
    func usageErrors() throws {
        let unknownOption = try OsslTool.run(["x509", "--no-such-option", "a.pem"])
        Self.expectInputError(unknownOption, mentioning: "ossl x509 --help")
        let missingArgument = try OsslTool.run(["verify", "--ca", "root.pem"])
        Self.expectInputError(missingArgument, mentioning: "ossl verify --help")
        let conflicting = try OsslTool.run(["connect", "--tls1.2", "--tls1.3", "localhost:1"])
        Self.expectInputError(conflicting, mentioning: "cannot be used together")
        let badSubject = try OsslTool.run(["genkey", "--type", "dsa"])
        Self.expectInputError(badSubject, mentioning: "dsa")
    }

    @Test(
        "every subcommand's --help has examples",
        arguments: ["x509", "verify", "connect", "serve", "genkey", "req", "selfsign", "demo"])
    func helpHasExamples(_ subcommand: String) throws {
        let result = try OsslTool.run([subcommand, "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Example"), "\(result.stdout)")
        #expect(result.stdout.contains("ossl \(subcommand)"))
    }

    // MARK: verify

    @Test("verify: a good chain exits 0 and prints it, one line per certificate")
    func verifyGoodChain() throws {
        let directory = try Self.pkiDirectory()
        let result = try OsslTool.run([
            "verify", "--ca", directory.path("root.pem"), "--untrusted", directory.path("intermediate.pem"),
            "--host", "localhost", "--ip", "127.0.0.1", "--purpose", "server", directory.path("server.pem"),
        ])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let lines = OsslTool.lines(result.stdout)
        #expect(lines.count == 4)
        #expect(lines.first?.hasSuffix("server.pem: OK") == true)
        #expect(lines[1].contains("0: \"CN = localhost\" issued by \"CN = Test Intermediate CA\""))
        #expect(lines[3].contains("2: \"CN = Test Root CA\""))
        // The intermediates may also follow the leaf in its own file.
        let inFile = try OsslTool.run(["verify", "--ca", directory.path("root.pem"), directory.path("chain.pem")])
        #expect(inFile.status == 0)
    }

    @Test("verify: a bad chain exits 1 with OpenSSL's code, message and depth")
    func verifyBadChain() throws {
        let directory = try Self.pkiDirectory()
        let root = directory.path("root.pem")
        let noIntermediate = try OsslTool.run(["verify", "--ca", root, directory.path("server.pem")])
        #expect(noIntermediate.status == 1)
        #expect(
            noIntermediate.stdout.contains("verification failed: error 20 at depth 0: unable to get local issuer certificate"),
            "\(noIntermediate.stdout)")
        let expired = try OsslTool.run([
            "verify", "--ca", root, "--untrusted", directory.path("intermediate.pem"), directory.path("expired.pem"),
        ])
        #expect(expired.status == 1)
        #expect(expired.stdout.contains("error 10 at depth 0: certificate has expired"))
        let wrongHost = try OsslTool.run(["verify", "--ca", root, "--host", "example.org", directory.path("chain.pem")])
        #expect(wrongHost.status == 1)
        #expect(wrongHost.stdout.contains("error 62"))
        let clientAsServer = try OsslTool.run(["verify", "--ca", root, "--purpose", "server", directory.path("client-chain.pem")])
        #expect(clientAsServer.status == 1)
        #expect(clientAsServer.stdout.contains("error 26"))
    }

    @Test("verify: --at, --partial-chain, --max-depth, --ca-dir")
    func verifyOptions() throws {
        let directory = try Self.pkiDirectory()
        let root = directory.path("root.pem")
        let chain = directory.path("chain.pem")
        let later = isoString(Date() + 400 * 86_400)
        let future = try OsslTool.run(["verify", "--ca", root, "--at", later, chain])
        #expect(future.status == 1 && future.stdout.contains("error 10"))
        let badTime = try OsslTool.run(["verify", "--ca", root, "--at", "tomorrow", chain])
        Self.expectInputError(badTime, mentioning: "--at")
        let partial = try OsslTool.run([
            "verify", "--ca", directory.path("intermediate.pem"), "--partial-chain", directory.path("server.pem"),
        ])
        #expect(partial.status == 0, "\(partial.stdout)")
        let shallow = try OsslTool.run(["verify", "--ca", root, "--max-depth", "0", chain])
        #expect(shallow.status == 1 && shallow.stdout.contains("error 22"), "\(shallow.stdout)")
        // A hashed directory: <hash>.0 names the root.
        let hashed = try TemporaryDirectory()
        let hash = String(format: "%08x", try TestPKI.shared.root.subject.hash)
        try hashed.write("\(hash).0", try TestPKI.shared.root.pem)
        let fromDirectory = try OsslTool.run(["verify", "--ca-dir", hashed.url.path, chain])
        #expect(fromDirectory.status == 0, "\(fromDirectory.stdout) \(fromDirectory.stderr)")
    }

    @Test("verify: a revoked leaf fails with --crl-check (PEM and DER CRLs)")
    func verifyCRL() throws {
        let directory = try Self.pkiDirectory()
        let pki = TestPKI.shared
        var builder = CRLBuilder(lastUpdate: Date() - 60, nextUpdate: Date() + 86_400)
        builder.revoke(pki.server, reason: .keyCompromise)
        let crl = try builder.sign(with: pki.intermediateKey, issuer: pki.intermediate)
        let emptyCRL = try CRLBuilder(lastUpdate: Date() - 60, nextUpdate: Date() + 86_400)
            .sign(with: pki.intermediateKey, issuer: pki.intermediate)
        let revokedPEM = try directory.write("revoked.crl", try crl.pem)
        let revokedDER = try directory.write("revoked.der", try crl.der)
        let clean = try directory.write("clean.crl", try emptyCRL.pem)
        let base = ["verify", "--ca", directory.path("root.pem"), "--crl-check"]
        for path in [revokedPEM, revokedDER] {
            let revoked = try OsslTool.run(base + ["--crl", path, directory.path("chain.pem")])
            #expect(revoked.status == 1, "\(revoked.stdout) \(revoked.stderr)")
            #expect(revoked.stdout.contains("error 23 at depth 0: certificate revoked"), "\(revoked.stdout)")
        }
        let fine = try OsslTool.run(base + ["--crl", clean, directory.path("chain.pem")])
        #expect(fine.status == 0, "\(fine.stdout) \(fine.stderr)")
        let missing = try OsslTool.run(base + [directory.path("chain.pem")])
        #expect(missing.status == 1 && missing.stdout.contains("error 3"), "\(missing.stdout)")
        let notACRL = try OsslTool.run(base + ["--crl", directory.path("root.pem"), directory.path("chain.pem")])
        Self.expectInputError(notACRL, mentioning: "root.pem: no CRL found")
    }

    @Test("verify --json: verified flag, chain and error")
    func verifyJSON() throws {
        let directory = try Self.pkiDirectory()
        let good = try OsslTool.run(["verify", "--json", "--ca", directory.path("root.pem"), directory.path("chain.pem")])
        #expect(good.status == 0)
        let goodObject = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout.utf8)) as? [String: Any])
        #expect(Set(goodObject.keys) == ["file", "verified", "chain", "error"])
        #expect(goodObject["verified"] as? Bool == true && goodObject["error"] is NSNull)
        let chain = try #require(goodObject["chain"] as? [[String: Any]])
        #expect(chain.count == 3)
        #expect(chain.first?["subject"] as? String == "CN=localhost")
        let bad = try OsslTool.run(["verify", "--json", "--ca", directory.path("root.pem"), directory.path("server.pem")])
        #expect(bad.status == 1)
        let badObject = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        let error = try #require(badObject["error"] as? [String: Any])
        #expect(badObject["verified"] as? Bool == false)
        #expect(error["code"] as? Int == 20 && error["depth"] as? Int == 0)
        #expect(error["message"] as? String == "unable to get local issuer certificate")
    }

    // MARK: genkey, req, selfsign

    @Test(
        "genkey makes each key type, and openssl reads it",
        arguments: [
            (["--type", "rsa", "--bits", "2048"], "RSA"), (["--type", "ec", "--curve", "P-384"], "EC"),
            (["--type", "ed25519"], "ED25519"), ([], "EC"),
        ] as [([String], String)])
    func genkey(_ options: [String], _ type: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("key.pem")
        let result = try OsslTool.run(["genkey"] + options + ["--out", path])
        #expect(result.status == 0 && result.stdout.isEmpty)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let key = try PKey(privateKeyPEM: try String(contentsOfFile: path, encoding: .utf8))
        #expect(key.typeName == type)
        _ = try ExternalTool.openssl(["pkey", "-in", path, "-noout"])
    }

    @Test("req makes a request openssl verifies, with the subject and SANs")
    func req() throws {
        let directory = try TemporaryDirectory()
        let key = directory.path("key.pem")
        #expect(try OsslTool.run(["genkey", "--out", key]).status == 0)
        let result = try OsslTool.run([
            "req", "--key", key, "--subject", "/C=DE/O=Example/CN=www.example.com",
            "--san", "www.example.com,IP:192.0.2.1", "--san", "email:a@example.com",
            "--out", directory.path("req.pem"),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let text = try ExternalTool.openssl(
            ["req", "-in", directory.path("req.pem"), "-noout", "-text", "-verify"] + RuntimeOpenSSL.onelineNames)
        #expect(text.contains("Subject: C = DE, O = Example, CN = www.example.com"))
        #expect(text.contains("DNS:www.example.com, IP Address:192.0.2.1, email:a@example.com"))
        let badSAN = try OsslTool.run(["req", "--key", key, "--subject", "/CN=x", "--san", "IP:300.1.2.3"])
        Self.expectInputError(badSAN, mentioning: "300.1.2.3")
        let badSubject = try OsslTool.run(["req", "--key", key, "--subject", "/XX=y"])
        Self.expectInputError(badSubject, mentioning: "--subject '/XX=y'")
    }

    @Test("selfsign makes a self-signed leaf or CA that verify accepts as its own anchor")
    func selfsign() throws {
        let directory = try TemporaryDirectory()
        let key = directory.path("key.pem")
        let cert = directory.path("cert.pem")
        let ca = directory.path("ca.pem")
        #expect(try OsslTool.run(["genkey", "--type", "ed25519", "--out", key]).status == 0)
        let leaf = try OsslTool.run([
            "selfsign", "--key", key, "--subject", "/CN=localhost", "--san", "localhost",
            "--days", "10", "--out", cert,
        ])
        #expect(leaf.status == 0, "\(leaf.stderr)")
        let certificate = try X509(pem: try String(contentsOfFile: cert, encoding: .utf8))
        #expect(certificate.isSelfSigned)
        #expect(try certificate.basicConstraints == BasicConstraints(isCA: false))
        #expect(try certificate.subjectAlternativeNames == [.dnsName("localhost")])
        let days = (try certificate.notAfter).timeIntervalSince(try certificate.notBefore) / 86_400
        #expect(abs(days - 10) < 0.001)
        let verified = try OsslTool.run(["verify", "--ca", cert, "--host", "localhost", cert])
        #expect(verified.status == 0)
        let caResult = try OsslTool.run(["selfsign", "--key", key, "--subject", "/CN=Root", "--ca", "--out", ca])
        #expect(caResult.status == 0)
        let authority = try X509(pem: try String(contentsOfFile: ca, encoding: .utf8))
        #expect(try authority.basicConstraints?.isCA == true)
        #expect(try authority.keyUsage?.contains(.keyCertSign) == true)
    }

    // MARK: serve and connect

    /// A client identity: a key and a self-signed certificate for `subject`, made by the tool itself.
    private static func makeClient(
        _ directory: TemporaryDirectory, name: String, subject: String
    ) throws -> (cert: String, key: String) {
        let key = directory.path("\(name)-key.pem")
        let cert = directory.path("\(name).pem")
        #expect(try OsslTool.run(["genkey", "--out", key]).status == 0)
        #expect(try OsslTool.run(["selfsign", "--key", key, "--subject", subject, "--out", cert]).status == 0)
        return (cert, key)
    }

    @Test("serve --tofu accepts a client, accepts it again, refuses another certificate with the same subject")
    func serveTOFU() throws {
        let directory = try Self.pkiDirectory()
        let alice = try Self.makeClient(directory, name: "alice", subject: "/CN=alice")
        let impostor = try Self.makeClient(directory, name: "impostor", subject: "/CN=alice")
        let tofu = directory.path("known-clients.txt")
        let server = try ServeProcess([
            "--cert", directory.path("chain.pem"), "--key", directory.path("server-key.pem"),
            "--tofu", tofu, "--require-client-cert",
        ])
        defer { server.stop() }
        let target = "localhost:\(server.port)"
        let common = ["connect", "--ca", directory.path("root.pem"), "--timeout", "20"]

        let first = try OsslTool.run(common + ["--cert", alice.cert, "--key", alice.key, target])
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("verification:   OK"))
        let again = try OsslTool.run(common + ["--cert", alice.cert, "--key", alice.key, target])
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        let refused = try OsslTool.run(common + ["--cert", impostor.cert, "--key", impostor.key, target])
        #expect(refused.status == 1, "\(refused.stdout) \(refused.stderr)")
        #expect(OsslTool.lines(refused.stderr).count == 1)
        #expect(refused.stderr.contains("refused by the server"), "\(refused.stderr)")

        let log = server.logLines(waitingFor: 3)
        #expect(log.count == 3, "\(log) \(server.errorText)")
        let aliceFingerprint = try X509(pem: try String(contentsOfFile: alice.cert, encoding: .utf8)).digest(.sha256)
            .map { String(format: "%02x", $0) }.joined()
        if log.count == 3 {
            #expect(log[0].contains("decision=accept-first-use") && log[0].contains("client-cert=sha256:\(aliceFingerprint)"))
            #expect(log[0].hasPrefix("peer=127.0.0.1:") && log[0].contains("protocol=TLSv1.3"))
            #expect(log[1].contains("decision=accept-known"))
            #expect(log[2].contains("decision=reject-mismatch"))
        }
        let remembered = try String(contentsOfFile: tofu, encoding: .utf8)
        let entries = remembered.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(entries == ["\(aliceFingerprint)\tCN=alice"])

        #expect(server.stop() == 0)
        #expect(server.logLines(waitingFor: 4).last == "stopped")

        // What was learnt survives a restart.
        let restarted = try ServeProcess(["--tofu", tofu, "--max-connections", "1"])
        defer { restarted.stop() }
        let stillRefused = try OsslTool.run([
            "connect", "--insecure", "--cert", impostor.cert, "--key", impostor.key,
            "127.0.0.1:\(restarted.port)",
        ])
        #expect(stillRefused.status == 1, "\(stillRefused.stdout) \(stillRefused.stderr)")
        #expect(restarted.waitForExit(timeout: 20) == 0)
    }

    @Test("serve keeps serving after a failing client; connect --send gets the echo")
    func serveEchoAndFailures() throws {
        let server = try ServeProcess(["--max-connections", "3"])
        defer { server.stop() }
        #expect(server.banner.contains("self-signed for this run"))
        // A client that speaks no TLS.
        let garbage = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(10))
        _ = try Array("GET / HTTP/1.0\r\n\r\n".utf8).withUnsafeBytes { try garbage.write($0) }
        garbage.close()
        // A client that refuses the server's self-signed certificate.
        let refusing = try OsslTool.run(["connect", "127.0.0.1:\(server.port)"])
        #expect(refusing.status == 1)
        #expect(
            refusing.stdout.contains("verification:   failed: self-signed certificate (error 18 at depth 0)"),
            "\(refusing.stdout)")
        #expect(refusing.stderr.contains("server certificate refused"), "\(refusing.stderr)")
        // The server is still there.
        let echo = try OsslTool.run([
            "connect", "--insecure", "--send", "hello\\nworld", "--read-timeout", "1", "127.0.0.1:\(server.port)",
        ])
        #expect(echo.status == 0, "\(echo.stdout) \(echo.stderr)")
        #expect(echo.stdout.hasSuffix("received 11 bytes:\nhello\nworld\n"), "\(echo.stdout)")
        #expect(echo.stdout.contains("accepted because of --insecure"))
        let log = server.logLines(waitingFor: 3).filter { $0.hasPrefix("peer=") }
        #expect(log.count == 3)
        #expect(log.filter { $0.contains("decision=failed") }.count == 2, "\(log)")
        #expect(log.contains { $0.contains("client-cert=none decision=accept echoed=11") }, "\(log)")
        #expect(server.waitForExit(timeout: 20) == 0)
    }

    @Test("connect: pinning, TLS versions and JSON")
    func connectOptions() throws {
        let server = try ServeProcess([])
        defer { server.stop() }
        let target = "127.0.0.1:\(server.port)"
        let pin = try #require(
            server.banner.split(separator: " ").firstIndex(of: "sha256").map {
                String(server.banner.split(separator: " ")[$0 + 1]).trimmingCharacters(in: CharacterSet(charactersIn: ",)"))
            })
        let pinned = try OsslTool.run(["connect", "--insecure", "--pin-sha256", pin, "--tls1.2", target])
        #expect(pinned.status == 0, "\(pinned.stdout) \(pinned.stderr)")
        #expect(pinned.stdout.contains("protocol:       TLSv1.2"))
        #expect(pinned.stdout.contains("pinned certificate matches"))
        let wrongPin = try OsslTool.run(["connect", "--insecure", "--pin-sha256", String(repeating: "ab", count: 32), target])
        #expect(wrongPin.status == 1)
        #expect(wrongPin.stdout.contains("pinned certificate does NOT match"))
        let json = try OsslTool.run(["connect", "--insecure", "--tls1.3", "--json", target])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["protocol"] as? String == "TLSv1.3")
        #expect(object["sessionReused"] as? Bool == false)
        #expect((object["peerChain"] as? [Any])?.count == 1)
        let verification = try #require(object["verification"] as? [String: Any])
        #expect(verification["verified"] as? Bool == false && verification["code"] as? Int == 18)
        #expect(verification["accepted"] as? Bool == true)
        let nobody = try OsslTool.run(["connect", "127.0.0.1:1"])
        Self.expectInputError(nobody, mentioning: "127.0.0.1:1")
    }

    @Test("ALPN: serve selects its protocol; a client offering only others gets no_application_protocol")
    func alpn() throws {
        let server = try ServeProcess(["--alpn", "h2,http/1.1", "--max-connections", "3"])
        defer { server.stop() }
        let target = "127.0.0.1:\(server.port)"
        let chosen = try OsslTool.run(["connect", "--insecure", "--alpn", "http/1.1,h2", "--json", target])
        #expect(chosen.status == 0, "\(chosen.stdout) \(chosen.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(chosen.stdout.utf8)) as? [String: Any])
        #expect(object["alpn"] as? String == "h2")  // the server's preference wins
        #expect((object["group"] as? String)?.isEmpty == false)
        let other = try OsslTool.run(["connect", "--insecure", "--alpn", "spdy/3", target])
        #expect(other.status == 1)
        #expect(other.stderr.contains("no application protocol"), "\(other.stderr)")
        let none = try OsslTool.run(["connect", "--insecure", target])
        #expect(none.status == 0)
        #expect(none.stdout.contains("ALPN:           -"))
        let log = server.logLines(waitingFor: 3).filter { $0.hasPrefix("peer=") }
        #expect(log.contains { $0.contains("alpn=h2 ") }, "\(log)")
        #expect(log.contains { $0.contains("decision=failed") && $0.contains("no application protocol in common") }, "\(log)")
        #expect(server.waitForExit(timeout: 20) == 0)
    }

    @Test("serve stops cleanly on SIGINT")
    func serveSIGINT() throws {
        let server = try ServeProcess([])
        defer { server.stop() }
        server.signal(SIGINT)
        #expect(server.waitForExit(timeout: 20) == 0)
        #expect(server.logLines(waitingFor: 1) == ["stopped"])
    }

    // MARK: demo

    @Test("demo runs and prints each step")
    func demo() throws {
        let result = try OsslTool.run(["demo"], timeout: 120)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("decided accept-first-use"))
        #expect(result.stdout.contains("session reused: yes"))
        #expect(result.stdout.contains("ALPN ossl-echo/1"))
        #expect(result.stdout.contains("decided reject-mismatch"))
        #expect(result.stdout.contains("echoed back: \"hello, server\""))
    }

    private func isoString(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// Checks one `ossl x509 --json` object against the schema in Docs/cli.md:
/// exactly the documented keys, each with its documented type.
enum JSONSchema {
    static let certificateKeys: Set<String> = [
        "subject", "issuer", "serial", "version", "notBefore", "notAfter", "signatureAlgorithm", "publicKey",
        "fingerprints", "subjectAltNames", "basicConstraints", "keyUsage", "extendedKeyUsage", "extensions",
        "selfSigned", "pem",
    ]

    /// JSON true/false (JSONSerialization gives NSNumbers; a boolean's type code is "c").
    static func isBool(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    /// A JSON integer (not a boolean, not a fraction).
    static func isInt(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber, !isBool(value) else { return false }
        return ["i", "q", "l", "s"].contains(String(cString: number.objCType))
    }

    static func isString(_ value: Any?) -> Bool { value is String }
    static func isNull(_ value: Any?) -> Bool { value is NSNull }

    private static func matches(_ text: Any?, _ pattern: String) -> Bool {
        guard let text = text as? String else { return false }
        return text.range(of: pattern, options: .regularExpression) != nil
    }

    /// What is wrong with `object`; empty when it follows the schema.
    static func certificateProblems(_ object: [String: Any]) -> [String] {
        var problems: [String] = []
        func check(_ condition: Bool, _ problem: @autoclosure () -> String) {
            if !condition { problems.append(problem()) }
        }
        // outerSignatureAlgorithm appears only when it differs from signatureAlgorithm.
        check(Set(object.keys).subtracting(["outerSignatureAlgorithm"]) == certificateKeys, "keys \(object.keys.sorted())")
        if let outer = object["outerSignatureAlgorithm"] {
            check(isString(outer) && outer as? String != object["signatureAlgorithm"] as? String, "outerSignatureAlgorithm")
        }
        for key in ["subject", "issuer"] {
            let name = object[key] as? [Any]
            check(name != nil, "\(key) is not an array")
            for pair in name ?? [] {
                let strings = pair as? [Any]
                check(strings?.count == 2 && strings?.allSatisfy(isString) == true, "\(key) entry \(pair) is not [name, value]")
            }
        }
        check(matches(object["serial"], "^-?(0|[1-9a-f][0-9a-f]*)$"), "serial \(String(describing: object["serial"]))")
        check(isInt(object["version"]) && [1, 2, 3].contains(object["version"] as? Int), "version")
        for key in ["notBefore", "notAfter"] {
            check(
                matches(object[key], #"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"#),
                "\(key) \(String(describing: object[key]))")
        }
        check(
            isString(object["signatureAlgorithm"]) && !(object["signatureAlgorithm"] as? String ?? "").isEmpty,
            "signatureAlgorithm")
        let key = object["publicKey"] as? [String: Any]
        check(key.map { Set($0.keys) == ["type", "bits", "curve"] } == true, "publicKey keys")
        check(isString(key?["type"]) && isInt(key?["bits"]) && (key?["bits"] as? Int ?? 0) > 0, "publicKey type/bits")
        check(isString(key?["curve"]) || isNull(key?["curve"]), "publicKey curve")
        check((key?["type"] as? String == "EC") == isString(key?["curve"]), "curve only for EC keys")
        let fingerprints = object["fingerprints"] as? [String: Any]
        check(fingerprints.map { Set($0.keys) == ["sha1", "sha256"] } == true, "fingerprints keys")
        check(
            matches(fingerprints?["sha1"], "^[0-9a-f]{40}$") && matches(fingerprints?["sha256"], "^[0-9a-f]{64}$"), "fingerprints"
        )
        let names = object["subjectAltNames"] as? [Any]
        check(names != nil, "subjectAltNames is not an array")
        let types: Set<String> = [
            "DNS", "IP", "email", "URI", "dirName", "otherName", "registeredID", "X400Name", "EdiPartyName",
        ]
        for name in names ?? [] {
            let entry = name as? [String: Any]
            check(
                entry.map { Set($0.keys) == ["type", "value"] } == true && isString(entry?["value"])
                    && types.contains(entry?["type"] as? String ?? ""), "subjectAltNames entry \(name)")
        }
        if !isNull(object["basicConstraints"]) {
            let constraints = object["basicConstraints"] as? [String: Any]
            check(
                constraints.map { Set($0.keys) == ["ca", "pathLength"] } == true && isBool(constraints?["ca"])
                    && (isInt(constraints?["pathLength"]) || isNull(constraints?["pathLength"])), "basicConstraints")
        }
        if !isNull(object["keyUsage"]) {
            let usages = object["keyUsage"] as? [Any]
            let known: Set<String> = [
                "Digital Signature", "Non Repudiation", "Key Encipherment", "Data Encipherment",
                "Key Agreement", "Certificate Sign", "CRL Sign", "Encipher Only", "Decipher Only",
            ]
            check(usages?.allSatisfy { known.contains($0 as? String ?? "") } == true, "keyUsage \(String(describing: usages))")
        }
        if !isNull(object["extendedKeyUsage"]) {
            let purposes = object["extendedKeyUsage"] as? [Any]
            check(purposes != nil, "extendedKeyUsage is not an array")
            for purpose in purposes ?? [] {
                let entry = purpose as? [String: Any]
                check(
                    entry.map { Set($0.keys) == ["oid", "name"] } == true && matches(entry?["oid"], #"^[0-9]+(\.[0-9]+)+$"#)
                        && (isString(entry?["name"]) || isNull(entry?["name"])), "extendedKeyUsage entry \(purpose)")
            }
        }
        let extensions = object["extensions"] as? [Any]
        check(extensions != nil, "extensions is not an array")
        for ext in extensions ?? [] {
            let entry = ext as? [String: Any]
            check(
                entry.map { Set($0.keys) == ["oid", "name", "critical"] } == true
                    && matches(entry?["oid"], #"^[0-9]+(\.[0-9]+)+$"#)
                    && (isString(entry?["name"]) || isNull(entry?["name"])) && isBool(entry?["critical"]),
                "extensions entry \(ext)")
        }
        check(isBool(object["selfSigned"]), "selfSigned")
        check(matches(object["pem"], "^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$"), "pem")
        return problems
    }
}
