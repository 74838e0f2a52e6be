import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import OpenSSL
import OpenSSLNIO

/// A Hummingbird child channel that puts swift-openssl's
/// `OpenSSLServerHandler` in front of a base child channel (HTTP/1 here),
/// where HummingbirdTLS's `TLSChannel` puts `NIOSSLServerHandler`.
struct OpenSSLChannel<BaseChannel: ServerChildChannel>: ServerChildChannel {
    typealias Value = BaseChannel.Value

    let baseChannel: BaseChannel
    /// The server context every connection's handler is made from (shared, frozen on first use).
    let context: Context
    /// A connection whose handshake takes longer is closed.
    let handshakeTimeout: TimeAmount

    init(_ baseChannel: BaseChannel, context: Context, handshakeTimeout: TimeAmount = .seconds(10)) {
        self.baseChannel = baseChannel
        self.context = context
        self.handshakeTimeout = handshakeTimeout
    }

    /// Adds the TLS handler, then lets the base channel add its own handlers after it.
    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addOpenSSLHandler(
                try OpenSSLServerHandler(context: context), handshakeTimeout: handshakeTimeout)
        }.flatMap { _ in
            baseChannel.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: BaseChannel.Value, logger: Logger) async {
        await baseChannel.handle(value: value, logger: logger)
    }
}

extension OpenSSLChannel: HTTPChannelHandler where BaseChannel: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { baseChannel.responder }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS on the system's OpenSSL:
    /// `Application(router: router, server: .openSSLHTTP1(context: context))`.
    static func openSSLHTTP1(context: Context, configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            OpenSSLChannel(HTTP1Channel(responder: responder, configuration: configuration), context: context)
        }
    }
}

/// A request context that keeps the connection's channel, so a route can
/// read what the TLS handshake negotiated.
struct TLSRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
