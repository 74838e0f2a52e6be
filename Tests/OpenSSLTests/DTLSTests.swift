import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// DTLS over memory BIOs and over UDP: cookie exchange, timers, MTU, SRTP (CONFORMANCE I03).
@Suite("DTLS")
struct DTLSTests {
    static var pki: TestPKI { TestPKI.shared }
    static let cookie = Array("xyzzy-cookie".utf8)

    /// A DTLS server with the test certificate and a fixed-cookie exchange; counts the callbacks.
    static func server(generated: LockedBox<Int>? = nil, verified: LockedBox<[[UInt8]]>? = nil) throws -> Context {
        let context = try Context(.dtlsServer)
        try context.useCertificateChain([pki.server, pki.intermediate])
        try context.usePrivateKey(pki.serverKey)
        try context.setCookieGenerateCallback { connection in
            #expect(connection.isServer)
            generated?.mutate { $0 += 1 }
            return cookie
        }
        try context.setCookieVerifyCallback { _, cookie in
            verified?.mutate { $0.append(cookie) }
            return cookie == Self.cookie
        }
        return context
    }

    /// A DTLS client trusting the test root and checking the host name.
    static func client() throws -> Context {
        let context = try Context(.dtlsClient)
        try context.trust([pki.root])
        try context.setVerify(.peer)
        try context.setVerifiesHostnames(true)
        return context
    }

    /// Runs the cookie exchange over memory BIOs: ClientHello, HelloVerifyRequest, ClientHello with cookie, listen succeeds.
    static func cookieExchange(_ pair: TLSPair) throws {
        #expect(sslErrorCase { try pair.client.doHandshake() } == .wantRead)
        try TLSPair.move(from: pair.client, to: pair.server)
        #expect(sslErrorCase { try pair.server.dtlsListen() } == .wantRead, "a ClientHello without a cookie")
        #expect(pair.server.pendingCiphertext > 0, "the HelloVerifyRequest")
        try TLSPair.move(from: pair.server, to: pair.client)
        #expect(sslErrorCase { try pair.client.doHandshake() } == .wantRead)
        try TLSPair.move(from: pair.client, to: pair.server)
        try pair.server.dtlsListen()
    }

    @Test("I03 DTLS over memory BIOs: a cookie exchange via listen, then a handshake and data both ways")
    func memoryBIOHandshake() throws {
        let generated = LockedBox(0)
        let verified = LockedBox<[[UInt8]]>([])
        let pair = try TLSPair(client: try Self.client(), server: try Self.server(generated: generated, verified: verified))
        try Self.cookieExchange(pair)
        #expect(generated.get() == 1)
        #expect(verified.get() == [Self.cookie])
        try pair.handshake()
        #expect(pair.client.protocolVersion == .dtls1_2)
        #expect(pair.server.protocolVersion == .dtls1_2)
        #expect(pair.client.peerCertificate == Self.pki.server)
        #expect(pair.client.verifyResult == .ok)
        let request = Array("datagram from the client".utf8)
        #expect(try pair.send(request, from: pair.client, to: pair.server) == request)
        let reply = Array(repeating: UInt8(ascii: "r"), count: 1000)
        #expect(try pair.send(reply, from: pair.server, to: pair.client) == reply)
        expectErrorQueueEmpty()
    }

    @Test("I03 cookie errors: an oversize or empty cookie is refused; thrown errors and missing callbacks come out of listen")
    func cookieErrors() throws {
        func listenOutcome(_ configure: (Context) throws -> Void) throws -> SSLError? {
            let server = try Context(.dtlsServer)
            try server.useCertificate(Self.pki.server)
            try server.usePrivateKey(Self.pki.serverKey)
            try configure(server)
            let pair = try TLSPair(client: try Self.client(), server: server)
            _ = sslErrorCase { try pair.client.doHandshake() }
            try TLSPair.move(from: pair.client, to: pair.server)
            do {
                try pair.server.dtlsListen()
                return nil
            } catch {
                return error
            }
        }
        let verifyAll: Context.CookieVerifyCallback = { _, _ in true }
        let oversize = try listenOutcome {
            try $0.setCookieGenerateCallback { _ in [UInt8](repeating: 7, count: 256) }
            try $0.setCookieVerifyCallback(verifyAll)
        }
        #expect(oversize?.callbackError is UsageError, "\(String(describing: oversize))")
        let empty = try listenOutcome {
            try $0.setCookieGenerateCallback { _ in [] }
            try $0.setCookieVerifyCallback(verifyAll)
        }
        #expect(empty?.callbackError is UsageError)
        let maximal = try listenOutcome {
            try $0.setCookieGenerateCallback { _ in [UInt8](repeating: 7, count: 255) }
            try $0.setCookieVerifyCallback(verifyAll)
        }
        #expect(maximal.map(SSLErrorCase.init) == .wantRead, "255 bytes is the largest cookie allowed")
        let throwing = try listenOutcome {
            try $0.setCookieGenerateCallback { _ in throw TaggedError("cookie") }
            try $0.setCookieVerifyCallback(verifyAll)
        }
        #expect(throwing?.callbackError as? TaggedError == TaggedError("cookie"))
        let missing = try listenOutcome { _ in }
        #expect(missing?.callbackError is UsageError)
        expectErrorQueueEmpty()

        // A verifier that throws, at the second ClientHello.
        let server = try Context(.dtlsServer)
        try server.useCertificate(Self.pki.server)
        try server.usePrivateKey(Self.pki.serverKey)
        try server.setCookieGenerateCallback { _ in Self.cookie }
        try server.setCookieVerifyCallback { _, _ in throw TaggedError("verify") }
        let pair = try TLSPair(client: try Self.client(), server: server)
        _ = sslErrorCase { try pair.client.doHandshake() }
        try TLSPair.move(from: pair.client, to: pair.server)
        _ = sslErrorCase { try pair.server.dtlsListen() }
        try TLSPair.move(from: pair.server, to: pair.client)
        _ = sslErrorCase { try pair.client.doHandshake() }
        try TLSPair.move(from: pair.client, to: pair.server)
        let error = try #require(throws: SSLError.self) { try pair.server.dtlsListen() }
        #expect(error.callbackError as? TaggedError == TaggedError("verify"))

        // A verifier that says no: listen goes on asking for a cookie.
        let strict = try Context(.dtlsServer)
        try strict.useCertificate(Self.pki.server)
        try strict.usePrivateKey(Self.pki.serverKey)
        try strict.setCookieGenerateCallback { _ in Self.cookie }
        try strict.setCookieVerifyCallback { _, _ in false }
        let rejected = try TLSPair(client: try Self.client(), server: strict)
        for _ in 0..<2 {
            _ = sslErrorCase { try rejected.client.doHandshake() }
            try TLSPair.move(from: rejected.client, to: rejected.server)
            #expect(sslErrorCase { try rejected.server.dtlsListen() } == .wantRead)
            try TLSPair.move(from: rejected.server, to: rejected.client)
        }

        // DTLS-only calls on TLS objects.
        let tls = try Context(.tlsServer)
        #expect(throws: UsageError.self) { try tls.setCookieGenerateCallback { _ in [1] } }
        #expect(throws: UsageError.self) { try tls.setCookieVerifyCallback { _, _ in true } }
        let tlsConnection = try Connection(tls)
        #expect(sslErrorCase { try tlsConnection.dtlsListen() } == .usage)
        #expect(throws: UsageError.self) { try tlsConnection.setCiphertextMTU(1200) }
        #expect(throws: UsageError.self) { try tlsConnection.setRetransmissionTimeout(initial: .seconds(1)) }
        #expect(tlsConnection.cleartextMTU == nil)
        expectErrorQueueEmpty()
    }

    @Test("I03 the retransmission timeout is absent, then present; handling it after it expires retransmits")
    func retransmission() throws {
        let pair = try TLSPair(client: try Self.client(), server: try Self.server())
        #expect(pair.client.dtlsTimeout == nil)
        #expect(throws: UsageError.self) { try pair.client.setRetransmissionTimeout(initial: .zero) }
        #expect(throws: UsageError.self) { try pair.client.setRetransmissionTimeout(initial: .seconds(61)) }
        // Timings leave room for a loaded machine: only a stall of 300 ms between two lines could upset them.
        try pair.client.setRetransmissionTimeout(initial: .milliseconds(300))
        #expect(sslErrorCase { try pair.client.doHandshake() } == .wantRead)
        let timeout = try #require(pair.client.dtlsTimeout)
        #expect(timeout > .zero && timeout <= .milliseconds(300))
        #expect(try pair.client.handleDTLSTimeout() == false, "not expired yet")

        // The ClientHello is lost.
        let first = try pair.client.bioRead(max: 4096)
        #expect(!first.isEmpty)
        #expect(pair.client.pendingCiphertext == 0)
        Thread.sleep(forTimeInterval: 0.35)
        #expect(pair.client.dtlsTimeout == .zero, "expired")
        #expect(try pair.client.handleDTLSTimeout() == true)
        let again = try pair.client.bioRead(max: 4096)
        #expect(again.count == first.count, "the same ClientHello, sent again")
        // The timer restarted; each later timeout doubles, up to 60 s.
        let next = try #require(pair.client.dtlsTimeout)
        #expect(next > .zero && next <= .milliseconds(600))
        #expect(dtlsTimerTrampoline(nil, 0) == 1_000_000, "OpenSSL's 1 s without a connection's own")
        #expect(dtlsTimerTrampoline(nil, 300_000) == 600_000)
        #expect(dtlsTimerTrampoline(nil, 50_000_000) == 60_000_000)

        // The default first timeout is OpenSSL's 1 s.
        let plain = try TLSPair(client: try Self.client(), server: try Self.server())
        _ = sslErrorCase { try plain.client.doHandshake() }
        let standard = try #require(plain.client.dtlsTimeout)
        #expect(standard > .zero && standard <= .seconds(1))
        expectErrorQueueEmpty()
    }

    @Test("I03 MTU: setting the ciphertext MTU bounds the cleartext MTU and the datagrams; too small is refused")
    func mtu() throws {
        let pair = try TLSPair(client: try Self.client(), server: try Self.server())
        #expect(pair.client.cleartextMTU == nil, "no cipher yet")
        #expect(throws: OpenSSLError.self) { try pair.client.setCiphertextMTU(10) }
        try pair.client.setCiphertextMTU(1000)
        try pair.server.setCiphertextMTU(1000)
        #expect(pair.client.options.contains(.noQueryMTU))
        try Self.cookieExchange(pair)
        try pair.handshake()
        let cleartext = try #require(pair.client.cleartextMTU)
        #expect(cleartext > 900 && cleartext < 1000, "\(cleartext)")
        let payload = [UInt8](repeating: 0x42, count: cleartext)
        #expect(try pair.client.write(payload) == cleartext)
        let datagram = pair.client.pendingCiphertext
        #expect(datagram > cleartext && datagram <= 1000, "one record within the MTU: \(datagram)")
        try pair.pump()
        #expect(try pair.server.read(max: 2000) == payload)

        try pair.client.setCiphertextMTU(600)
        #expect(try #require(pair.client.cleartextMTU) < 600)
        expectErrorQueueEmpty()
    }

    @Test("I03 SRTP profiles are negotiated over DTLS; unknown and empty lists are refused")
    func srtp() throws {
        let server = try Self.server()
        try server.setSRTPProfiles(["SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM"])
        let client = try Self.client()
        try client.setSRTPProfiles(["SRTP_AEAD_AES_128_GCM"])
        let pair = try TLSPair(client: client, server: server)
        #expect(pair.client.selectedSRTPProfile == nil)
        try Self.cookieExchange(pair)
        try pair.handshake()
        #expect(pair.client.selectedSRTPProfile == "SRTP_AEAD_AES_128_GCM")
        #expect(pair.server.selectedSRTPProfile == "SRTP_AEAD_AES_128_GCM")
        let other = try Context(.dtls)
        #expect(throws: OpenSSLError.self) { try other.setSRTPProfiles(["SRTP_NOPE"]) }
        #expect(throws: OpenSSLError.self) { try other.setSRTPProfiles([]) }
        expectErrorQueueEmpty()
    }

    @Test("I03 DTLS over UDP sockets on 127.0.0.1: listen, handshake, data both ways")
    func overUDP() throws {
        let serverSocket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
        let clientSocket = try UDPSocket.bind(host: "127.0.0.1", port: 0)
        try serverSocket.connect(host: "127.0.0.1", port: clientSocket.localPort)
        try clientSocket.connect(host: "127.0.0.1", port: serverSocket.localPort)
        #expect(throws: SocketError.self) { try UDPSocket.bind(host: "localhost", port: 0) }

        let serverContext = try Self.server()
        let done = DispatchSemaphore(value: 0)
        let failure = LockedBox<String?>(nil)
        let received = LockedBox<[UInt8]>([])
        Thread.detachNewThread {
            defer { done.signal() }
            do {
                let connection = try Connection(serverContext, transport: serverSocket)
                connection.setAcceptState()
                let deadline = Date() + 10
                var listening = true
                while listening {
                    switch Result(catching: { () throws(SSLError) in try connection.dtlsListen() }) {
                    case .success: listening = false
                    case .failure(.wantRead) where Date() < deadline: continue
                    case .failure(let error): throw error
                    }
                }
                try connection.doHandshake()
                let request = try connection.read(max: 2000)
                received.set(request)
                try connection.writeAll(Array("echo: ".utf8) + request)
            } catch {
                failure.set("\(error)")
            }
        }
        try serverSocket.setReadTimeout(.seconds(5))
        try clientSocket.setReadTimeout(.seconds(5))
        let client = try Connection(try Self.client(), transport: clientSocket)
        client.setConnectState()
        try client.setServerName("localhost")
        try client.doHandshake()
        #expect(client.protocolVersion == .dtls1_2)
        try client.writeAll(Array("ping over UDP".utf8))
        let reply = try client.read(max: 2000)
        #expect(reply == Array("echo: ping over UDP".utf8))
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(failure.get() == nil)
        #expect(received.get() == Array("ping over UDP".utf8))
        serverSocket.close()
        clientSocket.close()
        #expect(serverSocket.fileDescriptor == nil)
        expectErrorQueueEmpty()
    }
}
