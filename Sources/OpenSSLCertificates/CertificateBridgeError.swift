/// Why a value could not cross between this library and swift-certificates
/// or swift-crypto.
///
/// Errors raised by OpenSSL itself while reading or writing the bytes that
/// cross (a malformed DER, say) are thrown as they are, as `OpenSSLError`.
public struct CertificateBridgeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong. A struct with static members, so that a new reason
    /// never breaks a `switch`.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The reason in words ("no counterpart", …).
        public let rawValue: String
        /// Makes a code from its words (the static members are the known ones).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The value has no counterpart on the other side: an Ed448, X25519,
        /// DSA or secp256k1 key has none in swift-crypto or swift-certificates.
        public static let noCounterpart = Code(rawValue: "no counterpart")
        /// The key is of another type or curve than the one asked for (a
        /// P-384 key asked for as `P256.Signing.PrivateKey`).
        public static let wrongKeyType = Code(rawValue: "wrong key type")
        /// A private key was asked for, and the `PKey` holds only a public key.
        public static let notAPrivateKey = Code(rawValue: "not a private key")
        /// The other side refused the bytes OpenSSL produced (or the reverse);
        /// `detail` carries its reason.
        public static let refused = Code(rawValue: "refused")

        /// The reason in words.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public let code: Code
    /// What was being converted ("PKey to P256.Signing.PrivateKey").
    public let operation: String
    /// The reason in words: the key type, or the other library's own error.
    public let detail: String

    /// Makes an error (the conversions make these; public for tests of code that handles them).
    public init(_ code: Code, operation: String, detail: String) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    /// "operation: code: detail", e.g. "PKey to P256.Signing.PrivateKey: no counterpart: …".
    public var description: String { "\(operation): \(code.rawValue): \(detail)" }
}

/// Runs `body` (a call into swift-certificates or swift-crypto) and turns
/// any error it throws into `CertificateBridgeError.refused`, keeping the
/// library's own words.
func bridging<T>(_ operation: String, _ body: () throws -> T) throws(CertificateBridgeError) -> T {
    do {
        return try body()
    } catch let error as CertificateBridgeError {
        throw error
    } catch {
        throw CertificateBridgeError(.refused, operation: operation, detail: String(describing: error))
    }
}
