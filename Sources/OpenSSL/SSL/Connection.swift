import Foundation
internal import COpenSSL

/// One TLS connection (OpenSSL's `SSL`), the counterpart of pyOpenSSL's
/// `SSL.Connection`.
///
/// Three ways to drive it:
/// - `Connection(context)`: memory BIOs. You move ciphertext yourself with
///   `bioRead(into:)` and `bioWrite(_:)` — how an event loop drives TLS.
/// - `Connection(context, transport:)` with a transport that offers a file
///   descriptor (`TCPSocket`): OpenSSL reads and writes the descriptor
///   itself, with no Swift on the byte path. Blocking and non-blocking.
/// - `Connection(context, transport:)` with any other `Transport`: bridged
///   through one custom BIO.
///
/// I/O calls throw `SSLError` (typed throws). A `want…` error means "try
/// again after I/O"; an error thrown by your callback or transport comes
/// out as `.callback(thatError)` / `.transport(thatError)`, from the call
/// that drove OpenSSL into it, on this connection only.
///
/// Not `Sendable`: one thread drives a connection at a time.
public final class Connection {
    enum IO {
        /// Memory BIOs: one custom BIO over the connection's own ciphertext
        /// buffers (see CiphertextBuffers.swift). The SSL holds one reference
        /// to `bio` (as both its read and write BIO), the Connection another,
        /// so `buffers` stays valid for the Connection's whole life.
        case memory(buffers: UnsafeMutablePointer<CiphertextBuffers>, bio: OpaquePointer)
        /// OpenSSL uses the descriptor; `transport` is kept alive and asked whether it blocks.
        case descriptor(any Transport)
        /// A Swift transport through the custom BIO.
        case bridged(TransportBridge)
    }

    let handle: OwnedPointer<SSLKind>
    var raw: OpaquePointer { handle.raw }
    let io: IO
    /// `io`'s memory buffers and bridge, read without matching the enum:
    /// on the hot path a match copies `io` through an outlined copy function.
    let memoryBuffers: UnsafeMutablePointer<CiphertextBuffers>?
    let transportBridge: TransportBridge?

    /// The context the connection uses now (it changes with `setContext(_:)`).
    public internal(set) var context: Context
    /// The per-certificate verify callback pinned on this connection (the
    /// context's when it was made, or one set with `setVerify`).
    var verifyCallback: Context.VerifyCallback?
    /// The whole-chain hook pinned on this connection.
    var peerVerifier: Context.PeerVerifier?
    /// An error thrown by a callback during the current OpenSSL call.
    var callbackError: (any Error)?
    /// The decision given with `setVerificationDecision(_:)` after `wantRetryVerify`.
    var pendingDecision: Bool?
    /// Set while the whole-chain hook's `.decideLater` waits for a decision:
    /// driving the handshake again without one re-arms the wait without
    /// running the hook (or the chain verification) a second time.
    var awaitingDecision = false
    /// Set from the context's `verifiesHostnames`: a client connection then
    /// refuses to handshake until a host is named (see `refuseUnnamedHost`).
    var expectsHost = false
    /// What the application set on this connection itself, which a context
    /// switch keeps (everything else follows the context switched to).
    var pinnedVerification = PinnedVerification()
    /// The feature callbacks pinned on this connection (see `CallbackSet`).
    var callbacks: CallbackSet
    /// The context the connection was made from. OpenSSL keeps using its
    /// SSL_CTX for the session cache after a context switch, so the Context
    /// (whose app data that SSL_CTX points to) must live as long as we do.
    let originalContext: Context
    /// The first DTLS retransmission timeout, when set with `setRetransmissionTimeout(initial:)`.
    var dtlsInitialTimeoutMicroseconds: UInt32?

    /// Set when `read` answered `.wantRead` without calling OpenSSL (see
    /// `read(into:)`), so `wantsRead` still says what SSL_read would have
    /// left behind; cleared by the next call into OpenSSL.
    var readWouldBlock = false

    /// Set when a call failed for good (a fatal alert, an I/O error, an
    /// error thrown by a callback or the transport): `closeGracefully` then
    /// sends no close_notify, so the session is not kept for resumption.
    var hasFailed = false
    /// True once `removeSessionFromCache()` took this connection's session
    /// out of the cache (OpenSSL then marks it not resumable).
    var sessionTakenFromCache = false

    /// The transport the connection was made with (pyOpenSSL's
    /// `get_socket`): the `TCPSocket`, `UDPSocket` or your own `Transport`
    /// — for instance to shut its sending side down after `shutdown()`
    /// (`sock_shutdown`). Nil for a connection over memory BIOs.
    public var transport: (any Transport)? {
        switch io {
        case .memory: return nil
        case .descriptor(let transport): return transport
        case .bridged(let bridge): return bridge.transport
        }
    }

    /// A slot for the application's own data (pyOpenSSL's `set_app_data`).
    public var userInfo: Any?

    /// A connection over memory BIOs: you move the ciphertext with
    /// `bioRead(into:)` / `bioWrite(_:)`.
    ///
    /// The "memory BIOs" are one custom BIO over two buffers the connection
    /// owns (not two `BIO_s_mem`): they start small, grow to the largest
    /// burst and are reused, so reads, writes and the `bio…` calls allocate
    /// nothing in steady state. Code that reaches the BIO through
    /// `withUnsafeOpenSSLPointer` must not use `BIO_s_mem`-only calls on it.
    /// - Throws: `OpenSSLError` when OpenSSL cannot make the connection.
    /// - SeeAlso: SSL_new(3), BIO_meth_new(3)
    public convenience init(_ context: Context) throws {
        let ssl = try ErrorQueue.call("make TLS connection") { SSL_new(context.raw) }
        let made: (bio: OpaquePointer, buffers: UnsafeMutablePointer<CiphertextBuffers>)
        do {
            made = try CiphertextBuffers.makeBIO()
        } catch {
            SSL_free(ssl)
            throw error
        }
        // One reference for the SSL (SSL_set_bio takes one when the read and
        // write BIO are the same), one kept by the Connection (freed in deinit).
        BIO_up_ref(made.bio)
        SSL_set_bio(ssl, made.bio, made.bio)
        // DTLS: the buffers keep datagram boundaries (one datagram per
        // bioRead/bioWrite), as a UDP socket would.
        made.buffers.pointee.isDatagram = context.isDTLS
        // The context's "release buffers while idle" mode covers our queues too.
        made.buffers.pointee.releaseWhenDrained = (cossl_SSL_get_mode(ssl) & Int(SSL_MODE_RELEASE_BUFFERS)) != 0
        // Read-ahead: a record is read in one BIO call, not its header and
        // then its body (-2 % instructions per small round trip). Its one
        // drawback, bytes after close_notify being consumed, cannot show
        // here: nothing hands the incoming buffer back. (DTLS ignores it.)
        SSL_set_read_ahead(ssl, 1)
        self.init(ssl: ssl, context: context, io: .memory(buffers: made.buffers, bio: made.bio))
    }

    /// A connection over a transport: through its file descriptor when it
    /// has one (OpenSSL then does the I/O itself), else through the custom BIO.
    /// From a DTLS context, a descriptor (a `UDPSocket`) gets a datagram BIO,
    /// which keeps datagram boundaries and runs DTLS's timers on the socket.
    ///
    /// A write to a peer that has gone fails with EPIPE (`SSLError.sysCall`)
    /// and never raises SIGPIPE: the descriptor's BIO sends with
    /// `MSG_NOSIGNAL`, so the process's signal dispositions are left alone.
    /// - Throws: `OpenSSLError` when OpenSSL cannot make the connection.
    /// - SeeAlso: SSL_set_bio(3), send(2)
    public convenience init(_ context: Context, transport: any Transport) throws {
        let ssl = try ErrorQueue.call("make TLS connection") { SSL_new(context.raw) }
        if let descriptor = transport.fileDescriptor, context.isDTLS {
            // Datagrams: a datagram BIO keeps record boundaries and handles
            // DTLS's timeouts and MTU queries on the socket.
            let bio: OpaquePointer
            do {
                bio = try DatagramBIO.make(descriptor: descriptor)
            } catch {
                SSL_free(ssl)
                throw error
            }
            SSL_set_bio(ssl, bio, bio)
            self.init(ssl: ssl, context: context, io: .descriptor(transport))
        } else if let descriptor = transport.fileDescriptor {
            // OpenSSL does the I/O on the descriptor, through a socket BIO
            // that sends with MSG_NOSIGNAL (SocketBIO.swift): no SIGPIPE.
            let bio: OpaquePointer
            do {
                bio = try SocketBIO.make(descriptor: descriptor)
            } catch {
                SSL_free(ssl)
                throw error
            }
            SSL_set_bio(ssl, bio, bio)
            self.init(ssl: ssl, context: context, io: .descriptor(transport))
        } else {
            let bridge: TransportBridge
            do {
                bridge = try TransportBridge(transport)
            } catch {
                SSL_free(ssl)
                throw error
            }
            // The bridge's one BIO reference goes to the SSL (used for both directions).
            SSL_set_bio(ssl, bridge.bio, bridge.bio)
            self.init(ssl: ssl, context: context, io: .bridged(bridge))
        }
    }

    private init(ssl: OpaquePointer, context: Context, io: IO) {
        handle = OwnedPointer(takingOwnership: ssl)
        self.io = io
        switch io {
        case .memory(let buffers, _): (memoryBuffers, transportBridge) = (buffers, nil)
        case .bridged(let bridge): (memoryBuffers, transportBridge) = (nil, bridge)
        case .descriptor: (memoryBuffers, transportBridge) = (nil, nil)
        }
        self.context = context
        originalContext = context
        let pinned = context.state.withLock { ($0.verifyCallback, $0.peerVerifier, $0.verifiesHostnames, $0.callbacks) }
        verifyCallback = pinned.0
        peerVerifier = pinned.1
        expectsHost = pinned.2
        callbacks = pinned.3
        context.markInUse()
        // Callbacks find this object through the SSL's app-data slot. The
        // connection owns the SSL, so the SSL never outlives it.
        _ = cossl_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
        if callbacks.info != nil { SSL_set_info_callback(ssl, infoTrampoline) }
        ErrorQueue.clear()
    }

    deinit {
        // The SSL is freed right after this, with `handle`, unless code that
        // borrowed it through `withUnsafeOpenSSLPointer` took a reference of
        // its own (`SSL_up_ref`). Such an SSL must not call back into this
        // object: every trampoline finds its Connection through the app data,
        // and answers as if no callback were set when there is none.
        _ = cossl_SSL_set_app_data(raw, nil)
        // Our reference to the memory BIO; the SSL holds the other, and the
        // last one frees the buffers.
        if case .memory(_, let bio) = io { BIO_free(bio) }
    }

    /// The Connection whose SSL this is.
    static func from(_ ssl: OpaquePointer) -> Connection? {
        guard let pointer = cossl_SSL_get_app_data(ssl) else { return nil }
        return Unmanaged<Connection>.fromOpaque(pointer).takeUnretainedValue()
    }

    // MARK: Roles and handshake

    /// Makes this connection the client side.
    /// - SeeAlso: SSL_set_connect_state(3)
    public func setConnectState() {
        SSL_set_connect_state(raw)
    }

    /// Makes this connection the server side.
    /// - SeeAlso: SSL_set_accept_state(3)
    public func setAcceptState() {
        SSL_set_accept_state(raw)
    }

    /// True for the server side.
    public var isServer: Bool { SSL_is_server(raw) == 1 }

    /// Runs (or continues) the handshake.
    /// - Throws: `SSLError`: `.wantRead`/`.wantWrite` when it needs I/O to
    ///   go on (memory BIOs, non-blocking sockets); `.wantRetryVerify` when
    ///   the verification hook decided later; `.ssl` with OpenSSL's reason
    ///   ("certificate verify failed", "unsupported protocol", …);
    ///   `.callback`/`.transport` for errors thrown by your code.
    /// - SeeAlso: SSL_do_handshake(3)
    public func doHandshake() throws(SSLError) {
        try refuseUnnamedHost("handshake")
        _ = try drive("handshake") { SSL_do_handshake(raw) }
    }

    /// A client connection from a context that verifies host names must not
    /// run a handshake before a host is named: it would accept a certificate
    /// for any host from a trusted root. Every call that can drive a
    /// handshake (`doHandshake`, `read`, `peek`, `write`) asks this first,
    /// so the refusal is a clear `.usage` error; the verification trampoline
    /// refuses the same way for handshakes started where no entry point can
    /// see them (see `runPeerVerification`).
    @inline(__always)
    func refuseUnnamedHost(_ operation: StaticString) throws(SSLError) {
        if expectsHost, SSL_is_init_finished(raw) == 0, !isServer, !hasExpectedHost {
            throw .usage(Connection.unnamedHostMessage(operation))
        }
    }

    static func unnamedHostMessage(_ operation: StaticString) -> String {
        "\(operation): this client context verifies host names; call setServerName(_:) or setExpectedHost(_:) first"
    }

    /// True once a handshake has completed.
    /// - SeeAlso: SSL_is_init_finished(3)
    public var isHandshakeDone: Bool { SSL_is_init_finished(raw) == 1 }

    // MARK: Reading and writing

    /// Reads decrypted bytes into `buffer`; returns how many (at least 1).
    /// Never writes past `buffer.count`.
    ///
    /// Over memory BIOs, when OpenSSL holds nothing (`SSL_has_pending`) and
    /// no ciphertext waits to be read, after the handshake and before the
    /// peer's close_notify, this throws `.wantRead` without calling
    /// `SSL_read`: that call could only say "want read" (it costs about 5 %
    /// of a small round trip). The outcome is the same as OpenSSL's.
    /// - Throws: `SSLError`: `.wantRead` when no whole record is available
    ///   yet; `.zeroReturn` when the peer closed cleanly; `.sysCall` with
    ///   `isUnexpectedEOF` when it hung up without close_notify.
    /// - SeeAlso: SSL_read_ex(3), SSL_has_pending(3)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SSLError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        if memoryBuffers != nil, !hasReadableInput {
            readWouldBlock = true
            throw .wantRead
        }
        try refuseUnnamedHost("read")
        var count = 0
        _ = try drive("read") { SSL_read_ex(raw, base, buffer.count, &count) }
        return count
    }

    /// False when a `read` now can only answer `.wantRead`: over memory
    /// BIOs, no ciphertext waits (queued or lent), OpenSSL holds no
    /// decrypted or buffered bytes, the handshake is done and the peer has
    /// not closed. An event loop asks it before making room for another
    /// record's plaintext. Always true on other transports (only a read can tell).
    @inline(__always)
    public var hasReadableInput: Bool {
        guard let buffers = memoryBuffers else { return true }
        return !(buffers.pointee.hasNoInput && !buffers.pointee.endOfInput && canOnlyWantRead)
    }

    /// True when, with no ciphertext to read, `SSL_read` could do nothing but
    /// answer "want read": no decrypted or buffered record bytes, handshake
    /// finished and no renegotiation about to start (either would write),
    /// and no close_notify received (that read answers zero-return).
    @inline(__always)
    private var canOnlyWantRead: Bool {
        SSL_has_pending(raw) == 0
            && SSL_is_init_finished(raw) == 1
            && SSL_renegotiate_pending(raw) == 0
            && (SSL_get_shutdown(raw) & SSL_RECEIVED_SHUTDOWN) == 0
    }

    /// Reads at most `count` decrypted bytes into the start of `buffer`
    /// (pyOpenSSL's `recv_into(buffer, nbytes)`); returns how many.
    /// - Throws: as `read(into:)`; `.usage` when `count` is negative or
    ///   larger than `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer, count: Int) throws(SSLError) -> Int {
        guard count >= 0, count <= buffer.count else {
            throw .usage("read: count \(count) is outside the \(buffer.count)-byte buffer")
        }
        return try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<count]))
    }

    /// Reads up to `max` decrypted bytes.
    /// - Throws: as `read(into:)`.
    public func read(max: Int) throws(SSLError) -> [UInt8] {
        guard max > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: max)
        let count = try out.withUnsafeMutableBytes { buffer in Result { () throws(SSLError) in try read(into: buffer) } }.get()
        out.removeSubrange(count...)
        return out
    }

    /// Reads into an array's storage; returns how many bytes were read.
    public func read(into buffer: inout [UInt8]) throws(SSLError) -> Int {
        try buffer.withUnsafeMutableBytes { bytes in Result { () throws(SSLError) in try read(into: bytes) } }.get()
    }

    /// Copies decrypted bytes into `buffer` without consuming them: the next read returns them again.
    /// - Throws: as `read(into:)`.
    /// - SeeAlso: SSL_peek_ex(3)
    public func peek(into buffer: UnsafeMutableRawBufferPointer) throws(SSLError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        try refuseUnnamedHost("peek")
        var count = 0
        _ = try drive("peek") { SSL_peek_ex(raw, base, buffer.count, &count) }
        return count
    }

    /// Peeks at up to `max` decrypted bytes without consuming them.
    public func peek(max: Int) throws(SSLError) -> [UInt8] {
        guard max > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: max)
        let count = try out.withUnsafeMutableBytes { buffer in Result { () throws(SSLError) in try peek(into: buffer) } }.get()
        out.removeSubrange(count...)
        return out
    }

    /// Encrypts and sends bytes from `buffer`; returns how many were taken,
    /// which may be fewer than `buffer.count` (partial writes are on by default).
    /// After `.wantWrite`, call again with the same bytes (the buffer may
    /// move unless `acceptMovingWriteBuffer` was cleared).
    /// - Throws: `SSLError` (`.wantWrite`, `.sysCall` with EPIPE when the peer is gone, …).
    /// - SeeAlso: SSL_write_ex(3)
    public func write(_ buffer: UnsafeRawBufferPointer) throws(SSLError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        try refuseUnnamedHost("write")
        var count = 0
        _ = try drive("write") { SSL_write_ex(raw, base, buffer.count, &count) }
        return count
    }

    /// Sends bytes from an array; returns how many were taken.
    public func write(_ bytes: [UInt8]) throws(SSLError) -> Int {
        try bytes.withUnsafeBytes { buffer in Result { () throws(SSLError) in try write(buffer) } }.get()
    }

    /// Sends all of `buffer`, writing again after partial writes.
    /// - Throws: `SSLError`; on a non-blocking transport `.wantWrite` may
    ///   come after part of the data was sent (use `write` there).
    public func writeAll(_ buffer: UnsafeRawBufferPointer) throws(SSLError) {
        var offset = 0
        while offset < buffer.count {
            offset += try write(UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
    }

    /// Sends all of `bytes`.
    public func writeAll(_ bytes: [UInt8]) throws(SSLError) {
        try bytes.withUnsafeBytes { buffer in Result { () throws(SSLError) in try writeAll(buffer) } }.get()
    }

    /// Decrypted bytes buffered and readable now without more ciphertext.
    /// - SeeAlso: SSL_pending(3)
    public var pending: Int { Int(SSL_pending(raw)) }

    /// True when OpenSSL is waiting to read.
    /// - SeeAlso: SSL_want_read(3)
    public var wantsRead: Bool { readWouldBlock || cossl_SSL_want_read(raw) == 1 }

    /// True when OpenSSL is waiting to write.
    /// - SeeAlso: SSL_want_write(3)
    public var wantsWrite: Bool { cossl_SSL_want_write(raw) == 1 }

    // MARK: Shutdown

    /// Sends close_notify (first call) and, once the peer's has arrived,
    /// completes the shutdown. Returns true when the shutdown is complete
    /// (both sides sent close_notify), false when this side has sent its own
    /// and the peer's is still to come.
    /// - Throws: `SSLError` (`.wantRead` while waiting over memory BIOs,
    ///   `.sysCall` with EPIPE when the peer is gone, …).
    /// - SeeAlso: SSL_shutdown(3)
    @discardableResult
    public func shutdown() throws(SSLError) -> Bool {
        let result = try drive("shutdown", success: { $0 >= 0 }) { SSL_shutdown(raw) }
        return result == 1
    }

    /// Which close_notify alerts have been sent and received.
    /// - SeeAlso: SSL_get_shutdown(3)
    public var shutdownState: ShutdownState { ShutdownState(rawValue: SSL_get_shutdown(raw)) }

    /// Overrides the shutdown state (pyOpenSSL's `set_shutdown`), e.g. to
    /// mark a connection as closed without sending close_notify.
    /// - SeeAlso: SSL_set_shutdown(3)
    public func setShutdownState(_ state: ShutdownState) {
        SSL_set_shutdown(raw, state.rawValue)
    }

    // MARK: Memory BIOs

    /// Moves ciphertext OpenSSL wants to send into `buffer`; returns how many bytes.
    /// A copy from the connection's buffer: no OpenSSL call, no allocation.
    ///
    /// On a DTLS connection each call returns exactly one datagram, whole
    /// (`pendingCiphertext` says how long the next one is), so each result
    /// can be sent as one UDP datagram.
    /// - Throws: `.wantRead` when there is nothing to send; `.usage` on a
    ///   connection that is not over memory BIOs, and on DTLS when `buffer`
    ///   is shorter than the next datagram (nothing is taken then).
    public func bioRead(into buffer: UnsafeMutableRawBufferPointer) throws(SSLError) -> Int {
        guard let buffers = memoryBuffers else { throw .usage("bioRead: this connection is not over memory BIOs") }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let pending = buffers.pointee.pendingOutgoing
        guard let source = pending.baseAddress, pending.count > 0 else { throw .wantRead }
        if buffers.pointee.isDatagram, pending.count > buffer.count {
            throw .usage(
                "bioRead: the next datagram is \(pending.count) bytes, longer than the \(buffer.count)-byte buffer (pendingCiphertext gives its length)"
            )
        }
        let count = Swift.min(pending.count, buffer.count)
        base.copyMemory(from: source, byteCount: count)
        buffers.pointee.consumeOutgoing(count)
        return count
    }

    /// Hands the ciphertext OpenSSL wants to send to `body` in place,
    /// without copying it into a buffer of yours first; `body` returns how
    /// many bytes it took (from the start), and those are consumed. The
    /// zero-copy form of `bioRead(into:)`: write them straight to a socket,
    /// or `bioWrite` them into a peer in the same process.
    ///
    /// `body` gets an empty buffer when nothing is waiting (and on a
    /// connection that is not over memory BIOs). It must not use this
    /// connection: the bytes live in the connection's own buffer. On a DTLS
    /// connection `body` gets one datagram (the rest of it, when an earlier
    /// call took only part).
    /// - Returns: what `body` returned.
    /// - Throws: what `body` throws; then nothing is consumed.
    /// - Precondition: `body` returns a count from 0 to the buffer's count.
    @discardableResult
    public func withPendingCiphertext<E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> Int) throws(E) -> Int {
        guard let buffers = memoryBuffers else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let pending = buffers.pointee.pendingOutgoing
        let taken = try body(pending)
        precondition(taken >= 0 && taken <= pending.count, "withPendingCiphertext: took \(taken) of \(pending.count) bytes")
        buffers.pointee.consumeOutgoing(taken)
        return taken
    }

    /// Moves up to `max` bytes of ciphertext OpenSSL wants to send. The
    /// array is exactly as large as what it holds (a pump asking for 64 KiB
    /// at a time does not leave 64 KiB arrays behind).
    /// - Throws: as `bioRead(into:)`.
    public func bioRead(max: Int) throws(SSLError) -> [UInt8] {
        guard max > 0 else { return [] }
        let size = Swift.min(max, pendingCiphertext)
        // Nothing waiting: the same answer as bioRead(into:), without an allocation.
        guard size > 0 else {
            throw memoryBuffers == nil ? .usage("bioRead: this connection is not over memory BIOs") : .wantRead
        }
        var out = [UInt8](repeating: 0, count: size)
        let count = try out.withUnsafeMutableBytes { buffer in Result { () throws(SSLError) in try bioRead(into: buffer) } }.get()
        if count < size { out.removeSubrange(count...) }
        return out
    }

    /// Hands ciphertext received from the peer to OpenSSL; returns how many bytes were taken (all of them).
    /// A copy into the connection's buffer, which grows when needed. On a
    /// DTLS connection each call is one datagram, as received.
    /// - Throws: `.usage` on a connection that is not over memory BIOs;
    ///   `.sysCall(errno: ENOMEM, …)` when the buffer cannot grow.
    @discardableResult
    public func bioWrite(_ buffer: UnsafeRawBufferPointer) throws(SSLError) -> Int {
        guard let buffers = memoryBuffers else { throw .usage("bioWrite: this connection is not over memory BIOs") }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        // Lent ciphertext (withIncomingCiphertext) comes before these bytes: queue it first.
        guard buffers.pointee.endBorrowing() else {
            throw .sysCall(errno: ENOMEM, OpenSSLError(operation: "bioWrite", detail: "out of memory keeping lent ciphertext"))
        }
        guard buffers.pointee.appendIncoming(base, count: buffer.count) else {
            throw .sysCall(errno: ENOMEM, OpenSSLError(operation: "bioWrite", detail: "out of memory for \(buffer.count) bytes"))
        }
        return buffer.count
    }

    /// Hands ciphertext received from the peer to OpenSSL.
    @discardableResult
    public func bioWrite(_ bytes: [UInt8]) throws(SSLError) -> Int {
        try bytes.withUnsafeBytes { buffer in Result { () throws(SSLError) in try bioWrite(buffer) } }.get()
    }

    /// Tells OpenSSL the peer's byte stream has ended: once the ciphertext
    /// already given is read, reads see EOF instead of `wantRead` (as
    /// `BIO_set_mem_eof_return(bio, 0)` does for a `BIO_s_mem`).
    /// - Throws: `.usage` on a connection that is not over memory BIOs.
    public func bioShutdown() throws(SSLError) {
        guard let buffers = memoryBuffers else { throw .usage("bioShutdown: this connection is not over memory BIOs") }
        buffers.pointee.endOfInput = true
    }

    /// Ciphertext waiting to be taken with `bioRead` (0 on other
    /// transports); on DTLS, the length of the next datagram.
    public var pendingCiphertext: Int {
        guard let buffers = memoryBuffers else { return 0 }
        return buffers.pointee.pendingOutgoing.count
    }

    // MARK: The engine

    /// Runs one OpenSSL I/O call: clears the queue and any stale callback
    /// error, runs it (again after EINTR on a blocking descriptor), and turns
    /// a failure into the right `SSLError` — a callback's or transport's own
    /// error first.
    @inline(__always)
    func drive(
        _ operation: StaticString, success: (Int32) -> Bool = { $0 > 0 },
        _ call: () -> Int32
    ) throws(SSLError) -> Int32 {
        readWouldBlock = false
        while true {
            ErrorQueue.clear()
            if callbackError != nil { callbackError = nil }
            if let transportBridge { _ = transportBridge.takeError() }  // a stale error never answers for this call
            // errno through libc directly (Glibc's `errno` property is a call into the overlay).
            #if canImport(Darwin)
            let errnoLocation: UnsafeMutablePointer<Int32>? = __error()
            #else
            let errnoLocation: UnsafeMutablePointer<Int32>? = __errno_location()
            #endif
            errnoLocation?.pointee = 0  // so a nonzero errno afterwards is this call's
            let result = call()
            let callErrno = errnoLocation?.pointee ?? 0
            if success(result) { return result }
            if let error = callbackError {
                callbackError = nil
                ErrorQueue.clear()
                if let refusal = error as? UnnamedHostRefusal { throw .usage(refusal.message) }
                hasFailed = true
                throw .callback(error)
            }
            let code = SSL_get_error(raw, result)
            if let transportBridge, let error = transportBridge.takeError() {
                // The transport's error is the cause only of an I/O failure; after a
                // protocol failure (the peer vanished, then the alert could not be
                // written) OpenSSL's own error is the one that explains it.
                if code == SSL_ERROR_SYSCALL {
                    ErrorQueue.clear()
                    hasFailed = true
                    throw .transport(error)
                }
            }
            let error = SSLError.from(code: code, result: result, errno: callErrno, operation: "\(operation)")
            if case .descriptor(let transport) = io, callErrno == EINTR, transport.isBlockingDescriptor {
                switch error {
                case .wantRead, .wantWrite: continue
                default: break
                }
            }
            if code == SSL_ERROR_SSL || code == SSL_ERROR_SYSCALL { hasFailed = true }
            throw error
        }
    }

    /// Calls `body` with the underlying `SSL *`. Valid only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}
