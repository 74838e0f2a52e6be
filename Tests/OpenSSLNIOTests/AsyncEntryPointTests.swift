import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

/// The async/await entry points (AsyncChannel+OpenSSL.swift) over real
/// sockets on 127.0.0.1: `ServerBootstrap.bindOpenSSL`,
/// `ClientBootstrap.connectOpenSSL`, `NIOAsyncChannel.openSSLHandshakeResult()`
/// and the handshake deadline.
@Suite("OpenSSLNIO async/await entry points", .serialized, .timeLimit(.minutes(2)))
struct AsyncEntryPointTests {
    /// Serves each connection of `server` in a child task: echoes every
    /// buffer and records each child's handshake outcome, until the server closes.
    static func serveEcho(
        _ server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
        results: LockedBox<[Result<TLSHandshakeResult, any Error>]>
    ) async throws {
        try await server.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask {
                        do {
                            let result = try await connection.openSSLHandshakeResult()
                            results.mutate { $0.append(.success(result)) }
                            try await connection.executeThenClose { inbound, outbound in
                                for try await buffer in inbound { try await outbound.write(buffer) }
                            }
                        } catch {
                            results.mutate { $0.append(.failure(error)) }
                            try? await connection.channel.close()
                        }
                    }
                }
            }
        }
    }

    static func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test(
        "async: bindOpenSSL and connectOpenSSL give NIOAsyncChannels over TLS in one call; the handshake result is reachable from both, with the client certificate"
    )
    func serverAndClientInOneCall() async throws {
        let server = try await ServerBootstrap(group: Sockets.group)
            .bindOpenSSL(
                host: "127.0.0.1", port: 0, context: try NIOContexts.server(requireClientCertificate: true, alpn: ["echo/1"]))
        let port = try Sockets.port(of: server.channel)
        let results = LockedBox<[Result<TLSHandshakeResult, any Error>]>([])
        async let serving: Void = Self.serveEcho(server, results: results)

        let client = try await ClientBootstrap(group: Sockets.group)
            .connectOpenSSL(
                host: "127.0.0.1", port: port,
                context: try NIOContexts.client(withCertificate: true, alpn: ["echo/1"]),
                serverHostname: "localhost")
        // Returned after the handshake: the result is there at once.
        let clientResult = try await client.openSSLHandshakeResult()
        #expect(clientResult.alpnProtocol == "echo/1")
        #expect(clientResult.protocolVersion == .tls1_3)
        #expect(try clientResult.peerCertificate?.der == NIOContexts.pki.server.der)
        let echo = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "ping over TLS"))
            var received = ""
            for try await var buffer in inbound {
                received += buffer.readString(length: buffer.readableBytes) ?? ""
                if received.count >= 13 { break }
            }
            return received
        }
        #expect(echo == "ping over TLS")
        try await Self.waitFor { !results.get().isEmpty }
        server.channel.close(promise: nil)
        try await serving
        let serverResults = results.get()
        #expect(serverResults.count == 1)
        let serverResult = try #require(try serverResults.first?.get())
        #expect(try serverResult.peerCertificate?.der == NIOContexts.pki.client.der)
        #expect(serverResult.alpnProtocol == "echo/1")
        #expect(serverResult.verifiedChain?.count == 3)
    }

    @Test(
        "async: connectOpenSSL throws the handshake's error with OpenSSL's reason and closes the connection; the server child's result fails too"
    )
    func handshakeFailureThrows() async throws {
        let server = try await ServerBootstrap(group: Sockets.group)
            .bindOpenSSL(host: "127.0.0.1", port: 0, context: try NIOContexts.server())
        let port = try Sockets.port(of: server.channel)
        let results = LockedBox<[Result<TLSHandshakeResult, any Error>]>([])
        async let serving: Void = Self.serveEcho(server, results: results)

        let closedChannels = LockedBox<[Channel]>([])
        do {
            // The certificate is for localhost, not for this name.
            _ = try await ClientBootstrap(group: Sockets.group)
                .connectOpenSSL(
                    host: "127.0.0.1", port: port, context: try NIOContexts.client(),
                    serverHostname: "other.example",
                    configure: { channel in
                        closedChannels.mutate { $0.append(channel) }
                    })
            Issue.record("the handshake with the wrong host name succeeded")
        } catch let error as OpenSSLHandshakeError {
            guard case .failed(.ssl(let reason)) = error else {
                Issue.record("expected an SSL reason, got \(error)")
                return
            }
            #expect(reason.hasReason("certificate verify failed"))
        }
        let channel = try #require(closedChannels.get().first)
        try await channel.closeFuture.get()
        #expect(!channel.isActive)
        try await Self.waitFor { !results.get().isEmpty }
        server.channel.close(promise: nil)
        try await serving
        // The child's handshake failed: asked before or after its channel closed, the answer is a handshake error.
        #expect(results.get().count == 1)
        #expect(throws: OpenSSLHandshakeError.self) { try results.get().first?.get() }
    }

    @Test(
        "async: a handshake that never completes ends with OpenSSLHandshakeTimeoutError on the client and a closed connection on the server"
    )
    func handshakeDeadline() async throws {
        // A TCP server that accepts and says nothing.
        let silent = try await ServerBootstrap(group: Sockets.group)
            .bind(host: "127.0.0.1", port: 0).get()
        let started = ContinuousClock.now
        await #expect(throws: OpenSSLHandshakeTimeoutError(timeout: .milliseconds(300))) {
            _ = try await ClientBootstrap(group: Sockets.group)
                .connectOpenSSL(
                    host: "127.0.0.1", port: try Sockets.port(of: silent), context: try NIOContexts.client(),
                    serverHostname: "localhost", handshakeTimeout: .milliseconds(300))
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(300) && waited < .seconds(5), "waited \(waited)")
        try await silent.close().get()

        // A TLS server whose client never speaks: the child is closed after its deadline.
        let server = try await ServerBootstrap(group: Sockets.group)
            .bindOpenSSL(host: "127.0.0.1", port: 0, context: try NIOContexts.server(), handshakeTimeout: .milliseconds(300))
        let results = LockedBox<[Result<TLSHandshakeResult, any Error>]>([])
        async let serving: Void = Self.serveEcho(server, results: results)
        // Timed from before the connection: the server's deadline starts when it accepts.
        let muteStarted = ContinuousClock.now
        let mute = try await ClientBootstrap(group: Sockets.group)
            .connect(host: "127.0.0.1", port: try Sockets.port(of: server.channel)).get()
        try await mute.closeFuture.get()  // the server closed it
        let muteWaited = ContinuousClock.now - muteStarted
        #expect(muteWaited >= .milliseconds(250) && muteWaited < .seconds(5), "closed after \(muteWaited)")
        try await Self.waitFor { !results.get().isEmpty }
        server.channel.close(promise: nil)
        try await serving
        #expect(throws: (any Error).self) { try results.get().first?.get() }
    }

    /// Upper-cases ASCII letters of what it reads (a handler added by `configure`, after TLS).
    final class Uppercaser: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            let bytes = buffer.readableBytesView.map { (97...122).contains($0) ? $0 - 32 : $0 }
            context.fireChannelRead(wrapInboundOut(ByteBuffer(bytes: bytes)))
        }
    }

    @Test(
        "async: configure adds handlers after the TLS handler on both ends; the generic variants return the initializer's value after the handshake"
    )
    func configureAndGenericVariants() async throws {
        // Server: the generic variant, its initializer adding a handler after TLS.
        let server = try await ServerBootstrap(group: Sockets.group)
            .bindOpenSSL(
                host: "127.0.0.1", port: 0, context: try NIOContexts.server(),
                childChannelInitializer: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Uppercaser())
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                })
        let port = try Sockets.port(of: server.channel)
        let results = LockedBox<[Result<TLSHandshakeResult, any Error>]>([])
        async let serving: Void = Self.serveEcho(server, results: results)

        // Client: the convenience variant with configure; the server upper-cases, the client too.
        let client = try await ClientBootstrap(group: Sockets.group)
            .connectOpenSSL(
                host: "127.0.0.1", port: port, context: try NIOContexts.client(),
                serverHostname: "localhost",
                configure: { channel in
                    try channel.pipeline.syncOperations.addHandler(Uppercaser())
                })
        let echo = try await client.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "mixed Case"))
            for try await var buffer in inbound { return buffer.readString(length: buffer.readableBytes) ?? "" }
            return ""
        }
        #expect(echo == "MIXED CASE")

        // The generic client variant: whatever the initializer returns, once the handshake is done.
        let handshakeSeen = try await ClientBootstrap(group: Sockets.group)
            .connectOpenSSL(
                host: "127.0.0.1", port: port, context: try NIOContexts.client(),
                serverHostname: "localhost",
                channelInitializer: { channel in
                    channel.eventLoop.makeSucceededFuture(channel)
                })
        let result = try await handshakeSeen.openSSLHandshakeResult().get()
        #expect(result.protocolVersion == .tls1_3)
        try await handshakeSeen.close()

        try await Self.waitFor { results.get().count == 2 }
        server.channel.close(promise: nil)
        try await serving
        #expect(results.get().count == 2)
    }
}
