import Foundation
import Testing
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Hostile peers against `TestTLSServer` (the library's `Connection` over
/// `TCPSocket` on 127.0.0.1): garbage, an HTTP request, a ClientHello cut at
/// every byte, oversized records, a chain of 100 certificates, a renegotiation
/// request, a client that stops mid-handshake, 200 idle connections. Each must be answered with an
/// alert or a closed connection, and the server must go on to serve the next
/// good client.
@Suite("Hostile peers", .serialized)
struct HostilePeerTests {
    static var pki: TestPKI { TestPKI.shared }

    static func makeServer(timeout: Duration = .seconds(2)) throws -> TestTLSServer {
        try TestTLSServer(context: try TestContexts.server(), handshakeTimeout: timeout)
    }

    /// What a raw client read back before the connection ended.
    struct Reply {
        var bytes: [UInt8] = []
        /// True when the server closed (end of stream or reset); false when the read timed out.
        var closed = false

        /// The records in `bytes`: (content type, payload); nil when the bytes are not whole TLS records.
        var records: [(type: UInt8, payload: ArraySlice<UInt8>)]? {
            var records: [(UInt8, ArraySlice<UInt8>)] = []
            var index = 0
            while index < bytes.count {
                guard bytes.count - index >= 5, bytes[index + 1] == 3 else { return nil }
                let length = Int(bytes[index + 3]) << 8 | Int(bytes[index + 4])
                guard bytes.count - index - 5 >= length else { return nil }
                records.append((bytes[index], bytes[(index + 5)..<(index + 5 + length)]))
                index += 5 + length
            }
            return records
        }

        /// The alert descriptions among the records sent in the clear (a
        /// two-byte alert record: level, description).
        var alerts: [UInt8] {
            (records ?? []).filter { $0.type == 0x15 && $0.payload.count == 2 }.map { $0.payload.last ?? 0 }
        }

        /// An alert or a plain close, and nothing but whole TLS records before it.
        var isAlertOrClose: Bool { closed && records != nil }
    }

    /// Connects, sends `bytes` (optionally shutting down the write side), and
    /// reads until the server closes or `timeout` passes.
    static func rawExchange(
        port: UInt16, send bytes: [UInt8], halfClose: Bool = true,
        timeout: Duration = .seconds(10)
    ) throws -> Reply {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(timeout)
        var reply = Reply()
        var offset = 0
        while offset < bytes.count {
            do {
                guard
                    let count = try bytes.withUnsafeBytes({ try socket.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }),
                    count > 0
                else { break }
                offset += count
            } catch {
                break  // the server may close before taking everything
            }
        }
        if halfClose { try? socket.shutdown(.write) }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            do {
                guard let count = try buffer.withUnsafeMutableBytes({ try socket.read(into: $0) }) else { continue }
                if count == 0 {
                    reply.closed = true
                    break
                }
                reply.bytes += buffer[..<count]
            } catch let error as SocketError where error.code == .ECONNRESET {
                reply.closed = true
                break
            } catch {
                break  // timed out: still open
            }
        }
        return reply
    }

    /// A good client: handshake, request, echo, close_notify.
    static func goodClient(port: UInt16, message: String = "hello") throws -> String {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        try client.writeAll(Array(message.utf8))
        var reply: [UInt8] = []
        while true {
            switch Result(catching: { () throws(SSLError) in try client.read(max: 1024) }) {
            case .success(let bytes): reply += bytes
            case .failure(.zeroReturn): return String(decoding: reply, as: UTF8.self)
            case .failure(let error): throw error
            }
        }
    }

    /// The server still serves: a good client gets its echo.
    static func expectServes(_ server: TestTLSServer, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            (try? goodClient(port: server.port)) == "echo: hello", "the server no longer serves",
            sourceLocation: sourceLocation)
    }

    /// A ClientHello as the library's client sends it.
    static func clientHello(maximum: ProtocolVersion = .tls1_3) throws -> [UInt8] {
        let context = try TestContexts.client()
        try context.setMaximumProtocolVersion(maximum)
        let client = try Connection(context)
        client.setConnectState()
        try client.setServerName("localhost")
        #expect(sslErrorCase { try client.doHandshake() } == .wantRead)
        return try client.bioRead(max: 65_536)
    }

    @Test("garbage bytes: an alert or a close, then the next client is served")
    func garbage() throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        var generator = SystemRandomNumberGenerator()
        for length in [1, 5, 100, 4096, 20_000] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reply = try Self.rawExchange(port: server.port, send: bytes)
            #expect(reply.isAlertOrClose, "\(length) garbage bytes: \(reply.bytes.prefix(16))")
        }
        // A well-formed record header of an unknown content type: the alert is unexpected_message (10).
        let unknownType = try Self.rawExchange(port: server.port, send: [0x42, 0x03, 0x01, 0x00, 0x04, 1, 2, 3, 4])
        #expect(unknownType.isAlertOrClose)
        #expect(unknownType.alerts == [10], "\(unknownType.bytes)")
        let outcomes = server.waitForOutcomes(6)
        #expect(outcomes.count == 6)
        #expect(outcomes.allSatisfy { $0.isFailed }, "\(outcomes)")
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test("an HTTP request to the TLS port: the connection is closed, the server goes on")
    func httpRequest() throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let reply = try Self.rawExchange(
            port: server.port,
            send: Array("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n".utf8),
            halfClose: false)
        #expect(reply.isAlertOrClose, "\(reply.bytes.prefix(16))")
        let outcomes = server.waitForOutcomes(1)
        guard case .failed(.ssl, let text)? = outcomes.first else {
            Issue.record("expected an SSL failure, got \(outcomes)")
            return
        }
        #expect(text.contains("http request"), "\(text)")
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test(
        "a ClientHello cut at every byte (then end of stream): each is a typed failure and a close",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func clientHelloCutAtEveryByte(maximum: ProtocolVersion) throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let hello = try Self.clientHello(maximum: maximum)
        var notClosed: [Int] = []
        for cut in 0..<hello.count {
            let reply = try Self.rawExchange(port: server.port, send: Array(hello[..<cut]))
            if !reply.isAlertOrClose { notClosed.append(cut) }
        }
        let outcomes = server.waitForOutcomes(hello.count)
        print("hostile peers: \(maximum) ClientHello of \(hello.count) bytes cut at every byte: \(outcomes.count) connections")
        #expect(notClosed.isEmpty, "cuts not answered by a close: \(notClosed.prefix(20))")
        #expect(outcomes.count == hello.count)
        #expect(outcomes.allSatisfy { $0.isFailed }, "\(outcomes.filter { !$0.isFailed }.prefix(5))")
        // The whole hello, still followed by end of stream, fails too (the handshake needs more).
        #expect(try Self.rawExchange(port: server.port, send: hello).isAlertOrClose)
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test("a record longer than TLS allows, before and after the handshake: a record_overflow alert")
    func oversizedRecord() throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        // Before the handshake: a handshake record announcing 18,433 bytes (the limit is 16,384 + 2,048).
        let header: [UInt8] = [0x16, 0x03, 0x01, 0x48, 0x01]
        let reply = try Self.rawExchange(port: server.port, send: header + [UInt8](repeating: 0, count: 1024))
        #expect(reply.isAlertOrClose)
        #expect(reply.alerts == [22], "expected record_overflow: \(reply.bytes)")

        // After the handshake: an application-data record of 18,433 bytes on the socket, under the client's TLS.
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        let record: [UInt8] = [0x17, 0x03, 0x03, 0x48, 0x01] + [UInt8](repeating: 0xAA, count: 0x4801)
        _ = try? record.withUnsafeBytes { try socket.write($0) }
        let error = try #require(throws: SSLError.self) { _ = try client.read(max: 100) }
        #expect("\(error)".contains("alert record overflow"), "\(error)")

        let outcomes = server.waitForOutcomes(2)
        #expect(outcomes.count == 2 && outcomes.allSatisfy { $0.isFailed }, "\(outcomes)")
        if case .failed(_, let text)? = outcomes.last {
            #expect(text.contains("length too long") || text.contains("overflow"), "\(text)")
        }
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test("a client certificate chain of 100 certificates: refused with an alert, the server goes on")
    func hundredCertificateChain() throws {
        // Root → 98 intermediates → leaf: 100 certificates, each signed by the next.
        let now = Date()
        let rootKey = try PKey.generate(.ec(.p256))
        var rootBuilder = X509Builder(
            subject: try X509Name([("CN", "Long Chain Root")]), publicKey: rootKey,
            notBefore: now - 3600, notAfter: now + 86_400)
        try rootBuilder.addBasicConstraints(isCA: true)
        let root = try rootBuilder.sign(with: rootKey)
        var issuer = root
        var issuerKey = rootKey
        var chain: [X509] = [root]
        for index in 1..<99 {
            let key = try PKey.generate(.ec(.p256))
            var builder = X509Builder(
                subject: try X509Name([("CN", "Long Chain CA \(index)")]), publicKey: key,
                notBefore: now - 3600, notAfter: now + 86_400)
            try builder.addBasicConstraints(isCA: true)
            let certificate = try builder.sign(with: issuerKey, issuer: issuer)
            chain.insert(certificate, at: 0)
            issuer = certificate
            issuerKey = key
        }
        let leafKey = try PKey.generate(.ec(.p256))
        var leafBuilder = X509Builder(
            subject: try X509Name([("CN", "Long Chain Leaf")]), publicKey: leafKey,
            notBefore: now - 3600, notAfter: now + 86_400)
        try leafBuilder.addExtendedKeyUsage([.clientAuth])
        let leaf = try leafBuilder.sign(with: issuerKey, issuer: issuer)
        chain.insert(leaf, at: 0)
        #expect(chain.count == 100)

        // Twice: a server that does not trust the chain's root, and one that
        // does but accepts at most 10 certificates below its root.
        let untrusting = try Context.mutualTLSServer(
            certificate: Self.pki.server, key: Self.pki.serverKey,
            chain: [Self.pki.intermediate], trusting: [Self.pki.root])
        let limited = try Context.mutualTLSServer(
            certificate: Self.pki.server, key: Self.pki.serverKey,
            chain: [Self.pki.intermediate], trusting: [Self.pki.root, root])
        try limited.setVerifyDepth(10)
        for (serverContext, reason) in [
            (untrusting, "self-signed certificate in certificate chain"),
            (limited, "certificate chain too long"),
        ] {
            let server = try TestTLSServer(context: serverContext)
            defer { server.stop() }
            let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
            defer { socket.close() }
            try socket.setReadTimeout(.seconds(10))
            let clientContext = try Context.client(
                trusting: [Self.pki.root], certificate: leaf, key: leafKey,
                chain: Array(chain.dropFirst()))
            #expect(clientContext.extraChainCertificates.count == 99)
            let client = try Connection(clientContext, transport: socket)
            client.setConnectState()
            try client.setServerName("localhost")
            // TLS 1.3: the client finishes first; the server's alert arrives with the first read.
            let failure = sslErrorCase {
                try client.doHandshake()
                try client.writeAll(Array("hello".utf8))
                _ = try client.read(max: 100)
            }
            #expect(failure == .ssl)
            let outcomes = server.waitForOutcomes(1)
            guard case .failed(.ssl, let text)? = outcomes.first else {
                Issue.record("expected the server to refuse the chain: \(outcomes)")
                continue
            }
            #expect(text.contains("certificate verify failed") && text.contains(reason), "\(text)")
            #expect(client.verifyResult == .ok)
            try Self.expectServesMutualTLS(server)
        }
        expectErrorQueueEmpty()
    }

    /// A good client with a proper certificate is served by a mutual-TLS server.
    static func expectServesMutualTLS(_ server: TestTLSServer) throws {
        // A good client with a proper certificate is still served.
        let good = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { good.close() }
        try good.setReadTimeout(.seconds(10))
        let goodClient = try Connection(
            try Context.client(
                trusting: [Self.pki.root], certificate: Self.pki.client, key: Self.pki.clientKey,
                chain: [Self.pki.intermediate]),
            transport: good)
        goodClient.setConnectState()
        try goodClient.setServerName("localhost")
        try goodClient.doHandshake()
        try goodClient.writeAll(Array("hi".utf8))
        var echoed: [UInt8] = []
        while echoed.count < 8 { echoed += try goodClient.read(max: 100) }
        #expect(echoed == Array("echo: hi".utf8))
    }

    @Test("a TLS 1.2 client asking to renegotiate is refused; the server goes on")
    func clientRenegotiation() throws {
        let server = try Self.makeServer()
        defer { server.stop() }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let context = try TestContexts.client()
        try context.setMaximumProtocolVersion(.tls1_2)
        let client = try Connection(context, transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        try client.renegotiate()
        // The request goes out with the next handshake step; the server answers with an alert and closes.
        let failure = sslErrorCase {
            try client.doHandshake()
            try client.writeAll(Array("hello".utf8))
            _ = try client.read(max: 100)
        }
        #expect(
            failure == .ssl || failure == .zeroReturn || failure == .unexpectedEOF || failure == .sysCall,
            "\(String(describing: failure))")
        let outcomes = server.waitForOutcomes(1)
        guard case .failed(_, let text)? = outcomes.first else {
            Issue.record("expected the server to refuse the renegotiation: \(outcomes)")
            return
        }
        // OpenSSL 3.0's server answers with a no_renegotiation warning, on which the client gives up
        // with a handshake_failure alert; or it refuses outright.
        #expect(text.contains("renegotiation") || text.contains("alert handshake failure"), "\(text)")
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test("a client that stops mid-handshake is ended by the handshake timeout")
    func stallsMidHandshake() throws {
        let server = try Self.makeServer(timeout: .seconds(1))
        defer { server.stop() }
        let started = ContinuousClock.now
        // The whole ClientHello, then silence with the connection left open.
        let stalled = try Self.rawExchange(port: server.port, send: try Self.clientHello(), halfClose: false)
        let waited = ContinuousClock.now - started
        #expect(stalled.closed, "the server did not close the stalled connection")
        #expect(stalled.records != nil)  // its flight, then the close
        // Half a ClientHello, then silence.
        let half = try Self.clientHello()
        let cut = try Self.rawExchange(port: server.port, send: Array(half[..<(half.count / 2)]), halfClose: false)
        #expect(cut.isAlertOrClose)
        let outcomes = server.waitForOutcomes(2)
        #expect(outcomes.count == 2 && outcomes.allSatisfy { $0.isTimedOut }, "\(outcomes)")
        #expect(waited >= .milliseconds(900) && waited < .seconds(8), "closed after \(waited)")
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }

    @Test("200 concurrent idle connections: a good client is served meanwhile; the idle ones are timed out and closed")
    func idleConnections() throws {
        // Long enough that none times out before the good client has been served, even on a loaded machine.
        let server = try Self.makeServer(timeout: .seconds(4))
        defer { server.stop() }
        var idle: [TCPSocket] = []
        defer { idle.forEach { $0.close() } }
        for _ in 0..<200 {
            idle.append(try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5)))
        }
        // All 200 are accepted and waiting; a good client does not wait behind them.
        let deadline = Date().addingTimeInterval(10)
        while server.acceptedConnections < 200 && Date() < deadline { usleep(10_000) }
        #expect(server.acceptedConnections == 200)
        let started = ContinuousClock.now
        Self.expectServes(server)
        #expect(ContinuousClock.now - started < .seconds(3), "the good client waited behind the idle ones")
        #expect(server.openConnections >= 190, "idle connections were dropped too early: \(server.openConnections) open")
        // Then each idle connection is closed by the handshake timeout.
        let outcomes = server.waitForOutcomes(201, timeout: 30)
        #expect(outcomes.filter { $0.isTimedOut }.count == 200)
        var closed = 0
        for socket in idle {
            try socket.setReadTimeout(.seconds(5))
            var byte = [UInt8](repeating: 0, count: 1)
            if (try? byte.withUnsafeMutableBytes({ try socket.read(into: $0) })) == 0 { closed += 1 }
        }
        #expect(closed == 200)
        #expect(server.openConnections == 0)
        Self.expectServes(server)
        expectErrorQueueEmpty()
    }
}
