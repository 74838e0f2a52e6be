#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Foundation
import OpenSSL

/// `ossl connect HOST:PORT`: a TLS handshake, and what it negotiated and saw.
struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Connect to a TLS server and show what was negotiated and verified.",
        discussion: """
            Handshakes with HOST:PORT (port 443 when left out; [v6]:port for IPv6) and prints the \
            protocol, cipher, key-exchange group, ALPN protocol, session reuse, the server's chain \
            (one line per certificate) and the verification result. The server is verified against \
            the system's roots with the Web-PKI policy (the browsers' rules on top of OpenSSL's), \
            or against --ca with OpenSSL's rules alone, as the library's Context.client does; \
            --insecure reports the result but goes on anyway. With \
            --send, the text (escapes \\n \\r \\t \\\\ understood) is written and the answer printed \
            until the server closes or stays silent for --read-timeout seconds.

            Exit status: 0 connected and verified; 1 the handshake failed, the server's certificate \
            was refused, or the server refused ours; 2 bad options, unreadable files, or no TCP connection.

            Examples:
              ossl connect example.com:443
              ossl connect --alpn h2,http/1.1 --json example.com
              ossl connect --ca root.pem --cert client.pem --key client-key.pem localhost:8443
              ossl connect --insecure --pin-sha256 3f:a2:… 127.0.0.1:1965
              ossl connect --send 'GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n' example.com:443
            """
    )

    @Argument(help: ArgumentHelp("The server, as host:port, host (port 443) or [v6-address]:port.", valueName: "host:port"))
    var target: String

    @Option(help: ArgumentHelp("The name to send as SNI and to verify (default: the host).", valueName: "name"))
    var servername: String?

    @Option(help: ArgumentHelp("Protocols to offer with ALPN, comma-separated (h2,http/1.1).", valueName: "p,…"))
    var alpn: String?

    @Option(
        name: .customLong("ca"),
        help: ArgumentHelp("Trust only these certificates (PEM bundle or DER) instead of the system's roots.", valueName: "file"))
    var caFile: String?

    @Flag(help: "Do not refuse a server that fails verification (the result is still shown).")
    var insecure = false

    @Option(
        name: .customLong("cert"),
        help: ArgumentHelp("A client certificate (and its chain after it) for mutual TLS.", valueName: "file"))
    var certificateFile: String?

    @Option(name: .customLong("key"), help: ArgumentHelp("The client certificate's private key.", valueName: "file"))
    var keyFile: String?

    @Option(help: ArgumentHelp("The key's passphrase: pass:TEXT, env:VARIABLE or file:PATH.", valueName: "source"))
    var passphrase: String?

    @Flag(name: .customLong("tls1.2"), help: "Use TLS 1.2 only.")
    var tls12 = false

    @Flag(name: .customLong("tls1.3"), help: "Use TLS 1.3 only.")
    var tls13 = false

    @Option(
        name: .customLong("pin-sha256"),
        help: ArgumentHelp(
            "Refuse a server whose certificate's SHA-256 fingerprint differs (hex, colons allowed).", valueName: "hex"))
    var pin: String?

    @Option(help: ArgumentHelp("Text to send after the handshake.", valueName: "text"))
    var send: String?

    @Option(help: ArgumentHelp("Seconds allowed for connecting and the handshake (default 10).", valueName: "seconds"))
    var timeout: Int = 10

    @Option(
        name: .customLong("read-timeout"),
        help: ArgumentHelp("After --send, stop reading after this many silent seconds (default 3).", valueName: "seconds"))
    var readTimeout: Int = 3

    @Flag(help: "Print the result as JSON (schema in Docs/cli.md).")
    var json = false

    func validate() throws {
        if tls12 && tls13 { throw ValidationError("--tls1.2 and --tls1.3 cannot be used together") }
        if caFile != nil && insecure { throw ValidationError("--ca and --insecure cannot be used together") }
        if (certificateFile == nil) != (keyFile == nil) { throw ValidationError("--cert and --key go together") }
        if timeout <= 0 || readTimeout <= 0 { throw ValidationError("timeouts must be at least 1 second") }
        if let pin, Self.parseHex(pin)?.count != 32 {
            throw ValidationError("--pin-sha256: '\(pin)' is not a SHA-256 fingerprint (64 hex digits)")
        }
        if let alpn, Self.alpnList(alpn) == nil {
            throw ValidationError("--alpn: '\(alpn)' must be comma-separated protocol names of 1 to 255 bytes")
        }
        _ = try Self.parseTarget(target)
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let (host, port) = try Self.parseTarget(target)
        let context = try makeContext()
        let serverName = servername ?? host
        let protocols = alpn.flatMap(Self.alpnList)
        let outcome = TLSClient.run(
            context: context, host: host, port: port, serverName: serverName,
            send: send.map { Array(Self.unescape($0).utf8) },
            timeout: .seconds(timeout), readTimeout: .seconds(readTimeout),
            prepare: { connection in
                if let protocols { try ALPNSupport.offer(protocols, on: connection) }
            }
        )
        let report = ConnectionReport(target: "\(host):\(port)", serverName: serverName, outcome: outcome)
        if let failure = outcome.failure, case .connect = failure {
            throw CLIFailure.input("\(host):\(port): \(failure.message)")
        }
        if json {
            print(report.json().text)
        } else {
            print(report.text, terminator: "")
        }
        if let failure = outcome.failure {
            throw CLIFailure.checkFailed("\(host):\(port): \(failure.message)")
        }
    }

    private func makeContext() throws -> Context {
        let roots = try caFile.map { try InputFile($0).certificates() }
        var certificate: X509?
        var chain: [X509] = []
        var key: PKey?
        if let certificateFile, let keyFile {
            let certificates = try InputFile(certificateFile).certificates()
            certificate = certificates.first
            chain = Array(certificates.dropFirst())
            let secret = try passphrase.map { try PassphraseSource($0).resolve() }
            key = try InputFile(keyFile).privateKey(passphrase: secret)
        }
        do {
            let context = try Context.client(trusting: roots, certificate: certificate, key: key, chain: chain)
            if tls12 {
                try context.setMinimumProtocolVersion(.tls1_2)
                try context.setMaximumProtocolVersion(.tls1_2)
            } else if tls13 {
                try context.setMinimumProtocolVersion(.tls1_3)
                try context.setMaximumProtocolVersion(.tls1_3)
            }
            try TLSClient.installVerifier(on: context, insecure: insecure, pin: pin.flatMap(Self.parseHex))
            return context
        } catch {
            throw CLIFailure.input(keyFile ?? certificateFile ?? "client set-up", error)
        }
    }

    /// `host:port`, `[v6]:port`, or a bare host (port 443).
    static func parseTarget(_ text: String) throws -> (String, UInt16) {
        var host = text
        var portText = "443"
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ValidationError("'\(text)': missing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                portText = String(rest.dropFirst())
            } else if !rest.isEmpty {
                throw ValidationError("'\(text)': expected [address]:port")
            }
        } else if let colon = text.lastIndex(of: ":") {
            if text.filter({ $0 == ":" }).count > 1 {
                throw ValidationError("'\(text)': write an IPv6 address as [address]:port")
            }
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty else { throw ValidationError("'\(text)': no host") }
        guard let port = UInt16(portText), port > 0 else { throw ValidationError("'\(text)': '\(portText)' is not a port") }
        return (host, port)
    }

    /// Hex bytes; colons and spaces ignored. Nil for anything else or an odd count.
    static func parseHex(_ text: String) -> [UInt8]? {
        let digits = text.filter { $0 != ":" && $0 != " " }
        guard digits.count % 2 == 0, digits.allSatisfy(\.isHexDigit) else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    /// A comma-separated ALPN list; nil when a name is empty or longer than 255 bytes.
    static func alpnList(_ text: String) -> [String]? {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 255 }) else { return nil }
        return names
    }

    /// `\n`, `\r`, `\t` and `\\` turned into the characters they name.
    static func unescape(_ text: String) -> String {
        var out = ""
        var escaping = false
        for character in text {
            if escaping {
                switch character {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "\\": out.append("\\")
                default:
                    out.append("\\")
                    out.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        if escaping { out.append("\\") }
        return out
    }
}

/// True for a numeric IPv4 or IPv6 address.
func isIPAddress(_ text: String) -> Bool {
    (try? GeneralName.ipAddress(text)) != nil
}

/// What `ossl connect` prints about a client run, as text or JSON.
struct ConnectionReport {
    let target: String
    let serverName: String
    let outcome: TLSClient.Outcome

    private var connection: Connection? { outcome.connection }

    private var peerChain: [X509] {
        outcome.verdict?.peerChain ?? connection?.peerCertificateChain ?? []
    }

    private var verification: String {
        if let verdict = outcome.verdict { return verdict.summary }
        guard let connection, connection.isHandshakeDone else { return "not done" }
        return connection.verifyResult == .ok ? "OK (resumed session)" : "failed: \(connection.verifyResult.message)"
    }

    /// `label: value` lines, then the chain, then what was received.
    var text: String {
        var lines: [(String, String)] = [
            ("connected to", "\(target) (\(outcome.remoteAddress ?? "not connected"))"),
            ("server name", isIPAddress(serverName) ? "\(serverName) (an IP address: checked, not sent as SNI)" : serverName),
            ("protocol", connection?.protocolVersionName ?? "-"),
            ("cipher", connection?.cipherName ?? "-"),
            ("group", connection.flatMap(GroupSupport.negotiatedGroup) ?? "-"),
            ("ALPN", connection.flatMap(ALPNSupport.selected) ?? "-"),
            ("session reused", connection.map { $0.isSessionReused ? "yes" : "no" } ?? "-"),
            ("verification", verification),
        ]
        if let failure = outcome.failure { lines.append(("result", failure.message)) }
        let width = lines.map(\.0.count).max() ?? 0
        var out =
            lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 1) + $0.1 }.joined(separator: "\n") + "\n"
        out += peerChain.isEmpty ? "peer chain:     (none)\n" : "peer chain:\n"
        for (depth, certificate) in peerChain.enumerated() {
            out += "  " + CertificateReport(certificate).chainLine(depth: depth) + "\n"
        }
        if !outcome.received.isEmpty {
            out += "received \(outcome.received.count) bytes:\n"
            let text = String(decoding: outcome.received, as: UTF8.self)
            out += text.hasSuffix("\n") ? text : text + "\n"
        }
        return out
    }

    /// The `connect --json` object (schema in Docs/cli.md).
    func json() -> JSON {
        let verdict = outcome.verdict
        return .object([
            ("target", .string(target)),
            ("address", .string(outcome.remoteAddress)),
            ("serverName", .string(serverName)),
            ("protocol", .string(connection?.protocolVersionName)),
            ("cipher", .string(connection?.cipherName)),
            ("group", .string(connection.flatMap(GroupSupport.negotiatedGroup))),
            ("alpn", .string(connection.flatMap(ALPNSupport.selected))),
            ("sessionReused", .bool(connection?.isSessionReused ?? false)),
            ("peerChain", .array(peerChain.enumerated().map { CertificateReport($1).chainJSON(depth: $0) })),
            (
                "verification",
                .object([
                    ("verified", .bool(verdict.map { $0.error == nil } ?? (connection?.verifyResult == .ok))),
                    ("code", .int(Int(verdict?.error?.code.rawValue ?? connection?.verifyResult.rawValue ?? 0))),
                    ("message", .string(verdict?.error?.message ?? connection.map { $0.verifyResult.message })),
                    ("depth", .int(verdict?.error?.depth)),
                    ("rule", .string(verdict?.error?.rule?.rawValue)),
                    ("pinMatched", verdict?.pinMatched.map { .bool($0) } ?? .null),
                    ("accepted", .bool(verdict?.accepted ?? (outcome.failure == nil))),
                ])
            ),
            ("received", outcome.received.isEmpty ? .null : .string(String(decoding: outcome.received, as: UTF8.self))),
            ("error", .string(outcome.failure?.message)),
        ])
    }
}

/// ALPN as `connect`, `serve` and `demo` use it.
enum ALPNSupport {
    /// The server found none of its protocols among the client's (RFC 7301:
    /// the handshake fails with the no_application_protocol alert).
    struct NoOverlap: Error, CustomStringConvertible {
        let offered: [String]
        let accepted: [String]
        var description: String {
            "no application protocol in common: the client offered \(offered.joined(separator: ",")), "
                + "the server accepts \(accepted.joined(separator: ","))"
        }
    }

    /// Client: offers `protocols` on `connection`.
    static func offer(_ protocols: [String], on connection: Connection) throws {
        try connection.setALPNProtocols(protocols)
    }

    /// Server: selects the first of `protocols` (the server's order) that
    /// the client offered. A client that offers ALPN but none of them is
    /// refused with the fatal no_application_protocol alert: the select
    /// callback throws, and the library answers OpenSSL with
    /// `SSL_TLSEXT_ERR_ALERT_FATAL`. A client that offers no ALPN is served.
    static func select(_ protocols: [String], on context: Context) throws {
        try context.setALPNSelectCallback { _, offered in
            guard let choice = protocols.first(where: offered.contains) else {
                throw NoOverlap(offered: offered, accepted: protocols)
            }
            return choice
        }
    }

    /// The negotiated protocol, nil when none.
    static func selected(_ connection: Connection) -> String? {
        connection.alpnProtocol
    }
}

/// The negotiated key-exchange group.
enum GroupSupport {
    /// "x25519", "secp256r1", …; nil before the handshake or when none was used.
    static func negotiatedGroup(_ connection: Connection) -> String? {
        connection.groupName
    }
}
