import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// TLS over real sockets and over Swift transports (CONFORMANCE S03, S05, S07, S10, S11, S13, S14).
@Suite("TLS over sockets and transports")
struct TransportTLSTests {
    static var pki: TestPKI { TestPKI.shared }

    /// Runs `serve` on a thread with the accepted socket; returns the port.
    /// The listener is closed when the server is done; the thread is joined
    /// (bounded) by `wait()`.
    final class ThreadedServer: @unchecked Sendable {  // `error` is written by the server thread before `done` is signalled
        let listener: TCPSocket
        let done = DispatchSemaphore(value: 0)
        var error: (any Error)?

        init(_ serve: @escaping @Sendable (TCPSocket) throws -> Void) throws {
            listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
            let listener = self.listener
            Thread.detachNewThread { [self] in
                defer {
                    listener.close()
                    done.signal()
                }
                do {
                    let socket = try listener.accept(timeout: .seconds(10))
                    defer { socket.close() }
                    try serve(socket)
                } catch {
                    self.error = error
                }
            }
        }

        var port: UInt16 { listener.localPort }

        /// Waits (at most 20 s) for the server thread; returns its error.
        func wait() -> (any Error)? {
            if done.wait(timeout: .now() + 20) == .timedOut { return ServerTimedOut() }
            return error
        }
    }

    struct ServerTimedOut: Error {}

    @Test(
        "S03 a TLS exchange over real TCP sockets on 127.0.0.1, both TLS versions", arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func overTCP(version: ProtocolVersion) throws {
        let serverContext = try TestContexts.server()
        try serverContext.setMaximumProtocolVersion(version)
        let server = try ThreadedServer { socket in
            let connection = try Connection(serverContext, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
            let request = try connection.read(max: 100)
            try connection.writeAll(Array("echo: ".utf8) + request)
            _ = try connection.shutdown()
        }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        #expect(client.protocolVersion == version)
        try client.writeAll(Array("ping".utf8))
        var reply: [UInt8] = []
        while reply.count < 10 { reply += try client.read(max: 100) }
        #expect(reply == Array("echo: ping".utf8))
        #expect(sslErrorCase { _ = try client.read(max: 10) } == .zeroReturn)
        #expect(server.wait() == nil)
        expectErrorQueueEmpty()
    }

    @Test("S05 a full non-blocking socket makes write throw wantWrite")
    func nonBlockingWantWrite() throws {
        let serverContext = try TestContexts.server()
        let release = DispatchSemaphore(value: 0)
        let server = try ThreadedServer { socket in
            let connection = try Connection(serverContext, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
            // Read nothing until the client has filled the socket.
            _ = release.wait(timeout: .now() + 15)
        }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        try socket.setBlocking(false)
        #expect(!socket.isBlocking)
        let chunk = [UInt8](repeating: 0x42, count: 16_384)
        var outcome: SSLErrorCase?
        for _ in 0..<10_000 {
            outcome = sslErrorCase { _ = try client.write(chunk) }
            if outcome != nil { break }
        }
        #expect(outcome == .wantWrite)
        #expect(client.wantsWrite)
        release.signal()
        _ = server.wait()
        expectErrorQueueEmpty()
    }

    /// A client over TCP whose server completed the handshake and then hung
    /// up at the TCP level, without close_notify. Keep the socket until done.
    static func clientOfVanishedServer() throws -> (client: Connection, socket: TCPSocket) {
        let serverContext = try TestContexts.server()
        let server = try ThreadedServer { socket in
            let connection = try Connection(serverContext, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
        }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        #expect(server.wait() == nil)
        return (client, socket)
    }

    /// Writes 4 KiB at a time until a write fails (at most 200 tries); the failure.
    static func writeUntilFailure(_ client: Connection) -> SSLError? {
        for _ in 0..<200 {
            switch Result(catching: { () throws(SSLError) in try client.write([UInt8](repeating: 1, count: 4096)) }) {
            case .success: usleep(5_000)
            case .failure(let error): return error
            }
        }
        return nil
    }

    @Test("S10 writing to a peer that closed the socket throws sysCall with EPIPE or ECONNRESET")
    func writeAfterPeerClosed() throws {
        let (client, socket) = try Self.clientOfVanishedServer()
        defer { socket.close() }
        let failure = Self.writeUntilFailure(client)
        guard case .sysCall(let code, _) = failure else {
            Issue.record("expected sysCall, got \(String(describing: failure))")
            return
        }
        #expect(code == EPIPE || code == ECONNRESET)
        expectErrorQueueEmpty()
    }

    @Test("S11 a peer that hangs up without close_notify: read throws sysCall marked unexpected EOF, over a socket")
    func unexpectedEOFOverSocket() throws {
        let serverContext = try TestContexts.server()
        let server = try ThreadedServer { socket in
            let connection = try Connection(serverContext, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
            try connection.writeAll(Array("bye".utf8))
        }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        try socket.setReadTimeout(.seconds(10))
        let client = try Connection(try TestContexts.client(), transport: socket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        var received: [UInt8] = []
        while received.count < 3 { received += try client.read(max: 10) }
        #expect(received == Array("bye".utf8))
        #expect(server.wait() == nil)
        let error = try #require(throws: SSLError.self) { _ = try client.read(max: 10) }
        #expect(error.isUnexpectedEOF, "\(error)")
        expectErrorQueueEmpty()
    }

    /// Drives a client and a server over a `MemoryTransportPair` on one
    /// thread, stepping each until both are done (bounded).
    static func handshake(_ client: Connection, _ server: Connection, steps: Int = 200_000) throws {
        for _ in 0..<steps {
            if client.isHandshakeDone && server.isHandshakeDone { return }
            for connection in [client, server] where !connection.isHandshakeDone {
                switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
                case .success, .failure(.wantRead), .failure(.wantWrite): break
                case .failure(let error): throw error
                }
            }
        }
        Issue.record("handshake did not finish in \(steps) steps")
    }

    @Test(
        "S13 a Swift transport carries a handshake and data; a throwing transport makes the driving call throw .transport(thatError)"
    )
    func swiftTransport() throws {
        let pair = MemoryTransportPair()
        let client = try Connection(try TestContexts.client(), transport: pair.client)
        let server = try Connection(try TestContexts.server(), transport: pair.server)
        client.setConnectState()
        server.setAcceptState()
        try client.setServerName("localhost")
        try Self.handshake(client, server)
        try client.writeAll(Array("over swift".utf8))
        #expect(try server.read(max: 100) == Array("over swift".utf8))

        struct Cable: Error, Equatable { let id: Int }
        let broken = MemoryTransportPair(client: TransportFaults(error: Cable(id: 7), errorOnCall: 2, errorOn: .any))
        let failing = try Connection(try TestContexts.client(), transport: broken.client)
        let peer = try Connection(try TestContexts.server(), transport: broken.server)
        failing.setConnectState()
        peer.setAcceptState()
        try failing.setServerName("localhost")
        var thrown: (any Error)?
        stepping: for _ in 0..<100 {
            switch Result(catching: { () throws(SSLError) in try failing.doHandshake() }) {
            case .success:
                break stepping
            case .failure(.transport(let error)):
                thrown = error
                break stepping
            case .failure(.wantRead), .failure(.wantWrite):
                _ = sslErrorCase { try peer.doHandshake() }
            case .failure(let error):
                Issue.record("unexpected \(error)")
                break stepping
            }
        }
        #expect(thrown as? Cable == Cable(id: 7))
        expectErrorQueueEmpty()
    }

    @Test(
        "S14 one-byte reads and writes at every step still complete a handshake and a 1 MiB transfer intact",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func oneByteAtATime(version: ProtocolVersion) throws {
        let faults = TransportFaults(
            maxBytesPerRead: 1, maxBytesPerWrite: 1, wouldBlockEveryNthRead: 3, wouldBlockEveryNthWrite: 5)
        let pair = MemoryTransportPair(client: faults, server: faults)
        let serverContext = try TestContexts.server()
        try serverContext.setMaximumProtocolVersion(version)
        let client = try Connection(try TestContexts.client(), transport: pair.client)
        let server = try Connection(serverContext, transport: pair.server)
        client.setConnectState()
        server.setAcceptState()
        try client.setServerName("localhost")
        try Self.handshake(client, server)
        #expect(client.protocolVersion == version)
        // Bulk data with larger steps, so the test stays quick; still short reads and writes.
        pair.client.faults = TransportFaults(maxBytesPerRead: 1000, maxBytesPerWrite: 777, wouldBlockEveryNthWrite: 7)
        pair.server.faults = TransportFaults(maxBytesPerRead: 333, wouldBlockEveryNthRead: 5)
        let payload = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        var sent = 0
        var received: [UInt8] = []
        received.reserveCapacity(payload.count)
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var steps = 0
        while received.count < payload.count && steps < 2_000_000 {
            steps += 1
            if sent < payload.count {
                let end = min(sent + 16_384, payload.count)
                let written = payload.withUnsafeBytes { bytes in
                    Result { () throws(SSLError) in try client.write(UnsafeRawBufferPointer(rebasing: bytes[sent..<end])) }
                }
                switch written {
                case .success(let count): sent += count
                case .failure(.wantRead), .failure(.wantWrite): break
                case .failure(let error): throw error
                }
            }
            let read = buffer.withUnsafeMutableBytes { bytes in
                Result { () throws(SSLError) in try server.read(into: bytes) }
            }
            switch read {
            case .success(let count): received += buffer[..<count]
            case .failure(.wantRead), .failure(.wantWrite): break
            case .failure(let error): throw error
            }
        }
        #expect(received.count == payload.count)
        #expect(received == payload)
    }

    @Test(
        "S07 a write retried after wantWrite: another buffer address works by default, bad write retry when the mode is cleared")
    func writeRetryWithMovedBuffer() throws {
        for moving in [true, false] {
            let pair = MemoryTransportPair()
            let clientContext = try TestContexts.client()
            if !moving { try clientContext.clearMode(.acceptMovingWriteBuffer) }
            let client = try Connection(clientContext, transport: pair.client)
            let server = try Connection(try TestContexts.server(), transport: pair.server)
            client.setConnectState()
            server.setAcceptState()
            try client.setServerName("localhost")
            try Self.handshake(client, server)
            // Block the client's writes, then write.
            pair.client.faults = TransportFaults(wouldBlockEveryNthWrite: 1)
            let first = [UInt8](repeating: 7, count: 5000)
            #expect(sslErrorCase { _ = try client.write(first) } == .wantWrite)
            pair.client.faults = TransportFaults()
            // Retry with the same bytes at another address (a new array, not a copy-on-write alias).
            let moved = [UInt8](repeating: 7, count: 5000)
            #expect(moved.withUnsafeBytes { $0.baseAddress } != first.withUnsafeBytes { $0.baseAddress })
            let retried = Result { () throws(SSLError) in try client.write(moved) }
            if moving {
                #expect(try retried.get() == 5000)
                var received: [UInt8] = []
                while received.count < 5000 { received += try server.read(max: 10_000) }
                #expect(received == first)
            } else {
                guard case .failure(let error) = retried else {
                    Issue.record("expected bad write retry")
                    continue
                }
                #expect(error.openSSLError?.hasReason("bad write retry") == true, "\(error)")
            }
        }
        expectErrorQueueEmpty()
    }
}
