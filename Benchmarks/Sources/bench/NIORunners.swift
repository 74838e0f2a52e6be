import CBench
import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS

/// BENCH_GROUPS in swift-nio-ssl's terms (its TLS code points).
func nioCurves(_ groups: [String]) throws -> [NIOTLSCurve] {
    try groups.map { name in
        switch name.lowercased() {
        case "x25519": return .x25519
        case "x448": return .x448
        case "x25519mlkem768": return .x25519_MLKEM768
        case "p-256", "prime256v1", "secp256r1": return .secp256r1
        case "p-384", "secp384r1": return .secp384r1
        case "p-521", "secp521r1": return .secp521r1
        default: throw BenchError("BENCH_GROUPS: swift-nio-ssl has no group \(name)")
        }
    }
}

/// swift-nio-ssl's contexts, configured like the others where it can be:
/// on x86 with AES-NI BoringSSL picks AES-128-GCM by itself; its default
/// groups put X25519MLKEM768 first (swift-nio-ssl 2.37), as OpenSSL 3.5's
/// do and 3.0's cannot, so BENCH_GROUPS=X25519 is the like-for-like W1.
final class NIOEnvironment {
    let ecdsaServer: NIOSSLContext, rsaServer: NIOSSLContext, tls12Server: NIOSSLContext, mutualServer: NIOSSLContext
    let client: NIOSSLContext, mutualClient: NIOSSLContext

    init(_ pki: PKI) throws {
        let root = try NIOSSLCertificate(bytes: Array(pki.rootPEM.utf8), format: .pem)
        let ecdsa = try NIOSSLCertificate(bytes: Array(pki.ecdsaCertificatePEM.utf8), format: .pem)
        let ecdsaKey = try NIOSSLPrivateKey(bytes: Array(pki.ecdsaKeyPEM.utf8), format: .pem)
        let rsa = try NIOSSLCertificate(bytes: Array(pki.rsaCertificatePEM.utf8), format: .pem)
        let rsaKey = try NIOSSLPrivateKey(bytes: Array(pki.rsaKeyPEM.utf8), format: .pem)
        let clientCertificate = try NIOSSLCertificate(bytes: Array(pki.clientCertificatePEM.utf8), format: .pem)
        let clientKey = try NIOSSLPrivateKey(bytes: Array(pki.clientKeyPEM.utf8), format: .pem)

        let curves = try benchGroups.map(nioCurves)
        func context(_ configuration: TLSConfiguration) throws -> NIOSSLContext {
            var configuration = configuration
            if let curves { configuration.curves = curves }
            return try NIOSSLContext(configuration: configuration)
        }
        ecdsaServer = try context(
            .makeServerConfiguration(
                certificateChain: [.certificate(ecdsa)], privateKey: .privateKey(ecdsaKey)))
        rsaServer = try context(
            .makeServerConfiguration(
                certificateChain: [.certificate(rsa)], privateKey: .privateKey(rsaKey)))
        var tls12 = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(ecdsa)], privateKey: .privateKey(ecdsaKey))
        tls12.maximumTLSVersion = .tlsv12
        tls12.cipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256"
        tls12Server = try context(tls12)
        mutualServer = try context(
            .makeServerConfigurationWithMTLS(
                certificateChain: [.certificate(ecdsa)], privateKey: .privateKey(ecdsaKey), trustRoots: .certificates([root])))

        var clientConfiguration = TLSConfiguration.makeClientConfiguration()
        clientConfiguration.trustRoots = .certificates([root])
        client = try context(clientConfiguration)
        clientConfiguration.certificateChain = [.certificate(clientCertificate)]
        clientConfiguration.privateKey = .privateKey(clientKey)
        mutualClient = try context(clientConfiguration)
    }
}

/// W4's hook for swift-nio-ssl: it replaces BoringSSL's verification
/// (NIO has no "OpenSSL's verdict, then decide" hook), computes the leaf's
/// SHA-256 fingerprint as text, and accepts.
func nioFingerprintAndAccept(_ certificates: [NIOSSLCertificate], _ promise: EventLoopPromise<NIOSSLVerificationResult>) {
    guard let leaf = certificates.first, let der = try? leaf.toDERBytes() else {
        promise.succeed(.failed)
        return
    }
    var digest = [UInt8](repeating: 0, count: 32)
    der.withUnsafeBytes { input in
        digest.withUnsafeMutableBufferPointer { cb_sha256(input.baseAddress, input.count, $0.baseAddress) }
    }
    let text = digest.map { String($0, radix: 16, uppercase: true) }.joined(separator: ":")
    sink &+= text.utf8.count
    promise.succeed(.certificateVerified)
}

/// Counts completed handshakes (the event NIOSSLHandler sends up the pipeline).
final class HandshakeCounter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    var completed = 0
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { completed += 1 }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Two EmbeddedChannels on one loop, a TLS handler on each, bytes moved
/// between them (swift-nio-ssl's own BackToBackEmbeddedChannel). Used for
/// swift-nio-ssl's NIOSSLHandler here and this library's OpenSSLNIO
/// handlers (HandlerRunners.swift), so both are driven the same way.
final class EmbeddedPair {
    let loop: EmbeddedEventLoop
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let counter = HandshakeCounter()
    static let address = try! SocketAddress(ipAddress: "127.0.0.1", port: 4433)

    /// Adds the handlers, connects both channels and runs the handshake.
    init(
        client clientHandler: any ChannelHandler, server serverHandler: any ChannelHandler,
        loop: EmbeddedEventLoop = EmbeddedEventLoop(), name: String
    ) throws {
        self.loop = loop
        client = EmbeddedChannel(loop: loop)
        server = EmbeddedChannel(loop: loop)
        try client.pipeline.syncOperations.addHandler(clientHandler)
        try client.pipeline.syncOperations.addHandler(counter)
        try server.pipeline.syncOperations.addHandler(serverHandler)
        _ = client.connect(to: EmbeddedPair.address)
        _ = server.connect(to: EmbeddedPair.address)
        try interact()
        guard counter.completed == 1 else { throw BenchError("\(name) handshake did not complete") }
    }

    /// swift-nio-ssl's handlers.
    static func nioSSL(
        client: NIOSSLContext, server: NIOSSLContext, mutual: Bool = false,
        loop: EmbeddedEventLoop = EmbeddedEventLoop()
    ) throws -> EmbeddedPair {
        try EmbeddedPair(
            client: try NIOSSLClientHandler(context: client, serverHostname: "localhost"),
            server: mutual
                ? NIOSSLServerHandler(context: server, customVerificationCallback: nioFingerprintAndAccept)
                : NIOSSLServerHandler(context: server),
            loop: loop, name: "swift-nio-ssl")
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

    /// Sends `message` from `sender` (the client or the server) and returns
    /// how many plaintext bytes reached the other side.
    func send(_ message: ByteBuffer, from sender: EmbeddedChannel) throws -> Int {
        sender.writeAndFlush(message, promise: nil)
        try interact()
        let receiver = sender === client ? server : client
        var received = 0
        while let bytes = try receiver.readInbound(as: ByteBuffer.self) { received += bytes.readableBytes }
        return received
    }

    /// close_notify both ways, and the pipelines torn down.
    func close() throws {
        client.close(promise: nil)
        try interact()
        _ = try? client.finish()
        _ = try? server.finish()
    }
}

/// N1/W1 through a pair: a handshake and a close per operation (the close,
/// close_notify both ways, is part of it: EmbeddedChannel's pipeline is only
/// torn down by a close).
final class EmbeddedHandshakes: Runner {
    let makePair: () throws -> EmbeddedPair
    init(_ makePair: @escaping () throws -> EmbeddedPair) { self.makePair = makePair }

    func run(_ count: Int) throws {
        for _ in 0..<count { try makePair().close() }
    }
}

/// W2/N2 through a pair: 16 KiB from the client to the server per operation.
final class EmbeddedBulk: Runner {
    let pair: EmbeddedPair
    let payload: ByteBuffer
    init(_ pair: EmbeddedPair) {
        self.pair = pair
        var buffer = pair.client.allocator.buffer(capacity: 16_384)
        buffer.writeBytes((0..<16_384).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        payload = buffer
    }
    deinit { try? pair.close() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            let received = try pair.send(payload, from: pair.client)
            guard received == 16_384 else { throw BenchError("bulk through handlers: got \(received)") }
        }
    }
}

/// W3/N3 through a pair: a 64-byte request and a 64-byte response per operation.
final class EmbeddedRoundTrips: Runner {
    let pair: EmbeddedPair
    let message: ByteBuffer
    init(_ pair: EmbeddedPair) {
        self.pair = pair
        var buffer = pair.client.allocator.buffer(capacity: 64)
        buffer.writeBytes((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        message = buffer
    }
    deinit { try? pair.close() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            let received = try pair.send(message, from: pair.client) + pair.send(message, from: pair.server)
            guard received == 128 else { throw BenchError("round trip through handlers: got \(received)") }
        }
    }
}
