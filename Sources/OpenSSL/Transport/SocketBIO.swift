import Foundation
internal import COpenSSL

// The BIO of a connection over a TCP descriptor, in place of OpenSSL's own
// socket BIO (`SSL_set_fd`).
//
// OpenSSL's socket BIO writes with `write(2)`, which raises SIGPIPE when the
// peer has gone: the default action ends the process. The usual cure is to
// set SIGPIPE to ignored, but a library cannot do that without a window in
// which another thread's handler is lost (the disposition has no
// compare-and-swap), and it changes the whole process. This BIO writes with
// `send(2)` and `MSG_NOSIGNAL` instead (`SO_NOSIGPIPE` where that is the
// platform's way), so a write to a closed peer fails with EPIPE, which comes
// out as `SSLError.sysCall(errno: EPIPE, …)`, and the library touches no
// signal disposition at all.
//
// It does exactly what the socket BIO does otherwise: one `recv`/`send` per
// call, the retry flags for EAGAIN/EINTR, the EOF flag after a read of 0
// (OpenSSL needs it to report an unexpected EOF), errno left as the system
// call set it. It runs no Swift beyond those calls and allocates nothing.
// The descriptor is the BIO's data; the BIO neither owns nor closes it
// (the `Transport` does).

/// The process's one BIO_METHOD for descriptors, or why it could not be made.
/// A global's initialiser runs once, lazily and thread-safely.
private let socketMethod = BIOMethod.make(
    "TCP socket (no SIGPIPE)", flags: BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, read: socketRead, write: socketWrite,
    control: socketControl, create: socketCreate, destroy: socketDestroy)

enum SocketBIO {
    /// A BIO over `descriptor`, with one reference for the caller (give it
    /// to `SSL_set_bio`).
    /// - Throws: `OpenSSLError` when OpenSSL cannot make the method or the BIO.
    static func make(descriptor: Int32) throws -> OpaquePointer {
        let method = try socketMethod.get()
        let bio = try ErrorQueue.call("make a socket BIO") { BIO_new(method.raw) }
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        // The descriptor itself, not a pointer: +1 so that descriptor 0 is not a null pointer.
        BIO_set_data(bio, UnsafeMutableRawPointer(bitPattern: Int(descriptor) + 1))
        BIO_set_init(bio, 1)
        return bio
    }

    #if canImport(Darwin)
    fileprivate static let sendFlags: Int32 = 0
    #else
    fileprivate static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    /// The descriptor stored in `bio`, or -1.
    fileprivate static func descriptor(_ bio: OpaquePointer?) -> Int32 {
        guard let bio, let data = BIO_get_data(bio) else { return -1 }
        return Int32(truncatingIfNeeded: Int(bitPattern: data) - 1)
    }

    /// The errors after which the call may simply be made again (those
    /// OpenSSL's `BIO_sock_should_retry` names).
    fileprivate static func shouldRetry(_ error: Int32) -> Bool {
        error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == EINPROGRESS || error == EALREADY
            || error == ENOTCONN || error == EPROTO
    }
}

private func socketRead(
    _ bio: OpaquePointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int,
    _ count: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let bio, let buffer else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    let read = recv(SocketBIO.descriptor(bio), buffer, size, 0)
    if read > 0 {
        count?.pointee = read
        return 1
    }
    if read == 0 {
        if size > 0 { BIO_set_flags(bio, BIO_FLAGS_IN_EOF) }
        return 0
    }
    if SocketBIO.shouldRetry(errno) { cossl_BIO_set_retry_read(bio) }
    return 0
}

private func socketWrite(
    _ bio: OpaquePointer?, _ buffer: UnsafePointer<CChar>?, _ size: Int,
    _ count: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let bio, let buffer else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    let written = send(SocketBIO.descriptor(bio), buffer, size, SocketBIO.sendFlags)
    if written >= 0 {
        count?.pointee = written
        return 1
    }
    if SocketBIO.shouldRetry(errno) { cossl_BIO_set_retry_write(bio) }
    return 0
}

private func socketControl(
    _ bio: OpaquePointer?, _ command: Int32, _ argument: Int,
    _ pointer: UnsafeMutableRawPointer?
) -> Int {
    if command == BIO_C_GET_FD {
        let descriptor = SocketBIO.descriptor(bio)
        pointer?.assumingMemoryBound(to: Int32.self).pointee = descriptor
        return Int(descriptor)
    }
    // Nothing is buffered here: every write goes straight to the socket.
    return BIOMethod.unbufferedStreamControl(bio, command)
}

private func socketCreate(_ bio: OpaquePointer?) -> Int32 {
    // `SocketBIO.make` stores the descriptor and marks the BIO initialised.
    1
}

private func socketDestroy(_ bio: OpaquePointer?) -> Int32 {
    guard let bio else { return 0 }
    // The descriptor belongs to the transport: nothing to close.
    BIO_set_data(bio, nil)
    BIO_set_init(bio, 0)
    return 1
}
