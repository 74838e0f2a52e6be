#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A UDP socket on a numeric IPv4 or IPv6 address: the transport for DTLS.
///
/// Bind it, `connect` it to the peer, and make a `Connection` from a DTLS
/// context over it: OpenSSL then reads and writes datagrams on the
/// descriptor itself (a datagram BIO), keeping record boundaries, and uses
/// the socket's read timeout for retransmissions. `read(into:)` and
/// `write(_:)` move one datagram each, for plain-text use and tests.
///
/// Descriptors are close-on-exec; the socket is closed by `close()` or when
/// the object goes away.
public final class UDPSocket: Transport, Sendable {
    /// The descriptor, or -1 once closed.
    private let descriptor: Atomic<Int32>

    private init(descriptor: Int32) {
        self.descriptor = Atomic(descriptor)
    }

    deinit {
        close()
    }

    /// A socket bound to `host` (a numeric IPv4 or IPv6 address) and `port`
    /// (0: an ephemeral port, see `localPort`).
    /// - Throws: `SocketError` (`EINVAL` for a host that is not a numeric address).
    /// - SeeAlso: socket(2), bind(2)
    public static func bind(host: String = "127.0.0.1", port: UInt16 = 0) throws -> UDPSocket {
        let operation = "bind UDP \(host):\(port)"
        var address = try UDPAddress(host: host, port: port, operation: operation)
        #if os(Linux)
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_DGRAM
        #endif
        let fd = socket(address.family, type, Int32(IPPROTO_UDP))
        guard fd >= 0 else { throw SocketError(operation: operation, errno: errno) }
        let socket = UDPSocket(descriptor: fd)
        guard address.withSockaddr({ systemBind(fd, $0, $1) }) == 0 else {
            throw SocketError(operation: operation, errno: errno)
        }
        return socket
    }

    /// Connects the socket to `host`:`port`: datagrams go there, and only its datagrams are received.
    /// - Throws: `SocketError`.
    /// - SeeAlso: connect(2)
    public func connect(host: String, port: UInt16) throws {
        let operation = "connect UDP to \(host):\(port)"
        guard let fd = fileDescriptor else { throw SocketError(operation: operation, errno: EBADF) }
        var address = try UDPAddress(host: host, port: port, operation: operation)
        guard address.withSockaddr({ systemConnect(fd, $0, $1) }) == 0 else {
            throw SocketError(operation: operation, errno: errno)
        }
    }

    /// The descriptor; nil once closed.
    public var fileDescriptor: Int32? {
        let fd = descriptor.load(ordering: .acquiring)
        return fd >= 0 ? fd : nil
    }

    /// The local port (after `bind`); 0 once closed.
    public var localPort: UInt16 {
        guard let fd = fileDescriptor else { return 0 }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return 0 }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    /// Sets how long a blocking read waits (nil: forever).
    /// - Throws: `SocketError`.
    /// - SeeAlso: setsockopt(2) `SO_RCVTIMEO`
    public func setReadTimeout(_ timeout: Duration?) throws {
        guard let fd = fileDescriptor else { throw SocketError(operation: "set read timeout", errno: EBADF) }
        var value = timeval()
        if let timeout, timeout > .zero {
            let (seconds, attoseconds) = timeout.components
            value.tv_sec = .init(clamping: seconds)
            value.tv_usec = .init(clamping: max(1, attoseconds / 1_000_000_000_000))
        }
        guard setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw SocketError(operation: "set read timeout", errno: errno)
        }
    }

    /// Closes the descriptor; calling it again does nothing.
    public func close() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { _ = systemClose(fd) }
    }

    /// Receives one datagram (cut to `buffer.count`); nil when the read timeout passed.
    /// - Throws: `SocketError`; `EINTR` is retried.
    /// - SeeAlso: recv(2)
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        guard let fd = fileDescriptor else { throw SocketError(operation: "read", errno: EBADF) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = recv(fd, base, buffer.count, 0)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SocketError(operation: "read", errno: errno)
        }
    }

    /// Sends `buffer` as one datagram; returns its size.
    /// - Throws: `SocketError` (`EMSGSIZE` for a datagram too large); `EINTR` is retried.
    /// - SeeAlso: send(2)
    public func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? {
        guard let fd = fileDescriptor else { throw SocketError(operation: "write", errno: EBADF) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = send(fd, base, buffer.count, 0)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SocketError(operation: "write", errno: errno)
        }
    }
}

// Inside UDPSocket the names `bind`, `connect` and `close` are its own methods.
private func systemBind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    bind(fd, address, length)
}
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }

/// A numeric IPv4 or IPv6 socket address.
private struct UDPAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0
    var family: Int32 { Int32(storage.ss_family) }

    init(host: String, port: UInt16, operation: String) throws {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: v4) { target.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: v6) { target.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            throw SocketError(operation: operation, errno: EINVAL, message: "\(host) is not a numeric IPv4 or IPv6 address")
        }
    }

    mutating func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        let length = self.length
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
