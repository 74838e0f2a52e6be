import Foundation
import OpenSSL
import Synchronization

/// The TLS server behind `ossl serve` and `ossl demo`: an echo server, or
/// with `http` a one-page HTTP/1.0 server (what `openssl s_server -www` does).
///
/// It accepts connections until stopped (or until `maxConnections` have
/// been accepted), handles each on its own thread, and logs one line per
/// connection. A client that fails — a refused certificate, a broken
/// handshake, a reset — ends only its own connection. Every connection ends
/// with `Connection.closeGracefully(within:)`: close_notify (unless the
/// connection failed), then the sending side shut and the client's last
/// bytes drained, so the client reads the last response or alert instead of
/// a reset, and a clean close keeps the session resumable.
///
/// Client certificates are not asked for by default; `request` asks
/// (a client may send none) and `require` refuses a client without one. A
/// certificate sent is judged by the context's whole-chain hook: a
/// self-signed certificate is welcome; with a `TOFUStore`, a subject's
/// first certificate is remembered and any other certificate for that
/// subject is refused.
final class EchoServer: Sendable {
    /// Whether the server asks clients for a certificate.
    enum ClientCertificateMode: String, Sendable, CaseIterable {
        /// No CertificateRequest: clients are anonymous (the default).
        case none
        /// Ask; a client may send none.
        case request
        /// Ask, and refuse a client that sends none.
        case require
    }

    /// How the server behaves.
    struct Options: Sendable {
        /// Whether to ask for client certificates.
        var clientCertificate = ClientCertificateMode.none
        /// Trust on first use; nil accepts every client certificate.
        var tofu: TOFUStore?
        /// Answer one HTTP/1.0 request per connection with a page about the
        /// connection, instead of echoing.
        var http = false
        /// Stop after accepting this many connections.
        var maxConnections: Int?
        /// How long a connection may stay silent before it is closed; also
        /// the most the whole handshake may take (a client trickling bytes
        /// cannot hold its slot longer).
        var idleTimeout: Duration = .seconds(30)
        /// The most closing a connection may take (close_notify, draining
        /// what the client still sends).
        var closeTimeout: Duration = .seconds(2)
        /// The most connections handled at once; more are closed at once.
        var maxConcurrent = 64
        /// The longest HTTP request head (request line and headers) read with `http`.
        var maxRequestHead = 16_384
    }

    /// What the whole-chain hook decided for one connection, kept on the
    /// `Connection` (`userInfo`) for the log line.
    final class Verdict {
        let fingerprint: String
        let decision: String
        let reason: String?

        init(fingerprint: String, decision: String, reason: String?) {
            self.fingerprint = fingerprint
            self.decision = decision
            self.reason = reason
        }
    }

    /// One finished connection, as logged.
    struct Record: Sendable {
        let peer: String
        let protocolName: String?
        let cipher: String?
        let alpn: String?
        let clientFingerprint: String?
        let decision: String
        let reason: String?
        let echoedBytes: Int
        /// With `http`: the request line answered.
        var request: String? = nil

        /// `peer=… protocol=… cipher=… alpn=… client-cert=… decision=… [echoed=N] [request="…"] [reason="…"]`.
        var logLine: String {
            var line = "peer=\(peer) protocol=\(protocolName ?? "-") cipher=\(cipher ?? "-") alpn=\(alpn ?? "-")"
            line += " client-cert=\(clientFingerprint.map { "sha256:" + $0 } ?? "none") decision=\(decision)"
            if echoedBytes > 0 { line += " echoed=\(echoedBytes)" }
            if let request { line += " request=\"\(oneLine(request).replacingOccurrences(of: "\"", with: "'"))\"" }
            if let reason { line += " reason=\"\(oneLine(reason).replacingOccurrences(of: "\"", with: "'"))\"" }
            return line
        }
    }

    let context: Context
    let listener: TCPSocket
    let options: Options
    private let log: @Sendable (Record) -> Void
    private let stopped = Atomic<Bool>(false)
    private let active = Mutex<[ObjectIdentifier: TCPSocket]>([:])
    private let handlers = DispatchGroup()

    /// The address clients connect to ("127.0.0.1:4433").
    var address: String { listener.localAddress ?? "?" }

    /// - Parameters:
    ///   - context: a server context; the server installs its verification hook and mode on it.
    ///   - listener: a listening socket.
    ///   - log: called once per finished connection, from that connection's thread.
    /// - Throws: `OpenSSLError` when the context refuses the settings.
    init(context: Context, listener: TCPSocket, options: Options, log: @escaping @Sendable (Record) -> Void) throws {
        self.context = context
        self.listener = listener
        self.options = options
        self.log = log
        switch options.clientCertificate {
        case .none: try context.setVerify(.none)
        case .request: try context.setVerify(.peer)
        case .require: try context.setVerify([.peer, .failIfNoPeerCertificate])
        }
        let tofu = options.tofu
        try context.setPeerVerification { connection, verification in
            EchoServer.judge(connection: connection, verification: verification, tofu: tofu)
        }
        // Sessions resumed by a server that asks for client certificates must be tied to it.
        try context.setSessionIDContext(Array("ossl serve".utf8))
    }

    /// The whole-chain hook: accepts any client certificate (self-signed
    /// included), unless the TOFU store knows another certificate for its subject.
    private static func judge(connection: Connection, verification: PeerVerification, tofu: TOFUStore?) -> VerificationDecision {
        guard let leaf = verification.leaf, let digest = try? leaf.digest(.sha256) else { return .reject }
        let fingerprint = hex(digest)
        let opinion = verification.error.map { "OpenSSL: \($0.message)" } ?? "OpenSSL: verified"
        guard let tofu else {
            connection.userInfo = Verdict(fingerprint: fingerprint, decision: "accept", reason: opinion)
            return .accept
        }
        let subject: String
        do {
            subject = TOFUStore.key(for: try leaf.subject, fingerprint: fingerprint)
        } catch {
            connection.userInfo = Verdict(
                fingerprint: fingerprint, decision: "reject-error",
                reason: "cannot read the client's subject: \(describe(error))")
            return .reject
        }
        do {
            switch try tofu.decide(subject: subject, fingerprint: fingerprint) {
            case .firstUse:
                connection.userInfo = Verdict(
                    fingerprint: fingerprint, decision: "accept-first-use",
                    reason: "remembered \"\(subject)\"; \(opinion)")
                return .accept
            case .known:
                connection.userInfo = Verdict(
                    fingerprint: fingerprint, decision: "accept-known",
                    reason: "known \"\(subject)\"; \(opinion)")
                return .accept
            case .mismatch(let expected):
                connection.userInfo = Verdict(
                    fingerprint: fingerprint, decision: "reject-mismatch",
                    reason: "\"\(subject)\" is known with certificate sha256:\(expected)")
                return .reject
            }
        } catch {
            connection.userInfo = Verdict(
                fingerprint: fingerprint, decision: "reject-error",
                reason: "cannot remember the client: \(describe(error))")
            return .reject
        }
    }

    /// Asks the server to stop: no more connections are accepted, and open
    /// ones are woken and closed. Safe from any thread (a signal handler's queue).
    func stop() {
        stopped.store(true, ordering: .releasing)
        active.withLock { sockets in
            for socket in sockets.values { try? socket.shutdown(.both) }
        }
    }

    /// True once `stop()` was called.
    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Accepts and serves connections until stopped or `maxConnections` were
    /// accepted; then waits (at most `idleTimeout` plus a second) for the
    /// open connections to finish.
    func run() {
        var accepted = 0
        while !isStopped {
            if let limit = options.maxConnections, accepted >= limit { break }
            let socket: TCPSocket
            do {
                socket = try listener.accept(timeout: .milliseconds(200))
            } catch let error as SocketError where error.errno == ETIMEDOUT || error.errno == EINTR {
                continue
            } catch {
                if isStopped { break }
                // EMFILE and the like: say so, breathe, and go on serving.
                log(
                    Record(
                        peer: "-", protocolName: nil, cipher: nil, alpn: nil, clientFingerprint: nil,
                        decision: "failed", reason: "accept: \(describe(error))", echoedBytes: 0))
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            accepted += 1
            let admitted = active.withLock { sockets -> Bool in
                guard sockets.count < options.maxConcurrent else { return false }
                sockets[ObjectIdentifier(socket)] = socket
                return true
            }
            guard admitted else {
                log(
                    Record(
                        peer: socket.remoteAddress ?? "?", protocolName: nil, cipher: nil, alpn: nil,
                        clientFingerprint: nil, decision: "failed", reason: "too many connections", echoedBytes: 0))
                socket.closeGracefully(within: options.closeTimeout)
                continue
            }
            handlers.enter()
            Thread.detachNewThread { [self] in
                defer { handlers.leave() }
                log(serve(socket))  // serve ends the connection on every path (its close())
            }
        }
        let grace = Double(options.idleTimeout.components.seconds) + 1
        _ = handlers.wait(timeout: .now() + (isStopped ? 2 : grace))
    }

    /// Takes a socket off the list `stop()` wakes, before it is closed (so
    /// `stop()` never shuts down a descriptor number reused meanwhile).
    private func release(_ socket: TCPSocket) {
        _ = active.withLock { $0.removeValue(forKey: ObjectIdentifier(socket)) }
    }

    /// Serves one connection: handshake, then echo until the client closes
    /// (or, with `http`, one request and its answer); always ends with a
    /// graceful close.
    func serve(_ socket: TCPSocket) -> Record {
        let peer = socket.remoteAddress ?? "?"
        var connection: Connection?
        var echoed = 0
        var request: String?
        func record(_ decision: String? = nil, reason: String? = nil) -> Record {
            let verdict = connection?.userInfo as? Verdict
            let fingerprint = verdict?.fingerprint ?? Self.clientFingerprint(connection)
            // A resumed session skips the hook: the client's certificate was
            // judged when the session began, and comes back with it.
            let resumed = verdict == nil && connection?.isSessionReused == true
            return Record(
                peer: peer, protocolName: connection?.protocolVersionName, cipher: connection?.cipherName,
                alpn: connection.flatMap(Self.negotiatedProtocol), clientFingerprint: fingerprint,
                decision: decision ?? verdict?.decision ?? (resumed ? "accept-resumed" : "accept"),
                reason: reason ?? verdict?.reason ?? (resumed ? "resumed session; the hook judged it when it began" : nil),
                echoedBytes: echoed, request: request)
        }
        /// Ends the connection on every path: close_notify unless it failed,
        /// then the sending side shut and the client's last bytes drained.
        func close() {
            release(socket)
            if let connection {
                connection.closeGracefully(within: options.closeTimeout)
            } else {
                socket.closeGracefully(within: options.closeTimeout)
            }
        }
        defer { close() }
        // Each read is bounded by the idle timeout, and the whole handshake
        // by the same time: a client sending a byte now and then must not
        // keep its slot for ever.
        let handshakeDeadline = SocketDeadline(socket, after: options.idleTimeout)
        do {
            try socket.setReadTimeout(options.idleTimeout)
            try socket.setWriteTimeout(options.idleTimeout)
            let tls = try Connection(context, transport: socket)
            connection = tls
            tls.setAcceptState()
            try tls.doHandshake()
        } catch {
            let expired = handshakeDeadline.disarm()
            let verdict = connection?.userInfo as? Verdict
            if let verdict, verdict.decision.hasPrefix("reject") {
                return record()
            }
            if expired {
                return record(
                    "failed", reason: "handshake not finished within \(options.idleTimeout.components.seconds) s: closed")
            }
            return record("failed", reason: "handshake: \(describe(error))")
        }
        if handshakeDeadline.disarm() {
            return record("failed", reason: "handshake not finished within \(options.idleTimeout.components.seconds) s: closed")
        }
        guard let connection else { return record("failed", reason: "no connection") }
        if options.http {
            let outcome = answerHTTP(connection)
            request = outcome.request
            return record(reason: outcome.failure)
        }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !isStopped {
            switch Result(catching: { () throws(SSLError) in try connection.read(into: &buffer) }) {
            case .success(let count):
                switch Result(catching: { () throws(SSLError) in try connection.writeAll(Array(buffer[0..<count])) }) {
                case .success: echoed += count
                case .failure(let error): return record(reason: "echo: \(describe(error))")
                }
            case .failure(.zeroReturn):
                // The client's close_notify: answered by close(), which keeps the session resumable.
                return record()
            case .failure(.wantRead), .failure(.wantWrite):
                return record(reason: "idle for \(options.idleTimeout.components.seconds) s: closed")
            case .failure(let error):
                if error.isUnexpectedEOF { return record() }
                return record(reason: "read: \(describe(error))")
            }
        }
        return record(reason: "server stopping")
    }

    /// With `http`: reads one request head and answers it with a page about
    /// the connection (HTTP/1.0, then the connection closes). Returns the
    /// request line, and why it could not be answered, if so.
    private func answerHTTP(_ connection: Connection) -> (request: String?, failure: String?) {
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var tooLong = false
        reading: while Self.endOfHead(head) == nil {
            guard head.count <= options.maxRequestHead else {
                tooLong = true
                break reading
            }
            switch Result(catching: { () throws(SSLError) in try connection.read(into: &buffer) }) {
            case .success(let count):
                head += buffer[0..<count]
            case .failure(.zeroReturn):
                return (nil, "closed before a whole request")
            case .failure(.wantRead), .failure(.wantWrite):
                return (nil, "no whole request within \(options.idleTimeout.components.seconds) s: closed")
            case .failure(let error):
                return (nil, error.isUnexpectedEOF ? "closed before a whole request" : "read: \(describe(error))")
            }
        }
        let lineEnd = head.firstIndex(of: UInt8(ascii: "\n")) ?? min(head.count, 200)
        let requestLine = String(decoding: head[..<lineEnd], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let method = requestLine.split(separator: " ").first.map(String.init) ?? ""
        let status: String
        var body: [UInt8] = []
        if tooLong {
            status = "431 Request Header Fields Too Large"
        } else if method == "GET" || method == "HEAD" {
            status = "200 OK"
            body = Array(Self.page(connection).utf8)
        } else {
            status = "405 Method Not Allowed"
        }
        let length = method == "HEAD" ? Self.page(connection).utf8.count : body.count
        var response = "HTTP/1.0 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\n"
        response += "Content-Length: \(length)\r\nConnection: close\r\n\r\n"
        do {
            try connection.writeAll(Array(response.utf8) + (method == "HEAD" ? [] : body))
        } catch {
            return (String(requestLine.prefix(200)), "write: \(describe(error))")
        }
        return (String(requestLine.prefix(200)), tooLong ? "request head longer than \(options.maxRequestHead) bytes" : nil)
    }

    /// Where the request head ends (after the blank line), or nil.
    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }

    /// The `--http` page: one `name: value` line per fact about the connection.
    static func page(_ connection: Connection) -> String {
        var lines = ["ossl serve: TLS connection"]
        lines.append("protocol: \(connection.protocolVersionName ?? "-")")
        lines.append("cipher: \(connection.cipherName ?? "-")")
        lines.append("alpn: \(negotiatedProtocol(connection) ?? "none")")
        lines.append("client-cert: \(clientFingerprint(connection).map { "sha256:" + $0 } ?? "none")")
        lines.append("session-reused: \(connection.isSessionReused ? "yes" : "no")")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The SHA-256 fingerprint of the client's certificate, or nil when it sent none.
    static func clientFingerprint(_ connection: Connection?) -> String? {
        (try? connection?.peerCertificate?.digest(.sha256)).flatMap { $0.map(hex) }
    }

    /// The protocol ALPN selected, nil when none.
    static func negotiatedProtocol(_ connection: Connection) -> String? {
        connection.alpnProtocol
    }
}

/// Shuts a socket down (both directions) when a time has passed, unless
/// disarmed first: a thread blocked reading or writing it returns at once.
/// Bounds a whole phase of a connection (the handshake, the close), where
/// the socket's own timeouts bound only each call.
final class SocketDeadline: Sendable {
    private enum State { case armed, disarmed, fired }

    private let socket: TCPSocket
    private let state = Mutex(State.armed)

    /// Arms the deadline `timeout` from now.
    init(_ socket: TCPSocket, after timeout: Duration) {
        self.socket = socket
        let (seconds, attoseconds) = timeout.components
        // Capped at about 31 years, so the nanoseconds fit in an Int.
        let capped = Int(min(max(seconds, 0), 1_000_000_000))
        let nanoseconds = capped * 1_000_000_000 + Int(max(attoseconds, 0) / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
            self?.fire()
        }
    }

    private func fire() {
        state.withLock { state in
            guard state == .armed else { return }
            state = .fired
            try? socket.shutdown(.both)
        }
    }

    /// Stops the deadline; after it returns, the socket is never shut down
    /// by it (so it may be closed). True when the deadline had already passed.
    @discardableResult
    func disarm() -> Bool {
        state.withLock { state in
            if state == .armed { state = .disarmed }
            return state == .fired
        }
    }
}
