import Testing
import Foundation
@testable import OpenSSL
import TestSupport

/// `Connection.withIncomingCiphertext(_:_:)`: OpenSSL reads the caller's
/// buffer in place for the length of one call, and keeps what it did not
/// read. The outcomes must be exactly those of `bioWrite` then the call.
@Suite("Lent incoming ciphertext")
struct IncomingCiphertextTests {
    /// Moves the sender's pending ciphertext into a fresh array (what a loop's read buffer would hold).
    static func drain(_ sender: Connection) -> [UInt8] {
        var out: [UInt8] = []
        sender.withPendingCiphertext { bytes in
            out = Array(bytes)
            return bytes.count
        }
        return out
    }

    /// Reads every decrypted byte available now.
    static func readAvailable(_ connection: Connection) throws(SSLError) -> [UInt8] {
        var received: [UInt8] = []
        while true {
            switch Result(catching: { () throws(SSLError) in try connection.read(max: 20_000) }) {
            case .success(let data): received += data
            case .failure(.wantRead): return received
            case .failure(let error): throw error
            }
        }
    }

    @Test("A handshake and data driven only by lent bytes, cut at odd sizes, arrive intact; the lent buffer is free afterwards")
    func handshakeAndDataFromLentBytes() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        // Handshake: every flight is lent to the peer in pieces of 1, 2, 3 … bytes.
        var chunk = 1
        for _ in 0..<64 where !(pair.client.isHandshakeDone && pair.server.isHandshakeDone) {
            for (from, to) in [(pair.client, pair.server), (pair.server, pair.client)] {
                if !from.isHandshakeDone { _ = try? from.doHandshake() }
                var flight = Self.drain(from)
                var offset = 0
                while offset < flight.count {
                    let end = min(flight.count, offset + chunk)
                    try flight.withUnsafeMutableBytes { all in
                        let piece = UnsafeRawBufferPointer(rebasing: all[offset..<end])
                        try to.withIncomingCiphertext(piece) { () throws(SSLError) in
                            if !to.isHandshakeDone {
                                do throws(SSLError) { try to.doHandshake() } catch .wantRead {}
                            }
                        }
                        // What OpenSSL did not read was copied: scribbling on the buffer changes nothing.
                        UnsafeMutableRawBufferPointer(rebasing: all[offset..<end]).initializeMemory(
                            as: UInt8.self, repeating: 0xEE)
                    }
                    offset = end
                    chunk = chunk % 97 + 1
                }
                flight.removeAll()
            }
        }
        #expect(pair.client.isHandshakeDone && pair.server.isHandshakeDone)

        // 100 KiB of data lent in 1000-byte pieces: partial records are kept between calls.
        let message = (0..<102_400).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try pair.client.writeAll(message)
        var ciphertext = Self.drain(pair.client)
        var received: [UInt8] = []
        let total = ciphertext.count
        for start in stride(from: 0, to: total, by: 1_000) {
            try ciphertext.withUnsafeMutableBytes { all in
                let range = start..<min(total, start + 1_000)
                received += try pair.server.withIncomingCiphertext(UnsafeRawBufferPointer(rebasing: all[range])) {
                    () throws(SSLError) in
                    try Self.readAvailable(pair.server)
                }
                UnsafeMutableRawBufferPointer(rebasing: all[range]).initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
        #expect(received == message)
        #expect(pair.server.unreadCiphertext == 0)
        expectErrorQueueEmpty()
    }

    @Test("Order: bytes given with bioWrite come first, then the lent ones, then bytes given (or lent) while the body runs")
    func orderingAcrossBioWriteAndNesting() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        func record(_ text: String) throws -> [UInt8] {
            try pair.client.writeAll(Array(text.utf8))
            return Self.drain(pair.client)
        }
        let first = try record("first ")
        let second = try record("second ")
        let third = try record("third ")
        let fourth = try record("fourth")
        try pair.server.bioWrite(first)
        // Lend `second` with its last byte held back by OpenSSL's view only: lend all of it, and inside the
        // body hand over `third` with bioWrite and lend `fourth`, before anything is read.
        var text: [UInt8] = []
        try second.withUnsafeBytes { lent in
            #expect(pair.server.unreadCiphertext == first.count)
            try pair.server.withIncomingCiphertext(lent) { () throws(SSLError) in
                #expect(pair.server.unreadCiphertext == first.count + second.count)
                // Lent, not copied: OpenSSL is about to read the caller's own bytes.
                #expect(pair.server.memoryBuffers?.pointee.borrowed.baseAddress == lent.baseAddress)
                #expect(pair.server.memoryBuffers?.pointee.incoming.count == first.count)
                // Read part of it: the first record only.
                text += try pair.server.read(max: 6)
                try pair.server.bioWrite(third)
                let rest = fourth.withUnsafeBytes { nested in
                    Result { () throws(SSLError) in
                        try pair.server.withIncomingCiphertext(nested) { () throws(SSLError) in
                            try Self.readAvailable(pair.server)
                        }
                    }
                }
                text += try rest.get()
            }
        }
        #expect(String(decoding: text, as: UTF8.self) == "first second third fourth")
        #expect(pair.server.unreadCiphertext == 0)
        expectErrorQueueEmpty()
    }

    @Test("Unread lent bytes survive a body that throws; the end of stream still reads as EOF after them")
    func leftoverAfterThrowAndEndOfStream() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        try pair.client.writeAll(Array("kept".utf8))
        let ciphertext = Self.drain(pair.client)
        #expect(
            sslErrorCase {
                try ciphertext.withUnsafeBytes { lent in
                    try pair.server.withIncomingCiphertext(lent) { () throws(SSLError) in
                        throw .usage("stop before reading")
                    }
                }
            } == .usage)
        #expect(pair.server.unreadCiphertext == ciphertext.count)
        try pair.server.bioShutdown()
        #expect(String(decoding: try pair.server.read(max: 10), as: UTF8.self) == "kept")
        #expect(sslErrorCase { _ = try pair.server.read(max: 10) } == .unexpectedEOF)
        expectErrorQueueEmpty()
    }

    @Test("A connection over a transport refuses to borrow with a usage error")
    func transportConnectionRefuses() throws {
        let transports = MemoryTransportPair()
        let connection = try Connection(try TestContexts.server(), transport: transports.server)
        var ran = false
        #expect(
            sslErrorCase {
                try [UInt8](repeating: 1, count: 4).withUnsafeBytes { lent in
                    try connection.withIncomingCiphertext(lent) { () throws(SSLError) in ran = true }
                }
            } == .usage)
        #expect(!ran)
        #expect(connection.unreadCiphertext == 0)
    }

    @Test("On DTLS the lent datagram is handed over whole, as bioWrite would, and read from there")
    func dtlsDatagramIsNotLent() throws {
        let pair = try TLSPair(client: try DTLSTests.client(), server: try DTLSTests.server())
        try DTLSTests.cookieExchange(pair)
        try pair.handshake()
        _ = try pair.client.write(Array("one datagram".utf8))
        let datagram = try pair.client.bioRead(max: 2_000)
        let read = try datagram.withUnsafeBytes { bytes in
            try pair.server.withIncomingCiphertext(bytes) { () throws(SSLError) -> [UInt8] in
                #expect(pair.server.unreadCiphertext == datagram.count, "queued, not lent")
                return try pair.server.read(max: 2_000)
            }
        }
        #expect(read == Array("one datagram".utf8))
        #expect(pair.server.unreadCiphertext == 0)
        expectErrorQueueEmpty()
    }
}
