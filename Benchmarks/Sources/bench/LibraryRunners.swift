import MallocCounter
import Foundation
import OpenSSL

/// This library's contexts for each workload, configured like the C reference's.
final class LibraryEnvironment: @unchecked Sendable {  // immutable after init; Contexts are Sendable
    let root: X509
    let ecdsaServer: Context, rsaServer: Context, tls12Server: Context, mutualServer: Context, dataServer: Context
    let client: Context, mutualClient: Context, dataClient: Context

    init(_ pki: PKI) throws {
        root = try X509(pem: pki.rootPEM)
        let ecdsa = try X509(pem: pki.ecdsaCertificatePEM)
        let ecdsaKey = try PKey(privateKeyPEM: pki.ecdsaKeyPEM)
        let rsa = try X509(pem: pki.rsaCertificatePEM)
        let rsaKey = try PKey(privateKeyPEM: pki.rsaKeyPEM)
        let clientCertificate = try X509(pem: pki.clientCertificatePEM)
        let clientKey = try PKey(privateKeyPEM: pki.clientKeyPEM)

        ecdsaServer = try Context.server(certificate: ecdsa, key: ecdsaKey)
        // BENCH_TICKETS=N: W1's server sends N TLS 1.3 tickets (OpenSSL's default 2), to measure the trade-off.
        if let tickets = ProcessInfo.processInfo.environment["BENCH_TICKETS"].flatMap(Int.init) {
            try ecdsaServer.setSessionTicketCount(tickets)
        }
        rsaServer = try Context.server(certificate: rsa, key: rsaKey)
        tls12Server = try Context.server(certificate: ecdsa, key: ecdsaKey)
        try tls12Server.setMaximumProtocolVersion(.tls1_2)
        try tls12Server.setCipherList("ECDHE-ECDSA-AES128-GCM-SHA256")
        mutualServer = try Context.mutualTLSServer(certificate: ecdsa, key: ecdsaKey) { _, verification in
            // Trust on first use: accept the self-signed client, remember its fingerprint.
            guard let leaf = verification.leaf else { return .reject }
            sink &+= try leaf.fingerprint(.sha256).utf8.count
            return .accept
        }
        dataServer = try Context.server(certificate: ecdsa, key: ecdsaKey)
        try dataServer.setTLS13Ciphersuites("TLS_AES_128_GCM_SHA256")

        client = try Context.client(trusting: [root])
        mutualClient = try Context.client(trusting: [root], certificate: clientCertificate, key: clientKey)
        dataClient = try Context.client(trusting: [root])
        try dataClient.setTLS13Ciphersuites("TLS_AES_128_GCM_SHA256")
        if let groups = benchGroups {
            for context in [ecdsaServer, rsaServer, tls12Server, mutualServer, dataServer, client, mutualClient, dataClient] {
                try context.setGroups(groups)
            }
        }
    }
}

nonisolated(unsafe) var sink = 0
nonisolated(unsafe) var sink2 = 0

/// BENCH_COPYING_PUMP=1: pump through a buffer of ours with bioRead(into:),
/// as the C reference does, instead of handing the sender's bytes straight
/// to the receiver.
let copyingPump = ProcessInfo.processInfo.environment["BENCH_COPYING_PUMP"] == "1"

/// The memory-BIO pump: while the sender has ciphertext, move it to the
/// receiver. By default with `withPendingCiphertext` (the sender's bytes go
/// to the receiver's `bioWrite` in place: one copy, as an event loop writes
/// them to a socket); with BENCH_COPYING_PUMP=1 through `buffer`, the same
/// two copies as the C reference's BIO_read + BIO_write.
@inline(__always)
func move(from: Connection, to: Connection, _ buffer: UnsafeMutableRawBufferPointer) throws(SSLError) -> Int {
    var moved = 0
    while from.pendingCiphertext > 0 {
        if copyingPump {
            let count = try from.bioRead(into: buffer)
            try to.bioWrite(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
            moved += count
        } else {
            moved += try from.withPendingCiphertext { bytes throws(SSLError) in try to.bioWrite(bytes) }
        }
    }
    return moved
}

@inline(__always)
func step(_ connection: Connection) throws(SSLError) {
    if connection.isHandshakeDone { return }
    switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
    case .success, .failure(.wantRead): return
    case .failure(let error): throw error
    }
}

func handshake(_ client: Connection, _ server: Connection, _ buffer: UnsafeMutableRawBufferPointer) throws {
    for _ in 0..<64 {
        try step(client)
        try step(server)
        let moved = try move(from: client, to: server, buffer) + move(from: server, to: client, buffer)
        if client.isHandshakeDone && server.isHandshakeDone && moved == 0 { return }
    }
    throw BenchError("library handshake did not finish")
}

/// Reads until `.wantRead`; returns the bytes read.
@inline(__always)
func drain(_ connection: Connection, _ buffer: UnsafeMutableRawBufferPointer) throws(SSLError) -> Int {
    var total = 0
    while true {
        switch Result(catching: { () throws(SSLError) in try connection.read(into: buffer) }) {
        case .success(let count): total += count
        case .failure(.wantRead): return total
        case .failure(let error): throw error
        }
    }
}

let pumpBufferSize = 65_536

final class LibraryHandshakes: Runner {
    let client: Context, server: Context
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pumpBufferSize, alignment: 16)
    init(client: Context, server: Context) {
        self.client = client
        self.server = server
    }
    deinit { buffer.deallocate() }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            let clientConnection = try Connection(client)
            let serverConnection = try Connection(server)
            clientConnection.setConnectState()
            serverConnection.setAcceptState()
            try clientConnection.setServerName("localhost")
            try handshake(clientConnection, serverConnection, buffer)
        }
    }
}

/// A connected pair for the data workloads.
final class LibraryPair {
    let client: Connection, server: Connection
    let pump = UnsafeMutableRawBufferPointer.allocate(byteCount: pumpBufferSize, alignment: 16)
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 16)
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 16)

    init(_ env: LibraryEnvironment) throws {
        client = try Connection(env.dataClient)
        server = try Connection(env.dataServer)
        client.setConnectState()
        server.setAcceptState()
        try client.setServerName("localhost")
        try handshake(client, server, pump)
        for index in 0..<payload.count { payload[index] = UInt8(truncatingIfNeeded: index &* 31) }
    }

    deinit {
        pump.deallocate()
        payload.deallocate()
        readBuffer.deallocate()
    }
}

final class LibraryBulk: Runner {
    let pair: LibraryPair
    init(_ env: LibraryEnvironment) throws { pair = try LibraryPair(env) }

    func run(_ count: Int) throws {
        let p = pair
        let data = UnsafeRawBufferPointer(p.payload)
        for _ in 0..<count {
            guard try p.client.write(data) == data.count else { throw BenchError("partial write") }
            _ = try move(from: p.client, to: p.server, p.pump)
            guard try drain(p.server, p.readBuffer) == data.count else { throw BenchError("short read") }
        }
    }
}

final class LibraryRoundTrips: Runner {
    let pair: LibraryPair
    init(_ env: LibraryEnvironment) throws { pair = try LibraryPair(env) }

    func run(_ count: Int) throws {
        let p = pair
        let message = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p.payload)[..<64])
        for _ in 0..<count {
            guard try p.client.write(message) == 64 else { throw BenchError("partial write") }
            _ = try move(from: p.client, to: p.server, p.pump)
            guard try drain(p.server, p.readBuffer) == 64 else { throw BenchError("short read") }
            guard try p.server.write(message) == 64 else { throw BenchError("partial write") }
            _ = try move(from: p.server, to: p.client, p.pump)
            guard try drain(p.client, p.readBuffer) == 64 else { throw BenchError("short read") }
        }
    }
}

final class LibraryParse: Runner {
    let bundle: [UInt8]
    let expected: Int
    init(bundle: [UInt8], expected: Int) {
        self.bundle = bundle
        self.expected = expected
    }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            var parsed = 0
            for certificate in try X509.chain(pem: bundle) {
                sink &+= try certificate.subject.rfc2253String.utf8.count
                sink &+= try certificate.subjectAlternativeNames?.count ?? 0
                sink &+= try certificate.fingerprint(.sha256).utf8.count
                parsed += 1
            }
            guard parsed == expected else { throw BenchError("library parsed \(parsed) certificates, expected \(expected)") }
        }
    }
}

/// W6: handshakes over TCPSocket on 127.0.0.1, the server in a second thread.
final class LibraryTCP: Runner {
    let env: LibraryEnvironment
    let listener: TCPSocket
    let port: UInt16

    init(_ env: LibraryEnvironment) throws {
        self.env = env
        listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        port = listener.localPort
    }

    func run(_ count: Int) throws {
        let failure = ErrorBox()
        let done = DispatchSemaphore(value: 0)
        let listener = self.listener
        let context = env.ecdsaServer
        let thread = Thread {
            defer { done.signal() }
            var ok: UInt8 = UInt8(ascii: "k")
            do {
                for _ in 0..<count {
                    let socket = try listener.accept()
                    let connection = try Connection(context, transport: socket)
                    connection.setAcceptState()
                    try connection.doHandshake()
                    _ = try withUnsafeBytes(of: &ok) { bytes throws(SSLError) in try connection.write(bytes) }
                    socket.close()
                }
            } catch {
                failure.set(error)
            }
        }
        thread.start()
        var byte: UInt8 = 0
        var clientError: (any Error)?
        do {
            for _ in 0..<count {
                let socket = try TCPSocket.connect(host: "127.0.0.1", port: port)
                let connection = try Connection(env.client, transport: socket)
                connection.setConnectState()
                try connection.setServerName("localhost")
                try connection.doHandshake()
                let read = try withUnsafeMutableBytes(of: &byte) { bytes throws(SSLError) in try connection.read(into: bytes) }
                guard read == 1, byte == UInt8(ascii: "k") else { throw BenchError("TCP: wrong byte") }
                socket.close()
            }
        } catch {
            clientError = error
        }
        if clientError != nil {
            // Wake a server blocked in accept: connect once and close.
            _ = try? TCPSocket.connect(host: "127.0.0.1", port: port)
        }
        done.wait()
        if let clientError { throw clientError }
        if let error = failure.get() { throw error }
    }
}

final class ErrorBox: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var error: (any Error)?
    func set(_ value: any Error) {
        lock.lock()
        if error == nil { error = value }
        lock.unlock()
    }
    func get() -> (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return error
    }
}

/// Allocations per call of the library's own byte moves in steady state,
/// next to what OpenSSL's SSL_write allocates by itself.
func libraryLayerAllocations(_ env: LibraryEnvironment) throws -> [(String, Double)] {
    let pair = try LibraryPair(env)
    let message = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(pair.payload)[..<64])
    let cycles = 5_000
    func perCycle(_ body: () throws -> Void) rethrows -> Double {
        try body()  // warm: buffers at their steady size
        mc_start()
        try body()
        return Double(mc_stop()) / Double(cycles)
    }
    // bioWrite alone: a connection that never reads, its buffer grown once beforehand.
    let sink = try Connection(env.dataServer)
    let grow = [UInt8](repeating: 0, count: 2 * cycles * 64)
    try sink.bioWrite(grow)  // capacity now holds this and the cycles below
    let bioWrites = try perCycle { for _ in 0..<cycles / 2 { try sink.bioWrite(message) } }
    let withPending = try perCycle {
        for _ in 0..<cycles {
            _ = try pair.server.write(message)
            _ = pair.server.withPendingCiphertext { $0.count }
        }
    }
    let bioReads = try perCycle {
        for _ in 0..<cycles {
            _ = try pair.server.write(message)
            _ = try pair.server.bioRead(into: pair.pump)
        }
    }
    let skipped = perCycle {
        for _ in 0..<cycles {
            if case .failure(.wantRead) = Result(catching: { () throws(SSLError) in try pair.server.read(into: pair.readBuffer) })
            {
            } else {
                sink2 &+= 1
            }
        }
    }
    return [
        ("bioWrite (64 bytes)", bioWrites * 2),
        ("write (SSL_write, 64 bytes) + withPendingCiphertext", withPending),
        ("write (SSL_write, 64 bytes) + bioRead(into:)", bioReads),
        ("read that ends in .wantRead without SSL_read", skipped),
    ]
}
