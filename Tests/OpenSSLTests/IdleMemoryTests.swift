import Testing
import Foundation
@testable import OpenSSL
import TestSupport

/// What an idle connection over memory buffers holds (issue 21).
@Suite("Idle connection memory")
struct IdleMemoryTests {
    static func pair(releaseBuffers: Bool) throws -> TLSPair {
        let server = try TestContexts.server()
        let client = try TestContexts.client()
        if releaseBuffers {
            try server.setMode(.releaseBuffers)
            try client.setMode(.releaseBuffers)
        }
        let pair = try TLSPair(client: client, server: server)
        try pair.handshake()
        let message = [UInt8](repeating: 0x6d, count: 64)
        #expect(try pair.send(message, from: pair.client, to: pair.server) == message)
        #expect(try pair.send(message, from: pair.server, to: pair.client) == message)
        return pair
    }

    static func capacities(_ connection: Connection) throws -> (incoming: Int, outgoing: Int) {
        let buffers = try #require(connection.memoryBuffers)
        return (buffers.pointee.incoming.capacity, buffers.pointee.outgoing.capacity)
    }

    @Test("In release-buffers mode the ciphertext queues give their storage back once drained")
    func releaseModeFreesDrainedQueues() throws {
        let pair = try Self.pair(releaseBuffers: true)
        for connection in [pair.client, pair.server] {
            #expect(connection.pendingCiphertext == 0)
            let held = try Self.capacities(connection)
            #expect(held.incoming == 0 && held.outgoing == 0, "an idle connection holds no queue storage: \(held)")
        }
        // And they work again at once.
        let again = [UInt8](repeating: 0x61, count: 3000)
        #expect(try pair.send(again, from: pair.client, to: pair.server) == again)
        #expect(try Self.capacities(pair.server).incoming == 0)
        expectErrorQueueEmpty()
    }

    @Test("In the default mode the queues keep their storage (no allocation per message), sized to what they carried")
    func defaultModeKeepsSmallQueues() throws {
        let pair = try Self.pair(releaseBuffers: false)
        for connection in [pair.client, pair.server] {
            let held = try Self.capacities(connection)
            #expect(held.incoming > 0 && held.outgoing > 0)
            #expect(held.incoming <= 4_096 && held.outgoing <= 4_096, "no more than the largest flight needs: \(held)")
        }
        // A 64-byte message fits what is there: the queues do not grow.
        let before = try Self.capacities(pair.client)
        let message = [UInt8](repeating: 0x6d, count: 64)
        #expect(try pair.send(message, from: pair.client, to: pair.server) == message)
        let after = try Self.capacities(pair.client)
        #expect(before == after)
        expectErrorQueueEmpty()
    }

    @Test("bioRead(max:) returns an array no larger than what it read")
    func bioReadMaxIsExact() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        #expect(sslErrorCase { try pair.client.doHandshake() } == .wantRead)
        let waiting = pair.client.pendingCiphertext
        #expect(waiting > 0)
        let bytes = try pair.client.bioRead(max: 65_536)
        #expect(bytes.count == waiting)
        #expect(bytes.capacity < waiting + 64, "capacity \(bytes.capacity) for \(waiting) bytes")
        #expect(sslErrorCase { _ = try pair.client.bioRead(max: 65_536) } == .wantRead)
        expectErrorQueueEmpty()
    }

    static func threeRecords(from pair: TLSPair) throws -> (payload: [UInt8], ciphertext: [UInt8]) {
        let payload = [UInt8](repeating: 0x62, count: 3 * 16_384)
        try pair.client.writeAll(payload)
        var ciphertext: [UInt8] = []
        while pair.client.pendingCiphertext > 0 { ciphertext += try pair.client.bioRead(max: 65_536) }
        return (payload, ciphertext)
    }

    @Test("Lent ciphertext read in full leaves the incoming queue as it was: no room is kept for it")
    func lentCiphertextDoesNotGrowTheQueue() throws {
        let pair = try Self.pair(releaseBuffers: false)
        let before = try Self.capacities(pair.server).incoming
        let (payload, ciphertext) = try Self.threeRecords(from: pair)
        let server = pair.server
        let received = try ciphertext.withUnsafeBytes { bytes in
            try server.withIncomingCiphertext(bytes) { () throws(SSLError) -> [UInt8] in
                var received: [UInt8] = []
                while received.count < payload.count { received += try server.read(max: 16_384) }
                return received
            }
        }
        #expect(received == payload)
        #expect(server.unreadCiphertext == 0)
        #expect(try Self.capacities(server).incoming == before, "a \(ciphertext.count)-byte lending left the queue alone")
        expectErrorQueueEmpty()
    }

    @Test("Lent ciphertext OpenSSL did not read is kept, in release-buffers mode too, and given back once read")
    func lentLeftoversKept() throws {
        let pair = try Self.pair(releaseBuffers: true)
        let (payload, ciphertext) = try Self.threeRecords(from: pair)
        let server = pair.server
        let first = try ciphertext.withUnsafeBytes { bytes in
            try server.withIncomingCiphertext(bytes) { () throws(SSLError) -> [UInt8] in try server.read(max: 16_384) }
        }
        #expect(first.count == 16_384)
        #expect(server.unreadCiphertext > 0, "more than OpenSSL's read buffer was lent: the rest was kept")
        var received = first
        while received.count < payload.count { received += try server.read(max: 16_384) }
        #expect(received == payload)
        #expect(try Self.capacities(server).incoming == 0, "drained: given back")
        expectErrorQueueEmpty()
    }

    @Test("hasReadableInput: false exactly when a read could only answer wantRead")
    func hasReadableInput() throws {
        let pair = try Self.pair(releaseBuffers: false)
        #expect(!pair.server.hasReadableInput, "idle")
        try pair.client.writeAll(Array("hello".utf8))
        var ciphertext: [UInt8] = []
        while pair.client.pendingCiphertext > 0 { ciphertext += try pair.client.bioRead(max: 65_536) }
        try pair.server.bioWrite(ciphertext)
        #expect(pair.server.hasReadableInput, "ciphertext queued")
        #expect(try pair.server.read(max: 100) == Array("hello".utf8))
        #expect(!pair.server.hasReadableInput, "all read")
        try pair.client.writeAll(Array("again".utf8))
        var next: [UInt8] = []
        while pair.client.pendingCiphertext > 0 { next += try pair.client.bioRead(max: 65_536) }
        try next.withUnsafeBytes { bytes in
            try pair.server.withIncomingCiphertext(bytes) { () throws(SSLError) in
                #expect(pair.server.hasReadableInput, "ciphertext lent")
            }
        }
        #expect(pair.server.hasReadableInput, "the lent record was kept")
        #expect(try pair.server.read(max: 100) == Array("again".utf8))
        try pair.server.bioShutdown()
        #expect(pair.server.hasReadableInput, "end of input: a read reports it")
    }
}
