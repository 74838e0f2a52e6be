import NIOCore
import NIOTLS
import OpenSSL

/// The TLS layer of a SwiftNIO pipeline on the system's OpenSSL: one
/// memory-BIO `Connection` between the network (below) and the application
/// (above). It sits where `NIOSSLHandler` sits; use `OpenSSLClientHandler`
/// or `OpenSSLServerHandler`, which set the connection's role.
///
/// Behaviour (Docs/nio.md):
/// - The handshake starts when the channel becomes active, or at once when
///   the handler is added to an active channel. Writes and flushes issued
///   before it completes are kept and go out afterwards, in order.
/// - On completion it fires `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`
///   (so NIO's ALPN handlers work unchanged) and the result is available as
///   a `Sendable` `TLSHandshakeResult` (`handshakeResult`,
///   `Channel.openSSLHandshakeResult()`).
/// - Reads: OpenSSL reads each `channelRead`'s bytes in place (no copy into
///   an array first); the plaintext goes up as one `ByteBuffer` per
///   `channelRead`. With `autoRead` off the handler reads only while the
///   handshake needs bytes or a `read()` of the application is unanswered.
/// - Writes: `write` queues, `flush` encrypts everything flushed and writes
///   the ciphertext as one `ByteBuffer`; promises complete in order, and a
///   zero-length write keeps its place.
/// - `close(mode: .all)` sends close_notify and waits for the peer's, at
///   most `closeTimeout`, then closes (`TLSUserEvent.shutdownCompleted`
///   when the peer answered); `close(mode: .output)` sends close_notify and
///   half-closes. A peer's close_notify becomes `ChannelEvent.inputClosed`
///   when the channel allows remote half-closure, else it is answered and
///   the channel closed cleanly.
/// - Errors reach `errorCaught` as `SSLError` (`isUnexpectedEOF` for an
///   end of stream without close_notify) or, during the handshake, as
///   `OpenSSLHandshakeError`.
///
/// Lives on its channel's event loop, like every channel handler: it is not
/// `Sendable`. The `Context` it was made from is shared freely.
public class OpenSSLHandler: ChannelInboundHandler, ChannelOutboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        /// Added, channel not active yet.
        case idle
        case handshaking
        case active
        /// The peer's close_notify arrived and remote half-closure is allowed: we may still write.
        case inputClosed
        /// We sent close_notify with `close(mode: .output)`: we may still read.
        case outputClosed
        /// `close(mode: .all)`: our close_notify is out, the peer's awaited (with a timeout).
        case closing
        case closed
    }

    private struct PendingWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    /// What one `channelRead` did inside OpenSSL (acted on after the
    /// ciphertext is no longer lent, so no user code runs while it is).
    private enum ReadOutcome {
        case needMore
        case closeNotify
        case failed(SSLError)
    }

    /// The connection this handler drives. Use it on the event loop for what
    /// it knows (`exportKeyingMaterial`, `peerCertificate`, `serverName`, …);
    /// do not drive its I/O (`read`, `write`, `doHandshake`, `bio…`).
    public let connection: Connection

    /// How long `close(mode: .all)` waits for the peer's close_notify before closing anyway.
    public let closeTimeout: TimeAmount

    /// The handshake's outcome, once it has completed (on the event loop).
    public private(set) var handshakeResult: TLSHandshakeResult?

    var state: State = .idle
    private var storedContext: ChannelHandlerContext?
    private var pendingWrites = MarkedCircularBuffer<PendingWrite>(initialCapacity: 16)
    /// Plaintext decrypted by the current `channelRead`; handed up, then
    /// reused — or, when the context releases buffers while idle
    /// (`SSLModes.releaseBuffers`), dropped and made again for the next read.
    private var plaintext: ByteBuffer?
    private var allocator: ByteBufferAllocator?
    /// The context asks for buffers to be released while idle: the 16 KiB
    /// plaintext buffer is then not kept between reads either.
    private let releasesIdleBuffers: Bool
    private var handshakePromise: EventLoopPromise<TLSHandshakeResult>?
    /// `handshakePromise`'s future, kept after the promise is completed (and
    /// dropped), so a late asker still gets the outcome.
    private var handshakeOutcome: EventLoopFuture<TLSHandshakeResult>?
    private var closePromise: EventLoopPromise<Void>?
    /// `close(mode: .output)` asked for during the handshake: done once the buffered writes are out.
    private var deferredCloseOutput: (requested: Bool, promise: EventLoopPromise<Void>?) = (false, nil)
    private var closeTimer: Scheduled<Void>?
    /// Plaintext went up since the last `channelReadComplete`.
    private var deliveredSinceReadComplete = false
    /// The application asked to `read()` and has not been given plaintext since.
    private var applicationReadPending = false
    /// Reused for the promises of one flush.
    private var flushedPromises: [EventLoopPromise<Void>] = []
    /// The byte stream from the peer has ended (half-closure): no close_notify can come any more.
    private var streamEnded = false

    /// Storage held for plaintext between reads (for tests).
    var heldPlaintextCapacity: Int { plaintext?.capacity ?? 0 }

    /// The largest plaintext of one TLS record: room kept for each `SSL_read`.
    static let recordPlaintextSize = 16_384

    init(wrapping connection: Connection, closeTimeout: TimeAmount) {
        self.connection = connection
        self.closeTimeout = closeTimeout
        releasesIdleBuffers = connection.context.mode.contains(.releaseBuffers)
    }

    // MARK: Life in the pipeline

    public func handlerAdded(context: ChannelHandlerContext) {
        storedContext = context
        allocator = context.channel.allocator
        if !releasesIdleBuffers {
            plaintext = context.channel.allocator.buffer(capacity: Self.recordPlaintextSize)
        }
        let promise = context.eventLoop.makePromise(of: TLSHandshakeResult.self)
        handshakePromise = promise
        handshakeOutcome = promise.futureResult
        if context.channel.isActive {
            startHandshake(context: context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        closeTimer = nil
        if state != .closed { state = .closed }
        failPendingWrites(ChannelError.ioOnClosedChannel)
        handshakePromise?.fail(OpenSSLHandshakeError.channelClosed)
        handshakePromise = nil
        closePromise?.fail(ChannelError.ioOnClosedChannel)
        closePromise = nil
        failDeferredCloseOutput(ChannelError.ioOnClosedChannel)
        storedContext = nil
    }

    /// The handshake's outcome as a future on the channel's event loop: it
    /// succeeds when the handshake completes and fails with
    /// `OpenSSLHandshakeError` when it does not. Nil before the handler is
    /// added to a pipeline.
    public var handshakeFuture: EventLoopFuture<TLSHandshakeResult>? { handshakeOutcome }

    // MARK: Inbound

    public func channelActive(context: ChannelHandlerContext) {
        // Active first, so anything the handshake's first step does (even a
        // failure and a close) comes after it, as later handlers expect.
        context.fireChannelActive()
        if state == .idle {
            startHandshake(context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let previous = state
        state = .closed
        closeTimer?.cancel()
        closeTimer = nil
        switch previous {
        case .handshaking:
            let error = OpenSSLHandshakeError.failed(endOfStreamError(duringHandshake: true))
            failHandshake(error)
            failPendingWrites(error)
            context.fireErrorCaught(error)
        case .active, .outputClosed:
            // The stream ended without the peer's close_notify: an unclean shutdown.
            let error = endOfStreamError(duringHandshake: false)
            failPendingWrites(error)
            context.fireErrorCaught(error)
        case .closing:
            // We were closing and waiting for the peer's close_notify; the
            // peer closed the connection instead. The close the application
            // asked for has happened.
            failPendingWrites(ChannelError.ioOnClosedChannel)
            closePromise?.succeed(())
            closePromise = nil
        case .idle, .inputClosed, .closed:
            failPendingWrites(ChannelError.ioOnClosedChannel)
        }
        if let handshakePromise {
            self.handshakePromise = nil
            handshakePromise.fail(OpenSSLHandshakeError.channelClosed)
        }
        failDeferredCloseOutput(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let input = unwrapInboundIn(data)
        switch state {
        case .idle:
            // Bytes before activation: start the handshake, which reads them.
            startHandshake(context: context)
            guard state == .handshaking else { return }
        case .closed, .inputClosed:
            // After close_notify nothing more is read (TLS ignores it too).
            return
        case .handshaking, .active, .outputClosed, .closing:
            break
        }
        let wasHandshaking = state == .handshaking
        var handshakeDone = false
        var handshakeFailure: SSLError?
        var outcome = ReadOutcome.needMore
        let lent: Result<Void, SSLError> = input.withUnsafeReadableBytes { bytes in
            Result { () throws(SSLError) in
                try connection.withIncomingCiphertext(bytes) { () throws(SSLError) in
                    if wasHandshaking {
                        do throws(SSLError) {
                            try connection.doHandshake()
                            handshakeDone = true
                        } catch .wantRead {
                            return
                        } catch {
                            handshakeFailure = error
                            return
                        }
                    }
                    outcome = decryptAvailable()
                }
            }
        }
        if case .failure(let error) = lent {
            // The connection could not take the bytes (out of memory).
            if wasHandshaking { handshakeFailure = error } else { outcome = .failed(error) }
        }
        if let handshakeFailure {
            failHandshakeAndClose(context: context, error: handshakeFailure)
            return
        }
        if wasHandshaking {
            if handshakeDone {
                completeHandshake(context: context)
            } else {
                writeCiphertext(context: context, promise: nil)
                return
            }
        }
        // A key update, a session ticket's acknowledgement or an alert may
        // have left bytes to send.
        writeCiphertext(context: context, promise: nil)
        if wasHandshaking, case .needMore = outcome, !applicationReadPending, !isAutoReading(context: context) {
            // autoRead off, and this read was the handshake's own: plaintext that
            // came with its last bytes waits for the application's read().
        } else {
            deliverPlaintext(context: context)
        }
        switch outcome {
        case .needMore:
            break
        case .closeNotify:
            peerSentCloseNotify(context: context)
        case .failed(let error):
            fail(context: context, error: error)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        if deliveredSinceReadComplete {
            deliveredSinceReadComplete = false
            context.fireChannelReadComplete()
            return
        }
        // Nothing went up. With autoRead off, read again while the handshake
        // needs bytes or the application's read() has had no answer yet.
        switch state {
        case .handshaking:
            readIfNotAutoReading(context: context)
        case .active, .outputClosed, .closing:
            if applicationReadPending { readIfNotAutoReading(context: context) }
        case .idle, .inputClosed, .closed:
            break
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // The byte stream ended (remote half-closure allowed, so the channel stays open).
        switch state {
        case .handshaking:
            failHandshakeAndClose(context: context, error: endOfStreamError(duringHandshake: true))
        case .active, .outputClosed:
            // No close_notify came: an unclean shutdown. The application may still write.
            streamEnded = true
            // Not fed to OpenSSL, which would then refuse to write: the same error, made here.
            context.fireErrorCaught(SSLError.sysCall(errno: -1, Self.uncleanEndOfStream(operation: "read")))
            context.fireUserInboundEventTriggered(event)
        case .inputClosed:
            // Already told, at the peer's close_notify.
            break
        case .closing:
            // Waiting for a close_notify that can no longer come.
            finishClose(context: context, shutdownCompleted: false)
        case .idle, .closed:
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        case .outputClosed, .closing:
            promise?.fail(ChannelError.outputClosed)
        case .idle, .handshaking, .active, .inputClosed:
            pendingWrites.append(PendingWrite(data: unwrapOutboundIn(data), promise: promise))
        }
    }

    public func flush(context: ChannelHandlerContext) {
        guard !pendingWrites.isEmpty else { return }
        pendingWrites.mark()
        switch state {
        case .active, .inputClosed:
            flushPendingWrites(context: context)
        case .idle, .handshaking:
            break  // released when the handshake completes
        case .outputClosed, .closing, .closed:
            failPendingWrites(ChannelError.outputClosed)
        }
    }

    public func read(context: ChannelHandlerContext) {
        applicationReadPending = true
        if let held = plaintext, held.readableBytes > 0 {
            // Plaintext held back since the handshake (autoRead off): that is the answer.
            deliverPlaintext(context: context)
            deliveredSinceReadComplete = false
            context.fireChannelReadComplete()
            return
        }
        context.read()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .all:
            closeAll(context: context, promise: promise)
        case .output:
            closeOutput(context: context, promise: promise)
        case .input:
            promise?.fail(ChannelError.operationUnsupported)
        }
    }

    // MARK: Handshake

    private func startHandshake(context: ChannelHandlerContext) {
        state = .handshaking
        do throws(SSLError) {
            try connection.doHandshake()
        } catch .wantRead {
            writeCiphertext(context: context, promise: nil)
            readIfNotAutoReading(context: context)
            return
        } catch {
            failHandshakeAndClose(context: context, error: error)
            return
        }
        // Cannot complete without the peer; handled the same way if it ever does.
        completeHandshake(context: context)
    }

    private func completeHandshake(context: ChannelHandlerContext) {
        state = .active
        let result = TLSHandshakeResult(connection: connection)
        handshakeResult = result
        // The handshake's last messages go before any application data.
        writeCiphertext(context: context, promise: nil)
        if let handshakePromise {
            self.handshakePromise = nil
            handshakePromise.succeed(result)
        }
        context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: result.alpnProtocol))
        // Writes and flushes issued during the handshake, in order.
        if state == .active, pendingWrites.hasMark {
            flushPendingWrites(context: context)
        }
        if deferredCloseOutput.requested, state == .active || state == .inputClosed {
            let promise = deferredCloseOutput.promise
            deferredCloseOutput = (false, nil)
            closeOutput(context: context, promise: promise)
        }
    }

    private func failHandshake(_ error: OpenSSLHandshakeError) {
        if let handshakePromise {
            self.handshakePromise = nil
            handshakePromise.fail(error)
        }
    }

    /// The handshake failed: the alert OpenSSL wrote goes out, everyone is
    /// told, and the channel closes.
    private func failHandshakeAndClose(context: ChannelHandlerContext, error: SSLError) {
        state = .closed
        writeCiphertext(context: context, promise: nil)
        let wrapped = OpenSSLHandshakeError.failed(error)
        failHandshake(wrapped)
        failPendingWrites(wrapped)
        failDeferredCloseOutput(wrapped)
        context.fireErrorCaught(wrapped)
        context.close(promise: nil)
    }

    // MARK: Reading

    /// Decrypts every whole record available into `plaintext`. Calls no user code.
    private func decryptAvailable() -> ReadOutcome {
        guard var buffer = plaintext ?? allocator?.buffer(capacity: Self.recordPlaintextSize) else { return .needMore }
        // Our reference is dropped while we write, so the buffer is not copied.
        plaintext = nil
        // Emptied by the last delivery, and maybe still shared with what the
        // application kept: clear() then takes fresh storage instead of
        // copying the old bytes; unshared (the usual case) it costs nothing.
        if buffer.readableBytes == 0 { buffer.clear() }
        defer { plaintext = releasesIdleBuffers && buffer.readableBytes == 0 ? nil : buffer }
        while true {
            // Nothing left to decrypt: stop before making room for a record
            // (which would grow a buffer just filled by the last one).
            guard connection.hasReadableInput else { return .needMore }
            var failure: SSLError?
            let connection = self.connection
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.recordPlaintextSize) { space in
                do throws(SSLError) {
                    return try connection.read(into: space)
                } catch {
                    failure = error
                    return 0
                }
            }
            switch failure {
            case nil: continue
            case .wantRead?: return .needMore
            case .zeroReturn?: return .closeNotify
            case let error?: return .failed(error)
            }
        }
    }

    /// Hands the plaintext decrypted so far to the next handler.
    private func deliverPlaintext(context: ChannelHandlerContext) {
        guard var buffer = plaintext, buffer.readableBytes > 0, state != .closed else { return }
        // Keep our view empty but on the same storage: once the application
        // has let go of what we pass up, the next read reuses it, uncopied.
        // (Indices moved by hand: `clear()` on a shared buffer allocates new storage.)
        let delivered = buffer
        if releasesIdleBuffers {
            plaintext = nil
        } else {
            buffer.moveReaderIndex(to: 0)
            buffer.moveWriterIndex(to: 0)
            plaintext = buffer
        }
        deliveredSinceReadComplete = true
        applicationReadPending = false
        context.fireChannelRead(wrapInboundOut(delivered))
    }

    private func readIfNotAutoReading(context: ChannelHandlerContext) {
        if !isAutoReading(context: context) { context.read() }
    }

    private func isAutoReading(context: ChannelHandlerContext) -> Bool {
        (try? context.channel.syncOptions?.getOption(ChannelOptions.autoRead)) ?? true
    }

    /// The peer sent close_notify (after everything it sent before was delivered).
    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch state {
        case .active:
            if allowsRemoteHalfClosure(context: context) {
                state = .inputClosed
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            } else {
                // Answer with our close_notify and close cleanly.
                closeAll(context: context, promise: nil)
            }
        case .outputClosed, .closing:
            // Both close_notify alerts have now been sent.
            finishClose(context: context, shutdownCompleted: true)
        case .idle, .handshaking, .inputClosed, .closed:
            break
        }
    }

    private func allowsRemoteHalfClosure(context: ChannelHandlerContext) -> Bool {
        (try? context.channel.syncOptions?.getOption(ChannelOptions.allowRemoteHalfClosure)) ?? false
    }

    /// The SSLError OpenSSL gives for the stream ending now (`isUnexpectedEOF`).
    private func endOfStreamError(duringHandshake: Bool) -> SSLError {
        try? connection.bioShutdown()
        do throws(SSLError) {
            if duringHandshake {
                try connection.doHandshake()
            } else {
                _ = try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { space throws(SSLError) in
                    try connection.read(into: space)
                }
            }
        } catch {
            if case .zeroReturn = error {} else if !error.isWant { return error }
        }
        return .sysCall(errno: -1, Self.uncleanEndOfStream(operation: duringHandshake ? "handshake" : "read"))
    }

    static func uncleanEndOfStream(operation: String) -> OpenSSLError {
        OpenSSLError(operation: operation, detail: "unexpected eof: the peer ended the stream without close_notify")
    }

    // MARK: Writing

    /// Encrypts every flushed write and sends the ciphertext as one buffer;
    /// the writes' promises complete, in order, with that write.
    private func flushPendingWrites(context: ChannelHandlerContext) {
        flushedPromises.removeAll(keepingCapacity: true)
        var failure: SSLError?
        while pendingWrites.hasMark, let pending = pendingWrites.first {
            if pending.data.readableBytes > 0 {
                let connection = self.connection
                let written: Result<Void, SSLError> = pending.data.withUnsafeReadableBytes { bytes in
                    Result { () throws(SSLError) in try connection.writeAll(bytes) }
                }
                if case .failure(let error) = written {
                    failure = error
                    break
                }
            }
            _ = pendingWrites.removeFirst()
            if let promise = pending.promise { flushedPromises.append(promise) }
        }
        let promise: EventLoopPromise<Void>?
        switch flushedPromises.count {
        case 0: promise = nil
        case 1: promise = flushedPromises[0]
        default:
            let all = flushedPromises
            let combined = context.eventLoop.makePromise(of: Void.self)
            combined.futureResult.whenComplete { result in
                switch result {
                case .success: for promise in all { promise.succeed(()) }
                case .failure(let error): for promise in all { promise.fail(error) }
                }
            }
            promise = combined
        }
        writeCiphertext(context: context, promise: promise)
        if let failure {
            fail(context: context, error: failure)
        }
    }

    /// Sends what OpenSSL has written, as one `ByteBuffer`, and flushes. With
    /// nothing to send but a promise, an empty write keeps the promise's place.
    private func writeCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let pending = connection.pendingCiphertext
        guard pending > 0 else {
            if let promise {
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            }
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: pending)
        connection.withPendingCiphertext { bytes in
            buffer.writeBytes(bytes)
            return bytes.count
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
    }

    private func failDeferredCloseOutput(_ error: any Error) {
        let promise = deferredCloseOutput.promise
        deferredCloseOutput = (false, nil)
        promise?.fail(error)
    }

    private func failPendingWrites(_ error: any Error) {
        while let pending = pendingWrites.popFirst() {
            pending.promise?.fail(error)
        }
    }

    // MARK: Closing

    private func closeAll(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch state {
        case .idle, .closed:
            state = .closed
            context.close(promise: promise)
        case .handshaking:
            // No close_notify before the handshake is done: just close.
            state = .closed
            failHandshake(.channelClosed)
            failPendingWrites(ChannelError.ioOnClosedChannel)
            failDeferredCloseOutput(ChannelError.ioOnClosedChannel)
            context.close(promise: promise)
        case .closing:
            if let promise {
                if let closePromise { closePromise.futureResult.cascade(to: promise) } else { closePromise = promise }
            }
        case .active, .inputClosed, .outputClosed:
            // What was flushed before the close goes out before close_notify.
            if state != .outputClosed, pendingWrites.hasMark { flushPendingWrites(context: context) }
            failPendingWrites(ChannelError.ioOnClosedChannel)
            guard state != .closed else {  // the flush failed and closed the channel
                promise.map { context.close(promise: $0) }
                return
            }
            closePromise = promise
            state = .closing
            let complete: Bool
            do throws(SSLError) {
                complete = try connection.shutdown()
            } catch .wantRead {
                complete = false  // close_notify sent earlier; the peer's still to come
            } catch {
                // Cannot even send close_notify (a broken connection): close.
                writeCiphertext(context: context, promise: nil)
                finishClose(context: context, shutdownCompleted: false)
                return
            }
            writeCiphertext(context: context, promise: nil)
            if complete {
                finishClose(context: context, shutdownCompleted: true)
            } else if streamEnded {
                // The peer's stream has ended without close_notify: none can come.
                finishClose(context: context, shutdownCompleted: false)
            } else {
                closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: closeTimeout) { [self] in
                    closeTimer = nil
                    if state == .closing, let context = storedContext {
                        // The peer never answered: close without its close_notify.
                        finishClose(context: context, shutdownCompleted: false)
                    }
                }
            }
        }
    }

    private func closeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch state {
        case .idle, .closed, .outputClosed:
            context.close(mode: .output, promise: promise)
        case .handshaking:
            if deferredCloseOutput.requested {
                if let promise {
                    if let earlier = deferredCloseOutput.promise { earlier.futureResult.cascade(to: promise) } else { deferredCloseOutput.promise = promise }
                }
            } else {
                deferredCloseOutput = (true, promise)
            }
        case .closing:
            if let promise {
                if let closePromise { closePromise.futureResult.cascade(to: promise) } else { closePromise = promise }
            }
        case .inputClosed:
            // Both directions closed: a full close.
            closeAll(context: context, promise: promise)
        case .active:
            if pendingWrites.hasMark { flushPendingWrites(context: context) }
            guard state == .active else {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            failPendingWrites(ChannelError.outputClosed)
            state = .outputClosed
            do throws(SSLError) {
                _ = try connection.shutdown()
            } catch .wantRead {
                // close_notify is out; the peer's comes later.
            } catch {
                writeCiphertext(context: context, promise: nil)
                fail(context: context, error: error)
                promise?.fail(error)
                return
            }
            writeCiphertext(context: context, promise: nil)
            context.close(mode: .output, promise: promise)
        }
    }

    /// Ends a close: tells the application the TLS shutdown completed (both
    /// close_notify alerts), when it did, and closes the channel.
    private func finishClose(context: ChannelHandlerContext, shutdownCompleted: Bool) {
        closeTimer?.cancel()
        closeTimer = nil
        if shutdownCompleted {
            // Record that both alerts went; the answer is already out (or not needed).
            _ = try? connection.shutdown()
            writeCiphertext(context: context, promise: nil)
        }
        state = .closed
        let promise = closePromise
        closePromise = nil
        if shutdownCompleted {
            context.fireUserInboundEventTriggered(TLSUserEvent.shutdownCompleted)
        }
        context.close(promise: promise)
    }

    /// A TLS error after the handshake: reported, and the channel closed.
    private func fail(context: ChannelHandlerContext, error: SSLError) {
        guard state != .closed else { return }
        state = .closed
        closeTimer?.cancel()
        closeTimer = nil
        writeCiphertext(context: context, promise: nil)  // the alert, if OpenSSL wrote one
        failPendingWrites(error)
        context.fireErrorCaught(error)
        let promise = closePromise
        closePromise = nil
        context.close(promise: promise)
    }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}

/// The client side: `OpenSSLClientHandler(context:serverHostname:)` where
/// `NIOSSLClientHandler(context:serverHostname:)` was.
public final class OpenSSLClientHandler: OpenSSLHandler {
    /// A client over a new connection from `context`.
    ///
    /// `serverHostname` (a DNS name or an IP address) is sent as SNI (names
    /// only) and, when the context verifies its peer (`VerifyMode.peer`, as
    /// `Context.client` does), is the host the server's certificate must
    /// match. With nil, no SNI is sent and no host is checked; a context that
    /// verifies host names (`Context.client`) then refuses to handshake.
    /// - Parameter closeTimeout: how long `close()` waits for the server's close_notify.
    /// - Throws: `OpenSSLError` when the connection cannot be made or OpenSSL refuses the name.
    public init(context: Context, serverHostname: String?, closeTimeout: TimeAmount = .seconds(5)) throws {
        let connection = try Connection(context)
        connection.setConnectState()
        if let serverHostname {
            try connection.setServerName(serverHostname)
            if context.verifyMode.contains(.peer) {
                try connection.setExpectedHost(serverHostname)
            }
        }
        super.init(wrapping: connection, closeTimeout: closeTimeout)
    }

    /// A client over a memory-BIO connection you made and configured
    /// yourself (a session to resume, per-connection ALPN, a host name).
    /// It must be new: no handshake started, no I/O done.
    /// - Throws: `SSLError.usage` for a connection that is not over memory BIOs.
    public init(connection: Connection, closeTimeout: TimeAmount = .seconds(5)) throws {
        try OpenSSLHandler.requireMemoryBIOs(connection)
        connection.setConnectState()
        super.init(wrapping: connection, closeTimeout: closeTimeout)
    }
}

/// The server side: `OpenSSLServerHandler(context:)` where
/// `NIOSSLServerHandler(context:)` was.
public final class OpenSSLServerHandler: OpenSSLHandler {
    /// A server over a new connection from `context`.
    /// - Parameter closeTimeout: how long `close()` waits for the client's close_notify.
    /// - Throws: `OpenSSLError` when the connection cannot be made.
    public init(context: Context, closeTimeout: TimeAmount = .seconds(5)) throws {
        let connection = try Connection(context)
        connection.setAcceptState()
        super.init(wrapping: connection, closeTimeout: closeTimeout)
    }

    /// A server over a memory-BIO connection you made and configured yourself.
    /// It must be new: no handshake started, no I/O done.
    /// - Throws: `SSLError.usage` for a connection that is not over memory BIOs.
    public init(connection: Connection, closeTimeout: TimeAmount = .seconds(5)) throws {
        try OpenSSLHandler.requireMemoryBIOs(connection)
        connection.setAcceptState()
        super.init(wrapping: connection, closeTimeout: closeTimeout)
    }
}

extension OpenSSLHandler {
    static func requireMemoryBIOs(_ connection: Connection) throws(SSLError) {
        // A connection over memory BIOs lends ciphertext; any other refuses with `.usage`.
        _ = try connection.withIncomingCiphertext(UnsafeRawBufferPointer(start: nil, count: 0)) {}
    }
}
