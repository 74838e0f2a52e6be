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

extension EmbeddedPair {
    /// This library's OpenSSLNIO handlers, driven exactly as swift-nio-ssl's.
    static func openSSLNIO(
        client: Context, server: Context,
        loop: EmbeddedEventLoop = EmbeddedEventLoop()
    ) throws -> EmbeddedPair {
        try EmbeddedPair(
            client: try OpenSSLClientHandler(context: client, serverHostname: "localhost"),
            server: try OpenSSLServerHandler(context: server), loop: loop, name: "OpenSSLNIO")
    }
}

/// N1 for the raw pump: W1's handshake plus close_notify both ways, as the handlers do.
final class LibraryHandshakesWithClose: Runner {
    let client: Context, server: Context
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pumpBufferSize, alignment: 16)
    init(client: Context, server: Context) {
        self.client = client
        self.server = server
    }
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
