// soak: repeats TLS handshakes and certificate parses in one process,
// printing the resident set size as it goes, for leak checks under valgrind
// or LeakSanitizer (Scripts/leakcheck.sh). Not part of the library.
//
// Each handshake is mutual TLS over memory BIOs with every hook on: the
// server's whole-chain verifier and the client's per-certificate callback,
// SNI (a server-name callback that switches to another context for
// "alt.localhost"), ALPN (the client offers h2 and http/1.1, the server
// picks), and session resumption (every second handshake resumes the
// session of the one before), then data both ways and a clean shutdown.
// Each parse reads every field of a certificate from the system bundle.
import Foundation
import OpenSSL

struct Options {
    var handshakes = 1000
    var parses = 1000
    var checkpoint = 1000

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            guard let value = iterator.next().flatMap(Int.init), value >= 0 else {
                throw SoakError("\(argument) needs a number")
            }
            switch argument {
            case "--handshakes": handshakes = value
            case "--parses": parses = value
            case "--checkpoint": checkpoint = max(1, value)
            default: throw SoakError("unknown option \(argument) (use --handshakes N --parses N --checkpoint N)")
            }
        }
    }
}

struct SoakError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Resident set size in KiB, from /proc/self/statm.
func residentKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return -1 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return -1 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

/// Moves every pending ciphertext byte from one memory-BIO connection to the other.
func move(from: Connection, to: Connection, buffer: inout [UInt8]) throws -> Bool {
    var moved = false
    while from.pendingCiphertext > 0 {
        let count = try buffer.withUnsafeMutableBytes { try from.bioRead(into: $0) }
        try buffer.withUnsafeBytes { _ = try to.bioWrite(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        moved = true
    }
    return moved
}

func handshake(client: Connection, server: Connection, buffer: inout [UInt8]) throws {
    for _ in 0..<50 {
        for connection in [client, server] where !connection.isHandshakeDone {
            switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
            case .success, .failure(.wantRead): break
            case .failure(let error): throw error
            }
        }
        let moved = try move(from: client, to: server, buffer: &buffer) || move(from: server, to: client, buffer: &buffer)
        if client.isHandshakeDone && server.isHandshakeDone && !moved { return }
    }
    throw SoakError("handshake did not finish")
}

/// Sends `message` from one side and reads it on the other.
func send(_ message: [UInt8], from sender: Connection, to receiver: Connection, buffer: inout [UInt8]) throws {
    try sender.writeAll(message)
    _ = try move(from: sender, to: receiver, buffer: &buffer)
    var received: [UInt8] = []
    while received.count < message.count {
        received += try receiver.read(max: message.count - received.count)
    }
    guard received == message else { throw SoakError("data corrupted") }
}

/// close_notify both ways, so the session stays resumable.
func closeCleanly(_ client: Connection, _ server: Connection, buffer: inout [UInt8]) throws {
    _ = try client.shutdown()
    _ = try move(from: client, to: server, buffer: &buffer)
    _ = try server.shutdown()
    _ = try move(from: server, to: client, buffer: &buffer)
    guard try client.shutdown() else { throw SoakError("shutdown did not complete") }
}

/// Reads every field of a certificate, as a script inspecting it would.
func parseEverything(_ certificate: X509) throws {
    let subject = try certificate.subject
    _ = (subject.rfc2253String, subject.oneLineString, subject.components.count, subject.hash)
    _ = try certificate.issuer.rfc2253String
    _ = (certificate.serialNumber.hexString, certificate.version, certificate.signatureAlgorithm)
    _ = (try certificate.notBefore, try certificate.notAfter, certificate.isSelfSigned)
    let key = try certificate.publicKey
    _ = (key.typeName, key.bits, key.curveName)
    _ = try certificate.subjectAlternativeNames?.map(\.description)
    _ = try certificate.basicConstraints
    _ = try certificate.keyUsage
    _ = try certificate.extendedKeyUsage
    _ = try certificate.subjectKeyIdentifier
    _ = try? certificate.authorityKeyIdentifier
    _ = try certificate.fingerprint(.sha256)
    _ = certificate.extensions.map(\.text)
    _ = try certificate.text
    _ = try X509(der: try certificate.der) == certificate
}

struct Material {
    let serverContext: Context
    let clientContext: Context
    let fingerprints: FingerprintLog
}

func makeMaterial() throws -> Material {
    let now = Date()
    let caKey = try PKey.generate(.ec(.p256))
    var caBuilder = X509Builder(
        subject: try X509Name([("CN", "soak CA")]), publicKey: caKey,
        notBefore: now - 60, notAfter: now + 86_400)
    try caBuilder.addBasicConstraints(isCA: true)
    let ca = try caBuilder.sign(with: caKey, digest: .sha256)
    func leaf(_ name: String) throws -> (PKey, X509) {
        let key = try PKey.generate(.ec(.p256))
        var builder = X509Builder(
            subject: try X509Name([("CN", name)]), publicKey: key,
            notBefore: now - 60, notAfter: now + 86_400)
        try builder.addSubjectAlternativeNames([.dnsName(name)])
        return (key, try builder.sign(with: caKey, digest: .sha256, issuer: ca))
    }
    let (serverKey, server) = try leaf("localhost")
    let (altKey, alt) = try leaf("alt.localhost")
    let clientKey = try PKey.generate(.ed25519)
    let clientCertificate = try X509Builder(
        subject: try X509Name([("CN", "soak client")]), publicKey: clientKey,
        notBefore: now - 60, notAfter: now + 86_400
    ).sign(with: clientKey)

    let fingerprints = FingerprintLog()
    let verifier: Context.PeerVerifier = { _, verification in
        guard let leaf = verification.leaf else { return .reject }
        fingerprints.record(try leaf.fingerprint(.sha256))
        return .accept
    }
    // The context SNI switches to: the same client policy, another certificate.
    let altContext = try Context.mutualTLSServer(certificate: alt, key: altKey, verifier: verifier)
    try altContext.setALPNSelection(preferring: ["h2", "http/1.1"])
    let serverContext = try Context.mutualTLSServer(certificate: server, key: serverKey, verifier: verifier)
    try serverContext.setALPNSelection(preferring: ["h2", "http/1.1"])
    try serverContext.setServerNameCallback { connection in
        if connection.serverName == "alt.localhost" { try connection.setContext(altContext) }
    }
    let clientContext = try Context.client(trusting: [ca], certificate: clientCertificate, key: clientKey)
    try clientContext.setVerify(.peer) { _, _, _, _, ok in ok }
    try clientContext.setALPNProtocols(["h2", "http/1.1"])
    return Material(serverContext: serverContext, clientContext: clientContext, fingerprints: fingerprints)
}

/// Prints a line and flushes it, so a long run under valgrind shows its progress in its log.
func report(_ line: String) {
    print(line)
    fflush(nil)
}

func run() throws {
    let options = try Options(CommandLine.arguments)
    let material = try makeMaterial()
    report("soak: \(options.handshakes) handshakes, \(options.parses) certificate parses")
    report("rss-start-kib \(residentKiB())")
    var buffer = [UInt8](repeating: 0, count: 16_384)
    var previous: (session: Session, name: String)?
    var resumed = 0
    var resumptionsTried = 0
    for index in stride(from: 1, through: options.handshakes, by: 1) {
        let client = try Connection(material.clientContext)
        let server = try Connection(material.serverContext)
        client.setConnectState()
        server.setAcceptState()
        // Pairs: a full handshake, then one resuming its session with the same name.
        let name: String
        if let (session, previousName) = previous {
            name = previousName
            try client.setSession(session)
            resumptionsTried += 1
        } else {
            name = (index / 2) % 2 == 0 ? "localhost" : "alt.localhost"
        }
        try client.setServerName(name)
        try handshake(client: client, server: server, buffer: &buffer)
        guard client.alpnProtocol == "h2", server.serverName == name,
            client.peerCertificate.map({ (try? $0.subject.commonName) == name }) == true
        else {
            throw SoakError("handshake \(index): ALPN \(client.alpnProtocol ?? "none"), SNI \(server.serverName ?? "none")")
        }
        if previous != nil && client.isSessionReused { resumed += 1 }
        try send(Array("ping \(index)".utf8), from: client, to: server, buffer: &buffer)
        // The reply carries TLS 1.3's session tickets to the client.
        try send(Array("pong \(index)".utf8), from: server, to: client, buffer: &buffer)
        try closeCleanly(client, server, buffer: &buffer)
        if previous == nil, let session = client.session, session.isResumable {
            previous = (session, name)
        } else {
            previous = nil
        }
        if index % options.checkpoint == 0 { report("rss-after-handshakes \(index) \(residentKiB())") }
    }
    report("sessions resumed: \(resumed) of \(resumptionsTried)")
    if resumptionsTried > 0 && resumed != resumptionsTried {
        throw SoakError("only \(resumed) of \(resumptionsTried) resumptions were accepted")
    }
    report(
        "client certificates seen by the servers' verifier: \(material.fingerprints.count) distinct, \(material.fingerprints.calls) calls"
    )

    let bundle = try Data(contentsOf: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt"))
    var parsed = 0
    while parsed < options.parses {
        for certificate in try X509.chain(pem: bundle) where parsed < options.parses {
            try parseEverything(certificate)
            parsed += 1
            if parsed % options.checkpoint == 0 { report("rss-after-parses \(parsed) \(residentKiB())") }
        }
    }
    report("rss-end-kib \(residentKiB())")
    report("soak: done")
}

final class FingerprintLog: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var seen: Set<String> = []
    private var total = 0
    func record(_ value: String) {
        lock.lock()
        seen.insert(value)
        total += 1
        lock.unlock()
    }
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return seen.count
    }
    var calls: Int {
        lock.lock()
        defer { lock.unlock() }
        return total
    }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("soak: \(error)\n".utf8))
    exit(1)
}
