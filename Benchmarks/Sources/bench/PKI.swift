import Foundation
import OpenSSL

/// The certificates and keys every implementation uses, as PEM text: a P-256
/// root, server leaves (P-256 and RSA-2048) for "localhost" signed by it, and
/// a self-signed P-256 client certificate for mutual TLS; and for W8 a
/// three-certificate chain that passes every Web-PKI rule (root →
/// intermediate → leaf for www.example.com, P-256, key identifiers, critical
/// basicConstraints), the shape of Tests/OpenSSLTests/WebPKIFixture.swift's.
struct PKI {
    var rootPEM: String
    var ecdsaCertificatePEM: String
    var ecdsaKeyPEM: String
    var rsaCertificatePEM: String
    var rsaKeyPEM: String
    var clientCertificatePEM: String
    var clientKeyPEM: String
    var chainRootPEM: String
    var chainIntermediatePEM: String
    var chainLeafPEM: String

    /// The host name W8's leaf is for (CN and subjectAltName).
    static let chainHost = "www.example.com"

    static let fileNames = [
        "root.pem", "ecdsa.pem", "ecdsa.key", "rsa.pem", "rsa.key", "client.pem", "client.key",
        "chain-root.pem", "chain-intermediate.pem", "chain-leaf.pem",
    ]

    static func generate() throws -> PKI {
        let now = Date()
        let rootKey = try PKey.generate(.ec(.p256))
        var rootBuilder = X509Builder(
            subject: try X509Name([("CN", "bench root")]), publicKey: rootKey,
            notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        try rootBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        let root = try rootBuilder.sign(with: rootKey, digest: .sha256)

        func leaf(_ key: PKey) throws -> X509 {
            var builder = X509Builder(
                subject: try X509Name([("CN", "localhost")]), publicKey: key,
                notBefore: now - 3600, notAfter: now + 30 * 86_400)
            builder.issuer = try root.subject
            try builder.addSubjectAlternativeNames([.dnsName("localhost")])
            try builder.addExtendedKeyUsage([.serverAuth])
            return try builder.sign(with: rootKey, digest: .sha256, issuer: root)
        }
        let ecdsaKey = try PKey.generate(.ec(.p256))
        let rsaKey = try PKey.generate(.rsa(bits: 2048))
        let clientKey = try PKey.generate(.ec(.p256))
        var clientBuilder = X509Builder(
            subject: try X509Name([("CN", "bench client")]), publicKey: clientKey,
            notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try clientBuilder.addExtendedKeyUsage([.clientAuth])
        let client = try clientBuilder.sign(with: clientKey, digest: .sha256)
        let chain = try webPKIChain(now: now)
        return PKI(
            rootPEM: try root.pem,
            ecdsaCertificatePEM: try leaf(ecdsaKey).pem, ecdsaKeyPEM: try ecdsaKey.privateKeyPEM(),
            rsaCertificatePEM: try leaf(rsaKey).pem, rsaKeyPEM: try rsaKey.privateKeyPEM(),
            clientCertificatePEM: try client.pem, clientKeyPEM: try clientKey.privateKeyPEM(),
            chainRootPEM: try chain.root.pem, chainIntermediatePEM: try chain.intermediate.pem,
            chainLeafPEM: try chain.leaf.pem)
    }

    /// W8's chain: every certificate as a public CA would issue it, so both
    /// policies accept it and `.webPKI` runs every rule to the end.
    static func webPKIChain(now: Date) throws -> (root: X509, intermediate: X509, leaf: X509) {
        let rootKey = try PKey.generate(.ec(.p256))
        let intermediateKey = try PKey.generate(.ec(.p256))
        let leafKey = try PKey.generate(.ec(.p256))
        var rootBuilder = X509Builder(
            subject: try X509Name([("CN", "bench W8 root")]), publicKey: rootKey,
            notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        try rootBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        rootBuilder.addSubjectKeyIdentifier()
        rootBuilder.addAuthorityKeyIdentifier()
        let root = try rootBuilder.sign(with: rootKey, digest: .sha256)

        var intermediateBuilder = X509Builder(
            subject: try X509Name([("CN", "bench W8 intermediate")]),
            publicKey: intermediateKey, notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try intermediateBuilder.addBasicConstraints(isCA: true, pathLength: 0)
        try intermediateBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        intermediateBuilder.addSubjectKeyIdentifier()
        intermediateBuilder.addAuthorityKeyIdentifier()
        let intermediate = try intermediateBuilder.sign(with: rootKey, digest: .sha256, issuer: root)

        var leafBuilder = X509Builder(
            subject: try X509Name([("CN", chainHost)]), publicKey: leafKey,
            notBefore: now - 3600, notAfter: now + 30 * 86_400)
        try leafBuilder.addBasicConstraints(isCA: false)
        try leafBuilder.addKeyUsage([.digitalSignature])
        try leafBuilder.addExtendedKeyUsage([.serverAuth])
        try leafBuilder.addSubjectAlternativeNames([.dnsName(chainHost), .dnsName("example.com")])
        leafBuilder.addSubjectKeyIdentifier()
        leafBuilder.addAuthorityKeyIdentifier()
        let leaf = try leafBuilder.sign(with: intermediateKey, digest: .sha256, issuer: intermediate)
        return (root, intermediate, leaf)
    }

    var texts: [String] {
        [
            rootPEM, ecdsaCertificatePEM, ecdsaKeyPEM, rsaCertificatePEM, rsaKeyPEM, clientCertificatePEM, clientKeyPEM,
            chainRootPEM, chainIntermediatePEM, chainLeafPEM,
        ]
    }

    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in zip(PKI.fileNames, texts) {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
    }

    static func load(from directory: String) throws -> PKI {
        let t = try fileNames.map { try String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }
        return PKI(
            rootPEM: t[0], ecdsaCertificatePEM: t[1], ecdsaKeyPEM: t[2], rsaCertificatePEM: t[3],
            rsaKeyPEM: t[4], clientCertificatePEM: t[5], clientKeyPEM: t[6],
            chainRootPEM: t[7], chainIntermediatePEM: t[8], chainLeafPEM: t[9])
    }
}
