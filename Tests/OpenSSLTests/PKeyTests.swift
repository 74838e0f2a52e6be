import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Keys: generation, PEM/DER in every layout, passphrases, checks, signatures.
@Suite("PKey")
struct PKeyTests {
    static let specifications: [PKey.Specification] = [
        .rsa(bits: 2048), .ec(.p256), .ec(.p384), .ec(.p521), .ec(.secp256k1), .ed25519, .ed448,
    ]

    @Test("Generation: type, bits and curve", arguments: specifications)
    func generate(specification: PKey.Specification) throws {
        let key = try PKey.generate(specification)
        #expect(key.hasPrivateKey)
        switch specification {
        case .rsa(let bits):
            #expect(key.type == .rsa)
            #expect(key.typeName == "RSA")
            #expect(key.bits == bits)
            #expect(key.curveName == nil)
        case .ec(let curve):
            #expect(key.type == .ec)
            #expect(key.typeName == "EC")
            let expected: [String: (String, Int)] = [
                "P-256": ("prime256v1", 256), "P-384": ("secp384r1", 384),
                "P-521": ("secp521r1", 521), "secp256k1": ("secp256k1", 256),
            ]
            #expect(key.curveName == expected[curve.name]?.0)
            #expect(key.bits == expected[curve.name]?.1)
        case .ed25519:
            #expect(key.type == .ed25519)
            #expect(key.typeName == "ED25519")
        case .ed448:
            #expect(key.type == .ed448)
            #expect(key.typeName == "ED448")
            #expect(key.bits == 456)
        }
        try key.checkConsistency()
        expectErrorQueueEmpty()
    }

    @Test("Built-in curves are listed and each can make a key")
    func builtInCurves() throws {
        let curves = PKey.Curve.builtIn
        #expect(curves.count > 20)
        #expect(curves.contains(try PKey.Curve("prime256v1")))
        #expect(curves.contains(try PKey.Curve("secp384r1")))
        let key = try PKey.generate(.ec(try #require(curves.first { $0.name == "secp521r1" })))
        #expect(key.curveName == "secp521r1")
    }

    @Test("Generation refuses an unknown curve and an absurd RSA size")
    func generationErrors() throws {
        // An unknown curve is refused where it is named (pyOpenSSL's get_elliptic_curve raises too).
        let curve = try #require(throws: UnknownNameError.self) { try PKey.Curve("no-such-curve") }
        #expect(curve == UnknownNameError(kind: .curve, name: "no-such-curve"))
        #expect("\(curve)".contains("no-such-curve"))
        for name in ["P-256", "prime256v1", "secp384r1", "P-521", "secp256k1"] {
            #expect(try PKey.Curve(name).name == name)
        }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self) { try PKey.generate(.rsa(bits: 0)) }
        #expect(throws: OpenSSLError.self) { try PKey.generate(.rsa(bits: 100_000)) }
        #expect(throws: OpenSSLError.self) { try PKey.generate(.rsa(bits: 256)) }  // below OpenSSL's 512-bit floor
        expectErrorQueueEmpty()
    }

    @Test("X01 private keys round-trip through PEM and DER, PKCS#8 and traditional", arguments: specifications)
    func privateKeyRoundTrip(specification: PKey.Specification) throws {
        let key = try PKey.generate(specification)
        for format in [PKey.PrivateKeyFormat.pkcs8, .traditional] {
            let pem = try key.privateKeyPEM(format: format)
            let fromPEM = try PKey(privateKeyPEM: pem)
            #expect(fromPEM.isPublicKeyEqual(to: key))
            #expect(fromPEM.hasPrivateKey)
            #expect(try fromPEM.privateKeyPEM(format: format) == pem)
            let der = try key.privateKeyDER(format: format)
            let fromDER = try PKey(privateKeyDER: der)
            #expect(fromDER.isPublicKeyEqual(to: key))
            #expect(try fromDER.privateKeyDER(format: format) == der)
        }
        let pkcs8 = try key.privateKeyPEM(format: .pkcs8)
        #expect(pkcs8.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let traditional = try key.privateKeyPEM(format: .traditional)
        switch specification {
        case .rsa: #expect(traditional.hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        case .ec: #expect(traditional.hasPrefix("-----BEGIN EC PRIVATE KEY-----"))
        case .ed25519, .ed448: #expect(traditional.hasPrefix("-----BEGIN PRIVATE KEY-----"))  // no traditional form exists
        }
        expectErrorQueueEmpty()
    }

    @Test("X01 public keys round-trip through PEM and DER", arguments: specifications)
    func publicKeyRoundTrip(specification: PKey.Specification) throws {
        let key = try PKey.generate(specification)
        let pem = try key.publicKeyPEM()
        #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        let fromPEM = try PKey(publicKeyPEM: pem)
        #expect(!fromPEM.hasPrivateKey)
        #expect(fromPEM.isPublicKeyEqual(to: key))
        let fromDER = try PKey(publicKeyDER: try key.publicKeyDER())
        #expect(fromDER.isPublicKeyEqual(to: key))
        #expect(try fromDER.publicKeyPEM() == pem)
        #expect(try key.publicKey().isPublicKeyEqual(to: key))
        try fromDER.checkConsistency()
        // A public key cannot be written as a private one, nor sign.
        #expect(throws: OpenSSLError.self) { try fromDER.privateKeyPEM() }
        #expect(throws: OpenSSLError.self) { try fromDER.privateKeyDER() }
        #expect(throws: OpenSSLError.self) { try fromDER.sign([1, 2, 3]) }
        expectErrorQueueEmpty()
    }

    @Test("X01 keys written by the openssl command load here, and ours load there")
    func interoperateWithOpenSSLCommand() throws {
        let directory = try TemporaryDirectory()
        let commands: [(String, [String])] = [
            ("rsa-trad.pem", ["genrsa", "-traditional", "-out", directory.path("rsa-trad.pem"), "2048"]),
            (
                "rsa-pkcs8.pem",
                ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", directory.path("rsa-pkcs8.pem")]
            ),
            ("ec.pem", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", directory.path("ec.pem")]),
            ("ed448.pem", ["genpkey", "-algorithm", "ED448", "-out", directory.path("ed448.pem")]),
        ]
        for (name, arguments) in commands {
            try ExternalTool.openssl(arguments)
            let key = try PKey(privateKeyPEM: try Data(contentsOf: URL(fileURLWithPath: directory.path(name))))
            let publicPEM = try ExternalTool.openssl(["pkey", "-in", directory.path(name), "-pubout"])
            #expect(try key.publicKeyPEM() == publicPEM, "\(name)")
            try ExternalTool.openssl([
                "pkey", "-in", directory.path(name), "-outform", "DER", "-out", directory.path(name + ".der"),
            ])
            let der = try Data(contentsOf: URL(fileURLWithPath: directory.path(name + ".der")))
            #expect(try PKey(privateKeyDER: der).isPublicKeyEqual(to: key), "\(name) as DER")
        }
        // Ours, read by openssl.
        let mine = try PKey.generate(.ec(.p384))
        let path = try directory.write("mine.pem", try mine.privateKeyPEM(passphrase: "hunter2"))
        let text = try ExternalTool.openssl(["pkey", "-in", path, "-passin", "pass:hunter2", "-pubout"])
        #expect(text == (try mine.publicKeyPEM()))
        let wrong = try ExternalTool.run("/usr/bin/openssl", ["pkey", "-in", path, "-passin", "pass:nope", "-noout"])
        #expect(wrong.status != 0)
    }

    @Test(
        "X02 encrypted keys: right passphrase loads, wrong, missing and throwing each fail their own way",
        arguments: [PKey.PrivateKeyFormat.pkcs8, .traditional])
    func encryptedPEM(format: PKey.PrivateKeyFormat) throws {
        let key = try PKey.generate(.ec(.p256))
        let pem = try key.privateKeyPEM(format: format, passphrase: "correct horse")
        if format == .pkcs8 {
            #expect(pem.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        } else {
            #expect(pem.contains("Proc-Type: 4,ENCRYPTED"))
        }
        #expect(try PKey(privateKeyPEM: pem, passphrase: "correct horse").isPublicKeyEqual(to: key))
        #expect(
            try PKey(privateKeyPEM: pem, passphrase: .callback { _ in Array("correct horse".utf8) })
                .isPublicKeyEqual(to: key))

        let wrong = try #require(throws: PassphraseError.self) { try PKey(privateKeyPEM: pem, passphrase: "wrong") }
        guard case .incorrect(let reason) = wrong else {
            Issue.record("expected .incorrect, got \(wrong)")
            return
        }
        #expect(!reason.entries.isEmpty)
        expectErrorQueueEmpty()

        let missing = try #require(throws: PassphraseError.self) { try PKey(privateKeyPEM: pem) }
        #expect(missing == .required(operation: "read private key (PEM)"))
        expectErrorQueueEmpty()

        struct Refused: Error, Equatable { let why: String }
        let thrown = try #require(throws: Refused.self) {
            try PKey(privateKeyPEM: pem, passphrase: .callback { _ in throw Refused(why: "vault locked") })
        }
        #expect(thrown == Refused(why: "vault locked"))
        expectErrorQueueEmpty()

        let empty = try #require(throws: PassphraseError.self) {
            try PKey(privateKeyPEM: pem, passphrase: .callback { _ in [] })
        }
        #expect(empty == .empty(operation: "read private key (PEM)"))
        expectErrorQueueEmpty()
    }

    @Test("X02 encrypted PKCS#8 DER: right, wrong and missing passphrase")
    func encryptedDER() throws {
        let key = try PKey.generate(.ed25519)
        let der = try key.privateKeyDER(passphrase: Passphrase(bytes: [0, 1, 2, 255]))
        #expect(try PKey(privateKeyDER: der, passphrase: Passphrase(bytes: [0, 1, 2, 255])).isPublicKeyEqual(to: key))
        let wrong = try #require(throws: PassphraseError.self) { try PKey(privateKeyDER: der, passphrase: "x") }
        if case .incorrect = wrong {} else { Issue.record("expected .incorrect, got \(wrong)") }
        #expect(
            try #require(throws: PassphraseError.self) { try PKey(privateKeyDER: der) }
                == .required(operation: "read private key (DER)"))
        #expect(throws: OpenSSLError.self) { try key.privateKeyDER(format: .traditional, passphrase: "x") }
        expectErrorQueueEmpty()
    }

    @Test("The passphrase callback is asked once, with OpenSSL's limit and what it is for; a long answer is refused, not cut")
    func passphraseCallbackContract() throws {
        let key = try PKey.generate(.ec(.p256))
        let long = Array(String(repeating: "p", count: 2000).utf8)
        let limit = LockedBox(0)
        let calls = LockedBox<[Bool]>([])
        // Writing: the callback is told it encrypts; more than the limit is refused.
        let tooLong = try #require(throws: PassphraseError.self) {
            try key.privateKeyPEM(
                passphrase: .callback { max, isWriting in
                    limit.set(max)
                    calls.mutate { $0.append(isWriting) }
                    return long
                })
        }
        #expect(calls.get() == [true])
        #expect(limit.get() > 0 && limit.get() < 2000)
        guard case .tooLong(_, let length, let maximum) = tooLong else {
            Issue.record("expected tooLong, got \(tooLong)")
            return
        }
        #expect(length == 2000 && maximum == limit.get())
        // At the limit it works both ways; reading, the callback is told it decrypts.
        let fitting = Array(long.prefix(limit.get()))
        let pem = try key.privateKeyPEM(passphrase: .callback { _ in fitting })
        let reads = LockedBox<[Bool]>([])
        let back = try PKey(
            privateKeyPEM: pem,
            passphrase: .callback { _, isWriting in
                reads.mutate { $0.append(isWriting) }
                return fitting
            })
        #expect(reads.get() == [false])
        #expect(back.isPublicKeyEqual(to: key))
        // A fixed passphrase that is too long is refused the same way.
        #expect(throws: PassphraseError.self) { try PKey(privateKeyPEM: pem, passphrase: Passphrase(bytes: long)) }
        expectErrorQueueEmpty()
    }

    static let badKeyInputs: [(String, [UInt8])] = [
        ("empty", []),
        ("garbage", Array("not a key at all".utf8)),
        ("truncated PEM", Array("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+hm4CZ\n".utf8)),
        ("certificate PEM", Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8)),
        ("DER junk", [0x30, 0x82, 0xff, 0xff, 0x02, 0x01]),
    ]

    @Test("X06 bad key input throws OpenSSLError and leaves the queue empty", arguments: 0..<badKeyInputs.count)
    func badKeyInput(index: Int) throws {
        let (label, bytes) = Self.badKeyInputs[index]
        #expect(throws: OpenSSLError.self, "\(label)") { try PKey(privateKeyPEM: bytes, passphrase: "x") }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self, "\(label)") { try PKey(privateKeyDER: bytes) }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self, "\(label)") { try PKey(publicKeyPEM: bytes) }
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self, "\(label)") { try PKey(publicKeyDER: bytes) }
        expectErrorQueueEmpty()
    }

    @Test("A private key is not a public key and the reverse")
    func wrongKind() throws {
        let key = try PKey.generate(.ec(.p256))
        #expect(throws: OpenSSLError.self) { try PKey(publicKeyPEM: try key.privateKeyPEM()) }
        #expect(throws: OpenSSLError.self) { try PKey(privateKeyPEM: try key.publicKeyPEM()) }
        #expect(throws: OpenSSLError.self) { try PKey(privateKeyDER: try key.publicKeyDER()) }
        expectErrorQueueEmpty()
    }

    @Test("Sign and verify with every key type and digest choice")
    func signAndVerify() throws {
        let message = Array("the quick brown fox".utf8)
        let cases: [(PKey.Specification, [MessageDigest?])] = [
            (.rsa(bits: 2048), [nil, .sha256, .sha384, .sha512, .sha1]),
            (.ec(.p256), [nil, .sha256, .sha384]),
            (.ec(.p384), [.sha384]),
            (.ed25519, [nil]),
            (.ed448, [nil]),
        ]
        for (specification, digests) in cases {
            let key = try PKey.generate(specification)
            let publicKey = try key.publicKey()
            for digest in digests {
                let signature = try key.sign(message, digest: digest)
                #expect(try publicKey.verify(signature: signature, for: message, digest: digest))
                #expect(try !publicKey.verify(signature: signature, for: message + [0], digest: digest))
                var tampered = signature
                tampered[tampered.count / 2] ^= 0x01
                #expect(try !publicKey.verify(signature: tampered, for: message, digest: digest))
                #expect(try !publicKey.verify(signature: [], for: message, digest: digest))
            }
            // Another key does not verify it.
            let other = try PKey.generate(specification)
            #expect(try !other.verify(signature: try key.sign(message), for: message))
        }
        // EdDSA takes no digest; an unknown digest is refused.
        let ed = try PKey.generate(.ed25519)
        #expect(throws: OpenSSLError.self) { try ed.sign(message, digest: .sha256) }
        let ec = try PKey.generate(.ec(.p256))
        #expect(throws: OpenSSLError.self) { try ec.sign(message, digest: MessageDigest("no-such-digest")) }
        #expect(throws: OpenSSLError.self) { try ec.verify(signature: [1], for: message, digest: MessageDigest("nope")) }
        expectErrorQueueEmpty()
    }

    @Test("Keys match their certificates; equality is by public key")
    func consistencyAndEquality() throws {
        let a = try PKey.generate(.ec(.p256))
        let b = try PKey.generate(.ec(.p256))
        #expect(a.isPublicKeyEqual(to: a))
        #expect(!a.isPublicKeyEqual(to: b))
        #expect(!a.isPublicKeyEqual(to: try PKey.generate(.ed25519)))
        let certificate = try X509(pem: try Fixtures.bytes("ed25519.pem"))
        let error = try #require(throws: OpenSSLError.self) { try certificate.checkPrivateKey(a) }
        #expect(!error.entries.isEmpty)
        expectErrorQueueEmpty()
    }

    @Test("Message digests hash like the openssl command")
    func messageDigests() throws {
        let data = Array("abc".utf8)
        #expect(
            Hex.encode(try MessageDigest.sha256.hash(data))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try MessageDigest.sha512.size == 64)
        #expect(try MessageDigest("sha3-256").hash(data).count == 32)
        #expect(throws: OpenSSLError.self) { try MessageDigest("whirlpool-9000").hash(data) }
        expectErrorQueueEmpty()
    }
}
