import Foundation
@testable import OpenSSL

/// CRLs for the store tests.
enum TestCRL {
    /// A CRL signed by `issuer` listing `revoked`.
    static func make(
        issuer: X509, key: PKey, revoking revoked: [X509], lastUpdate: Date = Date() - 3600,
        nextUpdate: Date = Date() + 7 * 86400
    ) throws -> CRL {
        var builder = CRLBuilder(lastUpdate: lastUpdate, nextUpdate: nextUpdate)
        for certificate in revoked { builder.revoke(certificate, at: lastUpdate) }
        return try builder.sign(with: key, issuer: issuer)
    }
}

/// A certificate whose issuer name is its own subject, signed by `signer`
/// (its own key for a real self-signed certificate, another for an impostor).
func selfIssuedCertificate(
    commonName: String, key: PKey, signer: PKey? = nil,
    notBefore: Date = Date() - 60, notAfter: Date = Date() + 3600
) throws -> X509 {
    let name = try X509Name([("CN", commonName)])
    var builder = X509Builder(subject: name, publicKey: key, notBefore: notBefore, notAfter: notAfter)
    builder.issuer = name
    try builder.addBasicConstraints(isCA: false)
    try builder.addExtendedKeyUsage([.clientAuth])
    return try builder.sign(with: signer ?? key)
}
