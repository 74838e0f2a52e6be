import Foundation
import Testing
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Objects shared between threads: one server and one client `Context` used
/// by 8 threads for mutual-TLS handshakes with callbacks, and `X509`/`PKey`
/// objects read from 8 threads at once. Run under the thread sanitizer by
/// Scripts/sanitize.sh.
///
/// The handshake count defaults to 256 (8 threads × 32) so the suite stays
/// quick; `SWIFT_OPENSSL_STRESS_HANDSHAKES=2000 swift test --filter Concurrency`
/// runs the full 2,000.
@Suite("Concurrency")
struct ConcurrencyTests {
    static var pki: TestPKI { TestPKI.shared }
    static let threads = 8

    static var handshakeCount: Int {
        let requested = ProcessInfo.processInfo.environment["SWIFT_OPENSSL_STRESS_HANDSHAKES"].flatMap(Int.init)
        return max(requested ?? 256, threads * 2)
    }

    /// Runs `body(threadIndex)` on `count` threads started together; returns
    /// the errors they threw (an issue cannot be recorded off the test's task).
    static func onThreads(
        _ count: Int, timeout: TimeInterval = 600,
        _ body: @escaping @Sendable (Int) throws -> Void
    ) -> [String] {
        let errors = Locked<[String]>([])
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for index in 0..<count {
            group.enter()
            let thread = Thread {
                start.wait()
                do {
                    try body(index)
                } catch {
                    errors.withLock { $0.append("thread \(index): \(error)") }
                }
                // Each thread leaves its error queue empty.
                if ERR_peek_error() != 0 {
                    errors.withLock { $0.append("thread \(index): error left on OpenSSL's queue") }
                }
                group.leave()
            }
            thread.start()
        }
        for _ in 0..<count { start.signal() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            errors.withLock { $0.append("threads did not finish in \(Int(timeout)) s") }
        }
        return errors.withLock { $0 }
    }

    struct Stuck: Error, CustomStringConvertible {
        let description: String
    }

    /// A memory-BIO handshake on this thread, bounded; throws the side's error.
    static func handshake(_ client: Connection, _ server: Connection) throws {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        func move(_ from: Connection, _ to: Connection) throws -> Bool {
            var moved = false
            while from.pendingCiphertext > 0 {
                let count = try buffer.withUnsafeMutableBytes { try from.bioRead(into: $0) }
                try buffer.withUnsafeBytes { _ = try to.bioWrite(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                moved = true
            }
            return moved
        }
        for _ in 0..<64 {
            for connection in [client, server] where !connection.isHandshakeDone {
                switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
                case .success, .failure(.wantRead): break
                case .failure(let error): throw error
                }
            }
            let moved = try move(client, server) || move(server, client)
            if client.isHandshakeDone && server.isHandshakeDone && !moved { return }
        }
        throw Stuck(description: "handshake did not finish in 64 rounds")
    }

    /// What the callbacks saw, from every thread.
    final class Seen: Sendable {
        let chainHookCalls = Locked(0)
        let perCertificateCalls = Locked(0)
        let serverNameCalls = Locked(0)
        let alpnCalls = Locked(0)
        /// The `userInfo` of each connection the chain hook was called with.
        let hookedConnections = Locked(Set<Int>())
        let problems = Locked<[String]>([])
    }

    @Test(
        "one server and one client Context shared by 8 threads: mutual-TLS handshakes with verify hooks, SNI, ALPN and resumption; each callback sees its own connection"
    )
    func sharedContexts() throws {
        let pki = Self.pki
        let seen = Seen()
        let verifier: Context.PeerVerifier = { connection, verification in
            seen.chainHookCalls.withLock { $0 += 1 }
            guard let id = connection.userInfo as? Int else {
                seen.problems.withLock { $0.append("chain hook: connection without its id") }
                return .reject
            }
            seen.hookedConnections.withLock { _ = $0.insert(id) }
            guard verification.error == nil, try verification.leaf?.subject.commonName == "Test Client" else {
                seen.problems.withLock { $0.append("chain hook: \(String(describing: verification.error))") }
                return .reject
            }
            return .accept
        }
        // SNI moves odd-numbered connections to a second context (same certificate and policy).
        let alternative = try Context.mutualTLSServer(
            certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate], trusting: [pki.root], verifier: verifier)
        let server = try Context.mutualTLSServer(
            certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate], trusting: [pki.root], verifier: verifier)
        for context in [server, alternative] {
            try context.setALPNSelectCallback { connection, offered in
                seen.alpnCalls.withLock { $0 += 1 }
                return offered.first { $0 == "h2" }
            }
        }
        try server.setServerNameCallback { connection in
            seen.serverNameCalls.withLock { $0 += 1 }
            guard connection.serverName == "localhost" else {
                throw Stuck(description: "SNI: \(connection.serverName ?? "none")")
            }
            if let id = connection.userInfo as? Int, id % 2 == 1 { try connection.setContext(alternative) }
        }
        let client = try Context.client(
            trusting: [pki.root], certificate: pki.client, key: pki.clientKey,
            chain: [pki.intermediate])
        try client.setALPNProtocols(["h2", "http/1.1"])
        try client.setVerify(.peer) { connection, certificate, error, depth, ok in
            seen.perCertificateCalls.withLock { $0 += 1 }
            if !ok { seen.problems.withLock { $0.append("depth \(depth): \(error)") } }
            _ = try certificate.subject.rfc2253String
            return ok && !connection.isServer
        }

        let total = Self.handshakeCount
        let perThread = total / Self.threads / 2 * 2  // pairs: a full handshake, then one resuming it
        let resumed = Locked(0)
        let errors = Self.onThreads(Self.threads) { thread in
            var saved: Session?
            for round in 0..<perThread {
                let id = thread * 1_000_000 + round
                let clientConnection = try Connection(client)
                let serverConnection = try Connection(server)
                serverConnection.userInfo = id
                clientConnection.setConnectState()
                serverConnection.setAcceptState()
                try clientConnection.setServerName("localhost")
                if round % 2 == 1, let session = saved { try clientConnection.setSession(session) }
                try Self.handshake(clientConnection, serverConnection)
                // A resumed session keeps the peer's certificate and verdict, not the verified chain.
                guard serverConnection.peerCertificate?.description == pki.client.description,
                    clientConnection.verifyResult == .ok,
                    round % 2 == 1 || clientConnection.verifiedChain?.count == 3,
                    clientConnection.alpnProtocol == "h2", serverConnection.alpnProtocol == "h2"
                else {
                    throw Stuck(description: "handshake \(id): wrong peer, chain or ALPN")
                }
                if round % 2 == 1 {
                    guard clientConnection.isSessionReused else { throw Stuck(description: "handshake \(id) not resumed") }
                    resumed.withLock { $0 += 1 }
                }
                try Self.exchange(Array("ping \(id)".utf8), from: clientConnection, to: serverConnection)
                // The reply carries TLS 1.3's session tickets.
                try Self.exchange(Array("pong \(id)".utf8), from: serverConnection, to: clientConnection)
                try Self.closeCleanly(clientConnection, serverConnection)
                saved = round % 2 == 0 ? clientConnection.session : nil
            }
        }
        let handshakes = perThread * Self.threads
        let full = handshakes / 2
        print(
            "concurrency: \(handshakes) mutual-TLS handshakes (\(resumed.withLock { $0 }) resumed) on \(Self.threads) threads sharing the contexts"
        )
        #expect(errors.isEmpty, "\(errors.prefix(10))")
        #expect(seen.problems.withLock { $0 }.isEmpty, "\(seen.problems.withLock { $0.prefix(10) })")
        #expect(resumed.withLock { $0 } == handshakes - full)
        // Full handshakes only verify: the chain hook once, the per-certificate callback for root, intermediate, leaf.
        #expect(seen.chainHookCalls.withLock { $0 } == full)
        #expect(seen.perCertificateCalls.withLock { $0 } == 3 * full)
        #expect(seen.hookedConnections.withLock { $0.count } == full)
        #expect(seen.serverNameCalls.withLock { $0 } == handshakes)
        #expect(seen.alpnCalls.withLock { $0 } == handshakes)
        expectErrorQueueEmpty()
    }

    /// Writes `message` on one side, moves it, reads it on the other.
    static func exchange(_ message: [UInt8], from sender: Connection, to receiver: Connection) throws {
        try sender.writeAll(message)
        while sender.pendingCiphertext > 0 { try receiver.bioWrite(try sender.bioRead(max: 16_384)) }
        var received: [UInt8] = []
        while received.count < message.count { received += try receiver.read(max: 100) }
        guard received == message else { throw Stuck(description: "data corrupted") }
    }

    /// close_notify both ways (a session stays resumable only after a clean shutdown).
    static func closeCleanly(_ client: Connection, _ server: Connection) throws {
        _ = try client.shutdown()
        while client.pendingCiphertext > 0 { try server.bioWrite(try client.bioRead(max: 16_384)) }
        _ = try server.shutdown()
        while server.pendingCiphertext > 0 { try client.bioWrite(try server.bioRead(max: 16_384)) }
        guard try client.shutdown() else { throw Stuck(description: "shutdown did not complete") }
    }

    @Test("X509 and PKey objects read from 8 threads at once give the same answers as on one thread")
    func sharedCertificatesAndKeys() throws {
        let pki = Self.pki
        let certificate = pki.server
        let key = pki.serverKey
        let publicKey = try key.publicKey()
        let rsa = pki.rsaServerKey
        let store = try X509Store()
        try store.add(pki.root)

        struct Facts: Equatable, Sendable {
            let subject, issuer, text, pem, fingerprint, publicKeyPEM, rsaPublicKeyPEM: String
            let der: [UInt8]
            let sans: [GeneralName]
            let extensions: [X509Extension]
            let bits: Int
            let chainLength: Int
        }
        @Sendable func facts() throws -> Facts {
            Facts(
                subject: try certificate.subject.rfc2253String, issuer: try certificate.issuer.oneLineString,
                text: try certificate.text, pem: try certificate.pem, fingerprint: try certificate.fingerprint(),
                publicKeyPEM: try key.publicKeyPEM(), rsaPublicKeyPEM: try rsa.publicKeyPEM(),
                der: try certificate.der, sans: try certificate.subjectAlternativeNames ?? [],
                extensions: certificate.extensions, bits: try certificate.publicKey.bits,
                chainLength: try store.verify(certificate, untrusted: [pki.intermediate]).count)
        }
        let expected = try facts()
        let rounds = max(Self.handshakeCount / 8, 25)
        let errors = Self.onThreads(Self.threads) { thread in
            for round in 0..<rounds {
                guard try facts() == expected else { throw Stuck(description: "round \(round): facts differ") }
                let message = Array("thread \(thread) round \(round)".utf8)
                let signature = try key.sign(message)
                guard try publicKey.verify(signature: signature, for: message),
                    try key.verify(signature: signature, for: message),
                    try !publicKey.verify(signature: signature, for: message + [0])
                else {
                    throw Stuck(description: "round \(round): signature check failed")
                }
                let rsaSignature = try rsa.sign(message, digest: .sha256)
                guard try rsa.verify(signature: rsaSignature, for: message, digest: .sha256),
                    certificate.isSigned(by: pki.intermediateKey),
                    certificate.matches(host: "localhost"),
                    key.isPublicKeyEqual(to: publicKey)
                else {
                    throw Stuck(description: "round \(round): check failed")
                }
                _ = certificate.hashValue
                _ = try PKey(privateKeyPEM: try key.privateKeyPEM()).isPublicKeyEqual(to: key)
            }
        }
        print("concurrency: \(rounds) rounds of reads of one X509, three PKeys and one X509Store on \(Self.threads) threads")
        #expect(errors.isEmpty, "\(errors.prefix(10))")
        expectErrorQueueEmpty()
    }

    @Test("connections are made from one context on 8 threads while others handshake: it freezes once and stays usable")
    func contextFreezesUnderConcurrentUse() throws {
        let context = try TestContexts.server()
        #expect(!context.isInUse)
        let clientContext = try TestContexts.client()
        let refused = Locked(0)
        let errors = Self.onThreads(Self.threads) { _ in
            for _ in 0..<5 {
                let server = try Connection(context)
                let client = try Connection(clientContext)
                server.setAcceptState()
                client.setConnectState()
                try client.setServerName("localhost")
                try Self.handshake(client, server)
                do {
                    try context.setCipherList("ECDHE+AESGCM")
                } catch is UsageError {
                    refused.withLock { $0 += 1 }
                }
            }
        }
        #expect(errors.isEmpty, "\(errors.prefix(10))")
        #expect(context.isInUse)
        #expect(refused.withLock { $0 } == Self.threads * 5)
        expectErrorQueueEmpty()
    }
}
