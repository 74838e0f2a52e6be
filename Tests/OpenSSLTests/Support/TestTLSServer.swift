import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// A small TLS echo server on 127.0.0.1 built on the library, for hostile-peer
/// tests: it accepts any number of connections, each on its own thread, over
/// non-blocking `TCPSocket`s driven by `Connection` (OpenSSL on the
/// descriptor). A handshake that has not finished within `handshakeTimeout`
/// is ended. A finished one reads a request (within the same timeout),
/// answers `echo: <request>`, sends close_notify and closes.
///
/// Every connection ends with one recorded `Outcome`, so a test can check
/// what the server made of each peer, and that it still serves the next.
final class TestTLSServer: @unchecked Sendable {  // mutable state is in `state` (locked); the rest is immutable
    enum Outcome: Sendable, CustomStringConvertible {
        /// The handshake finished and the request was echoed.
        case served
        /// The handshake (or the request) failed with this typed error.
        case failed(SSLErrorCase, String)
        /// The handshake timeout passed (or the request never came).
        case timedOut
        /// Something outside TLS failed (the socket, poll).
        case other(String)

        var description: String {
            switch self {
            case .served: return "served"
            case .failed(let kind, let text): return "failed (\(kind)): \(text)"
            case .timedOut: return "timed out"
            case .other(let text): return "other: \(text)"
            }
        }

        var isServed: Bool { if case .served = self { return true } else { return false } }
        var isTimedOut: Bool { if case .timedOut = self { return true } else { return false } }
        var isFailed: Bool { if case .failed = self { return true } else { return false } }
    }

    private struct State {
        var outcomes: [Outcome] = []
        var open = 0
        var accepted = 0
        var stopped = false
    }

    let context: Context
    let handshakeTimeout: Duration
    private let listener: TCPSocket
    private let state = Locked(State())
    private let acceptLoopDone = DispatchSemaphore(value: 0)
    private let changed = NSCondition()

    var port: UInt16 { listener.localPort }

    init(context: Context, handshakeTimeout: Duration = .seconds(2)) throws {
        self.context = context
        self.handshakeTimeout = handshakeTimeout
        listener = try TCPSocket.listen(host: "127.0.0.1", port: 0, backlog: 512)
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Every outcome so far, in the order connections ended.
    var outcomes: [Outcome] { state.withLock { $0.outcomes } }
    /// Connections being handled now.
    var openConnections: Int { state.withLock { $0.open } }
    /// Connections accepted so far.
    var acceptedConnections: Int { state.withLock { $0.accepted } }

    /// Waits until `count` connections have ended (or `timeout` passes); returns their outcomes.
    func waitForOutcomes(_ count: Int, timeout: TimeInterval = 20) -> [Outcome] {
        let deadline = Date().addingTimeInterval(timeout)
        changed.lock()
        defer { changed.unlock() }
        while state.withLock({ $0.outcomes.count }) < count {
            if !changed.wait(until: deadline) { break }
        }
        return outcomes
    }

    /// Stops accepting; connections being handled finish on their own (bounded by the timeout).
    func stop() {
        state.withLock { $0.stopped = true }
        _ = acceptLoopDone.wait(timeout: .now() + 5)
        listener.close()
        let deadline = Date().addingTimeInterval(10)
        while openConnections > 0 && Date() < deadline { usleep(10_000) }
    }

    deinit {
        listener.close()
    }

    private func acceptLoop() {
        defer { acceptLoopDone.signal() }
        while !state.withLock({ $0.stopped }) {
            let socket: TCPSocket
            do {
                socket = try listener.accept(timeout: .milliseconds(50))
            } catch let error as SocketError where error.code == .ETIMEDOUT {
                continue
            } catch {
                if state.withLock({ $0.stopped }) { return }
                record(.other("accept: \(error)"))
                continue
            }
            state.withLock {
                $0.open += 1
                $0.accepted += 1
            }
            Thread.detachNewThread { [self] in
                let outcome = serve(socket)
                lingeringClose(socket)
                state.withLock { $0.open -= 1 }
                record(outcome)
            }
        }
    }

    /// Closes as a careful server does: stop writing, then read and drop what
    /// the peer still sends for a moment, so closing with unread bytes does
    /// not reset the connection and destroy the alert just sent.
    private func lingeringClose(_ socket: TCPSocket) {
        try? socket.shutdown(.write)
        let deadline = ContinuousClock.now + .milliseconds(200)
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var drained = 0
        while drained < 1 << 20 {
            let left = deadline - ContinuousClock.now
            guard left > .zero, (try? socket.waitReadable(timeout: left)) == true,
                let count = try? buffer.withUnsafeMutableBytes({ try socket.read(into: $0) }), count > 0
            else { break }
            drained += count
        }
        socket.close()
    }

    private func record(_ outcome: Outcome) {
        changed.lock()
        state.withLock { $0.outcomes.append(outcome) }
        changed.broadcast()
        changed.unlock()
    }

    /// Handles one connection start to end.
    private func serve(_ socket: TCPSocket) -> Outcome {
        let deadline = ContinuousClock.now + handshakeTimeout
        do {
            try socket.setBlocking(false)
            let connection = try Connection(context, transport: socket)
            connection.setAcceptState()
            if let failure = try untilDone(
                connection, socket, deadline: deadline,
                { () throws(SSLError) in
                    try connection.doHandshake()
                })
            {
                return failure
            }
            var request: [UInt8] = []
            let read = try untilDone(
                connection, socket, deadline: deadline,
                { () throws(SSLError) in
                    request = try connection.read(max: 4096)
                })
            if let read { return read }
            let reply = Array("echo: ".utf8) + request
            var written = 0
            while written < reply.count {
                var count = 0
                let result = try untilDone(
                    connection, socket, deadline: deadline,
                    { () throws(SSLError) in
                        count = try reply.withUnsafeBytes { bytes in
                            Result { () throws(SSLError) in
                                try connection.write(UnsafeRawBufferPointer(rebasing: bytes[written...]))
                            }
                        }.get()
                    })
                if let result { return result }
                written += count
            }
            _ = try? connection.shutdown()
            return .served
        } catch {
            return .other("\(error)")
        }
    }

    /// Repeats `operation` while it wants I/O, waiting on the socket, until it
    /// succeeds (nil), fails (`.failed`) or the deadline passes (`.timedOut`).
    private func untilDone(
        _ connection: Connection, _ socket: TCPSocket, deadline: ContinuousClock.Instant,
        _ operation: () throws(SSLError) -> Void
    ) throws -> Outcome? {
        while true {
            switch Result(catching: operation) {
            case .success:
                return nil
            case .failure(.wantRead):
                let left = deadline - ContinuousClock.now
                guard left > .zero, try socket.waitReadable(timeout: left) else { return .timedOut }
            case .failure(.wantWrite):
                let left = deadline - ContinuousClock.now
                guard left > .zero, try socket.waitWritable(timeout: left) else { return .timedOut }
            case .failure(let error):
                // The verification result names why a peer's chain was refused.
                let verify = connection.verifyResult
                return .failed(SSLErrorCase(error), "\(error)" + (verify == .ok ? "" : " [verify: \(verify)]"))
            }
        }
    }
}
