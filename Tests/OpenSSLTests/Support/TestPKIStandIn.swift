import Foundation
import COpenSSL
@testable import OpenSSL

// TEMPORARY: a stand-in for the shared TestPKI (another branch), minted with
// OpenSSL's C API so the store tests run before it lands. Same property
// names as TestPKI; deleted when TestPKI is merged.

enum StandInError: Error { case failed(String) }

final class TestPKI: @unchecked Sendable {  // immutable after init
    static let shared: TestPKI = {
        do { return try TestPKI() } catch { preconditionFailure("stand-in PKI: \(error)") }
    }()

    let root: X509, rootKey: PKey
    let intermediate: X509, intermediateKey: PKey
    let server: X509, serverKey: PKey
    let client: X509, clientKey: PKey
    let expired: X509, notYetValid: X509, wrongHost: X509, selfSignedClient: X509
    let secondIntermediate: X509, secondIntermediateKey: PKey, pathLengthViolatingLeaf: X509

    init() throws {
        let now = Date()
        let year: TimeInterval = 365 * 86400
        rootKey = try PKey.generate(.ec(.p256))
        root = try Self.mint("Stand-in Root", key: rootKey, issuer: nil, issuerKey: rootKey,
                             notBefore: now - 10 * year, notAfter: now + 10 * year,
                             extensions: [("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign")])
        intermediateKey = try PKey.generate(.ec(.p256))
        intermediate = try Self.mint("Stand-in Intermediate", key: intermediateKey, issuer: root, issuerKey: rootKey,
                                     notBefore: now - 5 * year, notAfter: now + 5 * year,
                                     extensions: [("basicConstraints", "critical,CA:TRUE,pathlen:0"), ("keyUsage", "critical,keyCertSign,cRLSign")])
        serverKey = try PKey.generate(.ec(.p256))
        server = try Self.mint("localhost", key: serverKey, issuer: intermediate, issuerKey: intermediateKey,
                               notBefore: now - 86400, notAfter: now + year,
                               extensions: [("subjectAltName", "DNS:localhost,IP:127.0.0.1,IP:::1"), ("extendedKeyUsage", "serverAuth")])
        clientKey = try PKey.generate(.ec(.p256))
        client = try Self.mint("client", key: clientKey, issuer: intermediate, issuerKey: intermediateKey,
                               notBefore: now - 86400, notAfter: now + year, extensions: [("extendedKeyUsage", "clientAuth")])
        expired = try Self.mint("expired", key: serverKey, issuer: intermediate, issuerKey: intermediateKey,
                                notBefore: now - 30 * 86400, notAfter: now - 86400,
                                extensions: [("subjectAltName", "DNS:localhost"), ("extendedKeyUsage", "serverAuth")])
        notYetValid = try Self.mint("not yet valid", key: serverKey, issuer: intermediate, issuerKey: intermediateKey,
                                    notBefore: now + 86400, notAfter: now + 30 * 86400,
                                    extensions: [("subjectAltName", "DNS:localhost")])
        wrongHost = try Self.mint("wrong.example", key: serverKey, issuer: intermediate, issuerKey: intermediateKey,
                                  notBefore: now - 86400, notAfter: now + year,
                                  extensions: [("subjectAltName", "DNS:wrong.example"), ("extendedKeyUsage", "serverAuth")])
        selfSignedClient = try Self.mint("self-signed client", key: clientKey, issuer: nil, issuerKey: clientKey,
                                         notBefore: now - 86400, notAfter: now + year, extensions: [("extendedKeyUsage", "clientAuth")])
        secondIntermediateKey = try PKey.generate(.ec(.p256))
        secondIntermediate = try Self.mint("Stand-in Second Intermediate", key: secondIntermediateKey, issuer: intermediate,
                                           issuerKey: intermediateKey, notBefore: now - year, notAfter: now + year,
                                           extensions: [("basicConstraints", "critical,CA:TRUE"), ("keyUsage", "critical,keyCertSign,cRLSign")])
        pathLengthViolatingLeaf = try Self.mint("too deep", key: serverKey, issuer: secondIntermediate, issuerKey: secondIntermediateKey,
                                                notBefore: now - 86400, notAfter: now + year, extensions: [])
    }

    func issueLeaf(commonName: String, sans: [String] = [], issuer: X509? = nil, issuerKey: PKey? = nil,
                   notBefore: Date = Date() - 86400, notAfter: Date = Date() + 86400 * 30, isCA: Bool = false,
                   extendedKeyUsage: [String] = [], key: PKey? = nil) throws -> (certificate: X509, key: PKey) {
        let key = try key ?? PKey.generate(.ec(.p256))
        var extensions: [(String, String)] = [("basicConstraints", isCA ? "critical,CA:TRUE" : "CA:FALSE")]
        if isCA { extensions.append(("keyUsage", "critical,keyCertSign,cRLSign")) }
        if !sans.isEmpty { extensions.append(("subjectAltName", sans.joined(separator: ","))) }
        if !extendedKeyUsage.isEmpty { extensions.append(("extendedKeyUsage", extendedKeyUsage.joined(separator: ","))) }
        let certificate = try Self.mint(commonName, key: key, issuer: issuer ?? intermediate, issuerKey: issuerKey ?? intermediateKey,
                                        notBefore: notBefore, notAfter: notAfter, extensions: extensions)
        return (certificate, key)
    }

    nonisolated(unsafe) private static var serial: Int = 100

    static func mint(_ commonName: String, key: PKey, issuer: X509?, issuerKey: PKey, notBefore: Date, notAfter: Date,
                     extensions: [(String, String)]) throws -> X509 {
        guard let x = X509_new() else { throw StandInError.failed("X509_new") }
        let certificate = X509(takingOwnership: x)
        serial += 1
        X509_set_version(x, 2)
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial)
        ASN1_TIME_set(X509_getm_notBefore(x), time_t(notBefore.timeIntervalSince1970))
        ASN1_TIME_set(X509_getm_notAfter(x), time_t(notAfter.timeIntervalSince1970))
        let name = X509_NAME_new()
        defer { X509_NAME_free(name) }
        X509_NAME_add_entry_by_txt(name, "CN", 0x1001, commonName, -1, -1, 0)
        X509_set_subject_name(x, name)
        if let issuer {
            X509_set_issuer_name(x, X509_get_subject_name(issuer.raw))
        } else {
            X509_set_issuer_name(x, name)
        }
        X509_set_pubkey(x, key.raw)
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.raw ?? x, x, nil, nil, 0)
        var all = extensions + [("subjectKeyIdentifier", "hash")]
        if issuer != nil { all.append(("authorityKeyIdentifier", "keyid")) }
        for (extensionName, value) in all {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, OBJ_txt2nid(extensionName), value) else {
                throw StandInError.failed("extension \(extensionName)=\(value)")
            }
            X509_add_ext(x, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(x, issuerKey.raw, EVP_sha256()) > 0 else { throw StandInError.failed("sign") }
        ERR_clear_error()
        return certificate
    }

    /// A CRL signed by `issuer` revoking `serials`, as PEM.
    static func crlPEM(issuer: X509, key: PKey, revoking revoked: [X509], lastUpdate: Date = Date() - 3600,
                       nextUpdate: Date = Date() + 86400 * 7) throws -> String {
        guard let crl = X509_CRL_new() else { throw StandInError.failed("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        X509_CRL_set_version(crl, 1)
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer.raw))
        let last = ASN1_TIME_set(nil, time_t(lastUpdate.timeIntervalSince1970))
        let next = ASN1_TIME_set(nil, time_t(nextUpdate.timeIntervalSince1970))
        defer { ASN1_TIME_free(last); ASN1_TIME_free(next) }
        X509_CRL_set1_lastUpdate(crl, last)
        X509_CRL_set1_nextUpdate(crl, next)
        for certificate in revoked {
            let entry = X509_REVOKED_new()
            X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(certificate.raw))
            X509_REVOKED_set_revocationDate(entry, last)
            X509_CRL_add0_revoked(crl, entry)
        }
        X509_CRL_sort(crl)
        guard X509_CRL_sign(crl, key.raw, EVP_sha256()) > 0 else { throw StandInError.failed("CRL sign") }
        let pem = try MemoryBIO.collectString { bio in _ = PEM_write_bio_X509_CRL(bio, crl) }
        ERR_clear_error()
        return pem
    }
}
