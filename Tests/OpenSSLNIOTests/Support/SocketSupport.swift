import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

/// Echoes what it reads; records the handshake result and errors; closes
/// after echoing `closeAfter` bytes when given.
final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let log: ServerLog
    let closeAfter: Int?
    private var echoed = 0

    init(log: ServerLog, closeAfter: Int?) {
        self.log = log
        self.closeAfter = closeAfter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        echoed += buffer.readableBytes
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        if let closeAfter, echoed >= closeAfter {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent,
            let handler = try? context.pipeline.syncOperations.openSSLHandler(), let result = handler.handshakeResult
        {
            log.results.mutate { $0.append(result) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        log.errors.mutate { $0.append("\(error)") }
        context.close(promise: nil)
    }
}

/// What the server side saw, across event-loop threads.
final class ServerLog: Sendable {
    let results = LockedBox<[TLSHandshakeResult]>([])
    let errors = LockedBox<[String]>([])
    /// Weak references to every TLS handler the server made (to check none outlives its channel).
    let handlers = LockedBox<[WeakHandler]>([])
    let accepted = LockedBox<Int>(0)
}

struct WeakHandler: @unchecked Sendable {  // only read (compared to nil) after the loops are idle
    weak var handler: AnyObject?
}

/// Collects what the client application receives until `expected` bytes have come.
final class Collector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let expected: Int
    let done: EventLoopPromise<[UInt8]>
    private var received: [UInt8] = []
    private var finished = false

    init(expected: Int, done: EventLoopPromise<[UInt8]>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        if received.count >= expected { finish(.success(received)) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.eof))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<[UInt8], any Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(result)
    }
}

enum Sockets {
    /// One group for the suite's socket tests (2 loops, like the benchmarks' real-socket runs).
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    /// A server on 127.0.0.1 (ephemeral port) with this library's handler and an echo.
    static func startServer(
        context: Context, log: ServerLog, closeAfter: Int? = nil,
        autoRead: Bool = true
    ) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: autoRead)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try OpenSSLServerHandler(context: context, closeTimeout: .seconds(2))
                    log.handlers.mutate { $0.append(WeakHandler(handler: handler)) }
                    log.accepted.mutate { $0 += 1 }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(log: log, closeAfter: closeAfter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// A server with swift-nio-ssl's handler and the same echo.
    static func startNIOSSLServer(context: NIOSSLContext, log: ServerLog, closeAfter: Int? = nil) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(log: log, closeAfter: closeAfter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    static func port(of channel: Channel) throws -> Int {
        guard let port = channel.localAddress?.port else { throw ChannelError.unknownLocalAddress }
        return port
    }

    /// Connects with this library's client handler; sends `payload` and returns the echo (bounded in time).
    static func exchange(
        port: Int, context: Context, payload: [UInt8],
        timeout: TimeAmount = .seconds(10)
    ) async throws -> (echo: [UInt8], result: TLSHandshakeResult) {
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: promise.futureResult.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try OpenSSLClientHandler(context: context, serverHostname: "localhost", closeTimeout: .seconds(2)))
                    try channel.pipeline.syncOperations.addHandler(Collector(expected: payload.count, done: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timer = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(ChannelError.connectTimeout(timeout)) }
        defer { timer.cancel() }
        channel.writeAndFlush(ByteBuffer(bytes: payload), promise: nil)
        do {
            let echo = try await promise.futureResult.get()
            let result = try await channel.openSSLHandshakeResult().get()
            try? await channel.close().get()
            return (echo, result)
        } catch {
            try? await channel.close().get()
            throw error
        }
    }

    /// Connects with swift-nio-ssl's client handler; sends `payload` and returns the echo.
    static func nioSSLExchange(port: Int, context: NIOSSLContext, payload: [UInt8]) async throws -> [UInt8] {
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: promise.futureResult.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(Collector(expected: payload.count, done: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timer = channel.eventLoop.scheduleTask(in: .seconds(10)) { promise.fail(ChannelError.connectTimeout(.seconds(10))) }
        defer { timer.cancel() }
        channel.writeAndFlush(ByteBuffer(bytes: payload), promise: nil)
        do {
            let echo = try await promise.futureResult.get()
            try? await channel.close().get()
            return echo
        } catch {
            try? await channel.close().get()
            throw error
        }
    }
}

// MARK: - Peer programs

enum PeerKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case openssl, python, gnutls
    var description: String { rawValue }
}

/// The test PKI as PEM files for peer programs.
final class PEMFiles: Sendable {
    let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory()
        try TestPKI.shared.writePEMFiles(to: directory.url)
    }

    func path(_ name: String) -> String { directory.path(name) }
}

enum Peers {
    static let openssl = "/usr/bin/openssl"
    static let pyPeer = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("InteropTests/Peers/py_peer.py").path

    static func program(_ kind: PeerKind, server: Bool) throws -> String {
        let found: String?
        switch kind {
        case .openssl: found = FileManager.default.isExecutableFile(atPath: openssl) ? openssl : nil
        case .python: found = locateProgram("python3", preferring: ["/usr/bin/python3"])
        case .gnutls: found = locateProgram(server ? "gnutls-serv" : "gnutls-cli")
        }
        guard let found else { throw PeerMissing(kind: kind) }
        return found
    }

    struct PeerMissing: Error, CustomStringConvertible {
        let kind: PeerKind
        var description: String { "\(kind) is not installed (Scripts/bootstrap.sh installs it)" }
    }

    struct PeerFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// An echo server on an ephemeral port; requires a client certificate when asked.
    static func startServer(_ kind: PeerKind, files: PEMFiles, requireClientCertificate: Bool) throws -> (PeerProcess, Int) {
        let peer: PeerProcess
        switch kind {
        case .openssl:
            var arguments = [
                "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                "-cert", files.path("server.pem"), "-key", files.path("server-key.pem"),
                "-cert_chain", files.path("intermediate.pem"),
            ]
            if requireClientCertificate {
                arguments += ["-Verify", "1", "-verify_return_error", "-CAfile", files.path("root.pem")]
            }
            arguments += ["-quiet", "-brief"]
            peer = try PeerProcess(try program(.openssl, server: true), arguments)
            peer.echoOutputToInput()
        case .python:
            var arguments = [pyPeer, "server", "--cert", files.path("chain.pem"), "--key", files.path("server-key.pem")]
            if requireClientCertificate { arguments += ["--require-client-cert", "--ca", files.path("root.pem")] }
            peer = try PeerProcess(try program(.python, server: true), arguments)
        case .gnutls:
            var arguments = ["-p", "0", "--x509certfile", files.path("chain.pem"), "--x509keyfile", files.path("server-key.pem")]
            arguments +=
                requireClientCertificate
                ? ["--require-client-cert", "--verify-client-cert", "--x509cafile", files.path("root.pem")]
                : ["--disable-client-cert"]
            arguments += ["--echo", "--crlf"]
            peer = try PeerProcess(try program(.gnutls, server: true), arguments)
        }
        guard let port = peer.listeningPort(timeout: 10) else {
            let output = peer.stdoutText + peer.stderr
            peer.stop()
            throw PeerFailed(description: "\(kind) did not start listening: \(output.suffix(600))")
        }
        return (peer, Int(port))
    }

    /// A client that connects to 127.0.0.1:`port`, verifies "localhost" against the test root,
    /// sends `payload` and prints what comes back; it stays until the server closes.
    static func startClient(
        _ kind: PeerKind, port: Int, files: PEMFiles, withCertificate: Bool,
        payload: [UInt8]
    ) throws -> PeerProcess {
        let peer: PeerProcess
        switch kind {
        case .openssl:
            var arguments = [
                "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", files.path("root.pem"),
                "-verify_return_error", "-brief", "-nocommands", "-ign_eof",
                "-servername", "localhost", "-verify_hostname", "localhost",
            ]
            if withCertificate {
                arguments += [
                    "-cert", files.path("client.pem"), "-key", files.path("client-key.pem"),
                    "-cert_chain", files.path("intermediate.pem"),
                ]
            }
            peer = try PeerProcess(try program(.openssl, server: false), arguments)
            peer.send(payload)
            peer.closeInput()
        case .python:
            var arguments = [
                pyPeer, "client", "--port", String(port), "--ca", files.path("root.pem"),
                "--send", String(payload.count), "--server-name", "localhost", "--then", "wait",
            ]
            if withCertificate { arguments += ["--cert", files.path("client-chain.pem"), "--key", files.path("client-key.pem")] }
            peer = try PeerProcess(try program(.python, server: false), arguments)
            peer.send(payload)
            peer.closeInput()
        case .gnutls:
            var arguments = [
                "-p", String(port), "127.0.0.1", "--x509cafile", files.path("root.pem"),
                "--sni-hostname", "localhost", "--verify-hostname", "localhost",
            ]
            if withCertificate {
                arguments += ["--x509certfile", files.path("client-chain.pem"), "--x509keyfile", files.path("client-key.pem")]
            }
            peer = try PeerProcess(try program(.gnutls, server: false), arguments)
            peer.send(payload)  // its input stays open: at end of input it would close first
        }
        return peer
    }
}
