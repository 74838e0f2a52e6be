import Foundation
internal import COpenSSL

/// A PKCS#12 bundle (a `.p12` / `.pfx` file): a private key, its
/// certificate, the CA certificates of its chain, and a friendly name.
///
/// Open one with `init(der:passphrase:)`; make one by filling the fields and
/// calling `der(passphrase:iterations:)`, which encrypts with OpenSSL 3.0's
/// defaults (AES-256-CBC with PBKDF2 for the key and the certificates, a
/// SHA-256 MAC), the same as `openssl pkcs12 -export`.
///
/// ```swift
/// let bundle = PKCS12(privateKey: key, certificate: cert, caCertificates: [intermediate],
///                     friendlyName: "server")
/// let bytes = try bundle.der(passphrase: "s3cret")
/// let opened = try PKCS12(der: bytes, passphrase: "s3cret")
/// ```
public struct PKCS12: Sendable {
    /// The private key, if the bundle holds one.
    public var privateKey: PKey?
    /// The certificate that goes with the private key. When a bundle is
    /// opened, OpenSSL recognises it by the key's local key id, so a bundle
    /// without a private key comes back with this nil and every certificate
    /// in `caCertificates`.
    public var certificate: X509?
    /// The other certificates: the CA chain, in the bundle's order.
    public var caCertificates: [X509]
    /// The friendly name (PKCS#9 friendlyName) of the certificate and key.
    public var friendlyName: String?

    /// Makes a bundle from its parts.
    public init(
        privateKey: PKey? = nil, certificate: X509? = nil, caCertificates: [X509] = [],
        friendlyName: String? = nil
    ) {
        self.privateKey = privateKey
        self.certificate = certificate
        self.caCertificates = caCertificates
        self.friendlyName = friendlyName
    }

    // MARK: Loading

    /// Opens a DER-encoded PKCS#12 bundle.
    ///
    /// The MAC is checked first, so a wrong passphrase is told apart from
    /// damaged contents. Without a passphrase (or with an empty one) the
    /// bundle must be unprotected or protected by an empty password. A
    /// bundle without a MAC is opened without a password (OpenSSL 3.0's
    /// `PKCS12_parse` cannot check one): its contents must not be encrypted.
    ///
    /// - Parameters:
    ///   - der: The bundle's bytes.
    ///   - passphrase: The bundle's password; nil for an unprotected bundle.
    ///   - maximumIterations: the most key-derivation iterations the
    ///     MAC and the encryption may ask for (default
    ///     `defaultMaximumIterations`, 1,000,000).
    /// - Throws: `PassphraseError.incorrect` when the passphrase does not
    ///   match the MAC; `PassphraseError.required` when the bundle needs a
    ///   passphrase and none was given; the passphrase closure's own error if
    ///   it throws; `PassphraseError.tooLong` for a passphrase longer than
    ///   `maximumPassphraseLength` (1,024 bytes), which is refused rather than
    ///   cut; `OpenSSLError` for input that is not PKCS#12 (garbage,
    ///   truncated, trailing bytes) or contents that cannot be decrypted or
    ///   decoded; `OpenSSLError` when the MAC, an encrypted safe or an
    ///   encrypted key asks for more than `maximumIterations` key-derivation
    ///   iterations (the file's author chooses them: a hostile bundle would
    ///   otherwise keep OpenSSL busy for many minutes, even without the
    ///   right passphrase).
    /// - SeeAlso: d2i_PKCS12(3), PKCS12_get0_mac(3), PKCS12_verify_mac(3), PKCS12_parse(3)
    public init(
        der: some ContiguousBytes, passphrase: Passphrase? = nil,
        maximumIterations: Int = PKCS12.defaultMaximumIterations
    ) throws {
        let operation = "read PKCS#12"
        let bundle = OwnedPointer<PKCS12Kind>(
            takingOwnership: try MemoryBIO.fromDER(
                der, operation, decode: { d2i_PKCS12(nil, $0, $1) }, free: { PKCS12_free($0) }))
        let p12 = bundle.raw
        try PKCS12.checkMACIterations(p12, limit: maximumIterations, operation: operation)
        let secret = try PKCS12.passphraseBytes(
            passphrase, maxLength: PKCS12.maximumPassphraseLength,
            isWriting: false, operation: operation)

        // nil: no password; otherwise NUL-terminated bytes for OpenSSL's `const char *`.
        let password: [CChar]?
        if PKCS12_mac_present(p12) != 1 {
            // No MAC: PKCS12_parse refuses any password it cannot check against
            // a MAC, so such a bundle opens only if its contents are not encrypted.
            password = nil
        } else if let secret, !secret.isEmpty {
            let candidate = secret.map { CChar(bitPattern: $0) } + [0]
            ErrorQueue.clear()
            guard PKCS12_verify_mac(p12, candidate, Int32(secret.count)) == 1 else {
                throw PassphraseError.incorrect(
                    ErrorQueue.drain(
                        "\(operation): verify MAC", detail: "the MAC does not match the passphrase"))
            }
            password = candidate
        } else if PKCS12_verify_mac(p12, nil, 0) == 1 {
            password = nil
        } else if PKCS12_verify_mac(p12, "", 0) == 1 {
            password = [0]
        } else {
            ErrorQueue.clear()
            throw PassphraseError.required(operation: operation)
        }
        ErrorQueue.clear()
        try PKCS12.checkContentIterations(p12, password: password, limit: maximumIterations, operation: operation)

        var key: OpaquePointer?
        var certificate: OpaquePointer?
        var chain: OpaquePointer?
        try ErrorQueue.check(operation) { PKCS12_parse(p12, password, &key, &certificate, &chain) }
        // PKCS12_parse hands over one reference to each object; every wrapper adopts its own.
        privateKey = key.map { PKey(takingOwnership: $0, hasPrivateKey: true) }
        self.certificate = certificate.map { X509(takingOwnership: $0) }
        var authorities: [X509] = []
        if let chain {
            for index in 0..<max(cossl_sk_X509_num(chain), 0) {
                if let element = cossl_sk_X509_value(chain, index) { authorities.append(X509(takingOwnership: element)) }
            }
            cossl_sk_X509_free(chain)
        }
        caCertificates = authorities
        friendlyName = certificate.flatMap { pointer in
            var length: Int32 = 0
            guard let alias = X509_alias_get0(pointer, &length), length > 0 else { return nil }
            return String(validating: UnsafeBufferPointer(start: alias, count: Int(length)), as: UTF8.self)
        }
    }

    // MARK: Writing

    /// OpenSSL's default PBKDF2 and MAC iteration count (`PKCS12_DEFAULT_ITER`, 2048).
    public static let defaultIterations = Int(PKCS5_DEFAULT_ITER)

    /// The bundle as DER.
    ///
    /// With a passphrase, the private key and the certificates are encrypted
    /// with AES-256-CBC (PBKDF2, `iterations` rounds) and the whole is
    /// protected by a SHA-256 MAC, as OpenSSL 3.0's `PKCS12_create` does by
    /// default. With `nil`, nothing is encrypted and there is no MAC: anyone
    /// who has the bytes has the key.
    ///
    /// - Parameters:
    ///   - passphrase: The password that encrypts the key and certificates
    ///     and keys the MAC; nil for an unprotected bundle.
    ///   - iterations: PBKDF2 and MAC iteration count (OpenSSL's default 2048).
    /// - Throws: `PassphraseError.empty` for an empty passphrase (pass nil
    ///   for an unprotected bundle); the passphrase closure's error if it
    ///   throws; `PassphraseError.tooLong` for a passphrase longer than
    ///   `maximumPassphraseLength` (1,024 bytes), which is refused rather
    ///   than cut; `OpenSSLError` when there is nothing to export, the key does
    ///   not match the certificate ("key values mismatch"), a name or
    ///   passphrase holds a NUL byte, or encoding fails.
    /// - SeeAlso: PKCS12_create(3), i2d_PKCS12(3)
    public func der(passphrase: Passphrase?, iterations: Int = PKCS12.defaultIterations) throws -> [UInt8] {
        let operation = "write PKCS#12"
        guard iterations > 0, let rounds = Int32(exactly: iterations) else {
            throw OpenSSLError(operation: operation, detail: "iteration count \(iterations) is out of range")
        }
        if let friendlyName, friendlyName.utf8.contains(0) {
            throw OpenSSLError(operation: operation, detail: "the friendly name contains a NUL byte")
        }
        let password: [CChar]?
        if let secret = try PKCS12.passphraseBytes(
            passphrase, maxLength: PKCS12.maximumPassphraseLength,
            isWriting: true, operation: operation)
        {
            guard !secret.isEmpty else { throw PassphraseError.empty(operation: operation) }
            password = secret.map { CChar(bitPattern: $0) } + [0]
        } else {
            password = nil
        }
        // 0 asks for OpenSSL's default algorithms; -1 for none (no encryption, no MAC).
        let cipher: Int32 = password == nil ? -1 : 0
        let macRounds: Int32 = password == nil ? -1 : rounds

        let stack = try ErrorQueue.call("\(operation): make certificate stack") { cossl_sk_X509_new_null() }
        defer { cossl_sk_X509_free(stack) }  // borrows the certificates; `caCertificates` keeps them alive
        for authority in caCertificates {
            try ErrorQueue.check("\(operation): add CA certificate") { cossl_sk_X509_push(stack, authority.raw) }
        }
        let bundle = try withExtendedLifetime((privateKey, certificate, caCertificates)) {
            try ErrorQueue.call(operation) {
                PKCS12_create(
                    password, friendlyName, privateKey?.raw, certificate?.raw, stack,
                    cipher, cipher, rounds, macRounds, 0)
            }
        }
        let owned = OwnedPointer<PKCS12Kind>(takingOwnership: bundle)
        return try MemoryBIO.der(operation) { i2d_PKCS12(owned.raw, $0) }
    }

    /// The longest passphrase a bundle is opened or written with, in bytes
    /// (OpenSSL's `PEM_BUFSIZE`, 1,024: what `openssl pkcs12` and the PEM
    /// passphrase prompts accept). A longer one is refused, not cut.
    public static let maximumPassphraseLength = Int(PEM_BUFSIZE)

    /// The passphrase's bytes, asking its closure if it has one; nil when
    /// there is none. Refuses bytes with a NUL: OpenSSL takes the password
    /// as a C string and would cut it there. Refuses more than `maxLength`
    /// bytes: cutting them would open (or write) the bundle with a
    /// passphrase other than the one given.
    private static func passphraseBytes(
        _ passphrase: Passphrase?, maxLength: Int, isWriting: Bool,
        operation: String
    ) throws -> [UInt8]? {
        guard let passphrase else { return nil }
        let bytes = try passphrase.answer(maxLength: maxLength, isWriting: isWriting)
        if bytes.count > maxLength {
            throw PassphraseError.tooLong(operation: operation, length: bytes.count, maximum: maxLength)
        }
        if bytes.contains(0) {
            throw OpenSSLError(operation: operation, detail: "the passphrase contains a NUL byte")
        }
        return bytes
    }
}
