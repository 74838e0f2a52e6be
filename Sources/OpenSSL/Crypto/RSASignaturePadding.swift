import Foundation

/// How an RSA key signs a certificate, request or CRL.
public enum RSASignaturePadding: Sendable, Hashable {
    /// PKCS#1 v1.5 (`sha256WithRSAEncryption`, …): what nearly every RSA
    /// certificate uses. The default.
    case pkcs1v15
    /// RSASSA-PSS (`rsassaPss`), with MGF1 over the same digest and a salt as
    /// long as the digest (RFC 4055 / RFC 8017's recommended parameters).
    case pss
}
