import NIOCore
import NIOEmbedded
import NIOTLS
import OpenSSL
import OpenSSLNIO

// N1-N3 (PERFORMANCE.md, "The NIO handler"): this library's OpenSSLNIO
// handlers on the same EmbeddedChannel pairs as swift-nio-ssl's
// NIOSSLHandler (NIORunners.swift), and the raw Connection pump
// (LibraryRunners.swift) the handlers are built on, so the handler's own
// cost shows.

/// Two EmbeddedChannels on one loop with the OpenSSLNIO handlers, bytes
/// moved between them exactly as `NIOPair` moves NIOSSLHandler's.
final class HandlerPair {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let counter = HandshakeCounter()

    init(client clientContext: Context, server serverContext: Context) throws {
        client = EmbeddedChannel(loop: loop)
        server = EmbeddedChannel(loop: loop)
        try client.pipeline.syncOperations.addHandler(
            try OpenSSLClientHandler(context: clientContext, serverHostname: "localhost"))
        try client.pipeline.syncOperations.addHandler(counter)
        try server.pipeline.syncOperations.addHandler(try OpenSSLServerHandler(context: serverContext))
        _ = client.connect(to: NIOPair.address)
        _ = server.connect(to: NIOPair.address)
        try interact()
        guard counter.completed == 1 else { throw BenchError("OpenSSLNIO handshake did not complete") }
    }

    func interact() throws {
        var work = true
        while work {
            work = false
            loop.run()
            if let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes)
                work = true
            }
            if let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                work = true
            }
        }
    }

    /// close_notify both ways, as NIOPair.close.
    func close() throws {
        client.close(promise: nil)
        try interact()
        _ = try? client.finish()
        _ = try? server.finish()
    }
}

final class HandlerHandshakes: Runner {
    let client: Context, server: Context
    init(client: Context, server: Context) { self.client = client; self.server = server }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            try HandlerPair(client: client, server: server).close()
        }
    }
}

final class HandlerBulk: Runner {
    let pair: HandlerPair
    let payload: ByteBuffer
    init(_ env: LibraryEnvironment) throws {
        pair = try HandlerPair(client: env.dataClient, server: env.dataServer)
        var buffer = pair.client.allocator.buffer(capacity: 16_384)
        buffer.writeBytes((0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        payload = buffer
    }
    deinit { try? pair.close() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            pair.client.writeAndFlush(payload, promise: nil)
            try pair.interact()
            var received = 0
            while let bytes = try pair.server.readInbound(as: ByteBuffer.self) { received += bytes.readableBytes }
            guard received == 16_384 else { throw BenchError("OpenSSLNIO bulk: got \(received)") }
        }
    }
}

final class HandlerRoundTrips: Runner {
    let pair: HandlerPair
    let message: ByteBuffer
    init(_ env: LibraryEnvironment) throws {
        pair = try HandlerPair(client: env.dataClient, server: env.dataServer)
        var buffer = pair.client.allocator.buffer(capacity: 64)
        buffer.writeBytes((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        message = buffer
    }
    deinit { try? pair.close() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            pair.client.writeAndFlush(message, promise: nil)
            try pair.interact()
            var received = 0
            while let bytes = try pair.server.readInbound(as: ByteBuffer.self) { received += bytes.readableBytes }
            pair.server.writeAndFlush(message, promise: nil)
            try pair.interact()
            while let bytes = try pair.client.readInbound(as: ByteBuffer.self) { received += bytes.readableBytes }
            guard received == 128 else { throw BenchError("OpenSSLNIO round trip: got \(received)") }
        }
    }
}

/// N1 for the raw pump: W1's handshake plus close_notify both ways, as the handlers do.
final class LibraryHandshakesWithClose: Runner {
    let client: Context, server: Context
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pumpBufferSize, alignment: 16)
    init(client: Context, server: Context) { self.client = client; self.server = server }
    deinit { buffer.deallocate() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            let clientConnection = try Connection(client)
            let serverConnection = try Connection(server)
            clientConnection.setConnectState()
            serverConnection.setAcceptState()
            try clientConnection.setServerName("localhost")
            try handshake(clientConnection, serverConnection, buffer)
            // The client's close_notify; the server reads it, answers; the client completes.
            _ = try clientConnection.shutdown()
            _ = try move(from: clientConnection, to: serverConnection, buffer)
            switch Result(catching: { () throws(SSLError) in try serverConnection.read(into: buffer) }) {
            case .failure(.zeroReturn): break
            default: throw BenchError("the server did not see close_notify")
            }
            guard try serverConnection.shutdown() else { throw BenchError("server shutdown incomplete") }
            _ = try move(from: serverConnection, to: clientConnection, buffer)
            guard try clientConnection.shutdown() else { throw BenchError("client shutdown incomplete") }
        }
    }
}
