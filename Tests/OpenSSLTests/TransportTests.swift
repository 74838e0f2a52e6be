import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The transport layer without TLS on top: `TCPSocket` over loopback, the
/// custom-BIO `TransportBridge` driven directly with `BIO_read_ex` /
/// `BIO_write_ex` (and under a bare `SSL` object), and the fault-injecting
/// `MemoryTransportPair` the TLS tests build on.
@Suite("Transport", .timeLimit(.minutes(1)))
struct TransportTests {
    /// Whether this machine can listen on IPv6 loopback.
    static let ipv6LoopbackAvailable: Bool = {
        guard let socket = try? TCPSocket.listen(host: "::1") else { return false }
        socket.close()
        return true
    }()

    static let patience: Duration = .seconds(5)
}

// MARK: - Helpers

/// A listener on `host` with one accepted connection; every socket bounded by read and write timeouts.
private struct LoopbackConnection {
    let listener: TCPSocket
    let client: TCPSocket
    let server: TCPSocket

    init(host: String = "127.0.0.1") throws {
        listener = try TCPSocket.listen(host: host)
        client = try TCPSocket.connect(host: host, port: listener.localPort, timeout: TransportTests.patience)
        server = try listener.accept(timeout: TransportTests.patience)
        for socket in [client, server] {
            try socket.setReadTimeout(TransportTests.patience)
            try socket.setWriteTimeout(TransportTests.patience)
        }
    }

    func close() {
        for socket in [listener, client, server] { socket.close() }
    }
}

private struct Timeout: Error {}

private func writeAll(_ socket: TCPSocket, _ bytes: [UInt8]) throws {
    var offset = 0
    while offset < bytes.count {
        let written = try bytes.withUnsafeBytes { try socket.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        if let written {
            offset += written
        } else if try !socket.waitWritable(timeout: TransportTests.patience) {
            throw Timeout()
        }
    }
}

/// Reads until `count` bytes or end of stream.
private func read(_ socket: TCPSocket, count: Int) throws -> [UInt8] {
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: count)
    while received.count < count {
        let wanted = count - received.count
        let n = try buffer.withUnsafeMutableBytes {
            try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<wanted]))
        }
        guard let n else {
            guard try socket.waitReadable(timeout: TransportTests.patience) else { throw Timeout() }
            continue
        }
        if n == 0 { break }
        received += buffer[..<n]
    }
    return received
}

private func bioWrite(_ bio: OpaquePointer, _ bytes: [UInt8]) -> (result: Int32, written: Int) {
    var written = 0
    let result = bytes.withUnsafeBytes { BIO_write_ex(bio, $0.baseAddress, $0.count, &written) }
    return (result, written)
}

private func bioRead(_ bio: OpaquePointer, max: Int) -> (result: Int32, bytes: [UInt8]) {
    var buffer = [UInt8](repeating: 0, count: max)
    var read = 0
    let result = buffer.withUnsafeMutableBytes { BIO_read_ex(bio, $0.baseAddress, $0.count, &read) }
    return (result, Array(buffer[..<read]))
}

private func write(_ transport: MemoryTransport, _ bytes: [UInt8]) throws -> Int? {
    try bytes.withUnsafeBytes { try transport.write($0) }
}

private func read(_ transport: MemoryTransport, max: Int) throws -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: max)
    let n = try buffer.withUnsafeMutableBytes { try transport.read(into: $0) }
    return n.map { Array(buffer[..<$0]) }
}

/// An error with an identity, to check that the very error a transport threw comes back.
private struct TransportFailure: Error, Equatable {
    let id: Int
}

/// A transport that breaks its contract: it claims more bytes than the buffer holds.
private final class OverclaimingTransport: Transport {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? { buffer.count + 1 }
    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? { buffer.count + 1 }
}

/// A transport whose writes accept nothing (0 bytes).
private final class StalledTransport: Transport {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? { nil }
    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? { 0 }
}

// MARK: - TCPSocket

extension TransportTests {
    @Suite("TCPSocket")
    struct Sockets {
        @Test("Listen on 127.0.0.1 port 0, connect, accept, echo both ways")
        func echoIPv4() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            let port = connection.listener.localPort
            #expect(port != 0)
            #expect(connection.listener.localAddress == "127.0.0.1:\(port)")
            #expect(connection.client.remoteAddress == "127.0.0.1:\(port)")
            #expect(connection.server.remoteAddress == "127.0.0.1:\(connection.client.localPort)")
            #expect(connection.client.isBlocking && connection.server.isBlocking)
            #expect(connection.client.fileDescriptor != nil)
            #expect(connection.client.fileDescriptor != connection.server.fileDescriptor)

            let request = Array("ping over loopback".utf8)
            try writeAll(connection.client, request)
            #expect(try read(connection.server, count: request.count) == request)
            let response = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            // Large enough that the kernel takes it in several pieces.
            let writer = Thread { try? writeAll(connection.server, response) }
            writer.start()
            #expect(try read(connection.client, count: response.count) == response)
        }

        @Test(
            "IPv6 loopback: listen on ::1, connect, echo; addresses in brackets",
            .enabled(if: TransportTests.ipv6LoopbackAvailable, "IPv6 loopback (::1) is not available on this machine"))
        func echoIPv6() throws {
            let connection = try LoopbackConnection(host: "::1")
            defer { connection.close() }
            let port = connection.listener.localPort
            #expect(connection.client.remoteAddress == "[::1]:\(port)")
            #expect(connection.server.remoteAddress == "[::1]:\(connection.client.localPort)")
            try writeAll(connection.server, [1, 2, 3])
            #expect(try read(connection.client, count: 3) == [1, 2, 3])
        }

        @Test("connect tries each address of a name until one accepts")
        func connectByName() throws {
            // "localhost" may resolve to ::1 first; only 127.0.0.1 listens.
            let listener = try TCPSocket.listen(host: "127.0.0.1")
            defer { listener.close() }
            let client = try TCPSocket.connect(host: "localhost", port: listener.localPort, timeout: TransportTests.patience)
            defer { client.close() }
            let server = try listener.accept(timeout: TransportTests.patience)
            defer { server.close() }
            #expect(client.remoteAddress == "127.0.0.1:\(listener.localPort)")
        }

        @Test("A non-blocking read with nothing to read returns nil; waitReadable then sees the bytes")
        func nonBlockingRead() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            try connection.client.setBlocking(false)
            #expect(!connection.client.isBlocking)
            var buffer = [UInt8](repeating: 0, count: 16)
            #expect(try buffer.withUnsafeMutableBytes { try connection.client.read(into: $0) } == nil)
            #expect(try connection.client.waitReadable(timeout: .zero) == false)
            try writeAll(connection.server, [7, 8, 9])
            #expect(try connection.client.waitReadable(timeout: TransportTests.patience))
            #expect(try buffer.withUnsafeMutableBytes { try connection.client.read(into: $0) } == 3)
            #expect(buffer[..<3] == [7, 8, 9])
            try connection.client.setBlocking(true)
            #expect(connection.client.isBlocking)
        }

        @Test("A non-blocking write into a full send buffer returns nil and waitWritable says not yet")
        func nonBlockingWrite() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            try connection.client.setBlocking(false)
            let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
            var total = 0
            var blocked = false
            while total < 256 * 1024 * 1024 {
                guard let n = try chunk.withUnsafeBytes({ try connection.client.write($0) }) else {
                    blocked = true
                    break
                }
                total += n
            }
            #expect(blocked)
            #expect(total > 0)
            #expect(try connection.client.waitWritable(timeout: .zero) == false)
        }

        @Test("Writing to a peer that closed gives EPIPE or ECONNRESET, never SIGPIPE")
        func writeToClosedPeer() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            connection.server.close()
            #expect(try read(connection.client, count: 1) == [])  // the peer's FIN

            // A send without MSG_NOSIGNAL would leave SIGPIPE pending (see withSIGPIPEBlocked).
            let (failure, raised) = withSIGPIPEBlocked { () -> SocketError? in
                for _ in 0..<200 {
                    do {
                        _ = try [UInt8](repeating: 1, count: 1024).withUnsafeBytes { try connection.client.write($0) }
                        Thread.sleep(forTimeInterval: 0.01)
                    } catch let error as SocketError {
                        return error
                    } catch {
                        return nil
                    }
                }
                return nil
            }
            #expect(!raised, "the write raised SIGPIPE")
            let error = try #require(failure)
            #expect(error.code == .EPIPE || error.code == .ECONNRESET, "\(error)")
            #expect(error.operation == "write")
            #expect(error.message == String(cString: strerror(error.errno)))
        }

        @Test("Connecting to a closed port gives ECONNREFUSED")
        func connectionRefused() throws {
            let listener = try TCPSocket.listen()
            let port = listener.localPort
            listener.close()
            let error = try #require(throws: SocketError.self) {
                try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: TransportTests.patience)
            }
            #expect(error.code == .ECONNREFUSED)
            #expect(error.description.contains("connect to 127.0.0.1:\(port)"))
        }

        @Test("connect gives ETIMEDOUT when the peer never answers (its accept queue is full)")
        func connectTimeout() throws {
            let listener = try TCPSocket.listen(backlog: 1)
            defer { listener.close() }
            var queued: [TCPSocket] = []
            defer { queued.forEach { $0.close() } }
            var timedOut: SocketError?
            let clock = ContinuousClock()
            var slowest: Duration = .zero
            for _ in 0..<8 where timedOut == nil {
                let start = clock.now
                do {
                    queued.append(
                        try TCPSocket.connect(
                            host: "127.0.0.1", port: listener.localPort,
                            timeout: .milliseconds(300)))
                } catch let error as SocketError {
                    timedOut = error
                }
                slowest = max(slowest, clock.now - start)
            }
            let error = try #require(timedOut, "every connect succeeded: the kernel did not drop SYNs")
            #expect(error.code == .ETIMEDOUT)
            #expect(slowest >= .milliseconds(250) && slowest < .seconds(3))
        }

        @Test("accept with a timeout and nobody connecting throws ETIMEDOUT in time")
        func acceptTimeout() throws {
            let listener = try TCPSocket.listen()
            defer { listener.close() }
            let clock = ContinuousClock()
            let start = clock.now
            let error = try #require(throws: SocketError.self) { try listener.accept(timeout: .milliseconds(150)) }
            let elapsed = clock.now - start
            #expect(error.code == .ETIMEDOUT)
            #expect(elapsed >= .milliseconds(140) && elapsed < .seconds(3))
        }

        @Test("A blocking read past its read timeout throws ETIMEDOUT")
        func readTimeout() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            try connection.client.setReadTimeout(.milliseconds(150))
            let clock = ContinuousClock()
            let start = clock.now
            var buffer = [UInt8](repeating: 0, count: 8)
            let error = try #require(throws: SocketError.self) {
                try buffer.withUnsafeMutableBytes { try connection.client.read(into: $0) }
            }
            let elapsed = clock.now - start
            #expect(error.code == .ETIMEDOUT)
            #expect(error.operation == "read")
            #expect(elapsed >= .milliseconds(140) && elapsed < .seconds(3))
            // nil clears the timeout; bytes still arrive afterwards.
            try connection.client.setReadTimeout(nil)
            try writeAll(connection.server, [42])
            #expect(try read(connection.client, count: 1) == [42])
        }

        @Test("shutdown(.write) sends end of stream; the other direction still works")
        func halfClose() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            try connection.client.shutdown(.write)
            #expect(try read(connection.server, count: 1) == [])
            try writeAll(connection.server, [1])
            #expect(try read(connection.client, count: 1) == [1])
            try connection.client.shutdown(.both)
            let client = connection.client
            client.close()
            let error = try #require(throws: SocketError.self) { try client.shutdown(.both) }
            #expect(error.code == .EBADF)
        }

        @Test("close is idempotent; a closed socket refuses calls with EBADF and reports no addresses")
        func closeIsIdempotent() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            let client = connection.client
            #expect(!client.isClosed)
            client.close()
            client.close()
            #expect(client.isClosed)
            #expect(client.fileDescriptor == nil)
            #expect(client.localPort == 0)
            #expect(client.remoteAddress == nil)
            #expect(!client.isBlocking)
            var buffer = [UInt8](repeating: 0, count: 4)
            let readError = try #require(throws: SocketError.self) {
                try buffer.withUnsafeMutableBytes { try client.read(into: $0) }
            }
            #expect(readError.code == .EBADF)
            #expect(throws: SocketError.self) { try buffer.withUnsafeBytes { try client.write($0) } }
            #expect(throws: SocketError.self) { try client.setBlocking(false) }
            #expect(throws: SocketError.self) { try client.waitReadable(timeout: .zero) }
            // The peer sees the close.
            #expect(try read(connection.server, count: 1) == [])
        }

        @Test("A socket that goes away closes its descriptor")
        func deinitCloses() throws {
            var port: UInt16 = 0
            do {
                let listener = try TCPSocket.listen()
                port = listener.localPort
            }
            let error = try #require(throws: SocketError.self) {
                try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: TransportTests.patience)
            }
            #expect(error.code == .ECONNREFUSED)
        }

        @Test("Descriptors are close-on-exec, so child processes do not inherit them")
        func closeOnExec() throws {
            let connection = try LoopbackConnection()
            defer { connection.close() }
            for socket in [connection.listener, connection.client, connection.server] {
                let fd = try #require(socket.fileDescriptor)
                #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            }
        }

        @Test("SocketError describes the operation, text and errno")
        func socketErrorDescription() {
            let error = SocketError(operation: "read", errno: ECONNRESET)
            #expect(error.code == .ECONNRESET)
            #expect(error.description == "read: \(String(cString: strerror(ECONNRESET))) (errno \(ECONNRESET))")
            let resolver = SocketError(
                operation: "connect to x:1", errno: 0, message: "Name or service not known", resolverCode: -2)
            #expect(resolver.description == "connect to x:1: Name or service not known (getaddrinfo -2)")
            #expect(resolver.code == nil)
        }
    }
}

// MARK: - TransportBridge (the custom BIO)

extension TransportTests {
    @Suite("TransportBridge")
    struct Bridge {
        @Test("Bytes pass through the BIO both ways")
        func bytesPass() throws {
            let pair = MemoryTransportPair()
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            let sent = bioWrite(bridge.bio, Array("hello".utf8))
            #expect(sent.result == 1 && sent.written == 5)
            #expect(try read(pair.server, max: 16) == Array("hello".utf8))
            #expect(try write(pair.server, Array("world!".utf8)) == 6)
            let received = bioRead(bridge.bio, max: 16)
            #expect(received.result == 1 && received.bytes == Array("world!".utf8))
            #expect(cossl_BIO_should_retry(bridge.bio) == 0)
            #expect(bridge.pendingError == nil)
            expectErrorQueueEmpty()
        }

        @Test("Short reads and writes are reported as they are (one byte at a time)")
        func shortReadsAndWrites() throws {
            let pair = MemoryTransportPair(client: TransportFaults(maxBytesPerRead: 1, maxBytesPerWrite: 1))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            let sent = bioWrite(bridge.bio, [1, 2, 3])
            #expect(sent.result == 1 && sent.written == 1)
            #expect(pair.server.pendingBytes == 1)
            _ = try write(pair.server, [4, 5, 6])
            let received = bioRead(bridge.bio, max: 3)
            #expect(received.result == 1 && received.bytes == [4])
            #expect(bioRead(bridge.bio, max: 3).bytes == [5])
        }

        @Test("Would-block on read sets BIO_should_retry and BIO_should_read; the next read clears them")
        func wouldBlockRead() throws {
            let pair = MemoryTransportPair()
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            let empty = bioRead(bridge.bio, max: 8)
            #expect(empty.result == 0 && empty.bytes.isEmpty)
            #expect(cossl_BIO_should_retry(bridge.bio) != 0)
            #expect(cossl_BIO_should_read(bridge.bio) != 0)
            #expect(cossl_BIO_should_write(bridge.bio) == 0)
            #expect(cossl_BIO_eof(bridge.bio) == 0)
            #expect(bridge.pendingError == nil)
            expectErrorQueueEmpty()
            _ = try write(pair.server, [9])
            #expect(bioRead(bridge.bio, max: 8).bytes == [9])
            #expect(cossl_BIO_should_retry(bridge.bio) == 0)
            #expect(cossl_BIO_should_read(bridge.bio) == 0)
        }

        @Test("Would-block on write (nil, or 0 bytes accepted) sets BIO_should_retry and BIO_should_write")
        func wouldBlockWrite() throws {
            let pair = MemoryTransportPair(client: TransportFaults(wouldBlockEveryNthWrite: 2))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            #expect(bioWrite(bridge.bio, [1]).result == 1)
            let blocked = bioWrite(bridge.bio, [2])
            #expect(blocked.result == 0 && blocked.written == 0)
            #expect(cossl_BIO_should_retry(bridge.bio) != 0)
            #expect(cossl_BIO_should_write(bridge.bio) != 0)
            #expect(cossl_BIO_should_read(bridge.bio) == 0)
            expectErrorQueueEmpty()
            #expect(bioWrite(bridge.bio, [3]).result == 1)
            #expect(cossl_BIO_should_retry(bridge.bio) == 0)
            #expect(try read(pair.server, max: 8) == [1, 3])

            let stalled = try TransportBridge(StalledTransport())
            defer { BIO_free(stalled.bio) }
            #expect(bioWrite(stalled.bio, [1]).result == 0)
            #expect(cossl_BIO_should_retry(stalled.bio) != 0 && cossl_BIO_should_write(stalled.bio) != 0)
            #expect(stalled.pendingError == nil)
        }

        @Test("A capacity-bounded pair: writes take what fits, then would block")
        func capacity() throws {
            let pair = MemoryTransportPair(capacity: 4)
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            #expect(bioWrite(bridge.bio, [1, 2, 3, 4, 5, 6]).written == 4)
            #expect(bioWrite(bridge.bio, [5, 6]).result == 0)
            #expect(cossl_BIO_should_write(bridge.bio) != 0)
            #expect(try read(pair.server, max: 2) == [1, 2])
            #expect(bioWrite(bridge.bio, [5, 6, 7]).written == 2)
        }

        @Test("End of stream: 0 with no retry, and BIO_eof true")
        func endOfStream() throws {
            let pair = MemoryTransportPair()
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            _ = try write(pair.server, [1, 2])
            pair.server.close()
            #expect(bioRead(bridge.bio, max: 8).bytes == [1, 2])  // queued bytes first
            #expect(cossl_BIO_eof(bridge.bio) == 0)
            let end = bioRead(bridge.bio, max: 8)
            #expect(end.result == 0 && end.bytes.isEmpty)
            #expect(cossl_BIO_should_retry(bridge.bio) == 0)
            #expect(cossl_BIO_eof(bridge.bio) == 1)
            #expect(bridge.pendingError == nil)
            expectErrorQueueEmpty()
        }

        @Test("End of stream after N bytes (fault knob)")
        func endOfStreamAfterBytes() throws {
            let pair = MemoryTransportPair(client: TransportFaults(endOfStreamAfterReading: 3))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            _ = try write(pair.server, [1, 2, 3, 4, 5])
            #expect(bioRead(bridge.bio, max: 8).bytes == [1, 2, 3])
            #expect(bioRead(bridge.bio, max: 8).result == 0)
            #expect(cossl_BIO_eof(bridge.bio) == 1)
        }

        @Test(
            "A thrown error lands in pendingError unchanged, the BIO call fails, the queue stays empty",
            arguments: [TransportFaults.Calls.reads, .writes])
        func thrownError(on calls: TransportFaults.Calls) throws {
            let failure = TransportFailure(id: 7)
            let pair = MemoryTransportPair(client: TransportFaults(error: failure, errorOnCall: 1, errorOn: calls))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            _ = try write(pair.server, [1])
            let result = calls == .reads ? bioRead(bridge.bio, max: 8).result : bioWrite(bridge.bio, [1]).result
            #expect(result == 0)
            #expect(cossl_BIO_should_retry(bridge.bio) == 0)
            #expect(cossl_BIO_eof(bridge.bio) == 0)
            expectErrorQueueEmpty()
            #expect(bridge.pendingError as? TransportFailure == failure)
            #expect(bridge.takeError() as? TransportFailure == failure)
            #expect(bridge.pendingError == nil)
            #expect(bridge.takeError() == nil)
        }

        @Test("The first error is kept until taken")
        func firstErrorKept() throws {
            let pair = MemoryTransportPair(client: TransportFaults(error: TransportFailure(id: 1), errorOnCall: 1))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            _ = bioRead(bridge.bio, max: 1)
            pair.client.faults.error = TransportFailure(id: 2)
            pair.client.faults.errorOnCall = 2
            _ = bioWrite(bridge.bio, [1])
            #expect(bridge.takeError() as? TransportFailure == TransportFailure(id: 1))
        }

        @Test("POSIXError(.EINTR) is retried at once", arguments: [TransportFaults.Calls.reads, .writes])
        func interruptedIsRetried(on calls: TransportFaults.Calls) throws {
            let pair = MemoryTransportPair(client: TransportFaults(error: POSIXError(.EINTR), errorOnCall: 1, errorOn: calls))
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            _ = try write(pair.server, [1, 2])
            if calls == .reads {
                #expect(bioRead(bridge.bio, max: 8).bytes == [1, 2])
                #expect(pair.client.readCalls == 2)
            } else {
                #expect(bioWrite(bridge.bio, [3]).written == 1)
                #expect(pair.client.writeCalls == 2)
            }
            #expect(bridge.pendingError == nil)
        }

        @Test("An EINTR that never ends is reported after a bounded number of retries")
        func endlessInterruption() throws {
            final class AlwaysInterrupted: Transport {
                var calls = 0
                func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
                    calls += 1
                    throw POSIXError(.EINTR)
                }
                func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? {
                    calls += 1
                    throw POSIXError(.EINTR)
                }
            }
            let transport = AlwaysInterrupted()
            let bridge = try TransportBridge(transport)
            defer { BIO_free(bridge.bio) }
            #expect(bioRead(bridge.bio, max: 1).result == 0)
            #expect(transport.calls == TransportBridge.maximumInterruptions + 1)
            #expect((bridge.takeError() as? POSIXError)?.code == .EINTR)
        }

        @Test("A count beyond the buffer is a reported contract violation, never passed to OpenSSL")
        func contractViolation() throws {
            let bridge = try TransportBridge(OverclaimingTransport())
            defer { BIO_free(bridge.bio) }
            let read = bioRead(bridge.bio, max: 4)
            #expect(read.result == 0 && read.bytes.isEmpty)
            #expect(bridge.takeError() is TransportContractViolation)
            #expect(bioWrite(bridge.bio, [1]).result == 0)
            let violation = try #require(bridge.takeError() as? TransportContractViolation)
            #expect(violation.description.contains("returned 2 for a buffer of 1 bytes"))
            expectErrorQueueEmpty()
        }

        @Test("ctrl: flush 1, eof, pending/wpending 0, push/pop and the rest 0")
        func control() throws {
            let pair = MemoryTransportPair()
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_FLUSH, 0, nil) == 1)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_EOF, 0, nil) == 0)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_PENDING, 0, nil) == 0)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_WPENDING, 0, nil) == 0)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_PUSH, 0, nil) == 0)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_POP, 0, nil) == 0)
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_RESET, 0, nil) == 0)
            _ = try write(pair.server, [1])
            #expect(BIO_ctrl(bridge.bio, BIO_CTRL_PENDING, 0, nil) == 0)  // nothing buffered in the BIO itself
            expectErrorQueueEmpty()
        }

        @Test("Empty reads and writes succeed without calling the transport")
        func emptyBuffers() throws {
            let pair = MemoryTransportPair()
            let bridge = try TransportBridge(pair.client)
            defer { BIO_free(bridge.bio) }
            var count = 99
            var byte: UInt8 = 0
            #expect(BIO_write_ex(bridge.bio, &byte, 0, &count) == 1 && count == 0)
            count = 99
            #expect(BIO_read_ex(bridge.bio, &byte, 0, &count) == 1 && count == 0)
            #expect(pair.client.readCalls == 0 && pair.client.writeCalls == 0)
            ERR_clear_error()
        }

        @Test("The retry shims set and clear the flags OpenSSL's BIO_should_* read")
        func retryShims() throws {
            let bio = try #require(BIO_new(BIO_s_mem()))
            defer { BIO_free(bio) }
            cossl_BIO_set_retry_read(bio)
            #expect(cossl_BIO_should_retry(bio) != 0 && cossl_BIO_should_read(bio) != 0 && cossl_BIO_should_write(bio) == 0)
            cossl_BIO_clear_retry_flags(bio)
            #expect(cossl_BIO_should_retry(bio) == 0 && cossl_BIO_should_read(bio) == 0)
            cossl_BIO_set_retry_write(bio)
            #expect(cossl_BIO_should_retry(bio) != 0 && cossl_BIO_should_write(bio) != 0 && cossl_BIO_should_read(bio) == 0)
            cossl_BIO_clear_retry_flags(bio)
            #expect(BIO_test_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY) == 0)
            // An empty memory BIO is at end of stream by default (BIO_eof over BIO_CTRL_EOF).
            #expect(cossl_BIO_eof(bio) == 1)
        }

        @Test("The bridge lives exactly as long as its BIO: freeing the BIO frees bridge and transport")
        func freedWithBIO() throws {
            weak var weakBridge: TransportBridge?
            weak var weakTransport: MemoryTransport?
            let bio: OpaquePointer
            do {
                let pair = MemoryTransportPair()
                let bridge = try TransportBridge(pair.client)
                weakBridge = bridge
                weakTransport = pair.client
                bio = bridge.bio
            }
            #expect(weakBridge != nil, "the BIO holds its bridge")
            #expect(weakTransport != nil, "the bridge holds its transport")
            BIO_free(bio)
            #expect(weakBridge == nil)
            #expect(weakTransport == nil)
        }

        @Test("After SSL_set_bio the SSL owns the BIO: the bridge lives until SSL_free")
        func freedWithSSL() throws {
            let context = try #require(SSL_CTX_new(TLS_client_method()))
            defer { SSL_CTX_free(context) }
            weak var weakBridge: TransportBridge?
            let ssl = try #require(SSL_new(context))
            do {
                let bridge = try TransportBridge(MemoryTransportPair().client)
                weakBridge = bridge
                SSL_set_bio(ssl, bridge.bio, bridge.bio)  // one reference, consumed
            }
            #expect(weakBridge != nil)
            SSL_free(ssl)
            #expect(weakBridge == nil)
        }

        @Test("One BIO_METHOD for every bridge, made once even when many threads race for it")
        func oneMethod() async throws {
            let types = await withTaskGroup(of: Int32.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        guard let bridge = try? TransportBridge(MemoryTransportPair().client) else { return -1 }
                        defer { BIO_free(bridge.bio) }
                        return BIO_method_type(bridge.bio)
                    }
                }
                var all: [Int32] = []
                for await type in group { all.append(type) }
                return all
            }
            #expect(types.count == 16)
            #expect(Set(types).count == 1)
            let type = try #require(types.first)
            #expect(type & BIO_TYPE_SOURCE_SINK != 0)
            #expect(type & 0xFF >= BIO_TYPE_START)
        }
    }
}

// MARK: - Under a bare SSL object (the BIO as OpenSSL's record layer sees it)

extension TransportTests {
    @Suite("TransportBridge under SSL")
    struct UnderSSL {
        /// A client SSL over `transport`, handshake started.
        private func startClient(
            _ transport: any Transport
        ) throws -> (ssl: OpaquePointer, context: OpaquePointer, bridge: TransportBridge) {
            let context = try #require(SSL_CTX_new(TLS_client_method()))
            let ssl = try #require(SSL_new(context))
            let bridge = try TransportBridge(transport)
            SSL_set_bio(ssl, bridge.bio, bridge.bio)
            SSL_set_connect_state(ssl)
            return (ssl, context, bridge)
        }

        @Test("One-byte writes: OpenSSL writes the whole ClientHello, then wants to read")
        func clientHelloByteByByte() throws {
            let pair = MemoryTransportPair(client: TransportFaults(maxBytesPerWrite: 1))
            let (ssl, context, bridge) = try startClient(pair.client)
            defer {
                SSL_free(ssl)
                SSL_CTX_free(context)
            }
            let result = SSL_do_handshake(ssl)
            #expect(SSL_get_error(ssl, result) == SSL_ERROR_WANT_READ)
            let hello = pair.client.drain() + pair.server.drain()
            #expect(hello.count > 100)
            #expect(Array(hello.prefix(3)) == [0x16, 0x03, 0x01])  // handshake record
            #expect(pair.client.writeCalls == hello.count)
            #expect(bridge.pendingError == nil)
            expectErrorQueueEmpty()
        }

        @Test("Would-block every other write still gets the ClientHello out across calls")
        func clientHelloWithWouldBlock() throws {
            let pair = MemoryTransportPair(client: TransportFaults(maxBytesPerWrite: 7, wouldBlockEveryNthWrite: 2))
            let (ssl, context, _) = try startClient(pair.client)
            defer {
                SSL_free(ssl)
                SSL_CTX_free(context)
            }
            var outcomes: [Int32] = []
            for _ in 0..<1000 {
                let error = SSL_get_error(ssl, SSL_do_handshake(ssl))
                outcomes.append(error)
                if error != SSL_ERROR_WANT_WRITE { break }
            }
            #expect(outcomes.contains(SSL_ERROR_WANT_WRITE))
            #expect(outcomes.last == SSL_ERROR_WANT_READ)
            #expect(pair.server.pendingBytes > 100)
            expectErrorQueueEmpty()
        }

        @Test("End of stream mid-handshake is OpenSSL's unexpected EOF, not a bare syscall error")
        func eofIsUnexpectedEOF() throws {
            let pair = MemoryTransportPair()
            let (ssl, context, bridge) = try startClient(pair.client)
            defer {
                SSL_free(ssl)
                SSL_CTX_free(context)
            }
            #expect(SSL_get_error(ssl, SSL_do_handshake(ssl)) == SSL_ERROR_WANT_READ)
            pair.server.close()
            #expect(SSL_get_error(ssl, SSL_do_handshake(ssl)) == SSL_ERROR_SSL)
            #expect(cossl_ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            ERR_clear_error()
            // OpenSSL then tried to send its fatal alert into the closed
            // transport: that secondary failure waits in the bridge, and a
            // Connection must rank OpenSSL's own error (SSL_ERROR_SSL) first.
            #expect((bridge.takeError() as? POSIXError)?.code == .EPIPE)
        }

        @Test("A transport's error stops the handshake as SSL_ERROR_SYSCALL with nothing queued, and waits in the bridge")
        func thrownErrorUnderSSL() throws {
            let pair = MemoryTransportPair(
                client: TransportFaults(error: TransportFailure(id: 42), errorOnCall: 1, errorOn: .reads))
            let (ssl, context, bridge) = try startClient(pair.client)
            defer {
                SSL_free(ssl)
                SSL_CTX_free(context)
            }
            #expect(SSL_get_error(ssl, SSL_do_handshake(ssl)) == SSL_ERROR_SYSCALL)
            expectErrorQueueEmpty()
            #expect(bridge.takeError() as? TransportFailure == TransportFailure(id: 42))
        }
    }
}

// MARK: - MemoryTransportPair itself

extension TransportTests {
    @Suite("MemoryTransportPair")
    struct MemoryPair {
        @Test("Bytes cross in both directions; empty is would-block; close is end of stream, then EPIPE for writers")
        func basics() throws {
            let pair = MemoryTransportPair()
            #expect(try read(pair.server, max: 4) == nil)
            #expect(try write(pair.client, [1, 2, 3]) == 3)
            #expect(try read(pair.server, max: 2) == [1, 2])
            #expect(try read(pair.server, max: 2) == [3])
            #expect(try write(pair.server, [4]) == 1)
            #expect(try read(pair.client, max: 4) == [4])
            pair.client.close()
            #expect(try read(pair.server, max: 4) == [])
            #expect((try? write(pair.server, [1])) == nil)
            #expect(throws: POSIXError(.EPIPE)) { try write(pair.server, [1]) }
            #expect(throws: POSIXError(.EBADF)) { try read(pair.client, max: 1) }
            #expect(pair.client.bytesWritten == 3 && pair.server.bytesRead == 3)
        }

        @Test("closeAfterWriting cuts the connection after N bytes")
        func cut() throws {
            let pair = MemoryTransportPair(client: TransportFaults(closeAfterWriting: 4))
            #expect(try write(pair.client, [1, 2, 3]) == 3)
            #expect(try write(pair.client, [4, 5, 6]) == 1)
            #expect(throws: POSIXError(.EPIPE)) { try write(pair.client, [7]) }
            #expect(try read(pair.server, max: 8) == [1, 2, 3, 4])
            #expect(try read(pair.server, max: 8) == [])
            #expect(throws: POSIXError(.EPIPE)) { try write(pair.server, [1]) }
            #expect(try read(pair.client, max: 8) == [])
        }

        @Test("Would-block every Nth read and write")
        func wouldBlockEveryNth() throws {
            let pair = MemoryTransportPair(server: TransportFaults(wouldBlockEveryNthRead: 2, wouldBlockEveryNthWrite: 3))
            _ = try write(pair.client, [1, 2, 3])
            let reads = try (0..<4).map { _ in try read(pair.server, max: 1) }
            #expect(reads == [[1], nil, [2], nil])
            let writes = try (0..<3).map { _ in try write(pair.server, [0]) }
            #expect(writes == [1, 1, nil])
        }

        @Test("readWait: a read waits for a writer on another thread")
        func readWaits() throws {
            let pair = MemoryTransportPair(server: TransportFaults(readWait: .seconds(5)))
            let client = pair.client
            let writer = Thread {
                Thread.sleep(forTimeInterval: 0.05)
                _ = try? [UInt8(5)].withUnsafeBytes { try client.write($0) }
            }
            writer.start()
            #expect(try read(pair.server, max: 4) == [5])
            pair.server.faults.readWait = .milliseconds(20)
            #expect(try read(pair.server, max: 4) == nil)
        }
    }
}

// MARK: - Under a Connection (the lead's Connection wired to both transport paths)

extension TransportTests {
    @Suite("Transports under Connection")
    struct UnderConnection {
        private func expectWantRead(_ body: () throws(SSLError) -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                try body()
                Issue.record("expected .wantRead, got success", sourceLocation: sourceLocation)
            } catch .wantRead {
            } catch {
                Issue.record("expected .wantRead, got \(error)", sourceLocation: sourceLocation)
            }
        }

        /// Runs `body`; true when it finished, false when it wants I/O (the other side's turn); rethrows anything else.
        @discardableResult
        private func untilBlocked(_ body: () throws(SSLError) -> Void) throws -> Bool {
            do {
                try body()
                return true
            } catch {
                switch error {
                case .wantRead, .wantWrite: return false
                default: throw error
                }
            }
        }

        /// Drives both handshakes in one thread until done; each side's want-read/want-write just means "the other side's turn".
        private func handshake(_ client: Connection, _ server: Connection) throws {
            for _ in 0..<100_000 where !(client.isHandshakeDone && server.isHandshakeDone) {
                for connection in [client, server] where !connection.isHandshakeDone {
                    try untilBlocked { () throws(SSLError) in try connection.doHandshake() }
                }
            }
            #expect(client.isHandshakeDone && server.isHandshakeDone)
        }

        @Test("TLS through two Swift transports with one-byte reads and writes and would-block every third call")
        func tlsOverFaultyMemoryTransports() throws {
            let faults = TransportFaults(
                maxBytesPerRead: 1, maxBytesPerWrite: 1,
                wouldBlockEveryNthRead: 3, wouldBlockEveryNthWrite: 3)
            let pair = MemoryTransportPair(client: faults, server: faults)
            let client = try Connection(try TestContexts.client(), transport: pair.client)
            let server = try Connection(try TestContexts.server(), transport: pair.server)
            client.setConnectState()
            server.setAcceptState()
            try client.setServerName("localhost")
            try handshake(client, server)
            #expect(client.peerCertificate == TestContexts.pki.server)
            var sent = false
            var received: [UInt8] = []
            for _ in 0..<10_000 where received.count < 5 {
                if !sent {
                    sent = try untilBlocked { () throws(SSLError) in try client.writeAll(Array("hello".utf8)) }
                }
                try untilBlocked { () throws(SSLError) in received += try server.read(max: 16) }
            }
            #expect(received == Array("hello".utf8))
            #expect(pair.client.readCalls > 100)
        }

        @Test("TLS over TCPSocket: OpenSSL drives the descriptor (through the socket BIO), echo both ways; SSL_get_fd finds it")
        func tlsOverTCPSocket() throws {
            let listener = try TCPSocket.listen()
            defer { listener.close() }
            let serverContext = try TestContexts.server()
            let port = listener.localPort
            let serverDone = DispatchSemaphore(value: 0)
            let serverThread = Thread {
                defer { serverDone.signal() }
                guard let socket = try? listener.accept(timeout: TransportTests.patience) else { return }
                defer { socket.close() }
                try? socket.setReadTimeout(TransportTests.patience)
                guard let connection = try? Connection(serverContext, transport: socket) else { return }
                connection.setAcceptState()
                guard (try? connection.doHandshake()) != nil, let request = try? connection.read(max: 64) else { return }
                try? connection.writeAll(request.reversed())
            }
            serverThread.start()
            let socket = try TCPSocket.connect(host: "127.0.0.1", port: port, timeout: TransportTests.patience)
            defer { socket.close() }
            try socket.setReadTimeout(TransportTests.patience)
            let client = try Connection(try TestContexts.client(), transport: socket)
            client.setConnectState()
            try client.setServerName("localhost")
            try client.doHandshake()
            #expect(client.withUnsafeOpenSSLPointer { SSL_get_fd($0) } == socket.fileDescriptor)
            try client.writeAll([1, 2, 3])
            #expect(try client.read(max: 64) == [3, 2, 1])
            #expect(serverDone.wait(timeout: .now() + 10) == .success)
        }

        @Test("A transport error thrown mid-handshake comes out of doHandshake unchanged")
        func transportErrorSurfaces() throws {
            let pair = MemoryTransportPair(
                client: TransportFaults(error: TransportFailure(id: 9), errorOnCall: 2, errorOn: .reads))
            let client = try Connection(try TestContexts.client(), transport: pair.client)
            client.setConnectState()
            try client.setServerName("localhost")
            expectWantRead { () throws(SSLError) in try client.doHandshake() }  // read call 1: nothing yet
            let error = try #require(throws: SSLError.self) { try client.doHandshake() }
            guard case .transport(let thrown) = error else {
                Issue.record("expected .transport, got \(error)")
                return
            }
            #expect(thrown as? TransportFailure == TransportFailure(id: 9))
            expectErrorQueueEmpty()
        }

        @Test("The peer vanishing mid-handshake is an unexpected EOF, not the failed alert write after it")
        func eofMidHandshake() throws {
            let pair = MemoryTransportPair()
            let client = try Connection(try TestContexts.client(), transport: pair.client)
            client.setConnectState()
            try client.setServerName("localhost")
            expectWantRead { () throws(SSLError) in try client.doHandshake() }
            pair.server.close()
            let error = try #require(throws: SSLError.self) { try client.doHandshake() }
            expectErrorQueueEmpty()
            // OpenSSL fails first (unexpected EOF, SSL_ERROR_SSL), then its
            // fatal alert's write fails in the bridge (EPIPE): the EOF is the answer.
            #expect(error.isUnexpectedEOF, "\(error)")
        }
    }
}
