import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

// MARK: - Contexts

/// Contexts on the shared TestPKI, for this library and for swift-nio-ssl.
enum NIOContexts {
    static var pki: TestPKI { TestPKI.shared }

    /// A server presenting `pki.server` with the intermediate; with `requireClientCertificate`,
    /// a server that requires a client certificate chaining to the test root.
    static func server(
        maximumVersion: ProtocolVersion? = nil, requireClientCertificate: Bool = false,
        alpn: [String]? = nil
    ) throws -> Context {
        let context =
            requireClientCertificate
            ? try Context.mutualTLSServer(
                certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate],
                trusting: [pki.root])
            : try Context.server(certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate])
        if let maximumVersion { try context.setMaximumProtocolVersion(maximumVersion) }
        if let alpn { try context.setALPNSelection(preferring: alpn) }
        return context
    }

    /// A client trusting only the test root and verifying host names; with a
    /// client certificate (and its intermediate) when asked.
    static func client(
        maximumVersion: ProtocolVersion? = nil, withCertificate: Bool = false,
        alpn: [String]? = nil
    ) throws -> Context {
        let context =
            withCertificate
            ? try Context.client(trusting: [pki.root], certificate: pki.client, key: pki.clientKey, chain: [pki.intermediate])
            : try Context.client(trusting: [pki.root])
        if let maximumVersion { try context.setMaximumProtocolVersion(maximumVersion) }
        if let alpn { try context.setALPNProtocols(alpn) }
        return context
    }

    static func nioCertificate(_ certificate: X509) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: certificate.der, format: .der)
    }

    /// swift-nio-ssl's server with the same identity.
    static func nioSSLServer(maximumVersion: TLSVersion? = nil, requireClientCertificate: Bool = false) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try nioCertificate(pki.server)), .certificate(try nioCertificate(pki.intermediate))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(try pki.serverKey.privateKeyPEM().utf8), format: .pem)))
        if let maximumVersion { configuration.maximumTLSVersion = maximumVersion }
        if requireClientCertificate {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates([try nioCertificate(pki.root)])
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// swift-nio-ssl's client trusting the test root (and presenting the client certificate when asked).
    static func nioSSLClient(maximumVersion: TLSVersion? = nil, withCertificate: Bool = false) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([try nioCertificate(pki.root)])
        if let maximumVersion { configuration.maximumTLSVersion = maximumVersion }
        if withCertificate {
            configuration.certificateChain = [
                .certificate(try nioCertificate(pki.client)),
                .certificate(try nioCertificate(pki.intermediate)),
            ]
            configuration.privateKey = .privateKey(
                try NIOSSLPrivateKey(bytes: Array(try pki.clientKey.privateKeyPEM().utf8), format: .pem))
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

// MARK: - What the application sees

/// The application end of a pipeline: records everything that reaches it
/// (and swallows errors, so EmbeddedChannel does not rethrow them).
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    var received: [UInt8] = []
    var reads = 0
    var readCompletes = 0
    var tlsEvents: [TLSUserEvent] = []
    var inputClosedEvents = 0
    var errors: [any Error] = []
    var isActive = false
    var becameInactive = false

    var text: String { String(decoding: received, as: UTF8.self) }

    func channelActive(context: ChannelHandlerContext) {
        isActive = true
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        becameInactive = true
        context.fireChannelInactive()
    }

    /// Where each read's bytes were (to see a buffer reused).
    var readAddresses: [Int] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        reads += 1
        readAddresses.append(buffer.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) })
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        readCompletes += 1
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent { tlsEvents.append(event) }
        if let event = event as? ChannelEvent, event == .inputClosed { inputClosedEvents += 1 }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        errors.append(error)
    }

    var handshakeCompletions: [String?] {
        tlsEvents.compactMap { if case .handshakeCompleted(let alpn) = $0 { return alpn } else { return nil } }
    }

    var shutdownCompletions: Int {
        tlsEvents.filter { $0 == .shutdownCompleted }.count
    }
}

// MARK: - Two EmbeddedChannels back to back

/// A client and a server pipeline on EmbeddedChannels, with the ciphertext
/// moved between them by `pump()`.
final class EmbeddedPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init(
        client clientHandler: any ChannelHandler, server serverHandler: any ChannelHandler,
        serverHalfClosure: Bool = false, clientHalfClosure: Bool = false
    ) throws {
        client = EmbeddedChannel()
        server = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandler(clientHandler)
        try client.pipeline.syncOperations.addHandler(clientRecorder)
        try server.pipeline.syncOperations.addHandler(serverHandler)
        try server.pipeline.syncOperations.addHandler(serverRecorder)
        if serverHalfClosure { try server.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).wait() }
        if clientHalfClosure { try client.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).wait() }
    }

    /// Makes both channels active (the handshake starts), server first.
    func activate() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves every outbound buffer of `from` into `to` (dropped when `to` is closed); true when any moved.
    @discardableResult
    static func move(from: EmbeddedChannel, to: EmbeddedChannel) throws -> Bool {
        var moved = false
        while let buffer = try from.readOutbound(as: ByteBuffer.self) {
            moved = true
            if to.isActive { try to.writeInbound(buffer) }
        }
        return moved
    }

    /// Moves ciphertext both ways until none is left.
    func pump() throws {
        for _ in 0..<1_000 {
            let forward = try Self.move(from: client, to: server)
            let backward = try Self.move(from: server, to: client)
            if !forward && !backward { return }
        }
        Issue.record("the pair kept talking for 1000 rounds")
    }

    /// Activates and pumps until both sides report the handshake done.
    func handshake() throws {
        try activate()
        try pump()
    }

    /// Every outbound buffer `channel` has written, concatenated (removed from it).
    static func drainOutbound(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        return bytes
    }

    /// Closes both sides (a TLS close waits for the peer's close_notify, or
    /// its timeout: time is advanced past it) and finishes the channels.
    func finish() {
        for channel in [client, server] where channel.isActive {
            channel.close(promise: nil)
            try? pump()
        }
        for channel in [client, server] { channel.embeddedEventLoop.advanceTime(by: .seconds(3_600)) }
        _ = try? client.finish(acceptAlreadyClosed: true)
        _ = try? server.finish(acceptAlreadyClosed: true)
    }
}

extension EmbeddedChannel {
    /// Writes `text` through the pipeline (and flushes), with a promise.
    func send(_ text: String) -> EventLoopFuture<Void> {
        writeAndFlush(ByteBuffer(string: text))
    }
}

// MARK: - Error matching

extension Error {
    /// The SSLError inside this error (itself, or the one an `OpenSSLHandshakeError` carries).
    var sslError: SSLError? {
        if let error = self as? SSLError { return error }
        if let error = self as? OpenSSLHandshakeError { return error.sslError }
        return nil
    }

    var isHandshakeFailure: Bool { self is OpenSSLHandshakeError }
}
