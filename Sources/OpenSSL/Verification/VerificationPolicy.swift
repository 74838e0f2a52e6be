/// The rules a certificate chain is verified by, on top of OpenSSL's
/// `X509_verify_cert`: OpenSSL's own (`.openSSL`), or OpenSSL's and the
/// Web PKI's (`.webPKI()`), the rules browsers and Go's crypto/x509 enforce
/// on a TLS server certificate.
///
/// A policy applies identically to `X509Store` verification
/// (`X509Store.setVerificationPolicy(_:)`) and to a TLS `Context` verifying
/// its peer (`Context.setVerificationPolicy(_:)`); the whole-chain hook's
/// `PeerVerification` shows both OpenSSL's verdict and the policy's.
///
/// ```swift
/// let store = try X509Store()
/// try store.add(root)
/// try store.setExpectedHost("www.example.com")
/// store.setVerificationPolicy(try .webPKI())
/// do {
///     try store.verify(leaf, untrusted: intermediates)
/// } catch let error as X509VerificationError {
///     print(error.rule.map { "refused by \($0)" } ?? "refused by OpenSSL", error.message)
/// }
/// ```
///
/// `.webPKI` never replaces OpenSSL's checks: OpenSSL verifies first (asked
/// for the TLS-server purpose, partial chains, an inclusive notAfter, a depth
/// that does not count self-issued intermediates and numbered CRLs only),
/// then the profile's rules are checked over the chain OpenSSL built; a
/// refused untrusted intermediate is set aside and the chain built again,
/// at most 8 times in all and within 2 seconds. A chain passes only when both
/// pass. See Docs/verification.md for what each rule refuses.
///
/// `.webPKI` is for verifying *servers*: it requires the TLS-server purpose,
/// so a server context verifying client certificates keeps `.openSSL`.
public struct VerificationPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Which set of rules.
    public enum Kind: String, Sendable, Hashable {
        /// OpenSSL's verdict, as OpenSSL's settings make it.
        case openSSL
        /// OpenSSL's verdict and the Web-PKI rules.
        case webPKI
    }

    /// Which set of rules.
    public let kind: Kind
    /// With `.webPKI`: whether the trust anchor itself must also have a
    /// critical basicConstraints (B1) and a subjectKeyIdentifier (B2). Off by
    /// default, because a few roots of real system bundles have neither.
    public let strictAnchors: Bool
    /// The Public Suffix List rule E1 consults (nil for `.openSSL`).
    let publicSuffixes: PublicSuffixList?

    private init(kind: Kind, strictAnchors: Bool, publicSuffixes: PublicSuffixList?) {
        self.kind = kind
        self.strictAnchors = strictAnchors
        self.publicSuffixes = publicSuffixes
    }

    /// OpenSSL's own verdict, with the store's or context's settings as they
    /// are: today's behaviour, and the default of `X509Store()` and of a
    /// `Context` given its own trust.
    public static let openSSL = VerificationPolicy(kind: .openSSL, strictAnchors: false, publicSuffixes: nil)

    /// OpenSSL's verdict and every rule of the Web-PKI profile; the default
    /// of `Context.client()` with the system's roots.
    ///
    /// - Parameters:
    ///   - strictAnchors: apply B1's criticality and B2 to the trust anchor too.
    ///   - publicSuffixList: the Public Suffix List file (rule E1); by
    ///     default Debian's `publicsuffix` package's. Read once per path.
    /// - Throws: `OpenSSLError` naming the file when the list is missing,
    ///   unreadable or empty: E1 is never skipped silently.
    public static func webPKI(
        strictAnchors: Bool = false,
        publicSuffixList: String = systemPublicSuffixListPath
    ) throws -> VerificationPolicy {
        VerificationPolicy(
            kind: .webPKI, strictAnchors: strictAnchors,
            publicSuffixes: try PublicSuffixList.load(path: publicSuffixList))
    }

    /// The default location of the Public Suffix List (Debian's `publicsuffix` package).
    public static let systemPublicSuffixListPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// True for `.webPKI`.
    public var isWebPKI: Bool { kind == .webPKI }

    /// "openssl", "webpki" or "webpki(strictAnchors)".
    public var description: String {
        switch kind {
        case .openSSL: return "openssl"
        case .webPKI: return strictAnchors ? "webpki(strictAnchors)" : "webpki"
        }
    }

    public static func == (lhs: VerificationPolicy, rhs: VerificationPolicy) -> Bool {
        lhs.kind == rhs.kind && lhs.strictAnchors == rhs.strictAnchors
            && lhs.publicSuffixes?.path == rhs.publicSuffixes?.path
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(strictAnchors)
        hasher.combine(publicSuffixes?.path)
    }
}
