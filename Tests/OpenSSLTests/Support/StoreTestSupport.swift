import Foundation
import COpenSSL
@testable import OpenSSL

/// CRLs for the store tests, made with OpenSSL's C API. Replaced by the
/// library's CRL type once it is on main.
enum TestCRL {
    /// A CRL signed by `issuer` listing `revoked` (by serial), as PEM.
    static func pem(issuer: X509, key: PKey, revoking revoked: [X509], lastUpdate: Date = Date() - 3600,
                    nextUpdate: Date = Date() + 7 * 86400) throws -> String {
        let crl = try ErrorQueue.call("make CRL") { X509_CRL_new() }
        defer { X509_CRL_free(crl) }
        let last = try ErrorQueue.call("CRL time") { ASN1_TIME_set(nil, time_t(lastUpdate.timeIntervalSince1970)) }
        let next = try ErrorQueue.call("CRL time") { ASN1_TIME_set(nil, time_t(nextUpdate.timeIntervalSince1970)) }
        defer { ASN1_TIME_free(last); ASN1_TIME_free(next) }
        try ErrorQueue.check("CRL version") { X509_CRL_set_version(crl, 1) }
        try ErrorQueue.check("CRL issuer") { X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.raw)) }
        try ErrorQueue.check("CRL lastUpdate") { X509_CRL_set1_lastUpdate(crl, last) }
        try ErrorQueue.check("CRL nextUpdate") { X509_CRL_set1_nextUpdate(crl, next) }
        for certificate in revoked {
            let entry = try ErrorQueue.call("revoked entry") { X509_REVOKED_new() }
            try ErrorQueue.check("revoked serial") { X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(certificate.raw)) }
            try ErrorQueue.check("revocation date") { X509_REVOKED_set_revocationDate(entry, last) }
            try ErrorQueue.check("add revoked") { X509_CRL_add0_revoked(crl, entry) }
        }
        try ErrorQueue.check("sort CRL") { X509_CRL_sort(crl) }
        try ErrorQueue.check("sign CRL") { X509_CRL_sign(crl, key.raw, EVP_sha256()) }
        return try MemoryBIO.collectString { bio in
            try ErrorQueue.check("write CRL") { PEM_write_bio_X509_CRL(bio, crl) }
        }
    }
}

/// Adds a PEM CRL to `store` through the store's X509_CRL entry point.
func addCRL(pem: String, to store: X509Store) throws {
    let crl = try MemoryBIO.withReadOnly(Array(pem.utf8)) { bio in
        try ErrorQueue.call("read CRL") { PEM_read_bio_X509_CRL(bio, nil, nil, nil) }
    }
    defer { X509_CRL_free(crl) }
    try store.addCRL(crl)
}

/// A certificate whose issuer name is its own subject, signed by `signer`
/// (its own key for a real self-signed certificate, another for an impostor).
func selfIssuedCertificate(commonName: String, key: PKey, signer: PKey? = nil,
                           notBefore: Date = Date() - 60, notAfter: Date = Date() + 3600) throws -> X509 {
    let name = try X509Name([("CN", commonName)])
    var builder = X509Builder(subject: name, publicKey: key, notBefore: notBefore, notAfter: notAfter)
    builder.issuer = name
    try builder.addBasicConstraints(isCA: false)
    try builder.addExtendedKeyUsage([.clientAuth])
    return try builder.sign(with: signer ?? key)
}
