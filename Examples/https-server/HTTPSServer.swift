import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OpenSSL
import OpenSSLNIO
import Synchronization

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
    /// One accepted connection: its HTTP parts and what its TLS layer left to decide.
    struct HTTPConnection: Sendable {
        let channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
        let admission: Admission
    }

    let listener: NIOAsyncChannel<HTTPConnection, Never>
    let policy: ClientPolicy
    /// The port the server listens on.
    let port: Int

    /// Loads the configuration's files and binds the server.
    /// - Throws: `OpenSSLError` for a file that cannot be read or parsed, or
    ///   a key that does not match the certificate; what binding throws.
    static func start(_ configuration: HTTPSServerConfiguration,
                      group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> HTTPSServer {
        func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
        let chain = try X509.chain(pem: try read(configuration.certificateChainFile))
        guard let certificate = chain.first else {
            throw ConfigurationError(description: "\(configuration.certificateChainFile) holds no certificate")
        }
        let key = try PKey(privateKeyPEM: try read(configuration.privateKeyFile))
        let clientCAs = try X509.chain(pem: try read(configuration.clientCAFile))
        let known = try configuration.knownClientFiles.flatMap { try X509.chain(pem: try read($0)) }
        let context = try Context.mutualTLSServer(certificate: certificate, key: key, chain: Array(chain.dropFirst()),
                                                  trusting: clientCAs)
        // Every connection is verified in full: no session is resumed past the trust store.
        try context.setSessionCacheMode(.off)
        _ = try context.setOptions(.noTicket)
        let policy = ClientPolicy(trustStore: try TrustStore(knowing: known, delay: configuration.trustStoreDelay))

        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let (handler, admission) = try ClientCheck.makeHandler(context: context, policy: policy)
                    try channel.pipeline.syncOperations.addOpenSSLHandler(handler, handshakeTimeout: .seconds(10))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return HTTPConnection(
                        channel: try NIOAsyncChannel(wrappingChannelSynchronously: channel), admission: admission)
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
            try await connection.channel.executeThenClose { inbound, outbound in
                let handshake = try await connection.channel.channel.openSSLHandshakeResult().get()
                let admitted = try await connection.admission.isAdmitted(by: policy)
                let subject = (try? handshake.peerCertificate?.subject.rfc2253String) ?? "(none)"
                var keepAlive = true
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        keepAlive = head.isKeepAlive
                    case .body:
                        break
                    case .end:
                        if admitted {
                            try await respond(outbound, status: .ok, keepAlive: keepAlive,
                                              body: "Hello, \(subject): your certificate is known.\n")
                            if !keepAlive { return }
                        } else {
                            try await respond(outbound, status: .forbidden, keepAlive: false,
                                              body: "Refused: the client certificate \(subject) is not known.\n")
                            return
                        }
                    }
                }
            }
        } catch {
            // A failed handshake or a broken connection: nothing to answer.
        }
    }

    private func respond(_ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: HTTPResponseStatus,
                         keepAlive: Bool, body: String) async throws {
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

/// What the HTTP layer still has to find out about a connection's client
/// before it answers.
enum Admission: Sendable {
    /// The TLS handshake applied the policy itself: the client is admitted.
    case decidedDuringHandshake
    /// The TLS handshake took OpenSSL's verdict only; the policy runs on
    /// what that verification saw before the first answer.
    case afterHandshake(VerificationRecord)

    /// Whether the client may be answered (the policy's decision).
    func isAdmitted(by policy: ClientPolicy) async throws -> Bool {
        switch self {
        case .decidedDuringHandshake:
            return true
        case .afterHandshake(let record):
            guard let verification = record.verification else { return false }
            return try await policy.decide(verification) == .accept
        }
    }
}

/// The `PeerVerification` of one connection's handshake, kept for the
/// decision that follows it.
final class VerificationRecord: Sendable {
    private let stored = Mutex<PeerVerification?>(nil)

    var verification: PeerVerification? { stored.withLock { $0 } }

    func record(_ verification: PeerVerification) {
        stored.withLock { $0 = verification }
    }
}

/// The one place where the client policy meets the TLS layer.
///
/// The trust store answers asynchronously and the whole-chain hook used
/// here (`Connection.setPeerVerification`) is synchronous: it must not
/// wait on the event loop. So the hook records what OpenSSL verified and
/// refuses only what OpenSSL refused; the trust store is asked after the
/// handshake (`Admission.afterHandshake`), before any answer. A handler
/// with an asynchronous hook makes this function
/// `OpenSSLServerHandler(context:closeTimeout:verification: policy.decide)`
/// with `.decidedDuringHandshake`; nothing else changes.
enum ClientCheck {
    /// One connection's TLS handler, and what is left to decide after its handshake.
    /// - Throws: `OpenSSLError` when the connection cannot be made.
    static func makeHandler(context: Context, policy: ClientPolicy) throws -> (handler: OpenSSLServerHandler, admission: Admission) {
        let connection = try Connection(context)
        let record = VerificationRecord()
        connection.setPeerVerification { _, verification in
            record.record(verification)
            return verification.isAcceptedByPolicy ? .accept : .reject
        }
        return (try OpenSSLServerHandler(connection: connection, closeTimeout: .seconds(2)), .afterHandshake(record))
    }
}
