import Foundation
internal import COpenSSL

/// A public or private key (OpenSSL's `EVP_PKEY`): RSA, RSA-PSS, EC, Ed25519, Ed448, …
///
/// Generate one with `PKey.generate(_:)`, load one from PEM or DER, write it
/// back out, sign and verify. A `PKey` is immutable once made and can be
/// shared between threads.
public final class PKey: @unchecked Sendable {  // immutable after init; EVP_PKEY is safe for concurrent reads
    let handle: OwnedPointer<PKeyKind>
    var raw: OpaquePointer { handle.raw }

    /// True when this key holds a private part (it was generated or loaded as
    /// a private key), false for a public key (loaded as one, or taken from
    /// a certificate).
    public let hasPrivateKey: Bool

    init(takingOwnership pointer: OpaquePointer, hasPrivateKey: Bool) {
        handle = OwnedPointer(takingOwnership: pointer)
        self.hasPrivateKey = hasPrivateKey
    }

    /// Wraps a key someone else owns, taking a reference of our own.
    init(borrowing pointer: OpaquePointer, hasPrivateKey: Bool) throws {
        guard let owned = OwnedPointer<PKeyKind>(borrowing: pointer) else {
            throw ErrorQueue.drain("take a reference to a key")
        }
        handle = owned
        self.hasPrivateKey = hasPrivateKey
    }

    // MARK: Kinds of key

    /// A key algorithm, by OpenSSL's key type id (`EVP_PKEY_get_base_id(3)`).
    /// A struct rather than an enum, so a key type this library does not
    /// list still has a value and never breaks a `switch`.
    public struct KeyType: Sendable, Hashable, CustomStringConvertible {
        /// OpenSSL's numeric id (an NID).
        public let rawValue: Int32
        /// Makes a type from OpenSSL's id.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// RSA (`EVP_PKEY_RSA`).
        public static let rsa = KeyType(rawValue: EVP_PKEY_RSA)
        /// RSA restricted to PSS signatures (`EVP_PKEY_RSA_PSS`).
        public static let rsaPSS = KeyType(rawValue: EVP_PKEY_RSA_PSS)
        /// An elliptic-curve key on a named curve (`EVP_PKEY_EC`).
        public static let ec = KeyType(rawValue: EVP_PKEY_EC)
        /// Ed25519 (RFC 8032).
        public static let ed25519 = KeyType(rawValue: EVP_PKEY_ED25519)
        /// Ed448 (RFC 8032).
        public static let ed448 = KeyType(rawValue: EVP_PKEY_ED448)
        /// X25519, key agreement only (RFC 7748).
        public static let x25519 = KeyType(rawValue: EVP_PKEY_X25519)
        /// X448, key agreement only (RFC 7748).
        public static let x448 = KeyType(rawValue: EVP_PKEY_X448)
        /// DSA.
        public static let dsa = KeyType(rawValue: EVP_PKEY_DSA)
        /// Finite-field Diffie-Hellman, key agreement only.
        public static let dh = KeyType(rawValue: EVP_PKEY_DH)

        /// OpenSSL's short name for the type ("rsaEncryption" → "RSA" style names are in `PKey.typeName`).
        public var description: String {
            guard let sn = OBJ_nid2sn(rawValue) else { return "type \(rawValue)" }
            return String(cString: sn)
        }
    }

    /// A named elliptic curve.
    public struct Curve: Sendable, Hashable, CustomStringConvertible {
        /// The name OpenSSL knows the curve by ("P-256", "prime256v1", "secp384r1", …).
        public let name: String
        /// Names a curve: a NIST name ("P-256"), a short name ("prime256v1",
        /// "secp384r1") or a long one, of a curve this OpenSSL has built in.
        /// - Throws: `UnknownNameError` (kind `.curve`) for any other name.
        /// - SeeAlso: EC_curve_nist2nid(3), OBJ_sn2nid(3), EC_get_builtin_curves(3)
        public init(_ name: String) throws(UnknownNameError) {
            guard Curve.builtInNIDs.contains(Curve.nid(of: name)) else {
                throw UnknownNameError(kind: .curve, name: name)
            }
            self.name = name
        }

        private init(known name: String) {
            self.name = name
        }

        /// NIST P-256 (prime256v1, secp256r1).
        public static let p256 = Curve(known: "P-256")
        /// NIST P-384 (secp384r1).
        public static let p384 = Curve(known: "P-384")
        /// NIST P-521 (secp521r1).
        public static let p521 = Curve(known: "P-521")
        /// secp256k1, the curve of Bitcoin's signatures.
        public static let secp256k1 = Curve(known: "secp256k1")

        /// The NID of a curve name in any of the spellings `init` accepts (NID_undef if none).
        private static func nid(of name: String) -> Int32 {
            let nist = EC_curve_nist2nid(name)
            if nist != NID_undef { return nist }
            let short = OBJ_sn2nid(name)
            if short != NID_undef { return short }
            let long = OBJ_ln2nid(name)
            ErrorQueue.clear()
            return long
        }

        /// The NIDs of the built-in curves (read once).
        private static let builtInNIDs: Set<Int32> = Set(builtInCurves().map(\.nid))

        private static func builtInCurves() -> [EC_builtin_curve] {
            let count = EC_get_builtin_curves(nil, 0)
            var curves = [EC_builtin_curve](repeating: EC_builtin_curve(), count: count)
            let filled = EC_get_builtin_curves(&curves, count)
            return Array(curves.prefix(filled))
        }

        public var description: String { name }

        /// Every named curve this OpenSSL has built in, by short name
        /// ("prime256v1", "secp384r1", …); any of them can be passed to `Curve(_:)`.
        /// - SeeAlso: EC_get_builtin_curves(3)
        public static var builtIn: [Curve] {
            builtInCurves().compactMap { curve in
                OBJ_nid2sn(curve.nid).map { Curve(known: String(cString: $0)) }
            }
        }
    }

    /// What `generate(_:)` makes.
    public enum Specification: Sendable, Hashable {
        /// RSA with this modulus size in bits (2048 or more is sensible) and public exponent 65537.
        case rsa(bits: Int)
        /// EC on a named curve.
        case ec(Curve)
        /// Ed25519 (signatures take no digest).
        case ed25519
        /// Ed448 (signatures take no digest).
        case ed448
    }

    /// Generates a new private key.
    /// - Throws: `OpenSSLError` for an unknown curve or a size OpenSSL refuses.
    /// - SeeAlso: EVP_PKEY_keygen(3), EVP_PKEY_CTX_set_rsa_keygen_bits(3), EVP_PKEY_CTX_set_group_name(3)
    public static func generate(_ specification: Specification) throws -> PKey {
        let operation = "generate \(specification) key"
        // OpenSSL keeps this pointer in the EVP_PKEY_CTX without copying it:
        // it must outlive the context, so it points at a static literal, never
        // at a temporary C string made from a Swift String.
        let algorithm: StaticString
        switch specification {
        case .rsa: algorithm = "RSA"
        case .ec: algorithm = "EC"
        case .ed25519: algorithm = "ED25519"
        case .ed448: algorithm = "ED448"
        }
        let context = try ErrorQueue.call(operation) { EVP_PKEY_CTX_new_from_name(nil, algorithm.cString, nil) }
        defer { EVP_PKEY_CTX_free(context) }
        try ErrorQueue.check(operation) { EVP_PKEY_keygen_init(context) }
        switch specification {
        case .rsa(let bits):
            guard bits > 0, bits <= 16384 else {
                throw OpenSSLError(operation: operation, detail: "RSA key size \(bits) is out of range")
            }
            try ErrorQueue.check(operation) { EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) }
        case .ec(let curve):
            try ErrorQueue.check("\(operation): unknown curve '\(curve.name)'") {
                EVP_PKEY_CTX_set_group_name(context, curve.name)
            }
        case .ed25519, .ed448:
            break
        }
        var key: OpaquePointer?
        try ErrorQueue.check(operation) { EVP_PKEY_generate(context, &key) }
        guard let key else { throw OpenSSLError(operation: operation, detail: "no key was produced") }
        return PKey(takingOwnership: key, hasPrivateKey: true)
    }

    // MARK: Properties

    /// The key's algorithm.
    public var type: KeyType { KeyType(rawValue: EVP_PKEY_get_base_id(raw)) }

    /// OpenSSL's name for the key's type: "RSA", "RSA-PSS", "EC", "ED25519", "ED448", "DSA", …
    /// - SeeAlso: EVP_PKEY_get0_type_name(3)
    public var typeName: String {
        guard let name = EVP_PKEY_get0_type_name(raw) else { return type.description }
        return String(cString: name)
    }

    /// The key size in bits (the modulus for RSA, the field for EC, 253 for Ed25519, 456 for Ed448).
    /// - SeeAlso: EVP_PKEY_get_bits(3)
    public var bits: Int { Int(EVP_PKEY_get_bits(raw)) }

    /// The curve's OpenSSL short name ("prime256v1", "secp384r1", …) for an EC key; nil otherwise.
    public var curveName: String? {
        guard EVP_PKEY_get_base_id(raw) == EVP_PKEY_EC else { return nil }
        var buffer = [CChar](repeating: 0, count: 80)
        var length = 0
        let ok = EVP_PKEY_get_utf8_string_param(raw, OSSL_PKEY_PARAM_GROUP_NAME, &buffer, buffer.count, &length)
        ErrorQueue.clear()
        guard ok == 1 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when both keys have the same public key (a private key and its
    /// public half compare equal).
    /// - SeeAlso: EVP_PKEY_eq(3)
    public func isPublicKeyEqual(to other: PKey) -> Bool {
        let result = EVP_PKEY_eq(raw, other.raw)
        ErrorQueue.clear()
        return result == 1
    }

    /// This key with its private part dropped.
    /// - Throws: `OpenSSLError` if the public key cannot be re-encoded.
    public func publicKey() throws -> PKey {
        try PKey(publicKeyDER: try publicKeyDER())
    }

    /// Checks that the key is well formed: for a private key, that the
    /// private and public parts belong together; for a public key, that the
    /// public part is valid.
    /// - Throws: `OpenSSLError` with OpenSSL's reason when they do not.
    /// - SeeAlso: EVP_PKEY_check(3), EVP_PKEY_public_check(3)
    public func checkConsistency() throws {
        let operation = hasPrivateKey ? "check private key" : "check public key"
        let context = try ErrorQueue.call(operation) { EVP_PKEY_CTX_new_from_pkey(nil, raw, nil) }
        defer { EVP_PKEY_CTX_free(context) }
        try ErrorQueue.check(operation) {
            hasPrivateKey ? EVP_PKEY_check(context) : EVP_PKEY_public_check(context)
        }
    }

    // MARK: Loading

    /// Loads a private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, `BEGIN
    /// ENCRYPTED PRIVATE KEY`) or a traditional form (`BEGIN RSA PRIVATE KEY`,
    /// `BEGIN EC PRIVATE KEY`, with or without `Proc-Type: 4,ENCRYPTED`).
    ///
    /// - Parameters:
    ///   - pem: The PEM text.
    ///   - passphrase: used only if the key is encrypted.
    /// - Throws: `PassphraseError` when the key is encrypted and the
    ///   passphrase is missing, empty or wrong; the passphrase closure's own
    ///   error if it throws; `OpenSSLError` for anything else (not PEM, no
    ///   key in it, a damaged key).
    /// - SeeAlso: PEM_read_bio_PrivateKey(3)
    public convenience init(privateKeyPEM pem: some ContiguousBytes, passphrase: Passphrase? = nil) throws {
        let key = try MemoryBIO.withReadOnly(pem) { bio in
            try PassphraseRequest.run(passphrase, operation: "read private key (PEM)") { userData in
                PEM_read_bio_PrivateKey(bio, nil, passphraseTrampoline, userData)
            }
        }
        self.init(takingOwnership: key, hasPrivateKey: true)
    }

    /// Loads a private key from PEM text. See `init(privateKeyPEM:passphrase:)`.
    public convenience init(privateKeyPEM pem: String, passphrase: Passphrase? = nil) throws {
        try self.init(privateKeyPEM: Array(pem.utf8), passphrase: passphrase)
    }

    /// Loads a private key from DER: PKCS#8 (plain or encrypted, then
    /// `passphrase` is needed) or a traditional RSA / EC structure.
    /// - Throws: as `init(privateKeyPEM:passphrase:)`.
    /// - SeeAlso: OSSL_DECODER_CTX_new_for_pkey(3)
    public convenience init(privateKeyDER der: some ContiguousBytes, passphrase: Passphrase? = nil) throws {
        let key = try PKey.decode(
            der, inputType: "DER", selection: EVP_PKEY_KEYPAIR_SELECTION,
            passphrase: passphrase, operation: "read private key (DER)")
        self.init(takingOwnership: key, hasPrivateKey: true)
    }

    /// Loads a public key from PEM (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY`).
    /// - Throws: `OpenSSLError` when the input is not a public key.
    /// - SeeAlso: PEM_read_bio_PUBKEY(3)
    public convenience init(publicKeyPEM pem: some ContiguousBytes) throws {
        let key = try MemoryBIO.withReadOnly(pem) { bio in
            try PassphraseRequest.run(nil, operation: "read public key (PEM)") { userData in
                PEM_read_bio_PUBKEY(bio, nil, passphraseTrampoline, userData)
            }
        }
        self.init(takingOwnership: key, hasPrivateKey: false)
    }

    /// Loads a public key from PEM text. See `init(publicKeyPEM:)`.
    public convenience init(publicKeyPEM pem: String) throws {
        try self.init(publicKeyPEM: Array(pem.utf8))
    }

    /// Loads a public key from DER (SubjectPublicKeyInfo).
    /// - Throws: `OpenSSLError` when the input is not a public key, or has trailing bytes.
    /// - SeeAlso: d2i_PUBKEY(3)
    public convenience init(publicKeyDER der: some ContiguousBytes) throws {
        let key = try MemoryBIO.fromDER(
            der, "read public key (DER)",
            decode: { d2i_PUBKEY(nil, $0, $1) }, free: { EVP_PKEY_free($0) })
        self.init(takingOwnership: key, hasPrivateKey: false)
    }

    /// `inputType` is static text because OpenSSL keeps the pointer in the
    /// decoder context (`OSSL_DECODER_CTX_set_input_type` stores it without a
    /// copy) and reads it again in `OSSL_DECODER_from_data`: a temporary C
    /// string made from a Swift String is gone by then, and the decoder read
    /// whatever had replaced it ("No supported data to decode. Input type:
    /// lib.c", seen under the thread sanitizer).
    private static func decode(
        _ bytes: some ContiguousBytes, inputType: StaticString, selection: Int32,
        passphrase: Passphrase?, operation: String
    ) throws -> OpaquePointer {
        try bytes.withUnsafeBytes { buffer in
            guard buffer.count > 0, let base = buffer.baseAddress else {
                throw OpenSSLError(operation: operation, detail: "empty input")
            }
            var key: OpaquePointer?
            let decoder = try ErrorQueue.call(operation) {
                OSSL_DECODER_CTX_new_for_pkey(&key, inputType.cString, nil, nil, selection, nil, nil)
            }
            defer { OSSL_DECODER_CTX_free(decoder) }
            return try PassphraseRequest.run(passphrase, operation: operation) { userData -> OpaquePointer? in
                guard OSSL_DECODER_CTX_set_pem_password_cb(decoder, passphraseTrampoline, userData) == 1 else { return nil }
                var cursor: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
                var remaining = buffer.count
                guard OSSL_DECODER_from_data(decoder, &cursor, &remaining) == 1, let key else {
                    if let key { EVP_PKEY_free(key) }
                    return nil
                }
                return key
            }
        }
    }

    // MARK: Writing

    /// How a private key is laid out.
    public enum PrivateKeyFormat: Sendable, Hashable {
        /// PKCS#8 (`BEGIN PRIVATE KEY` / `BEGIN ENCRYPTED PRIVATE KEY`): every key type.
        case pkcs8
        /// The algorithm's own structure (`BEGIN RSA PRIVATE KEY`, `BEGIN EC
        /// PRIVATE KEY`). Ed25519 and Ed448 have none; OpenSSL writes PKCS#8 for them.
        case traditional
    }

    /// The private key as PEM, optionally encrypted.
    ///
    /// - Parameters:
    ///   - format: PKCS#8 (default) or the traditional structure.
    ///   - passphrase: when given, the key is encrypted with `cipher`.
    ///   - cipher: the cipher for encryption, by OpenSSL name (default AES-256-CBC).
    /// - Throws: `OpenSSLError` for a public-only key, an unknown cipher, or an
    ///   empty passphrase (`PassphraseError.empty`).
    /// - SeeAlso: PEM_write_bio_PKCS8PrivateKey(3), PEM_write_bio_PrivateKey_traditional(3)
    public func privateKeyPEM(
        format: PrivateKeyFormat = .pkcs8, passphrase: Passphrase? = nil,
        cipher: String = "AES-256-CBC"
    ) throws -> String {
        let operation = "write private key (PEM)"
        try requirePrivate(operation)
        let encryption = try passphrase.map { _ in try PKey.fetchCipher(cipher, operation) }
        defer { if let encryption { EVP_CIPHER_free(encryption) } }
        return try MemoryBIO.collectString { bio in
            _ = try PassphraseRequest.run(passphrase, operation: operation) { userData -> Bool? in
                let ok: Int32
                switch hasTraditionalForm ? format : .pkcs8 {
                case .pkcs8:
                    ok = PEM_write_bio_PKCS8PrivateKey(
                        bio, raw, encryption, nil, 0,
                        encryption == nil ? nil : passphraseTrampoline, userData)
                case .traditional:
                    ok = PEM_write_bio_PrivateKey_traditional(
                        bio, raw, encryption, nil, 0,
                        encryption == nil ? nil : passphraseTrampoline, userData)
                }
                return ok == 1 ? true : nil
            }
        }
    }

    /// The private key as DER: PKCS#8 (optionally encrypted) or traditional.
    /// - Throws: `OpenSSLError` for a public-only key, or when encrypting a traditional key (DER has no place for it).
    /// - SeeAlso: i2d_PKCS8PrivateKey_bio(3), i2d_PrivateKey(3)
    public func privateKeyDER(
        format: PrivateKeyFormat = .pkcs8, passphrase: Passphrase? = nil,
        cipher: String = "AES-256-CBC"
    ) throws -> [UInt8] {
        let operation = "write private key (DER)"
        try requirePrivate(operation)
        switch format {
        case .traditional:
            guard passphrase == nil else {
                throw OpenSSLError(operation: operation, detail: "a traditional DER key cannot be encrypted; use PKCS#8")
            }
            return try MemoryBIO.der(operation) { i2d_PrivateKey(raw, $0) }
        case .pkcs8:
            let encryption = try passphrase.map { _ in try PKey.fetchCipher(cipher, operation) }
            defer { if let encryption { EVP_CIPHER_free(encryption) } }
            return try MemoryBIO.collect { bio in
                _ = try PassphraseRequest.run(passphrase, operation: operation) { userData -> Bool? in
                    i2d_PKCS8PrivateKey_bio(
                        bio, raw, encryption, nil, 0,
                        encryption == nil ? nil : passphraseTrampoline, userData) == 1 ? true : nil
                }
            }
        }
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo).
    /// - SeeAlso: PEM_write_bio_PUBKEY(3)
    public func publicKeyPEM() throws -> String {
        try MemoryBIO.collectString { bio in
            try ErrorQueue.check("write public key (PEM)") { PEM_write_bio_PUBKEY(bio, raw) }
        }
    }

    /// The public key as DER (SubjectPublicKeyInfo).
    /// - SeeAlso: i2d_PUBKEY(3)
    public func publicKeyDER() throws -> [UInt8] {
        try MemoryBIO.der("write public key (DER)") { i2d_PUBKEY(raw, $0) }
    }

    /// EdDSA and X25519/X448 keys exist only in PKCS#8; asked for the
    /// traditional form, they are written as PKCS#8 (as `i2d_PrivateKey` does).
    private var hasTraditionalForm: Bool {
        ![KeyType.ed25519, .ed448, .x25519, .x448].contains(type)
    }

    /// Throws unless this key has its private part: the one check behind
    /// every operation that needs it (exporting, signing, a TLS endpoint's key).
    /// - Throws: `OpenSSLError` naming `operation` for a public key.
    func requirePrivate(_ operation: String) throws(OpenSSLError) {
        guard hasPrivateKey else {
            throw OpenSSLError(operation: operation, detail: "this is a public key; it has no private part")
        }
    }

    private static func fetchCipher(_ name: String, _ operation: String) throws -> OpaquePointer {
        try ErrorQueue.call("\(operation): unknown cipher '\(name)'") { EVP_CIPHER_fetch(nil, name, nil) }
    }

    // MARK: Signatures

    /// Signs `data`.
    ///
    /// - Parameters:
    ///   - data: The message (not a hash of it).
    ///   - digest: the hash to sign with. `nil` means the key's
    ///     default: SHA-256 for RSA and EC, and none for Ed25519 and Ed448,
    ///     which hash internally and refuse a digest.
    /// - Throws: `OpenSSLError` for a public-only key, an unknown digest, or a
    ///   digest the key type refuses.
    /// - SeeAlso: EVP_DigestSignInit_ex(3), EVP_DigestSign(3)
    public func sign(_ data: some ContiguousBytes, digest: MessageDigest? = nil) throws -> [UInt8] {
        let operation = "sign with \(typeName) key"
        try requirePrivate(operation)
        let context = try ErrorQueue.call(operation) { EVP_MD_CTX_new() }
        defer { EVP_MD_CTX_free(context) }
        try ErrorQueue.check(operation) {
            EVP_DigestSignInit_ex(context, nil, digest?.name, nil, nil, raw, nil)
        }
        return try data.withUnsafeBytes { input -> [UInt8] in
            let bytes = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
            var length = 0
            try ErrorQueue.check(operation) { EVP_DigestSign(context, nil, &length, bytes, input.count) }
            var signature = [UInt8](repeating: 0, count: length)
            try ErrorQueue.check(operation) { EVP_DigestSign(context, &signature, &length, bytes, input.count) }
            signature.removeSubrange(length...)
            return signature
        }
    }

    /// Verifies `signature` over `data` with this key's public part.
    ///
    /// - Returns: true when the signature is valid, false when it is not.
    /// - Throws: `OpenSSLError` when verification cannot be attempted (an
    ///   unknown digest, a digest the key type refuses).
    /// - SeeAlso: EVP_DigestVerifyInit_ex(3), EVP_DigestVerify(3)
    public func verify(
        signature: some ContiguousBytes, for data: some ContiguousBytes,
        digest: MessageDigest? = nil
    ) throws -> Bool {
        let operation = "verify with \(typeName) key"
        let context = try ErrorQueue.call(operation) { EVP_MD_CTX_new() }
        defer { EVP_MD_CTX_free(context) }
        try ErrorQueue.check(operation) {
            EVP_DigestVerifyInit_ex(context, nil, digest?.name, nil, nil, raw, nil)
        }
        let result = signature.withUnsafeBytes { sig in
            data.withUnsafeBytes { input in
                EVP_DigestVerify(
                    context, sig.baseAddress?.assumingMemoryBound(to: UInt8.self), sig.count,
                    input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count)
            }
        }
        // 0 and a malformed signature both mean "does not verify"; only a
        // failure to set up verification (above) is an error.
        ErrorQueue.clear()
        return result == 1
    }

    /// Calls `body` with the underlying `EVP_PKEY *`, for calling OpenSSL
    /// directly. The pointer is valid only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

extension PKey.Specification: CustomStringConvertible {
    public var description: String {
        switch self {
        case .rsa(let bits): return "RSA-\(bits)"
        case .ec(let curve): return "EC \(curve.name)"
        case .ed25519: return "Ed25519"
        case .ed448: return "Ed448"
        }
    }
}

/// `EVP_PKEY_KEYPAIR` is a macro Swift cannot import (it is built from other macros).
let EVP_PKEY_KEYPAIR_SELECTION: Int32 = cossl_EVP_PKEY_KEYPAIR()
