import Testing
import Foundation
@testable import OpenSSL

/// What an idle connection over memory buffers holds (issue 21).
@Suite("Idle connection memory")
struct IdleMemoryTests {
    static func pair(releaseBuffers: Bool) throws -> TLSPair {
        let server = try TestContexts.server(), client = try TestContexts.client()
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

    @Test("In release-buffers mode the room reserved for lent ciphertext is kept while lent bytes remain")
    func releaseModeKeepsRoomForLentBytes() throws {
        let pair = try Self.pair(releaseBuffers: true)
        // Three full records: more than OpenSSL's read buffer takes in one read.
        let payload = [UInt8](repeating: 0x62, count: 3 * 16_384)
        try pair.client.writeAll(payload)
        var records: [UInt8] = []
        while pair.client.pendingCiphertext > 0 { records += try pair.client.bioRead(max: 65_536) }
        let server = pair.server
        let (first, leftWhileLent, roomWhileLent) = try records.withUnsafeBytes { bytes in
            try server.withIncomingCiphertext(bytes) { () throws(SSLError) -> ([UInt8], Int, Int) in
                let first = try server.read(max: 16_384)
                return (first, server.unreadCiphertext, server.memoryBuffers?.pointee.incoming.capacity ?? 0)
            }
        }
        #expect(first.count == 16_384)
        #expect(leftWhileLent > 0, "OpenSSL left lent bytes unread")
        // The end of the lending appends them into room reserved before it began.
        #expect(roomWhileLent >= leftWhileLent, "room \(roomWhileLent) for \(leftWhileLent) lent bytes")
        var received = first
        while received.count < payload.count { received += try server.read(max: 16_384) }
        #expect(received == payload)
        #expect(try Self.capacities(server).incoming == 0, "drained: given back")
        expectErrorQueueEmpty()
    }
}
