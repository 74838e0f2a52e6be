import Crypto
import Foundation
import OpenSSL
import SwiftASN1
import X509
import _CryptoExtras

// Keys cross as DER: SubjectPublicKeyInfo for public keys, PKCS#8 (or the
// algorithm's own structure, which OpenSSL also reads) for private keys.
// Private key bytes pass through ordinary arrays on the way: as with
// pyOpenSSL's `to_cryptography_key()`, both sides then hold the key.

/// Where a key sits among swift-crypto's signing key types.
enum SwiftCryptoKind: String {
    case p256 = "P-256", p384 = "P-384", p521 = "P-521", ed25519 = "Ed25519", rsa = "RSA"
}

extension PKey {
    /// The swift-crypto signing key type this key would be, or a
    /// `CertificateBridgeError.noCounterpart` naming what it is.
    func swiftCryptoKind(_ operation: String) throws(CertificateBridgeError) -> SwiftCryptoKind {
        switch type {
        case .rsa: return .rsa
        case .ed25519: return .ed25519
        case .ec:
            switch curveName {
            case "prime256v1": return .p256
            case "secp384r1": return .p384
            case "secp521r1": return .p521
            default:
                throw CertificateBridgeError(
                    .noCounterpart, operation: operation,
                    detail: "swift-crypto has no signing key on curve \(curveName ?? "(explicit parameters)")")
            }
        default:
            throw CertificateBridgeError(
                .noCounterpart, operation: operation,
                detail: "swift-crypto has no signing key of type \(typeName)")
        }
    }

    /// The PKCS#8 DER of this private key, after checking it is one of `kind`.
    func pkcs8DER(as kind: SwiftCryptoKind, _ operation: String) throws -> [UInt8] {
        let actual = try swiftCryptoKind(operation)
        guard actual == kind else {
            throw CertificateBridgeError(
                .wrongKeyType, operation: operation,
                detail: "the key is \(actual.rawValue), not \(kind.rawValue)")
        }
        guard hasPrivateKey else {
            throw CertificateBridgeError(
                .notAPrivateKey, operation: operation,
                detail: "the \(kind.rawValue) key holds only a public key")
        }
        return try privateKeyDER(format: .pkcs8)
    }
}

// MARK: - Public keys

extension Certificate.PublicKey {
    /// The same public key as swift-certificates' `Certificate.PublicKey`
    /// (from the SubjectPublicKeyInfo; a private `PKey` gives its public half).
    ///
    /// - Throws: `CertificateBridgeError.noCounterpart` for a key type
    ///   swift-certificates does not have (Ed448, X25519, DSA, secp256k1, …),
    ///   `OpenSSLError` when OpenSSL cannot encode the key.
    public init(_ key: PKey) throws {
        let operation = "PKey to Certificate.PublicKey"
        _ = try key.swiftCryptoKind(operation)
        let spki = try key.publicKeyDER()
        self = try bridging(operation) { try Certificate.PublicKey(derEncoded: spki) }
    }
}

extension PKey {
    /// The same public key as an OpenSSL `PKey` (public only).
    /// - Throws: `CertificateBridgeError.refused` when the key cannot be
    ///   serialized, `OpenSSLError` when OpenSSL refuses it.
    public convenience init(_ publicKey: Certificate.PublicKey) throws {
        try self.init(publicKeyDER: try derBytes(of: publicKey, "Certificate.PublicKey to PKey"))
    }

    /// The same private key as an OpenSSL `PKey`.
    /// - Throws: `CertificateBridgeError.refused` when swift-certificates cannot
    ///   serialize it (a custom or Secure Enclave key), `OpenSSLError` when
    ///   OpenSSL refuses it.
    public convenience init(_ privateKey: Certificate.PrivateKey) throws {
        let pem = try bridging("Certificate.PrivateKey to PKey") { try privateKey.serializeAsPEM().pemString }
        try self.init(privateKeyPEM: pem)
    }

    /// The same P-256 private key as an OpenSSL `PKey`.
    /// - Throws: `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ privateKey: P256.Signing.PrivateKey) throws {
        try self.init(privateKeyDER: Array(privateKey.derRepresentation))
    }

    /// The same P-384 private key as an OpenSSL `PKey`.
    /// - Throws: `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ privateKey: P384.Signing.PrivateKey) throws {
        try self.init(privateKeyDER: Array(privateKey.derRepresentation))
    }

    /// The same P-521 private key as an OpenSSL `PKey`.
    /// - Throws: `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ privateKey: P521.Signing.PrivateKey) throws {
        try self.init(privateKeyDER: Array(privateKey.derRepresentation))
    }

    /// The same RSA private key as an OpenSSL `PKey`.
    /// - Throws: `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ privateKey: _RSA.Signing.PrivateKey) throws {
        try self.init(privateKeyDER: Array(privateKey.derRepresentation))
    }

    /// The same Ed25519 private key as an OpenSSL `PKey`.
    /// - Throws: `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ privateKey: Curve25519.Signing.PrivateKey) throws {
        try self.init(privateKeyDER: ed25519PKCS8Prefix + Array(privateKey.rawRepresentation))
    }
}

/// PKCS#8 v1 for Ed25519 (RFC 8410, section 7) up to the 32 key bytes:
/// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
private let ed25519PKCS8Prefix: [UInt8] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]

/// The private key bytes inside a PKCS#8 PrivateKeyInfo (its third element,
/// an OCTET STRING) — for Ed25519, itself an OCTET STRING of 32 bytes.
private func pkcs8InnerKey(_ der: [UInt8]) throws -> ArraySlice<UInt8> {
    let root = try DER.parse(der)
    guard case .constructed(let children) = root.content else {
        throw ASN1Error.invalidASN1Object(reason: "PKCS#8 is not a SEQUENCE")
    }
    let nodes = Array(children)
    guard nodes.count >= 3, nodes[2].identifier == .octetString else {
        throw ASN1Error.invalidASN1Object(reason: "PKCS#8 has no privateKey OCTET STRING")
    }
    let outer = try ASN1OctetString(derEncoded: nodes[2])
    return try ASN1OctetString(derEncoded: outer.bytes).bytes
}

// MARK: - Private keys

extension Certificate.PrivateKey {
    /// The same private key as swift-certificates' `Certificate.PrivateKey`
    /// (P-256, P-384, P-521, RSA or Ed25519), to sign certificates and
    /// requests with swift-certificates.
    ///
    /// - Throws: `CertificateBridgeError.noCounterpart` for another key type
    ///   (Ed448, X25519, DSA, secp256k1, …), `.notAPrivateKey` for a public key.
    public init(_ key: PKey) throws {
        let operation = "PKey to Certificate.PrivateKey"
        let kind = try key.swiftCryptoKind(operation)
        let der = try key.pkcs8DER(as: kind, operation)
        self = try bridging(operation) { try Certificate.PrivateKey(derBytes: der) }
    }
}

extension P256.Signing.PrivateKey {
    /// The same private key as swift-crypto's `P256.Signing.PrivateKey`
    /// (pyOpenSSL's `PKey.to_cryptography_key()`).
    /// - Throws: `CertificateBridgeError.wrongKeyType` for a key on another
    ///   curve or of another type, `.noCounterpart` for one swift-crypto does
    ///   not have, `.notAPrivateKey` for a public key.
    public init(_ key: PKey) throws {
        let operation = "PKey to P256.Signing.PrivateKey"
        let der = try key.pkcs8DER(as: .p256, operation)
        self = try bridging(operation) { try P256.Signing.PrivateKey(derRepresentation: der) }
    }
}

extension P384.Signing.PrivateKey {
    /// The same private key as swift-crypto's `P384.Signing.PrivateKey`.
    /// - Throws: as `P256.Signing.PrivateKey.init(_: PKey)`.
    public init(_ key: PKey) throws {
        let operation = "PKey to P384.Signing.PrivateKey"
        let der = try key.pkcs8DER(as: .p384, operation)
        self = try bridging(operation) { try P384.Signing.PrivateKey(derRepresentation: der) }
    }
}

extension P521.Signing.PrivateKey {
    /// The same private key as swift-crypto's `P521.Signing.PrivateKey`.
    /// - Throws: as `P256.Signing.PrivateKey.init(_: PKey)`.
    public init(_ key: PKey) throws {
        let operation = "PKey to P521.Signing.PrivateKey"
        let der = try key.pkcs8DER(as: .p521, operation)
        self = try bridging(operation) { try P521.Signing.PrivateKey(derRepresentation: der) }
    }
}

extension _RSA.Signing.PrivateKey {
    /// The same private key as swift-crypto's `_RSA.Signing.PrivateKey`.
    /// - Throws: as `P256.Signing.PrivateKey.init(_: PKey)`; and
    ///   `CertificateBridgeError.refused` for a key swift-crypto refuses (one
    ///   under 2048 bits). An RSA-PSS key (`PKey.KeyType.rsaPSS`) has no
    ///   counterpart: swift-crypto's RSA keys carry no PSS restriction.
    public init(_ key: PKey) throws {
        let operation = "PKey to _RSA.Signing.PrivateKey"
        let der = try key.pkcs8DER(as: .rsa, operation)
        self = try bridging(operation) { try _RSA.Signing.PrivateKey(derRepresentation: der) }
    }
}

extension Curve25519.Signing.PrivateKey {
    /// The same private key as swift-crypto's `Curve25519.Signing.PrivateKey` (Ed25519).
    /// - Throws: as `P256.Signing.PrivateKey.init(_: PKey)`.
    public init(_ key: PKey) throws {
        let operation = "PKey to Curve25519.Signing.PrivateKey"
        let der = try key.pkcs8DER(as: .ed25519, operation)
        self = try bridging(operation) {
            try Curve25519.Signing.PrivateKey(rawRepresentation: try pkcs8InnerKey(der))
        }
    }
}
