#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import Dispatch

/// A TCP socket (IPv4 or IPv6): a listening socket that accepts
/// connections, or a connected stream to use as a `Transport`.
///
/// A `Connection` over a `TCPSocket` hands its descriptor to OpenSSL
/// (`SSL_set_fd`), so the TLS bytes never pass through Swift; `read(into:)`
/// and `write(_:)` are for plain-text use and tests.
///
/// Blocking by default. With `setBlocking(false)`, reads and writes that
/// cannot progress return nil; `waitReadable`/`waitWritable` wait for the
/// socket to be ready. Writes never raise SIGPIPE: writing to a peer that has
/// gone throws `SocketError` with `EPIPE` or `ECONNRESET`.
///
/// Descriptors are created close-on-exec, so child processes do not inherit
/// them. The socket is closed by `close()` or when the object goes away.
/// Closing while another thread is blocked in a call on the same socket is a
/// race on the descriptor: call `shutdown(.both)` first to wake it.
public final class TCPSocket: Transport, Sendable {
    /// The descriptor, or -1 once closed. Atomic so `close()` is idempotent
    /// from any thread.
    private let descriptor: Atomic<Int32>

    /// How many `accept(timeout:)` calls have made the listener
    /// non-blocking for their accept, and the mode to restore when the last
    /// one is done (see `withNonBlockingAccept`).
    private let acceptMode = Mutex(AcceptMode())

    /// Adopts `descriptor`, an open stream socket; the `TCPSocket` closes it.
    /// - SeeAlso: socket(2)
    public init(adoptingDescriptor descriptor: Int32) {
        self.descriptor = Atomic(descriptor)
        Self.disableSIGPIPE(descriptor)
    }

    deinit {
        close()
    }

    // MARK: Opening

    /// Connects to `host` (a name or a numeric IPv4/IPv6 address) on `port`,
    /// trying each address the resolver returns, in order, until one accepts.
    ///
    /// An address that fails — refused, unreachable, or timed out by the
    /// kernel (its connection requests went unanswered) — is followed by the
    /// next one; only `timeout` passing ends the attempt early.
    ///
    /// - Parameters:
    ///   - host: A host name or a numeric IPv4/IPv6 address.
    ///   - port: The TCP port.
    ///   - timeout: the longest the whole attempt may take, name
    ///     resolution and all addresses together; nil waits as long as the
    ///     system does. With a timeout, a name (not a numeric address) is
    ///     resolved on a separate thread, and the call stops waiting for it at
    ///     the deadline: a resolver that hangs (an unanswering DNS server)
    ///     then costs that thread, not the caller; it finishes, and frees what
    ///     it found, whenever the resolver returns.
    /// - Returns: a connected, blocking socket.
    /// - Throws: `SocketError`: the resolver's failure (`resolverCode`), or
    ///   the last address's failure (`ECONNREFUSED`, `ENETUNREACH`,
    ///   `ETIMEDOUT` from the kernel…), or `ETIMEDOUT` when `timeout` passed
    ///   (while resolving: with the message "name resolution did not finish
    ///   in time"); `EAGAIN` when no thread could be started to resolve.
    /// - SeeAlso: getaddrinfo(3), connect(2)
    public static func connect(host: String, port: UInt16, timeout: Duration? = nil) throws -> TCPSocket {
        try connect(host: host, port: port, timeout: timeout, seams: .system)
    }

    /// What `connect(host:port:timeout:)` does that tests replace: the
    /// name lookup, and a hook on each new socket before it connects.
    struct ConnectSeams: Sendable {
        /// Resolves `host` and `port` to addresses, in order; may block.
        var resolve: @Sendable (_ host: String, _ port: UInt16, _ operation: String) throws(SocketError) -> [SocketAddress]
        /// Called with each new socket's descriptor before it connects.
        var prepare: @Sendable (_ fd: Int32) -> Void = { _ in }

        /// getaddrinfo, and nothing done to the sockets.
        static let system = ConnectSeams(resolve: { host, port, operation throws(SocketError) in
            try TCPSocket.resolve(host: host, port: port, passive: false, operation: operation)
        })
    }

    static func connect(host: String, port: UInt16, timeout: Duration?, seams: ConnectSeams) throws(SocketError) -> TCPSocket {
        let operation = "connect to \(Self.format(host: host)):\(port)"
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let addresses = try resolve(host: host, port: port, deadline: deadline, operation: operation, lookup: seams.resolve)
        var lastError = SocketError(operation: operation, errno: EADDRNOTAVAIL)
        for (index, address) in addresses.enumerated() {
            let fd: Int32
            do {
                fd = try openSocket(family: address.family, operation: operation)
            } catch {
                lastError = error
                continue
            }
            seams.prepare(fd)
            do {
                try connect(fd, to: address, deadline: deadline, operation: operation)
                return TCPSocket(adoptingDescriptor: fd)
            } catch {
                _ = systemClose(fd)
                lastError = error
                // Only our own deadline ends the attempt. The kernel's
                // ETIMEDOUT (no answer to the SYNs, without a timeout of
                // ours) is one address failing, like a refusal: try the next.
                if let deadline, ContinuousClock.now >= deadline {
                    if index < addresses.count - 1 { lastError = SocketError(operation: operation, errno: ETIMEDOUT) }
                    break
                }
            }
        }
        throw lastError
    }

    /// Opens a listening socket bound to `host` and `port`, with `SO_REUSEADDR`.
    ///
    /// - Parameters:
    ///   - host: the address to bind, numeric or a name; `"::1"` for IPv6
    ///     loopback, `""` for every interface.
    ///   - port: 0 picks a free ephemeral port; read it back from `localPort`.
    ///   - backlog: the queue of connections not yet accepted.
    /// - Throws: `SocketError` (`EADDRINUSE`, `EADDRNOTAVAIL`, a resolver failure…).
    /// - SeeAlso: bind(2), listen(2)
    public static func listen(host: String = "127.0.0.1", port: UInt16 = 0, backlog: Int32 = 64) throws -> TCPSocket {
        let operation = "listen on \(Self.format(host: host)):\(port)"
        var lastError = SocketError(operation: operation, errno: EADDRNOTAVAIL)
        for address in try resolve(host: host, port: port, passive: true, operation: operation) {
            let fd: Int32
            do {
                fd = try openSocket(family: address.family, operation: operation)
            } catch {
                lastError = error
                continue
            }
            var one: Int32 = 1
            let bound =
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
                && address.withSockaddr { systemBind(fd, $0, $1) } == 0
                && systemListen(fd, backlog) == 0
            if bound {
                return TCPSocket(adoptingDescriptor: fd)
            }
            lastError = SocketError(operation: operation, errno: errno)
            _ = systemClose(fd)
        }
        throw lastError
    }

    /// Waits for a connection on this listening socket and returns it.
    ///
    /// Interrupted waits (`EINTR`) are retried, and so is a connection the
    /// peer aborted before it was accepted.
    ///
    /// With a timeout, the call waits with `poll` and then accepts without
    /// blocking, so it returns by the deadline even when several threads
    /// accept on one listener and another takes the connection `poll`
    /// announced (it then goes back to waiting). For that moment the
    /// listener is non-blocking; `isBlocking` and `setBlocking(_:)` still
    /// report and set the mode you chose, and a concurrent `accept()` without
    /// a timeout on a blocking listener keeps waiting.
    ///
    /// - Parameter timeout: how long to wait; nil waits indefinitely.
    /// - Returns: the connected socket, blocking.
    /// - Throws: `SocketError` with `ETIMEDOUT` when `timeout` passed; with
    ///   `EAGAIN` when this socket is non-blocking, no timeout was given and
    ///   no connection is waiting; `EBADF` once closed.
    /// - SeeAlso: accept(2), poll(2)
    public func accept(timeout: Duration? = nil) throws -> TCPSocket {
        let fd = try liveDescriptor("accept")
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let deadline {
                guard try Self.poll(fd, events: Int16(POLLIN), deadline: deadline, operation: "accept") else {
                    throw SocketError(operation: "accept", errno: ETIMEDOUT)
                }
            }
            // accept4(SOCK_CLOEXEC) would close the window before FD_CLOEXEC
            // is set, but Swift's Glibc module does not export it.
            let (client, error): (Int32, Int32)
            if deadline == nil {
                client = systemAccept(fd, nil, nil)
                error = client < 0 ? errno : 0
            } else {
                // poll said a connection is waiting, but another thread may
                // take it first: a blocking accept would then wait for the
                // next connection, past the deadline or forever.
                (client, error) = try withNonBlockingAccept(fd) {
                    let client = systemAccept(fd, nil, nil)
                    return (client, client < 0 ? errno : 0)
                }
            }
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                #if !os(Linux)
                // BSD sockets inherit O_NONBLOCK from the listener; Linux's do not.
                let flags = fcntl(client, F_GETFL)
                if flags >= 0 { _ = fcntl(client, F_SETFL, flags & ~O_NONBLOCK) }
                #endif
                return TCPSocket(adoptingDescriptor: client)
            }
            if error == EINTR || error == ECONNABORTED { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                // With a deadline: someone else took it; wait again.
                if deadline != nil { continue }
                // Without one, on a listener meant to block that another
                // thread's accept(timeout:) made non-blocking for a moment:
                // wait as a blocking accept would.
                if wantsBlockingAccept(fd) {
                    _ = try Self.poll(fd, events: Int16(POLLIN), deadline: nil, operation: "accept")
                    continue
                }
            }
            throw SocketError(operation: "accept", errno: error)
        }
    }

    // MARK: State

    /// The descriptor OpenSSL uses directly (`SSL_set_fd`), or nil once closed.
    public var fileDescriptor: Int32? {
        let fd = descriptor.load(ordering: .acquiring)
        return fd >= 0 ? fd : nil
    }

    /// True once `close()` has run.
    public var isClosed: Bool {
        descriptor.load(ordering: .acquiring) < 0
    }

    /// The local port (the ephemeral one after `listen(port: 0)`), or 0 when
    /// closed or unknown.
    /// - SeeAlso: getsockname(2)
    public var localPort: UInt16 {
        guard let fd = fileDescriptor else { return 0 }
        return Self.endpoint(fd, { getsockname($0, $1, $2) })?.port ?? 0
    }

    /// The local address and port, `"127.0.0.1:8443"` or `"[::1]:8443"`, or
    /// nil when closed.
    /// - SeeAlso: getsockname(2)
    public var localAddress: String? {
        guard let fd = fileDescriptor else { return nil }
        return Self.endpoint(fd, { getsockname($0, $1, $2) })?.description
    }

    /// The peer's address and port, `"127.0.0.1:54321"` or `"[::1]:54321"`,
    /// or nil when not connected or closed.
    /// - SeeAlso: getpeername(2)
    public var remoteAddress: String? {
        guard let fd = fileDescriptor else { return nil }
        return Self.endpoint(fd, { getpeername($0, $1, $2) })?.description
    }

    /// Whether calls wait (true, the default) or return at once with nil
    /// when they cannot progress. False once closed.
    /// - SeeAlso: fcntl(2) `O_NONBLOCK`
    public var isBlocking: Bool {
        guard let fd = fileDescriptor else { return false }
        return wantsBlockingAccept(fd)
    }

    /// Makes the socket blocking or non-blocking.
    /// - Throws: `SocketError` when `fcntl` fails or the socket is closed.
    /// - SeeAlso: fcntl(2) `O_NONBLOCK`
    public func setBlocking(_ blocking: Bool) throws {
        let fd = try liveDescriptor("set blocking mode")
        try acceptMode.withLock { mode throws(SocketError) in
            if mode.users > 0 {
                // Applied when the accept(timeout:) calls in progress are done.
                mode.restoreBlocking = blocking
            } else {
                try Self.setBlocking(fd, blocking, operation: "set blocking mode")
            }
        }
    }

    /// Limits how long a blocking read waits; a read that times out throws
    /// `SocketError` with `ETIMEDOUT`. nil (or zero) waits indefinitely.
    /// - Throws: `SocketError` when the option cannot be set.
    /// - SeeAlso: setsockopt(2) `SO_RCVTIMEO`
    public func setReadTimeout(_ timeout: Duration?) throws {
        try setTimeout(SO_RCVTIMEO, timeout, operation: "set read timeout")
    }

    /// Limits how long a blocking write waits; a write that times out with
    /// nothing sent throws `SocketError` with `ETIMEDOUT`. nil (or zero)
    /// waits indefinitely.
    /// - Throws: `SocketError` when the option cannot be set.
    /// - SeeAlso: setsockopt(2) `SO_SNDTIMEO`
    public func setWriteTimeout(_ timeout: Duration?) throws {
        try setTimeout(SO_SNDTIMEO, timeout, operation: "set write timeout")
    }

    // MARK: Closing

    /// Which direction(s) `shutdown(_:)` ends.
    public enum ShutdownDirection: Sendable {
        /// No more reads: further reads return 0.
        case read
        /// No more writes: the peer reads end of stream (a TCP FIN).
        case write
        /// Both.
        case both
    }

    /// Ends one or both directions of the connection without closing the
    /// descriptor; also wakes a thread blocked reading from it (and, on
    /// Linux, one blocked in `accept` on a listening socket).
    /// - Throws: `SocketError` (`ENOTCONN` when not connected, `EBADF` once closed).
    /// - SeeAlso: shutdown(2)
    public func shutdown(_ how: ShutdownDirection) throws {
        let fd = try liveDescriptor("shutdown")
        let value: Int32
        switch how {
        case .read: value = Int32(SHUT_RD)
        case .write: value = Int32(SHUT_WR)
        case .both: value = Int32(SHUT_RDWR)
        }
        guard systemShutdown(fd, value) == 0 else {
            throw SocketError(operation: "shutdown", errno: errno)
        }
    }

    /// Closes the descriptor. Calling it again does nothing; `deinit` calls it.
    /// - SeeAlso: close(2)
    public func close() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        // Not retried on EINTR: the descriptor is released either way.
        if fd >= 0 { _ = systemClose(fd) }
    }

    // MARK: Bytes

    /// Reads what has arrived, up to `buffer.count` bytes.
    ///
    /// - Returns: the count read; 0 at end of stream (the peer closed or shut
    ///   down writing) or for an empty buffer; nil when the socket is
    ///   non-blocking and nothing has arrived.
    /// - Throws: `SocketError`: `ECONNRESET` and other failures; `ETIMEDOUT`
    ///   when a blocking socket's read timeout passed; `EBADF` once closed.
    ///   `EINTR` is retried.
    /// - SeeAlso: recv(2)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        let fd = try liveDescriptor("read")
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = recv(fd, base, buffer.count, 0)
            if count >= 0 { return count }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                if isBlocking { throw SocketError(operation: "read", errno: ETIMEDOUT) }
                return nil
            }
            throw SocketError(operation: "read", errno: error)
        }
    }

    /// Writes up to `buffer.count` bytes; the kernel may take fewer.
    ///
    /// - Returns: the count accepted; nil when the socket is non-blocking
    ///   and its send buffer is full.
    /// - Throws: `SocketError`: `EPIPE` or `ECONNRESET` when the peer has
    ///   gone (no SIGPIPE is raised); `ETIMEDOUT` when a blocking socket's
    ///   write timeout passed with nothing sent; `EBADF` once closed. `EINTR`
    ///   is retried.
    /// - SeeAlso: send(2) `MSG_NOSIGNAL`
    public func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? {
        let fd = try liveDescriptor("write")
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = send(fd, base, buffer.count, Self.sendFlags)
            if count >= 0 { return count }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                if isBlocking { throw SocketError(operation: "write", errno: ETIMEDOUT) }
                return nil
            }
            throw SocketError(operation: "write", errno: error)
        }
    }

    /// Waits until a read would not block (bytes, end of stream or an error
    /// are waiting), or until `timeout` passes.
    /// - Parameter timeout: nil waits indefinitely; zero only checks.
    /// - Returns: true when readable, false on timeout.
    /// - Throws: `SocketError` when `poll` fails or the socket is closed. `EINTR` is retried.
    /// - SeeAlso: poll(2)
    public func waitReadable(timeout: Duration?) throws -> Bool {
        let fd = try liveDescriptor("wait until readable")
        return try Self.poll(
            fd, events: Int16(POLLIN), deadline: timeout.map { ContinuousClock.now + $0 },
            operation: "wait until readable")
    }

    /// Waits until a write would not block (or would fail at once), or until
    /// `timeout` passes.
    /// - Parameter timeout: nil waits indefinitely; zero only checks.
    /// - Returns: true when writable, false on timeout.
    /// - Throws: `SocketError` when `poll` fails or the socket is closed. `EINTR` is retried.
    /// - SeeAlso: poll(2)
    public func waitWritable(timeout: Duration?) throws -> Bool {
        let fd = try liveDescriptor("wait until writable")
        return try Self.poll(
            fd, events: Int16(POLLOUT), deadline: timeout.map { ContinuousClock.now + $0 },
            operation: "wait until writable")
    }
}

// MARK: - Implementation

#if os(Linux)
private let socketStreamType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
#else
private let socketStreamType = SOCK_STREAM
#endif

// Free-function aliases: inside TCPSocket the names `connect`, `listen`,
// `accept`, `shutdown`, `poll` and `close` are its own methods.
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
private func systemBind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    bind(fd, address, length)
}
private func systemListen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
private func systemAccept(
    _ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: UnsafeMutablePointer<socklen_t>?
) -> Int32 { accept(fd, address, length) }
private func systemShutdown(_ fd: Int32, _ how: Int32) -> Int32 { shutdown(fd, how) }
private func systemPoll(_ entries: UnsafeMutablePointer<pollfd>, _ count: nfds_t, _ timeout: Int32) -> Int32 {
    poll(entries, count, timeout)
}

/// One resolved address, copied out of the `addrinfo` list.
struct SocketAddress: Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 { Int32(storage.ss_family) }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}

/// An address and port, printed the way URLs write them.
private struct Endpoint: CustomStringConvertible {
    let host: String
    let port: UInt16
    let isIPv6: Bool
    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension TCPSocket {
    #if os(Linux)
    fileprivate static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    fileprivate static let sendFlags: Int32 = 0
    #endif

    fileprivate func liveDescriptor(_ operation: String) throws(SocketError) -> Int32 {
        guard let fd = fileDescriptor else { throw SocketError(operation: operation, errno: EBADF) }
        return fd
    }

    /// Where `SO_NOSIGPIPE` exists (BSDs, macOS), sets it; Linux uses `MSG_NOSIGNAL` per send.
    fileprivate static func disableSIGPIPE(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    fileprivate static func format(host: String) -> String {
        host.contains(":") ? "[\(host)]" : host
    }

    /// Resolves with `lookup`; with a deadline and a name that is not a
    /// numeric address, on a thread of its own, given up at the deadline
    /// (the thread finishes alone and drops what it found).
    static func resolve(
        host: String, port: UInt16, deadline: ContinuousClock.Instant?, operation: String,
        lookup: @escaping @Sendable (String, UInt16, String) throws(SocketError) -> [SocketAddress]
    ) throws(SocketError) -> [SocketAddress] {
        guard let deadline, !isNumericAddress(host) else { return try lookup(host, port, operation) }
        let pending = PendingLookup()
        let started = startDetachedThread {
            pending.finish(Result { () throws(SocketError) in try lookup(host, port, operation) })
        }
        guard started == 0 else { throw SocketError(operation: operation, errno: started) }
        guard let result = pending.wait(until: deadline) else {
            throw SocketError(operation: operation, errno: ETIMEDOUT, message: "name resolution did not finish in time")
        }
        return try result.get()
    }

    /// True for "" (the resolver answers loopback or any at once) and
    /// numeric IPv4 and IPv6 addresses, which getaddrinfo converts without
    /// asking anyone.
    static func isNumericAddress(_ host: String) -> Bool {
        if host.isEmpty { return true }
        var buffer = in6_addr()
        return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
    }

    static func resolve(host: String, port: UInt16, passive: Bool, operation: String) throws(SocketError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(socketStreamType & ~Self.cloexecFlag)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status =
            host.isEmpty
            ? getaddrinfo(nil, String(port), &hints, &list)
            : getaddrinfo(host, String(port), &hints, &list)
        guard status == 0 else {
            let systemError = status == EAI_SYSTEM ? errno : 0
            throw SocketError(
                operation: operation, errno: systemError,
                message: String(cString: gai_strerror(status)), resolverCode: status)
        }
        defer { freeaddrinfo(list) }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            if let source = entry.pointee.ai_addr,
                Int(entry.pointee.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size
            {
                var address = SocketAddress()
                address.length = entry.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &address.storage) { target in
                    target.copyMemory(from: UnsafeRawBufferPointer(start: source, count: Int(entry.pointee.ai_addrlen)))
                }
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    #if os(Linux)
    fileprivate static let cloexecFlag = Int32(SOCK_CLOEXEC.rawValue)
    #else
    fileprivate static let cloexecFlag: Int32 = 0
    #endif

    /// Runs `body` with the listener made non-blocking, then restores the
    /// mode chosen with `setBlocking(_:)`. Concurrent callers share one
    /// change: the first makes it, the last undoes it.
    fileprivate func withNonBlockingAccept<R>(_ fd: Int32, _ body: () -> R) throws(SocketError) -> R {
        try acceptMode.withLock { mode throws(SocketError) in
            if mode.users == 0 {
                let flags = fcntl(fd, F_GETFL)
                guard flags >= 0 else { throw SocketError(operation: "accept", errno: errno) }
                mode.restoreBlocking = flags & O_NONBLOCK == 0
                if mode.restoreBlocking, fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 {
                    throw SocketError(operation: "accept", errno: errno)
                }
            }
            mode.users += 1
        }
        defer {
            acceptMode.withLock { mode in
                mode.users -= 1
                if mode.users == 0 {
                    let flags = fcntl(fd, F_GETFL)
                    if flags >= 0 {
                        let wanted = mode.restoreBlocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
                        if wanted != flags { _ = fcntl(fd, F_SETFL, wanted) }
                    }
                }
            }
        }
        return body()
    }

    /// True when the socket is meant to block: it does now, or, while an
    /// accept(timeout:) has made the listener non-blocking, the mode it
    /// will restore does.
    fileprivate func wantsBlockingAccept(_ fd: Int32) -> Bool {
        acceptMode.withLock { mode in
            mode.users > 0 ? mode.restoreBlocking : descriptorIsBlocking(fd)
        }
    }

    fileprivate static func openSocket(family: Int32, operation: String) throws(SocketError) -> Int32 {
        let fd = socket(family, socketStreamType, Int32(IPPROTO_TCP))
        guard fd >= 0 else { throw SocketError(operation: operation, errno: errno) }
        #if !os(Linux)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        #endif
        return fd
    }

    static func setBlocking(_ fd: Int32, _ blocking: Bool, operation: String) throws(SocketError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw SocketError(operation: operation, errno: errno) }
        let updated = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK
        if updated != flags, fcntl(fd, F_SETFL, updated) != 0 {
            throw SocketError(operation: operation, errno: errno)
        }
    }

    /// Connects without blocking and waits with poll, so a timeout and
    /// signals are handled alike (a blocking connect interrupted by a signal
    /// goes on in the background and cannot simply be called again).
    fileprivate static func connect(
        _ fd: Int32, to address: SocketAddress, deadline: ContinuousClock.Instant?,
        operation: String
    ) throws(SocketError) {
        try setBlocking(fd, false, operation: operation)
        if address.withSockaddr({ systemConnect(fd, $0, $1) }) != 0 {
            let error = errno
            guard error == EINPROGRESS || error == EINTR else { throw SocketError(operation: operation, errno: error) }
            guard try poll(fd, events: Int16(POLLOUT), deadline: deadline, operation: operation) else {
                throw SocketError(operation: operation, errno: ETIMEDOUT)
            }
            var status: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) == 0 else {
                throw SocketError(operation: operation, errno: errno)
            }
            if status != 0 { throw SocketError(operation: operation, errno: status) }
        }
        try setBlocking(fd, true, operation: operation)
    }

    /// Polls one descriptor until `events` (or an error or hang-up, which
    /// the next call will report) or `deadline`. `EINTR` is retried with the
    /// time left.
    static func poll(
        _ fd: Int32, events: Int16, deadline: ContinuousClock.Instant?,
        operation: String
    ) throws(SocketError) -> Bool {
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                milliseconds = Self.milliseconds(until: deadline)
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = systemPoll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready == 0 {
                // Timed out (the wait was rounded up, so the deadline has passed).
                if let deadline, ContinuousClock.now < deadline { continue }
                return false
            }
            let error = errno
            if error == EINTR { continue }
            throw SocketError(operation: operation, errno: error)
        }
    }

    /// Milliseconds from now to `deadline`, rounded up, within 0...Int32.max.
    fileprivate static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - ContinuousClock.now
        if left <= .zero { return 0 }
        let (seconds, attoseconds) = left.components
        let fromSeconds = seconds.multipliedReportingOverflow(by: 1000)
        if fromSeconds.overflow { return Int32.max }
        let total = fromSeconds.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: total)
    }

    fileprivate func setTimeout(_ option: Int32, _ timeout: Duration?, operation: String) throws(SocketError) {
        let fd = try liveDescriptor(operation)
        var value = timeval()
        if let timeout, timeout > .zero {
            let (seconds, attoseconds) = timeout.components
            var microseconds = (attoseconds + 999_999_999_999) / 1_000_000_000_000
            var wholeSeconds = seconds
            if microseconds >= 1_000_000 {
                wholeSeconds += 1
                microseconds -= 1_000_000
            }
            value.tv_sec = .init(clamping: wholeSeconds)
            value.tv_usec = .init(clamping: microseconds)
        }
        guard setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SocketError(operation: operation, errno: errno)
        }
    }

    /// The text before the first NUL of a C buffer.
    fileprivate static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The address `get` (getsockname or getpeername) reports for `fd`.
    fileprivate static func endpoint(
        _ fd: Int32, _ get: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> Endpoint? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { get(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address -> Endpoint? in
                    var ip = address.pointee.sin_addr
                    guard inet_ntop(AF_INET, &ip, &text, socklen_t(text.count)) != nil else { return nil }
                    return Endpoint(
                        host: Self.string(text), port: UInt16(bigEndian: address.pointee.sin_port),
                        isIPv6: false)
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address -> Endpoint? in
                    var ip = address.pointee.sin6_addr
                    guard inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count)) != nil else { return nil }
                    var host = Self.string(text)
                    if address.pointee.sin6_scope_id != 0 { host += "%\(address.pointee.sin6_scope_id)" }
                    return Endpoint(host: host, port: UInt16(bigEndian: address.pointee.sin6_port), isIPv6: true)
                }
            }
        default:
            return nil
        }
    }
}

/// The shared state of `TCPSocket.withNonBlockingAccept`.
private struct AcceptMode {
    /// accept(timeout:) calls between making the listener non-blocking and restoring it.
    var users = 0
    /// Whether the listener blocks once they are done.
    var restoreBlocking = false
}

/// A name lookup running on a thread of its own: the caller waits until a
/// deadline; whichever of the two lets go last frees the box, and the
/// addresses are plain Swift values (the `addrinfo` list is freed on the
/// lookup's thread as soon as it is copied).
private final class PendingLookup: Sendable {
    private let result = Mutex<Result<[SocketAddress], SocketError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func finish(_ outcome: Result<[SocketAddress], SocketError>) {
        result.withLock { $0 = outcome }
        done.signal()
    }

    /// The outcome, or nil when `deadline` passed first.
    func wait(until deadline: ContinuousClock.Instant) -> Result<[SocketAddress], SocketError>? {
        let left = deadline - ContinuousClock.now
        if left > .zero {
            let (seconds, attoseconds) = left.components
            let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
            let total = nanoseconds.overflow ? Int.max : Int(clamping: nanoseconds.partialValue + attoseconds / 1_000_000_000)
            _ = done.wait(timeout: .now() + .nanoseconds(total))
        }
        return result.withLock { $0 }
    }
}

/// The closure a detached thread runs, handed over as its start argument.
private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

private func optionalPointer(_ pointer: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? { pointer }

/// Starts a detached thread running `body`; 0, or the pthread_create error.
private func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Int32 {
    let argument = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let status = pthread_create(
        &thread, &attributes,
        { argument in
            // Optional on Linux, not on Darwin: `optionalPointer` takes either.
            if let argument = optionalPointer(argument) {
                Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
            }
            return nil
        }, argument)
    if status != 0 { Unmanaged<ThreadBody>.fromOpaque(argument).release() }
    return status
}
