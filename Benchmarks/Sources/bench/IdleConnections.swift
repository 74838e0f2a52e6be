import CBench
import Foundation
import NIOCore
import NIOEmbedded
import NIOSSL
import OpenSSL

// W7 (issue 21): memory per idle connection. N client/server pairs in one
// process, each handshaken (TLS 1.3, P-256, the client verifying the server
// and its host name), one 64-byte message each way, then held open; the
// resident set's growth divided by N. Each figure comes from a process of
// its own (`bench idle …`), so one measurement's freed memory cannot
// flatter the next.

enum IdleConnections {
    /// The process's resident set, in KiB (/proc/self/statm).
    static func residentKiB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
    }

    /// KiB of resident memory per idle pair (client + server).
    static func measure(_ implementation: Implementation, count: Int, release: Bool, pki: PKI) throws -> Double {
        let open: (Int) throws -> AnyObject
        switch implementation {
        case .c:
            let environment = try CEnvironment(pki)
            open = { count in try CIdlePairs(environment, count: count, release: release) }
        case .swift:
            let contexts = try LibraryIdleContexts(pki, release: release)
            open = { count in try LibraryIdlePairs(contexts, count: count) }
        case .nio:
            let contexts = try NIOEnvironment(pki)
            open = { count in
                try HandlerIdlePairs(count: count) {
                    try .nioSSL(client: contexts.client, server: contexts.ecdsaServer, loop: $0)
                }
            }
        case .handler:
            let contexts = try LibraryIdleContexts(pki, release: release)
            open = { count in
                try HandlerIdlePairs(count: count) { try .openSSLNIO(client: contexts.client, server: contexts.server, loop: $0) }
            }
        case .webPKI:
            throw BenchError("idle: \(implementation.rawValue) is a verification policy, not a connection")
        }
        // Warm up: code paths, caches and the allocator's first arenas.
        _ = try open(32)
        let before = residentKiB()
        let held = try open(count)
        let after = residentKiB()
        return withExtendedLifetime(held) { Double(after - before) / Double(count) }
    }

    /// `bench idle-table`: every implementation and mode at each count, each
    /// in a child process; a Markdown table.
    static func table(counts: [Int], executable: String, pkiDirectory: String) throws -> String {
        func child(_ implementation: Implementation, _ count: Int, _ release: Bool) throws -> Double {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments =
                ["idle", "--impl", implementation.rawValue, "--count", String(count), "--pki", pkiDirectory]
                + (release ? ["--release"] : [])
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard process.terminationStatus == 0, let value = Double(text) else {
                throw BenchError("idle \(implementation.rawValue) \(count): \(text)")
            }
            return value
        }
        func kib(_ value: Double) -> String { String(format: "%.1f KiB", value) }
        var lines = [
            "| W7 idle pairs | C (libssl) | this library | lib/C | OpenSSLNIO handlers | handlers/C | swift-nio-ssl | nio/C |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for release in [false, true] {
            for count in counts {
                let c = try child(.c, count, release)
                let library = try child(.swift, count, release)
                let handlers = try child(.handler, count, release)
                // BoringSSL has no such mode: it always frees idle buffers.
                let nio = try child(.nio, count, false)
                let mode = release ? "SSL_MODE_RELEASE_BUFFERS" : "default"
                lines.append(
                    "| \(count) pairs, \(mode) | \(kib(c)) | \(kib(library)) | \(String(format: "%.2f", library / c)) "
                        + "| \(kib(handlers)) | \(String(format: "%.2f", handlers / c)) "
                        + "| \(kib(nio)) | \(String(format: "%.2f", nio / c)) |")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// The C reference's pairs (two BIO_s_mem per connection).
final class CIdlePairs {
    let raw: OpaquePointer
    init(_ environment: CEnvironment, count: Int, release: Bool) throws {
        guard let idle = cb_idle_new(environment.raw, Int32(CB_DATA13), count, release ? 1 : 0) else {
            throw BenchError("C idle pairs failed")
        }
        raw = idle
    }
    deinit { cb_idle_free(raw) }
}

/// The library's contexts for W7, with or without `.releaseBuffers`.
final class LibraryIdleContexts {
    let server: Context, client: Context
    init(_ pki: PKI, release: Bool) throws {
        let certificate = try X509(pem: pki.ecdsaCertificatePEM)
        let key = try PKey(privateKeyPEM: pki.ecdsaKeyPEM)
        server = try Context.server(certificate: certificate, key: key)
        client = try Context.client(trusting: [try X509(pem: pki.rootPEM)])
        for context in [server, client] {
            try context.setTLS13Ciphersuites("TLS_AES_128_GCM_SHA256")
            if release { try context.setMode(.releaseBuffers) }
        }
    }
}

/// The library's pairs over memory buffers, pumped with `withPendingCiphertext`.
final class LibraryIdlePairs {
    var pairs: [(Connection, Connection)] = []
    init(_ contexts: LibraryIdleContexts, count: Int) throws {
        pairs.reserveCapacity(count)
        var scratch = [UInt8](repeating: 0, count: 256)
        let message = [UInt8](repeating: 0x6d, count: 64)
        for _ in 0..<count {
            let client = try Connection(contexts.client)
            let server = try Connection(contexts.server)
            client.setConnectState()
            server.setAcceptState()
            try client.setServerName("localhost")
            try scratch.withUnsafeMutableBytes { buffer in
                try handshake(client, server, buffer)
                for (from, to) in [(client, server), (server, client)] {
                    try from.writeAll(message)
                    _ = try move(from: from, to: to, buffer)
                    guard try to.read(into: buffer) == message.count else { throw BenchError("short read") }
                }
            }
            pairs.append((client, server))
        }
    }
}

/// Pairs of TLS handlers (swift-nio-ssl's, or this library's OpenSSLNIO
/// ones) on EmbeddedChannels sharing one loop.
final class HandlerIdlePairs {
    let loop = EmbeddedEventLoop()
    var pairs: [EmbeddedPair] = []

    init(count: Int, _ makePair: (EmbeddedEventLoop) throws -> EmbeddedPair) throws {
        pairs.reserveCapacity(count)
        for _ in 0..<count {
            let pair = try makePair(loop)
            var message = pair.client.allocator.buffer(capacity: 64)
            message.writeRepeatingByte(0x6d, count: 64)
            guard try pair.send(message, from: pair.client) == 64, try pair.send(message, from: pair.server) == 64 else {
                throw BenchError("idle pairs: a message was not received")
            }
            pairs.append(pair)
        }
    }
}
