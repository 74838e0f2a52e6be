import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The memory-BIO mode's own buffers (CiphertextBuffers) and the read that
/// skips SSL_read when it could only say "want read": the outcomes must be
/// exactly those of two BIO_s_mem and a plain SSL_read.
@Suite("Memory BIO buffers")
struct MemoryBIOTests {
    @Test("Bytes cross intact through growth, odd-sized chunks and interleaved partial moves")
    func growthAndChunks() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        // 256 KiB written before anything is moved: the outgoing buffer grows well past its first 4 KiB.
        let big = (0..<262_144).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        try pair.client.writeAll(big)
        #expect(pair.client.pendingCiphertext > big.count)
        var received: [UInt8] = []
        var chunk = 1
        while pair.client.pendingCiphertext > 0 {
            // Move 1, 2, 3 … 4099 bytes at a time, reading whatever is complete in between.
            let bytes = try pair.client.bioRead(max: chunk)
            #expect(bytes.count == min(chunk, bytes.count) && !bytes.isEmpty)
            try pair.server.bioWrite(bytes)
            chunk = chunk % 4_099 + 1
            reading: while true {
                switch Result(catching: { () throws(SSLError) in try pair.server.read(max: 5_000) }) {
                case .success(let data): received += data
                case .failure(.wantRead): break reading
                case .failure(let error): throw error
                }
            }
        }
        #expect(received == big)
        #expect(sslErrorCase { _ = try pair.client.bioRead(max: 10) } == .wantRead)
        expectErrorQueueEmpty()
    }

    @Test("withPendingCiphertext hands the bytes over in place and consumes what the body took; a throw consumes nothing")
    func pendingCiphertextInPlace() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(pair.client.withPendingCiphertext { $0.count } == 0)
        try pair.client.writeAll(Array(repeating: UInt8(ascii: "z"), count: 10_000))
        let pending = pair.client.pendingCiphertext
        struct Refused: Error {}
        #expect(throws: Refused.self) { try pair.client.withPendingCiphertext { _ throws(Refused) in throw Refused() } }
        #expect(pair.client.pendingCiphertext == pending)
        // Take 100 bytes, then the rest, straight into the peer.
        let first = try pair.client.withPendingCiphertext { bytes throws(SSLError) in
            try pair.server.bioWrite(UnsafeRawBufferPointer(rebasing: bytes[..<100]))
        }
        #expect(first == 100)
        #expect(pair.client.pendingCiphertext == pending - 100)
        let rest = try pair.client.withPendingCiphertext { bytes throws(SSLError) in try pair.server.bioWrite(bytes) }
        #expect(rest == pending - 100)
        #expect(pair.client.pendingCiphertext == 0)
        var received: [UInt8] = []
        while received.count < 10_000 { received += try pair.server.read(max: 16_384) }
        #expect(received == Array(repeating: UInt8(ascii: "z"), count: 10_000))
        // Not over memory BIOs: an empty buffer.
        let socketConnection = try Connection(try TestContexts.client(), transport: StallingTransport())
        #expect(socketConnection.withPendingCiphertext { $0.count } == 0)
        expectErrorQueueEmpty()
    }

    @Test("A read with nothing to read throws wantRead, and wantsRead then says true, as after SSL_read")
    func wantsReadAfterSkippedRead() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(try pair.send(Array("ping".utf8), from: pair.client, to: pair.server) == Array("ping".utf8))
        #expect(sslErrorCase { _ = try pair.server.read(max: 10) } == .wantRead)
        #expect(pair.server.wantsRead)
        #expect(!pair.server.wantsWrite)
        // A write goes through OpenSSL again; the flag follows OpenSSL's state.
        _ = try pair.server.write(Array("pong".utf8))
        #expect(!pair.server.wantsRead)
        expectErrorQueueEmpty()
    }

    @Test("bioShutdown: the ciphertext already given is read first, then the end of stream is an unexpected EOF")
    func endOfStreamAfterBufferedData() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        _ = try pair.server.write(Array("last words".utf8))
        try pair.pump()
        try pair.client.bioShutdown()
        #expect(try pair.client.read(max: 100) == Array("last words".utf8))
        let error = try #require(throws: SSLError.self) { try pair.client.read(max: 100) }
        #expect(error.isUnexpectedEOF, "got \(error)")
        expectErrorQueueEmpty()
    }

    @Test("A TLS 1.3 key update scheduled on the connection goes out on the next read, with no ciphertext waiting")
    func keyUpdateGoesOutOnRead() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(pair.client.pendingCiphertext == 0)
        let scheduled = pair.client.withUnsafeOpenSSLPointer { SSL_key_update($0, SSL_KEY_UPDATE_REQUESTED) }
        #expect(scheduled == 1)
        // Nothing to read, but SSL_read must run: it sends the KeyUpdate.
        #expect(sslErrorCase { _ = try pair.client.read(max: 10) } == .wantRead)
        #expect(pair.client.pendingCiphertext > 0)
        try pair.pump()
        // The server answers with its own KeyUpdate while reading; data still flows both ways.
        #expect(sslErrorCase { _ = try pair.server.read(max: 10) } == .wantRead)
        #expect(try pair.send(Array("after".utf8), from: pair.server, to: pair.client) == Array("after".utf8))
        #expect(try pair.send(Array("update".utf8), from: pair.client, to: pair.server) == Array("update".utf8))
        expectErrorQueueEmpty()
    }

    @Test("A TLS 1.2 renegotiation scheduled on the connection starts on the next read, with no ciphertext waiting")
    func renegotiationStartsOnRead() throws {
        let server = try TestContexts.server()
        try server.setMaximumProtocolVersion(.tls1_2)
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.handshake()
        let scheduled = pair.client.withUnsafeOpenSSLPointer { SSL_renegotiate($0) }
        #expect(scheduled == 1)
        #expect(sslErrorCase { _ = try pair.client.read(max: 10) } == .wantRead)
        // The new ClientHello went out from that read.
        #expect(pair.client.pendingCiphertext > 0)
        expectErrorQueueEmpty()
    }

    @Test("setSessionTicketCount: read back, refused once in use; 0 sends no ticket after the handshake")
    func sessionTicketCount() throws {
        let context = try TestContexts.server()
        #expect(context.sessionTicketCount == 2)
        try context.setSessionTicketCount(1)
        #expect(context.sessionTicketCount == 1)
        #expect(throws: OpenSSLError.self) { try context.setSessionTicketCount(-1) }

        func serverBytesAfterHandshake(tickets: Int) throws -> Int {
            let server = try TestContexts.server()
            try server.setSessionTicketCount(tickets)
            let pair = try TLSPair(client: try TestContexts.client(), server: server)
            try pair.handshake()
            // Tickets are sent once the server has the client's Finished; send them now.
            _ = try pair.server.write(Array("x".utf8))
            return pair.server.pendingCiphertext
                + pair.client.withUnsafeOpenSSLPointer {
                    Int(BIO_ctrl(SSL_get_rbio($0), BIO_CTRL_PENDING, 0, nil))
                }
        }
        // With tickets the server's post-handshake flight is larger by the tickets' size.
        let none = try serverBytesAfterHandshake(tickets: 0)
        let two = try serverBytesAfterHandshake(tickets: 2)
        #expect(two > none + 200, "0 tickets: \(none) bytes, 2 tickets: \(two) bytes")

        let inUse = try TestContexts.server()
        _ = try Connection(inUse)
        #expect(throws: UsageError.self) { try inUse.setSessionTicketCount(0) }
    }
}
