import ArgumentParser
import Foundation
import OpenSSL

/// `ossl demo`: a mutual-TLS handshake over real sockets on 127.0.0.1, in
/// which the server accepts a self-signed client certificate through the
/// whole-chain hook (trust on first use) and reports what it saw.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a mutual-TLS demo on 127.0.0.1: a server that trusts self-signed clients on first use.",
        discussion: """
        Everything is made in memory: a CA and a server certificate for localhost, and a
        self-signed client certificate. The server asks for a client certificate and decides
        in its whole-chain verification hook: an unknown self-signed client is remembered by
        its SHA-256 fingerprint. Example:

          ossl demo
        """
    )

    func run() throws {
        let output = DemoOutput()
        output.step("Making a CA, a server certificate for localhost and a self-signed client certificate")
        let pki = try DemoPKI()

        let known = TOFUStore()
        let serverContext = try Context.mutualTLSServer(
            certificate: pki.server, key: pki.serverKey, chain: [pki.root]
        ) { _, verification in
            guard let leaf = verification.leaf else { return .reject }
            let fingerprint = try leaf.fingerprint(.sha256)
            let subject = try leaf.subject.oneLineString
            let verdict = verification.error.map { "OpenSSL says: \($0.message)" } ?? "OpenSSL says: trusted"
            let decision = known.decide(subject: subject, fingerprint: fingerprint)
            output.server("whole-chain hook: client \(subject); \(verdict); decision: \(decision.text)")
            return decision.accept ? .accept : .reject
        }

        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        output.step("Server listening on 127.0.0.1:\(listener.localPort)")
        let serverDone = DispatchSemaphore(value: 0)
        let serverFailure = FailureBox()
        Thread.detachNewThread {
            defer { serverDone.signal() }
            do {
                let socket = try listener.accept(timeout: .seconds(10))
                defer { socket.close() }
                try socket.setReadTimeout(.seconds(10))
                let connection = try Connection(serverContext, transport: socket)
                connection.setAcceptState()
                try connection.doHandshake()
                let fingerprint = try connection.peerCertificate?.fingerprint(.sha256) ?? "none"
                output.server("handshake done: \(connection.protocolVersionName ?? "?"), \(connection.cipherName ?? "?")")
                output.server("client certificate SHA-256: \(fingerprint)")
                let request = try connection.read(max: 1024)
                output.server("received \(request.count) bytes: \"\(String(decoding: request, as: UTF8.self))\"")
                try connection.writeAll(Array("hello, client".utf8))
                _ = try connection.shutdown()
            } catch {
                serverFailure.set("\(error)")
            }
        }

        let socket = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let clientContext = try Context.client(trusting: [pki.root], certificate: pki.client, key: pki.clientKey)
        let client = try Connection(clientContext, transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        output.client("handshake done: \(client.protocolVersionName ?? "?"), \(client.cipherName ?? "?")")
        output.client("server certificate verified: \(try client.peerCertificate?.subject.oneLineString ?? "?")")
        try client.writeAll(Array("hello, server".utf8))
        var reply: [UInt8] = []
        reading: while true {
            switch Result(catching: { () throws(SSLError) in try client.read(max: 1024) }) {
            case .success(let bytes): reply += bytes
            case .failure(.zeroReturn): break reading
            case .failure(let error): throw error
            }
        }
        output.client("received: \"\(String(decoding: reply, as: UTF8.self))\"; the server closed with close_notify")
        _ = try? client.shutdown()

        guard serverDone.wait(timeout: .now() + 15) == .success else {
            throw ValidationError("the demo server did not finish in time")
        }
        if let failure = serverFailure.get() {
            throw ValidationError("the demo server failed: \(failure)")
        }
        output.step("Done: the server remembered \(known.count) client fingerprint(s)")
    }
}

/// The demo's in-memory PKI.
struct DemoPKI {
    let rootKey: PKey, root: X509
    let serverKey: PKey, server: X509
    let clientKey: PKey, client: X509

    init() throws {
        let now = Date()
        rootKey = try PKey.generate(.ec(.p256))
        var rootBuilder = X509Builder(subject: try X509Name([("CN", "ossl demo CA")]), publicKey: rootKey,
                                      notBefore: now - 60, notAfter: now + 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        try rootBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        rootBuilder.addSubjectKeyIdentifier()
        root = try rootBuilder.sign(with: rootKey, digest: .sha256)

        serverKey = try PKey.generate(.ec(.p256))
        var serverBuilder = X509Builder(subject: try X509Name([("CN", "localhost")]), publicKey: serverKey,
                                        notBefore: now - 60, notAfter: now + 86_400)
        serverBuilder.issuer = try root.subject
        try serverBuilder.addSubjectAlternativeNames([.dnsName("localhost"), try .ipAddress("127.0.0.1")])
        try serverBuilder.addExtendedKeyUsage([.serverAuth])
        server = try serverBuilder.sign(with: rootKey, digest: .sha256, issuer: root)

        clientKey = try PKey.generate(.ed25519)
        var clientBuilder = X509Builder(subject: try X509Name([("CN", "demo client")]), publicKey: clientKey,
                                        notBefore: now - 60, notAfter: now + 86_400)
        try clientBuilder.addExtendedKeyUsage([.clientAuth])
        client = try clientBuilder.sign(with: clientKey, digest: nil)
    }
}

/// Trust on first use: each subject's fingerprint, remembered in memory.
final class TOFUStore: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var fingerprints: [String: String] = [:]

    struct Decision {
        let accept: Bool
        let text: String
    }

    func decide(subject: String, fingerprint: String) -> Decision {
        lock.lock()
        defer { lock.unlock() }
        switch fingerprints[subject] {
        case nil:
            fingerprints[subject] = fingerprint
            return Decision(accept: true, text: "accept (first use: remembered SHA-256 \(fingerprint))")
        case fingerprint:
            return Decision(accept: true, text: "accept (known fingerprint)")
        default:
            return Decision(accept: false, text: "reject (a different certificate for a known subject)")
        }
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return fingerprints.count
    }
}

/// Ordered, labelled output from two threads.
final class DemoOutput: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var step = 0

    func step(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        step += 1
        print("[\(step)] \(text)")
    }

    func server(_ text: String) { line("server", text) }
    func client(_ text: String) { line("client", text) }

    private func line(_ who: String, _ text: String) {
        lock.lock()
        defer { lock.unlock() }
        print("    \(who): \(text)")
    }
}

final class FailureBox: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var message: String?
    func set(_ text: String) { lock.lock(); message = text; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return message }
}
