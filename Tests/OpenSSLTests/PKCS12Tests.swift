import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// PKCS#12 bundles: made here and opened by `openssl pkcs12`, made by
/// `openssl pkcs12 -export` and opened here, passphrases, bad input.
@Suite("PKCS12")
struct PKCS12Tests {
    /// A CA, a leaf signed by it, and the leaf's key, minted by the openssl
    /// command (so neither direction of the interop tests depends on this
    /// library's own certificate code).
    final class Material {
        let directory: TemporaryDirectory
        let key: PKey
        let certificate: X509
        let ca: X509

        init() throws {
            let directory = try TemporaryDirectory()
            self.directory = directory
            let p = directory.path
            try ExternalTool.openssl([
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", p("ca.key"), "-out", p("ca.pem"), "-subj", "/CN=PKCS12 Test CA", "-days", "2",
            ])
            try ExternalTool.openssl([
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=pkcs12.example",
            ])
            try ExternalTool.openssl([
                "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
                "-CAcreateserial", "-out", p("leaf.pem"), "-days", "2",
            ])
            key = try PKey(privateKeyPEM: try Data(contentsOf: URL(fileURLWithPath: p("leaf.key"))))
            certificate = try X509(pem: try Data(contentsOf: URL(fileURLWithPath: p("leaf.pem"))))
            ca = try X509(pem: try Data(contentsOf: URL(fileURLWithPath: p("ca.pem"))))
        }

        func path(_ name: String) -> String { directory.path(name) }
    }

    // MARK: Interoperability

    @Test("A bundle made here opens with openssl pkcs12, with AES-256-CBC/PBKDF2 and a SHA-256 MAC")
    func madeHereOpensInOpenSSL() throws {
        let material = try Material()
        let bundle = PKCS12(
            privateKey: material.key, certificate: material.certificate,
            caCertificates: [material.ca], friendlyName: "server key")
        let path = try material.directory.write("made-here.p12", try bundle.der(passphrase: "correct horse"))

        let result = try ExternalTool.run("/usr/bin/openssl", ["pkcs12", "-in", path, "-nodes", "-passin", "pass:correct horse"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(try material.certificate.pem))
        #expect(result.stdout.contains(try material.ca.pem))
        #expect(result.stdout.contains("friendlyName: server key"))
        // The key openssl prints is our key.
        let printedKey = try #require(
            result.stdout.range(of: "-----BEGIN PRIVATE KEY-----").map { String(result.stdout[$0.lowerBound...]) })
        #expect(try PKey(privateKeyPEM: printedKey).isPublicKeyEqual(to: material.key))

        let info = try ExternalTool.run(
            "/usr/bin/openssl", ["pkcs12", "-in", path, "-info", "-noout", "-passin", "pass:correct horse"])
        #expect(info.status == 0)
        #expect(info.stderr.contains("MAC: sha256, Iteration 2048"))
        #expect(info.stderr.contains("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"))
        #expect(info.stderr.contains("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC"))

        let wrong = try ExternalTool.run("/usr/bin/openssl", ["pkcs12", "-in", path, "-nodes", "-passin", "pass:wrong"])
        #expect(wrong.status != 0)
    }

    @Test("A bundle made by openssl pkcs12 -export opens here: key, certificate, CA chain, friendly name")
    func madeByOpenSSLOpensHere() throws {
        let material = try Material()
        let path = material.path("exported.p12")
        try ExternalTool.openssl([
            "pkcs12", "-export", "-inkey", material.path("leaf.key"), "-in", material.path("leaf.pem"),
            "-certfile", material.path("ca.pem"), "-name", "exported by openssl",
            "-passout", "pass:s3cret", "-out", path,
        ])
        let bundle = try PKCS12(der: try Data(contentsOf: URL(fileURLWithPath: path)), passphrase: "s3cret")
        let key = try #require(bundle.privateKey)
        #expect(key.hasPrivateKey)
        #expect(key.isPublicKeyEqual(to: material.key))
        #expect(bundle.certificate == material.certificate)
        try bundle.certificate?.checkPrivateKey(key)
        #expect(bundle.caCertificates == [material.ca])
        #expect(bundle.friendlyName == "exported by openssl")
        expectErrorQueueEmpty()
    }

    @Test("Legacy algorithms openssl can still write (3DES, SHA-1 MAC) open here")
    func legacyAlgorithms() throws {
        let material = try Material()
        let path = material.path("legacy.p12")
        try ExternalTool.openssl([
            "pkcs12", "-export", "-inkey", material.path("leaf.key"), "-in", material.path("leaf.pem"),
            "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1",
            "-passout", "pass:old", "-out", path,
        ])
        let bundle = try PKCS12(der: try Data(contentsOf: URL(fileURLWithPath: path)), passphrase: "old")
        #expect(bundle.certificate == material.certificate)
        #expect(bundle.privateKey?.isPublicKeyEqual(to: material.key) == true)
        #expect(bundle.caCertificates.isEmpty)
        #expect(bundle.friendlyName == nil)
    }

    @Test("An empty-password bundle from openssl opens with no passphrase and with an empty one")
    func emptyPassword() throws {
        let material = try Material()
        let path = material.path("empty.p12")
        try ExternalTool.openssl([
            "pkcs12", "-export", "-inkey", material.path("leaf.key"), "-in", material.path("leaf.pem"),
            "-passout", "pass:", "-out", path,
        ])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try PKCS12(der: bytes).certificate == material.certificate)
        #expect(try PKCS12(der: bytes, passphrase: "").privateKey?.isPublicKeyEqual(to: material.key) == true)
        #expect(throws: PassphraseError.self) { try PKCS12(der: bytes, passphrase: "not empty") }
        expectErrorQueueEmpty()
    }

    // MARK: Round trips

    @Test("Round trip here keeps every part, a non-ASCII friendly name and the CA order")
    func roundTrip() throws {
        let material = try Material()
        let extra = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let bundle = PKCS12(
            privateKey: material.key, certificate: material.certificate,
            caCertificates: [material.ca, extra], friendlyName: "Schlüssel für Zoë")
        let back = try PKCS12(der: try bundle.der(passphrase: "pässwörd", iterations: 1000), passphrase: "pässwörd")
        #expect(back.privateKey?.isPublicKeyEqual(to: material.key) == true)
        #expect(back.certificate == material.certificate)
        #expect(back.caCertificates == [material.ca, extra])
        #expect(back.friendlyName == "Schlüssel für Zoë")
    }

    @Test("RSA, EC and Ed25519 keys with their chains round-trip, and openssl reads each", arguments: ["rsa", "ec", "ed25519"])
    func keyTypes(kind: String) throws {
        let pki = TestPKI.shared
        let (key, certificate, chain): (PKey, X509, [X509]) =
            switch kind {
            case "rsa": (pki.rsaServerKey, pki.rsaServer, [pki.intermediate, pki.root])
            case "ec": (pki.serverKey, pki.server, [pki.intermediate, pki.root])
            default: (pki.ed25519ServerKey, pki.ed25519Server, [pki.ed25519Root])
            }
        let der = try PKCS12(privateKey: key, certificate: certificate, caCertificates: chain, friendlyName: kind)
            .der(passphrase: "pw")
        let back = try PKCS12(der: der, passphrase: "pw")
        #expect(back.privateKey?.isPublicKeyEqual(to: key) == true)
        #expect(back.privateKey?.type == key.type)
        #expect(back.certificate == certificate)
        #expect(back.caCertificates == chain)
        #expect(back.friendlyName == kind)

        let directory = try TemporaryDirectory()
        let path = try directory.write("\(kind).p12", der)
        let result = try ExternalTool.run("/usr/bin/openssl", ["pkcs12", "-in", path, "-nodes", "-passin", "pass:pw"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(try certificate.pem))
        let printedKey = try #require(
            result.stdout.range(of: "-----BEGIN PRIVATE KEY-----").map { String(result.stdout[$0.lowerBound...]) })
        #expect(try PKey(privateKeyPEM: printedKey).isPublicKeyEqual(to: key))
    }

    @Test("A passphrase callback is asked once and its answer used; its error comes out unchanged")
    func passphraseCallback() throws {
        struct Refused: Error, Equatable { let reason: String }
        let material = try Material()
        let der = try PKCS12(privateKey: material.key, certificate: material.certificate)
            .der(passphrase: .callback { _ in Array("from callback".utf8) })
        let counter = Counter()
        let back = try PKCS12(
            der: der,
            passphrase: .callback { maximum in
                counter.increment()
                #expect(maximum == 1024)
                return Array("from callback".utf8)
            })
        #expect(counter.value == 1)
        #expect(back.certificate == material.certificate)
        let error = try #require(throws: Refused.self) {
            try PKCS12(der: der, passphrase: .callback { _ in throw Refused(reason: "user cancelled") })
        }
        #expect(error == Refused(reason: "user cancelled"))
        #expect(ERR_peek_error() == 0)
    }

    @Test("Without a passphrase nothing is encrypted and there is no MAC; openssl and this library read it")
    func unprotected() throws {
        let material = try Material()
        let path = try material.directory.write(
            "open.p12",
            try PKCS12(privateKey: material.key, certificate: material.certificate).der(passphrase: nil))
        let back = try PKCS12(der: try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(back.privateKey?.isPublicKeyEqual(to: material.key) == true)
        let info = try ExternalTool.run("/usr/bin/openssl", ["pkcs12", "-in", path, "-info", "-nodes", "-passin", "pass:"])
        #expect(info.status == 0)
        #expect(info.stderr.contains("MAC is absent"))
        #expect(info.stderr.contains("Key bag"))
        #expect(!info.stderr.contains("Shrouded"))
        #expect(info.stdout.contains(try material.certificate.pem))
    }

    @Test(
        "A certificate alone, or CA certificates alone, make a bundle; without a key every certificate comes back as a CA certificate"
    )
    func partialBundles() throws {
        let material = try Material()
        let certificateOnly = try PKCS12(der: try PKCS12(certificate: material.certificate).der(passphrase: "x"), passphrase: "x")
        // PKCS12_parse picks "the" certificate by the key's localKeyID; with no key there is none.
        #expect(certificateOnly.certificate == nil)
        #expect(certificateOnly.caCertificates == [material.certificate])
        #expect(certificateOnly.privateKey == nil)
        let caOnly = try PKCS12(der: try PKCS12(caCertificates: [material.ca]).der(passphrase: "x"), passphrase: "x")
        #expect(caOnly.certificate == nil)
        #expect(caOnly.caCertificates == [material.ca])
    }

    // MARK: Failures

    @Test("A wrong passphrase is PassphraseError.incorrect; none at all is .required")
    func wrongPassphrase() throws {
        let material = try Material()
        let der = try PKCS12(privateKey: material.key, certificate: material.certificate).der(passphrase: "right")
        let wrong = try #require(throws: PassphraseError.self) { try PKCS12(der: der, passphrase: "wrong") }
        guard case .incorrect(let cause) = wrong else {
            Issue.record("expected .incorrect, got \(wrong)")
            return
        }
        #expect(cause.detail == "the MAC does not match the passphrase")
        #expect(ERR_peek_error() == 0)
        let missing = try #require(throws: PassphraseError.self) { try PKCS12(der: der) }
        #expect(missing == .required(operation: "read PKCS#12"))
        #expect(ERR_peek_error() == 0)
    }

    @Test(
        "Garbage, empty, truncated and trailing-byte input throw OpenSSLError",
        arguments: ["garbage", "empty", "truncated", "trailing"])
    func badInput(kind: String) throws {
        let material = try Material()
        let der = try PKCS12(certificate: material.certificate).der(passphrase: "x")
        let input: [UInt8]
        switch kind {
        case "garbage": input = Array("this is not a PKCS#12 file".utf8)
        case "empty": input = []
        case "truncated": input = Array(der.prefix(der.count / 2))
        default: input = der + [0]
        }
        let error = try #require(throws: OpenSSLError.self) { try PKCS12(der: input, passphrase: "x") }
        #expect(error.operation == "read PKCS#12")
        #expect(ERR_peek_error() == 0)
    }

    @Test("Export refuses a key that does not match, an empty bundle, an empty passphrase and a NUL in the name")
    func exportFailures() throws {
        let material = try Material()
        let otherKey = try PKey.generate(.ec(.p256))
        let mismatch = try #require(throws: OpenSSLError.self) {
            try PKCS12(privateKey: otherKey, certificate: material.certificate).der(passphrase: "x")
        }
        #expect(mismatch.hasReason("key values mismatch"))
        #expect(ERR_peek_error() == 0)
        #expect(throws: OpenSSLError.self) { try PKCS12().der(passphrase: "x") }
        #expect(ERR_peek_error() == 0)
        let empty = try #require(throws: PassphraseError.self) {
            try PKCS12(certificate: material.certificate).der(passphrase: "")
        }
        #expect(empty == .empty(operation: "write PKCS#12"))
        let name = try #require(throws: OpenSSLError.self) {
            try PKCS12(certificate: material.certificate, friendlyName: "a\0b").der(passphrase: "x")
        }
        #expect(name.detail?.contains("NUL") == true)
        #expect(throws: OpenSSLError.self) { try PKCS12(certificate: material.certificate).der(passphrase: "x", iterations: 0) }
        #expect(ERR_peek_error() == 0)
    }
}

// MARK: - Hostile iteration counts

extension PKCS12Tests {
    /// Replaces every 3-byte INTEGER 0x010000 (65,536, the count the bundle
    /// was made with) by 0x7FFFFF (8,388,607): what a hostile file asks for.
    static func inflatingIterations(_ der: [UInt8]) -> (bytes: [UInt8], replaced: Int) {
        let from: [UInt8] = [0x02, 0x03, 0x01, 0x00, 0x00]
        let to: [UInt8] = [0x02, 0x03, 0x7f, 0xff, 0xff]
        var bytes = der
        var replaced = 0
        var index = 0
        while index + from.count <= bytes.count {
            if Array(bytes[index..<(index + from.count)]) == from {
                bytes.replaceSubrange(index..<(index + from.count), with: to)
                replaced += 1
                index += from.count
            } else {
                index += 1
            }
        }
        return (bytes, replaced)
    }

    @Test("A MAC asking for 8 million iterations is refused at once, with or without a passphrase")
    func hostileMACIterations() throws {
        let material = try Material()
        let made = try PKCS12(privateKey: material.key, certificate: material.certificate)
            .der(passphrase: "s3cret", iterations: 65_536)
        let (hostile, replaced) = Self.inflatingIterations(made)
        #expect(replaced == 3)  // the certificates' PBKDF2, the key's PBKDF2, the MAC
        for passphrase in [Passphrase("s3cret"), Passphrase("wrong"), nil] as [Passphrase?] {
            let started = ContinuousClock.now
            let error = try #require(throws: OpenSSLError.self) { try PKCS12(der: hostile, passphrase: passphrase) }
            #expect(ContinuousClock.now - started < .seconds(1), "refusing took \(ContinuousClock.now - started)")
            #expect(error.detail?.contains("MAC asks for 8388607 iterations") == true, "\(error)")
            expectErrorQueueEmpty()
        }
    }

    @Test("Encryption asking for more iterations than allowed is refused before anything is decrypted; the limit is adjustable")
    func hostileEncryptionIterations() throws {
        let material = try Material()
        // No MAC: nothing stops OpenSSL from running the key derivation as the file asks.
        let path = material.path("nomac.p12")
        try ExternalTool.openssl([
            "pkcs12", "-export", "-inkey", material.path("leaf.key"), "-in", material.path("leaf.pem"),
            "-iter", "65536", "-nomac", "-certpbe", "AES-256-CBC", "-passout", "pass:s3cret",
            "-out", path,
        ])
        let (hostile, replaced) = Self.inflatingIterations(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(replaced == 2)
        let started = ContinuousClock.now
        let error = try #require(throws: OpenSSLError.self) { try PKCS12(der: hostile, passphrase: "s3cret") }
        #expect(ContinuousClock.now - started < .seconds(1), "refusing took \(ContinuousClock.now - started)")
        #expect(error.detail?.contains("encrypted contents asks for 8388607 iterations") == true, "\(error)")
        expectErrorQueueEmpty()

        // A bundle made with 4,096 iterations: refused under a limit of 2,048, opened under the default.
        let bundle = try PKCS12(privateKey: material.key, certificate: material.certificate)
            .der(passphrase: "s3cret", iterations: 4096)
        let limited = try #require(throws: OpenSSLError.self) {
            try PKCS12(der: bundle, passphrase: "s3cret", maximumIterations: 2048)
        }
        #expect(limited.detail?.contains("the limit is 2048") == true, "\(limited)")
        #expect(try PKCS12(der: bundle, passphrase: "s3cret").certificate == material.certificate)
        // The key's own encryption is checked too (inside the unencrypted safe).
        let keyOnly = try PKCS12(privateKey: material.key, certificate: material.certificate).der(
            passphrase: "s3cret", iterations: 4096)
        #expect(throws: OpenSSLError.self) { try PKCS12(der: keyOnly, passphrase: "s3cret", maximumIterations: 4095) }
        #expect(PKCS12.defaultMaximumIterations == 1_000_000)
        expectErrorQueueEmpty()
    }
}

/// A thread-safe counter for callbacks.
private final class Counter: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var count = 0
    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
