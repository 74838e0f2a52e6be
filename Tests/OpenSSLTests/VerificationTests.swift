import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Peer verification during handshakes (CONFORMANCE V01–V14).
@Suite("Verification")
struct VerificationTests {
    static var pki: TestPKI { TestPKI.shared }

    struct Refusal: Error, Equatable { let reason: String }

    /// A client context trusting nothing, verifying the peer through `callback`.
    static func untrustingClient(_ mode: VerifyMode = .peer, callback: Context.VerifyCallback? = nil) throws -> Context {
        let context = try Context(.tlsClient)
        try context.setVerify(mode, callback: callback)
        return context
    }

    @Test("V01 the verify callback gets the handshaking Connection and an inspectable certificate")
    func callbackSeesConnection() throws {
        let seen = LockedBox<[String]>([])
        let identity = LockedBox<ObjectIdentifier?>(nil)
        let client = try Self.untrustingClient { connection, certificate, _, depth, _ in
            identity.set(ObjectIdentifier(connection))
            let name = try certificate.subject.commonName ?? "-"
            seen.mutate { $0.append("\(depth):\(name)") }
            return true
        }
        let pair = try TLSPair(client: client, server: try TestContexts.server())
        try pair.handshake()
        #expect(identity.get() == ObjectIdentifier(pair.client))
        #expect(seen.get().contains("0:localhost"))
        #expect(seen.get().contains("1:Test Intermediate CA"))
    }

    @Test(
        "V02 an untrusted self-signed server: (18, 0, false) then (0, 0, true); yes succeeds, no fails with certificate verify failed"
    )
    func selfSignedServer() throws {
        let (key, certificate) = try TestContexts.selfSignedServer()
        let calls = LockedBox<[(Int32, Int, Bool)]>([])
        let client = try Self.untrustingClient { _, _, error, depth, ok in
            calls.mutate { $0.append((error.rawValue, depth, ok)) }
            return true
        }
        let server = try Context.server(certificate: certificate, key: key)
        try TLSPair(client: client, server: server).handshake()
        let recorded = calls.get()
        #expect(recorded.count == 2)
        #expect(recorded.first.map { [18, 20, 21].contains($0.0) && $0.1 == 0 && !$0.2 } == true, "\(recorded)")
        #expect(recorded.last.map { $0.0 == 0 && $0.1 == 0 && $0.2 } == true, "\(recorded)")

        let refusing = try Self.untrustingClient { _, _, _, _, _ in false }
        let pair = try TLSPair(client: refusing, server: server)
        let failure = try #require(throws: TLSPair.Failure.self) { try pair.handshake() }
        #expect(failure.side == .client)
        #expect(failure.error.openSSLError?.hasReason("certificate verify failed") == true)
        // The server got the client's alert.
        #expect(sslErrorCase { try pair.server.doHandshake() } == .ssl)
        expectErrorQueueEmpty()
    }

    @Test("V03 an error thrown by the verify callback comes out of doHandshake unchanged, on its own connection only")
    func callbackErrorPropagates() throws {
        let client = try Self.untrustingClient { _, _, _, _, _ in throw Refusal(reason: "context-level") }
        let pair = try TLSPair(client: client, server: try TestContexts.server())
        let failure = try #require(throws: TLSPair.Failure.self) { try pair.handshake() }
        guard case .callback(let error) = failure.error else {
            Issue.record("expected .callback, got \(failure.error)")
            return
        }
        #expect(error as? Refusal == Refusal(reason: "context-level"))

        // A callback set on one connection only; a sibling connection from the same context is unaffected.
        let shared = try Self.untrustingClient { _, _, _, _, _ in true }
        let failing = try TLSPair(client: shared, server: try TestContexts.server())
        failing.client.setVerify(.peer) { _, _, _, _, _ in throw Refusal(reason: "connection-level") }
        let healthy = try TLSPair(client: shared, server: try TestContexts.server())
        let second = try #require(throws: TLSPair.Failure.self) { try failing.handshake() }
        guard case .callback(let connectionError) = second.error else {
            Issue.record("expected .callback, got \(second.error)")
            return
        }
        #expect(connectionError as? Refusal == Refusal(reason: "connection-level"))
        try healthy.handshake()
        #expect(healthy.client.isHandshakeDone)
        expectErrorQueueEmpty()
    }

    @Test("V04 with .peer and no callback an untrusted server fails; with .none it succeeds")
    func modeWithoutCallback() throws {
        let (key, certificate) = try TestContexts.selfSignedServer()
        let server = try Context.server(certificate: certificate, key: key)
        let strict = try Self.untrustingClient(.peer)
        let failure = try #require(throws: TLSPair.Failure.self) {
            try TLSPair(client: strict, server: server).handshake()
        }
        #expect(failure.error.openSSLError?.hasReason("certificate verify failed") == true)
        let lax = try Self.untrustingClient(.none)
        let pair = try TLSPair(client: lax, server: server)
        try pair.handshake()
        #expect(pair.client.verifyResult == .depthZeroSelfSignedCert)
        #expect(pair.client.verifiedChain == nil)
        #expect(pair.client.peerCertificateChain == [certificate])
    }

    @Test(
        "V05 replacing callbacks and dropping their owners never crashes; a connection keeps its context's callback; connection-level setVerify leaves the context alone"
    )
    func callbackLifetimes() throws {
        var pair: TLSPair?
        do {
            let owner = LockedBox(0)
            let context = try Self.untrustingClient { _, _, _, _, _ in
                owner.mutate { $0 += 1 }
                return true
            }
            pair = try TLSPair(client: context, server: try TestContexts.server())
        }
        // The context and the closure's owner are gone from this scope; the connection keeps them.
        try #require(pair).handshake()
        let context = try Self.untrustingClient(.peer) { _, _, _, _, _ in true }
        let connection = try Connection(context)
        connection.setVerify(.none)
        connection.setVerify([.peer, .failIfNoPeerCertificate]) { _, _, _, _, _ in false }
        #expect(context.verifyMode == .peer)
        #expect(connection.verifyMode == [.peer, .failIfNoPeerCertificate])
    }

    @Test("V06 verify depth and mode round-trip")
    func depthAndMode() throws {
        let context = try Context(.tls)
        try context.setVerify([.peer, .failIfNoPeerCertificate, .clientOnce])
        #expect(context.verifyMode == [.peer, .failIfNoPeerCertificate, .clientOnce])
        try context.setVerifyDepth(7)
        #expect(context.verifyDepth == 7)
        try context.setVerify(.none)
        #expect(context.verifyMode == .none)
    }

    @Test("V07 trust from a CA file, a hashed directory and the context's store; missing paths throw")
    func trustSources() throws {
        let directory = try TemporaryDirectory()
        try Self.pki.writePEMFiles(to: directory.url)
        let hashed = directory.path("hashed")
        try FileManager.default.createDirectory(atPath: hashed, withIntermediateDirectories: true)
        let hash = String(format: "%08x", try Self.pki.root.subject.hash)
        try FileManager.default.copyItem(atPath: directory.path("root.pem"), toPath: hashed + "/\(hash).0")

        for way in ["file", "directory", "store"] {
            let client = try Context(.tlsClient)
            try client.setVerify(.peer)
            switch way {
            case "file": try client.loadVerifyLocations(file: directory.path("root.pem"))
            case "directory": try client.loadVerifyLocations(directory: hashed)
            default: try client.certificateStore.add(Self.pki.root)
            }
            try TLSPair(client: client, server: try TestContexts.server()).handshake()
        }
        let context = try Context(.tlsClient)
        #expect(throws: OpenSSLError.self) { try context.loadVerifyLocations(file: directory.path("missing.pem")) }
        #expect(throws: OpenSSLError.self) { try context.loadVerifyLocations(directory: directory.path("missing")) }
        #expect(throws: OpenSSLError.self) { try context.loadVerifyLocations() }
        expectErrorQueueEmpty()
    }

    @Test("V08 a server sending its chain (extra chain certificates or a chain file) verifies against the root alone")
    func serverChain() throws {
        let directory = try TemporaryDirectory()
        try Self.pki.writePEMFiles(to: directory.url)
        let viaExtra = try Context.server(certificate: Self.pki.server, key: Self.pki.serverKey, chain: [Self.pki.intermediate])
        #expect(viaExtra.extraChainCertificates == [Self.pki.intermediate])
        let viaFile = try Context(.tlsServer)
        try viaFile.useCertificateChainFile(directory.path("chain.pem"))
        try viaFile.usePrivateKeyFile(directory.path("server-key.pem"))
        try viaFile.checkPrivateKey()
        for server in [viaExtra, viaFile] {
            let client = try Context(.tlsClient)
            try client.trust([Self.pki.root])
            try client.setVerify([.peer, .failIfNoPeerCertificate])
            let pair = try TLSPair(client: client, server: server)
            try pair.handshake()
            #expect(pair.client.verifiedChain == [Self.pki.server, Self.pki.intermediate, Self.pki.root])
        }
        // Without the intermediate, the root alone is not enough.
        let bare = try Context.server(certificate: Self.pki.server, key: Self.pki.serverKey)
        let failure = try #require(throws: TLSPair.Failure.self) {
            try TLSPair(client: try TestContexts.client(), server: bare).handshake()
        }
        #expect(failure.side == .client)
    }

    @Test(
        "V09 peer chain as sent (even under .none); verified chain only on success; none on a server without client certificate")
    func chains() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        #expect(pair.client.peerCertificateChain == [Self.pki.server, Self.pki.intermediate])
        #expect(pair.client.verifiedChain == [Self.pki.server, Self.pki.intermediate, Self.pki.root])
        #expect(pair.server.peerCertificateChain == nil)
        #expect(pair.server.verifiedChain == nil)
        #expect(pair.server.peerCertificate == nil)

        let lax = try Self.untrustingClient(.none)
        let unverified = try TLSPair(client: lax, server: try TestContexts.server())
        try unverified.handshake()
        #expect(unverified.client.peerCertificateChain == [Self.pki.server, Self.pki.intermediate])
        #expect(unverified.client.verifiedChain == nil)
    }

    @Test("V10 the local certificate getter")
    func localCertificate() throws {
        let server = try TestContexts.server()
        #expect(server.certificate == Self.pki.server)
        #expect(try Connection(server).certificate == Self.pki.server)
        #expect(try Connection(try TestContexts.client()).certificate == nil)
        #expect(try Context(.tls).certificate == nil)
    }

    @Test("V11 host name checks: another name fails with hostname mismatch; an IP SAN matches; wildcards follow OpenSSL")
    func hostnames() throws {
        // Wrong host.
        let wrong = try Context.server(
            certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey, chain: [Self.pki.intermediate])
        let mismatch = try TLSPair(client: try TestContexts.client(), server: wrong)
        #expect(throws: TLSPair.Failure.self) { try mismatch.handshake() }
        #expect(mismatch.client.verifyResult == .hostnameMismatch)
        // IP address SAN.
        for (address, matches) in [("127.0.0.1", true), ("::1", true), ("127.0.0.2", false)] {
            let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server(), serverName: address)
            if matches {
                try pair.handshake()
            } else {
                #expect(throws: TLSPair.Failure.self) { try pair.handshake() }
                #expect(pair.client.verifyResult == .ipAddressMismatch)
            }
        }
        // Wildcards: *.example.com matches one label, not two, not the bare domain.
        let (key, wildcard) = try Self.pki.issueLeaf(
            commonName: "*.example.com", sans: [.dnsName("*.example.com")], issuer: Self.pki.intermediate,
            issuerKey: Self.pki.intermediateKey, notBefore: Date() - 60, notAfter: Date() + 3600)
        let server = try Context.server(certificate: wildcard, key: key, chain: [Self.pki.intermediate])
        for (host, matches) in [("www.example.com", true), ("a.b.example.com", false), ("example.com", false)] {
            let pair = try TLSPair(client: try TestContexts.client(), server: server, serverName: host)
            if matches {
                try pair.handshake()
            } else {
                #expect(throws: TLSPair.Failure.self, "\(host)") { try pair.handshake() }
                #expect(pair.client.verifyResult == .hostnameMismatch)
            }
        }
    }

    @Test("V12 a client hook that decides later stops with wantRetryVerify; the decision resumes or fails the handshake")
    func retryVerify() throws {
        for accept in [true, false] {
            let (key, certificate) = try TestContexts.selfSignedServer()
            let server = try Context.server(certificate: certificate, key: key)
            let calls = LockedBox(0)
            let client = try Context(.tlsClient)
            try client.setVerify(.peer)
            try client.setPeerVerification { _, verification in
                calls.mutate { $0 += 1 }
                #expect(verification.error?.code == .depthZeroSelfSignedCert)
                return .decideLater
            }
            let pair = try TLSPair(client: client, server: server)
            var sawRetry = false
            for _ in 0..<10 {
                let outcome = sslErrorCase { try pair.client.doHandshake() }
                if outcome == .wantRetryVerify {
                    sawRetry = true
                    #expect(pair.client.isWaitingForVerificationDecision)
                    pair.client.setVerificationDecision(accept)
                    let resumed = sslErrorCase { try pair.client.doHandshake() }
                    if accept {
                        #expect(resumed == .wantRead || resumed == nil)
                    } else {
                        #expect(resumed == .ssl)
                    }
                    break
                }
                _ = sslErrorCase { try pair.server.doHandshake() }
                try pair.pump()
            }
            #expect(sawRetry)
            #expect(calls.get() == 1)
            if accept {
                try pair.handshake()
                #expect(pair.client.isHandshakeDone)
            }
        }
    }

    @Test("V12 a server hook that decides later fails the handshake with a usage error (OpenSSL 3.0 has no server-side retry)")
    func retryVerifyOnServer() throws {
        let server = try Context.mutualTLSServer(
            certificate: Self.pki.server, key: Self.pki.serverKey,
            chain: [Self.pki.intermediate]
        ) { _, _ in .decideLater }
        let client = try Context.client(
            trusting: [Self.pki.root], certificate: Self.pki.selfSignedClient,
            key: Self.pki.selfSignedClientKey)
        let failure = try #require(throws: TLSPair.Failure.self) { try TLSPair(client: client, server: server).handshake() }
        #expect(failure.side == .server)
        guard case .callback(let error) = failure.error else {
            Issue.record("expected .callback, got \(failure.error)")
            return
        }
        #expect(error is UsageError)
    }

    @Test(
        "V13 mutual TLS: no client certificate fails; a self-signed one accepted by the hook succeeds and its fingerprint is readable"
    )
    func mutualTLS() throws {
        let remembered = LockedBox<[String]>([])
        let server = try Context.mutualTLSServer(
            certificate: Self.pki.server, key: Self.pki.serverKey,
            chain: [Self.pki.intermediate]
        ) { _, verification in
            guard let leaf = verification.leaf else { return .reject }
            remembered.mutate { $0.append((try? leaf.fingerprint(.sha256)) ?? "") }
            return .accept
        }
        let anonymous = try TestContexts.client()
        let failure = try #require(throws: TLSPair.Failure.self) { try TLSPair(client: anonymous, server: server).handshake() }
        #expect(failure.side == .server)
        #expect(failure.error.openSSLError?.hasReason("peer did not return a certificate") == true)

        let client = try Context.client(
            trusting: [Self.pki.root], certificate: Self.pki.selfSignedClient,
            key: Self.pki.selfSignedClientKey)
        let pair = try TLSPair(client: client, server: server)
        try pair.handshake()
        let fingerprint = try Self.pki.selfSignedClient.fingerprint(.sha256)
        #expect(try pair.server.peerCertificate?.fingerprint(.sha256) == fingerprint)
        #expect(remembered.get() == [fingerprint])
        #expect(pair.server.peerCertificateChain == [Self.pki.selfSignedClient])
    }

    @Test(
        "V14 the whole-chain hook: once per handshake with OpenSSL's verdict; accepts untrusted, rejects trusted, errors come out"
    )
    func wholeChainHook() throws {
        // Called once, with the peer chain and OpenSSL's success.
        let seen = LockedBox<[PeerVerification]>([])
        let client = try TestContexts.client()
        let pair = try TLSPair(client: client, server: try TestContexts.server())
        pair.client.setPeerVerification { _, verification in
            seen.mutate { $0.append(verification) }
            return .accept
        }
        try pair.handshake()
        #expect(seen.get().count == 1)
        #expect(seen.get().first?.peerChain == [Self.pki.server, Self.pki.intermediate])
        #expect(seen.get().first?.verifiedChain == [Self.pki.server, Self.pki.intermediate, Self.pki.root])
        #expect(seen.get().first?.isTrustedByOpenSSL == true)

        // Pinning: reject a fully trusted chain whose leaf is not the pinned one.
        let pinned = try Self.pki.rsaServer.fingerprint()
        let pinning = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        pinning.client.setPeerVerification { _, verification in
            (try verification.leaf?.fingerprint()) == pinned ? .accept : .reject
        }
        #expect(throws: TLSPair.Failure.self) { try pinning.handshake() }
        #expect(pinning.client.verifyResult == .applicationVerification)

        // Trust on first use: accept an untrusted self-signed server.
        let (key, certificate) = try TestContexts.selfSignedServer()
        let tofu = try TLSPair(client: try TestContexts.client(), server: try Context.server(certificate: certificate, key: key))
        tofu.client.setPeerVerification { _, verification in
            #expect(verification.error?.code == .depthZeroSelfSignedCert)
            #expect(verification.error?.depth == 0)
            return .accept
        }
        try tofu.handshake()

        // A thrown error comes out of the handshake.
        let throwing = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        throwing.client.setPeerVerification { _, _ in throw Refusal(reason: "hook") }
        let failure = try #require(throws: TLSPair.Failure.self) { try throwing.handshake() }
        guard case .callback(let error) = failure.error else {
            Issue.record("expected .callback, got \(failure.error)")
            return
        }
        #expect(error as? Refusal == Refusal(reason: "hook"))
        expectErrorQueueEmpty()
    }
}
