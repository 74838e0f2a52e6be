import Foundation
internal import COpenSSL

/// The outcome of a TLS operation that did not succeed, mapped from
/// `SSL_get_error(3)` the way pyOpenSSL maps it.
///
/// The `want…` cases are not failures: they say what must happen before the
/// same call can make progress (more ciphertext to read, room to write, a
/// verification decision). `zeroReturn` is the peer's clean close
/// (close_notify). `sysCall` is an I/O-level failure; `isUnexpectedEOF` tells
/// a peer that hung up without close_notify. `callback` and `transport` carry
/// an error thrown by your own code (a verify hook, a Swift `Transport`),
/// exactly as it was thrown.
public enum SSLError: Error, Sendable, CustomStringConvertible {
    /// More ciphertext must arrive from the peer before the call can go on.
    case wantRead
    /// Ciphertext must be written out (the socket or BIO is full) before the call can go on.
    case wantWrite
    /// A certificate callback asked to be called again.
    case wantX509Lookup
    /// The verification hook answered "decide later" (`SSL_set_retry_verify`):
    /// call `setVerificationDecision(_:)` and drive the handshake again.
    case wantRetryVerify
    /// An asynchronous engine operation is in progress.
    case wantAsync
    /// No async job was available.
    case wantAsyncJob
    /// The client-hello callback asked to be called again.
    case wantClientHello
    /// A connect BIO has not finished connecting.
    case wantConnect
    /// An accept BIO has not finished accepting.
    case wantAccept
    /// The peer closed the TLS connection cleanly (close_notify).
    case zeroReturn
    /// An I/O error (`errno` as OpenSSL saw it) or, with errno -1, a peer that
    /// closed the connection without close_notify (`isUnexpectedEOF`).
    case sysCall(errno: Int32, OpenSSLError)
    /// A protocol or library failure, with OpenSSL's reasons (e.g. "certificate verify failed").
    case ssl(OpenSSLError)
    /// An error thrown by a callback of yours (verify hook, server-name callback, …), unchanged.
    case callback(any Error)
    /// An error thrown by your `Transport`, unchanged.
    case transport(any Error)
    /// The call does not fit the connection's state or set-up (a memory-BIO
    /// call on a socket connection, a second handshake state change…).
    case usage(String)

    /// True for the outcomes that only mean "try again once I/O has happened".
    public var isWant: Bool {
        switch self {
        case .wantRead, .wantWrite, .wantX509Lookup, .wantRetryVerify, .wantAsync, .wantAsyncJob,
            .wantClientHello, .wantConnect, .wantAccept:
            return true
        default:
            return false
        }
    }

    /// True when the peer hung up without sending close_notify (OpenSSL 3's
    /// "unexpected eof while reading"): never confused with `zeroReturn`.
    public var isUnexpectedEOF: Bool {
        if case .sysCall(let errno, _) = self { return errno == -1 }
        return false
    }

    /// The OpenSSL error queue entries behind `.ssl` and `.sysCall`, if any.
    public var openSSLError: OpenSSLError? {
        switch self {
        case .ssl(let error): return error
        case .sysCall(_, let error): return error
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .wantRead: return "want read"
        case .wantWrite: return "want write"
        case .wantX509Lookup: return "want X509 lookup"
        case .wantRetryVerify: return "want retry verify (the verification decision is pending)"
        case .wantAsync: return "want async"
        case .wantAsyncJob: return "want async job"
        case .wantClientHello: return "want client hello callback"
        case .wantConnect: return "want connect"
        case .wantAccept: return "want accept"
        case .zeroReturn: return "the peer closed the TLS connection (close_notify)"
        case .sysCall(let errno, let error):
            if errno == -1 { return "unexpected EOF: the peer closed the connection without close_notify" }
            if errno == 0 { return "system call failed: \(error)" }
            return "system call failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case .ssl(let error): return error.description
        case .callback(let error): return "callback failed: \(error)"
        case .transport(let error): return "transport failed: \(error)"
        case .usage(let message): return message
        }
    }

    /// Maps the result of an `SSL_*` I/O call. Must be called right after the
    /// call, on the same thread, before anything else touches the error queue
    /// or errno — and errno must have been set to 0 before the call, so a
    /// nonzero errno is the call's own. Drains the queue.
    static func from(ssl: OpaquePointer, result: Int32, operation: @autoclosure () -> String) -> SSLError {
        let savedErrno = errno
        return from(code: SSL_get_error(ssl, result), result: result, errno: savedErrno, operation: operation())
    }

    /// Maps an `SSL_get_error` code already taken (with the errno saved right after the call).
    static func from(code: Int32, result: Int32, errno savedErrno: Int32, operation: @autoclosure () -> String) -> SSLError {
        switch code {
        case SSL_ERROR_WANT_READ:
            ErrorQueue.clear()
            return .wantRead
        case SSL_ERROR_WANT_WRITE:
            ErrorQueue.clear()
            return .wantWrite
        case SSL_ERROR_WANT_X509_LOOKUP:
            ErrorQueue.clear()
            return .wantX509Lookup
        case SSL_ERROR_WANT_RETRY_VERIFY:
            ErrorQueue.clear()
            return .wantRetryVerify
        case SSL_ERROR_WANT_ASYNC:
            ErrorQueue.clear()
            return .wantAsync
        case SSL_ERROR_WANT_ASYNC_JOB:
            ErrorQueue.clear()
            return .wantAsyncJob
        case SSL_ERROR_WANT_CLIENT_HELLO_CB:
            ErrorQueue.clear()
            return .wantClientHello
        case SSL_ERROR_WANT_CONNECT:
            ErrorQueue.clear()
            return .wantConnect
        case SSL_ERROR_WANT_ACCEPT:
            ErrorQueue.clear()
            return .wantAccept
        case SSL_ERROR_ZERO_RETURN:
            ErrorQueue.clear()
            return .zeroReturn
        case SSL_ERROR_SYSCALL:
            let error = ErrorQueue.drain(operation())
            // OpenSSL 3.5 also queues the failed system call itself (library
            // "system library", reason = errno); 3.0 queues nothing. Either way
            // it is an I/O error.
            if let first = error.entries.first, error.entries.allSatisfy({ $0.libraryCode == ERR_LIB_SYS }) {
                return .sysCall(errno: savedErrno != 0 ? savedErrno : first.reasonCode, error)
            }
            if !error.entries.isEmpty { return .ssl(error) }
            // No queue entry: an I/O error with errno, or EOF that broke the protocol.
            return .sysCall(errno: savedErrno != 0 ? savedErrno : -1, error)
        default:
            let error = ErrorQueue.drain(operation())
            // OpenSSL 3 reports a peer that vanished without close_notify as an SSL error.
            if error.hasReason(library: ERR_LIB_SSL, reason: SSL_R_UNEXPECTED_EOF_WHILE_READING) {
                return .sysCall(errno: -1, error)
            }
            return .ssl(error)
        }
    }
}

/// A call that does not fit the object's state or set-up: changing a context
/// that connections already use (pyOpenSSL 26.2's rule), asking a socket
/// connection for memory-BIO bytes, and the like.
public struct UsageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was attempted.
    public let operation: String
    /// Why it is refused.
    public let reason: String

    /// Makes the error (the library throws it; public so that callers'
    /// tests and wrappers can make one too).
    /// - Parameters:
    ///   - operation: What was attempted, e.g. "setVerify".
    ///   - reason: Why it is refused.
    public init(operation: String, reason: String) {
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "\(operation): \(reason)" }
}
