import Foundation
import OpenSSL

/// The certificates and keys every implementation uses, as PEM text: a P-256
/// root, server leaves (P-256 and RSA-2048) for "localhost" signed by it, and
/// a self-signed P-256 client certificate for mutual TLS.
struct PKI {
    var rootPEM: String
    var ecdsaCertificatePEM: String
    var ecdsaKeyPEM: String
    var rsaCertificatePEM: String
    var rsaKeyPEM: String
    var clientCertificatePEM: String
    var clientKeyPEM: String

    static let fileNames = ["root.pem", "ecdsa.pem", "ecdsa.key", "rsa.pem", "rsa.key", "client.pem", "client.key"]

    static func generate() throws -> PKI {
        let now = Date()
        let rootKey = try PKey.generate(.ec(.p256))
        var rootBuilder = X509Builder(subject: try X509Name([("CN", "bench root")]), publicKey: rootKey,
                                      notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        try rootBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        let root = try rootBuilder.sign(with: rootKey, digest: .sha256)

        func leaf(_ key: PKey) throws -> X509 {
            var builder = X509Builder(subject: try X509Name([("CN", "localhost")]), publicKey: key,
                                      notBefore: now - 3600, notAfter: now + 30 * 86_400)
            builder.issuer = try root.subject
            try builder.addSubjectAlternativeNames([.dnsName("localhost")])
            try builder.addExtendedKeyUsage([.serverAuth])
            return try builder.sign(with: rootKey, digest: .sha256, issuer: root)
        }
        let ecdsaKey = try PKey.generate(.ec(.p256))
        let rsaKey = try PKey.generate(.rsa(bits: 2048))
        let clientKey = try PKey.generate(.ec(.p256))
        var clientBuilder = X509Builder(subject: try X509Name([("CN", "bench client")]), publicKey: clientKey,
                                        notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try clientBuilder.addExtendedKeyUsage([.clientAuth])
        let client = try clientBuilder.sign(with: clientKey, digest: .sha256)
        return PKI(rootPEM: try root.pem,
                   ecdsaCertificatePEM: try leaf(ecdsaKey).pem, ecdsaKeyPEM: try ecdsaKey.privateKeyPEM(),
                   rsaCertificatePEM: try leaf(rsaKey).pem, rsaKeyPEM: try rsaKey.privateKeyPEM(),
                   clientCertificatePEM: try client.pem, clientKeyPEM: try clientKey.privateKeyPEM())
    }

    var texts: [String] {
        [rootPEM, ecdsaCertificatePEM, ecdsaKeyPEM, rsaCertificatePEM, rsaKeyPEM, clientCertificatePEM, clientKeyPEM]
    }

    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in zip(PKI.fileNames, texts) {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
    }

    static func load(from directory: String) throws -> PKI {
        let t = try fileNames.map { try String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }
        return PKI(rootPEM: t[0], ecdsaCertificatePEM: t[1], ecdsaKeyPEM: t[2], rsaCertificatePEM: t[3],
                   rsaKeyPEM: t[4], clientCertificatePEM: t[5], clientKeyPEM: t[6])
    }
}
