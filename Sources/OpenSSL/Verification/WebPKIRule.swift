/// One rule of the Web-PKI verification policy (`VerificationPolicy.webPKI`),
/// named by its id in the project's Web-PKI profile: P1–P6 say how OpenSSL
/// is asked, K1 and A2–A5 apply to every certificate of the chain, B1–B4 to
/// the CA certificates, C1–C2 to every certificate but a self-signed trust
/// anchor, D1–D5 to the leaf, E1–E2 to the expected host name.
///
/// A refusal by one of these rules is an `X509VerificationError` whose
/// `rule` is set (its `code` is `.applicationVerification`); OpenSSL's own
/// refusals have no rule and keep OpenSSL's code and message.
///
/// A struct with static members, not an enum: a rule added later never
/// breaks a caller's `switch`.
public struct WebPKIRule: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The id: "P1", "K1", "D3", …
    public let rawValue: String

    /// Wraps an id.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The id.
    public var description: String { rawValue }

    /// What the rule requires, in one line.
    public var summary: String {
        WebPKIRule.summaries[rawValue] ?? "rule \(rawValue)"
    }

    /// P1: the purpose is TLS server; host names match subjectAltNames only
    /// (never the subject CN), and a wildcard is a whole leftmost label.
    public static let p1 = WebPKIRule(rawValue: "P1")
    /// P2: every trusted certificate is a trust anchor (partial chains).
    public static let p2 = WebPKIRule(rawValue: "P2")
    /// P3: notAfter is inclusive.
    public static let p3 = WebPKIRule(rawValue: "P3")
    /// P4: a maximum depth does not count self-issued intermediates.
    public static let p4 = WebPKIRule(rawValue: "P4")
    /// P5: CRLs without a cRLNumber are not used.
    public static let p5 = WebPKIRule(rawValue: "P5")
    /// P6: a bounded path search past refused untrusted intermediates.
    public static let p6 = WebPKIRule(rawValue: "P6")
    /// K1: RSA of at least 2048 bits (a multiple of 8), or EC on P-256, P-384 or P-521.
    public static let k1 = WebPKIRule(rawValue: "K1")
    /// A2: authority key identifiers.
    public static let a2 = WebPKIRule(rawValue: "A2")
    /// A3: a policyConstraints extension is critical.
    public static let a3 = WebPKIRule(rawValue: "A3")
    /// A4: an authorityInfoAccess extension decodes and is not empty.
    public static let a4 = WebPKIRule(rawValue: "A4")
    /// A5: name constraints are well formed and only in CA certificates.
    public static let a5 = WebPKIRule(rawValue: "A5")
    /// B1: a CA certificate has a critical basicConstraints with cA TRUE.
    public static let b1 = WebPKIRule(rawValue: "B1")
    /// B2: a CA certificate has a non-critical subjectKeyIdentifier.
    public static let b2 = WebPKIRule(rawValue: "B2")
    /// B3: a CA certificate's subject is not empty.
    public static let b3 = WebPKIRule(rawValue: "B3")
    /// B4: a self-signed trust anchor carries no extendedKeyUsage.
    public static let b4 = WebPKIRule(rawValue: "B4")
    /// C1: version 3.
    public static let c1 = WebPKIRule(rawValue: "C1")
    /// C2: a serial number greater than zero and at most 20 octets.
    public static let c2 = WebPKIRule(rawValue: "C2")
    /// D1: the leaf is not a CA.
    public static let d1 = WebPKIRule(rawValue: "D1")
    /// D2: the leaf's extendedKeyUsage is non-critical and not anyExtendedKeyUsage.
    public static let d2 = WebPKIRule(rawValue: "D2")
    /// D3: the leaf has a subjectAltName, critical exactly when the subject is empty.
    public static let d3 = WebPKIRule(rawValue: "D3")
    /// D4: the leaf's DNS names are LDH host names; its IP addresses 4 or 16 octets.
    public static let d4 = WebPKIRule(rawValue: "D4")
    /// D5: the leaf's subject CN is single, canonical and consistent with its subjectAltNames.
    public static let d5 = WebPKIRule(rawValue: "D5")
    /// E1: a wildcard that matched the host does not cover a public suffix.
    public static let e1 = WebPKIRule(rawValue: "E1")
    /// E2: the host satisfies every CA certificate's DNS name constraints.
    public static let e2 = WebPKIRule(rawValue: "E2")

    /// Every rule, in the profile's order.
    public static let all: [WebPKIRule] = [
        p1, p2, p3, p4, p5, p6, k1, a2, a3, a4, a5, b1, b2, b3, b4, c1, c2, d1, d2, d3, d4, d5, e1, e2,
    ]

    private static let summaries: [String: String] = [
        "P1": "purpose TLS server; host names match subjectAltNames only, wildcards only as a whole leftmost label",
        "P2": "every trusted certificate is a trust anchor",
        "P3": "notAfter is inclusive",
        "P4": "a maximum depth does not count self-issued intermediates",
        "P5": "CRLs without a cRLNumber are not used",
        "P6": "a refused untrusted intermediate is set aside and the chain built again (at most 8 builds)",
        "K1": "RSA keys of at least 2048 bits (a multiple of 8), or EC keys on P-256, P-384 or P-521",
        "A2": "an authority key identifier with a keyIdentifier, non-critical; on a self-signed certificate it names itself",
        "A3": "a policyConstraints extension is critical",
        "A4": "an authorityInfoAccess extension decodes and holds an access description",
        "A5": "name constraints only in CA certificates, well formed, with LDH DNS names",
        "B1": "a CA certificate has a critical basicConstraints with cA TRUE",
        "B2": "a CA certificate has a non-critical subjectKeyIdentifier",
        "B3": "a CA certificate's subject is not empty",
        "B4": "a self-signed trust anchor has no extendedKeyUsage",
        "C1": "version 3",
        "C2": "a serial number greater than zero and at most 20 octets",
        "D1": "the leaf is not a CA certificate",
        "D2": "the leaf's extendedKeyUsage is non-critical and has no anyExtendedKeyUsage",
        "D3": "the leaf has a non-empty subjectAltName, critical exactly when the subject is empty",
        "D4": "the leaf's DNS names are LDH host names and its IP addresses 4 or 16 octets",
        "D5": "the leaf's subject CN is single, canonical and consistent with its subjectAltNames",
        "E1": "a wildcard that matched the host does not cover a public suffix",
        "E2": "the host satisfies every CA certificate's DNS name constraints",
    ]
}
