import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import OpenSSL

/// This library's side of a cell: a `Connection` over a `TCPSocket`
/// (SSL_set_fd), driven with a deadline so no cell can hang.
final class LocalTLS {
    let connection: Connection
    let socket: TCPSocket
    let deadline: ContinuousClock.Instant

    init(_ connection: Connection, socket: TCPSocket, deadline: ContinuousClock.Instant) {
        self.connection = connection
        self.socket = socket
        self.deadline = deadline
    }

    /// Connects to the peer at 127.0.0.1:`port` and makes a client connection (not yet handshaken).
    static func client(
        _ context: Context, port: UInt16, serverName: String?, deadline: ContinuousClock.Instant
    ) throws -> LocalTLS {
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(5))
        let connection = try Connection(context, transport: socket)
        connection.setConnectState()
        if let serverName { try connection.setServerName(serverName) }
        return LocalTLS(connection, socket: socket, deadline: deadline)
    }

    /// Accepts one connection on `listener` and makes a server connection (not yet handshaken).
    static func server(_ context: Context, listener: TCPSocket, deadline: ContinuousClock.Instant) throws -> LocalTLS {
        let socket = try listener.accept(timeout: .seconds(10))
        let connection = try Connection(context, transport: socket)
        connection.setAcceptState()
        return LocalTLS(connection, socket: socket, deadline: deadline)
    }

    /// Runs the handshake, non-blocking, until it completes or fails (or the deadline passes).
    func handshake() throws(SSLError) {
        try drive { () throws(SSLError) in try connection.doHandshake() }
    }

    /// Calls `step` until it stops asking for I/O, waiting for the socket in between.
    private func drive(_ step: () throws(SSLError) -> Void) throws(SSLError) {
        setNonBlocking()
        while true {
            switch Result(catching: step) {
            case .success:
                return
            case .failure(.wantRead):
                guard wait(readable: true, writable: false) else { throw .usage("timed out waiting to read") }
            case .failure(.wantWrite):
                guard wait(readable: false, writable: true) else { throw .usage("timed out waiting to write") }
            case .failure(let error):
                throw error
            }
        }
    }

    private func setNonBlocking() {
        if socket.isBlocking { try? socket.setBlocking(false) }
    }

    /// Waits for the socket until the deadline; false when it passed.
    private func wait(readable: Bool, writable: Bool) -> Bool {
        guard let fd = socket.fileDescriptor else { return false }
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16((readable ? POLLIN : 0) | (writable ? POLLOUT : 0)), revents: 0)
            let result = poll(&descriptor, 1, 50)
            if result > 0 { return true }
            if result < 0 && errno != EINTR { return false }
        }
        return false
    }

    /// Sends `payload` while reading, until `expect` bytes came back (an
    /// echo); both directions at once, so neither side's buffers can fill up
    /// and stall the other.
    func exchange(_ payload: [UInt8], expect: Int) throws -> [UInt8] {
        setNonBlocking()
        var sent = 0
        var received: [UInt8] = []
        received.reserveCapacity(expect)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while sent < payload.count || received.count < expect {
            var progressed = false
            var wantRead = false
            var wantWrite = false
            if sent < payload.count {
                let end = min(sent + 16_384, payload.count)
                let written = payload.withUnsafeBytes { bytes in
                    Result { () throws(SSLError) in try connection.write(UnsafeRawBufferPointer(rebasing: bytes[sent..<end])) }
                }
                switch written {
                case .success(let count):
                    sent += count
                    progressed = true
                case .failure(.wantWrite): wantWrite = true
                case .failure(.wantRead): wantRead = true
                case .failure(let error): throw CellFailure("write after \(sent) bytes: \(error)")
                }
            }
            if received.count < expect {
                let read = buffer.withUnsafeMutableBytes { bytes in
                    Result { () throws(SSLError) in try connection.read(into: bytes) }
                }
                switch read {
                case .success(let count):
                    received += buffer[..<count]
                    progressed = true
                case .failure(.wantRead): wantRead = true
                case .failure(.wantWrite): wantWrite = true
                case .failure(let error):
                    throw CellFailure("read after \(received.count) of \(expect) bytes: \(error)")
                }
            }
            if !progressed {
                guard wait(readable: wantRead || received.count < expect, writable: wantWrite) else {
                    throw CellFailure("timed out: sent \(sent) of \(payload.count), received \(received.count) of \(expect)")
                }
            }
        }
        return received
    }

    /// Echoes what arrives until `limit` bytes were echoed or the peer ends
    /// the connection; returns the count and how the peer ended it (nil
    /// when the limit was reached first).
    func echo(limit: Int = .max) throws -> (echoed: Int, end: SSLError?) {
        setNonBlocking()
        var pending: [UInt8] = []
        var echoed = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var end: SSLError?
        while true {
            var progressed = false
            var wantRead = false
            var wantWrite = false
            if !pending.isEmpty {
                let count = min(pending.count, 16_384)
                switch Result(catching: { () throws(SSLError) in try connection.write(Array(pending[..<count])) }) {
                case .success(let written):
                    pending.removeFirst(written)
                    echoed += written
                    progressed = true
                case .failure(.wantWrite): wantWrite = true
                case .failure(.wantRead): wantRead = true
                case .failure(let error): throw CellFailure("echo write after \(echoed) bytes: \(error)")
                }
            }
            if pending.isEmpty && (end != nil || echoed >= limit) { return (echoed, end) }
            if end == nil && echoed + pending.count < limit {
                let read = buffer.withUnsafeMutableBytes { bytes in
                    Result { () throws(SSLError) in try connection.read(into: bytes) }
                }
                switch read {
                case .success(let count):
                    pending += buffer[..<count]
                    progressed = true
                case .failure(.wantRead): wantRead = true
                case .failure(.wantWrite): wantWrite = true
                case .failure(let error):
                    end = error
                    progressed = true
                }
            }
            if !progressed {
                guard wait(readable: wantRead, writable: wantWrite) else {
                    throw CellFailure("echo timed out after \(echoed) bytes")
                }
            }
        }
    }

    /// Reads until the peer ends the connection; returns what came and the error that ended it.
    func readToEnd() throws -> (data: [UInt8], end: SSLError) {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        setNonBlocking()
        while true {
            let read = buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(SSLError) in try connection.read(into: bytes) }
            }
            switch read {
            case .success(let count):
                data += buffer[..<count]
            case .failure(.wantRead):
                guard wait(readable: true, writable: false) else {
                    throw CellFailure("timed out waiting for the peer to close (read \(data.count) bytes)")
                }
            case .failure(.wantWrite):
                guard wait(readable: false, writable: true) else { throw CellFailure("timed out writing") }
            case .failure(let error):
                return (data, error)
            }
        }
    }

    /// Sends close_notify. Returns true when the peer's close_notify came
    /// back before the deadline (a complete, two-way shutdown).
    func shutdown(waitForPeer: Bool) throws -> Bool {
        if let error = try shutdownAwaitingReply(waitForPeer: waitForPeer) {
            throw CellFailure("waiting for the peer's close_notify: \(error)")
        }
        return waitForPeer ? true : connection.shutdownState.contains(.received)
    }

    /// Sends close_notify and (when `waitForPeer`) waits for the peer's.
    /// Returns nil when that came (or was not awaited), else the error that
    /// ended the wait (a peer that closes its socket without answering).
    func shutdownAwaitingReply(waitForPeer: Bool = true) throws -> SSLError? {
        var complete = false
        let sent = Result(catching: { () throws(SSLError) in
            try drive { () throws(SSLError) in complete = try connection.shutdown() }
        })
        switch sent {
        case .success: break
        case .failure(let error): throw CellFailure("sending close_notify: \(error)")
        }
        guard waitForPeer, !complete else { return nil }
        // The peer's close_notify: shutdown() again completes when it arrives.
        let answered = Result(catching: { () throws(SSLError) in
            try drive { () throws(SSLError) in complete = try connection.shutdown() }
        })
        switch answered {
        case .success: return complete ? nil : .usage("shutdown did not complete")
        case .failure(let error): return error
        }
    }

    /// Closes the socket without close_notify.
    func closeAbruptly() {
        socket.close()
    }

    func close() {
        socket.close()
    }
}

extension SSLError {
    /// The case name, for messages.
    var caseName: String {
        switch self {
        case .zeroReturn: return "zeroReturn"
        case .sysCall: return isUnexpectedEOF ? "sysCall(unexpected EOF)" : "sysCall"
        case .ssl: return "ssl"
        default: return String(describing: self)
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a payload is cheap to
/// make and the same on every run.
func payloadBytes(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return bytes
}

/// Deterministic pseudo-random printable text in lines of 64 bytes (63
/// characters and a newline), `count` bytes long.
func payloadLines(count: Int) -> [UInt8] {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var bytes = payloadBytes(count: count, seed: 0x2545_F491_4F6C_DD1D)
    for index in bytes.indices {
        bytes[index] = index % 64 == 63 ? UInt8(ascii: "\n") : alphabet[Int(bytes[index] & 63)]
    }
    return bytes
}

/// The first offset where `a` and `b` differ, or nil when equal.
func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if a == b { return nil }
    for index in 0..<min(a.count, b.count) where a[index] != b[index] { return index }
    return min(a.count, b.count)
}
