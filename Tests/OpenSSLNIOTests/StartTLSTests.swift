import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

/// N08: STARTTLS. A plaintext SMTP dialogue, then this library's handler
/// added to the live pipeline (`addOpenSSLHandler(_:position: .first)`), then
/// the same connection over TLS: both roles over EmbeddedChannel, our server
/// against `openssl s_client -starttls smtp`, our client against a Python
/// asyncio server that upgrades with `StreamWriter.start_tls`.
@Suite("OpenSSLNIO STARTTLS", .serialized, .timeLimit(.minutes(3)))
struct StartTLSTests {
    // MARK: EmbeddedChannel, both roles

    /// Closes both channels (a TLS close waits for the peer's close_notify,
    /// or its timeout: the bytes are moved across and time advanced past it) and finishes them.
    static func finish(_ client: EmbeddedChannel, _ server: EmbeddedChannel) {
        for channel in [client, server] where channel.isActive {
            channel.close(promise: nil)
            for _ in 0..<10 {
                let forward = (try? EmbeddedPair.move(from: client, to: server)) ?? false
                let backward = (try? EmbeddedPair.move(from: server, to: client)) ?? false
                if !forward && !backward { break }
            }
        }
        for channel in [client, server] { channel.embeddedEventLoop.advanceTime(by: .seconds(3_600)) }
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }

    @Test(
        "N08 STARTTLS over EmbeddedChannel: a plaintext SMTP exchange, then both sides add the TLS handler in place and go on over TLS",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func startTLSOverEmbeddedChannels(version: ProtocolVersion) throws {
        let serverLog = DialogueLog()
        let clientLog = DialogueLog()
        let serverContext = try NIOContexts.server(maximumVersion: version)
        let clientContext = try NIOContexts.client()
        let server = EmbeddedChannel(
            handler: SMTPServerApplication(log: serverLog) {
                try OpenSSLServerHandler(context: serverContext)
            })
        let client = EmbeddedChannel(
            handler: SMTPClientApplication(log: clientLog) {
                try OpenSSLClientHandler(context: clientContext, serverHostname: "localhost")
            })
        defer { Self.finish(client, server) }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 25)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        // No TLS handler anywhere yet.
        #expect(throws: (any Error).self) { try client.pipeline.syncOperations.openSSLHandler() }
        #expect(throws: (any Error).self) { try server.pipeline.syncOperations.openSSLHandler() }

        // Step by step, so each stage can be checked: greeting, EHLO, STARTTLS.
        func step() throws -> (toServer: [UInt8], toClient: [UInt8]) {
            let toClient = try EmbeddedPair.drainOutbound(server)
            if !toClient.isEmpty { try client.writeInbound(ByteBuffer(bytes: toClient)) }
            let toServer = try EmbeddedPair.drainOutbound(client)
            if !toServer.isEmpty { try server.writeInbound(ByteBuffer(bytes: toServer)) }
            return (toServer, toClient)
        }
        let greeting = try step()  // 220 greeting → EHLO
        #expect(String(decoding: greeting.toClient, as: UTF8.self).hasPrefix("220 localhost ESMTP"))
        #expect(String(decoding: greeting.toServer, as: UTF8.self) == "EHLO client.test\r\n")
        let ehlo = try step()  // 250-… STARTTLS → STARTTLS
        #expect(String(decoding: ehlo.toClient, as: UTF8.self).hasSuffix("250 STARTTLS\r\n"))
        #expect(String(decoding: ehlo.toServer, as: UTF8.self) == "STARTTLS\r\n")
        // The server answered 220 in plaintext and put its TLS handler in place.
        let serverHandler = try server.pipeline.syncOperations.openSSLHandler()
        #expect(serverHandler is OpenSSLServerHandler)
        let ready = try step()  // 220 Ready → the client adds its handler: ClientHello (and nothing in plaintext)
        #expect(String(decoding: ready.toClient, as: UTF8.self) == "220 2.0.0 Ready to start TLS\r\n")
        // A TLS handshake record (22) carrying a ClientHello (1): the handshake started when the
        // handler was added to the active channel. The EHLO written right after it is held back.
        #expect(ready.toServer.count > 9 && ready.toServer[0] == 22 && ready.toServer[5] == 1)
        #expect(!String(decoding: ready.toServer, as: UTF8.self).contains("EHLO"))
        let clientHandler = try client.pipeline.syncOperations.openSSLHandler()
        #expect(clientHandler is OpenSSLClientHandler)

        for _ in 0..<20 {
            let moved = try step()
            if moved.toClient.isEmpty && moved.toServer.isEmpty { break }
        }
        #expect(clientLog.finished.get(), "client: \(clientLog.summary)")
        #expect(serverLog.finished.get(), "server: \(serverLog.summary)")
        #expect(serverLog.plaintextLines.get() == ["EHLO client.test", "STARTTLS"])
        #expect(serverLog.tlsLines.get() == ["EHLO secure.test", "QUIT"])
        #expect(clientLog.tlsLines.get() == ["250-localhost greets secure.test over TLS", "250 AUTH PLAIN", "221 2.0.0 Bye"])
        #expect(clientLog.handshakeEvents.get() == 1 && serverLog.handshakeEvents.get() == 1)
        #expect(serverLog.handshake.get()?.protocolVersion == version)
        #expect(clientLog.handshake.get()?.protocolVersion == version)
        #expect(clientLog.handshake.get()?.verifiedChain?.count == 3)
        #expect(
            clientLog.errors.get().isEmpty && serverLog.errors.get().isEmpty,
            "\(clientLog.errors.get()) \(serverLog.errors.get())")
        #expect(serverLog.discarded.get().isEmpty && clientLog.discarded.get().isEmpty)
        // QUIT: the server closed with close_notify, the client answered with its own; both are closed.
        #expect(!server.isActive && !client.isActive)
    }

    @Test("N08 plaintext pipelined after STARTTLS is discarded, never read as TLS-protected; the handshake still completes")
    func pipelinedPlaintextAfterStartTLS() throws {
        let serverLog = DialogueLog()
        let serverContext = try NIOContexts.server()
        let server = EmbeddedChannel(
            handler: SMTPServerApplication(log: serverLog) {
                try OpenSSLServerHandler(context: serverContext)
            })
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        _ = try EmbeddedPair.drainOutbound(server)
        // An attacker's injection (CVE-2011-0411 style): a command right behind STARTTLS, in plaintext.
        try server.writeInbound(ByteBuffer(string: "EHLO client.test\r\nSTARTTLS\r\nRCPT TO:<victim@example>\r\n"))
        #expect(serverLog.plaintextLines.get() == ["EHLO client.test", "STARTTLS"])
        #expect(String(decoding: serverLog.discarded.get(), as: UTF8.self) == "RCPT TO:<victim@example>\r\n")
        let replies = String(decoding: try EmbeddedPair.drainOutbound(server), as: UTF8.self)
        #expect(replies.hasSuffix("220 2.0.0 Ready to start TLS\r\n"))

        // A real client then completes the handshake with the handler now in place.
        let client = EmbeddedChannel()
        defer { Self.finish(client, server) }
        try client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        let recorder = Recorder()
        try client.pipeline.syncOperations.addHandler(
            try OpenSSLClientHandler(context: try NIOContexts.client(), serverHostname: "localhost"))
        try client.pipeline.syncOperations.addHandler(recorder)
        for _ in 0..<10 {
            let forward = try EmbeddedPair.move(from: client, to: server)
            let backward = try EmbeddedPair.move(from: server, to: client)
            if !forward && !backward { break }
        }
        #expect(recorder.handshakeCompletions.count == 1)
        #expect(serverLog.handshakeEvents.get() == 1)
        _ = client.send("NOOP\r\n")
        try EmbeddedPair.move(from: client, to: server)
        try EmbeddedPair.move(from: server, to: client)
        #expect(serverLog.tlsLines.get() == ["NOOP"])
        #expect(recorder.text == "250 2.0.0 OK\r\n")
        #expect(serverLog.errors.get().isEmpty, "\(serverLog.errors.get())")
    }

    // MARK: Our server, openssl s_client -starttls smtp

    @Test(
        "N08 our NIOPosix SMTP server upgrades in place for openssl s_client -starttls smtp; lines flow both ways over TLS",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func serverAgainstOpenSSLStartTLSClient(version: ProtocolVersion) async throws {
        let files = try PEMFiles()
        let log = DialogueLog()
        let context = try NIOContexts.server(maximumVersion: version)
        let server = try await ServerBootstrap(group: Sockets.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPServerApplication(log: log) {
                            try OpenSSLServerHandler(context: context, closeTimeout: .seconds(2))
                        })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try Sockets.port(of: server)
        let peer = try PeerProcess(
            try Peers.program(.openssl, server: false),
            [
                "s_client", "-starttls", "smtp", "-name", "client.test", "-connect", "127.0.0.1:\(port)",
                "-CAfile", files.path("root.pem"), "-verify_return_error",
                "-servername", "localhost", "-verify_hostname", "localhost", "-brief", "-nocommands",
            ])
        defer { peer.stop() }
        // Over TLS now: s_client sends what it reads on its input.
        peer.send(Array("EHLO secure.test\r\n".utf8))
        let answered = await offThePool { peer.waitForText("250 AUTH PLAIN", timeout: 15) }
        peer.send(Array("QUIT\r\n".utf8))
        let quit = await offThePool { peer.waitForText("221 2.0.0 Bye", timeout: 10) }
        peer.closeInput()
        let exit = await offThePool { peer.waitForExit(timeout: 10) }
        try await log.waitUntilFinished()
        try await server.close().get()

        #expect(answered, "s_client printed: \(peer.stdoutText.suffix(600)); said: \(peer.stderr.suffix(800))")
        #expect(quit)
        #expect(exit?.succeeded == true, "s_client ended with \(exit.map { "\($0)" } ?? "no exit"): \(peer.stderr.suffix(800))")
        #expect(peer.stdoutText.contains("250-localhost greets secure.test over TLS"))
        // s_client verified our chain and host name after the plaintext part.
        #expect(peer.stderr.contains("CONNECTION ESTABLISHED"))
        #expect(peer.stderr.contains("Verification: OK"))
        #expect(log.plaintextLines.get() == ["EHLO client.test", "STARTTLS"], "\(log.summary)")
        #expect(log.tlsLines.get() == ["EHLO secure.test", "QUIT"], "\(log.summary)")
        #expect(log.handshakeEvents.get() == 1)
        #expect(log.handshake.get()?.protocolVersion == version)
        #expect(log.handshake.get()?.serverName == "localhost")
        #expect(log.errors.get().isEmpty, "\(log.errors.get())")
        #expect(log.discarded.get().isEmpty)
    }

    // MARK: Our client, a Python asyncio server with start_tls

    @Test(
        "N08 our NIOPosix SMTP client upgrades in place against a Python asyncio server using StreamWriter.start_tls",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func clientAgainstPythonStartTLSServer(version: ProtocolVersion) async throws {
        let files = try PEMFiles()
        let scratch = try TemporaryDirectory()
        let script = scratch.path("starttls_server.py")
        try Data(PythonStartTLSServer.script.utf8).write(to: URL(fileURLWithPath: script))
        let peer = try PeerProcess(
            try Peers.program(.python, server: true),
            [
                script, files.path("chain.pem"), files.path("server-key.pem"), version == .tls1_2 ? "1.2" : "1.3",
            ])
        defer { peer.stop() }
        guard let port = await offThePool({ peer.listeningPort(timeout: 10) }) else {
            Issue.record("the Python server did not listen: \(peer.stdoutText) \(peer.stderr.suffix(800))")
            return
        }
        let log = DialogueLog()
        let context = try NIOContexts.client()
        let client = try await ClientBootstrap(group: Sockets.group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPClientApplication(log: log) {
                            try OpenSSLClientHandler(context: context, serverHostname: "localhost", closeTimeout: .seconds(2))
                        })
                }
            }
            .connect(host: "127.0.0.1", port: Int(port)).get()
        try await log.waitUntilFinished()
        #expect(log.finished.get(), "client: \(log.summary); python said: \(peer.stdoutText) \(peer.stderr.suffix(800))")
        // The handshake result from async code: the future `addOpenSSLHandler` returned mid-connection.
        let handshake = try #require(log.handshakeFuture.get(), "TLS never started: \(log.summary)")
        let result = try await handshake.get()
        try? await client.close().get()
        let closed = await offThePool { peer.waitForText("CLOSED", timeout: 10) }

        #expect(
            log.plaintextLines.get() == [
                "220 python ESMTP", "250-python greets you", "250 STARTTLS",
                "220 2.0.0 Ready to start TLS",
            ], "\(log.summary)")
        let versionName = version == .tls1_2 ? "TLSv1.2" : "TLSv1.3"
        #expect(
            log.tlsLines.get() == ["250-python greets secure.test over \(versionName)", "250 AUTH PLAIN", "221 2.0.0 Bye"],
            "\(log.summary)")
        #expect(result.protocolVersion == version)
        #expect(result.verifiedChain?.count == 3)
        #expect(log.handshakeEvents.get() == 1)
        #expect(log.errors.get().isEmpty, "\(log.errors.get())")
        let pythonSaw = peer.stdoutText
        #expect(
            pythonSaw.contains(
                "PLAIN EHLO client.test\nPLAIN STARTTLS\nTLS \(versionName)\nSECURE EHLO secure.test\nSECURE QUIT"),
            "python said: \(pythonSaw) \(peer.stderr.suffix(800))")
        #expect(!pythonSaw.contains("ERROR"), "python said: \(pythonSaw)")
        #expect(closed)
    }
}
