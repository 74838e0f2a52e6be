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

    /// The asynchronous hooks this handler was given (nil: none).
    let asyncHooks: AsyncHookState?
    /// What the handshake waits for while an asynchronous hook runs.
    private enum Waiting {
        /// A client's verification decision (OpenSSL's retry-verify).
        case verification
        /// A server's certificate (OpenSSL's certificate callback).
        case certificate
        /// A server's verification decision after a provisional handshake.
        case provisionalVerification
    }
    private var waiting: Waiting?
    /// The error an asynchronous hook threw (or its misuse), reported when
    /// the handshake it stopped fails.
    private var asyncHookError: (any Error)?
    /// A client's asynchronous hook rejected the server.
    private var asyncRejected = false
    /// TLS 1.3 tickets a provisionally verified server sends once it accepts.
    private var ticketsAfterDecision = 0

    /// Storage held for plaintext between reads (for tests).
    var heldPlaintextCapacity: Int { plaintext?.capacity ?? 0 }

    /// The largest plaintext of one TLS record: room kept for each `SSL_read`.
    static let recordPlaintextSize = 16_384

    init(wrapping connection: Connection, closeTimeout: TimeAmount, asyncHooks: AsyncHookState? = nil) throws {
        self.connection = connection
        self.closeTimeout = closeTimeout
        releasesIdleBuffers = connection.context.mode.contains(.releaseBuffers)
        self.asyncHooks = asyncHooks
        if let asyncHooks {
            ticketsAfterDecision = connection.sessionTicketCount
            try asyncHooks.install(on: connection, isServer: connection.isServer)
        }
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
        if waiting != nil {
            // An asynchronous hook has not answered: keep the bytes for later.
            let kept: Result<Void, SSLError> = input.withUnsafeReadableBytes { bytes in
                Result { () throws(SSLError) in try connection.withIncomingCiphertext(bytes) {} }
            }
            if case .failure(let error) = kept { failHandshakeAndClose(context: context, error: error) }
            return
        }
        let wasHandshaking = state == .handshaking
        var step = HandshakeStep.done
        var outcome = ReadOutcome.needMore
        let lent: Result<Void, SSLError> = input.withUnsafeReadableBytes { bytes in
            Result { () throws(SSLError) in
                try connection.withIncomingCiphertext(bytes) { () throws(SSLError) in
                    if wasHandshaking {
                        step = handshakeStep()
                        // Provisional: nothing is read before the decision.
                        guard case .done = step, asyncHooks?.hasVerification != true || !connection.isServer else { return }
                    }
                    outcome = decryptAvailable()
                }
            }
        }
        if case .failure(let error) = lent {
            // The connection could not take the bytes (out of memory).
            if wasHandshaking { step = .failed(error) } else { outcome = .failed(error) }
        }
        if wasHandshaking {
            guard handshakeAdvanced(context: context, step: step, readsMore: false) else { return }
        }
        finishRead(context: context, outcome: outcome, afterHandshake: wasHandshaking)
    }

    /// After a read (or a handshake resumed with bytes already queued): what
    /// OpenSSL wrote goes out, plaintext goes up, and the read's outcome is acted on.
    ///
    /// `completesRead`: called outside a channel read (a hook's answer), so
    /// no `channelReadComplete` follows: fire it here after a delivery.
    private func finishRead(
        context: ChannelHandlerContext, outcome: ReadOutcome, afterHandshake wasHandshaking: Bool,
        completesRead: Bool = false
    ) {
        // A key update, a session ticket's acknowledgement or an alert may
        // have left bytes to send.
        writeCiphertext(context: context, promise: nil)
        if wasHandshaking, case .needMore = outcome, !applicationReadPending, !isAutoReading(context: context) {
            // autoRead off, and this read was the handshake's own: plaintext that
            // came with its last bytes waits for the application's read().
        } else {
            deliverPlaintext(context: context)
            if completesRead, deliveredSinceReadComplete {
                deliveredSinceReadComplete = false
                context.fireChannelReadComplete()
            }
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
            // Not while a hook decides: its answer drives the handshake on.
            if waiting == nil { readIfNotAutoReading(context: context) }
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
        if handshakeAdvanced(context: context, step: handshakeStep()) {
            // Cannot complete without the peer; handled the same way if it ever does.
            finishRead(context: context, outcome: decryptAvailable(), afterHandshake: true)
        }
    }

    /// Where one drive of the handshake left it.
    private enum HandshakeStep {
        case done
        case needMore
        case suspended(Waiting)
        case failed(SSLError)
    }

    /// Drives the handshake once, over whatever ciphertext is queued or lent.
    private func handshakeStep() -> HandshakeStep {
        do throws(SSLError) {
            try connection.doHandshake()
            return .done
        } catch .wantRead {
            return .needMore
        } catch .wantRetryVerify {
            return .suspended(.verification)
        } catch .wantX509Lookup {
            return .suspended(.certificate)
        } catch {
            return .failed(error)
        }
    }

    /// Acts on a drive of the handshake. True when it completed and the
    /// application has been told (the caller then reads what came with it).
    ///
    /// `readsMore`: ask the channel for bytes when more are needed (not from
    /// `channelRead`, whose `channelReadComplete` asks).
    private func handshakeAdvanced(context: ChannelHandlerContext, step: HandshakeStep, readsMore: Bool = true) -> Bool {
        switch step {
        case .failed(let error):
            if let hookError = asyncHookError {
                asyncHookError = nil
                failHandshakeAndClose(context: context, error: .callback(hookError))
            } else {
                failHandshakeAndClose(context: context, error: error)
            }
            return false
        case .needMore:
            writeCiphertext(context: context, promise: nil)
            if readsMore { readIfNotAutoReading(context: context) }
            return false
        case .suspended(let what):
            writeCiphertext(context: context, promise: nil)
            suspend(context: context, for: what)
            return false
        case .done:
            if asyncRejected {
                // A client without peer verification in its mode: OpenSSL went on
                // after the rejection. The handler's hook decides, so: fail.
                connection.discardPendingCiphertext()
                failHandshakeAndClose(context: context, error: Self.rejection(role: "server"))
                return false
            }
            if connection.isServer, asyncHooks?.hasVerification == true {
                // Complete for OpenSSL, not yet for anyone else: nothing goes
                // out (a TLS 1.2 server's last flight waits too) until the decision.
                suspend(context: context, for: .provisionalVerification)
                return false
            }
            if connection.isServer, asyncHooks?.verifier != nil {
                // No client certificate, so no decision to wait for: the tickets held back go now.
                issueWithheldTickets()
            }
            completeHandshake(context: context)
            return state == .active
        }
    }

    /// A server with an asynchronous verification hook sends no TLS 1.3
    /// ticket at the end of its handshake; once it may, they are queued here.
    private func issueWithheldTickets() {
        guard connection.protocolVersion == .tls1_3, ticketsAfterDecision > 0 else { return }
        // What OpenSSL itself sends: the context's count after a full
        // handshake, at most one after a resumption.
        let count = connection.isSessionReused ? 1 : ticketsAfterDecision
        do {
            try connection.setSessionTicketCount(ticketsAfterDecision)
            for _ in 0..<count { try connection.issueSessionTicket() }
            try connection.doHandshake()  // writes them
        } catch {
            // Tickets are a convenience: the connection stands without them.
        }
    }

    static func rejection(role: String) -> SSLError {
        .ssl(
            OpenSSLError(
                operation: "handshake",
                detail: "certificate verify failed: the asynchronous verification hook rejected the \(role)"))
    }

    // MARK: Waiting for asynchronous hooks

    /// Starts the asynchronous hook the handshake now waits for; its answer
    /// comes back on the event loop and drives the handshake on.
    private func suspend(context: ChannelHandlerContext, for what: Waiting) {
        guard let asyncHooks else {
            // Only our own hooks suspend; a context callback that did is a misuse.
            failHandshakeAndClose(
                context: context,
                error: .usage(
                    "a callback of the context suspended the handshake (\(what)); give asynchronous hooks to the handler instead")
            )
            return
        }
        waiting = what
        if what == .provisionalVerification {
            // TLS 1.2 cached the session as the handshake ended: nobody may
            // resume it before the decision (it goes back after an accept).
            connection.removeSessionFromCache()
        }
        let loop = context.eventLoop
        switch what {
        case .verification, .provisionalVerification:
            guard let verifier = asyncHooks.verifier, let verification = asyncHooks.takeVerification() else {
                waiting = nil
                failHandshakeAndClose(context: context, error: .usage("the handshake waits for a verification no hook was given"))
                return
            }
            let promise = loop.makePromise(of: VerificationDecision.self)
            promise.completeWithTask { try await verifier(verification) }
            promise.futureResult.assumeIsolated().whenComplete { [self] result in
                verificationAnswered(result, peerVerification: verification)
            }
        case .certificate:
            guard let selector = asyncHooks.certificateSelector, let serverName = asyncHooks.requestedServerName else {
                waiting = nil
                failHandshakeAndClose(
                    context: context, error: .usage("the handshake waits for a certificate no selector was given"))
                return
            }
            let promise = loop.makePromise(of: OpenSSLCertificateSelection.self)
            promise.completeWithTask { try await selector(serverName) }
            promise.futureResult.assumeIsolated().whenComplete { [self] result in
                certificateAnswered(result)
            }
        }
    }

    /// The asynchronous verification hook answered (on the event loop).
    private func verificationAnswered(_ result: Result<VerificationDecision, any Error>, peerVerification: PeerVerification) {
        guard let what = waiting, state == .handshaking, let context = storedContext else { return }
        waiting = nil
        var accepted = false
        switch result {
        case .success(.accept):
            accepted = true
        case .success(.reject):
            break
        case .success(.decideLater):
            asyncHookError = UsageError(
                operation: "asynchronous peer verification",
                reason: "an asynchronous hook decides when it returns: answer .accept or .reject")
        case .failure(let error):
            asyncHookError = error
        }
        if what == .provisionalVerification {
            if accepted {
                releaseProvisionalHandshake(context: context)
            } else {
                refuseProvisionalHandshake(context: context, verification: peerVerification)
            }
            return
        }
        asyncRejected = !accepted
        connection.setVerificationDecision(accepted)
        resumeHandshake(context: context)
    }

    /// The asynchronous certificate selector answered (on the event loop).
    private func certificateAnswered(_ result: Result<OpenSSLCertificateSelection, any Error>) {
        guard waiting == .certificate, state == .handshaking, let context = storedContext else { return }
        waiting = nil
        do {
            let selection = try result.get()
            guard let leaf = selection.certificateChain.first else {
                throw UsageError(operation: "asynchronous certificate selection", reason: "the chosen chain is empty")
            }
            try connection.useCertificate(leaf)
            try connection.usePrivateKey(selection.privateKey)
            try connection.setCertificateChain(Array(selection.certificateChain.dropFirst()))
            asyncHooks?.markCertificateChosen()
        } catch {
            // The certificate callback fails the handshake (internal-error alert) with this error.
            asyncHookError = error
            connection.setCertificateCallback { _ in throw AsyncSelectionFailed() }
        }
        resumeHandshake(context: context)
    }

    /// Drives the handshake on over the bytes that arrived while it waited.
    private func resumeHandshake(context: ChannelHandlerContext) {
        if handshakeAdvanced(context: context, step: handshakeStep()) {
            finishRead(context: context, outcome: decryptAvailable(), afterHandshake: true, completesRead: true)
        }
    }

    /// The asynchronous hook accepted a provisionally verified client: its
    /// tickets (TLS 1.3) or the handshake's held last flight (TLS 1.2) go
    /// out, the session becomes resumable, the application is told, and
    /// what the client sent meanwhile is read.
    private func releaseProvisionalHandshake(context: ChannelHandlerContext) {
        issueWithheldTickets()
        connection.addSessionToCache()
        writeCiphertext(context: context, promise: nil)
        completeHandshake(context: context)
        guard state == .active else { return }
        finishRead(context: context, outcome: decryptAvailable(), afterHandshake: true, completesRead: true)
    }

    /// The asynchronous hook refused a provisionally verified client (or
    /// threw): the session is forgotten, the client gets a fatal alert, and
    /// the channel closes.
    ///
    /// TLS 1.2: the server's last flight (ChangeCipherSpec, Finished, any
    /// ticket) never leaves, so the client is still reading plaintext
    /// records and this handler sends the alert itself —
    /// `bad_certificate` when OpenSSL's verdict was a failure,
    /// `access_denied` when the hook refused a chain OpenSSL accepted,
    /// `internal_error` when the hook threw — exactly where a synchronous
    /// refusal would put it. TLS 1.3: the client finished its handshake
    /// before sending its certificate, and only OpenSSL can encrypt an alert
    /// to it; OpenSSL 3.0 offers no call to send one, so the handler makes
    /// OpenSSL fail the connection on a record it must refuse, which it
    /// answers with an encrypted fatal `unexpected_message` alert.
    private func refuseProvisionalHandshake(context: ChannelHandlerContext, verification: PeerVerification) {
        connection.removeSessionFromCache()
        let error: SSLError = asyncHookError.map { SSLError.callback($0) } ?? Self.rejection(role: "client")
        asyncHookError = nil
        connection.discardUnreadCiphertext()
        if let version = connection.protocolVersion, [.tls1, .tls1_1, .tls1_2].contains(version) {
            connection.discardPendingCiphertext()
            var description: UInt8 = verification.error != nil ? 42 : 49  // bad_certificate, access_denied
            if case .callback = error { description = 80 }  // internal_error
            let legacy = UInt16(truncatingIfNeeded: version.rawValue)
            var alert = context.channel.allocator.buffer(capacity: 7)
            alert.writeBytes([0x15, UInt8(legacy >> 8), UInt8(legacy & 0xFF), 0x00, 0x02, 0x02, description])
            context.writeAndFlush(wrapOutboundOut(alert), promise: nil)
        } else {
            // A plaintext record where only encrypted ones may come: OpenSSL's fatal alert.
            let bogus: [UInt8] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x2A]
            _ = bogus.withUnsafeBytes { bytes in
                Result { () throws(SSLError) in
                    try connection.withIncomingCiphertext(bytes) { () throws(SSLError) in
                        _ = try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { space throws(SSLError) in
                            try connection.read(into: space)
                        }
                    }
                }
            }
        }
        failHandshakeAndClose(context: context, error: error)
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
                    if let earlier = deferredCloseOutput.promise {
                        earlier.futureResult.cascade(to: promise)
                    } else {
                        deferredCloseOutput.promise = promise
                    }
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
    /// - Parameters:
    ///   - context: the client `Context` the connection is made from.
    ///   - serverHostname: the server's name or IP address: SNI and the host checked.
    ///   - closeTimeout: how long `close()` waits for the server's close_notify.
    ///   - verification: an asynchronous whole-chain hook (see
    ///     `OpenSSLAsyncPeerVerifier`): the handshake waits for its answer,
    ///     without blocking the event loop, and it takes the place of the
    ///     context's whole-chain hook on this connection.
    /// - Throws: `OpenSSLError` when the connection cannot be made or OpenSSL refuses the name.
    public init(
        context: Context, serverHostname: String?, closeTimeout: TimeAmount = .seconds(5),
        verification: OpenSSLAsyncPeerVerifier? = nil
    ) throws {
        let connection = try Connection(context)
        connection.setConnectState()
        if let serverHostname {
            try connection.setServerName(serverHostname)
            if context.verifyMode.contains(.peer) {
                try connection.setExpectedHost(serverHostname)
            }
        }
        try super.init(
            wrapping: connection, closeTimeout: closeTimeout,
            asyncHooks: verification.map { AsyncHookState(verifier: $0, certificateSelector: nil) })
    }

    /// A client over a memory-BIO connection you made and configured
    /// yourself (a session to resume, per-connection ALPN, a host name).
    /// It must be new: no handshake started, no I/O done. `verification` as
    /// in `init(context:serverHostname:closeTimeout:verification:)`.
    /// - Throws: `SSLError.usage` for a connection that is not over memory BIOs.
    public init(
        connection: Connection, closeTimeout: TimeAmount = .seconds(5),
        verification: OpenSSLAsyncPeerVerifier? = nil
    ) throws {
        try OpenSSLHandler.requireMemoryBIOs(connection)
        connection.setConnectState()
        try super.init(
            wrapping: connection, closeTimeout: closeTimeout,
            asyncHooks: verification.map { AsyncHookState(verifier: $0, certificateSelector: nil) })
    }
}

/// The server side: `OpenSSLServerHandler(context:)` where
/// `NIOSSLServerHandler(context:)` was.
public final class OpenSSLServerHandler: OpenSSLHandler {
    /// A server over a new connection from `context`.
    /// - Parameters:
    ///   - context: the server `Context` the connection is made from.
    ///   - closeTimeout: how long `close()` waits for the client's close_notify.
    ///   - verification: an asynchronous whole-chain hook for client
    ///     certificates (see `OpenSSLAsyncPeerVerifier`), in place of the
    ///     context's whole-chain hook. OpenSSL 3.0 cannot suspend a server's
    ///     verification, so the handshake completes provisionally: until the
    ///     hook accepts, the application sees no `handshakeCompleted` event
    ///     and no plaintext, nothing it writes goes out, no TLS 1.3 session
    ///     ticket is sent, a TLS 1.2 handshake's last flight is held back, and
    ///     the session is out of the cache. A refusal (or a thrown error)
    ///     sends the client a fatal alert, forgets the session and closes the
    ///     channel (Docs/nio.md says which alert).
    ///   - certificateSelector: chooses the certificate to present, from the
    ///     server name the client asked for, while the handshake waits
    ///     (OpenSSL's certificate callback, suspended and resumed).
    /// - Throws: `OpenSSLError` when the connection cannot be made.
    public init(
        context: Context, closeTimeout: TimeAmount = .seconds(5),
        verification: OpenSSLAsyncPeerVerifier? = nil,
        certificateSelector: OpenSSLAsyncCertificateSelector? = nil
    ) throws {
        let connection = try Connection(context)
        connection.setAcceptState()
        try super.init(
            wrapping: connection, closeTimeout: closeTimeout,
            asyncHooks: Self.hooks(verification, certificateSelector))
    }

    /// A server over a memory-BIO connection you made and configured yourself.
    /// It must be new: no handshake started, no I/O done. The hooks as in
    /// `init(context:closeTimeout:verification:certificateSelector:)`.
    /// - Throws: `SSLError.usage` for a connection that is not over memory BIOs.
    public init(
        connection: Connection, closeTimeout: TimeAmount = .seconds(5),
        verification: OpenSSLAsyncPeerVerifier? = nil,
        certificateSelector: OpenSSLAsyncCertificateSelector? = nil
    ) throws {
        try OpenSSLHandler.requireMemoryBIOs(connection)
        connection.setAcceptState()
        try super.init(
            wrapping: connection, closeTimeout: closeTimeout,
            asyncHooks: Self.hooks(verification, certificateSelector))
    }

    private static func hooks(
        _ verification: OpenSSLAsyncPeerVerifier?,
        _ selector: OpenSSLAsyncCertificateSelector?
    ) -> AsyncHookState? {
        verification == nil && selector == nil ? nil : AsyncHookState(verifier: verification, certificateSelector: selector)
    }
}

extension OpenSSLHandler {
    static func requireMemoryBIOs(_ connection: Connection) throws(SSLError) {
        // A connection over memory BIOs lends ciphertext; any other refuses with `.usage`.
        _ = try connection.withIncomingCiphertext(UnsafeRawBufferPointer(start: nil, count: 0)) {}
    }
}

/// Stands for an asynchronous certificate selector's error inside OpenSSL's
/// certificate callback; the handler reports the selector's own error.
struct AsyncSelectionFailed: Error {}
