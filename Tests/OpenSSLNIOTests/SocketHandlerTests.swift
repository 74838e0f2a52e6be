import COpenSSL
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

/// The handlers over real TCP (NIOPosix, 127.0.0.1, ephemeral ports) against
/// real peers: openssl s_server/s_client, Python's ssl, GnuTLS, and
/// swift-nio-ssl's NIOSSLHandler in this process. Every child peer runs
/// under `timeout` and is stopped by the test that started it.
@Suite("OpenSSLNIO handlers over real sockets", .serialized, .timeLimit(.minutes(3)))
struct SocketHandlerTests {
    static let payload = Array("hello from a SwiftNIO pipeline on system OpenSSL\n".utf8)

    /// Every combination of peer, version and client certificate.
    static let cases: [(PeerKind, ProtocolVersion, Bool)] = PeerKind.allCases.flatMap { peer in
        [ProtocolVersion.tls1_2, .tls1_3].flatMap { version in [false, true].map { (peer, version, $0) } }
    }

    // MARK: N04: our client, their server

    @Test(
        "N04 our client against a peer server (openssl s_server, Python ssl, gnutls-serv), TLS 1.2 and 1.3, with and without a client certificate",
        arguments: cases)
    func clientAgainstPeerServer(peer kind: PeerKind, version: ProtocolVersion, clientCertificate: Bool) async throws {
        let files = try PEMFiles()
        let (peer, port) = try Peers.startServer(kind, files: files, requireClientCertificate: clientCertificate)
        defer { peer.stop() }
        let context = try NIOContexts.client(maximumVersion: version, withCertificate: clientCertificate)
        do {
            let (echo, result) = try await Sockets.exchange(port: port, context: context, payload: Self.payload)
            #expect(echo == Self.payload)
            #expect(result.protocolVersion == version)
            #expect(result.verifiedChain?.count == 3)
        } catch {
            Issue.record("\(kind) server: \(error); peer said: \(peer.stderr.suffix(800)) \(peer.stdoutText.suffix(400))")
        }
    }

    // MARK: N04: their client, our server

    @Test(
        "N04 a peer client (openssl s_client, Python ssl, gnutls-cli) against our server, TLS 1.2 and 1.3, with and without a client certificate",
        arguments: cases)
    func peerClientAgainstServer(peer kind: PeerKind, version: ProtocolVersion, clientCertificate: Bool) async throws {
        let files = try PEMFiles()
        let log = ServerLog()
        let context = try NIOContexts.server(maximumVersion: version, requireClientCertificate: clientCertificate)
        let server = try await Sockets.startServer(context: context, log: log, closeAfter: Self.payload.count)
        let port = try Sockets.port(of: server)
        let peer = try Peers.startClient(
            kind, port: port, files: files, withCertificate: clientCertificate,
            payload: Self.payload)
        defer { peer.stop() }
        // gnutls-cli prints its own lines on standard output too: look for the payload among them.
        let text = String(decoding: Self.payload, as: UTF8.self)
        let echoed = peer.waitFor(timeout: 15) { out, _ in String(decoding: out, as: UTF8.self).contains(text) }
        let exit = peer.waitForExit(timeout: 10)
        try await server.close().get()
        #expect(echoed, "\(kind) client got \(peer.stdout.count) bytes; peer said: \(peer.stderr.suffix(800))")
        #expect(
            exit?.succeeded == true, "\(kind) client ended with \(exit.map { "\($0)" } ?? "no exit"): \(peer.stderr.suffix(800))")
        let results = log.results.get()
        #expect(results.count == 1)
        #expect(results.first?.protocolVersion == version)
        if clientCertificate {
            #expect(try results.first?.peerCertificate?.der == NIOContexts.pki.client.der)
            #expect(results.first?.verifiedChain?.count == 3)
        } else {
            #expect(results.first?.peerCertificate == nil)
        }
        #expect(log.errors.get().isEmpty, "\(log.errors.get())")
    }

    // MARK: N04: NIOSSLHandler in this process

    @Test(
        "N04 our handlers against NIOSSLHandler (BoringSSL) in one process, both directions, TLS 1.2 and 1.3, with and without a client certificate",
        arguments: [ProtocolVersion.tls1_2, .tls1_3], [false, true])
    func againstNIOSSLHandler(version: ProtocolVersion, clientCertificate: Bool) async throws {
        let nioVersion: TLSVersion = version == .tls1_2 ? .tlsv12 : .tlsv13
        // Our client, NIOSSLHandler server.
        let nioLog = ServerLog()
        let nioServer = try await Sockets.startNIOSSLServer(
            context: try NIOContexts.nioSSLServer(maximumVersion: nioVersion, requireClientCertificate: clientCertificate),
            log: nioLog)
        let (echo, result) = try await Sockets.exchange(
            port: try Sockets.port(of: nioServer),
            context: try NIOContexts.client(maximumVersion: version, withCertificate: clientCertificate),
            payload: Self.payload)
        try await nioServer.close().get()
        #expect(echo == Self.payload)
        #expect(result.protocolVersion == version)
        #expect(result.verifiedChain?.count == 3)

        // NIOSSLHandler client, our server.
        let log = ServerLog()
        let server = try await Sockets.startServer(
            context: try NIOContexts.server(maximumVersion: version, requireClientCertificate: clientCertificate), log: log)
        let echoed = try await Sockets.nioSSLExchange(
            port: try Sockets.port(of: server),
            context: try NIOContexts.nioSSLClient(maximumVersion: nioVersion, withCertificate: clientCertificate),
            payload: Self.payload)
        try await server.close().get()
        #expect(echoed == Self.payload)
        #expect(log.results.get().first?.protocolVersion == version)
        #expect((log.results.get().first?.peerCertificate != nil) == clientCertificate)
    }

    // MARK: autoRead

    /// Counts what reaches a server application that reads only when told.
    final class ManualReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let received: LockedBox<[UInt8]>
        let handshakes: LockedBox<Int>
        init(received: LockedBox<[UInt8]>, handshakes: LockedBox<Int>) {
            self.received = received
            self.handshakes = handshakes
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            received.mutate { $0 += bytes }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSUserEvent { handshakes.mutate { $0 += 1 } }
            context.fireUserInboundEventTriggered(event)
        }
    }

    @Test("N01 autoRead off: the handshake still completes, and plaintext waits until the application reads")
    func autoReadOff() async throws {
        let received = LockedBox<[UInt8]>([])
        let handshakes = LockedBox<Int>(0)
        let children = LockedBox<[Channel]>([])
        let context = try NIOContexts.server()
        let server = try await ServerBootstrap(group: Sockets.group)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try OpenSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(ManualReader(received: received, handshakes: handshakes))
                    children.mutate { $0.append(channel) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let promise = Sockets.group.next().makePromise(of: [UInt8].self)
        let client = try await ClientBootstrap(group: promise.futureResult.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try OpenSSLClientHandler(
                            context: try NIOContexts.client(), serverHostname: "localhost",
                            closeTimeout: .milliseconds(500)))
                    try channel.pipeline.syncOperations.addHandler(Collector(expected: 1, done: promise))
                }
            }
            .connect(host: "127.0.0.1", port: try Sockets.port(of: server)).get()
        defer { promise.fail(ChannelError.ioOnClosedChannel) }
        _ = try await client.openSSLHandshakeResult().get()
        try await client.writeAndFlush(ByteBuffer(string: "ping")).get()
        // The server's handshake completes without any read() of the application...
        for _ in 0..<200 where handshakes.get() == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(handshakes.get() == 1)
        // ...but the plaintext is not read until the application asks.
        try await Task.sleep(for: .milliseconds(300))
        #expect(received.get().isEmpty)
        guard let child = children.get().first else {
            Issue.record("no connection accepted")
            return
        }
        child.read()
        for _ in 0..<200 where received.get().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(String(decoding: received.get(), as: UTF8.self) == "ping")
        try await client.close().get()
        try await server.close().get()
    }

    @Test("N01 the handshake result reaches async code as a Sendable value")
    func handshakeResultFromAsyncCode() async throws {
        let log = ServerLog()
        let server = try await Sockets.startServer(context: try NIOContexts.server(alpn: ["h2"]), log: log)
        let (_, result) = try await Sockets.exchange(
            port: try Sockets.port(of: server),
            context: try NIOContexts.client(alpn: ["h2"]), payload: Self.payload)
        // Carried across tasks.
        let carried = await Task.detached { result }.value
        #expect(carried.alpnProtocol == "h2")
        #expect(try carried.peerCertificate?.der == NIOContexts.pki.server.der)
        try await server.close().get()
    }

    // MARK: N09 over sockets

    @Test(
        "N09 hostile input over TCP (garbage, a cut ClientHello, 200 idle connections) never stops the server loop, and no handler outlives its connection"
    )
    func hostileInputOverSockets() async throws {
        let log = ServerLog()
        let server = try await Sockets.startServer(context: try NIOContexts.server(), log: log)
        let port = try Sockets.port(of: server)
        let context = try NIOContexts.client()

        // Plain TCP clients: raw bytes, no TLS.
        func rawConnection() async throws -> Channel {
            try await ClientBootstrap(group: Sockets.group).connect(host: "127.0.0.1", port: port).get()
        }
        let garbage = try await rawConnection()
        try await garbage.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")).get()
        // The server answers garbage with an alert and closes.
        try await garbage.closeFuture.get()

        let cut = try await rawConnection()
        try await cut.writeAndFlush(ByteBuffer(bytes: [22, 3, 1, 0, 200, 1, 0, 0])).get()

        var idle: [Channel] = []
        for _ in 0..<200 { idle.append(try await rawConnection()) }
        // With all of them open, a real client is served at once.
        let (echo, _) = try await Sockets.exchange(port: port, context: context, payload: Self.payload)
        #expect(echo == Self.payload)

        for channel in idle + [cut] { try? await channel.close().get() }
        // Everything closed: the server still serves, and reports failures as handshake failures.
        let (again, _) = try await Sockets.exchange(port: port, context: context, payload: Self.payload)
        #expect(again == Self.payload)
        try await server.close().get()
        // Let the loops finish closing the accepted channels, then no handler may survive.
        for _ in 0..<300 where log.handlers.get().contains(where: { $0.handler != nil }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(log.accepted.get() == 204)
        let alive = log.handlers.get().filter { $0.handler != nil }.count
        #expect(alive == 0, "\(alive) handlers outlived their connections")
    }
}
