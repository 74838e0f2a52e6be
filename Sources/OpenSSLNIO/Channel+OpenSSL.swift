import NIOCore

extension Channel {
    /// The outcome of the TLS handshake of this channel's `OpenSSLHandler`,
    /// from any thread: succeeds with the `TLSHandshakeResult` when the
    /// handshake completes (at once if it already has), fails with
    /// `OpenSSLHandshakeError` when it does not, and with
    /// `ChannelPipelineError.notFound` when the pipeline has no such handler.
    ///
    /// In async code: `let result = try await channel.openSSLHandshakeResult().get()`.
    public func openSSLHandshakeResult() -> EventLoopFuture<TLSHandshakeResult> {
        if eventLoop.inEventLoop {
            return handshakeFutureOnLoop()
        }
        return eventLoop.flatSubmit { [self] in handshakeFutureOnLoop() }
    }

    private func handshakeFutureOnLoop() -> EventLoopFuture<TLSHandshakeResult> {
        do {
            let handler = try pipeline.syncOperations.handler(type: OpenSSLHandler.self)
            return handler.handshakeFuture ?? eventLoop.makeFailedFuture(ChannelPipelineError.notFound)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// The `OpenSSLHandler` of this pipeline (client or server), on the event loop.
    /// - Throws: `ChannelPipelineError.notFound` when there is none.
    public func openSSLHandler() throws -> OpenSSLHandler {
        try handler(type: OpenSSLHandler.self)
    }
}
