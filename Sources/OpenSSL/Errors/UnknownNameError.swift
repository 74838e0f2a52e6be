/// A name OpenSSL does not know, refused by the call that takes it: an
/// elliptic curve for `PKey.Curve`, an attribute for an `X509Name` lookup.
/// (Without it, an unknown attribute and an absent one would look the same,
/// and an unknown curve would fail only when first used.)
public struct UnknownNameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of name it was meant to be.
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// An elliptic curve name ("P-256", "prime256v1", …).
        public static let curve = Kind(rawValue: "elliptic curve")
        /// A distinguished-name attribute: short name, long name or dotted OID.
        public static let attribute = Kind(rawValue: "name attribute")
    }

    /// What kind of name it was meant to be.
    public let kind: Kind
    /// The name as given.
    public let name: String

    /// Makes the error (the library throws it; public so that callers'
    /// tests and wrappers can make one too).
    /// - Parameters:
    ///   - kind: What kind of name it was meant to be.
    ///   - name: The name as given.
    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    public var description: String { "unknown \(kind.rawValue) \"\(name)\"" }
}
