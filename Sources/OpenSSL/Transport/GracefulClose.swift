#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
internal import COpenSSL

/// What a graceful close did: see `TCPSocket.closeGracefully(within:)` and
/// `Connection.closeGracefully(within:)`.
public struct GracefulClose: Sendable, Hashable {
    /// True when this call sent close_notify (only `Connection`'s does).
    public var sentCloseNotify: Bool
    /// True when the peer ended its direction (end of stream, or a reset)
    /// before the time was up: everything it sent was read, so closing sent
    /// no reset of ours. False when the time ran out first (the peer kept
    /// sending, or stayed silent without closing), or when there was no
    /// socket to drain.
    public var peerClosed: Bool
    /// The bytes read and thrown away while waiting for the peer to close.
    public var discardedBytes: Int

    /// Makes a result (for tests and wrappers of your own).
    public init(sentCloseNotify: Bool = false, peerClosed: Bool = false, discardedBytes: Int = 0) {
        self.sentCloseNotify = sentCloseNotify
        self.peerClosed = peerClosed
        self.discardedBytes = discardedBytes
    }
}

extension TCPSocket {
    /// How long a graceful close waits for the peer by default: 2 seconds.
    public static let defaultGracefulCloseTime: Duration = .seconds(2)

    /// Closes the socket so that the peer reads everything sent before: ends
    /// the sending side (the peer reads end of stream after the last byte),
    /// reads and discards what the peer still sends until it closes its side
    /// or `limit` has passed, then closes the descriptor.
    ///
    /// Why: closing a TCP socket with unread input makes the kernel answer
    /// with a reset instead of an orderly end, and a reset makes the peer's
    /// stack discard what it has not read yet — your last response, or a
    /// TLS alert. That happens whenever you close while the peer is still
    /// sending (after a fatal alert about its bad record, after a response
    /// to a request it pipelined after another). `openssl s_server` closes
    /// this way too.
    ///
    /// Use it for the last step of every server-side connection; over TLS,
    /// call `Connection.closeGracefully(within:)`, which sends close_notify
    /// first. A plain `close()` is right only when the peer must not be
    /// waited for (the process is exiting).
    ///
    /// Bounded: a peer that keeps sending, or never closes, holds the call
    /// for at most `limit` (the socket is then closed, and the kernel resets
    /// the connection if input is still unread). The socket's own read
    /// timeout and blocking mode do not matter. Calling it on a closed
    /// socket does nothing.
    /// - Parameter limit: the longest to wait for the peer to close.
    /// - Returns: whether the peer closed in time and what was discarded.
    /// - SeeAlso: shutdown(2) `SHUT_WR`, poll(2), close(2)
    @discardableResult
    public func closeGracefully(within limit: Duration = TCPSocket.defaultGracefulCloseTime) -> GracefulClose {
        closeGracefully(until: ContinuousClock.now + limit)
    }

    /// `closeGracefully(within:)` with an absolute deadline (shared with
    /// the close_notify that `Connection` sends first).
    func closeGracefully(until deadline: ContinuousClock.Instant) -> GracefulClose {
        var outcome = GracefulClose()
        guard let fd = fileDescriptor else { return outcome }
        defer { close() }
        // ENOTCONN (the peer reset already) or a second shutdown: nothing to end.
        try? shutdown(.write)
        var sink = [UInt8](repeating: 0, count: 16_384)
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return outcome }
            guard (try? waitReadable(timeout: left)) == true else { return outcome }
            let count = sink.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                outcome.discardedBytes += count
                continue
            }
            if count == 0 {
                outcome.peerClosed = true
                return outcome
            }
            let error = errno
            if error == EINTR || error == EAGAIN || error == EWOULDBLOCK { continue }
            // A reset from the peer: it has gone, nothing of ours is at stake.
            outcome.peerClosed = error == ECONNRESET
            return outcome
        }
    }
}

extension Connection {
    /// Ends the connection the way `openssl s_server` does, so the peer reads
    /// everything this side sent — the last response, or the fatal alert
    /// that explains why the connection failed — and the session stays
    /// resumable after a clean close:
    ///
    /// 1. sends close_notify, unless it was sent already or the connection
    ///    failed (a fatal alert was sent or received, the handshake never
    ///    finished, or I/O failed). A clean close thus keeps the session in
    ///    the server's cache, as RFC 5246 allows (OpenSSL drops the session
    ///    of a connection freed before it sent close_notify), and a failed
    ///    connection's session is not kept;
    /// 2. over a `TCPSocket`: ends the sending side, reads and discards what
    ///    the peer still sends until it closes or the time is up, and closes
    ///    the socket (see `TCPSocket.closeGracefully(within:)`).
    ///
    /// Call it on every way a server-side connection ends: after the last
    /// response, after `read` threw `.zeroReturn` (the peer's close_notify:
    /// answering it keeps the session resumable), after a read or handshake
    /// failure, on an idle timeout. The socket is closed when it returns.
    ///
    /// Bounded by `limit` in all: close_notify is written without blocking
    /// (the descriptor is made non-blocking for it, and its mode restored),
    /// waiting for the socket to drain at most until the deadline. Over a
    /// transport without a descriptor, close_notify is written through it
    /// once (and the transport is left open); over memory BIOs it is queued
    /// for `bioRead`. The peer's own close_notify is not waited for.
    /// - Parameter limit: the longest the whole close may take.
    /// - Returns: whether close_notify was sent, and how the socket closed.
    /// - SeeAlso: SSL_shutdown(3), shutdown(2)
    @discardableResult
    public func closeGracefully(within limit: Duration = TCPSocket.defaultGracefulCloseTime) -> GracefulClose {
        let deadline = ContinuousClock.now + limit
        let sent = canSendCloseNotify ? sendCloseNotify(until: deadline) : false
        var outcome = GracefulClose()
        if case .descriptor(let transport) = io, let socket = transport as? TCPSocket {
            outcome = socket.closeGracefully(until: deadline)
        }
        outcome.sentCloseNotify = sent
        return outcome
    }

    /// True when close_notify should be sent: the handshake finished, no
    /// fatal error happened since, and it was not sent yet.
    var canSendCloseNotify: Bool {
        !hasFailed && isHandshakeDone && !shutdownState.contains(.sent)
    }

    /// Sends close_notify, waiting for the descriptor to take it at most
    /// until `deadline`; true when it was written.
    private func sendCloseNotify(until deadline: ContinuousClock.Instant) -> Bool {
        guard case .descriptor(let transport) = io, let fd = transport.fileDescriptor else {
            return (try? shutdown()) != nil
        }
        let madeNonBlocking =
            descriptorIsBlocking(fd)
            && (try? TCPSocket.setBlocking(fd, false, operation: "close gracefully")) != nil
        defer { if madeNonBlocking { try? TCPSocket.setBlocking(fd, true, operation: "close gracefully") } }
        while true {
            switch Result(catching: { () throws(SSLError) in try shutdown() }) {
            case .success:
                return true
            case .failure(.wantWrite):
                // Until the socket takes more, at most until the deadline.
                guard
                    (try? TCPSocket.poll(
                        fd, events: Int16(POLLOUT), deadline: deadline,
                        operation: "close gracefully")) == true
                else { return false }
            default:
                return false
            }
        }
    }
}
