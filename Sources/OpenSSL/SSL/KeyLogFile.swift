#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A key-log file in the NSS format Wireshark reads (Preferences → Protocols
/// → TLS → "(Pre)-Master-Secret log filename", or `tshark -o
/// tls.keylog_file:PATH`): each TLS secret on a line of its own.
///
/// Give it to a context with `Context.setKeylogFile(_:)`. Any number of
/// connections, on any threads, may write to one file: each line goes out
/// in a single `write(2)` to a descriptor opened with `O_APPEND`, under a
/// lock, so lines never interleave (not even with another process appending
/// to the same file). The file is created readable by its owner only.
///
/// Whoever reads this file can decrypt the recorded connections: use it to
/// debug, never in production.
public final class KeyLogFile: @unchecked Sendable {  // the descriptor is written under `lock` and closed only in deinit
    /// The file's path.
    public let path: String
    private let descriptor: Int32
    private let lock = NSLock()
    private var failure: Int32 = 0

    /// Opens (creating it with mode 0600 if needed) `path` for appending.
    /// - Throws: `POSIXError` with the `open(2)` failure.
    /// - SeeAlso: open(2)
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        self.path = path
        descriptor = fd
    }

    /// The file named by the `SSLKEYLOGFILE` environment variable (the
    /// convention browsers and curl follow), or nil when it is unset or empty.
    /// - Throws: `POSIXError` when the file cannot be opened.
    public static func fromEnvironment() throws -> KeyLogFile? {
        guard let path = ProcessInfo.processInfo.environment["SSLKEYLOGFILE"], !path.isEmpty else { return nil }
        return try KeyLogFile(path: path)
    }

    deinit {
        _ = close(descriptor)
    }

    /// Appends `line` and a newline.
    ///
    /// Never throws (OpenSSL's key-log callback cannot fail a handshake): a
    /// failed write is remembered in `lastWriteError`.
    public func append(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        lock.lock()
        defer { lock.unlock() }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                failure = errno
                return
            }
            offset += written
        }
    }

    /// The error of the last write that failed, if any.
    public var lastWriteError: POSIXErrorCode? {
        lock.lock()
        defer { lock.unlock() }
        return failure == 0 ? nil : POSIXErrorCode(rawValue: failure)
    }

    /// A key-log callback that appends each line to this file.
    public var callback: Context.KeylogCallback {
        { [self] _, line in append(line) }
    }
}
