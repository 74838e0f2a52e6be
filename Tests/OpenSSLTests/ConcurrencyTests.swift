import Foundation
import Testing
import COpenSSL
@testable import OpenSSL

/// Objects shared between threads: one server and one client `Context` used
/// by 8 threads for mutual-TLS handshakes with callbacks, and `X509`/`PKey`
/// objects read from 8 threads at once. Run under the thread sanitizer by
/// Scripts/sanitize.sh.
///
/// The handshake count defaults to 200 (8 threads × 25) so the suite stays
/// quick; `SWIFT_OPENSSL_STRESS_HANDSHAKES=2000 swift test --filter Concurrency`
/// runs the full 2,000.
@Suite("Concurrency")
struct ConcurrencyTests {
    static var pki: TestPKI { TestPKI.shared }
    static let threads = 8

    static var handshakeCount: Int {
        let requested = ProcessInfo.processInfo.environment["SWIFT_OPENSSL_STRESS_HANDSHAKES"].flatMap(Int.init)
        return max(requested ?? 200, threads)
    }

    /// Runs `body(threadIndex)` on `count` threads started together; returns
    /// the errors they threw (an issue cannot be recorded off the test's task).
    static func onThreads(_ count: Int, timeout: TimeInterval = 600,
                          _ body: @escaping @Sendable (Int) throws -> Void) -> [String] {
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
        /// The `userInfo` of each connection the chain hook was called with.
        let hookedConnections = Locked(Set<Int>())
        let problems = Locked<[String]>([])
    }

    @Test("one server and one client Context shared by 8 threads: every mutual-TLS handshake completes, each callback sees its own connection")
    func sharedContexts() throws {
        let pki = Self.pki
        let seen = Seen()
        let server = try Context.mutualTLSServer(
            certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate], trusting: [pki.root]
        ) { connection, verification in
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
        let client = try Context.client(trusting: [pki.root], certificate: pki.client, key: pki.clientKey,
                                        chain: [pki.intermediate])
        try client.setVerify(.peer) { connection, certificate, error, depth, ok in
            seen.perCertificateCalls.withLock { $0 += 1 }
            if !ok { seen.problems.withLock { $0.append("depth \(depth): \(error)") } }
            _ = try certificate.subject.rfc2253String
            return ok && !connection.isServer
        }

        let total = Self.handshakeCount
        let perThread = total / Self.threads
        let errors = Self.onThreads(Self.threads) { thread in
            for round in 0..<perThread {
                let id = thread * 1_000_000 + round
                let clientConnection = try Connection(client)
                let serverConnection = try Connection(server)
                serverConnection.userInfo = id
                clientConnection.setConnectState()
                serverConnection.setAcceptState()
                try clientConnection.setServerName("localhost")
                try Self.handshake(clientConnection, serverConnection)
                guard serverConnection.peerCertificate?.description == pki.client.description,
                      clientConnection.verifiedChain?.count == 3 else {
                    throw Stuck(description: "handshake \(id): wrong peer or chain")
                }
                try clientConnection.writeAll(Array("ping \(id)".utf8))
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = try buffer.withUnsafeMutableBytes { try clientConnection.bioRead(into: $0) }
                try serverConnection.bioWrite(Array(buffer[..<count]))
                guard try serverConnection.read(max: 100) == Array("ping \(id)".utf8) else {
                    throw Stuck(description: "handshake \(id): data corrupted")
                }
            }
        }
        let handshakes = perThread * Self.threads
        print("concurrency: \(handshakes) mutual-TLS handshakes on \(Self.threads) threads sharing two contexts")
        #expect(errors.isEmpty, "\(errors.prefix(10))")
        #expect(seen.problems.withLock { $0 }.isEmpty, "\(seen.problems.withLock { $0.prefix(10) })")
        #expect(seen.chainHookCalls.withLock { $0 } == handshakes)
        // Root, intermediate and leaf: three per-certificate calls per handshake.
        #expect(seen.perCertificateCalls.withLock { $0 } == 3 * handshakes)
        #expect(seen.hookedConnections.withLock { $0.count } == handshakes)
        expectErrorQueueEmpty()
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
            Facts(subject: try certificate.subject.rfc2253String, issuer: try certificate.issuer.oneLineString,
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
                      try !publicKey.verify(signature: signature, for: message + [0]) else {
                    throw Stuck(description: "round \(round): signature check failed")
                }
                let rsaSignature = try rsa.sign(message, digest: .sha256)
                guard try rsa.verify(signature: rsaSignature, for: message, digest: .sha256),
                      certificate.isSigned(by: pki.intermediateKey),
                      certificate.matches(host: "localhost"),
                      key.isPublicKeyEqual(to: publicKey) else {
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
