import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import OpenSSL
import OpenSSLNIO

// `bench stime` (issue 14, over real sockets): `openssl s_time` against three
// servers on 127.0.0.1, each on one thread, with the same certificate, key,
// TLS version, key-exchange group and cipher:
//
//   handler   a NIOPosix server, this library's OpenSSLServerHandler (in this process)
//   nio       a NIOPosix server, swift-nio-ssl's NIOSSLServerHandler (in this process)
//   s_server  `openssl s_server` (a child process)
//
// Each round runs s_time once against each server, the order rotating, so a
// noisy neighbour slows all three alike. s_time connects, handshakes and
// closes, one connection at a time, for `--seconds`; it sends no
// close_notify (quiet shutdown), so every server sees an unclean EOF after
// each handshake, and reads nothing, so TLS 1.3 tickets are never used:
// `-reuse` is measured with TLS 1.2 (the session comes back in the
// handshake itself). Every child runs under timeout(1), and the in-process
// servers are shut down before the command returns.

/// One s_time configuration: the key and the kind of handshake.
struct STimeCase {
    let name: String
    let key: Key
    /// false: TLS 1.3 full handshakes (`-new`); true: TLS 1.2 resumption (`-reuse`).
    let resumption: Bool

    enum Key: String { case ecdsa, rsa }

    static let all: [STimeCase] = [
        STimeCase(name: "ecdsa-new", key: .ecdsa, resumption: false),
        STimeCase(name: "rsa-new", key: .rsa, resumption: false),
        STimeCase(name: "ecdsa-reuse", key: .ecdsa, resumption: true),
    ]

    var title: String {
        let key = self.key == .ecdsa ? "ECDSA P-256" : "RSA-2048"
        return resumption
            ? "S3 TLS 1.2 resumption (`-reuse`), \(key), X25519, \(tls12Cipher)"
            : "S\(self.key == .ecdsa ? 1 : 2) TLS 1.3 full handshake (`-new`), \(key), X25519, TLS_AES_128_GCM_SHA256"
    }

    var tls12Cipher: String { key == .ecdsa ? "ECDHE-ECDSA-AES128-GCM-SHA256" : "ECDHE-RSA-AES128-GCM-SHA256" }

    /// The client side: s_time pins the version and the cipher.
    var sTimeArguments: [String] {
        resumption
            ? ["-reuse", "-tls1_2", "-cipher", tls12Cipher]
            : ["-new", "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"]
    }

    /// s_server pinned like the two NIO servers.
    var sServerArguments: [String] {
        (resumption ? ["-tls1_2"] : ["-tls1_3"]) + ["-groups", "X25519"]
    }

    func certificateAndKey(_ pki: PKI) -> (certificate: String, key: String) {
        key == .ecdsa ? (pki.ecdsaCertificatePEM, pki.ecdsaKeyPEM) : (pki.rsaCertificatePEM, pki.rsaKeyPEM)
    }

    /// This library's server context.
    func libraryContext(_ pki: PKI) throws -> Context {
        let pair = certificateAndKey(pki)
        let context = try Context.server(certificate: try X509(pem: pair.certificate), key: try PKey(privateKeyPEM: pair.key))
        try context.setGroups(["X25519"])
        if resumption {
            try context.setMaximumProtocolVersion(.tls1_2)
        } else {
            try context.setMinimumProtocolVersion(.tls1_3)
        }
        return context
    }

    /// swift-nio-ssl's server context.
    func nioContext(_ pki: PKI) throws -> NIOSSLContext {
        let pair = certificateAndKey(pki)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pair.certificate.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(pair.key.utf8), format: .pem)))
        configuration.curves = [.x25519]
        if resumption {
            configuration.maximumTLSVersion = .tlsv12
        } else {
            configuration.minimumTLSVersion = .tlsv13
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Who serves.
enum STimeServerKind: String, CaseIterable {
    case handler, nio
    case sServer = "s_server"

    var title: String {
        switch self {
        case .handler: return "OpenSSLNIO handler"
        case .nio: return "NIOSSLHandler"
        case .sServer: return "openssl s_server"
        }
    }
}

/// A server s_time can connect to.
protocol STimeServer: AnyObject {
    var port: Int { get }
    /// CPU time the server has used so far (its thread, or its process).
    func cpuSeconds() throws -> Double
    /// Handshakes the server completed (nil: it does not say).
    var handshakes: Int? { get }
    /// Connections that ended with an error in the server's pipeline, and up to three distinct errors.
    var errors: (count: Int, kinds: [String]) { get }
    func stop()
}

/// Counters the event loop writes and the main thread reads.
final class ServerCounters: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var handshakeCount = 0
    private var failedConnections = 0
    private var kinds: [String] = []

    func handshake() {
        lock.lock()
        handshakeCount += 1
        lock.unlock()
    }

    /// A connection's first error (later ones on the same connection are not counted).
    func failed(_ error: any Error) {
        let text = "\(error)"
        lock.lock()
        failedConnections += 1
        if kinds.count < 3, !kinds.contains(text) { kinds.append(text) }
        lock.unlock()
    }

    var handshakes: Int {
        lock.lock()
        defer { lock.unlock() }
        return handshakeCount
    }
    /// Connections that ended with an error, and up to three distinct errors.
    var errors: (count: Int, kinds: [String]) {
        lock.lock()
        defer { lock.unlock() }
        return (failedConnections, kinds)
    }
}

/// The application behind the TLS handler: counts handshakes, discards
/// data, closes on an error (s_time's unclean EOF after each handshake).
final class STimeTail: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let counters: ServerCounters
    private var failed = false
    init(_ counters: ServerCounters) { self.counters = counters }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { counters.handshake() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !failed {
            failed = true
            counters.failed(error)
        }
        context.close(promise: nil)
    }
}

/// A NIOPosix server on one event-loop thread (the acceptor and every
/// connection), as s_server serves on one thread.
final class NIOSTimeServer: STimeServer {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel: any Channel
    let counters = ServerCounters()
    let port: Int

    init(makeHandler: @escaping @Sendable () throws -> any ChannelHandler) throws {
        let counters = self.counters
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try makeHandler())
                        try channel.pipeline.syncOperations.addHandler(STimeTail(counters))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        guard let port = channel.localAddress?.port else {
            try? channel.close().wait()
            try? group.syncShutdownGracefully()
            throw BenchError("stime: the NIO server has no port")
        }
        self.port = port
    }

    func cpuSeconds() throws -> Double {
        try group.next().submit { () -> Double in
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }.wait()
    }

    var handshakes: Int? { counters.handshakes }
    var errors: (count: Int, kinds: [String]) { counters.errors }

    private var stopped = false
    func stop() {
        guard !stopped else { return }
        stopped = true
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }
}

/// `openssl s_server -quiet` under timeout(1), its standard input a pipe kept
/// open (so it never sees end of input) until it is stopped.
final class SServer: STimeServer {
    let process = Process()
    let input = Pipe()
    let port: Int
    /// s_server's own pid (timeout's child).
    private var serverPID: pid_t = 0

    init(certificatePath: String, keyPath: String, arguments: [String], limitSeconds: Int) throws {
        // A free port: bind to 0, read it, release it (s_server -quiet does not print the port it got).
        let probe = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        port = Int(probe.localPort)
        probe.close()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments =
            [
                "--kill-after=5", String(limitSeconds), "openssl", "s_server", "-quiet",
                "-accept", "127.0.0.1:\(port)", "-cert", certificatePath, "-key", keyPath,
            ] + arguments
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it accepts (one probe connection, closed at once), at most 10 s.
        let deadline = now() + 10
        while true {
            if let socket = try? TCPSocket.connect(host: "127.0.0.1", port: UInt16(port), timeout: .seconds(1)) {
                socket.close()
                break
            }
            guard process.isRunning, now() < deadline else {
                stop()
                throw BenchError("stime: openssl s_server did not start on port \(port)")
            }
            usleep(20_000)
        }
        let children = "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children"
        guard let text = try? String(contentsOfFile: children, encoding: .utf8),
            let pid = text.split(separator: " ").first.flatMap({ pid_t($0) })
        else {
            stop()
            throw BenchError("stime: cannot find s_server's pid under timeout (\(children))")
        }
        serverPID = pid
    }

    func cpuSeconds() throws -> Double {
        var clock = clockid_t()
        guard clock_getcpuclockid(serverPID, &clock) == 0 else { throw BenchError("stime: no CPU clock for s_server") }
        var time = timespec()
        guard clock_gettime(clock, &time) == 0 else { throw BenchError("stime: cannot read s_server's CPU time") }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    var handshakes: Int? { nil }
    var errors: (count: Int, kinds: [String]) { (0, []) }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()  // timeout passes SIGTERM on to s_server
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// What one s_time run reported, and what the bench measured around it.
struct STimeRun {
    var connections = 0
    /// s_time's "connections/user sec": its own CPU (user) per connection.
    var userRate = 0.0
    /// s_time's "N connections in T real seconds" (whole seconds).
    var reportedRealSeconds = 0
    /// Wall-clock time of the s_time process, measured here.
    var wall = 0.0
    var reused = 0
    var full = 0
    /// CPU the server used during the run.
    var serverCPU = 0.0
    var summary = ""

    var rate: Double { Double(connections) / wall }
    var serverMicrosecondsPerConnection: Double { serverCPU * 1e6 / Double(max(connections, 1)) }
}

/// Runs s_time once against `port`.
func runSTime(port: Int, arguments: [String], seconds: Int) throws -> STimeRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
    process.arguments =
        [
            "--kill-after=5", String(seconds + 30), "openssl", "s_time",
            "-connect", "127.0.0.1:\(port)", "-time", String(seconds),
        ] + arguments
    let output = Pipe()
    let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("bench-stime-\(getpid()).err").path
    guard FileManager.default.createFile(atPath: errorPath, contents: nil) else {
        throw BenchError("stime: cannot create \(errorPath)")
    }
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    guard let errorFile = FileHandle(forWritingAtPath: errorPath) else { throw BenchError("stime: cannot open \(errorPath)") }
    process.standardOutput = output
    process.standardError = errorFile
    process.standardInput = FileHandle.nullDevice
    let start = now()
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var run = STimeRun()
    run.wall = now() - start
    try? errorFile.close()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        throw BenchError("stime: s_time exited with \(process.terminationStatus): \(String(errors.suffix(600)))")
    }
    for line in text.split(whereSeparator: \.isNewline) {
        let words = line.split(separator: " ")
        if line.contains("connections/user sec"), words.count >= 6 {
            // "N connections in U.UUs; R connections/user sec, bytes read B"
            run.connections = Int(words[0]) ?? 0
            run.userRate = Double(words[4]) ?? 0
            run.summary = String(line)
        } else if line.contains("real seconds"), words.count >= 5 {
            // "N connections in T real seconds, B bytes read per connection"
            run.reportedRealSeconds = Int(words[3]) ?? 0
            run.summary += " / " + line
        } else if !line.isEmpty, line.allSatisfy({ $0 == "*" || $0 == "r" }) {
            run.reused += line.filter { $0 == "r" }.count
            run.full += line.filter { $0 == "*" }.count
        }
    }
    guard run.connections > 0 else { throw BenchError("stime: no connection count in s_time's output:\n\(text.suffix(600))") }
    return run
}

/// Options of `bench stime`.
struct STimeOptions {
    var seconds = 5
    var rounds = 3
    var cases = STimeCase.all
    var servers = STimeServerKind.allCases
}

/// One case's results: per server, every round's run.
struct STimeRow {
    let testCase: STimeCase
    var runs: [STimeServerKind: [STimeRun]] = [:]
    var serverHandshakes: [STimeServerKind: Int] = [:]
    var serverErrors: [STimeServerKind: (count: Int, kinds: [String])] = [:]

    func medianRate(_ server: STimeServerKind) -> Double? { runs[server].map { median($0.map(\.rate)) } }
    func medianCPU(_ server: STimeServerKind) -> Double? {
        runs[server].map { median($0.map(\.serverMicrosecondsPerConnection)) }
    }

    /// The median over rounds of `a`'s value over `b`'s in the same round.
    func medianRatio(_ a: STimeServerKind, _ b: STimeServerKind, _ value: (STimeRun) -> Double) -> Double? {
        guard let mine = runs[a], let theirs = runs[b], mine.count == theirs.count, !mine.isEmpty else { return nil }
        return median(zip(mine, theirs).map { value($0) / value($1) })
    }
}

/// Runs every case: the servers started once per case, then the rounds.
func measureSTime(_ options: STimeOptions, pki: PKI) throws -> [STimeRow] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-stime-\(getpid())").path
    try pki.write(to: directory)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var rows: [STimeRow] = []
    for testCase in options.cases {
        var servers: [(STimeServerKind, any STimeServer)] = []
        defer { for (_, server) in servers { server.stop() } }
        for kind in options.servers {
            switch kind {
            case .handler:
                let context = try testCase.libraryContext(pki)
                servers.append((kind, try NIOSTimeServer { try OpenSSLServerHandler(context: context) }))
            case .nio:
                let context = try testCase.nioContext(pki)
                servers.append((kind, try NIOSTimeServer { NIOSSLServerHandler(context: context) }))
            case .sServer:
                let files = testCase.key == .ecdsa ? ("ecdsa.pem", "ecdsa.key") : ("rsa.pem", "rsa.key")
                let limit = options.rounds * options.servers.count * (options.seconds + 10) + 60
                servers.append(
                    (
                        kind,
                        try SServer(
                            certificatePath: "\(directory)/\(files.0)", keyPath: "\(directory)/\(files.1)",
                            arguments: testCase.sServerArguments, limitSeconds: limit)
                    ))
            }
        }
        log("\(testCase.title): \(options.rounds) rounds of \(options.seconds) s per server")
        var row = STimeRow(testCase: testCase)
        // Warm-up: one short run each (s_time's shortest is 1 s).
        for (_, server) in servers { _ = try runSTime(port: server.port, arguments: testCase.sTimeArguments, seconds: 1) }
        let handshakesBefore = servers.map { $0.1.handshakes }
        let errorsBefore = servers.map { $0.1.errors.count }
        for round in 0..<options.rounds {
            for index in 0..<servers.count {
                let (kind, server) = servers[(index + round) % servers.count]
                let cpuBefore = try server.cpuSeconds()
                var run = try runSTime(port: server.port, arguments: testCase.sTimeArguments, seconds: options.seconds)
                run.serverCPU = try server.cpuSeconds() - cpuBefore
                row.runs[kind, default: []].append(run)
                log(
                    String(
                        format: "  round %d %@: %.0f handshakes/s, server %.0f µs CPU each, %d reused, %d full — s_time: %@",
                        round + 1, kind.rawValue, run.rate, run.serverMicrosecondsPerConnection, run.reused, run.full, run.summary
                    ))
            }
        }
        for (index, (kind, server)) in servers.enumerated() {
            if let after = server.handshakes, let before = handshakesBefore[index] { row.serverHandshakes[kind] = after - before }
            let errors = server.errors
            row.serverErrors[kind] = (errors.count - errorsBefore[index], errors.kinds)
        }
        rows.append(row)
    }
    return rows
}

/// The tables: handshakes per second (s_time's connections over the wall
/// time of its run), and the server's CPU per connection.
func sTimeTables(_ rows: [STimeRow]) -> String {
    func rate(_ value: Double?) -> String { value.map(format) ?? "—" }
    var lines = [
        "| s_time workload | OpenSSLNIO handler | NIOSSLHandler | openssl s_server | handler / NIOSSLHandler | handler / s_server |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows {
        lines.append(
            "| \(row.testCase.title), connections/s | \(rate(row.medianRate(.handler))) | \(rate(row.medianRate(.nio))) | "
                + "\(rate(row.medianRate(.sServer))) | \(formatRatio(row.medianRatio(.handler, .nio, \.rate))) | "
                + "\(formatRatio(row.medianRatio(.handler, .sServer, \.rate))) |")
    }
    lines += [
        "",
        "| server CPU per connection (µs) | OpenSSLNIO handler | NIOSSLHandler | openssl s_server | handler / NIOSSLHandler | handler / s_server |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows {
        let cpu = \STimeRun.serverMicrosecondsPerConnection
        lines.append(
            "| \(row.testCase.title) | \(rate(row.medianCPU(.handler))) | \(rate(row.medianCPU(.nio))) | "
                + "\(rate(row.medianCPU(.sServer))) | \(formatRatio(row.medianRatio(.handler, .nio, { $0[keyPath: cpu] }))) | "
                + "\(formatRatio(row.medianRatio(.handler, .sServer, { $0[keyPath: cpu] }))) |")
    }
    lines += [
        "",
        "| s_time's own figures | server | connections per run (median) | s_time user-CPU rate, connections/user s (median) | reused per run (median) | connections, all rounds | handshakes the server counted | connections that ended in an error: the errors |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows {
        for kind in STimeServerKind.allCases {
            guard let runs = row.runs[kind] else { continue }
            let errors =
                row.serverErrors[kind].map { $0.count == 0 ? "0" : "\($0.count): " + $0.kinds.joined(separator: "; ") } ?? "—"
            lines.append(
                "| \(row.testCase.name) | \(kind.title) | \(Int(median(runs.map { Double($0.connections) }))) | "
                    + "\(format(median(runs.map(\.userRate)))) | \(Int(median(runs.map { Double($0.reused) }))) | "
                    + "\(runs.reduce(0) { $0 + $1.connections }) | \(row.serverHandshakes[kind].map(String.init) ?? "—") | "
                    + "\(kind == .sServer ? "—" : errors) |")
        }
    }
    return lines.joined(separator: "\n")
}
