#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization
import Testing
@testable import OpenSSL
import TestSupport

/// A server on 127.0.0.1 that handles connections one after another on a
/// thread of its own, each with `handler`, which must close the socket.
private final class SerialServer: Sendable {
    let listener: TCPSocket
    let port: UInt16
    private let done = DispatchSemaphore(value: 0)
    private let failures = LockedBox<[String]>([])

    /// Accepts `count` connections. `bufferSize` (when given) makes the
    /// accepted sockets' kernel buffers small, so a large response cannot
    /// hide in them.
    init(
        count: Int, bufferSize: Int32? = nil,
        handler: @escaping @Sendable (TCPSocket) throws -> Void
    ) throws {
        listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        if let bufferSize, let fd = listener.fileDescriptor {
            var size = bufferSize
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        port = listener.localPort
        let listener = self.listener
        let done = self.done
        let failures = self.failures
        Thread.detachNewThread {
            defer { done.signal() }
            for _ in 0..<count {
                guard let socket = try? listener.accept(timeout: .seconds(20)) else {
                    failures.mutate { $0.append("accept timed out") }
                    return
                }
                do {
                    try handler(socket)
                } catch {
                    failures.mutate { $0.append("\(error)") }
                }
            }
        }
    }

    /// Waits for the server thread; what its handler threw.
    func finish() -> [String] {
        _ = done.wait(timeout: .now() + 30)
        listener.close()
        return failures.get()
    }
}

/// A client connection over TCP to `port`, handshake done.
func connectClient(
    _ port: UInt16, context: Context, session: Session? = nil,
    receiveBuffer: Int32? = nil
) throws -> (TCPSocket, Connection) {
    let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(10))
    if let receiveBuffer, let fd = socket.fileDescriptor {
        var size = receiveBuffer
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    try socket.setReadTimeout(.seconds(10))
    let connection = try Connection(context, transport: socket)
    connection.setConnectState()
    try connection.setServerName("localhost")
    if let session { try connection.setSession(session) }
    try connection.doHandshake()
    return (socket, connection)
}

/// Writes `total` bytes of junk straight to the socket (not TLS records);
/// the count written before an error (a reset) stopped it.
func sendRaw(_ socket: TCPSocket, total: Int, first: [UInt8] = []) -> (sent: Int, error: (any Error)?) {
    var chunk = first + [UInt8](repeating: 0x41, count: 16_384 - first.count)
    var sent = 0
    while sent < total {
        do {
            let count = try chunk.withUnsafeBytes { try socket.write($0) } ?? 0
            sent += count
            if count < chunk.count {
                chunk = Array(chunk[count...])
            } else {
                chunk = [UInt8](repeating: 0x41, count: 16_384)
            }
        } catch {
            return (sent, error)
        }
    }
    return (sent, nil)
}

/// The two clients of G01 that a server closing too early would reset.
enum CloseProbe {
    /// Handshakes, then sends a TLS 1.3 application-data record header
    /// claiming 65535 bytes (more than any record may hold) and 512 KiB
    /// more — far more than the kernel buffers hold, so the server must
    /// read them — and reads. Nil when every byte went out and the read
    /// brought the record_overflow alert; else what happened instead.
    static func oversizedRecord(port: UInt16, context: Context) throws -> String? {
        let (socket, client) = try connectClient(port, context: context, receiveBuffer: 16_384)
        defer { socket.close() }
        let header: [UInt8] = [0x17, 0x03, 0x03, 0xff, 0xff]
        let sent = sendRaw(socket, total: 512 * 1024, first: header)
        do {
            _ = try client.read(max: 100)
            return "read data instead of an alert"
        } catch {
            if case .ssl(let reason) = error, reason.hasReason("tlsv1 alert record overflow") {
                return sent.error.map { "the alert came, but sending failed: \($0)" }
            }
            return "\(error) (sent \(sent.sent) bytes, \(sent.error.map { "\($0)" } ?? "no send error"))"
        }
    }

    /// Handshakes, sends `request`, then goes on sending raw bytes (which
    /// the server never parses) while it reads the response until the
    /// server's close_notify. Returns what it read, and how it ended
    /// ("close_notify", or the error).
    static func keepSending(port: UInt16, context: Context, request: [UInt8]) throws -> ([UInt8], String) {
        let (socket, client) = try connectClient(port, context: context, receiveBuffer: 65_536)
        defer { socket.close() }
        try client.writeAll(request)
        let stop = Atomic<Bool>(false)
        let sender = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0x42, count: 4096)
            while !stop.load(ordering: .relaxed) {
                if (try? chunk.withUnsafeMutableBytes({ try socket.write(UnsafeRawBufferPointer($0)) })) == nil { break }
            }
            sender.signal()
        }
        var received: [UInt8] = []
        var ending = "none"
        reading: while true {
            do {
                received += try client.read(max: 65_536)
            } catch .zeroReturn {
                ending = "close_notify"
                break reading
            } catch {
                ending = "\(error)"
                break reading
            }
        }
        stop.store(true, ordering: .relaxed)
        try? socket.shutdown(.write)
        _ = sender.wait(timeout: .now() + 10)
        return (received, ending)
    }
}

@Suite("Graceful close (G01)")
struct GracefulCloseTests {
    static let pki = TestPKI.shared

    /// The server side of the oversized-record test: the handshake, a read
    /// that fails with record_overflow, then `close`.
    private static func overflowServer(count: Int, graceful: Bool) throws -> SerialServer {
        let context = try TestContexts.server()
        return try SerialServer(count: count, bufferSize: 16_384) { socket in
            let connection = try Connection(context, transport: socket)
            connection.setAcceptState()
            defer {
                if graceful { connection.closeGracefully(within: .seconds(5)) } else { socket.close() }
            }
            try connection.doHandshake()
            do {
                _ = try connection.read(max: 100)
                throw SocketError(operation: "the oversized record was read", errno: EPROTO)
            } catch let error as SSLError {
                guard case .ssl(let reason) = error,
                    reason.hasReason("record overflow")
                        || reason.hasReason("packet length too long") || reason.hasReason("encrypted length too long")
                else {
                    throw error
                }
            }
        }
    }

    @Test("G01 a client that sends an oversized record and keeps sending reads the record_overflow alert, 100 runs of 100")
    func oversizedRecordAlertArrives() throws {
        let runs = 100
        let server = try Self.overflowServer(count: runs, graceful: true)
        let context = try TestContexts.client()
        var failures: [String] = []
        for run in 0..<runs {
            if let failure = try CloseProbe.oversizedRecord(port: server.port, context: context) {
                failures.append("run \(run): \(failure)")
            }
        }
        #expect(server.finish().isEmpty)
        #expect(failures.isEmpty, "\(failures.count) of \(runs) runs failed: \(failures.prefix(5))")
    }

    @Test("G01 a client that keeps sending after its request reads the whole response and close_notify, 100 runs of 100")
    func wholeResponseArrives() throws {
        let runs = 100
        let responseSize = 512 * 1024
        let context = try TestContexts.server()
        let server = try SerialServer(count: runs, bufferSize: 65_536) { socket in
            let connection = try Connection(context, transport: socket)
            connection.setAcceptState()
            defer { connection.closeGracefully(within: .seconds(5)) }
            try connection.doHandshake()
            _ = try connection.read(max: 100)
            try connection.writeAll([UInt8](repeating: 0x5a, count: responseSize))
        }
        let clientContext = try TestContexts.client()
        var failures: [String] = []
        for run in 0..<runs {
            let (received, ending) = try CloseProbe.keepSending(
                port: server.port, context: clientContext,
                request: Array("GET /\r\n\r\n".utf8))
            if received.count != responseSize || ending != "close_notify" {
                failures.append("run \(run): \(received.count) of \(responseSize) bytes, then \(ending)")
            }
        }
        #expect(server.finish().isEmpty)
        #expect(failures.isEmpty, "\(failures.count) of \(runs) runs failed: \(failures.prefix(5))")
    }

    @Test("G01 closeGracefully is bounded when the peer keeps sending and never closes")
    func boundedAgainstEndlessSender() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let client = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(5))
        defer { client.close() }
        let server = try listener.accept(timeout: .seconds(5))
        let stop = Atomic<Bool>(false)
        let sender = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0x43, count: 4096)
            while !stop.load(ordering: .relaxed) {
                if (try? chunk.withUnsafeMutableBytes({ try client.write(UnsafeRawBufferPointer($0)) })) == nil { break }
            }
            sender.signal()
        }
        let started = ContinuousClock.now
        let outcome = server.closeGracefully(within: .milliseconds(300))
        let took = ContinuousClock.now - started
        stop.store(true, ordering: .relaxed)
        _ = sender.wait(timeout: .now() + 10)
        #expect(took >= .milliseconds(290) && took < .seconds(2), "took \(took)")
        #expect(!outcome.peerClosed)
        #expect(outcome.discardedBytes > 0)
        #expect(server.isClosed)
        // Closing again, or a closed socket, does nothing.
        #expect(server.closeGracefully() == GracefulClose())
    }

    @Test("G01 a peer that closes at once ends the drain at once; its last bytes are discarded")
    func peerClosingEndsDrain() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let client = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(5))
        let server = try listener.accept(timeout: .seconds(5))
        _ = try Array("last words".utf8).withUnsafeBytes { try client.write($0) }
        client.close()
        let started = ContinuousClock.now
        let outcome = server.closeGracefully(within: .seconds(5))
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(outcome == GracefulClose(sentCloseNotify: false, peerClosed: true, discardedBytes: 10))
    }

    /// A TLS 1.2 client without tickets (so resumption goes through the
    /// server's session cache, by session ID) that closes first.
    private static func resumingClient() throws -> Context {
        let context = try TestContexts.client()
        try context.setMaximumProtocolVersion(.tls1_2)
        try context.setOptions(.noTicket)
        return context
    }

    /// Connects, sends close_notify first, reads the server's answer (or
    /// end of stream), and returns the session and whether it was resumed.
    private static func closeFirst(_ port: UInt16, context: Context, session: Session?) throws -> (Session?, Bool, Bool) {
        let (socket, client) = try connectClient(port, context: context, session: session)
        defer { socket.close() }
        try client.writeAll(Array("hello".utf8))
        #expect(try client.read(max: 100) == Array("hello".utf8))
        try client.shutdown()
        var answered = false
        do {
            answered = try client.shutdown()
        } catch {
            answered = false
        }
        return (client.session, client.isSessionReused, answered)
    }

    @Test("G01 a TLS 1.2 client that sends close_notify first resumes by session ID when the server closes gracefully")
    func cleanCloseKeepsSession() throws {
        for graceful in [true, false] {
            let context = try TestContexts.server()
            let server = try SerialServer(count: 2) { socket in
                let connection = try Connection(context, transport: socket)
                connection.setAcceptState()
                try connection.doHandshake()
                var buffer = [UInt8](repeating: 0, count: 100)
                while true {
                    do {
                        let count = try connection.read(into: &buffer)
                        try connection.writeAll(Array(buffer[..<count]))
                    } catch SSLError.zeroReturn {
                        break
                    }
                }
                // The echo server's two ways to end: answered, or the
                // connection dropped as soon as the client's close_notify came.
                if graceful { connection.closeGracefully() } else { socket.close() }
            }
            let clientContext = try Self.resumingClient()
            let (session, firstReused, answered) = try Self.closeFirst(server.port, context: clientContext, session: nil)
            #expect(!firstReused && session != nil)
            #expect(answered == graceful, "graceful: \(graceful)")
            let (_, reused, _) = try Self.closeFirst(server.port, context: clientContext, session: session)
            #expect(server.finish().isEmpty)
            // Answering the client's close_notify keeps the session in the
            // server's cache; dropping the connection without it loses it.
            #expect(reused == graceful, "graceful: \(graceful)")
        }
    }

    @Test("G01 a failed connection sends no close_notify: the client reads the fatal alert, then end of stream")
    func failedConnectionSendsNoCloseNotify() throws {
        let context = try TestContexts.server()
        let outcome = LockedBox<GracefulClose?>(nil)
        let server = try SerialServer(count: 1) { socket in
            let connection = try Connection(context, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
            _ = try? connection.read(max: 100)  // the oversized record: record_overflow
            let result = connection.closeGracefully()
            outcome.set(result)
        }
        let (socket, client) = try connectClient(server.port, context: try TestContexts.client())
        _ = sendRaw(socket, total: 5, first: [0x17, 0x03, 0x03, 0xff, 0xff])
        #expect(throws: SSLError.self) { _ = try client.read(max: 10) }
        // After the alert: no close_notify record, only the end of the stream.
        var rest = [UInt8](repeating: 0, count: 100)
        #expect(try rest.withUnsafeMutableBytes { try socket.read(into: $0) } == 0)
        socket.close()
        #expect(server.finish().isEmpty)
        let result = try #require(outcome.get())
        #expect(!result.sentCloseNotify && result.peerClosed && result.discardedBytes > 0, "\(result)")
    }

    @Test("G01 over memory BIOs closeGracefully queues close_notify for bioRead, once, and only after a clean handshake")
    func gracefulCloseOverMemory() throws {
        let unfinished = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        #expect(!unfinished.client.closeGracefully().sentCloseNotify, "no handshake: nothing to close")
        #expect(unfinished.client.pendingCiphertext == 0)

        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        let outcome = pair.server.closeGracefully(within: .seconds(1))
        #expect(outcome.sentCloseNotify)
        #expect(pair.server.shutdownState.contains(.sent))
        #expect(pair.server.pendingCiphertext > 0, "close_notify waits for bioRead")
        try pair.pump()
        #expect(sslErrorCase { _ = try pair.client.read(max: 10) } == .zeroReturn)
        #expect(!pair.server.closeGracefully().sentCloseNotify, "sent already")
        expectErrorQueueEmpty()
    }
}
