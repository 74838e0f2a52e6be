import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Handshakes and I/O through memory BIOs (CONFORMANCE S01, S02-less core, S04, S06–S09, S11, S12, I01).
@Suite("Connection over memory BIOs")
struct ConnectionTests {
    static var pki: TestPKI { TestPKI.shared }

    enum KeyKind: String, CaseIterable, Sendable { case ecdsa, rsa, ed25519 }

    static let matrix: [(ProtocolVersion, KeyKind)] =
        [ProtocolVersion.tls1_2, .tls1_3].flatMap { version in KeyKind.allCases.map { (version, $0) } }

    @Test("S01 handshake and data both ways (TLS 1.2/1.3; RSA, ECDSA P-256, Ed25519)", arguments: matrix)
    func handshakeAndData(version: ProtocolVersion, kind: KeyKind) throws {
        let (certificate, key, chain, root): (X509, PKey, [X509], X509)
        switch kind {
        case .ecdsa:
            (certificate, key, chain, root) = (Self.pki.server, Self.pki.serverKey, [Self.pki.intermediate], Self.pki.root)
        case .rsa:
            (certificate, key, chain, root) = (Self.pki.rsaServer, Self.pki.rsaServerKey, [Self.pki.intermediate], Self.pki.root)
        case .ed25519:
            (certificate, key, chain, root) = (Self.pki.ed25519Server, Self.pki.ed25519ServerKey, [], Self.pki.ed25519Root)
        }
        let serverContext = try TestContexts.server(certificate: certificate, key: key, chain: chain)
        try serverContext.setMaximumProtocolVersion(version)
        let clientContext = try TestContexts.client(trusting: [root])
        let pair = try TLSPair(client: clientContext, server: serverContext)
        // Before the handshake: nothing negotiated.
        #expect(pair.client.protocolVersion == nil)
        #expect(pair.client.cipherName == nil)
        #expect(pair.client.peerCertificate == nil)
        try pair.handshake()
        #expect(pair.client.protocolVersion == version)
        #expect(pair.server.protocolVersion == version)
        #expect(pair.client.protocolVersionName == version.description)
        #expect(pair.client.cipherName == pair.server.cipherName)
        #expect(pair.client.cipherBits == pair.server.cipherBits)
        #expect(pair.client.cipherVersion == pair.server.cipherVersion)
        #expect(pair.client.peerCertificate == certificate)
        #expect(pair.server.certificate == certificate)
        #expect(pair.client.certificate == nil)
        #expect(try pair.client.peerCertificate?.publicKey.type == key.type)
        #expect(pair.client.verifyResult == .ok)
        let request = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        #expect(try pair.send(request, from: pair.client, to: pair.server) == request)
        let response = Array(repeating: UInt8(ascii: "x"), count: 40_000)
        #expect(try pair.send(response, from: pair.server, to: pair.client) == response)
        #expect(pair.client.stateString == "SSL negotiation finished successfully")
        expectErrorQueueEmpty()
    }

    @Test("S04 an empty memory BIO throws wantRead; a client's first handshake wants read; bioRead(max: 2) gives 2 bytes")
    func emptyBIOWantsRead() throws {
        let client = try Connection(try TestContexts.client())
        client.setConnectState()
        try client.setServerName("localhost")
        #expect(sslErrorCase { _ = try client.bioRead(max: 100) } == .wantRead)
        #expect(sslErrorCase { _ = try client.doHandshake() } == .wantRead)
        #expect(client.wantsRead)
        #expect(client.pendingCiphertext > 2)
        let two = try client.bioRead(max: 2)
        #expect(two.count == 2)
        #expect(two[0] == 0x16)  // a handshake record
        let server = try Connection(try TestContexts.server())
        server.setAcceptState()
        #expect(sslErrorCase { _ = try server.doHandshake() } == .wantRead)
        #expect(sslErrorCase { _ = try server.read(max: 10) } == .wantRead)
        expectErrorQueueEmpty()
    }

    @Test("S06 a 32 KiB write may be partial and reports its count; the peer gets exactly that; writeAll sends all")
    func partialWrites() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        let big = (0..<32_768).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let written = try pair.client.write(big)
        #expect(written > 0 && written <= big.count)
        try pair.pump()
        var received: [UInt8] = []
        reading: while true {
            switch Result(catching: { () throws(SSLError) in try pair.server.read(max: 65_536) }) {
            case .success(let chunk): received += chunk
            case .failure(.wantRead): break reading
            case .failure(let error): throw error
            }
        }
        #expect(received == Array(big[..<written]))
        try pair.client.writeAll(big)
        try pair.pump()
        received = []
        while received.count < big.count { received += try pair.server.read(max: 65_536) }
        #expect(received == big)
    }

    @Test("S08 shutdown sequence: sent, zeroReturn, received, complete")
    func shutdownSequence() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(pair.server.shutdownState == [])
        #expect(try pair.server.shutdown() == false)
        #expect(pair.server.shutdownState == .sent)
        try pair.pump()
        #expect(sslErrorCase { _ = try pair.client.read(max: 10) } == .zeroReturn)
        #expect(pair.client.shutdownState == .received)
        #expect(try pair.client.shutdown() == true)
        #expect(pair.client.shutdownState == [.sent, .received])
        try pair.pump()
        #expect(sslErrorCase { _ = try pair.server.read(max: 10) } == .zeroReturn)
        #expect(pair.server.shutdownState == [.sent, .received])
        pair.server.setShutdownState(.sent)
        #expect(pair.server.shutdownState == .sent)
        expectErrorQueueEmpty()
    }

    @Test("S09 shutdown over memory BIOs with no peer: not complete, then wantRead, then after bioShutdown an error")
    func shutdownWithoutPeer() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(try pair.server.shutdown() == false)
        #expect(sslErrorCase { _ = try pair.server.shutdown() } == .wantRead)
        try pair.server.bioShutdown()
        let error = try #require(throws: SSLError.self) { try pair.server.shutdown() }
        if case .wantRead = error { Issue.record("expected an error other than wantRead") }
        expectErrorQueueEmpty()
    }

    @Test("S11 a peer that vanishes without close_notify: read throws sysCall marked unexpected EOF")
    func unexpectedEOFOverMemory() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        try pair.client.bioShutdown()
        let error = try #require(throws: SSLError.self) { try pair.client.read(max: 10) }
        #expect(error.isUnexpectedEOF, "got \(error)")
        guard case .sysCall = error else {
            Issue.record("expected sysCall, got \(error)")
            return
        }
        expectErrorQueueEmpty()
    }

    @Test("S12 pending, peek and bounded reads")
    func pendingAndPeek() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        #expect(pair.client.pending == 0)
        try pair.handshake()
        try pair.client.writeAll(Array("hello, world".utf8))
        try pair.pump()
        #expect(try pair.server.peek(max: 5) == Array("hello".utf8))
        #expect(try pair.server.read(max: 5) == Array("hello".utf8))
        #expect(pair.server.pending == 7)
        // read(into:) never writes past the buffer.
        var buffer = [UInt8](repeating: 0xEE, count: 8)
        let count = try buffer.withUnsafeMutableBytes { bytes in
            try pair.server.read(into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<3]))
        }
        #expect(count == 3)
        #expect(buffer == Array(", w".utf8) + [0xEE, 0xEE, 0xEE, 0xEE, 0xEE])
        #expect(pair.server.pending == 4)
        #expect(try pair.server.read(max: 100) == Array("orld".utf8))
        #expect(pair.server.pending == 0)
        #expect(try pair.server.read(max: 0) == [])
    }

    @Test("S03 memory-BIO calls on a transport connection are refused with a usage error")
    func bioCallsOnTransport() throws {
        let connection = try Connection(try TestContexts.client(), transport: StallingTransport())
        #expect(sslErrorCase { _ = try connection.bioRead(max: 1) } == .usage)
        #expect(sslErrorCase { _ = try connection.bioWrite([1]) } == .usage)
        #expect(sslErrorCase { _ = try connection.bioShutdown() } == .usage)
        #expect(connection.pendingCiphertext == 0)
        do {
            try connection.bioWrite([1])
        } catch .usage(let message) {
            #expect(message.contains("memory BIO"))
        } catch {
            Issue.record("expected .usage, got \(error)")
        }
    }

    @Test("A client context that verifies host names refuses to handshake without one")
    func hostnameRequired() throws {
        let client = try Connection(try TestContexts.client())
        client.setConnectState()
        let error = try #require(throws: SSLError.self) { try client.doHandshake() }
        guard case .usage = error else {
            Issue.record("expected .usage, got \(error)")
            return
        }
        expectErrorQueueEmpty()
    }

    @Test("A Context shared by 8 threads doing handshakes at once")
    func sharedContextAcrossThreads() async throws {
        let serverContext = try TestContexts.server()
        let clientContext = try TestContexts.client()
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        for _ in 0..<5 {
                            let pair = try TLSPair(client: clientContext, server: serverContext)
                            try pair.handshake()
                            guard try pair.send([1, 2, 3], from: pair.client, to: pair.server) == [1, 2, 3] else { return false }
                        }
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var all: [Bool] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results == Array(repeating: true, count: 8))
    }
}

/// A transport that never accepts or delivers a byte (would block forever).
final class StallingTransport: Transport {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? { nil }
    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? { nil }
}
