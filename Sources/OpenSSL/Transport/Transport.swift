import Foundation
/// A byte stream a Connection reads ciphertext from and writes ciphertext to.
///
/// Conform your own type to plug any byte stream under TLS (a pipe, a
/// multiplexed stream, an in-memory queue in a test). A `Connection` over a
/// transport that offers a `fileDescriptor` lets OpenSSL use the descriptor
/// directly (`SSL_set_fd`), so no Swift code runs per byte; otherwise every
/// read and write goes through `read(into:)` and `write(_:)`, bridged by one
/// custom `BIO_METHOD`.
///
/// The methods are called on the thread that drives the connection, one at a
/// time. An error they throw stops the TLS call that caused it, and that call
/// rethrows it unchanged (`SSLError.transport`). Throw `POSIXError(.EINTR)`
/// to have the call retried at once.
///
/// - SeeAlso: BIO_meth_new(3), SSL_set_bio(3), SSL_set_fd(3)
public protocol Transport: AnyObject {
    /// Reads into `buffer`; returns the count read, 0 at end of stream, nil when nothing can be read now (non-blocking).
    ///
    /// Returning more than `buffer.count` is a contract violation, reported
    /// to the TLS call as an error.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int?
    /// Writes from `buffer`; returns the count accepted (may be fewer), nil when nothing can be written now.
    ///
    /// Accepting 0 bytes of a non-empty buffer means the same as nil: nothing
    /// can be written now.
    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int?
    /// A file descriptor OpenSSL may use directly (SSL_set_fd: no Swift on the byte path), or nil.
    var fileDescriptor: Int32? { get }
}

extension Transport {
    /// No descriptor: the connection moves bytes through `read(into:)` and `write(_:)`.
    public var fileDescriptor: Int32? { nil }
}

extension Transport {
    /// True when the transport has a descriptor in blocking mode (no
    /// `O_NONBLOCK`): a call on it interrupted by a signal (EINTR) is made
    /// again, as a blocking call would be.
    var isBlockingDescriptor: Bool {
        guard let descriptor = fileDescriptor else { return false }
        return descriptorIsBlocking(descriptor)
    }
}

/// True when `descriptor` is in blocking mode (no `O_NONBLOCK`).
func descriptorIsBlocking(_ descriptor: Int32) -> Bool {
    let flags = fcntl(descriptor, F_GETFL)
    return flags >= 0 && (flags & O_NONBLOCK) == 0
}
