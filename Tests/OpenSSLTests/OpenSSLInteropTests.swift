import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// SNI, ALPN and resumption against real `openssl s_server` and `openssl
/// s_client` processes on 127.0.0.1 (ephemeral ports, bounded in time,
/// always stopped). CONFORMANCE C03, C04, R01 against another implementation.
@Suite("Interop with openssl s_server and s_client", .serialized)
struct OpenSSLInteropTests {
    static var pki: TestPKI { TestPKI.shared }

    /// What one connection to `s_server -www` saw.
    struct Visit {
        let peerCertificate: X509?
        let alpn: String?
        let reused: Bool
        let page: String
        let tickets: Int
    }

    /// Connects to `port`, handshakes with `session` offered, fetches the status page.
    static func visit(
        port: UInt16, context: Context, serverName: String, session: Session?,
        tickets: LockedBox<[Session]>
    ) throws -> Visit {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let connection = try Connection(context, transport: socket)
        connection.setConnectState()
        try connection.setServerName(serverName)
        if let session { try connection.setSession(session) }
        let before = tickets.get().count
        try connection.doHandshake()
        try connection.writeAll(Array("GET / HTTP/1.0\r\n\r\n".utf8))
        var page: [UInt8] = []
        readLoop: while true {
            switch Result(catching: { () throws(SSLError) in try connection.read(max: 16_384) }) {
            case .success(let bytes): page += bytes
            case .failure(.zeroReturn): break readLoop
            case .failure(let error) where error.isUnexpectedEOF: break readLoop
            case .failure(let error): throw error
            }
        }
        // A clean close: OpenSSL marks the session of a connection freed
        // without a shutdown as not resumable.
        _ = try? connection.shutdown()
        return Visit(
            peerCertificate: connection.peerCertificate, alpn: connection.alpnProtocol,
            reused: connection.isSessionReused, page: String(decoding: page, as: UTF8.self),
            tickets: tickets.get().count - before)
    }

    @Test(
        "Interop: a Swift client against openssl s_server: SNI picks the certificate, ALPN is agreed, the session resumes",
        arguments: bothTLSVersions)
    func swiftClientAgainstServer(version: ProtocolVersion) throws {
        let directory = try TemporaryDirectory()
        try Self.pki.writePEMFiles(to: directory.url)
        let server = try PeerProcess(
            "/usr/bin/openssl",
            [
                "s_server", "-accept", "127.0.0.1:0", "-www", "-naccept", "10",
                "-cert", directory.path("server.pem"), "-key", directory.path("server-key.pem"),
                "-servername", "wrong.example",
                "-cert2", directory.path("wrong-host.pem"), "-key2", directory.path("wrong-host-key.pem"),
                "-alpn", "h2,http/1.1", version == .tls1_2 ? "-tls1_2" : "-tls1_3",
            ], lifetime: 120)
        defer { server.stop() }
        let port = try #require(
            server.firstMatch(#"ACCEPT 127\.0\.0\.1:(\d+)"#).flatMap { UInt16($0) },
            "\(server.stdoutText)\(server.stderr)")

        let tickets = LockedBox<[Session]>([])
        let client = try Context.client(trusting: [Self.pki.root, Self.pki.intermediate])
        try client.setALPNProtocols(["http/1.1", "h2"])
        try client.setNewSessionCallback { _, session in tickets.mutate { $0.append(session) } }

        // SNI: the second certificate for its name, the first otherwise.
        let named = try Self.visit(port: port, context: client, serverName: "wrong.example", session: nil, tickets: tickets)
        #expect(named.peerCertificate == Self.pki.wrongHost)
        let plain = try Self.visit(port: port, context: client, serverName: "localhost", session: nil, tickets: tickets)
        #expect(plain.peerCertificate == Self.pki.server)
        #expect(plain.page.contains("New, \(version)"), "\(plain.page)")

        // ALPN: s_server prefers its own order. It sets ALPN on its first
        // context only, so after its SNI switch OpenSSL finds no ALPN callback
        // on the second one: the plain C behaviour this library's pinned
        // callbacks avoid (see CallbackTests' pinning test).
        #expect(plain.alpn == "h2")
        #expect(named.alpn == nil)

        // Resumption, reported by both sides.
        #expect(plain.tickets >= 1, "the new-session callback got the session (the TLS 1.3 tickets, read with the page)")
        let session = try #require(tickets.get().last)
        let resumed = try Self.visit(port: port, context: client, serverName: "localhost", session: session, tickets: tickets)
        #expect(resumed.reused)
        #expect(resumed.page.contains("Reused, \(version)"), "\(resumed.page)")
        // …and from DER, as an external cache would keep it.
        let restored = try Session(der: try session.der)
        let again = try Self.visit(port: port, context: client, serverName: "localhost", session: restored, tickets: tickets)
        #expect(again.reused)
        expectErrorQueueEmpty()
    }

    /// What the Swift server saw on one connection.
    struct Seen: Sendable {
        let serverName: String?
        let alpn: String?
        let reused: Bool
        let version: ProtocolVersion?
    }

    @Test(
        "Interop: openssl s_client against a Swift server: the SNI callback switches certificates, ALPN follows the server, -sess_in resumes",
        arguments: bothTLSVersions)
    func clientAgainstSwiftServer(version: ProtocolVersion) throws {
        let directory = try TemporaryDirectory()
        try Self.pki.writePEMFiles(to: directory.url)
        let other = try Context.server(
            certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey,
            chain: [Self.pki.intermediate])
        let context = try VersionedContexts.server(version)
        try context.setServerNameCallback { connection in
            if connection.serverName == "wrong.example" { try connection.setContext(other) }
        }
        try context.setALPNSelection(preferring: ["h2", "http/1.1"])

        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let seen = LockedBox<[Seen]>([])
        let failures = LockedBox<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let runs = 3
        Thread.detachNewThread {
            defer {
                listener.close()
                done.signal()
            }
            for _ in 0..<runs {
                do {
                    let socket = try listener.accept(timeout: .seconds(20))
                    defer { socket.close() }
                    try socket.setReadTimeout(.seconds(10))
                    let connection = try Connection(context, transport: socket)
                    connection.setAcceptState()
                    try connection.doHandshake()
                    seen.mutate {
                        $0.append(
                            Seen(
                                serverName: connection.serverName, alpn: connection.alpnProtocol,
                                reused: connection.isSessionReused, version: connection.protocolVersion))
                    }
                    try connection.writeAll(Array("hello from swift\n".utf8))
                    _ = try connection.shutdown()
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
            }
        }

        func sClient(_ extra: [String]) throws -> String {
            let result = try ExternalTool.run(
                "/usr/bin/openssl",
                [
                    "s_client", "-connect", "127.0.0.1:\(listener.localPort)", "-ign_eof",
                    "-CAfile", directory.path("root.pem"), "-verify_return_error",
                ] + RuntimeOpenSSL.onelineNames + extra, timeout: 20)
            #expect(!result.timedOut)
            return result.stdout + result.stderr
        }
        let sessionFile = directory.path("session.pem")
        let switched = try sClient([
            "-servername", "wrong.example", "-verify_hostname", "wrong.example",
            "-alpn", "http/1.1,h2",
        ])
        #expect(switched.contains("CN = wrong.example"), "\(switched)")
        #expect(switched.contains("ALPN protocol: h2"))
        #expect(switched.contains("Verify return code: 0 (ok)"))
        #expect(switched.contains("hello from swift"))

        let first = try sClient([
            "-servername", "localhost", "-verify_hostname", "localhost", "-alpn", "http/1.1",
            "-sess_out", sessionFile,
        ])
        #expect(first.contains("New, \(version)"), "\(first)")
        #expect(first.contains("ALPN protocol: http/1.1"))
        let second = try sClient(["-servername", "localhost", "-sess_in", sessionFile])
        #expect(second.contains("Reused, \(version)"), "\(second)")

        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(failures.get().isEmpty, "\(failures.get())")
        let connections = seen.get()
        #expect(connections.map(\.serverName) == ["wrong.example", "localhost", "localhost"])
        #expect(connections.map(\.alpn) == ["h2", "http/1.1", nil])
        #expect(connections.map(\.reused) == [false, false, true])
        #expect(connections.allSatisfy { $0.version == version })
        expectErrorQueueEmpty()
    }
}
