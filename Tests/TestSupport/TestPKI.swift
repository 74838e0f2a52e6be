import Foundation
import Testing
import COpenSSL
// @testable only for the placeholder below: it wraps bare EVP_PKEY/X509
// objects with the library's internal owning initialisers. Everything else is
// public API, and no test target sees more through this module.
@testable import OpenSSL

/// A small PKI minted in-process, once per test run (thread-safe lazy static).
///
/// Keys are ECDSA P-256 unless noted. Names carry only a CN. Validity is
/// relative to the moment the PKI is built: CAs from a day ago for ten
/// years, leaves from a day ago for a year, except `expired` (ended 30 days
/// ago) and `notYetValid` (starts in 30 days). Every certificate has
/// subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints (critical)
/// and keyUsage (critical); leaves have extendedKeyUsage.
///
/// If building fails, nothing crashes: every property then records a test
/// issue saying why (so each test that uses the PKI fails with that reason)
/// and returns an empty placeholder.
package final class TestPKI: Sendable {
    /// The PKI, built on first use.
    package static let shared: TestPKI = TestPKI.make()

    /// Why building failed, or nil when it worked.
    package let buildFailure: String?
    private let material: Material

    /// CN=Test Root CA, self-signed, CA:true, keyCertSign+cRLSign.
    package var rootKey: PKey { use().rootKey }
    package var root: X509 { use().root }
    /// CN=Test Intermediate CA, CA:true pathlen:0, signed by `root`.
    package var intermediateKey: PKey { use().intermediateKey }
    package var intermediate: X509 { use().intermediate }
    /// CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1; EKU serverAuth; signed by `intermediate`.
    package var serverKey: PKey { use().serverKey }
    package var server: X509 { use().server }
    /// CN=Test Client, EKU clientAuth, signed by `intermediate`.
    package var clientKey: PKey { use().clientKey }
    package var client: X509 { use().client }
    /// Like `server`, but its validity ended 30 days ago.
    package var expiredKey: PKey { use().expiredKey }
    package var expired: X509 { use().expired }
    /// Like `server`, but its validity starts in 30 days.
    package var notYetValidKey: PKey { use().notYetValidKey }
    package var notYetValid: X509 { use().notYetValid }
    /// CN=wrong.example, SAN DNS:wrong.example only; EKU serverAuth; signed by `intermediate`.
    package var wrongHostKey: PKey { use().wrongHostKey }
    package var wrongHost: X509 { use().wrongHost }
    /// CN=Self-Signed Client, self-signed, CA:false, EKU clientAuth.
    package var selfSignedClientKey: PKey { use().selfSignedClientKey }
    package var selfSignedClient: X509 { use().selfSignedClient }
    /// CN=Test Ed25519 Root CA (Ed25519 key, self-signed).
    package var ed25519RootKey: PKey { use().ed25519RootKey }
    package var ed25519Root: X509 { use().ed25519Root }
    /// CN=localhost (Ed25519 key), SAN DNS:localhost, IP:127.0.0.1, signed directly by `ed25519Root`.
    package var ed25519ServerKey: PKey { use().ed25519ServerKey }
    package var ed25519Server: X509 { use().ed25519Server }
    /// CN=localhost with an RSA-2048 key, signed by `intermediate`, same SANs as `server`.
    package var rsaServerKey: PKey { use().rsaServerKey }
    package var rsaServer: X509 { use().rsaServer }
    /// CN=Test Second Intermediate CA, CA:true, signed by `intermediate` (violating its pathlen:0).
    package var secondIntermediateKey: PKey { use().secondIntermediateKey }
    package var secondIntermediate: X509 { use().secondIntermediate }
    /// CN=localhost leaf (SANs as `server`) signed by `secondIntermediate`: its chain breaks the path length.
    package var pathLengthViolatingLeafKey: PKey { use().pathLengthViolatingLeafKey }
    package var pathLengthViolatingLeaf: X509 { use().pathLengthViolatingLeaf }

    /// Issues an extra leaf (for ad-hoc cases in tests).
    ///
    /// A fresh P-256 key unless `key` is given; CN=`commonName`; the SANs
    /// (none when empty); basicConstraints CA:`isCA` (critical); keyUsage
    /// digitalSignature (+ keyEncipherment for RSA, + keyCertSign and cRLSign
    /// for a CA); extendedKeyUsage unless empty; key identifiers.
    package func issueLeaf(
        commonName: String, sans: [GeneralName], issuer: X509, issuerKey: PKey,
        notBefore: Date, notAfter: Date, isCA: Bool = false,
        extendedKeyUsage: [ExtendedKeyUsage] = [.serverAuth], key: PKey? = nil
    ) throws -> (PKey, X509) {
        try TestPKI.issue(
            commonName: commonName, sans: sans, issuer: issuer, issuerKey: issuerKey,
            notBefore: notBefore, notAfter: notAfter, isCA: isCA,
            extendedKeyUsage: extendedKeyUsage, key: key)
    }

    /// Writes PEM files into `directory` (created if missing), for tests that start `openssl` processes:
    ///
    /// - certificates: root.pem, intermediate.pem, server.pem, client.pem, expired.pem,
    ///   not-yet-valid.pem, wrong-host.pem, self-signed-client.pem, ed25519-root.pem,
    ///   ed25519-server.pem, rsa-server.pem, second-intermediate.pem, path-length-violating-leaf.pem;
    /// - each one's private key (PKCS#8, unencrypted) as `<name>-key.pem` (root-key.pem, server-key.pem, …);
    /// - chains: chain.pem = server + intermediate; fullchain.pem = server + intermediate + root;
    ///   client-chain.pem = client + intermediate; rsa-chain.pem = rsa-server + intermediate;
    ///   ca-bundle.pem = root + intermediate.
    package func writePEMFiles(to directory: URL) throws {
        let m = use()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pairs: [(String, PKey, X509)] = [
            ("root", m.rootKey, m.root),
            ("intermediate", m.intermediateKey, m.intermediate),
            ("server", m.serverKey, m.server),
            ("client", m.clientKey, m.client),
            ("expired", m.expiredKey, m.expired),
            ("not-yet-valid", m.notYetValidKey, m.notYetValid),
            ("wrong-host", m.wrongHostKey, m.wrongHost),
            ("self-signed-client", m.selfSignedClientKey, m.selfSignedClient),
            ("ed25519-root", m.ed25519RootKey, m.ed25519Root),
            ("ed25519-server", m.ed25519ServerKey, m.ed25519Server),
            ("rsa-server", m.rsaServerKey, m.rsaServer),
            ("second-intermediate", m.secondIntermediateKey, m.secondIntermediate),
            ("path-length-violating-leaf", m.pathLengthViolatingLeafKey, m.pathLengthViolatingLeaf),
        ]
        func write(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: directory.appendingPathComponent(name), options: .atomic)
        }
        for (name, key, certificate) in pairs {
            try write("\(name).pem", try certificate.pem)
            try write("\(name)-key.pem", try key.privateKeyPEM())
        }
        try write("chain.pem", try m.server.pem + m.intermediate.pem)
        try write("fullchain.pem", try m.server.pem + m.intermediate.pem + m.root.pem)
        try write("client-chain.pem", try m.client.pem + m.intermediate.pem)
        try write("rsa-chain.pem", try m.rsaServer.pem + m.intermediate.pem)
        try write("ca-bundle.pem", try m.root.pem + m.intermediate.pem)
    }

    // MARK: Building

    private struct Material: Sendable {
        var rootKey, intermediateKey, serverKey, clientKey, expiredKey, notYetValidKey, wrongHostKey,
            selfSignedClientKey, ed25519RootKey, ed25519ServerKey, rsaServerKey, secondIntermediateKey,
            pathLengthViolatingLeafKey: PKey
        var root, intermediate, server, client, expired, notYetValid, wrongHost, selfSignedClient,
            ed25519Root, ed25519Server, rsaServer, secondIntermediate, pathLengthViolatingLeaf: X509
    }

    private init(material: Material, buildFailure: String?) {
        self.material = material
        self.buildFailure = buildFailure
    }

    private func use() -> Material {
        if let buildFailure {
            Issue.record("TestPKI could not be built: \(buildFailure)")
        }
        return material
    }

    private static func make() -> TestPKI {
        do {
            return TestPKI(material: try build(), buildFailure: nil)
        } catch {
            return TestPKI(material: placeholder(), buildFailure: String(describing: error))
        }
    }

    /// Empty objects standing in for the PKI when it could not be built; any
    /// use of them fails (and `use()` has already recorded why).
    private static func placeholder() -> Material {
        guard let keyPointer = EVP_PKEY_new(), let certificatePointer = X509_new() else {
            preconditionFailure("TestPKI: out of memory making placeholders")
        }
        let key = PKey(takingOwnership: keyPointer, hasPrivateKey: false)
        let certificate = X509(takingOwnership: certificatePointer)
        return Material(
            rootKey: key, intermediateKey: key, serverKey: key, clientKey: key, expiredKey: key,
            notYetValidKey: key, wrongHostKey: key, selfSignedClientKey: key, ed25519RootKey: key,
            ed25519ServerKey: key, rsaServerKey: key, secondIntermediateKey: key, pathLengthViolatingLeafKey: key,
            root: certificate, intermediate: certificate, server: certificate, client: certificate,
            expired: certificate, notYetValid: certificate, wrongHost: certificate, selfSignedClient: certificate,
            ed25519Root: certificate, ed25519Server: certificate, rsaServer: certificate,
            secondIntermediate: certificate, pathLengthViolatingLeaf: certificate)
    }

    private static let day: TimeInterval = 86_400

    private static func build() throws -> Material {
        let now = Date()
        let caStart = now - day
        let caEnd = now + 3650 * day
        let leafStart = now - day
        let leafEnd = now + 365 * day
        let serverSANs: [GeneralName] = [.dnsName("localhost"), try .ipAddress("127.0.0.1"), try .ipAddress("::1")]

        let (rootKey, root) = try selfSignedCA(
            commonName: "Test Root CA", key: try PKey.generate(.ec(.p256)),
            notBefore: caStart, notAfter: caEnd)
        let (intermediateKey, intermediate) = try issue(
            commonName: "Test Intermediate CA", sans: [], issuer: root, issuerKey: rootKey,
            notBefore: caStart, notAfter: caEnd, isCA: true, pathLength: 0, extendedKeyUsage: [])
        let (serverKey, server) = try issue(
            commonName: "localhost", sans: serverSANs, issuer: intermediate, issuerKey: intermediateKey,
            notBefore: leafStart, notAfter: leafEnd)
        let (clientKey, client) = try issue(
            commonName: "Test Client", sans: [], issuer: intermediate, issuerKey: intermediateKey,
            notBefore: leafStart, notAfter: leafEnd, extendedKeyUsage: [.clientAuth])
        let (expiredKey, expired) = try issue(
            commonName: "localhost", sans: serverSANs, issuer: intermediate, issuerKey: intermediateKey,
            notBefore: now - 400 * day, notAfter: now - 30 * day)
        let (notYetValidKey, notYetValid) = try issue(
            commonName: "localhost", sans: serverSANs, issuer: intermediate, issuerKey: intermediateKey,
            notBefore: now + 30 * day, notAfter: now + 400 * day)
        let (wrongHostKey, wrongHost) = try issue(
            commonName: "wrong.example", sans: [.dnsName("wrong.example")], issuer: intermediate,
            issuerKey: intermediateKey, notBefore: leafStart, notAfter: leafEnd)

        let selfSignedClientKey = try PKey.generate(.ec(.p256))
        var selfSigned = X509Builder(
            subject: try X509Name([("CN", "Self-Signed Client")]),
            publicKey: selfSignedClientKey, notBefore: leafStart, notAfter: leafEnd)
        try selfSigned.addBasicConstraints(isCA: false)
        try selfSigned.addKeyUsage([.digitalSignature])
        try selfSigned.addExtendedKeyUsage([.clientAuth])
        selfSigned.addSubjectKeyIdentifier()
        selfSigned.addAuthorityKeyIdentifier()
        let selfSignedClient = try selfSigned.sign(with: selfSignedClientKey)

        let (ed25519RootKey, ed25519Root) = try selfSignedCA(
            commonName: "Test Ed25519 Root CA", key: try PKey.generate(.ed25519), notBefore: caStart, notAfter: caEnd)
        let (ed25519ServerKey, ed25519Server) = try issue(
            commonName: "localhost", sans: [.dnsName("localhost"), try .ipAddress("127.0.0.1")],
            issuer: ed25519Root, issuerKey: ed25519RootKey, notBefore: leafStart, notAfter: leafEnd,
            key: try PKey.generate(.ed25519))
        let (rsaServerKey, rsaServer) = try issue(
            commonName: "localhost", sans: serverSANs, issuer: intermediate, issuerKey: intermediateKey,
            notBefore: leafStart, notAfter: leafEnd, key: try PKey.generate(.rsa(bits: 2048)))
        let (secondIntermediateKey, secondIntermediate) = try issue(
            commonName: "Test Second Intermediate CA", sans: [], issuer: intermediate, issuerKey: intermediateKey,
            notBefore: caStart, notAfter: caEnd, isCA: true, extendedKeyUsage: [])
        let (pathLengthViolatingLeafKey, pathLengthViolatingLeaf) = try issue(
            commonName: "localhost", sans: serverSANs, issuer: secondIntermediate, issuerKey: secondIntermediateKey,
            notBefore: leafStart, notAfter: leafEnd)

        return Material(
            rootKey: rootKey, intermediateKey: intermediateKey, serverKey: serverKey, clientKey: clientKey,
            expiredKey: expiredKey, notYetValidKey: notYetValidKey, wrongHostKey: wrongHostKey,
            selfSignedClientKey: selfSignedClientKey, ed25519RootKey: ed25519RootKey,
            ed25519ServerKey: ed25519ServerKey, rsaServerKey: rsaServerKey,
            secondIntermediateKey: secondIntermediateKey, pathLengthViolatingLeafKey: pathLengthViolatingLeafKey,
            root: root, intermediate: intermediate, server: server, client: client, expired: expired,
            notYetValid: notYetValid, wrongHost: wrongHost, selfSignedClient: selfSignedClient,
            ed25519Root: ed25519Root, ed25519Server: ed25519Server, rsaServer: rsaServer,
            secondIntermediate: secondIntermediate, pathLengthViolatingLeaf: pathLengthViolatingLeaf)
    }

    private static func selfSignedCA(commonName: String, key: PKey, notBefore: Date, notAfter: Date) throws -> (PKey, X509) {
        var builder = X509Builder(
            subject: try X509Name([("CN", commonName)]), publicKey: key,
            notBefore: notBefore, notAfter: notAfter)
        try builder.addBasicConstraints(isCA: true)
        try builder.addKeyUsage([.keyCertSign, .cRLSign])
        builder.addSubjectKeyIdentifier()
        builder.addAuthorityKeyIdentifier()
        return (key, try builder.sign(with: key))
    }

    private static func issue(
        commonName: String, sans: [GeneralName], issuer: X509, issuerKey: PKey,
        notBefore: Date, notAfter: Date, isCA: Bool = false, pathLength: Int? = nil,
        extendedKeyUsage: [ExtendedKeyUsage] = [.serverAuth], key: PKey? = nil
    ) throws -> (PKey, X509) {
        let subjectKey = try key ?? PKey.generate(.ec(.p256))
        var builder = X509Builder(
            subject: try X509Name([("CN", commonName)]), publicKey: subjectKey,
            notBefore: notBefore, notAfter: notAfter)
        try builder.addBasicConstraints(isCA: isCA, pathLength: pathLength)
        var usage: KeyUsage = [.digitalSignature]
        if subjectKey.type == .rsa { usage.insert(.keyEncipherment) }
        if isCA { usage.formUnion([.keyCertSign, .cRLSign]) }
        try builder.addKeyUsage(usage)
        if !extendedKeyUsage.isEmpty { try builder.addExtendedKeyUsage(extendedKeyUsage) }
        if !sans.isEmpty { try builder.addSubjectAlternativeNames(sans) }
        builder.addSubjectKeyIdentifier()
        builder.addAuthorityKeyIdentifier()
        return (subjectKey, try builder.sign(with: issuerKey, issuer: issuer))
    }
}
