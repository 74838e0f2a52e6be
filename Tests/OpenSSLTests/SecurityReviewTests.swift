import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The security review's defects in the TLS core (issue 12, items 1, 2, 4,
/// 5 and 10): each test failed before its fix.
@Suite("Security review: TLS core")
struct SecurityReviewTests {
    static var pki: TestPKI { TestPKI.shared }

    /// A server presenting a certificate from the test root for another host (wrong.example).
    static func impostor() throws -> Context {
        try Context.server(certificate: pki.wrongHost, key: pki.wrongHostKey, chain: [pki.intermediate])
    }

    // MARK: SEC01 — the host-name requirement on every path

    @Test(
        "SEC01 every entry point of an unnamed Context.client() connection refuses to start the handshake",
        arguments: ["doHandshake", "read", "peek", "write", "writeAll"])
    func unnamedClientRefuses(entryPoint: String) throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try Self.impostor(), serverName: nil)
        let client = pair.client
        let call: () throws -> Void
        switch entryPoint {
        case "doHandshake": call = { try client.doHandshake() }
        case "read": call = { _ = try client.read(max: 64) }
        case "peek": call = { _ = try client.peek(max: 64) }
        case "write": call = { _ = try client.write(Array("GET /".utf8)) }
        default: call = { try client.writeAll(Array("GET /".utf8)) }
        }
        for _ in 0..<3 {
            #expect(sslErrorCase(call) == .usage, "\(entryPoint) must refuse")
            #expect(client.pendingCiphertext == 0, "no ClientHello goes out")
            _ = sslErrorCase { try pair.server.doHandshake() }
            try pair.pump()
        }
        #expect(!client.isHandshakeDone)
        #expect(!pair.server.isHandshakeDone)
        let error = try #require(throws: SSLError.self) { try call() }
        #expect("\(error)".contains("setServerName"), "the message says what to do: \(error)")
        expectErrorQueueEmpty()
    }

    @Test("SEC01 a handshake OpenSSL starts by itself (no entry point of ours) is refused by the verification")
    func unnamedClientRefusedInsideOpenSSL() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try Self.impostor(), serverName: nil)
        var clientResult: Int32 = 0
        for _ in 0..<16 {
            clientResult = pair.client.withUnsafeOpenSSLPointer { SSL_do_handshake($0) }
            ERR_clear_error()
            _ = sslErrorCase { try pair.server.doHandshake() }
            try pair.pump()
            if clientResult == 1 { break }
        }
        #expect(clientResult != 1, "the handshake must not complete")
        #expect(!pair.client.isHandshakeDone)
        #expect(pair.client.verifyResult == .hostnameMismatch)
        expectErrorQueueEmpty()
    }

    @Test("SEC01 a connection switched to a host-verifying client context must name its host too")
    func switchToHostVerifyingContext() throws {
        let lenient = try Context(.tlsClient)
        try lenient.trust([Self.pki.root])
        try lenient.setVerify(.peer)
        let pair = try TLSPair(client: lenient, server: try Self.impostor(), serverName: nil)
        try pair.client.setContext(try TestContexts.client())
        #expect(sslErrorCase { _ = try pair.client.write(Array("GET /".utf8)) } == .usage)
        #expect(pair.client.pendingCiphertext == 0)

        // Named, it verifies that name: the impostor is refused.
        try pair.client.setServerName("localhost")
        let failure = try #require(expectHandshakeFailure(pair))
        #expect(failure.side == .client)
        #expect(pair.client.verifyResult == .hostnameMismatch)
        expectErrorQueueEmpty()
    }

    // MARK: SEC02 — a context switch verifies as the context switched to

    static func mutualTLS(verifier: Context.PeerVerifier? = nil, roots: [X509]? = nil) throws -> Context {
        try Context.mutualTLSServer(
            certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate],
            trusting: roots ?? [pki.root], verifier: verifier)
    }

    /// A server whose default certificate is for wrong.example and which
    /// switches to `host` for clients naming localhost (the tls-recipes virtual host).
    static func switching(to host: Context) throws -> Context {
        try virtualHostServer(certificate: pki.wrongHost, key: pki.wrongHostKey, hosts: ["localhost": host])
    }

    static func client(certificate: X509? = nil, key: PKey? = nil, chain: [X509] = []) throws -> Context {
        try Context.client(trusting: [pki.root], certificate: certificate, key: key, chain: chain)
    }

    @Test("SEC02 a switch to a mutual-TLS context refuses a client without a certificate")
    func switchRequiresClientCertificate() throws {
        let pair = try TLSPair(client: try Self.client(), server: try Self.switching(to: try Self.mutualTLS()))
        #expect(expectHandshakeFailure(pair) != nil)
        #expect(!pair.server.isHandshakeDone)
        #expect(pair.server.peerCertificate == nil)
        #expect(pair.server.verifyMode == [.peer, .failIfNoPeerCertificate])
        expectErrorQueueEmpty()
    }

    @Test("SEC02 after a switch the client's certificate is verified against the switched-to trust")
    func switchVerifiesClientCertificate() throws {
        let good = try TLSPair(
            client: try Self.client(
                certificate: Self.pki.client, key: Self.pki.clientKey,
                chain: [Self.pki.intermediate]),
            server: try Self.switching(to: try Self.mutualTLS()))
        try good.handshake()
        #expect(good.server.peerCertificate == Self.pki.client)
        #expect(good.server.verifyResult == .ok)

        // A self-signed client certificate is not from the switched-to root.
        let stranger = try TLSPair(
            client: try Self.client(
                certificate: Self.pki.selfSignedClient,
                key: Self.pki.selfSignedClientKey),
            server: try Self.switching(to: try Self.mutualTLS()))
        #expect(expectHandshakeFailure(stranger) != nil)
        #expect(!stranger.server.isHandshakeDone)

        // The switched-to context's depth: 0 allows no intermediate.
        let shallow = try Self.mutualTLS()
        try shallow.setVerifyDepth(0)
        let deep = try TLSPair(
            client: try Self.client(
                certificate: Self.pki.client, key: Self.pki.clientKey,
                chain: [Self.pki.intermediate]),
            server: try Self.switching(to: shallow))
        #expect(expectHandshakeFailure(deep) != nil)
        #expect(!deep.server.isHandshakeDone)
        expectErrorQueueEmpty()
    }

    @Test("SEC02 a switch to a context with a whole-chain hook runs that hook")
    func switchRunsTheHook() throws {
        let seen = LockedBox<[X509VerificationError.Code?]>([])
        let host = try Self.mutualTLS(
            verifier: { _, verification in
                seen.mutate { $0.append(verification.error?.code) }
                return verification.peerChain.first == Self.pki.selfSignedClient ? .accept : .reject
            }, roots: [])
        let pair = try TLSPair(
            client: try Self.client(
                certificate: Self.pki.selfSignedClient,
                key: Self.pki.selfSignedClientKey),
            server: try Self.switching(to: host))
        try pair.handshake()
        #expect(seen.get().count == 1, "the hook ran once")
        #expect(seen.get().first ?? nil != nil, "with OpenSSL's verdict on the self-signed chain")
        #expect(pair.server.peerCertificate == Self.pki.selfSignedClient)
        expectErrorQueueEmpty()
    }

    @Test("SEC02 what the application set on the connection itself stays across a switch")
    func pinnedVerificationStays() throws {
        let pair = try TLSPair(client: try Self.client(), server: try Self.switching(to: try Self.mutualTLS()))
        pair.server.setVerify(.none)
        try pair.handshake()
        #expect(pair.server.verifyMode == .none)
        #expect(pair.server.peerCertificate == nil)

        // A client's expected host survives its own context switch.
        let client = try Connection(try Self.client())
        try client.setServerName("wrong.example")
        try client.setContext(try Self.client())
        #expect(client.hasExpectedHost)
        expectErrorQueueEmpty()
    }

    // MARK: SEC04 — no SIGPIPE, and no signal disposition touched

    /// The current action of `signal`.
    static func action(of signal: Int32) -> sigaction {
        var current = sigaction()
        sigaction(signal, nil, &current)
        return current
    }

    @Test(
        "SEC04 a TLS write over a descriptor to a peer that has gone fails with EPIPE, raises no SIGPIPE, and SIGPIPE's disposition is left alone"
    )
    func descriptorWriteRaisesNoSIGPIPE() throws {
        let before = Self.action(of: SIGPIPE)
        let (client, socket) = try TransportTLSTests.clientOfVanishedServer()
        defer { socket.close() }
        // A write(2) without MSG_NOSIGNAL would leave SIGPIPE pending (see withSIGPIPEBlocked).
        let (failure, raised) = withSIGPIPEBlocked { TransportTLSTests.writeUntilFailure(client) }
        #expect(!raised, "the write raised SIGPIPE")
        guard case .sysCall(let code, _) = failure else {
            Issue.record("expected sysCall, got \(String(describing: failure))")
            return
        }
        #expect(code == EPIPE || code == ECONNRESET)
        let after = Self.action(of: SIGPIPE)
        #expect(
            unsafeBitCast(after.__sigaction_handler.sa_handler, to: Int.self)
                == unsafeBitCast(before.__sigaction_handler.sa_handler, to: Int.self), "SIGPIPE's handler changed")
        #expect(after.sa_flags == before.sa_flags)
        expectErrorQueueEmpty()
    }

    @Test("SEC04 after a Connection goes, an SSL kept alive through withUnsafeOpenSSLPointer no longer points at it")
    func appDataClearedOnDeinit() throws {
        let context = try TestContexts.server()
        try context.setServerNameCallback { _ in }
        var connection: Connection? = try Connection(context)
        let ssl = try #require(
            connection?.withUnsafeOpenSSLPointer { ssl -> OpaquePointer? in
                SSL_up_ref(ssl) == 1 ? ssl : nil
            })
        defer { SSL_free(ssl) }
        #expect(cossl_SSL_get_app_data(ssl) != nil)
        #expect(Connection.from(ssl) === connection)
        connection = nil
        #expect(cossl_SSL_get_app_data(ssl) == nil)
        #expect(Connection.from(ssl) == nil)
        expectErrorQueueEmpty()
    }

    // MARK: SEC05 — DTLS datagrams over memory buffers

    /// Moves every waiting datagram from `from` to `to`, one `bioRead` and
    /// one `bioWrite` each, through a buffer of `mtu` bytes; returns their sizes.
    @discardableResult
    static func moveDatagrams(from: Connection, to: Connection, mtu: Int) throws -> [Int] {
        var sizes: [Int] = []
        var buffer = [UInt8](repeating: 0, count: mtu)
        while from.pendingCiphertext > 0 {
            let announced = from.pendingCiphertext
            let count = try buffer.withUnsafeMutableBytes { try from.bioRead(into: $0) }
            #expect(count == announced, "pendingCiphertext is the next datagram's length")
            sizes.append(count)
            try to.bioWrite(Array(buffer[..<count]))
        }
        return sizes
    }

    @Test("SEC05 DTLS over memory buffers: one datagram per bioRead, with an MTU smaller than a flight")
    func dtlsDatagrams() throws {
        let mtu = 400
        let pair = try TLSPair(client: try DTLSTests.client(), server: try DTLSTests.server())
        try pair.client.setCiphertextMTU(mtu)
        try pair.server.setCiphertextMTU(mtu)
        try DTLSTests.cookieExchange(pair)

        var flights: [[Int]] = []
        for _ in 0..<32 where !(pair.client.isHandshakeDone && pair.server.isHandshakeDone) {
            for connection in [pair.client, pair.server] where !connection.isHandshakeDone {
                switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
                case .success, .failure(.wantRead): break
                case .failure(let error): throw error
                }
            }
            let out = try Self.moveDatagrams(from: pair.server, to: pair.client, mtu: mtu)
            let back = try Self.moveDatagrams(from: pair.client, to: pair.server, mtu: mtu)
            flights += [out, back].filter { !$0.isEmpty }
        }
        #expect(pair.client.isHandshakeDone && pair.server.isHandshakeDone)
        #expect(flights.contains { $0.count > 1 }, "a flight larger than the MTU went as several datagrams: \(flights)")
        #expect(flights.allSatisfy { $0.allSatisfy { $0 <= mtu } }, "\(flights)")

        // Two 150-byte writes are two datagrams, and both arrive.
        let first = [UInt8](repeating: 1, count: 150)
        let second = [UInt8](repeating: 2, count: 150)
        #expect(try pair.client.write(first) == 150)
        #expect(try pair.client.write(second) == 150)
        let sizes = try Self.moveDatagrams(from: pair.client, to: pair.server, mtu: 1500)
        #expect(sizes.count == 2, "\(sizes)")
        #expect(try pair.server.read(max: 1500) == first)
        #expect(try pair.server.read(max: 1500) == second)

        // And the other way, through withPendingCiphertext.
        let reply = [UInt8](repeating: 3, count: 200)
        #expect(try pair.server.write(reply) == 200)
        #expect(try pair.server.write(reply) == 200)
        var datagrams: [[UInt8]] = []
        while pair.server.pendingCiphertext > 0 {
            pair.server.withPendingCiphertext { bytes in
                datagrams.append(Array(bytes))
                return bytes.count
            }
        }
        #expect(datagrams.count == 2)
        for datagram in datagrams { try pair.client.bioWrite(datagram) }
        #expect(try pair.client.read(max: 1500) == reply)
        #expect(try pair.client.read(max: 1500) == reply)

        // A buffer shorter than the next datagram takes nothing.
        #expect(try pair.client.write(first) == 150)
        let waiting = pair.client.pendingCiphertext
        #expect(sslErrorCase { _ = try pair.client.bioRead(max: waiting - 1) } == .usage)
        #expect(pair.client.pendingCiphertext == waiting)
        try Self.moveDatagrams(from: pair.client, to: pair.server, mtu: mtu)
        #expect(try pair.server.read(max: 1500) == first)
        expectErrorQueueEmpty()
    }

    // MARK: SEC10 — dtlsListen through the connection's I/O rules

    @Test("SEC10 dtlsListen rethrows the transport's own error")
    func dtlsListenTransportError() throws {
        let transports = MemoryTransportPair(server: TransportFaults(error: TaggedError("datagram socket"), errorOn: .reads))
        let server = try Connection(try DTLSTests.server(), transport: transports.server)
        server.setAcceptState()
        let error = try #require(throws: SSLError.self) { try server.dtlsListen() }
        guard case .transport(let cause) = error else {
            Issue.record("expected .transport, got \(error)")
            return
        }
        #expect(cause as? TaggedError == TaggedError("datagram socket"))
        expectErrorQueueEmpty()
    }

    @Test("SEC10 a signal interrupting dtlsListen on a blocking socket does not end the wait")
    func dtlsListenInterrupted() throws {
        let signal = SIGUSR1
        var handler = sigaction()
        handler.__sigaction_handler.sa_handler = { _ in }
        handler.sa_flags = 0  // no SA_RESTART: the blocked recvfrom fails with EINTR
        sigemptyset(&handler.sa_mask)
        var previous = sigaction()
        #expect(sigaction(signal, &handler, &previous) == 0)
        defer { sigaction(signal, &previous, nil) }

        let serverSocket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
        defer { serverSocket.close() }
        let clientSocket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
        defer { clientSocket.close() }
        try serverSocket.connect(host: "127.0.0.1", port: clientSocket.localPort)
        try clientSocket.connect(host: "127.0.0.1", port: serverSocket.localPort)
        try serverSocket.setReadTimeout(.seconds(10))  // bounds the test if nothing arrives
        let serverContext = try DTLSTests.server()
        let thread = LockedBox<pthread_t?>(nil)
        let outcome = LockedBox<(SSLErrorCase?, Date)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            // Threads started from a dispatch worker inherit its mask, which blocks SIGUSR1.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, signal)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            thread.mutate { $0 = pthread_self() }
            let result: SSLErrorCase?
            do {
                let server = try Connection(serverContext, transport: serverSocket)
                server.setAcceptState()
                result = sslErrorCase { try server.dtlsListen() }
            } catch {
                result = .notSSLError("\(error)")
            }
            outcome.mutate { $0 = (result, Date()) }
        }
        Thread.sleep(forTimeInterval: 0.3)
        let target = try #require(thread.get())
        pthread_kill(target, signal)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(outcome.get() == nil, "listen still waits after the signal")

        let client = try Connection(try DTLSTests.client(), transport: clientSocket)
        client.setConnectState()
        try client.setServerName("localhost")
        try clientSocket.setReadTimeout(.seconds(2))
        let sent = Date()
        // Sends the ClientHello, answers the HelloVerifyRequest, then waits
        // for a ServerHello that does not come (the test stops at listen).
        _ = sslErrorCase { try client.doHandshake() }
        #expect(done.wait(timeout: .now() + 10) == .success, "listen answered the ClientHello")
        let (result, returned) = try #require(outcome.get())
        #expect(returned >= sent, "listen returned after the ClientHello, not at the signal")
        // On a blocking socket OpenSSL's listen reads on after its
        // HelloVerifyRequest: it returns once the cookie came back.
        #expect(result == nil, "the cookie exchange completed: \(String(describing: result))")
    }
}
