// Seed inputs for the fuzz targets, made with the library's own builders.
//
// Compiled with FuzzHarness.swift into the libFuzzer binary (Scripts/fuzz.sh
// asks it to write them before fuzzing, so no corpus is committed) and into
// the test target (FuzzRegressionTests checks every seed is accepted by its
// target, so the harness really reaches the getters).
import Foundation
import OpenSSL

enum FuzzSeeds {
    struct Seed: Sendable {
        let target: FuzzTarget
        let name: String
        let bytes: [UInt8]
    }

    /// Every seed of every target.
    static func make() throws -> [Seed] {
        guard let material = FuzzHarness.material else {
            throw SeedError(description: "the fuzz harness could not build its certificates")
        }
        var seeds: [Seed] = []
        func add(_ target: FuzzTarget, _ name: String, _ bytes: [UInt8]) {
            seeds.append(Seed(target: target, name: name, bytes: bytes))
        }
        func add(_ target: FuzzTarget, _ name: String, _ text: String) {
            add(target, name, Array(text.utf8))
        }

        // Certificates: the harness's own, a leaf with every extension the
        // builder makes, and leaves with other key types.
        let now = Date()
        let rich = try richCertificate(material: material, now: now)
        let ed25519Key = try PKey.generate(.ed25519)
        let ed25519 = try X509Builder(
            subject: try X509Name([("CN", "ed25519"), ("O", "Fuzz")]), publicKey: ed25519Key,
            notBefore: now, notAfter: now + 86_400
        ).sign(with: ed25519Key)
        let rsaKey = try PKey.generate(.rsa(bits: 1024))
        var rsaBuilder = X509Builder(
            subject: try X509Name([("CN", "rsa")]), publicKey: rsaKey,
            notBefore: now, notAfter: now + 86_400)
        try rsaBuilder.addBasicConstraints(isCA: false)
        let rsa = try rsaBuilder.sign(with: rsaKey, digest: .sha256)
        let certificates: [(String, X509)] = [
            ("ca", material.ca), ("server", material.server), ("client", material.client),
            ("rich", rich), ("ed25519", ed25519), ("rsa", rsa),
        ]
        for (name, certificate) in certificates {
            let pem = try certificate.pem
            add(.x509PEM, name + ".pem", pem)
            add(.x509JSON, name + ".pem", pem)
            add(.x509DER, name + ".der", try certificate.der)
            add(.x509JSON, name + ".der", try certificate.der)
        }
        add(.x509PEM, "chain.pem", try material.server.pem + material.ca.pem)
        add(.x509DER, "name.der", try rich.subject.der)

        // Keys: each type as PKCS#8 and traditional PEM, encrypted PEM and
        // DER (passphrase "fuzz"), and the public halves.
        let p384 = try PKey.generate(.ec(.p384))
        let keys: [(String, PKey)] = [("p256", material.serverKey), ("p384", p384), ("ed25519", ed25519Key), ("rsa1024", rsaKey)]
        let secret = Passphrase(FuzzHarness.passphrase)
        for (name, key) in keys {
            add(.pkey, "\(name)-pkcs8.pem", try key.privateKeyPEM())
            add(.pkey, "\(name)-traditional.pem", try key.privateKeyPEM(format: .traditional))
            add(.pkey, "\(name)-encrypted.pem", try key.privateKeyPEM(passphrase: secret))
            add(.pkey, "\(name).der", try key.privateKeyDER())
            add(.pkey, "\(name)-encrypted.der", try key.privateKeyDER(passphrase: secret))
            add(.pkey, "\(name)-public.pem", try key.publicKeyPEM())
            add(.pkey, "\(name)-public.der", try key.publicKeyDER())
        }

        // A request with extensions.
        var requestBuilder = X509RequestBuilder(subject: try X509Name([("CN", "request"), ("O", "Fuzz"), ("C", "DE")]))
        try requestBuilder.addSubjectAlternativeNames([
            .dnsName("request.example"), .email("a@example.com"),
            try .ipAddress("192.0.2.1"),
        ])
        let request = try requestBuilder.sign(with: material.clientKey)
        add(.csr, "request.pem", try request.pem)
        add(.csr, "request.der", try request.der)

        // A CRL with entries, reasons and a number.
        var crlBuilder = CRLBuilder(lastUpdate: now - 60, nextUpdate: now + 86_400)
        crlBuilder.revoke(serialNumber: BigEndianInteger(1), at: now - 3600, reason: .keyCompromise)
        crlBuilder.revoke(serialNumber: BigEndianInteger(0x1234_5678_9abc), at: now - 60, reason: .superseded)
        crlBuilder.revoke(material.client, at: now - 10)
        crlBuilder.crlNumber = BigEndianInteger(42)
        let list = try crlBuilder.sign(with: material.caKey, issuer: material.ca)
        add(.crl, "crl.pem", try list.pem)
        add(.crl, "crl.der", try list.der)

        // PKCS#12: with the passphrase (one iteration keeps the fuzzer fast, and
        // the default count), and unencrypted.
        let bundle = PKCS12(
            privateKey: material.clientKey, certificate: material.client,
            caCertificates: [material.ca], friendlyName: "fuzz")
        add(.pkcs12, "one-iteration.p12", try bundle.der(passphrase: secret, iterations: 1))
        add(.pkcs12, "default.p12", try bundle.der(passphrase: secret))
        add(.pkcs12, "no-passphrase.p12", try bundle.der(passphrase: nil, iterations: 1))

        // TLS: ClientHellos for the server; a server's first flight (TLS 1.2
        // in the clear up to ServerHelloDone; TLS 1.3 up to the encrypted
        // part) for the client.
        for version in [ProtocolVersion.tls1_2, .tls1_3] {
            let (hello, reply) = try firstFlights(material: material, maximum: version)
            add(.tlsServer, "client-hello-\(version).bin", hello)
            add(.tlsClient, "server-flight-\(version).bin", reply)
        }
        // Sessions of finished TLS 1.2 and TLS 1.3 handshakes (with a ticket), as an external cache keeps them.
        for version in [ProtocolVersion.tls1_2, .tls1_3] {
            add(.session, "session-\(version).der", try finishedSession(material: material, maximum: version).der)
        }
        return seeds
    }

    /// A client's session after a full handshake with the harness's server, data both ways and a clean close.
    static func finishedSession(material: FuzzHarness.Material, maximum: ProtocolVersion) throws -> Session {
        let clientContext = try Context.client(trusting: [material.ca], certificate: material.client, key: material.clientKey)
        try clientContext.setMaximumProtocolVersion(maximum)
        let client = try Connection(clientContext)
        client.setConnectState()
        try client.setServerName("localhost")
        let server = try Connection(material.serverContext)
        server.setAcceptState()
        func pump() throws {
            var moved = true
            while moved {
                moved = false
                while client.pendingCiphertext > 0 {
                    try server.bioWrite(try client.bioRead(max: 65_536))
                    moved = true
                }
                while server.pendingCiphertext > 0 {
                    try client.bioWrite(try server.bioRead(max: 65_536))
                    moved = true
                }
            }
        }
        for _ in 0..<32 where !(client.isHandshakeDone && server.isHandshakeDone) {
            _ = try? client.doHandshake()
            _ = try? server.doHandshake()
            try pump()
        }
        try server.writeAll(Array("ticket".utf8))
        try pump()
        _ = try client.read(max: 100)
        guard let session = client.session else { throw SeedError(description: "no \(maximum) session") }
        return session
    }

    struct SeedError: Error, CustomStringConvertible {
        let description: String
    }

    /// A leaf with every kind of alternative name and the extensions the builder knows.
    static func richCertificate(material: FuzzHarness.Material, now: Date) throws -> X509 {
        let key = try PKey.generate(.ec(.p256))
        var builder = X509Builder(
            subject: try X509Name([
                ("C", "DE"), ("ST", "Berlin"), ("O", "Fuzz & Co"), ("OU", "Ünits"),
                ("CN", "rich.example"), ("emailAddress", "rich@example.com"),
            ]),
            publicKey: key, notBefore: now - 60, notAfter: now + 86_400)
        builder.serialNumber = BigEndianInteger(magnitude: [0x7f, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06])
        try builder.addSubjectAlternativeNames([
            .dnsName("rich.example"), .dnsName("*.rich.example"), try .ipAddress("192.0.2.7"),
            try .ipAddress("2001:db8::7"), .email("rich@example.com"), .uri("https://rich.example/x"),
            .directoryName(try X509Name([("CN", "dir")])), .registeredID("1.2.3.4"),
            .otherName(typeID: "1.3.6.1.4.1.311.20.2.3", value: [0x0c, 0x03, 0x61, 0x62, 0x63]),
        ])
        try builder.addBasicConstraints(isCA: false)
        try builder.addKeyUsage([.digitalSignature, .keyEncipherment, .keyAgreement])
        try builder.addExtendedKeyUsage([.serverAuth, .clientAuth, .codeSigning, ExtendedKeyUsage(oid: "1.2.3.4.5")])
        builder.addSubjectKeyIdentifier()
        builder.addAuthorityKeyIdentifier(includeIssuerNameAndSerial: true)
        try builder.addCRLDistributionPoints(urls: ["http://crl.example/ca.crl"])
        try builder.addAuthorityInformationAccess(ocsp: ["http://ocsp.example"], caIssuers: ["http://ca.example/ca.der"])
        try builder.addNameConstraints(permitted: [.dnsName("example")], excluded: [try .ipAddress("10.0.0.0")])
        return try builder.sign(with: material.caKey, issuer: material.ca)
    }

    /// A ClientHello, and what the server answers it with (its first flight).
    static func firstFlights(material: FuzzHarness.Material, maximum: ProtocolVersion) throws -> ([UInt8], [UInt8]) {
        let clientContext = try Context.client(trusting: [material.ca])
        try clientContext.setMaximumProtocolVersion(maximum)
        try clientContext.clearOptions(.enableMiddleboxCompat)
        try clientContext.setALPNProtocols(["h2", "http/1.1"])
        let client = try Connection(clientContext)
        client.setConnectState()
        try client.setServerName("localhost")
        // A server limited to the same version: a TLS 1.3 server answering
        // with TLS 1.2 marks its random as a downgrade, which the harness's
        // client (TLS 1.3 capable) refuses.
        let serverContext = try Context.server(certificate: material.server, key: material.serverKey)
        try serverContext.setMaximumProtocolVersion(maximum)
        let server = try Connection(serverContext)
        server.setAcceptState()
        _ = try? client.doHandshake()
        let hello = try client.bioRead(max: 65_536)
        try server.bioWrite(hello)
        _ = try? server.doHandshake()
        var reply: [UInt8] = []
        while server.pendingCiphertext > 0 { reply += try server.bioRead(max: 65_536) }
        return (hello, reply)
    }
}
