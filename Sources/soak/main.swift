// soak: repeats handshakes and certificate parses in one process, printing
// the resident set size as it goes, for leak checks under valgrind or
// LeakSanitizer (Scripts/leakcheck.sh). Not part of the library.
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

func handshake(client: Connection, server: Connection) throws {
    var buffer = [UInt8](repeating: 0, count: 16_384)
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

func run() throws {
    let options = try Options(CommandLine.arguments)
    let now = Date()
    let caKey = try PKey.generate(.ec(.p256))
    var caBuilder = X509Builder(subject: try X509Name([("CN", "soak CA")]), publicKey: caKey,
                                notBefore: now - 60, notAfter: now + 86_400)
    try caBuilder.addBasicConstraints(isCA: true)
    let ca = try caBuilder.sign(with: caKey, digest: .sha256)
    let serverKey = try PKey.generate(.ec(.p256))
    var serverBuilder = X509Builder(subject: try X509Name([("CN", "localhost")]), publicKey: serverKey,
                                    notBefore: now - 60, notAfter: now + 86_400)
    serverBuilder.issuer = try ca.subject
    try serverBuilder.addSubjectAlternativeNames([.dnsName("localhost")])
    let server = try serverBuilder.sign(with: caKey, digest: .sha256, issuer: ca)
    let clientKey = try PKey.generate(.ed25519)
    let clientCertificate = try X509Builder(subject: try X509Name([("CN", "soak client")]), publicKey: clientKey,
                                            notBefore: now - 60, notAfter: now + 86_400).sign(with: clientKey)

    let fingerprints = FingerprintLog()
    let serverContext = try Context.mutualTLSServer(certificate: server, key: serverKey) { _, verification in
        guard let leaf = verification.leaf else { return .reject }
        fingerprints.record(try leaf.fingerprint(.sha256))
        return .accept
    }
    let clientContext = try Context.client(trusting: [ca], certificate: clientCertificate, key: clientKey)
    try clientContext.setVerify(.peer) { _, _, _, _, ok in ok }

    print("soak: \(options.handshakes) handshakes, \(options.parses) certificate parses")
    print("rss-start-kib \(residentKiB())")
    for index in 1...max(options.handshakes, 1) where options.handshakes > 0 {
        let client = try Connection(clientContext)
        let serverConnection = try Connection(serverContext)
        client.setConnectState()
        serverConnection.setAcceptState()
        try client.setServerName("localhost")
        try handshake(client: client, server: serverConnection)
        _ = try client.write(Array("ping".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = try move(from: client, to: serverConnection, buffer: &buffer)
        _ = try serverConnection.read(max: 64)
        if index % options.checkpoint == 0 { print("rss-after-handshakes \(index) \(residentKiB())") }
    }
    let bundle = try Data(contentsOf: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt"))
    var parsed = 0
    while parsed < options.parses {
        for certificate in try X509.chain(pem: bundle) where parsed < options.parses {
            _ = try certificate.subject.rfc2253String
            _ = try certificate.subjectAlternativeNames
            _ = try certificate.fingerprint(.sha256)
            _ = certificate.extensions.map(\.text)
            parsed += 1
            if parsed % options.checkpoint == 0 { print("rss-after-parses \(parsed) \(residentKiB())") }
        }
    }
    print("rss-end-kib \(residentKiB())")
    print("client fingerprints seen by the server: \(fingerprints.count)")
}

final class FingerprintLog: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var seen: Set<String> = []
    func record(_ value: String) { lock.lock(); seen.insert(value); lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return seen.count }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("soak: \(error)\n".utf8))
    exit(1)
}
