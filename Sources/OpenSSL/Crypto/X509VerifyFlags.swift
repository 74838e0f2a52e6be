internal import COpenSSL

/// Flags that change how a certificate chain is verified (OpenSSL's
/// `X509_V_FLAG_*`), set on an `X509Store` with `setFlags(_:)`.
/// - SeeAlso: X509_VERIFY_PARAM_set_flags(3)
public struct X509VerifyFlags: OptionSet, Sendable, Hashable {
    /// OpenSSL's bit mask.
    public let rawValue: UInt

    /// Wraps OpenSSL's bit mask.
    public init(rawValue: UInt) {
        self.rawValue = rawValue
    }

    private init(_ value: Int32) {
        rawValue = UInt(value)
    }

    /// Verify at the time set with `X509Store.setVerificationTime(_:)`, not now.
    /// Set and cleared by that method (X509_V_FLAG_USE_CHECK_TIME).
    public static let useCheckTime = X509VerifyFlags(X509_V_FLAG_USE_CHECK_TIME)
    /// Check the leaf against its issuer's CRL; a missing CRL fails with
    /// `unableToGetCRL` (X509_V_FLAG_CRL_CHECK).
    public static let crlCheck = X509VerifyFlags(X509_V_FLAG_CRL_CHECK)
    /// With `crlCheck`, check every certificate of the chain, not only the
    /// leaf (X509_V_FLAG_CRL_CHECK_ALL).
    public static let crlCheckAll = X509VerifyFlags(X509_V_FLAG_CRL_CHECK_ALL)
    /// Do not fail on unhandled critical extensions (X509_V_FLAG_IGNORE_CRITICAL).
    public static let ignoreCritical = X509VerifyFlags(X509_V_FLAG_IGNORE_CRITICAL)
    /// Apply RFC 5280's rules strictly (X509_V_FLAG_X509_STRICT).
    public static let x509Strict = X509VerifyFlags(X509_V_FLAG_X509_STRICT)
    /// Accept proxy certificates (RFC 3820) (X509_V_FLAG_ALLOW_PROXY_CERTS).
    public static let allowProxyCertificates = X509VerifyFlags(X509_V_FLAG_ALLOW_PROXY_CERTS)
    /// Check certificate policies (X509_V_FLAG_POLICY_CHECK).
    public static let policyCheck = X509VerifyFlags(X509_V_FLAG_POLICY_CHECK)
    /// Require an explicit policy (X509_V_FLAG_EXPLICIT_POLICY). Like
    /// `inhibitAny` and `inhibitMap`, setting it turns on `policyCheck` too.
    public static let explicitPolicy = X509VerifyFlags(X509_V_FLAG_EXPLICIT_POLICY)
    /// Do not accept anyPolicy as matching every policy (X509_V_FLAG_INHIBIT_ANY).
    public static let inhibitAny = X509VerifyFlags(X509_V_FLAG_INHIBIT_ANY)
    /// Disable policy mapping (X509_V_FLAG_INHIBIT_MAP).
    public static let inhibitMap = X509VerifyFlags(X509_V_FLAG_INHIBIT_MAP)
    /// Report policy-check results through the verify callback (X509_V_FLAG_NOTIFY_POLICY).
    public static let notifyPolicy = X509VerifyFlags(X509_V_FLAG_NOTIFY_POLICY)
    /// Indirect CRLs, CRLs signed by another key, and CRL scopes (X509_V_FLAG_EXTENDED_CRL_SUPPORT).
    public static let extendedCRLSupport = X509VerifyFlags(X509_V_FLAG_EXTENDED_CRL_SUPPORT)
    /// Use delta CRLs too (X509_V_FLAG_USE_DELTAS).
    public static let useDeltas = X509VerifyFlags(X509_V_FLAG_USE_DELTAS)
    /// Check the signature of self-signed trust anchors too (X509_V_FLAG_CHECK_SS_SIGNATURE).
    public static let checkSelfSignedSignature = X509VerifyFlags(X509_V_FLAG_CHECK_SS_SIGNATURE)
    /// Look for issuers in the trusted store before the untrusted certificates
    /// (X509_V_FLAG_TRUSTED_FIRST; OpenSSL 3.0 does this by default).
    public static let trustedFirst = X509VerifyFlags(X509_V_FLAG_TRUSTED_FIRST)
    /// Suite B, 128-bit level only (X509_V_FLAG_SUITEB_128_LOS_ONLY).
    public static let suiteB128Only = X509VerifyFlags(X509_V_FLAG_SUITEB_128_LOS_ONLY)
    /// Suite B, 192-bit level (X509_V_FLAG_SUITEB_192_LOS).
    public static let suiteB192 = X509VerifyFlags(X509_V_FLAG_SUITEB_192_LOS)
    /// Suite B, 128- or 192-bit level (X509_V_FLAG_SUITEB_128_LOS).
    public static let suiteB128 = X509VerifyFlags(X509_V_FLAG_SUITEB_128_LOS)
    /// Accept a chain that ends in any trusted certificate, not only a
    /// self-signed root: trust an intermediate directly (X509_V_FLAG_PARTIAL_CHAIN).
    public static let partialChain = X509VerifyFlags(X509_V_FLAG_PARTIAL_CHAIN)
    /// Do not look for an alternative chain when the first one fails
    /// (X509_V_FLAG_NO_ALT_CHAINS).
    public static let noAlternativeChains = X509VerifyFlags(X509_V_FLAG_NO_ALT_CHAINS)
    /// Do not check validity periods of certificates and CRLs at all
    /// (X509_V_FLAG_NO_CHECK_TIME).
    public static let noCheckTime = X509VerifyFlags(X509_V_FLAG_NO_CHECK_TIME)
}
