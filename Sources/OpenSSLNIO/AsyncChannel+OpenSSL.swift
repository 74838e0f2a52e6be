import NIOCore
import NIOPosix
import OpenSSL

// The async/await entry points (Docs/nio.md, "async/await"): a
// `NIOAsyncChannel` server or client on TLS in one call, the handshake's
// outcome as an async value, and a handshake deadline for pipelines built by
// hand (a framework's child channel).

/// The TLS handshake did not complete within the time allowed; the channel
/// has been closed.
public struct OpenSSLHandshakeTimeoutError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The time the handshake was given.
    public let timeout: TimeAmount

    /// Makes the error (the entry points make it; public for tests of callers).
    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public var description: String {
        "TLS handshake did not complete within \(timeout.nanoseconds / 1_000_000) ms; the channel was closed"
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds `handler` (an `OpenSSLClientHandler` or `OpenSSLServerHandler`)
    /// at `position` (the end of the pipeline by default), on the event
    /// loop, and returns the handshake's outcome. With a `handshakeTimeout`,
    /// a handshake that has not completed that long after this call closes
    /// the channel.
    ///
    /// This is the step every entry point below takes; call it yourself when
    /// a framework builds the pipeline (a Hummingbird `ServerChildChannel`,
    /// a `childChannelInitializer`), then add the application's handlers.
    ///
    /// STARTTLS: on an active channel the handshake starts at once (a
    /// client's ClientHello is written during this call). An application
    /// handler that has agreed to start TLS (sent or received SMTP's
    /// "220 Ready to start TLS") writes *and flushes* its last plaintext,
    /// then adds the handler in front of itself with `position: .first`
    /// (below any framing handlers), from its own `channelRead`, so no byte
    /// read later reaches it unencrypted. Bytes it has already read past the
    /// STARTTLS line are not TLS-protected: discard them (RFC 3207, section 5).
    ///
    /// The returned future succeeds with the `TLSHandshakeResult` when the
    /// handshake completes, and fails with `OpenSSLHandshakeTimeoutError`
    /// when the deadline passed first, `OpenSSLHandshakeError.failed(_:)`
    /// with OpenSSL's reason when the handshake failed, or
    /// `OpenSSLHandshakeError.channelClosed` when the channel closed first.
    /// - Throws: what `addHandler` throws (`ChannelError.ioOnClosedChannel`
    ///   on a closed channel, for instance); `ChannelPipelineError.notFound`
    ///   if the handler did not join the pipeline.
    @discardableResult
    public func addOpenSSLHandler(
        _ handler: OpenSSLHandler, position: ChannelPipeline.SynchronousOperations.Position = .last,
        handshakeTimeout: TimeAmount? = nil
    ) throws -> EventLoopFuture<TLSHandshakeResult> {
        try addHandler(handler, position: position)
        // `handlerAdded` made the future; nil would mean the handler never joined the pipeline.
        guard let handshake = handler.handshakeFuture else { throw ChannelPipelineError.notFound }
        // A handler already gone (its first step failed and closed the channel) has its outcome.
        guard let handshakeTimeout, let channel = try? context(handler: handler).channel else { return handshake }
        let outcome = channel.eventLoop.makePromise(of: TLSHandshakeResult.self)
        let deadline = channel.eventLoop.scheduleTask(in: handshakeTimeout) {
            // Failed first, so the close's own handshake failure (`channelClosed`) is not the answer.
            outcome.fail(OpenSSLHandshakeTimeoutError(timeout: handshakeTimeout))
            channel.close(promise: nil)
        }
        handshake.whenComplete { result in
            deadline.cancel()
            // A no-op when the deadline has already failed the promise.
            outcome.completeWith(result)
        }
        return outcome.futureResult
    }
}

extension NIOAsyncChannel {
    /// Waits for the TLS handshake of this channel's `OpenSSLHandler` and
    /// returns what it negotiated (at once when it has completed).
    ///
    /// The outcome lives in the handler, which leaves the pipeline when the
    /// channel closes: ask while the channel is open. A connection that
    /// closed first (a server's child whose handshake failed at once, say)
    /// answers `OpenSSLHandshakeError.channelClosed`; its `inbound` still
    /// throws the handshake's own error.
    ///
    /// - Throws: `OpenSSLHandshakeError` when the handshake failed (`.failed`
    ///   with OpenSSL's reason) or the channel closed first (`.channelClosed`);
    ///   `ChannelPipelineError.notFound` when an open channel has no such handler.
    public func openSSLHandshakeResult() async throws -> TLSHandshakeResult {
        do {
            return try await channel.openSSLHandshakeResult().get()
        } catch let error as ChannelPipelineError where error == .notFound && !channel.isActive {
            throw OpenSSLHandshakeError.channelClosed
        }
    }
}

// MARK: - Servers

extension ServerBootstrap {
    /// Binds a TLS server to `host`:`port` whose every connection is a
    /// `NIOAsyncChannel` of plaintext `ByteBuffer`s over an
    /// `OpenSSLServerHandler` made from `context`.
    ///
    /// Each accepted connection gets the handler first, then whatever
    /// `configure` adds after it (on the event loop, e.g. a frame decoder
    /// whose output is still `ByteBuffer`), then the async channel's own
    /// handlers. The connections come out of the returned channel's
    /// `inbound` as soon as they are accepted, before their handshake: await
    /// `openSSLHandshakeResult()` on one to wait for it; its `inbound`
    /// throws `OpenSSLHandshakeError` when the handshake fails, and writes
    /// made before the handshake completes go out after it.
    ///
    /// ```swift
    /// let server = try await ServerBootstrap(group: .singletonMultiThreadedEventLoopGroup)
    ///     .bindOpenSSL(host: "127.0.0.1", port: 8443, context: context)
    /// try await server.executeThenClose { connections in
    ///     for try await connection in connections {
    ///         Task { try await connection.executeThenClose { inbound, outbound in … } }
    ///     }
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - host: the address to bind to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port (0: one the system picks).
    ///   - context: the server `Context` every connection's handler is made from.
    ///   - closeTimeout: how long a connection's `close()` waits for the client's close_notify.
    ///   - handshakeTimeout: a connection whose handshake has not completed
    ///     this long after it was accepted is closed; nil waits forever.
    ///   - childChannelConfiguration: the back pressure and half-closure of each connection's async channel.
    ///   - configure: adds handlers after the TLS handler (on the event loop).
    /// - Throws: what binding throws (the address does not resolve, the port is taken).
    ///   An error while setting up one connection (`configure` threw, or
    ///   its handler could not be made: `OpenSSLError`) closes that
    ///   connection and, as NIO's async `bind` does for any failed child
    ///   initializer, ends the returned channel's `inbound` with that error.
    public func bindOpenSSL(
        host: String,
        port: Int,
        context: Context,
        closeTimeout: TimeAmount = .seconds(5),
        handshakeTimeout: TimeAmount? = .seconds(30),
        childChannelConfiguration: NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration = .init(),
        configure: (@Sendable (Channel) throws -> Void)? = nil
    ) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        try await bindOpenSSL(
            host: host, port: port, handshakeTimeout: handshakeTimeout,
            makeHandler: { try OpenSSLServerHandler(context: context, closeTimeout: closeTimeout) }
        ) { channel in
            channel.eventLoop.makeCompletedFuture {
                try configure?(channel)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel, configuration: childChannelConfiguration)
            }
        }
    }

    /// Binds a TLS server to `host`:`port` whose every connection gets an
    /// `OpenSSLServerHandler` made from `context` and then whatever
    /// `childChannelInitializer` adds after it (an HTTP codec and a
    /// `NIOAsyncChannel` of its parts, say); the initializer's result is
    /// what comes out of the returned channel's `inbound` for that connection.
    ///
    /// - Parameters:
    ///   - host: the address to bind to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port (0: one the system picks).
    ///   - context: the server `Context` every connection's handler is made from.
    ///   - closeTimeout: how long a connection's `close()` waits for the client's close_notify.
    ///   - handshakeTimeout: a connection whose handshake has not completed
    ///     this long after it was accepted is closed; nil waits forever.
    ///   - serverBackPressureStrategy: the back pressure of the accepted connections' sequence.
    ///   - childChannelInitializer: runs on the connection's event loop after the TLS handler is added.
    /// - Throws: what binding throws (the address does not resolve, the port is taken).
    public func bindOpenSSL<Output: Sendable>(
        host: String,
        port: Int,
        context: Context,
        closeTimeout: TimeAmount = .seconds(5),
        handshakeTimeout: TimeAmount? = .seconds(30),
        serverBackPressureStrategy: NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark? = nil,
        childChannelInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Output>
    ) async throws -> NIOAsyncChannel<Output, Never> {
        try await bindOpenSSL(
            host: host, port: port, handshakeTimeout: handshakeTimeout,
            serverBackPressureStrategy: serverBackPressureStrategy,
            makeHandler: { try OpenSSLServerHandler(context: context, closeTimeout: closeTimeout) },
            childChannelInitializer: childChannelInitializer)
    }

    /// Binds a TLS server to `host`:`port` whose every connection gets the
    /// handler `makeHandler` returns (called once per connection, on its
    /// event loop: a handler over a `Connection` you configured, or one with
    /// options the `context:` variants do not take), then whatever
    /// `childChannelInitializer` adds after it.
    ///
    /// - Parameters:
    ///   - host: the address to bind to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port (0: one the system picks).
    ///   - handshakeTimeout: a connection whose handshake has not completed
    ///     this long after it was accepted is closed; nil waits forever.
    ///   - serverBackPressureStrategy: the back pressure of the accepted connections' sequence.
    ///   - makeHandler: makes one connection's TLS handler. An error it throws
    ///     (or the initializer fails with) closes that connection and, as
    ///     with NIO's async `bind`, ends the returned channel's `inbound` with that error.
    ///   - childChannelInitializer: runs on the connection's event loop after the TLS handler is added.
    /// - Throws: what binding throws (the address does not resolve, the port is taken).
    public func bindOpenSSL<Output: Sendable>(
        host: String,
        port: Int,
        handshakeTimeout: TimeAmount? = .seconds(30),
        serverBackPressureStrategy: NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark? = nil,
        makeHandler: @escaping @Sendable () throws -> OpenSSLServerHandler,
        childChannelInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Output>
    ) async throws -> NIOAsyncChannel<Output, Never> {
        try await bind(host: host, port: port, serverBackPressureStrategy: serverBackPressureStrategy) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addOpenSSLHandler(try makeHandler(), handshakeTimeout: handshakeTimeout)
            }.flatMap { _ in
                childChannelInitializer(channel)
            }
        }
    }
}

// MARK: - Clients

extension ClientBootstrap {
    /// Connects to `host`:`port`, runs the TLS handshake with an
    /// `OpenSSLClientHandler` made from `context`, and returns the
    /// connection as a `NIOAsyncChannel` of plaintext `ByteBuffer`s once the
    /// handshake has completed (its `openSSLHandshakeResult()` answers at once).
    ///
    /// ```swift
    /// let connection = try await ClientBootstrap(group: .singletonMultiThreadedEventLoopGroup)
    ///     .connectOpenSSL(host: "example.com", port: 443, context: try Context.client(),
    ///                     serverHostname: "example.com")
    /// try await connection.executeThenClose { inbound, outbound in … }
    /// ```
    ///
    /// - Parameters:
    ///   - host: the address to connect to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port.
    ///   - context: the client `Context` (trust, client certificate, ALPN, versions).
    ///   - serverHostname: sent as SNI (names only) and, when `context`
    ///     verifies its peer, the name or address the server's certificate
    ///     must match; nil sends no SNI and checks no host (a context from
    ///     `Context.client` then refuses to handshake).
    ///   - closeTimeout: how long `close()` waits for the server's close_notify.
    ///   - handshakeTimeout: how long the handshake may take once connected; nil waits forever.
    ///   - channelConfiguration: the async channel's back pressure and half-closure.
    ///   - configure: adds handlers after the TLS handler (on the event loop), before the async channel's.
    /// - Throws: what connecting throws (`ChannelError.connectTimeout`, a
    ///   refused connection); `OpenSSLError` when the handler cannot be made
    ///   or OpenSSL refuses `serverHostname`; `OpenSSLHandshakeError` when
    ///   the handshake fails (`.failed` with OpenSSL's reason, e.g. a
    ///   certificate that does not verify) or the server closes first;
    ///   `OpenSSLHandshakeTimeoutError` after `handshakeTimeout`. The
    ///   connection is closed whenever this throws.
    public func connectOpenSSL(
        host: String,
        port: Int,
        context: Context,
        serverHostname: String?,
        closeTimeout: TimeAmount = .seconds(5),
        handshakeTimeout: TimeAmount? = .seconds(30),
        channelConfiguration: NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration = .init(),
        configure: (@Sendable (Channel) throws -> Void)? = nil
    ) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await connectOpenSSL(
            host: host, port: port, handshakeTimeout: handshakeTimeout,
            makeHandler: {
                try OpenSSLClientHandler(context: context, serverHostname: serverHostname, closeTimeout: closeTimeout)
            }
        ) { channel in
            channel.eventLoop.makeCompletedFuture {
                try configure?(channel)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel, configuration: channelConfiguration)
            }
        }
    }

    /// Connects to `host`:`port` with an `OpenSSLClientHandler` made from
    /// `context` followed by what `channelInitializer` adds, waits for the
    /// handshake, and returns the initializer's result.
    ///
    /// - Parameters:
    ///   - host: the address to connect to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port.
    ///   - context: the client `Context`.
    ///   - serverHostname: SNI and the host the certificate must match (see
    ///     `connectOpenSSL(host:port:context:serverHostname:closeTimeout:handshakeTimeout:channelConfiguration:configure:)`).
    ///   - closeTimeout: how long `close()` waits for the server's close_notify.
    ///   - handshakeTimeout: how long the handshake may take once connected; nil waits forever.
    ///   - channelInitializer: runs on the event loop after the TLS handler is added.
    /// - Throws: what connecting throws; `OpenSSLError` when the handler
    ///   cannot be made; `OpenSSLHandshakeError` or
    ///   `OpenSSLHandshakeTimeoutError` when the handshake does not complete.
    ///   The connection is closed whenever this throws.
    public func connectOpenSSL<Output: Sendable>(
        host: String,
        port: Int,
        context: Context,
        serverHostname: String?,
        closeTimeout: TimeAmount = .seconds(5),
        handshakeTimeout: TimeAmount? = .seconds(30),
        channelInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Output>
    ) async throws -> Output {
        try await connectOpenSSL(
            host: host, port: port, handshakeTimeout: handshakeTimeout,
            makeHandler: {
                try OpenSSLClientHandler(context: context, serverHostname: serverHostname, closeTimeout: closeTimeout)
            },
            channelInitializer: channelInitializer)
    }

    /// Connects to `host`:`port` with the handler `makeHandler` returns
    /// (called on the event loop: a handler over a `Connection` you
    /// configured, to resume a session for instance) followed by what
    /// `channelInitializer` adds, waits for the handshake, and returns the
    /// initializer's result.
    ///
    /// - Parameters:
    ///   - host: the address to connect to (a name or a numeric IPv4/IPv6 address).
    ///   - port: the TCP port.
    ///   - handshakeTimeout: how long the handshake may take once connected; nil waits forever.
    ///   - makeHandler: makes the TLS handler.
    ///   - channelInitializer: runs on the event loop after the TLS handler is added.
    /// - Throws: what connecting throws; what `makeHandler` throws;
    ///   `OpenSSLHandshakeError` or `OpenSSLHandshakeTimeoutError` when the
    ///   handshake does not complete. The connection is closed whenever this throws.
    public func connectOpenSSL<Output: Sendable>(
        host: String,
        port: Int,
        handshakeTimeout: TimeAmount? = .seconds(30),
        makeHandler: @escaping @Sendable () throws -> OpenSSLClientHandler,
        channelInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Output>
    ) async throws -> Output {
        let connected = try await connect(host: host, port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                // The deadline starts when the handler is added; the handshake starts at activation.
                try channel.pipeline.syncOperations.addOpenSSLHandler(try makeHandler(), handshakeTimeout: handshakeTimeout)
            }.flatMap { handshake in
                channelInitializer(channel).map { PendingHandshake(output: $0, handshake: handshake, channel: channel) }
            }
        }
        do {
            _ = try await connected.handshake.get()
        } catch {
            try? await connected.channel.close()
            throw error
        }
        return connected.output
    }
}

/// A connected channel and its handshake, before the handshake has completed.
private struct PendingHandshake<Output: Sendable>: Sendable {
    let output: Output
    let handshake: EventLoopFuture<TLSHandshakeResult>
    let channel: Channel
}
