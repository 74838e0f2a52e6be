import Foundation
@testable import OpenSSL
import TestSupport

/// How each real peer is started for a cell, and how its own view of the
/// connection is read back from its output.

/// What a peer server is asked to do.
struct ServerSpec {
    var identity: InteropPKI.ServerIdentity
    /// Require a client certificate and trust this CA file for it.
    var clientCAFile: String?
    /// Present `identity` by default, and `byName.identity` when the client's SNI is `byName.name`.
    var byName: (name: String, identity: InteropPKI.ServerIdentity)?
    /// Serve the "closing" protocol instead of an echo (see `closingExchange`).
    var closes = false
    /// Allow TLS 1.2 only.
    var onlyTLS12 = false
    /// Connections to accept one after another.
    var connections = 1
    /// ALPN protocols the server supports.
    var alpn: [String]?
}

/// What a peer client is asked to do.
struct ClientSpec {
    /// The CA file the client trusts.
    var trustFile: String
    /// SNI sent and host name verified (nil: neither).
    var serverName: String? = "localhost"
    var identity: InteropPKI.ClientIdentity?
    var alpn: [String]?
    /// Require TLS 1.3.
    var onlyTLS13 = false
    /// Bytes sent after the handshake; the server echoes them.
    var payload: [UInt8] = Array("hello from the peer\n".utf8)
    /// What the client does once the echo is back.
    var then: After = .waitForServerClose
    /// Connect a second time, resuming the session.
    var resume = false

    enum After {
        /// Wait until the server closes the connection.
        case waitForServerClose
        /// Send close_notify.
        case close
        /// Nothing: the harness kills it (abrupt close by the peer).
        case stay
    }
}

enum Peers {
    static let openssl = "/usr/bin/openssl"
    static var python: String? { locateProgram("python3", preferring: ["/usr/bin/python3"]) }
    static var gnutlsServ: String? { locateProgram("gnutls-serv") }
    static var gnutlsCLI: String? { locateProgram("gnutls-cli") }
    static let pyPeer = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Peers/py_peer.py").path

    /// The program a column needs, or why it is missing.
    static func program(for column: Column) throws(CellSkip) -> String {
        let program: String?
        switch (column.peer, column.role) {
        case (.openssl, _): program = FileManager.default.isExecutableFile(atPath: openssl) ? openssl : nil
        case (.python, _): program = python
        case (.gnutls, .server): program = gnutlsServ
        case (.gnutls, .client): program = gnutlsCLI
        }
        guard let program else {
            throw CellSkip("\(column) is not installed (Scripts/bootstrap.sh installs it)")
        }
        return program
    }

    // MARK: Servers

    /// Starts a peer server on an ephemeral port; returns it and its port.
    static func startServer(_ kind: PeerKind, _ spec: ServerSpec, scratch: TemporaryDirectory) throws -> (PeerProcess, UInt16) {
        let peer: PeerProcess
        switch kind {
        case .openssl:
            var arguments = [
                "s_server", "-accept", "127.0.0.1:0", "-naccept", String(spec.connections),
                "-cert", spec.identity.leafFile, "-key", spec.identity.keyFile,
            ]
            if let intermediates = spec.identity.intermediatesFile { arguments += ["-cert_chain", intermediates] }
            if let (name, other) = spec.byName {
                // The second context builds its chain from the CA file (there is no -cert_chain2).
                arguments += [
                    "-servername", name, "-cert2", other.leafFile, "-key2", other.keyFile,
                    "-CAfile", InteropPKIFiles.caBundle,
                ]
            }
            if let ca = spec.clientCAFile {
                // -nameopt oneline: "Peer certificate: CN = x" on every version
                // (the default became utf8, "CN=x", in OpenSSL 3.2).
                arguments += ["-Verify", "1", "-verify_return_error", "-CAfile", ca, "-nameopt", "oneline"]
            }
            if let alpn = spec.alpn { arguments += ["-alpn", alpn.joined(separator: ",")] }
            if spec.onlyTLS12 { arguments += ["-tls1_2"] }
            // -rev: reverses each line, and "CLOSE" makes it send close_notify.
            // Otherwise -quiet: standard output carries only the data, which the harness feeds back (echo).
            arguments += spec.closes ? ["-rev"] : ["-quiet", "-brief"]
            peer = try PeerProcess(openssl, arguments)
            if !spec.closes { peer.echoOutputToInput() }
        case .python:
            var arguments = [
                pyPeer, "server", "--cert", spec.identity.chainFile, "--key", spec.identity.keyFile,
                "--connections", String(spec.connections),
            ]
            if let (name, other) = spec.byName {
                arguments += ["--sni-name", name, "--sni-cert", other.chainFile, "--sni-key", other.keyFile]
            }
            if let ca = spec.clientCAFile { arguments += ["--require-client-cert", "--ca", ca] }
            if let alpn = spec.alpn { arguments += ["--alpn", alpn.joined(separator: ",")] }
            if spec.onlyTLS12 { arguments += ["--max-version", "1.2"] }
            if spec.closes { arguments += ["--close-after", String(closingRequest(.python).count)] }
            peer = try PeerProcess(try program(for: Column(peer: .python, role: .server)), arguments)
        case .gnutls:
            var arguments = ["-p", "0", "--x509certfile", spec.identity.chainFile, "--x509keyfile", spec.identity.keyFile]
            if let (_, other) = spec.byName {
                // GnuTLS picks, among its certificates, the one whose name matches the SNI.
                arguments = [
                    "-p", "0", "--x509certfile", spec.identity.chainFile, "--x509keyfile", spec.identity.keyFile,
                    "--x509certfile", other.chainFile, "--x509keyfile", other.keyFile,
                ]
            }
            if let ca = spec.clientCAFile {
                arguments += ["--require-client-cert", "--verify-client-cert", "--x509cafile", ca]
            } else {
                arguments += ["--disable-client-cert"]
            }
            if let alpn = spec.alpn { arguments += alpn.flatMap { ["--alpn", $0] } }
            if spec.onlyTLS12 { arguments += ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"] }
            // --http answers one request and closes with close_notify; --echo echoes.
            // --crlf: echo CR LF as they are, not as LF.
            arguments += spec.closes ? ["--http"] : ["--echo", "--crlf"]
            peer = try PeerProcess(try program(for: Column(peer: .gnutls, role: .server)), arguments)
        }
        guard let port = peer.listeningPort(timeout: 10) else {
            let output = peer.stdoutText + peer.stderr
            peer.stop()
            throw CellFailure("the peer server did not start listening: \(tail(output))")
        }
        return (peer, port)
    }

    /// What to send a peer server that `closes`, and the reply to expect before its close_notify.
    static func closingRequest(_ kind: PeerKind) -> [UInt8] {
        switch kind {
        case .openssl: return Array("hello\nCLOSE\n".utf8)
        case .python: return Array("hello, then close\n".utf8)
        case .gnutls: return Array("GET / HTTP/1.0\r\n\r\n".utf8)
        }
    }

    static func closingReplyIsRight(_ kind: PeerKind, _ reply: [UInt8]) -> Bool {
        let text = String(decoding: reply, as: UTF8.self)
        switch kind {
        case .openssl: return text.hasPrefix("olleh\n")
        case .python: return reply == closingRequest(.python)
        case .gnutls: return text.hasPrefix("HTTP/1.0 200 OK") && text.contains("GnuTLS")
        }
    }

    // MARK: Clients

    /// Starts a peer client towards 127.0.0.1:`port`.
    static func startClient(
        _ kind: PeerKind, _ spec: ClientSpec, port: UInt16, scratch: TemporaryDirectory,
        sessionFile: String? = nil, resumeFrom: String? = nil
    ) throws -> PeerProcess {
        switch kind {
        case .openssl:
            var arguments = [
                "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", spec.trustFile,
                "-verify_return_error", "-brief", "-nocommands",
            ]
            if let name = spec.serverName {
                arguments += ["-servername", name, "-verify_hostname", name]
            } else {
                arguments += ["-noservername"]
            }
            if let identity = spec.identity {
                arguments += ["-cert", identity.leafFile, "-key", identity.keyFile]
                if let intermediates = identity.intermediatesFile { arguments += ["-cert_chain", intermediates] }
            }
            if let alpn = spec.alpn { arguments += ["-alpn", alpn.joined(separator: ",")] }
            if spec.onlyTLS13 { arguments += ["-tls1_3"] }
            if let sessionFile { arguments += ["-sess_out", sessionFile] }
            if let resumeFrom { arguments += ["-sess_in", resumeFrom] }
            // -ign_eof: stay until the server closes, whatever stdin does.
            if spec.then != .close { arguments += ["-ign_eof"] }
            return try PeerProcess(openssl, arguments)
        case .python:
            var arguments = [
                pyPeer, "client", "--port", String(port), "--ca", spec.trustFile,
                "--send", String(spec.payload.count),
            ]
            if let name = spec.serverName { arguments += ["--server-name", name] }
            if let identity = spec.identity { arguments += ["--cert", identity.chainFile, "--key", identity.keyFile] }
            if let alpn = spec.alpn { arguments += ["--alpn", alpn.joined(separator: ",")] }
            if spec.onlyTLS13 { arguments += ["--min-version", "1.3"] }
            if spec.resume { arguments += ["--resume"] }
            switch spec.then {
            case .waitForServerClose: arguments += ["--then", "wait"]
            case .close: arguments += ["--then", "close"]
            case .stay: arguments += ["--then", "wait"]
            }
            return try PeerProcess(try program(for: Column(peer: .python, role: .client)), arguments)
        case .gnutls:
            var arguments = [
                "-p", String(port), "127.0.0.1", "--x509cafile", spec.trustFile,
                "--logfile", scratch.path("gnutls-cli.log"),
            ]
            if let name = spec.serverName {
                arguments += ["--sni-hostname", name, "--verify-hostname", name]
            } else {
                arguments += ["--disable-sni"]
            }
            if let identity = spec.identity {
                arguments += ["--x509certfile", identity.chainFile, "--x509keyfile", identity.keyFile]
            }
            if let alpn = spec.alpn { arguments += alpn.flatMap { ["--alpn", $0] } }
            if spec.onlyTLS13 { arguments += ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3"] }
            if spec.resume { arguments += ["--resume", "--waitresumption"] }
            return try PeerProcess(try program(for: Column(peer: .gnutls, role: .client)), arguments)
        }
    }

    /// The peer's own log: its standard error, plus gnutls-cli's log file.
    static func log(_ peer: PeerProcess, _ kind: PeerKind, scratch: TemporaryDirectory) -> String {
        var text = peer.stderr
        if kind == .gnutls {
            text += (try? String(contentsOfFile: scratch.path("gnutls-cli.log"), encoding: .utf8)) ?? ""
        }
        if kind == .openssl || kind == .gnutls {
            // s_server -rev and gnutls-serv log on standard output.
            text += "\n" + String(decoding: peer.stdout.prefix(8192), as: UTF8.self)
        }
        return text
    }

    /// JSON events reported by py_peer.py.
    static func pythonEvents(_ peer: PeerProcess) -> [[String: Any]] {
        pythonEvents(peer.stderr)
    }

    static func pythonEvents(_ stderr: String) -> [[String: Any]] {
        stderr.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"),
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { return nil }
            return object
        }
    }
}

/// Shared PEM files that are not per identity.
enum InteropPKIFiles {
    static var caBundle: String {
        (try? InteropPKI.shared.get().path("ca-bundle.pem")) ?? "/nonexistent"
    }
}

/// The last `count` characters of `text`, for messages.
func tail(_ text: String, _ count: Int = 600) -> String {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return trimmed.count <= count ? trimmed : "…" + String(trimmed.suffix(count))
}
