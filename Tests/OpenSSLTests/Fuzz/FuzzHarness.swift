// The fuzz harness: what each fuzz target does with one input.
//
// This one file is compiled twice: into the libFuzzer binary that
// Scripts/fuzz.sh builds (with Fuzz/FuzzMain.swift and the library sources),
// and into the test target, where FuzzRegressionTests replays every saved
// finding (Tests/OpenSSLTests/Fixtures/fuzz-regressions/<target>/*) through
// exactly the same code. It uses the library's public API only.
//
// A finding is a crash (a trap, an ASan report) or an input after which
// OpenSSL's error queue is not empty: the library promises never to leave an
// error behind for the next caller.
import Foundation
import COpenSSL
import OpenSSL

/// The fuzz targets, by the name Scripts/fuzz.sh and the regression folders use.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// `X509(pem:)` and `X509.chain(pem:)`, then every getter.
    case x509PEM = "x509-pem"
    /// `X509(der:)` and `X509Name(der:)`, then every getter.
    case x509DER = "x509-der"
    /// Private keys (PEM and DER, with a passphrase) and public keys (PEM and DER).
    case pkey
    /// Certificate signing requests, PEM and DER.
    case csr
    /// Certificate revocation lists, PEM and DER.
    case crl
    /// PKCS#12 bundles, with a passphrase and without.
    case pkcs12
    /// What `ossl x509 --json` reads from a certificate, rendered as JSON
    /// (with the CLI's own `CertificateReport` when Scripts/fuzz.sh finds it).
    case x509JSON = "x509-json"
    /// A server connection fed the input as a client's ciphertext.
    case tlsServer = "tls-server"
    /// A client connection fed the input as a server's ciphertext.
    case tlsClient = "tls-client"
    /// `Session(der:)` (an external session cache's entry), its getters, and
    /// a client offering it in a ClientHello.
    case session
}

/// What one input did.
struct FuzzOutcome: Sendable {
    /// True when the input was accepted (parsed; for TLS: at least one record processed without a protocol error).
    var accepted = false
    /// The first code left on the calling thread's OpenSSL error queue (0: none).
    var leftOnQueue: UInt = 0
    /// Where it was left, when it was.
    var queueText = ""
}

enum FuzzHarness {
    /// The passphrase encrypted seeds use; the fuzzer mutates around it.
    static let passphrase = "fuzz"

    /// Runs `target` on `data`, then looks at the error queue (and empties it).
    static func run(_ target: FuzzTarget, _ data: [UInt8]) -> FuzzOutcome {
        ERR_clear_error()
        var outcome = FuzzOutcome()
        switch target {
        case .x509PEM: outcome.accepted = x509PEM(data)
        case .x509DER: outcome.accepted = x509DER(data)
        case .pkey: outcome.accepted = pkey(data)
        case .csr: outcome.accepted = csr(data)
        case .crl: outcome.accepted = crl(data)
        case .pkcs12: outcome.accepted = pkcs12(data)
        case .x509JSON: outcome.accepted = x509JSON(data)
        case .tlsServer: outcome.accepted = tlsServer(data)
        case .tlsClient: outcome.accepted = tlsClient(data)
        case .session: outcome.accepted = session(data)
        }
        let code = ERR_peek_error()
        if code != 0 {
            outcome.leftOnQueue = code
            outcome.queueText = queueDescription()
            ERR_clear_error()
        }
        return outcome
    }

    /// The error queue as text: "lib:reason (file:line)" per entry.
    static func queueDescription() -> String {
        var lines: [String] = []
        var file: UnsafePointer<CChar>?
        var line: Int32 = 0
        var function: UnsafePointer<CChar>?
        var data: UnsafePointer<CChar>?
        var flags: Int32 = 0
        while true {
            let code = ERR_peek_error_all(&file, &line, &function, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let fileName = file.map { String(cString: $0) } ?? "?"
            let functionName = function.map { String(cString: $0) } ?? "?"
            lines.append("\(text) in \(functionName) (\(fileName):\(line))")
            ERR_get_error()
        }
        return lines.joined(separator: "\n")
    }

    // MARK: Certificates

    static func x509PEM(_ data: [UInt8]) -> Bool {
        var accepted = false
        if let certificate = try? X509(pem: data) {
            exercise(certificate)
            accepted = true
        }
        if let chain = try? X509.chain(pem: data) {
            for certificate in chain.prefix(8) { exercise(certificate) }
            verifyChain(chain)
            accepted = true
        }
        if let certificate = try? X509(pemOrDER: data) {
            _ = certificate.description
            accepted = true
        }
        return accepted
    }

    static func x509DER(_ data: [UInt8]) -> Bool {
        var accepted = false
        if let certificate = try? X509(der: data) {
            exercise(certificate)
            verifyChain([certificate])
            accepted = true
        }
        if let name = try? X509Name(der: data) {
            exercise(name)
            accepted = true
        }
        return accepted
    }

    /// Calls every getter of a certificate (and of what it returns).
    static func exercise(_ certificate: X509) {
        _ = certificate.version
        _ = certificate.serialNumber.hexString
        _ = certificate.serialNumber.int64Value
        if let subject = try? certificate.subject { exercise(subject) }
        if let issuer = try? certificate.issuer { exercise(issuer) }
        _ = try? certificate.notBefore
        _ = try? certificate.notAfter
        _ = certificate.hasExpired
        _ = certificate.isValid()
        if let key = try? certificate.publicKey { exercisePublic(key) }
        _ = certificate.signatureAlgorithm
        _ = certificate.signature
        _ = try? certificate.digest(.sha1)
        _ = try? certificate.digest(.sha256)
        _ = try? certificate.fingerprint(.sha256)
        _ = certificate.isSelfSigned
        for ext in certificate.extensions { exercise(ext) }
        _ = try? certificate.subjectAlternativeNames?.map(\.description)
        _ = try? certificate.issuerAlternativeNames?.map(\.description)
        _ = try? certificate.basicConstraints
        _ = try? certificate.keyUsage?.description
        _ = try? certificate.extendedKeyUsage?.map { ($0.name, $0.shortName, $0.description) }
        _ = try? certificate.subjectKeyIdentifier
        _ = try? certificate.authorityKeyIdentifier
        _ = try? certificate.crlDistributionPoints?.map(\.urls)
        _ = try? certificate.authorityInfoAccess
        _ = try? certificate.ocspURLs
        _ = try? certificate.caIssuerURLs
        _ = certificate.matches(host: "localhost")
        _ = certificate.matches(host: "www.example.com")
        _ = certificate.matches(ipAddress: "127.0.0.1")
        _ = certificate.matches(ipAddress: "::1")
        _ = certificate.matches(email: "a@example.com")
        _ = try? certificate.text
        _ = certificate.description
        _ = try? certificate.pem
        if let der = try? certificate.der, let again = try? X509(der: der) {
            _ = again == certificate
        }
        _ = certificate.hashValue
    }

    /// Calls every getter of a name.
    static func exercise(_ name: X509Name) {
        for component in name.components {
            _ = (
                component.oid, component.shortName, component.longName, component.value, component.rawValue,
                component.stringType, component.rdnIndex, component.name
            )
        }
        _ = name.commonName
        _ = try? name.values(for: "O")
        _ = name.emailAddress
        _ = name.der
        _ = name.hash
        _ = name.rfc2253String
        _ = name.oneLineString
        _ = name.slashSeparatedString
        _ = name.description
        _ = name == name
        _ = name.hashValue
    }

    /// Reads an extension as OpenSSL prints it and with every typed decoder
    /// (each refuses a value of another type with an error).
    static func exercise(_ ext: X509Extension) {
        _ = (ext.oid, ext.shortName, ext.longName, ext.isCritical)
        _ = ext.text
        _ = try? ext.generalNames().map(\.description)
        _ = try? ext.basicConstraints()
        _ = try? ext.keyUsage().names
        _ = try? ext.extendedKeyUsage().map(\.description)
        _ = try? ext.subjectKeyIdentifier()
        if let identifier = try? ext.authorityKeyIdentifier() {
            _ = identifier.issuer?.map(\.description)
            _ = identifier.serialNumber?.hexString
        }
        if let points = try? ext.crlDistributionPoints() {
            for point in points {
                _ = point.urls
                _ = point.relativeName?.rfc2253String
                _ = point.crlIssuer?.map(\.description)
            }
        }
        _ = try? ext.authorityInfoAccess().map { ($0.method, $0.location.description) }
        _ = try? ext.reasonCode().description
        _ = try? ext.crlNumber().hexString
    }

    /// Verifies the chain against its own last certificate as the trust
    /// anchor: chain building, signature checks, extension policy checks.
    static func verifyChain(_ chain: [X509]) {
        guard let leaf = chain.first, let anchor = chain.last, let store = try? X509Store() else { return }
        _ = try? store.add(anchor)
        _ = try? store.setExpectedHost("localhost")
        _ = try? store.verify(leaf, untrusted: Array(chain.dropFirst().prefix(8)))
        if let context = try? X509StoreContext(store: store, certificate: leaf, untrusted: Array(chain.dropFirst().prefix(8))) {
            context.setVerifyCallback { ok, info in
                _ = info.certificate?.description
                return ok || info.depth > 0
            }
            _ = try? context.verify()
        }
    }

    // MARK: Keys

    static func pkey(_ data: [UInt8]) -> Bool {
        var accepted = false
        let secret = Passphrase(passphrase)
        for load in [
            { try PKey(privateKeyPEM: data, passphrase: secret) },
            { try PKey(privateKeyDER: data, passphrase: secret) },
            { try PKey(privateKeyPEM: data) },
            { try PKey(publicKeyPEM: data) },
            { try PKey(publicKeyDER: data) },
        ] as [() throws -> PKey] {
            if let key = try? load() {
                accepted = true
                if key.hasPrivateKey { exercisePrivate(key) } else { exercisePublic(key) }
            }
        }
        return accepted
    }

    /// Getters of a public key; signatures are checked only for keys small
    /// enough to keep the fuzzer fast.
    static func exercisePublic(_ key: PKey) {
        _ = key.type.description
        _ = key.typeName
        _ = key.bits
        _ = key.curveName
        _ = try? key.publicKeyPEM()
        if let der = try? key.publicKeyDER(), let again = try? PKey(publicKeyDER: der) {
            _ = again.isPublicKeyEqual(to: key)
        }
        guard key.bits <= 4096 else { return }
        _ = try? key.checkConsistency()
        _ = try? key.verify(signature: [UInt8](repeating: 0x30, count: 72), for: Array("fuzz".utf8))
    }

    static func exercisePrivate(_ key: PKey) {
        exercisePublic(key)
        _ = try? key.privateKeyPEM()
        _ = try? key.privateKeyPEM(format: .traditional)
        _ = try? key.privateKeyDER()
        _ = try? key.publicKey()
        guard key.bits <= 4096 else { return }
        if let signature = try? key.sign(Array("fuzz".utf8)) {
            _ = try? key.verify(signature: signature, for: Array("fuzz".utf8))
        }
    }

    // MARK: Requests, CRLs, PKCS#12

    static func csr(_ data: [UInt8]) -> Bool {
        var accepted = false
        for load in [{ try X509Request(pem: data) }, { try X509Request(der: data) }] as [() throws -> X509Request] {
            guard let request = try? load() else { continue }
            accepted = true
            _ = request.version
            if let subject = try? request.subject { exercise(subject) }
            if let key = try? request.publicKey {
                exercisePublic(key)
                _ = request.isSigned(by: key)
            }
            _ = request.signatureAlgorithm
            _ = request.signature
            for ext in (try? request.extensions) ?? [] { exercise(ext) }
            _ = try? request.subjectAlternativeNames?.map(\.description)
            _ = request.isSignatureValid
            _ = try? request.text
            _ = request.description
            _ = try? request.pem
            _ = try? request.der
        }
        return accepted
    }

    static func crl(_ data: [UInt8]) -> Bool {
        var accepted = false
        for load in [{ try CRL(pem: data) }, { try CRL(der: data) }] as [() throws -> CRL] {
            guard let list = try? load() else { continue }
            accepted = true
            _ = list.version
            if let issuer = try? list.issuer { exercise(issuer) }
            _ = try? list.lastUpdate
            _ = try? list.nextUpdate
            let entries = (try? list.revoked) ?? []
            for entry in entries.prefix(64) {
                _ = entry.serialNumber.hexString
                _ = entry.revocationDate
                _ = entry.reason?.description
                for ext in entry.extensions { exercise(ext) }
            }
            if let first = entries.first { _ = try? list.revocation(of: first.serialNumber) }
            _ = try? list.revocation(of: BigEndianInteger(1))
            for ext in list.extensions { exercise(ext) }
            _ = try? list.crlNumber
            _ = try? list.authorityKeyIdentifier
            _ = list.signatureAlgorithm
            _ = list.signature
            if let key = material?.caKey { _ = list.isSigned(by: key) }
            _ = try? list.text
            _ = list.description
            _ = try? list.pem
            _ = try? list.der
        }
        return accepted
    }

    static func pkcs12(_ data: [UInt8]) -> Bool {
        var accepted = false
        for secret in [Passphrase(passphrase), nil] as [Passphrase?] {
            guard let bundle = try? PKCS12(der: data, passphrase: secret) else { continue }
            accepted = true
            if let key = bundle.privateKey { exercisePrivate(key) }
            if let certificate = bundle.certificate { exercise(certificate) }
            for certificate in bundle.caCertificates.prefix(8) { exercise(certificate) }
            _ = bundle.friendlyName
            _ = try? bundle.der(passphrase: Passphrase(passphrase), iterations: 1)
        }
        return accepted
    }

    // MARK: ossl x509 --json

    static func x509JSON(_ data: [UInt8]) -> Bool {
        let certificates: [X509]
        if let chain = try? X509.chain(pem: data) {
            certificates = chain
        } else if let single = try? X509(pemOrDER: data) {
            certificates = [single]
        } else {
            return false
        }
        for certificate in certificates.prefix(8) {
            #if OSSL_CLI_JSON
            // Scripts/fuzz.sh compiles the CLI's own report code in when it is there.
            _ = try? CertificateReport(certificate).json().text
            _ = try? CertificateReport(certificate).summary()
            #endif
            _ = CertificateJSON.render(certificate)
        }
        return true
    }

    // MARK: TLS

    /// Certificates and contexts for the TLS targets, made once per process.
    struct Material: Sendable {
        let caKey: PKey
        let ca: X509
        let serverKey: PKey
        let server: X509
        let clientKey: PKey
        let client: X509
        let serverContext: Context
        let clientContext: Context
    }

    /// Nil only when the builder fails (then the TLS targets accept nothing).
    static let material: Material? = try? makeMaterial()

    static func makeMaterial() throws -> Material {
        let now = Date()
        let caKey = try PKey.generate(.ec(.p256))
        var caBuilder = X509Builder(
            subject: try X509Name([("CN", "Fuzz CA")]), publicKey: caKey,
            notBefore: now - 86_400, notAfter: now + 3650 * 86_400)
        try caBuilder.addBasicConstraints(isCA: true)
        try caBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        caBuilder.addSubjectKeyIdentifier()
        let ca = try caBuilder.sign(with: caKey)

        let serverKey = try PKey.generate(.ec(.p256))
        var serverBuilder = X509Builder(
            subject: try X509Name([("CN", "localhost")]), publicKey: serverKey,
            notBefore: now - 86_400, notAfter: now + 365 * 86_400)
        try serverBuilder.addSubjectAlternativeNames([.dnsName("localhost"), try .ipAddress("127.0.0.1")])
        try serverBuilder.addExtendedKeyUsage([.serverAuth])
        serverBuilder.addSubjectKeyIdentifier()
        serverBuilder.addAuthorityKeyIdentifier()
        let server = try serverBuilder.sign(with: caKey, issuer: ca)

        let clientKey = try PKey.generate(.ec(.p256))
        var clientBuilder = X509Builder(
            subject: try X509Name([("CN", "Fuzz Client")]), publicKey: clientKey,
            notBefore: now - 86_400, notAfter: now + 365 * 86_400)
        try clientBuilder.addExtendedKeyUsage([.clientAuth])
        let client = try clientBuilder.sign(with: caKey, issuer: ca)

        // The server asks for a client certificate but does not require one,
        // and reads whatever chain it gets through both verification hooks.
        let serverContext = try Context.server(certificate: server, key: serverKey)
        try serverContext.trust([ca])
        try serverContext.setVerify(.peer) { _, certificate, _, _, ok in
            _ = certificate.description
            return ok
        }
        try serverContext.setPeerVerification { _, verification in
            _ = verification.peerChain.map(\.description)
            return verification.error == nil ? .accept : .reject
        }
        try serverContext.setSessionIDContext(Array("fuzz".utf8))
        try serverContext.setMinimumProtocolVersion(nil)
        // ALPN and SNI: the client's protocol list and server name reach Swift code.
        try serverContext.setALPNSelectCallback { connection, offered in
            _ = connection.serverName
            return ["h2", "http/1.1"].first { offered.contains($0) } ?? offered.last
        }
        let alternative = try Context.server(certificate: server, key: serverKey)
        try serverContext.setServerNameCallback { connection in
            if connection.serverName == "alt.localhost" { try connection.setContext(alternative) }
        }

        let clientContext = try Context.client(trusting: [ca], certificate: client, key: clientKey)
        // An empty legacy session id, so a recorded ServerHello (seeds) echoes the right one.
        try clientContext.clearOptions(.enableMiddleboxCompat)
        try clientContext.setALPNProtocols(["h2", "http/1.1"])
        try clientContext.setVerify(.peer) { _, certificate, _, _, ok in
            _ = try? certificate.subject.rfc2253String
            return ok
        }
        try clientContext.setPeerVerification { _, verification in
            _ = verification.leaf.map { try? $0.fingerprint() }
            return verification.error == nil ? .accept : .reject
        }
        return Material(
            caKey: caKey, ca: ca, serverKey: serverKey, server: server, clientKey: clientKey,
            client: client, serverContext: serverContext, clientContext: clientContext)
    }

    /// A server connection reads the input as the client's bytes: the
    /// handshake runs as far as the input carries it, then any application
    /// data is read and the connection is shut down.
    static func tlsServer(_ data: [UInt8]) -> Bool {
        guard let material, let server = try? Connection(material.serverContext) else { return false }
        server.setAcceptState()
        return drive(server, feeding: data)
    }

    /// A client connection sends its ClientHello, then reads the input as the server's bytes.
    static func tlsClient(_ data: [UInt8]) -> Bool {
        guard let material, let client = try? Connection(material.clientContext) else { return false }
        client.setConnectState()
        guard (try? client.setServerName("localhost")) != nil else { return false }
        _ = try? client.doHandshake()  // wantRead: the ClientHello is written
        discardOutput(client)
        return drive(client, feeding: data)
    }

    static func session(_ data: [UInt8]) -> Bool {
        guard let session = try? Session(der: data) else { return false }
        _ = (session.id, session.idContext, session.protocolVersion, session.timeout, session.time)
        _ = (session.hasTicket, session.ticketLifetimeHint, session.isResumable, session.cipherName)
        _ = (session.serverName, session.alpnProtocol, session.masterKey.count)
        _ = session.peerCertificate.map { exercise($0) }
        _ = try? session.der
        // Offered by a client: OpenSSL puts its id or ticket into the ClientHello.
        if let material, let client = try? Connection(material.clientContext) {
            client.setConnectState()
            _ = try? client.setServerName("localhost")
            _ = try? client.setSession(session)
            _ = try? client.doHandshake()
            discardOutput(client)
            _ = client.isSessionReused
        }
        return true
    }

    /// Feeds `data` in records' worth at a time, driving the connection
    /// after each piece. Accepted: the peer's hello was understood (a
    /// cipher was negotiated), whatever happened after it — a flight taken
    /// from another handshake fails at its signature or Finished.
    static func drive(_ connection: Connection, feeding data: [UInt8]) -> Bool {
        var offset = 0
        var failed = false
        var steps = 0
        while offset < data.count && !failed && steps < 256 {
            steps += 1
            let end = min(data.count, offset + 4096)
            _ = try? connection.bioWrite(Array(data[offset..<end]))
            offset = end
            if case .failed = step(connection) { failed = true }
            discardOutput(connection)
        }
        let accepted = gotPastPeerHello(connection)
        if !failed {
            _ = try? connection.bioShutdown()
            _ = step(connection)
        }
        _ = connection.peerCertificate?.description
        _ = connection.peerCertificateChain?.count
        _ = connection.verifiedChain?.count
        _ = connection.verifyResult
        _ = (connection.cipherName, connection.cipherBits, connection.protocolVersion, connection.protocolVersionName)
        _ = connection.serverName
        _ = connection.alpnProtocol
        _ = connection.isSessionReused
        _ = try? connection.session?.der
        _ = connection.stateString
        _ = try? connection.shutdown()
        discardOutput(connection)
        return accepted
    }

    /// True once the peer's hello was processed: the handshake state moved
    /// beyond reading it, or (TLS 1.3, failing at the first encrypted
    /// record) a cipher was taken from it.
    static func gotPastPeerHello(_ connection: Connection) -> Bool {
        let state = connection.withUnsafeOpenSSLPointer { SSL_get_state($0) }
        let early: [OSSL_HANDSHAKE_STATE] =
            connection.isServer
            ? [TLS_ST_BEFORE, TLS_ST_SR_CLNT_HELLO]
            : [TLS_ST_BEFORE, TLS_ST_CW_CLNT_HELLO, TLS_ST_CR_SRVR_HELLO]
        return !early.contains(state) || connection.cipherName != nil
    }

    enum StepResult { case progress, waiting, failed }

    /// Handshakes, then reads, until OpenSSL wants more input or fails.
    static func step(_ connection: Connection) -> StepResult {
        var progressed = false
        for _ in 0..<64 {
            if !connection.isHandshakeDone {
                switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
                case .success: progressed = true
                case .failure(let error) where error.isWant: return progressed ? .progress : .waiting
                case .failure: return .failed
                }
            } else {
                var buffer = [UInt8](repeating: 0, count: 2048)
                let read = buffer.withUnsafeMutableBytes { bytes in
                    Result { () throws(SSLError) in try connection.read(into: bytes) }
                }
                switch read {
                case .success: progressed = true
                case .failure(let error) where error.isWant: return progressed ? .progress : .waiting
                case .failure: return .failed
                }
            }
        }
        return .progress
    }

    static func discardOutput(_ connection: Connection) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        for _ in 0..<64 where connection.pendingCiphertext > 0 {
            let moved = buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(SSLError) in try connection.bioRead(into: bytes) }
            }
            if case .failure = moved { return }
        }
    }
}

/// The certificate JSON of `ossl x509 --json` (the schema in Docs/cli.md),
/// made from the same library calls: names as [shortName, value] pairs,
/// serial, validity, key, fingerprints, alternative names, constraints,
/// usages and the list of extensions.
enum CertificateJSON {
    static func render(_ certificate: X509) -> String {
        var fields: [(String, String)] = []
        func name(_ value: X509Name?) -> String {
            guard let value else { return "null" }
            return "["
                + value.components.map { component in
                    "[" + quote(component.name) + ", "
                        + quote(component.value ?? String(decoding: component.rawValue, as: UTF8.self)) + "]"
                }.joined(separator: ", ") + "]"
        }
        fields.append(("subject", name(try? certificate.subject)))
        fields.append(("issuer", name(try? certificate.issuer)))
        fields.append(("serial", quote(certificate.serialNumber.hexString)))
        fields.append(("version", String(certificate.version)))
        fields.append(("notBefore", (try? certificate.notBefore).map { quote(iso($0)) } ?? "null"))
        fields.append(("notAfter", (try? certificate.notAfter).map { quote(iso($0)) } ?? "null"))
        fields.append(("signatureAlgorithm", quote(certificate.signatureAlgorithm)))
        if let key = try? certificate.publicKey {
            fields.append(
                (
                    "publicKey",
                    "{\"type\": \(quote(key.typeName)), \"bits\": \(key.bits), \"curve\": "
                        + (key.curveName.map(quote) ?? "null") + "}"
                ))
        } else {
            fields.append(("publicKey", "{\"type\": \"unknown\", \"bits\": 0, \"curve\": null}"))
        }
        let sha1 = (try? certificate.digest(.sha1)).map(hex) ?? ""
        let sha256 = (try? certificate.digest(.sha256)).map(hex) ?? ""
        fields.append(("fingerprints", "{\"sha1\": \(quote(sha1)), \"sha256\": \(quote(sha256))}"))
        let names = ((try? certificate.subjectAlternativeNames) ?? nil) ?? []
        fields.append(
            (
                "subjectAltNames",
                "["
                    + names.map {
                        "{\"type\": \(quote($0.typeName)), \"value\": \(quote($0.valueString))}"
                    }.joined(separator: ", ") + "]"
            ))
        if let constraints = (try? certificate.basicConstraints) ?? nil {
            fields.append(
                (
                    "basicConstraints",
                    "{\"ca\": \(constraints.isCA), \"pathLength\": "
                        + (constraints.pathLength.map(String.init) ?? "null") + "}"
                ))
        } else {
            fields.append(("basicConstraints", "null"))
        }
        fields.append(
            (
                "keyUsage",
                ((try? certificate.keyUsage) ?? nil).map { usage in
                    "[" + usage.names.map(quote).joined(separator: ", ") + "]"
                } ?? "null"
            ))
        fields.append(
            (
                "extendedKeyUsage",
                ((try? certificate.extendedKeyUsage) ?? nil).map { purposes in
                    "["
                        + purposes.map { "{\"oid\": \(quote($0.oid)), \"name\": " + ($0.name.map(quote) ?? "null") + "}" }
                        .joined(separator: ", ") + "]"
                } ?? "null"
            ))
        fields.append(
            (
                "extensions",
                "["
                    + certificate.extensions.map {
                        "{\"oid\": \(quote($0.oid)), \"name\": " + ($0.shortName.map(quote) ?? "null")
                            + ", \"critical\": \($0.isCritical)}"
                    }.joined(separator: ", ") + "]"
            ))
        fields.append(("selfSigned", String(certificate.isSelfSigned)))
        fields.append(("pem", (try? certificate.pem).map(quote) ?? "null"))
        return "{" + fields.map { quote($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
    }

    /// A JSON string literal; control characters (a NUL in a name) escaped.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let digits = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
