import COpenSSL
import Foundation
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing
@testable import OpenSSL
@testable import OpenSSLNIO
import TestSupport

/// The handlers' behaviour (NIO.md) over two EmbeddedChannels back to back:
/// deterministic, so every step can be checked in between.
@Suite("OpenSSLNIO handlers over EmbeddedChannel")
struct EmbeddedHandlerTests {
    struct Pair {
        let channels: EmbeddedPair
        let client: OpenSSLClientHandler
        let server: OpenSSLServerHandler
    }

    static func makePair(
        client clientContext: Context? = nil, server serverContext: Context? = nil,
        hostname: String? = "localhost", serverHalfClosure: Bool = false,
        clientCloseTimeout: TimeAmount = .seconds(5), clientHead: (any ChannelHandler)? = nil
    ) throws -> Pair {
        let client = try OpenSSLClientHandler(
            context: try clientContext ?? NIOContexts.client(), serverHostname: hostname,
            closeTimeout: clientCloseTimeout)
        let server = try OpenSSLServerHandler(context: try serverContext ?? NIOContexts.server())
        let channels = try EmbeddedPair(client: client, server: server, serverHalfClosure: serverHalfClosure)
        if let clientHead {
            try channels.client.pipeline.syncOperations.addHandler(clientHead, position: .first)
        }
        return Pair(channels: channels, client: client, server: server)
    }

    // MARK: N01

    @Test(
        "N01 a TLS 1.2 and a TLS 1.3 handshake complete and carry data both ways",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func handshakeAndDataBothWays(version: ProtocolVersion) throws {
        let pair = try Self.makePair(server: try NIOContexts.server(maximumVersion: version))
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        let (client, server) = (pair.channels.clientRecorder, pair.channels.serverRecorder)
        #expect(client.handshakeCompletions == [nil])
        #expect(server.handshakeCompletions == [nil])
        #expect(pair.client.handshakeResult?.protocolVersion == version)
        #expect(pair.server.handshakeResult?.protocolVersion == version)

        let ping = pair.channels.client.send("ping")
        try pair.channels.pump()
        #expect(server.text == "ping")
        #expect(throws: Never.self) { try ping.wait() }
        _ = pair.channels.server.send("pong")
        try pair.channels.pump()
        #expect(client.text == "pong")

        // 100 KiB in one write arrives whole and in order (many records, read in one channelRead).
        let bulk = (0..<102_400).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 7) }
        _ = pair.channels.server.writeAndFlush(ByteBuffer(bytes: bulk))
        try pair.channels.pump()
        #expect(client.received == Array("pong".utf8) + bulk)
        #expect(client.errors.isEmpty && server.errors.isEmpty, "\(client.errors) \(server.errors)")
        #expect(ERR_peek_error() == 0)
    }

    @Test("N01 plaintext goes up in the handler's own buffer, reused (not reallocated) once the application lets go of it")
    func plaintextBufferReused() throws {
        let pair = try Self.makePair()
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        for index in 0..<4 {
            _ = pair.channels.client.send("message \(index)")
            try pair.channels.pump()
        }
        let server = pair.channels.serverRecorder
        #expect(server.text == "message 0message 1message 2message 3")
        #expect(server.reads == 4)
        #expect(Set(server.readAddresses).count == 1, "\(server.readAddresses)")
    }

    @Test("N01 with release-buffers contexts the handlers keep no plaintext buffer between reads, and deliver the same bytes")
    func plaintextBufferReleasedWhenIdle() throws {
        let client = try NIOContexts.client()
        let server = try NIOContexts.server()
        for context in [client, server] { try context.setMode(.releaseBuffers) }
        let pair = try Self.makePair(client: client, server: server)
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        #expect(pair.client.heldPlaintextCapacity == 0 && pair.server.heldPlaintextCapacity == 0)
        for index in 0..<4 {
            _ = pair.channels.client.send("message \(index)")
            try pair.channels.pump()
            #expect(pair.server.heldPlaintextCapacity == 0, "idle again after read \(index)")
        }
        #expect(pair.channels.serverRecorder.text == "message 0message 1message 2message 3")
        #expect(pair.channels.serverRecorder.reads == 4)
        // The default keeps one buffer and reuses it (the test above).
        let kept = try Self.makePair()
        defer { kept.channels.finish() }
        try kept.channels.handshake()
        #expect(kept.server.heldPlaintextCapacity == OpenSSLHandler.recordPlaintextSize)
        // Neither a small message nor a full record makes it grow: no room is
        // made for another record when nothing is left to decrypt.
        _ = kept.channels.client.send("small")
        try kept.channels.pump()
        _ = kept.channels.client.send(String(repeating: "r", count: OpenSSLHandler.recordPlaintextSize))
        try kept.channels.pump()
        #expect(kept.channels.serverRecorder.received.count == 5 + OpenSSLHandler.recordPlaintextSize)
        #expect(kept.server.heldPlaintextCapacity == OpenSSLHandler.recordPlaintextSize)
    }

    @Test("N01 writes and flushes issued before the handshake arrive after it, in order, with their promises completed in order")
    func writesBeforeTheHandshake() throws {
        let pair = try Self.makePair()
        defer { pair.channels.finish() }
        let channel = pair.channels.client
        let order = LockedBox<[Int]>([])
        func track(_ future: EventLoopFuture<Void>, _ index: Int) {
            future.whenComplete { result in
                if case .success = result { order.mutate { $0.append(index) } }
            }
        }
        track(channel.write(ByteBuffer(string: "one ")), 1)
        track(channel.write(ByteBuffer()), 2)  // zero-length: keeps its place
        channel.flush()
        track(channel.write(ByteBuffer(string: "two ")), 3)
        track(channel.write(ByteBuffer(string: "three")), 4)
        channel.flush()
        track(channel.write(ByteBuffer(string: " four")), 5)  // written, not flushed
        #expect(order.get().isEmpty)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)

        try pair.channels.handshake()
        #expect(pair.channels.serverRecorder.text == "one two three")
        #expect(order.get() == [1, 2, 3, 4])

        channel.flush()
        try pair.channels.pump()
        #expect(pair.channels.serverRecorder.text == "one two three four")
        #expect(order.get() == [1, 2, 3, 4, 5])
    }

    @Test("N01 a handler added to an already active channel starts the handshake at once")
    func addedToActiveChannel() throws {
        let client = EmbeddedChannel()
        defer { _ = try? client.finish(acceptAlreadyClosed: true) }
        try client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        #expect(try client.readOutbound(as: ByteBuffer.self) == nil)
        try client.pipeline.syncOperations.addHandler(
            try OpenSSLClientHandler(
                context: try NIOContexts.client(),
                serverHostname: "localhost"))
        let hello = try EmbeddedPair.drainOutbound(client)
        // A TLS handshake record (22) carrying a ClientHello (1).
        #expect(hello.count > 9 && hello[0] == 22 && hello[5] == 1)
    }

    @Test("N01 the handshake result is a Sendable value with protocol, cipher, ALPN, peer chain and verified chain")
    func handshakeResultValue() throws {
        let pair = try Self.makePair(
            client: try NIOContexts.client(withCertificate: true, alpn: ["h2"]),
            server: try NIOContexts.server(requireClientCertificate: true, alpn: ["h2"]))
        defer { pair.channels.finish() }
        let clientFuture = pair.channels.client.openSSLHandshakeResult()
        let serverFuture = pair.channels.server.openSSLHandshakeResult()
        try pair.channels.handshake()
        let client = try clientFuture.wait()
        let server = try serverFuture.wait()
        let pki = NIOContexts.pki
        func der(_ certificates: [X509]?) throws -> [[UInt8]]? { try certificates?.map { try $0.der } }
        #expect(client.protocolVersion == .tls1_3)
        #expect(client.cipherName?.hasPrefix("TLS_") == true)
        #expect(client.alpnProtocol == "h2" && server.alpnProtocol == "h2")
        #expect(client.serverName == "localhost" && server.serverName == "localhost")
        #expect(try client.peerCertificate?.der == pki.server.der)
        #expect(try der(client.peerCertificateChain) == [pki.server.der, pki.intermediate.der])
        #expect(try der(client.verifiedChain) == [pki.server.der, pki.intermediate.der, pki.root.der])
        #expect(try server.peerCertificate?.der == pki.client.der)
        #expect(server.verifiedChain?.count == 3)
        #expect(!client.isSessionReused)
        // The same value after the fact, from the channel.
        #expect(try pair.channels.client.openSSLHandshakeResult().wait().cipherName == client.cipherName)
    }

    @Test("N01 a certificate for another host fails the client's handshake with OpenSSL's reason")
    func wrongHostFails() throws {
        let pair = try Self.makePair(hostname: "other.example")
        defer { pair.channels.finish() }
        let result = pair.channels.client.openSSLHandshakeResult()
        let asker = AskForHandshakeResultOnError()
        try pair.channels.client.pipeline.syncOperations.addHandler(asker, position: .after(pair.client))
        try pair.channels.handshake()
        let errors = pair.channels.clientRecorder.errors
        #expect(errors.count == 1)
        guard case .failed(.ssl(let reason))? = errors.first as? OpenSSLHandshakeError else {
            Issue.record("expected a handshake failure with an SSL reason, got \(errors)")
            return
        }
        #expect(reason.hasReason("certificate verify failed"))
        #expect(throws: OpenSSLHandshakeError.self) { try result.wait() }
        // Asked for after the failure (from errorCaught), it is the same failure.
        let late = try #require(asker.future)
        #expect(throws: OpenSSLHandshakeError.self) { try late.wait() }
        #expect(!pair.channels.client.isActive)
        #expect(pair.channels.clientRecorder.handshakeCompletions.isEmpty)
        // The server saw the client's alert.
        #expect(pair.channels.serverRecorder.errors.first?.isHandshakeFailure == true)
        #expect(ERR_peek_error() == 0)
    }

    // MARK: N02

    final class Marker: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
    }

    @Test(
        "N02 handshakeCompleted carries the ALPN protocol and NIO's ALPN handler configures the pipeline from it",
        arguments: [true, false])
    func alpnNegotiation(serverSpeaksALPN: Bool) throws {
        let pair = try Self.makePair(
            client: try NIOContexts.client(alpn: ["http/1.1", "h2"]),
            server: try NIOContexts.server(alpn: serverSpeaksALPN ? ["h2", "http/1.1"] : nil))
        defer { pair.channels.finish() }
        let results = LockedBox<[ALPNResult]>([])
        let negotiation = ApplicationProtocolNegotiationHandler { result, channel in
            results.mutate { $0.append(result) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Marker(), position: .last)
            }
        }
        // The negotiation handler takes the event; a recorder in front of it sees it first.
        let tap = Recorder()
        try pair.channels.client.pipeline.syncOperations.addHandler(tap, position: .after(pair.client))
        try pair.channels.client.pipeline.syncOperations.addHandler(negotiation, position: .after(tap))
        try pair.channels.handshake()
        let expected: String? = serverSpeaksALPN ? "h2" : nil
        #expect(tap.handshakeCompletions == [expected])
        #expect(results.get() == [serverSpeaksALPN ? .negotiated("h2") : .fallback])
        #expect(throws: Never.self) { try pair.channels.client.pipeline.syncOperations.handler(type: Marker.self) }
        // The negotiation handler removed itself once done.
        #expect(throws: (any Error).self) {
            try pair.channels.client.pipeline.syncOperations.handler(type: ApplicationProtocolNegotiationHandler.self)
        }
    }

    // MARK: N03

    @Test("N03 close: close_notify both ways, then shutdownCompleted on both sides and the close promise succeeds")
    func closeNotifyBothWays() throws {
        let pair = try Self.makePair()
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        let closed = pair.channels.client.close()
        #expect(pair.channels.client.isActive)  // waiting for the server's close_notify
        try pair.channels.pump()
        #expect(throws: Never.self) { try closed.wait() }
        let (client, server) = (pair.channels.clientRecorder, pair.channels.serverRecorder)
        #expect(client.shutdownCompletions == 1)
        #expect(server.shutdownCompletions == 1)
        #expect(!pair.channels.client.isActive && !pair.channels.server.isActive)
        #expect(client.errors.isEmpty && server.errors.isEmpty, "\(client.errors) \(server.errors)")
        #expect(pair.client.connection.shutdownState == [.sent, .received])
        #expect(pair.server.connection.shutdownState == [.sent, .received])
    }

    @Test("N03 a peer that never answers close_notify is closed after the timeout")
    func closeTimesOut() throws {
        let pair = try Self.makePair(clientCloseTimeout: .seconds(3))
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        let closed = pair.channels.client.close()
        // The server never sees it: nothing is pumped.
        let closeNotify = try EmbeddedPair.drainOutbound(pair.channels.client)
        #expect(!closeNotify.isEmpty)
        pair.channels.client.embeddedEventLoop.advanceTime(by: .milliseconds(2_900))
        #expect(pair.channels.client.isActive)
        pair.channels.client.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(!pair.channels.client.isActive)
        #expect(throws: Never.self) { try closed.wait() }
        #expect(pair.channels.clientRecorder.shutdownCompletions == 0)
        #expect(pair.channels.clientRecorder.errors.isEmpty)
        // A write after the close fails; it never reaches OpenSSL.
        #expect(throws: ChannelError.self) { try pair.channels.client.send("late").wait() }
    }

    @Test(
        "N03 end of stream without close_notify is an unclean-shutdown error, not a handshake failure",
        arguments: [false, true])
    func uncleanShutdown(halfClosure: Bool) throws {
        let pair = try Self.makePair(serverHalfClosure: halfClosure)
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        _ = pair.channels.client.send("last words")
        try pair.channels.pump()
        // The TCP stream ends under the server: with half-closure an inputClosed event, else inactive.
        if halfClosure {
            pair.channels.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        } else {
            pair.channels.server.pipeline.fireChannelInactive()
        }
        let server = pair.channels.serverRecorder
        #expect(server.text == "last words")
        #expect(server.errors.count == 1)
        #expect(server.errors.first?.sslError?.isUnexpectedEOF == true, "\(server.errors)")
        #expect(server.errors.first?.isHandshakeFailure == false)
        #expect(server.inputClosedEvents == (halfClosure ? 1 : 0))
        #expect(server.shutdownCompletions == 0)
        if halfClosure {
            // The server may still write; its close then sends close_notify and closes at once:
            // no answer can come on a stream that has ended.
            _ = pair.channels.server.send("still here")
            let closed = pair.channels.server.close()
            #expect(!pair.channels.server.isActive)
            #expect(throws: Never.self) { try closed.wait() }
            try pair.channels.pump()
            #expect(pair.channels.clientRecorder.text == "still here")
        }
        #expect(ERR_peek_error() == 0)
    }

    @Test(
        "N03 end of stream during the handshake is a handshake failure",
        arguments: [EmbeddedHandlerTests.Side.server, .client])
    func endOfStreamMidHandshake(side: Side) throws {
        let pair = try Self.makePair()
        defer { pair.channels.finish() }
        try pair.channels.activate()
        let result = pair.channels.server.openSSLHandshakeResult()
        let clientResult = pair.channels.client.openSSLHandshakeResult()
        try EmbeddedPair.move(from: pair.channels.client, to: pair.channels.server)  // ClientHello
        if side == .server {
            pair.channels.server.pipeline.fireChannelInactive()
        } else {
            // The server's flight is lost; the client's stream ends.
            #expect(try !EmbeddedPair.drainOutbound(pair.channels.server).isEmpty)
            pair.channels.client.pipeline.fireChannelInactive()
        }
        let recorder = side == .server ? pair.channels.serverRecorder : pair.channels.clientRecorder
        #expect(recorder.errors.count == 1)
        guard case .failed(let reason)? = recorder.errors.first as? OpenSSLHandshakeError else {
            Issue.record("expected OpenSSLHandshakeError.failed, got \(recorder.errors)")
            return
        }
        #expect(reason.isUnexpectedEOF)
        #expect(recorder.handshakeCompletions.isEmpty)
        #expect(throws: OpenSSLHandshakeError.self) { try (side == .server ? result : clientResult).wait() }
        #expect(ERR_peek_error() == 0)
    }

    enum Side: Sendable { case client, server }

    /// Takes `close(mode: .output)` where a TCP socket would (EmbeddedChannel can only close fully).
    final class HalfCloseCatcher: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var outputClosed = false

        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            if mode == .output {
                outputClosed = true
                promise?.succeed(())
            } else {
                context.close(mode: mode, promise: promise)
            }
        }
    }

    @Test("N03 half-closure: close(.output) sends close_notify; the peer gets inputClosed and can still answer")
    func halfClosure() throws {
        let catcher = HalfCloseCatcher()
        let pair = try Self.makePair(serverHalfClosure: true, clientHead: catcher)
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        _ = pair.channels.client.send("request")
        let halfClosed = pair.channels.client.close(mode: .output)
        #expect(throws: Never.self) { try halfClosed.wait() }
        #expect(catcher.outputClosed)
        // Writing after close(.output) fails.
        #expect(throws: ChannelError.self) { try pair.channels.client.send("too late").wait() }
        try pair.channels.pump()
        let (client, server) = (pair.channels.clientRecorder, pair.channels.serverRecorder)
        #expect(server.text == "request")
        #expect(server.inputClosedEvents == 1)
        #expect(pair.channels.server.isActive)
        #expect(server.shutdownCompletions == 0)

        // The server answers on its open half, then closes: both alerts have gone, on both sides.
        _ = pair.channels.server.send("response")
        try pair.channels.pump()
        #expect(client.text == "response")
        let serverClosed = pair.channels.server.close()
        try pair.channels.pump()
        #expect(throws: Never.self) { try serverClosed.wait() }
        #expect(server.shutdownCompletions == 1)
        #expect(client.shutdownCompletions == 1)
        #expect(!pair.channels.client.isActive && !pair.channels.server.isActive)
        #expect(client.errors.isEmpty && server.errors.isEmpty, "\(client.errors) \(server.errors)")
    }

    @Test("N03 without half-closure a peer's close_notify is answered and the channel closed cleanly")
    func peerCloseNotifyWithoutHalfClosure() throws {
        let pair = try Self.makePair(clientHead: HalfCloseCatcher())
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        _ = pair.channels.client.close(mode: .output)
        try pair.channels.pump()
        let (client, server) = (pair.channels.clientRecorder, pair.channels.serverRecorder)
        #expect(server.inputClosedEvents == 0)
        #expect(server.shutdownCompletions == 1)
        #expect(client.shutdownCompletions == 1)
        #expect(!pair.channels.server.isActive)
        #expect(client.errors.isEmpty && server.errors.isEmpty, "\(client.errors) \(server.errors)")
    }

    // MARK: N09

    @Test("N09 garbage instead of a ClientHello fails the handshake with OpenSSL's reason, sends an alert and closes")
    func garbage() throws {
        let server = EmbeddedChannel()
        defer { _ = try? server.finish(acceptAlreadyClosed: true) }
        let recorder = Recorder()
        try server.pipeline.syncOperations.addHandler(try OpenSSLServerHandler(context: try NIOContexts.server()))
        try server.pipeline.syncOperations.addHandler(recorder)
        try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        #expect(recorder.errors.count == 1)
        guard case .failed(.ssl(let reason))? = recorder.errors.first as? OpenSSLHandshakeError else {
            Issue.record("expected a handshake failure with OpenSSL's reason, got \(recorder.errors)")
            return
        }
        #expect(reason.reason != nil)
        #expect(!server.isActive)
        #expect(ERR_peek_error() == 0)
    }

    @Test("N09 a ClientHello cut at every byte waits for more, then fails as a handshake failure at end of stream; nothing leaks")
    func truncatedClientHello() throws {
        // A real ClientHello from the client handler.
        let client = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(
            try OpenSSLClientHandler(
                context: try NIOContexts.client(),
                serverHostname: "localhost"))
        try client.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        let hello = try EmbeddedPair.drainOutbound(client)
        _ = try? client.finish(acceptAlreadyClosed: true)
        #expect(hello.count > 100)
        let context = try NIOContexts.server()
        var survivors: [() -> AnyObject?] = []
        for cut in 1..<hello.count {
            let server = EmbeddedChannel()
            let recorder = Recorder()
            let handler = try OpenSSLServerHandler(context: context)
            survivors.append { [weak handler] in handler }
            try server.pipeline.syncOperations.addHandler(handler)
            try server.pipeline.syncOperations.addHandler(recorder)
            try server.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
            try server.writeInbound(ByteBuffer(bytes: hello[..<cut]))
            #expect(recorder.errors.isEmpty, "cut at \(cut): \(recorder.errors)")
            #expect(server.isActive)
            server.pipeline.fireChannelInactive()
            #expect(
                recorder.errors.count == 1 && recorder.errors.first?.isHandshakeFailure == true,
                "cut at \(cut): \(recorder.errors)")
            _ = try? server.finish(acceptAlreadyClosed: true)
        }
        #expect(survivors.allSatisfy { $0() == nil }, "handlers outlived their channels")
        #expect(ERR_peek_error() == 0)
    }

    @Test("N09 an oversized record after the handshake is a TLS error: alert, errorCaught, close")
    func oversizedRecord() throws {
        let pair = try Self.makePair()
        defer { pair.channels.finish() }
        try pair.channels.handshake()
        // Application data (23), TLS 1.2 on the wire, length 18,433: more than any record may carry.
        let length = 16_384 + 2_048 + 1
        var record: [UInt8] = [23, 3, 3, UInt8(length >> 8), UInt8(length & 0xFF)]
        record += [UInt8](repeating: 0x41, count: length)
        try pair.channels.server.writeInbound(ByteBuffer(bytes: record))
        let server = pair.channels.serverRecorder
        #expect(server.errors.count == 1)
        guard case .ssl(let reason)? = server.errors.first as? SSLError else {
            Issue.record("expected SSLError.ssl, got \(server.errors)")
            return
        }
        #expect(reason.reason != nil)
        #expect(!pair.channels.server.isActive)
        // The alert reaches the client, which reports it.
        try EmbeddedPair.move(from: pair.channels.server, to: pair.channels.client)
        #expect(pair.channels.clientRecorder.errors.first?.sslError != nil)
        #expect(ERR_peek_error() == 0)
    }
}

/// Asks for the handshake's outcome when an error comes up the pipeline.
final class AskForHandshakeResultOnError: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var future: EventLoopFuture<TLSHandshakeResult>?

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if future == nil { future = context.channel.openSSLHandshakeResult() }
        context.fireErrorCaught(error)
    }
}
