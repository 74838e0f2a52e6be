import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import OpenSSL
import OpenSSLNIO
@testable import https_example
import TestSupport

/// The HTTPS example (Examples/https-server), run in this process on an
/// ephemeral port of 127.0.0.1, with curl as the client.
@Suite("HTTPS example against curl", .serialized, .timeLimit(.minutes(2)))
struct HTTPSExampleTests {
    /// The example's files, plus a client the CA signed but the trust store does not know.
    final class Files: Sendable {
        let pem: PEMFiles

        init() throws {
            pem = try PEMFiles()
            let pki = TestPKI.shared
            let (key, stranger) = try pki.issueLeaf(
                commonName: "Unknown Client", sans: [], issuer: pki.intermediate, issuerKey: pki.intermediateKey,
                notBefore: Date() - 86_400, notAfter: Date() + 30 * 86_400, extendedKeyUsage: [.clientAuth])
            try Data((try stranger.pem + pki.intermediate.pem).utf8).write(to: URL(fileURLWithPath: path("stranger-chain.pem")))
            try Data(try key.privateKeyPEM().utf8).write(to: URL(fileURLWithPath: path("stranger-key.pem")))
        }

        func path(_ name: String) -> String { pem.path(name) }

        func configuration(delay: Duration = .milliseconds(50)) -> HTTPSServerConfiguration {
            HTTPSServerConfiguration(
                host: "127.0.0.1", port: 0, certificateChainFile: path("chain.pem"), privateKeyFile: path("server-key.pem"),
                clientCAFile: path("root.pem"), knownClientFiles: [path("client.pem")], trustStoreDelay: delay)
        }
    }

    struct CurlOutcome: CustomStringConvertible {
        let exit: PeerProcess.Exit?
        let status: String
        let body: String
        let stderr: String
        var description: String {
            "curl \(exit.map { "\($0)" } ?? "no exit"), status \(status), body \(body.debugDescription), stderr \(stderr.suffix(400))"
        }
    }

    /// Starts curl against the server (a client certificate chain and key when given).
    static func startCurl(port: Int, files: Files, certificate: (chain: String, key: String)?) throws -> PeerProcess {
        guard let curl = locateProgram("curl", preferring: ["/usr/bin/curl"]) else {
            throw Peers.PeerFailed(description: "curl is not installed (Scripts/bootstrap.sh installs it)")
        }
        var arguments = [
            "--silent", "--show-error", "--max-time", "10", "--cacert", files.path("root.pem"),
            "--write-out", "\nstatus=%{http_code}\n",
        ]
        if let certificate {
            arguments += ["--cert", files.path(certificate.chain), "--key", files.path(certificate.key)]
        }
        arguments.append("https://127.0.0.1:\(port)/")
        return try PeerProcess(curl, arguments, lifetime: 20)
    }

    static func finish(_ curl: PeerProcess) async -> CurlOutcome {
        defer { curl.stop() }
        let exit = await offThePool { curl.waitForExit(timeout: 15) }
        let text = curl.stdoutText
        let marker = text.range(of: "\nstatus=", options: .backwards)
        let body = marker.map { String(text[..<$0.lowerBound]) } ?? text
        let status = marker.map { text[$0.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        return CurlOutcome(exit: exit, status: status, body: body, stderr: curl.stderr)
    }

    static func curl(port: Int, files: Files, certificate: (chain: String, key: String)?) async -> CurlOutcome {
        do {
            return await finish(try startCurl(port: port, files: files, certificate: certificate))
        } catch {
            return CurlOutcome(exit: nil, status: "", body: "", stderr: "\(error)")
        }
    }

    @Test(
        "HTTPS example: curl with a known client certificate gets 200 naming its subject; an unknown one, a self-signed one and none are refused"
    )
    func curlAgainstTheExample() async throws {
        let files = try Files()
        let server = try await HTTPSServer.start(files.configuration())
        async let serving: Void = server.run()
        defer { Task { try? await server.close() } }
        let port = server.port

        let known = await Self.curl(port: port, files: files, certificate: ("client-chain.pem", "client-key.pem"))
        #expect(known.exit?.succeeded == true, "\(known)")
        #expect(known.status == "200", "\(known)")
        #expect(known.body == "Hello, CN=Test Client: your certificate is known.\n", "\(known)")

        // Signed by the client CA, so OpenSSL accepts it; the trust store does not know it.
        // The asynchronous hook refuses it during the handshake: a fatal alert, no HTTP at all.
        let stranger = await Self.curl(port: port, files: files, certificate: ("stranger-chain.pem", "stranger-key.pem"))
        #expect(stranger.exit != nil && stranger.exit?.succeeded == false, "\(stranger)")
        #expect(stranger.status == "000", "\(stranger)")
        #expect(stranger.body.isEmpty, "\(stranger)")

        // Refused by OpenSSL's verdict during the handshake: no HTTP at all.
        let selfSigned = await Self.curl(
            port: port, files: files, certificate: ("self-signed-client.pem", "self-signed-client-key.pem"))
        #expect(selfSigned.exit != nil && selfSigned.exit?.succeeded == false, "\(selfSigned)")
        #expect(selfSigned.status == "000", "\(selfSigned)")

        // No certificate: the server requires one.
        let none = await Self.curl(port: port, files: files, certificate: nil)
        #expect(none.exit != nil && none.exit?.succeeded == false, "\(none)")
        #expect(none.status == "000", "\(none)")
        #expect(none.body.isEmpty, "\(none)")

        // The trust store was asked for the two chains OpenSSL verified, and only for them.
        #expect(await server.policy.trustStore.questions == 2)
        try await server.close()
        try await serving
    }

    @Test("HTTPS example: while the trust store takes its time, the event loop goes on serving")
    func trustStoreDoesNotBlockTheLoop() async throws {
        let files = try Files()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await HTTPSServer.start(files.configuration(delay: .seconds(2)), group: group)
        async let serving: Void = server.run()
        let curl = try Self.startCurl(port: server.port, files: files, certificate: ("client-chain.pem", "client-key.pem"))
        defer { curl.stop() }
        // Wait until the question is with the trust store...
        let trustStore = server.policy.trustStore
        var polls = 0
        while await trustStore.pending == 0, polls < 500 {
            polls += 1
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(await trustStore.pending == 1)
        // ...then the server's only event loop runs a task while the store is
        // still thinking: a loop blocked by the question would run it only
        // after the answer, when nothing is pending any more. (No bound on the
        // time it takes: a loaded machine may be slow, never wrong.)
        try await group.next().submit {}.get()
        #expect(await trustStore.pending == 1, "the event loop ran the task only once the trust store had answered")

        let outcome = await Self.finish(curl)
        #expect(outcome.status == "200", "\(outcome)")
        try await server.close()
        try await serving
        try await group.shutdownGracefully()
    }
}
