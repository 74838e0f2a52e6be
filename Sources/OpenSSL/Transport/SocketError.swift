#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed socket call: which operation, the `errno` it set, and its text.
///
/// `code` gives the `errno` as a `POSIXErrorCode` for `switch`ing
/// (`.ECONNREFUSED`, `.EPIPE`, `.ETIMEDOUT` …). A name that cannot be resolved
/// carries the resolver's code in `resolverCode` (errno is then 0, unless the
/// resolver failed in a system call).
public struct SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was being done, e.g. `"connect to 127.0.0.1:443"`, `"read"`.
    public let operation: String
    /// The `errno` value (0 when only `resolverCode` applies). Timeouts the
    /// library detects itself (connect, accept, a blocking read or write)
    /// report `ETIMEDOUT`.
    public let errno: Int32
    /// The readable text: `strerror(errno)`, or `gai_strerror` for a resolver failure.
    public let message: String
    /// The `getaddrinfo(3)` error (`EAI_NONAME` …) when resolving a name failed, else nil.
    public let resolverCode: Int32?

    /// An error for `operation` with `errno`; `message` is `strerror(errno)`.
    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
        self.message = String(cString: strerror(errno))
        self.resolverCode = nil
    }

    /// An error with an explicit message and resolver code.
    public init(operation: String, errno: Int32, message: String, resolverCode: Int32? = nil) {
        self.operation = operation
        self.errno = errno
        self.message = message
        self.resolverCode = resolverCode
    }

    /// `errno` as a `POSIXErrorCode`, when it is one.
    public var code: POSIXErrorCode? {
        POSIXErrorCode(rawValue: errno)
    }

    /// `operation: message (errno N)`.
    public var description: String {
        if let resolverCode {
            return "\(operation): \(message) (getaddrinfo \(resolverCode))"
        }
        return "\(operation): \(message) (errno \(errno))"
    }
}
