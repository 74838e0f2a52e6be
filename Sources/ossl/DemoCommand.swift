#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Foundation
import OpenSSL
import Synchronization

/// `ossl demo`: the `serve` logic and a client on 127.0.0.1, step by step.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a mutual-TLS demo on 127.0.0.1: a server that trusts self-signed clients on first use.",
        discussion: """
            Everything is made in memory: a CA, a server certificate for localhost signed by it, \
            and a self-signed client certificate. The `ossl serve` echo server runs on an \
            ephemeral port of 127.0.0.1 with trust on first use, and a client connects three \
            times: first (the server remembers the client's fingerprint), again resuming the \
            first session, and with a different certificate for the same subject (refused). \
            Each step prints what each side saw.

            Example:
              ossl demo
            """
    )

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let output = DemoOutput()

        output.step("Making a CA, a server certificate for localhost, and a self-signed client certificate (in memory)")
        let pki = try DemoPKI()
        output.detail("CA:     \(try pki.root.subject.oneLineString)")
        output.detail("server: \(try pki.server.subject.oneLineString), issued by the CA, for DNS:localhost and IP:127.0.0.1")
        output.detail(
            "client: \(try pki.client.subject.oneLineString), self-signed, sha256 \(hex(try pki.client.digest(.sha256)))")

        let tofu = TOFUStore()
        let serverContext = try Context.server(certificate: pki.server, key: pki.serverKey, chain: [pki.root])
        try DemoFeatures.configureServer(serverContext)
        output.detail(
            "server ALPN: \(DemoFeatures.protocols[0]); client offers \(DemoFeatures.protocols.joined(separator: ", "))")
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        var options = EchoServer.Options()
        options.tofu = tofu
        options.clientCertificate = .require
        options.idleTimeout = .seconds(10)
        let records = RecordQueue()
        let server = try EchoServer(context: serverContext, listener: listener, options: options) { records.put($0) }
        let serverThread = DispatchGroup()
        serverThread.enter()
        Thread.detachNewThread {
            server.run()
            serverThread.leave()
        }
        defer {
            server.stop()
            _ = serverThread.wait(timeout: .now() + 5)
        }
        output.step("Server listening on \(server.address): `ossl serve` with trust on first use, client certificate required")

        let clientContext = try Context.client(trusting: [pki.root], certificate: pki.client, key: pki.clientKey)
        try TLSClient.installVerifier(on: clientContext, insecure: false, pin: nil)
        try DemoFeatures.configureClient(clientContext)
        let port = listener.localPort

        output.step("First connection: the client presents its self-signed certificate")
        var session: DemoFeatures.SavedSession?
        let first = TLSClient.run(
            context: clientContext, host: "127.0.0.1", port: port, serverName: "localhost",
            send: Array("hello, server".utf8), expectedReply: 13, timeout: .seconds(10), readTimeout: .seconds(2))
        try report(first, records: records, output: output, expectSuccess: true)
        if let connection = first.connection { session = DemoFeatures.saveSession(connection) }
        output.detail("server remembered \(tofu.count) client fingerprint(s)")

        output.step("Second connection: the same client again" + (session == nil ? "" : ", resuming the first session"))
        let second = TLSClient.run(
            context: clientContext, host: "127.0.0.1", port: port, serverName: "localhost",
            send: Array("hello again".utf8), expectedReply: 11, timeout: .seconds(10), readTimeout: .seconds(2),
            prepare: { connection in
                if let session { try DemoFeatures.resume(session, on: connection) }
            })
        try report(second, records: records, output: output, expectSuccess: true)

        output.step("Third connection: a different self-signed certificate with the same subject")
        let impostorKey = try PKey.generate(.ed25519)
        let impostor = try DemoPKI.selfSigned(subject: try pki.client.subject, key: impostorKey)
        output.detail("impostor: \(try impostor.subject.oneLineString), sha256 \(hex(try impostor.digest(.sha256)))")
        let impostorContext = try Context.client(trusting: [pki.root], certificate: impostor, key: impostorKey)
        try TLSClient.installVerifier(on: impostorContext, insecure: false, pin: nil)
        try DemoFeatures.configureClient(impostorContext)
        let third = TLSClient.run(
            context: impostorContext, host: "127.0.0.1", port: port, serverName: "localhost",
            send: nil, timeout: .seconds(10), readTimeout: .seconds(2))
        try report(third, records: records, output: output, expectSuccess: false)

        output.step(
            "Done: the server remembered \(tofu.count) client certificate, let the same client back in, "
                + "and refused another certificate with the same subject")
    }

    /// Prints what the client and then the server saw for one connection,
    /// and checks that it went as the demo expects.
    private func report(_ outcome: TLSClient.Outcome, records: RecordQueue, output: DemoOutput, expectSuccess: Bool) throws {
        if let connection = outcome.connection {
            if let verdict = outcome.verdict {
                let leaf = verdict.peerChain.first.map { CertificateReport($0).chainLine(depth: 0) } ?? "?"
                output.client("server certificate \(leaf)")
                output.client("verification: \(verdict.summary)")
            } else if connection.isSessionReused {
                output.client("server verified when the session began; nothing to verify on resumption")
            }
            output.client(
                "protocol \(connection.protocolVersionName ?? "-"), cipher \(connection.cipherName ?? "-"), "
                    + "group \(GroupSupport.negotiatedGroup(connection) ?? "-"), ALPN \(ALPNSupport.selected(connection) ?? "none"), "
                    + "session reused: \(connection.isSessionReused ? "yes" : "no")")
        }
        if !outcome.received.isEmpty {
            output.client("echoed back: \"\(String(decoding: outcome.received, as: UTF8.self))\"")
        }
        if let failure = outcome.failure {
            output.client(failure.message)
        }
        guard let record = records.take(timeout: 10) else {
            throw CLIFailure.checkFailed("the demo server logged nothing for this connection")
        }
        switch record.decision {
        case "accept-first-use", "accept-known", "reject-mismatch":
            output.server("whole-chain hook decided \(record.decision): \(record.reason ?? "")")
        case "accept-resumed":
            output.server(
                "session resumed: the hook did not run; the client's certificate came back with the session "
                    + "(sha256 \(record.clientFingerprint ?? "none"))")
        default:
            output.server("\(record.decision): \(record.reason ?? "")")
        }
        output.server("log: \(record.logLine)")
        let succeeded = outcome.failure == nil && !record.decision.hasPrefix("reject") && record.decision != "failed"
        guard succeeded == expectSuccess else {
            throw CLIFailure.checkFailed("the demo did not go as expected: \(outcome.failure?.message ?? record.logLine)")
        }
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
        var rootBuilder = X509Builder(
            subject: try X509Name([("O", "ossl demo"), ("CN", "ossl demo CA")]), publicKey: rootKey,
            notBefore: now - 60, notAfter: now + 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        try rootBuilder.addKeyUsage([.keyCertSign, .cRLSign])
        rootBuilder.addSubjectKeyIdentifier()
        root = try rootBuilder.sign(with: rootKey, digest: .sha256)

        serverKey = try PKey.generate(.ec(.p256))
        var serverBuilder = X509Builder(
            subject: try X509Name([("CN", "localhost")]), publicKey: serverKey,
            notBefore: now - 60, notAfter: now + 86_400)
        serverBuilder.issuer = try root.subject
        try serverBuilder.addSubjectAlternativeNames([.dnsName("localhost"), try .ipAddress("127.0.0.1")])
        try serverBuilder.addExtendedKeyUsage([.serverAuth])
        server = try serverBuilder.sign(with: rootKey, digest: .sha256, issuer: root)

        clientKey = try PKey.generate(.ed25519)
        client = try DemoPKI.selfSigned(subject: try X509Name([("CN", "demo client")]), key: clientKey)
    }

    /// A self-signed client certificate for `subject`, valid for a day.
    static func selfSigned(subject: X509Name, key: PKey) throws -> X509 {
        let now = Date()
        var builder = X509Builder(subject: subject, publicKey: key, notBefore: now - 60, notAfter: now + 86_400)
        try builder.addExtendedKeyUsage([.clientAuth])
        return try builder.sign(with: key, digest: signingDigest(for: key))
    }
}

/// The demo's ALPN protocol and session resumption.
enum DemoFeatures {
    /// The protocol the demo's server accepts and its client asks for first.
    static let protocols = ["ossl-echo/1", "http/1.1"]

    /// A client session kept from the first connection.
    typealias SavedSession = Session

    static func configureServer(_ context: Context) throws {
        try ALPNSupport.select([protocols[0]], on: context)
    }

    static func configureClient(_ context: Context) throws {
        try context.setALPNProtocols(protocols)
    }

    /// The session to resume: on TLS 1.3 the server's ticket arrived while
    /// the client read the echo, after the handshake.
    static func saveSession(_ connection: Connection) -> SavedSession? {
        guard let session = connection.session, session.isResumable else { return nil }
        return session
    }

    static func resume(_ session: SavedSession, on connection: Connection) throws {
        try connection.setSession(session)
    }
}

/// The server's log records, handed to the demo's thread one at a time so
/// that each connection's lines print in order.
final class RecordQueue: Sendable {
    private let records = Mutex<[EchoServer.Record]>([])
    private let available = DispatchSemaphore(value: 0)

    func put(_ record: EchoServer.Record) {
        records.withLock { $0.append(record) }
        available.signal()
    }

    /// The next record, or nil after `timeout` seconds.
    func take(timeout: Double) -> EchoServer.Record? {
        guard available.wait(timeout: .now() + timeout) == .success else { return nil }
        return records.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }
}

/// The demo's numbered steps and what each side saw.
final class DemoOutput: Sendable {
    private let counter = Mutex<Int>(0)

    func step(_ text: String) {
        let number = counter.withLock { value -> Int in
            value += 1
            return value
        }
        print("\n[\(number)] \(text)")
    }

    func detail(_ text: String) { print("    \(text)") }
    func server(_ text: String) { print("    server: \(text)") }
    func client(_ text: String) { print("    client: \(text)") }
}
