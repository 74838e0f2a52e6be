#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import OpenSSL

/// `ossl serve`: a TLS test server — an echo server, or with `--http` a
/// one-page HTTP/1.0 server — that fits any client: no client certificate
/// asked for unless told, DHE for old TLS 1.2 clients, and a graceful close.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Run a TLS test server: echo, or a one-page HTTP/1.0 server; optional client certificates with trust on first use.",
        discussion: """
            Echoes back whatever each client sends, until the client closes. With --http, answers \
            one HTTP request per connection with a small text page (protocol, cipher, ALPN, client \
            certificate fingerprint or none, session reused), then closes with close_notify — what \
            `openssl s_server -www` does. Every connection ends gracefully: close_notify (unless it \
            failed), then the sending side is shut and what the client still sends is read for up \
            to 2 seconds, so the client reads the last response or alert, not a reset.

            No client certificate is asked for by default (--client-cert none). With --client-cert \
            request the server asks and a client may send none; with require (or \
            --require-client-cert) a client without one is refused. A certificate sent is judged by \
            the whole-chain verification hook: self-signed ones are accepted. With --tofu FILE \
            (which implies request), each subject's certificate SHA-256 fingerprint is remembered on \
            first sight (one line appended to the file under a lock, so several servers may share \
            it) and a different certificate for a known subject is refused — the Gemini-style \
            trust-on-first-use server. A TOFU file that does not parse stops the server at start, \
            naming the line.

            Without --cert and --key, a self-signed EC certificate for localhost and 127.0.0.1 is \
            made for the run (DHE cipher suites need an RSA certificate: give one with --cert). \
            Automatic DH parameters are on, as in s_server. --cipher, --ciphersuites, --groups, \
            --min-protocol and --max-protocol take OpenSSL's syntax; a value OpenSSL refuses is a \
            usage error (exit status 2) with OpenSSL's reason. --keylog FILE appends the TLS \
            secrets in the NSS key-log format (for Wireshark; debugging only).

            The first line printed is `listening on HOST:PORT (certificate sha256 …)`; then one \
            line per connection: peer, protocol, cipher, ALPN, client certificate fingerprint or \
            none, and the decision (accept, accept-first-use, accept-known, accept-resumed, \
            reject-mismatch, failed). A failing client never stops the server; a client that has \
            not finished its handshake within --idle-timeout seconds is dropped. SIGINT or SIGTERM \
            stop it cleanly (exit status 0).

            Examples:
              ossl serve --port 8443
              ossl serve --http --port 8443 --cert cert.pem --key key.pem
              ossl serve --port 1965 --cert cert.pem --key key.pem --tofu known-clients.txt
              ossl serve --client-cert require --alpn h2,http/1.1 --max-connections 1
              ossl serve --http --max-protocol TLSv1.2 --cert rsa.pem --key rsa-key.pem
            """
    )

    @Option(help: ArgumentHelp("The address to listen on (default 127.0.0.1).", valueName: "addr"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("The port (default 0: any free port, printed at start).", valueName: "n"))
    var port: UInt16 = 0

    @Option(
        name: .customLong("cert"),
        help: ArgumentHelp("The server certificate (and its chain after it), PEM or DER.", valueName: "file"))
    var certificateFile: String?

    @Option(name: .customLong("key"), help: ArgumentHelp("The server's private key.", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The key's passphrase: pass:TEXT, env:VARIABLE or file:PATH.", valueName: "source"))
    var passphrase: String?

    @Option(
        name: .customLong("client-cert"),
        help: ArgumentHelp(
            "Ask clients for a certificate: none (default), request (a client may send none) or require.",
            valueName: "none|request|require"))
    var clientCertificate: String?

    @Flag(name: .customLong("require-client-cert"), help: "The same as --client-cert require.")
    var requireClientCertificate = false

    @Option(
        help: ArgumentHelp(
            "Remember each client subject's certificate in FILE; refuse another one later (implies --client-cert request).",
            valueName: "file"))
    var tofu: String?

    @Flag(help: "Answer each connection's HTTP request with a page about the connection, then close (like s_server -www).")
    var http = false

    @Option(help: ArgumentHelp("Protocols to accept with ALPN, comma-separated, in preference order.", valueName: "p,…"))
    var alpn: String?

    @Option(help: ArgumentHelp("TLS 1.2 cipher list, in OpenSSL's syntax.", valueName: "list"))
    var cipher: String?

    @Option(help: ArgumentHelp("TLS 1.3 ciphersuites, colon-separated.", valueName: "list"))
    var ciphersuites: String?

    @Option(
        help: ArgumentHelp(
            "Key-exchange groups in preference order, colon-separated (X25519:P-256:ffdhe2048).", valueName: "list"))
    var groups: String?

    @Option(
        name: .customLong("min-protocol"),
        help: ArgumentHelp("The lowest protocol version: TLSv1.2 or TLSv1.3.", valueName: "version"))
    var minProtocol: String?

    @Option(
        name: .customLong("max-protocol"),
        help: ArgumentHelp("The highest protocol version: TLSv1.2 or TLSv1.3.", valueName: "version"))
    var maxProtocol: String?

    @Option(help: ArgumentHelp("Append the TLS secrets to FILE (NSS key-log format, for Wireshark).", valueName: "file"))
    var keylog: String?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Exit after this many connections.", valueName: "n"))
    var maxConnections: Int?

    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp(
            "Close a connection silent for this many seconds, or whose handshake takes longer (default 30).", valueName: "seconds"
        ))
    var idleTimeout: Int = 30

    /// The client-certificate mode the options ask for.
    func clientCertificateMode() throws -> EchoServer.ClientCertificateMode {
        var mode: EchoServer.ClientCertificateMode?
        if let clientCertificate {
            guard let parsed = EchoServer.ClientCertificateMode(rawValue: clientCertificate) else {
                throw ValidationError("--client-cert: '\(clientCertificate)' is not none, request or require")
            }
            mode = parsed
        }
        if requireClientCertificate {
            if let mode, mode != .require {
                throw ValidationError("--require-client-cert contradicts --client-cert \(mode.rawValue)")
            }
            mode = .require
        }
        if tofu != nil {
            if mode == EchoServer.ClientCertificateMode.none {
                throw ValidationError("--tofu needs client certificates: it cannot go with --client-cert none")
            }
            return mode ?? .request
        }
        return mode ?? .none
    }

    /// A protocol version named the way OpenSSL names it ("TLSv1.2"); "tls1.2" and "1.2" are taken too.
    static func protocolVersion(_ text: String, option: String) throws -> ProtocolVersion {
        let wanted = text.lowercased()
        for version in [ProtocolVersion.tls1_2, .tls1_3] {
            let name = version.description.lowercased()  // "tlsv1.2"
            if wanted == name || wanted == name.replacingOccurrences(of: "v", with: "")
                || wanted == String(name.dropFirst(4))
            {
                return version
            }
        }
        throw ValidationError("\(option): '\(text)' is not TLSv1.2 or TLSv1.3")
    }

    func validate() throws {
        if (certificateFile == nil) != (keyFile == nil) { throw ValidationError("--cert and --key go together") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        if idleTimeout < 1 { throw ValidationError("--idle-timeout must be at least 1 second") }
        if let alpn, ConnectCommand.alpnList(alpn) == nil {
            throw ValidationError("--alpn: '\(alpn)' must be comma-separated protocol names of 1 to 255 bytes")
        }
        _ = try clientCertificateMode()
        if let minProtocol { _ = try Self.protocolVersion(minProtocol, option: "--min-protocol") }
        if let maxProtocol { _ = try Self.protocolVersion(maxProtocol, option: "--max-protocol") }
    }

    /// Applies the TLS options to `context`; a value OpenSSL refuses is a
    /// usage error (exit status 2) naming the option and OpenSSL's reason.
    private func configure(_ context: Context) throws {
        func apply(_ option: String, _ value: String, _ body: () throws -> Void) throws {
            do {
                try body()
            } catch {
                throw CLIFailure.input("\(option) '\(value)': \(describe(error))")
            }
        }
        // Automatic DH parameters, as s_server: TLS 1.2 clients with no EC
        // group in common get DHE (with an RSA certificate) instead of a failure.
        try apply("DH", "auto") { try context.setDHAuto(true) }
        if let cipher { try apply("--cipher", cipher) { try context.setCipherList(cipher) } }
        if let ciphersuites { try apply("--ciphersuites", ciphersuites) { try context.setTLS13Ciphersuites(ciphersuites) } }
        if let groups {
            try apply("--groups", groups) { try context.setGroups(groups.split(separator: ":").map(String.init)) }
        }
        if let minProtocol {
            try apply("--min-protocol", minProtocol) {
                try context.setMinimumProtocolVersion(try Self.protocolVersion(minProtocol, option: "--min-protocol"))
            }
        }
        if let maxProtocol {
            try apply("--max-protocol", maxProtocol) {
                try context.setMaximumProtocolVersion(try Self.protocolVersion(maxProtocol, option: "--max-protocol"))
            }
        }
        if let minimum = context.minimumProtocolVersion, let maximum = context.maximumProtocolVersion,
            minimum.rawValue > maximum.rawValue
        {
            throw CLIFailure.input("--min-protocol \(minimum) is above --max-protocol \(maximum)")
        }
        if let alpn, let protocols = ConnectCommand.alpnList(alpn) {
            try apply("--alpn", alpn) { try ALPNSupport.select(protocols, on: context) }
        }
        if let keylog {
            try apply("--keylog", keylog) { try context.setKeylogFile(try KeyLogFile(path: keylog)) }
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let mode = try clientCertificateMode()
        let (certificate, chain, key, generated) = try loadIdentity()
        let context: Context
        do {
            context = try Context.server(certificate: certificate, key: key, chain: chain)
        } catch {
            throw CLIFailure.input(keyFile ?? "server set-up", error)
        }
        try configure(context)
        let store = try tofu.map { try TOFUStore(path: $0) }
        // Signals are delivered to a dispatch source rather than a handler,
        // so stopping is ordinary code: no async-signal-safety concerns. They
        // are in place before the socket listens: whoever sees the port may
        // signal at once, and a signal that comes before the server exists
        // stops it as soon as it does.
        let stopSwitch = StopSwitch()
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stopSwitch.stop() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        let listener: TCPSocket
        do {
            listener = try TCPSocket.listen(host: host, port: port)
        } catch {
            throw CLIFailure.input("\(host):\(port)", error)
        }
        defer { listener.close() }

        var options = EchoServer.Options()
        options.clientCertificate = mode
        options.tofu = store
        options.http = http
        options.maxConnections = maxConnections
        options.idleTimeout = .seconds(idleTimeout)
        let output = LineOutput()
        let server = try EchoServer(context: context, listener: listener, options: options) { record in
            output.line(record.logLine)
        }

        stopSwitch.attach(server)

        let fingerprint = (try? certificate.digest(.sha256)).map(hex) ?? "?"
        output.line(
            "listening on \(server.address) (certificate sha256 \(fingerprint)\(generated ? ", self-signed for this run" : ""))")
        server.run()
        output.line(server.isStopped ? "stopped" : "served \(maxConnections ?? 0) connection(s); exiting")
    }

    /// The server's certificate, chain and key: from --cert/--key, or made for this run.
    private func loadIdentity() throws -> (X509, [X509], PKey, Bool) {
        if let certificateFile, let keyFile {
            let certificates = try InputFile(certificateFile).certificates()
            guard let leaf = certificates.first else { throw CLIFailure.input("\(certificateFile): no certificate") }
            let secret = try passphrase.map { try PassphraseSource($0).resolve() }
            let key = try InputFile(keyFile).privateKey(passphrase: secret)
            return (leaf, Array(certificates.dropFirst()), key, false)
        }
        do {
            let key = try PKey.generate(.ec(.p256))
            let now = Date()
            var builder = X509Builder(
                subject: try X509Name([("CN", "localhost")]), publicKey: key,
                notBefore: now - 60, notAfter: now + 30 * 86_400)
            try builder.addSubjectAlternativeNames([.dnsName("localhost"), try .ipAddress("127.0.0.1"), try .ipAddress("::1")])
            try builder.addExtendedKeyUsage([.serverAuth])
            return (try builder.sign(with: key, digest: .sha256), [], key, true)
        } catch {
            throw CLIFailure.input("self-signed certificate", error)
        }
    }
}

/// Whole lines on stdout, flushed at once (a script or a test reads them as
/// they come), never interleaved between threads.
final class LineOutput: Sendable {
    private let lock = NSLock()

    func line(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        print(text)
        fflush(nil)
    }
}

/// Stops the server on a signal, also when the signal came before the
/// server existed (it then stops as soon as it is attached).
private final class StopSwitch: Sendable {
    private let state = Mutex<(server: EchoServer?, requested: Bool)>((nil, false))

    func stop() {
        let server = state.withLock { state -> EchoServer? in
            state.requested = true
            return state.server
        }
        server?.stop()
    }

    func attach(_ server: EchoServer) {
        let requested = state.withLock { state -> Bool in
            state.server = server
            return state.requested
        }
        if requested { server.stop() }
    }
}
