// swift-format-ignore-file
// This file holds the guides' Swift blocks verbatim (a test checks it), so it
// keeps the guides' layout rather than .swift-format's.

import Testing
import Foundation
import OpenSSL
import TestSupport

// The code of Docs/getting-started.md, compiled (and, where it needs no
// network, run). `docBlocksAreCompiled` checks that every ```swift block of
// the guide appears here verbatim, so the guide cannot drift from code that builds.

// MARK: example: client
func fetchHomePage(host: String) throws -> String {
    let context = try Context.client()                 // system roots, host names checked
    let socket = try TCPSocket.connect(host: host, port: 443, timeout: .seconds(10))
    defer { socket.close() }
    let connection = try Connection(context, transport: socket)
    connection.setConnectState()
    try connection.setServerName(host)                 // SNI, and the name the certificate must match
    try connection.doHandshake()
    try connection.writeAll(Array("GET / HTTP/1.0\r\nHost: \(host)\r\n\r\n".utf8))
    var response: [UInt8] = []
    reading: while true {
        switch Result(catching: { () throws(SSLError) in try connection.read(max: 16_384) }) {
        case .success(let bytes): response += bytes
        case .failure(.zeroReturn): break reading      // the server closed cleanly
        case .failure(let error): throw error
        }
    }
    return String(decoding: response, as: UTF8.self)
}
// MARK: end

// MARK: example: server
func serveOnce(certificate: X509, key: PKey, port: UInt16) throws {
    let context = try Context.server(certificate: certificate, key: key)
    let listener = try TCPSocket.listen(host: "127.0.0.1", port: port)
    defer { listener.close() }
    let socket = try listener.accept(timeout: .seconds(30))
    let connection = try Connection(context, transport: socket)
    defer { connection.closeGracefully() }             // close_notify, then drain and close: see below
    connection.setAcceptState()
    try connection.doHandshake()
    let request = try connection.read(max: 4096)
    try connection.writeAll(request)                   // echo
}
// MARK: end

// MARK: example: memory BIOs
/// Moves ciphertext between two in-memory connections until neither has more to send.
/// The sender's bytes go to the receiver in place: no buffer of ours, no allocation.
func pump(_ a: Connection, _ b: Connection) throws {
    var moved = true
    while moved {
        moved = false
        for (from, to) in [(a, b), (b, a)] where from.pendingCiphertext > 0 {
            try from.withPendingCiphertext { bytes throws(SSLError) in try to.bioWrite(bytes) }
            moved = true
        }
    }
}

func handshakeInMemory(client: Connection, server: Connection) throws {
    client.setConnectState()
    server.setAcceptState()
    while !(client.isHandshakeDone && server.isHandshakeDone) {
        for side in [client, server] where !side.isHandshakeDone {
            switch Result(catching: { () throws(SSLError) in try side.doHandshake() }) {
            case .success, .failure(.wantRead): break  // wantRead: it needs the peer's bytes
            case .failure(let error): throw error
            }
        }
        try pump(client, server)
    }
}
// MARK: end

// MARK: example: trust on first use
/// Remembers each client's certificate fingerprint the first time it is
/// seen, and refuses a different certificate for the same subject later.
final class FingerprintBook: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var known: [String: String] = [:]      // subject -> SHA-256 fingerprint

    func decide(_ verification: PeerVerification) throws -> VerificationDecision {
        guard let leaf = verification.leaf else { return .reject }
        let subject = try leaf.subject.rfc2253String
        let fingerprint = try leaf.fingerprint(.sha256)
        lock.lock()
        defer { lock.unlock() }
        if let remembered = known[subject] {
            return remembered == fingerprint ? .accept : .reject
        }
        known[subject] = fingerprint                   // first use: remember it
        return .accept
    }
}

func makeTOFUServer(certificate: X509, key: PKey, book: FingerprintBook) throws -> Context {
    try Context.mutualTLSServer(certificate: certificate, key: key) { _, verification in
        try book.decide(verification)
    }
}
// MARK: end

@Suite("Docs examples")
struct DocExamplesTests {
    @Test("Every swift block of Docs/getting-started.md is compiled here")
    func docBlocksAreCompiled() throws {
        let guide = try GuideBlocks(guide: "getting-started.md", testFile: #filePath)
        #expect(guide.blocks.count >= 4)
        for block in guide.missing {
            Issue.record("a block of the guide is not in DocExamplesTests.swift:\n\(block)")
        }
    }

    @Test("The memory-BIO example completes a handshake")
    func memoryExample() throws {
        let client = try Connection(try TestContexts.client())
        try client.setServerName("localhost")
        let server = try Connection(try TestContexts.server())
        try handshakeInMemory(client: client, server: server)
        #expect(client.isHandshakeDone && server.isHandshakeDone)
    }

    @Test("The trust-on-first-use example accepts a first client, again the same one, and refuses an impostor")
    func tofuExample() throws {
        let pki = TestPKI.shared
        let book = FingerprintBook()
        let server = try makeTOFUServer(certificate: pki.server, key: pki.serverKey, book: book)
        func connect(_ certificate: X509, _ key: PKey) throws -> Bool {
            // The example's server sends no intermediate, so the client trusts it too.
            let clientContext = try Context.client(trusting: [pki.root, pki.intermediate], certificate: certificate, key: key)
            let client = try Connection(clientContext)
            try client.setServerName("localhost")
            let serverConnection = try Connection(server)
            do {
                try handshakeInMemory(client: client, server: serverConnection)
                return true
            } catch {
                return false
            }
        }
        #expect(try connect(pki.selfSignedClient, pki.selfSignedClientKey))
        #expect(try connect(pki.selfSignedClient, pki.selfSignedClientKey))
        // Same subject, different key: refused.
        let impostorKey = try PKey.generate(.ec(.p256))
        let impostor = try X509Builder(subject: try pki.selfSignedClient.subject, publicKey: impostorKey,
                                       notBefore: Date() - 60, notAfter: Date() + 3600).sign(with: impostorKey)
        #expect(try !connect(impostor, impostorKey))
    }

    @Test("The server example echoes over 127.0.0.1")
    func serverExample() throws {
        let pki = TestPKI.shared
        let probe = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        let port = probe.localPort
        probe.close()
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<String?>(nil)
        let certificate = pki.server, key = pki.serverKey
        Thread.detachNewThread {
            do { try serveOnce(certificate: certificate, key: key, port: port) } catch { failure.set("\(error)") }
            done.signal()
        }
        var socket: TCPSocket?
        for _ in 0..<100 where socket == nil {
            socket = try? TCPSocket.connect(host: "127.0.0.1", port: port, timeout: .seconds(1))
            if socket == nil { usleep(20_000) }
        }
        let connected = try #require(socket)
        defer { connected.close() }
        let client = try Connection(try Context.client(trusting: [pki.root], chain: []), transport: connected)
        client.setConnectState()
        try client.setServerName("localhost")
        // The server presents no intermediate in this example; trust it directly for the check.
        client.setPeerVerification { _, verification in
            verification.leaf == certificate ? .accept : .reject
        }
        try client.doHandshake()
        try client.writeAll(Array("echo me".utf8))
        #expect(try client.read(max: 100) == Array("echo me".utf8))
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(failure.get() == nil)
    }
}
