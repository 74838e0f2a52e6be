import Crypto
import Foundation
import OpenSSL
import OpenSSLCertificates
import Testing
import X509
import _CryptoExtras
import TestSupport

/// B02: keys cross to swift-crypto and swift-certificates and back; a
/// signature made on either side verifies on the other.
@Suite("Bridge: keys and signatures")
struct KeyBridgeTests {
    static let message = Array("a JWT's signing input, say".utf8)

    @Test("B02 P-256, P-384 and P-521 keys cross both ways; signatures verify across")
    func ecdsaKeysCross() throws {
        // P-256
        do {
            let key = try PKey.generate(.ec(.p256))
            let crypto = try P256.Signing.PrivateKey(key)
            #expect(Array(crypto.publicKey.derRepresentation) == (try key.publicKeyDER()))
            let theirs = try crypto.signature(for: Self.message)
            #expect(try key.verify(signature: Array(theirs.derRepresentation), for: Self.message, digest: .sha256))
            let ours = try P256.Signing.ECDSASignature(derRepresentation: try key.sign(Self.message, digest: .sha256))
            #expect(crypto.publicKey.isValidSignature(ours, for: Self.message))
            #expect(!crypto.publicKey.isValidSignature(ours, for: Self.message + [0]))
            let back = try PKey(crypto)
            #expect(try back.privateKeyDER() == (try key.privateKeyDER()))
        }
        // P-384
        do {
            let crypto = P384.Signing.PrivateKey()
            let key = try PKey(crypto)
            #expect(key.curveName == "secp384r1")
            #expect(try P384.Signing.PrivateKey(key).rawRepresentation == crypto.rawRepresentation)
            let theirs = try crypto.signature(for: Self.message)
            #expect(try key.verify(signature: Array(theirs.derRepresentation), for: Self.message, digest: .sha384))
            let ours = try P384.Signing.ECDSASignature(derRepresentation: try key.sign(Self.message, digest: .sha384))
            #expect(crypto.publicKey.isValidSignature(ours, for: Self.message))
        }
        // P-521
        do {
            let key = try PKey.generate(.ec(.p521))
            let crypto = try P521.Signing.PrivateKey(key)
            let theirs = try crypto.signature(for: Self.message)
            #expect(try key.verify(signature: Array(theirs.derRepresentation), for: Self.message, digest: .sha512))
            let ours = try P521.Signing.ECDSASignature(derRepresentation: try key.sign(Self.message, digest: .sha512))
            #expect(crypto.publicKey.isValidSignature(ours, for: Self.message))
            #expect(try PKey(crypto).isPublicKeyEqual(to: key))
        }
    }

    @Test("B02 Ed25519 keys cross both ways; signatures are the same bytes on both sides")
    func ed25519KeysCross() throws {
        let key = try PKey.generate(.ed25519)
        let crypto = try Curve25519.Signing.PrivateKey(key)
        #expect(try PKey(crypto).privateKeyDER() == (try key.privateKeyDER()))
        // Ed25519 is deterministic: both libraries make the same signature.
        let ours = try key.sign(Self.message)
        let theirs = try crypto.signature(for: Self.message)
        #expect(Array(theirs) == ours)
        #expect(crypto.publicKey.isValidSignature(ours, for: Self.message))
        #expect(try key.verify(signature: theirs, for: Self.message))
        #expect(try !key.verify(signature: theirs, for: Self.message + [0]))

        let fresh = Curve25519.Signing.PrivateKey()
        let freshKey = try PKey(fresh)
        #expect(try freshKey.sign(Self.message) == Array(try fresh.signature(for: Self.message)))
    }

    @Test("B02 RSA keys cross both ways; PKCS#1 v1.5 and PSS signatures verify across")
    func rsaKeysCross() throws {
        let key = try PKey.generate(.rsa(bits: 2048))
        let crypto = try _RSA.Signing.PrivateKey(key)
        #expect(crypto.keySizeInBits == 2048)
        #expect(try PKey(crypto).isPublicKeyEqual(to: key))
        // PKCS#1 v1.5 with SHA-256: OpenSSL's default for RSA, and what RS256 JWTs use.
        let theirs = try crypto.signature(for: Self.message, padding: .insecurePKCS1v1_5)
        #expect(try key.verify(signature: theirs.rawRepresentation, for: Self.message, digest: .sha256))
        let ours = _RSA.Signing.RSASignature(rawRepresentation: try key.sign(Self.message, digest: .sha256))
        #expect(crypto.publicKey.isValidSignature(ours, for: Self.message, padding: .insecurePKCS1v1_5))
        #expect(!crypto.publicKey.isValidSignature(ours, for: Self.message, padding: .PSS))
        // A PSS signature from swift-crypto verifies through the public key as Certificate.PublicKey.
        let pss = try crypto.signature(for: Self.message, padding: .PSS)
        #expect(crypto.publicKey.isValidSignature(pss, for: Self.message, padding: .PSS))
        let publicKey = try Certificate.PublicKey(key)
        #expect(_RSA.Signing.PublicKey(publicKey)?.derRepresentation == crypto.publicKey.derRepresentation)
    }

    @Test("B02 public keys and Certificate.PrivateKey cross; swift-certificates signs with an OpenSSL key")
    func certificateKeysCross() throws {
        for specification: PKey.Specification in [.ec(.p256), .ec(.p384), .ec(.p521), .ed25519, .rsa(bits: 2048)] {
            let key = try PKey.generate(specification)
            let publicKey = try Certificate.PublicKey(key)
            #expect(try derOf(publicKey) == key.publicKeyDER(), "\(specification)")
            #expect(try PKey(publicKey).publicKeyDER() == key.publicKeyDER())
            #expect(try !PKey(publicKey).hasPrivateKey)

            let privateKey = try Certificate.PrivateKey(key)
            #expect(privateKey.publicKey == publicKey)
            #expect(try PKey(privateKey).isPublicKeyEqual(to: key))
            #expect(try PKey(privateKey).hasPrivateKey)
            // A request signed by swift-certificates with the crossed key verifies in OpenSSL.
            let algorithm = try #require(privateKey.supportedSignatureAlgorithms.first)
            let csr = try CertificateSigningRequest(
                version: .v1, subject: try DistinguishedName { CommonName("key.example") },
                privateKey: privateKey, attributes: CertificateSigningRequest.Attributes(),
                signatureAlgorithm: algorithm)
            let request = try X509Request(csr)
            #expect(request.isSignatureValid, "\(specification)")
            #expect(request.isSigned(by: key))
        }
        // The public key of a certificate reads the same on both sides.
        let pki = TestPKI.shared
        for x509 in [pki.server, pki.rsaServer, pki.ed25519Server] {
            #expect(try Certificate(x509).publicKey == (try Certificate.PublicKey(x509.publicKey)))
        }
    }

    @Test("B02 a key with no counterpart, of the wrong type or public only is refused with a typed error")
    func refusedKeys() throws {
        func code(_ body: () throws -> Void) -> CertificateBridgeError.Code? {
            do {
                try body()
                return nil
            } catch let error as CertificateBridgeError {
                #expect(!error.detail.isEmpty)
                return error.code
            } catch {
                Issue.record("not a CertificateBridgeError: \(error)")
                return nil
            }
        }
        let ed448 = try PKey.generate(.ed448)
        #expect(code { _ = try Curve25519.Signing.PrivateKey(ed448) } == .noCounterpart)
        #expect(code { _ = try Certificate.PrivateKey(ed448) } == .noCounterpart)
        #expect(code { _ = try Certificate.PublicKey(ed448) } == .noCounterpart)
        let secp256k1 = try PKey.generate(.ec(.secp256k1))
        #expect(code { _ = try P256.Signing.PrivateKey(secp256k1) } == .noCounterpart)
        #expect(code { _ = try Certificate.PublicKey(secp256k1) } == .noCounterpart)

        let p384 = try PKey.generate(.ec(.p384))
        #expect(code { _ = try P256.Signing.PrivateKey(p384) } == .wrongKeyType)
        #expect(code { _ = try _RSA.Signing.PrivateKey(p384) } == .wrongKeyType)
        let publicOnly = try p384.publicKey()
        #expect(code { _ = try P384.Signing.PrivateKey(publicOnly) } == .notAPrivateKey)
        #expect(code { _ = try Certificate.PrivateKey(publicOnly) } == .notAPrivateKey)
        // swift-crypto refuses RSA keys under 2048 bits; its reason comes through.
        let small = try PKey.generate(.rsa(bits: 1024))
        #expect(code { _ = try _RSA.Signing.PrivateKey(small) } == .refused)

        let error = CertificateBridgeError(
            .noCounterpart, operation: "PKey to P256.Signing.PrivateKey",
            detail: "swift-crypto has no signing key of type ED448")
        #expect(
            error.description == "PKey to P256.Signing.PrivateKey: no counterpart: swift-crypto has no signing key of type ED448")
    }
}
