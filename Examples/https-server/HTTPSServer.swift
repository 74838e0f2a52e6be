import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenSSL
import OpenSSLNIO

/// Where the server's identity and its clients come from (PEM files).
struct HTTPSServerConfiguration: Sendable {
    var host = "127.0.0.1"
    /// 0 lets the system choose (the bound port is `HTTPSServer.port`).
    var port = 8443
    /// The server's certificate followed by its intermediates.
    var certificateChainFile: String
    var privateKeyFile: String
    /// The CA(s) client certificates must chain to.
    var clientCAFile: String
    /// The known client certificates (the trust store's contents).
    var knownClientFiles: [String]
    /// How long the trust store takes to answer.
    var trustStoreDelay: Duration = .milliseconds(50)
}

/// A mutual-TLS HTTPS server on NIOHTTP1 and this library's server handler:
/// it answers 200, naming the client certificate's subject, to a client
/// the `ClientPolicy` accepts, and refuses everyone else.
struct HTTPSServer: Sendable {
    /// One accepted connection's HTTP parts, after a TLS handshake whose
    /// client the policy admitted.
    typealias HTTPConnection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    let listener: NIOAsyncChannel<HTTPConnection, Never>
    let policy: ClientPolicy
    /// The port the server listens on.
    let port: Int

    /// Loads the configuration's files and binds the server.
    /// - Throws: `OpenSSLError` for a file that cannot be read or parsed, or
    ///   a key that does not match the certificate; what binding throws.
    static func start(
        _ configuration: HTTPSServerConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> HTTPSServer {
        func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
        let chain = try X509.chain(pem: try read(configuration.certificateChainFile))
        guard let certificate = chain.first else {
            throw ConfigurationError(description: "\(configuration.certificateChainFile) holds no certificate")
        }
        let key = try PKey(privateKeyPEM: try read(configuration.privateKeyFile))
        let clientCAs = try X509.chain(pem: try read(configuration.clientCAFile))
        let known = try configuration.knownClientFiles.flatMap { try X509.chain(pem: try read($0)) }
        let context = try Context.mutualTLSServer(
            certificate: certificate, key: key, chain: Array(chain.dropFirst()),
            trusting: clientCAs)
        // Every connection is verified in full: no session is resumed past the trust store.
        try context.setSessionCacheMode(.off)
        _ = try context.setOptions(.noTicket)
        let policy = ClientPolicy(trustStore: try TrustStore(knowing: known, delay: configuration.trustStoreDelay))

        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try ClientCheck.makeHandler(context: context, policy: policy)
                    try channel.pipeline.syncOperations.addOpenSSLHandler(handler, handshakeTimeout: .seconds(10))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try HTTPConnection(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = listener.channel.localAddress?.port else {
            throw ConfigurationError(description: "the listening socket has no port")
        }
        return HTTPSServer(listener: listener, policy: policy, port: port)
    }

    /// Serves connections, each in its own task, until the listener is closed.
    func run() async throws {
        try await listener.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask {
                        await serve(connection)
                    }
                }
            }
        }
    }

    /// Stops listening (connections being served go on until they end).
    func close() async throws {
        try await listener.channel.close()
    }

    private func serve(_ connection: HTTPConnection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                // Completed only once the policy accepted the client (a refused
                // client's handshake fails, and this throws).
                let handshake = try await connection.channel.openSSLHandshakeResult().get()
                let subject = (try? handshake.peerCertificate?.subject.rfc2253String) ?? "(none)"
                var keepAlive = true
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        keepAlive = head.isKeepAlive
                    case .body:
                        break
                    case .end:
                        try await respond(
                            outbound, status: .ok, keepAlive: keepAlive,
                            body: "Hello, \(subject): your certificate is known.\n")
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            // A failed handshake or a broken connection: nothing to answer.
        }
    }

    private func respond(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: HTTPResponseStatus,
        keepAlive: Bool, body: String
    ) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        try await outbound.write(contentsOf: [
            .head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)),
            .body(.byteBuffer(ByteBuffer(string: body))),
            .end(nil),
        ])
    }

    struct ConfigurationError: Error, CustomStringConvertible {
        let description: String
    }
}

// MARK: - The client-certificate check

/// The one place where the client policy meets the TLS layer.
///
/// The trust store answers asynchronously, so the policy is the server
/// handler's asynchronous whole-chain hook: it runs in a task while the
/// event loop goes on, with OpenSSL's verdict in hand. OpenSSL 3.0 cannot
/// suspend a server's verification, so the handshake completes
/// provisionally and the handler holds everything back (the completion
/// event, the request, any answer, the session) until the policy decides.
/// A client the policy refuses gets a fatal alert and the connection
/// closes: the HTTP layer never sees it.
enum ClientCheck {
    /// One connection's TLS handler, asking `policy` about its client.
    /// - Throws: `OpenSSLError` when the connection cannot be made.
    static func makeHandler(context: Context, policy: ClientPolicy) throws -> OpenSSLServerHandler {
        try OpenSSLServerHandler(context: context, closeTimeout: .seconds(2), verification: policy.decide)
    }
}
