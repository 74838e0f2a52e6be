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
import OpenSSL

/// `ossl serve`: a TLS echo server that accepts self-signed client
/// certificates, optionally trusting each subject's first certificate only.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a TLS echo server that accepts self-signed client certificates (trust on first use).",
        discussion: """
        Echoes back whatever each client sends, until the client closes. Client certificates \
        are requested (required with --require-client-cert) and judged by the whole-chain \
        verification hook: self-signed ones are accepted. With --tofu FILE, each subject's \
        certificate SHA-256 fingerprint is remembered on first sight (one line appended to the \
        file under a lock, so several servers may share it) and a different certificate for a \
        known subject is refused — the Gemini-style trust-on-first-use server. A TOFU file \
        that does not parse stops the server at start, naming the line.

        Without --cert and --key, a self-signed EC certificate for localhost and 127.0.0.1 is \
        made for the run. The first line printed is `listening on HOST:PORT (certificate sha256 …)`; \
        then one line per connection: peer, protocol, cipher, ALPN, client certificate \
        fingerprint or none, and the decision (accept, accept-first-use, accept-known, \
        reject-mismatch, failed). A failing client never stops the server; a client that has \
        not finished its handshake within --idle-timeout seconds is dropped. SIGINT or SIGTERM \
        stop it cleanly (exit status 0).

        Examples:
          ossl serve --port 8443
          ossl serve --port 1965 --cert cert.pem --key key.pem --tofu known-clients.txt
          ossl serve --require-client-cert --alpn h2,http/1.1 --max-connections 1
        """
    )

    @Option(help: ArgumentHelp("The address to listen on (default 127.0.0.1).", valueName: "addr"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("The port (default 0: any free port, printed at start).", valueName: "n"))
    var port: UInt16 = 0

    @Option(name: .customLong("cert"), help: ArgumentHelp("The server certificate (and its chain after it), PEM or DER.", valueName: "file"))
    var certificateFile: String?

    @Option(name: .customLong("key"), help: ArgumentHelp("The server's private key.", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The key's passphrase: pass:TEXT, env:VARIABLE or file:PATH.", valueName: "source"))
    var passphrase: String?

    @Flag(name: .customLong("require-client-cert"), help: "Refuse clients that send no certificate.")
    var requireClientCertificate = false

    @Option(help: ArgumentHelp("Remember each client subject's certificate in FILE; refuse another one later.", valueName: "file"))
    var tofu: String?

    @Option(help: ArgumentHelp("Protocols to accept with ALPN, comma-separated, in preference order.", valueName: "p,…"))
    var alpn: String?

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Exit after this many connections.", valueName: "n"))
    var maxConnections: Int?

    @Option(name: .customLong("idle-timeout"), help: ArgumentHelp("Close a connection silent for this many seconds, or whose handshake takes longer (default 30).", valueName: "seconds"))
    var idleTimeout: Int = 30

    func validate() throws {
        if (certificateFile == nil) != (keyFile == nil) { throw ValidationError("--cert and --key go together") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        if idleTimeout < 1 { throw ValidationError("--idle-timeout must be at least 1 second") }
        if let alpn, ConnectCommand.alpnList(alpn) == nil {
            throw ValidationError("--alpn: '\(alpn)' must be comma-separated protocol names of 1 to 255 bytes")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let (certificate, chain, key, generated) = try loadIdentity()
        let context: Context
        do {
            context = try Context.server(certificate: certificate, key: key, chain: chain)
            if let alpn, let protocols = ConnectCommand.alpnList(alpn) {
                try ALPNSupport.select(protocols, on: context)
            }
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.input(keyFile ?? "server set-up", error)
        }
        let store = try tofu.map { try TOFUStore(path: $0) }
        let listener: TCPSocket
        do {
            listener = try TCPSocket.listen(host: host, port: port)
        } catch {
            throw CLIFailure.input("\(host):\(port)", error)
        }
        defer { listener.close() }

        var options = EchoServer.Options()
        options.requireClientCertificate = requireClientCertificate
        options.tofu = store
        options.maxConnections = maxConnections
        options.idleTimeout = .seconds(idleTimeout)
        let output = LineOutput()
        let server = try EchoServer(context: context, listener: listener, options: options) { record in
            output.line(record.logLine)
        }

        // Signals are delivered to a dispatch source rather than a handler,
        // so stopping is ordinary code: no async-signal-safety concerns.
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { server.stop() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }

        let fingerprint = (try? certificate.digest(.sha256)).map(hex) ?? "?"
        output.line("listening on \(server.address) (certificate sha256 \(fingerprint)\(generated ? ", self-signed for this run" : ""))")
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
            var builder = X509Builder(subject: try X509Name([("CN", "localhost")]), publicKey: key,
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
