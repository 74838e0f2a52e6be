import COpenSSL
import Foundation
import Testing
@testable import OpenSSL
import TestSupport

/// `ossl serve` as an ordinary TLS test server, against the clients people
/// reach for: `openssl s_client`, `curl`, Python's `ssl` — none of them
/// written for this project.
@Suite("ossl serve with real clients (G01, G02)")
struct ServeTests {
    static let pki = TestPKI.shared

    private static func pkiDirectory() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try pki.writePEMFiles(to: directory.url)
        return directory
    }

    /// `ossl serve --cert chain.pem --key server-key.pem arguments…`.
    private static func serve(
        _ directory: TemporaryDirectory, _ arguments: [String],
        rsa: Bool = false
    ) throws -> ServeProcess {
        let identity =
            rsa
            ? ["--cert", directory.path("rsa-chain.pem"), "--key", directory.path("rsa-server-key.pem")]
            : ["--cert", directory.path("chain.pem"), "--key", directory.path("server-key.pem")]
        return try ServeProcess(identity + arguments)
    }

    /// `openssl s_client` against 127.0.0.1:`port`, verifying the test root,
    /// sending `input`; with `ignoreEOF` it waits for the server to close.
    private static func sClient(
        _ directory: TemporaryDirectory, port: UInt16, _ arguments: [String] = [],
        input: String, ignoreEOF: Bool = true
    ) throws -> ExternalTool.Result {
        var all = [
            "s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost",
            "-CAfile", directory.path("root.pem"), "-verify_return_error",
        ]
        if ignoreEOF { all.append("-ign_eof") }
        return try ExternalTool.run("/usr/bin/openssl", all + arguments, input: Array(input.utf8), timeout: 30)
    }

    private static let request = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"

    /// The `name: value` lines of the `--http` page in `text`.
    private static func page(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.components(separatedBy: "\n") {
            guard let colon = line.range(of: ": ") else { continue }
            fields[String(line[..<colon.lowerBound])] = String(line[colon.upperBound...]).trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        return fields
    }

    @Test("G02 serve --help lists --client-cert and --http")
    func helpListsOptions() throws {
        let help = try OsslTool.run(["serve", "--help"])
        #expect(help.status == 0)
        for option in [
            "--client-cert", "--http", "--cipher", "--ciphersuites", "--groups", "--min-protocol",
            "--max-protocol", "--keylog", "--require-client-cert",
        ] {
            #expect(help.stdout.contains(option), "\(option) missing from: \(help.stdout)")
        }
    }

    @Test(
        "G02 serve --http --client-cert none answers openssl s_client with the page, then close_notify; no certificate is asked for"
    )
    func httpWithSClient() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, ["--http", "--client-cert", "none"])
        defer { server.stop() }
        // The client has a certificate and would send it if asked.
        let result = try Self.sClient(
            directory, port: server.port,
            ["-cert", directory.path("client-chain.pem"), "-key", directory.path("client-key.pem")],
            input: Self.request)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("HTTP/1.0 200 OK"), "\(result.stdout)")
        let fields = Self.page(result.stdout)
        #expect(fields["protocol"] == "TLSv1.3")
        #expect(fields["cipher"] == "TLS_AES_256_GCM_SHA384")
        #expect(fields["alpn"] == "none")
        #expect(fields["client-cert"] == "none")
        #expect(fields["session-reused"] == "no")
        // s_client says "closed" when SSL_read returns zero-return: the server's close_notify.
        #expect(result.stdout.contains("\nclosed\n") || result.stdout.hasSuffix("closed\n"), "\(result.stdout)")
        let log = server.logLines(waitingFor: 1)
        #expect(log.first?.contains("client-cert=none decision=accept") == true, "\(log)")
        #expect(log.first?.contains("request=\"GET / HTTP/1.0\"") == true, "\(log)")
    }

    @Test("G02 serve --http --client-cert request shows the fingerprint of the certificate a client sends")
    func httpRequestShowsFingerprint() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, ["--http", "--client-cert", "request"])
        defer { server.stop() }
        let result = try Self.sClient(
            directory, port: server.port,
            ["-cert", directory.path("client-chain.pem"), "-key", directory.path("client-key.pem")],
            input: Self.request)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let fingerprint = try Self.pki.client.digest(.sha256).map { String(format: "%02x", $0) }.joined()
        #expect(Self.page(result.stdout)["client-cert"] == "sha256:\(fingerprint)", "\(result.stdout)")
        // Asked, a client may still send none.
        let anonymous = try Self.sClient(directory, port: server.port, input: Self.request)
        #expect(anonymous.status == 0, "\(anonymous.stdout) \(anonymous.stderr)")
        #expect(Self.page(anonymous.stdout)["client-cert"] == "none")
    }

    @Test("G02 serve --http answers curl, which exits 0 with the whole page")
    func httpWithCurl() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, ["--http"])
        defer { server.stop() }
        let result = try ExternalTool.run(
            "/usr/bin/curl",
            [
                "-sS", "--http1.1", "--cacert", directory.path("root.pem"),
                "--max-time", "20", "https://127.0.0.1:\(server.port)/",
            ],
            timeout: 30)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.hasPrefix("ossl serve: TLS connection\n"), "\(result.stdout)")
        let fields = Self.page(result.stdout)
        #expect(fields["protocol"] == "TLSv1.3")
        #expect(fields["client-cert"] == "none")
        // curl offers ALPN (h2, http/1.1); the server selects none without --alpn.
        #expect(fields["alpn"] == "none")
        let withALPN = try Self.serve(directory, ["--http", "--alpn", "http/1.1"])
        defer { withALPN.stop() }
        let chosen = try ExternalTool.run(
            "/usr/bin/curl",
            [
                "-sS", "--cacert", directory.path("root.pem"), "--max-time", "20",
                "https://127.0.0.1:\(withALPN.port)/",
            ], timeout: 30)
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(Self.page(chosen.stdout)["alpn"] == "http/1.1")
    }

    @Test("G02 serve --http answers Python's ssl module, which sees a clean close (no ragged EOF)")
    func httpWithPython() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, ["--http"])
        defer { server.stop() }
        let script = """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[1])
            # Python sets OP_IGNORE_UNEXPECTED_EOF, which would hide a missing close_notify.
            context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
            raw = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20)
            tls = context.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
            tls.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
            data = b""
            while True:
                chunk = tls.recv(65536)  # b"" only on close_notify; a ragged EOF raises
                if not chunk:
                    break
                data += chunk
            print(tls.version(), tls.cipher()[0])
            sys.stdout.write(data.decode())
            """
        let result = try ExternalTool.run(
            "/usr/bin/python3", ["-c", script, directory.path("root.pem"), String(server.port)],
            timeout: 30)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.hasPrefix("TLSv1.3 "), "\(result.stdout)")
        #expect(result.stdout.contains("HTTP/1.0 200 OK\r\n"))
        #expect(result.stdout.contains("Content-Type: text/plain; charset=utf-8\r\n"))
        #expect(Self.page(result.stdout)["client-cert"] == "none")
    }

    @Test("G02 serve --client-cert require (and --require-client-cert) refuses a client without a certificate")
    func requireRefusesAnonymous() throws {
        let directory = try Self.pkiDirectory()
        for arguments in [["--client-cert", "require"], ["--require-client-cert"]] {
            let server = try Self.serve(directory, ["--http"] + arguments)
            defer { server.stop() }
            let refused = try Self.sClient(directory, port: server.port, input: Self.request)
            #expect(!refused.stdout.contains("HTTP/1.0 200 OK"), "\(refused.stdout)")
            #expect(refused.stderr.contains("certificate required"), "\(refused.stderr)")
            let log = server.logLines(waitingFor: 1)
            #expect(log.first?.contains("decision=failed") == true, "\(log)")
            #expect(log.first?.contains("peer did not return a certificate") == true, "\(log)")
            let accepted = try Self.sClient(
                directory, port: server.port,
                ["-cert", directory.path("client-chain.pem"), "-key", directory.path("client-key.pem")],
                input: Self.request)
            #expect(accepted.status == 0 && accepted.stdout.contains("HTTP/1.0 200 OK"), "\(accepted.stdout) \(accepted.stderr)")
        }
    }

    @Test("G02 serve's TLS options reach the handshake: ciphersuites, groups, protocol bounds, key log")
    func tlsOptions() throws {
        let directory = try Self.pkiDirectory()
        let keylog = directory.path("keys.log")
        let server = try Self.serve(
            directory,
            [
                "--http", "--ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
                "--groups", "P-384", "--keylog", keylog,
            ])
        defer { server.stop() }
        let result = try Self.sClient(directory, port: server.port, input: Self.request)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Self.page(result.stdout)["cipher"] == "TLS_CHACHA20_POLY1305_SHA256")
        #expect(
            result.stdout.contains("\(RuntimeOpenSSL.sClientTemporaryKeyLabel): ECDH, secp384r1, 384 bits"),
            "\(result.stdout)")
        _ = server.logLines(waitingFor: 1)
        let secrets = try String(contentsOfFile: keylog, encoding: .utf8)
        #expect(secrets.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET "))

        let old = try Self.serve(directory, ["--http", "--max-protocol", "TLSv1.2", "--cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])
        defer { old.stop() }
        let twelve = try Self.sClient(directory, port: old.port, input: Self.request)
        #expect(twelve.status == 0, "\(twelve.stderr)")
        let fields = Self.page(twelve.stdout)
        #expect(fields["protocol"] == "TLSv1.2")
        #expect(fields["cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256")

        let new = try Self.serve(directory, ["--http", "--min-protocol", "tls1.3"])
        defer { new.stop() }
        let refused = try Self.sClient(directory, port: new.port, ["-tls1_2"], input: Self.request)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("protocol version"), "\(refused.stderr)")
    }

    @Test(
        "G02 serve: values OpenSSL refuses are usage errors (exit status 2) with OpenSSL's reason",
        arguments: [
            (["--cipher", "NO-SUCH-CIPHER"], "no cipher match"),
            (["--ciphersuites", "TLS_NO_SUCH_SUITE"], "no cipher match"),
            (
                ["--groups", "no-such-group"],
                "--groups 'no-such-group': set groups 'no-such-group': \(RuntimeOpenSSL.unknownGroupReason)"
            ),
            (["--min-protocol", "TLSv9"], "'TLSv9' is not TLSv1.2 or TLSv1.3"),
            (["--min-protocol", "TLSv1.3", "--max-protocol", "TLSv1.2"], "is above --max-protocol"),
            (["--client-cert", "sometimes"], "'sometimes' is not none, request or require"),
            (["--client-cert", "request", "--require-client-cert"], "contradicts"),
            (["--client-cert", "none", "--tofu", "/tmp/never-written"], "--tofu needs client certificates"),
            (
                ["--keylog", "/nonexistent-directory/keys.log"],
                "--keylog '/nonexistent-directory/keys.log': No such file or directory"
            ),
        ])
    func badValues(arguments: [String], reason: String) throws {
        let result = try OsslTool.run(["serve", "--max-connections", "1"] + arguments, timeout: 20)
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(OsslTool.lines(result.stderr).count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(reason), "\(result.stderr)")
        #expect(!result.stdout.contains("listening on"))
    }

    @Test("G01 a TLS 1.2 client offering only ffdhe2048 and DHE completes a DHE handshake with serve")
    func dheWithSClient() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, ["--http"], rsa: true)
        defer { server.stop() }
        let result = try Self.sClient(
            directory, port: server.port,
            ["-tls1_2", "-groups", "ffdhe2048", "-cipher", "DHE-RSA-AES128-GCM-SHA256"],
            input: Self.request)
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("\(RuntimeOpenSSL.sClientTemporaryKeyLabel): DH, 2048 bits"), "\(result.stdout)")
        let fields = Self.page(result.stdout)
        #expect(fields["protocol"] == "TLSv1.2")
        #expect(fields["cipher"] == "DHE-RSA-AES128-GCM-SHA256")
    }

    @Test("G01 a TLS 1.2 client that closes first resumes its session by ID with serve")
    func resumptionWithSClient() throws {
        let directory = try Self.pkiDirectory()
        let server = try Self.serve(directory, [])
        defer { server.stop() }
        let sessionFile = directory.path("session.pem")
        let options = ["-tls1_2", "-no_ticket"]
        // At the end of its input s_client sends close_notify: it closes first.
        let first = try Self.sClient(
            directory, port: server.port, options + ["-sess_out", sessionFile],
            input: "hello\n", ignoreEOF: false)
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(first.stdout.contains("New, TLSv1.2"), "\(first.stdout)")
        _ = server.logLines(waitingFor: 1)
        let second = try Self.sClient(
            directory, port: server.port, options + ["-sess_in", sessionFile],
            input: "again\n", ignoreEOF: false)
        #expect(second.status == 0, "\(second.stdout) \(second.stderr)")
        #expect(second.stdout.contains("Reused, TLSv1.2"), "\(second.stdout)")
        let log = server.logLines(waitingFor: 2)
        #expect(log.last?.contains("decision=accept-resumed") == true, "\(log)")
    }

    @Test("G01 serve delivers its record_overflow alert and its whole response to clients still sending, 100 runs of 100 each")
    func serveClosesGracefully() throws {
        let directory = try Self.pkiDirectory()
        let context = try TestContexts.client()
        let echo = try Self.serve(directory, [])
        defer { echo.stop() }
        var failures: [String] = []
        for run in 0..<100 {
            if let failure = try CloseProbe.oversizedRecord(port: echo.port, context: context) {
                failures.append("alert run \(run): \(failure)")
            }
        }
        let web = try Self.serve(directory, ["--http"])
        defer { web.stop() }
        for run in 0..<100 {
            let (received, ending) = try CloseProbe.keepSending(
                port: web.port, context: context,
                request: Array(Self.request.utf8))
            let text = String(decoding: received, as: UTF8.self)
            if !text.hasPrefix("HTTP/1.0 200 OK\r\n") || !text.hasSuffix("session-reused: no\n") || ending != "close_notify" {
                failures.append("response run \(run): \(received.count) bytes, then \(ending)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of 200 runs failed: \(failures.prefix(5))")
    }
}

@Suite("Automatic DH parameters (G01)")
struct DHAutoTests {
    /// A TLS 1.2 client that offers only ffdhe2048 and one DHE suite.
    private static func dheOnlyClient() throws -> Context {
        let context = try TestContexts.client()
        try context.setMaximumProtocolVersion(.tls1_2)
        try context.setCipherList("DHE-RSA-AES128-GCM-SHA256")
        try context.setGroups(["ffdhe2048"])
        return context
    }

    private static func rsaServer() throws -> Context {
        let pki = TestPKI.shared
        return try Context.server(certificate: pki.rsaServer, key: pki.rsaServerKey, chain: [pki.intermediate])
    }

    @Test("G01 Context.server() leaves DHE off: a client with only ffdhe2048 fails; setDHAuto(true) gives it DHE")
    func dheNeedsDHAuto() throws {
        let plain = try Self.rsaServer()
        #expect(!plain.usesAutomaticDHParameters)
        let refused = try TLSPair(client: try Self.dheOnlyClient(), server: plain)
        #expect(throws: TLSPair.Failure.self) { try refused.handshake() }

        let dhe = try Self.rsaServer()
        try dhe.setDHAuto(true)
        #expect(dhe.usesAutomaticDHParameters)
        let pair = try TLSPair(client: try Self.dheOnlyClient(), server: dhe)
        try pair.handshake()
        #expect(pair.client.cipherName == "DHE-RSA-AES128-GCM-SHA256")
        #expect(pair.server.protocolVersionName == "TLSv1.2")
        #expect(try pair.send(Array("ping".utf8), from: pair.client, to: pair.server) == Array("ping".utf8))

        #expect(throws: UsageError.self) { try dhe.setDHAuto(false) }  // the context is in use

        // The macro behind it, through the shim, on a context of our own.
        let raw = try Context(.tlsServer)
        raw.withUnsafeOpenSSLPointer { context in
            #expect(cossl_SSL_CTX_set_dh_auto(context, 1) == 1)
        }
    }
}
