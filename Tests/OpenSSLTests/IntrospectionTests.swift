import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// What a connection reports about its handshake, keying material export,
/// and what happens after the handshake (CONFORMANCE I01, I02, S02).
@Suite("Introspection and post-handshake")
struct IntrospectionTests {
    static var pki: TestPKI { TestPKI.shared }

    @Test(
        "I01 finished messages, randoms, cipher, version and group: absent before, matching on both sides after",
        arguments: bothTLSVersions)
    func handshakeDetails(version: ProtocolVersion) throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(version))
        for connection in [pair.client, pair.server] {
            #expect(connection.finished == nil)
            #expect(connection.peerFinished == nil)
            #expect(connection.cipherName == nil)
            #expect(connection.cipherBits == nil)
            #expect(connection.protocolVersion == nil)
            #expect(connection.groupName == nil)
            #expect(connection.negotiatedGroupID == nil)
            #expect(connection.clientRandom == nil)
            #expect(connection.serverRandom == nil)
            #expect(connection.masterKey == nil)
            #expect(connection.peerTemporaryKey == nil)
            #expect(connection.peerSignatureDigest == nil)
        }
        try pair.handshake()
        let clientFinished = try #require(pair.client.finished)
        let serverFinished = try #require(pair.server.finished)
        #expect(clientFinished == pair.server.peerFinished)
        #expect(serverFinished == pair.client.peerFinished)
        #expect(clientFinished != serverFinished)
        // TLS 1.2: 12 bytes of PRF output; TLS 1.3: an HMAC the size of the suite's hash.
        #expect(version == .tls1_3 ? [32, 48].contains(clientFinished.count) : clientFinished.count == 12)

        let clientRandom = try #require(pair.client.clientRandom)
        #expect(clientRandom.count == 32)
        #expect(clientRandom == pair.server.clientRandom)
        #expect(pair.client.serverRandom == pair.server.serverRandom)
        #expect(clientRandom != pair.client.serverRandom)
        if version == .tls1_2 {
            // The master secret is a TLS 1.2 notion; TLS 1.3 sessions keep a resumption secret instead.
            #expect(pair.client.masterKey?.count == 48)
            #expect(pair.client.masterKey == pair.server.masterKey)
        }

        #expect(pair.client.cipherName == pair.server.cipherName)
        #expect(pair.client.cipherBits == pair.server.cipherBits)
        #expect(pair.client.cipherVersion == pair.server.cipherVersion)
        #expect(pair.client.protocolVersion == version)
        #expect(pair.server.protocolVersion == version)
        #expect(pair.client.protocolVersionName == pair.server.protocolVersionName)
        let cipher = try #require(pair.client.cipherName)
        #expect(pair.client.cipherList.contains(cipher))
        #expect(pair.server.cipherList.contains(cipher))

        // The default groups: X25519 on TLS 1.2 and on 3.0; TLS 1.3 on 3.5
        // settles on the X25519MLKEM768 hybrid, a KEM with no peer key.
        let expectedGroup = version == .tls1_3 ? RuntimeOpenSSL.defaultTLS13GroupName : "x25519"
        let expectedGroupID = version == .tls1_3 ? RuntimeOpenSSL.defaultTLS13GroupID : NID_X25519
        #expect(pair.client.groupName == expectedGroup)
        #expect(pair.server.groupName == expectedGroup)
        #expect(pair.client.negotiatedGroupID == expectedGroupID)
        #expect(pair.server.negotiatedGroupID == expectedGroupID)
        if version == .tls1_2 || RuntimeOpenSSL.defaultTLS13HasPeerTemporaryKey {
            let temporary = try #require(pair.client.peerTemporaryKey)
            #expect(temporary.type == .x25519)
            #expect(temporary.bits == 253)
            #expect(!temporary.hasPrivateKey)
        } else {
            #expect(pair.client.peerTemporaryKey == nil)
        }
        // The server's certificate is ECDSA P-256, signed over with SHA-256.
        #expect(pair.client.peerSignatureDigest == "SHA256")
        #expect(pair.client.peerSignatureType == "id-ecPublicKey")
        // The client sent no certificate, so it signed nothing.
        #expect(pair.server.peerSignatureDigest == nil)
        #expect(pair.server.peerSignatureType == nil)
        expectErrorQueueEmpty()
    }

    @Test("I01 the group follows the configured groups; signature type follows the server's key")
    func groupsAndSignatures() throws {
        let server = try TestContexts.server(certificate: Self.pki.rsaServer, key: Self.pki.rsaServerKey)
        try server.setGroups(["P-256"])
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.handshake()
        #expect(pair.client.groupName == "secp256r1")
        #expect(pair.server.groupName == "secp256r1")
        #expect(pair.client.peerTemporaryKey?.bits == 256)
        #expect(pair.client.peerSignatureType == "RSASSA-PSS")
        #expect(pair.client.peerSignatureDigest == "SHA256")

        let ed25519 = try TestContexts.server(certificate: Self.pki.ed25519Server, key: Self.pki.ed25519ServerKey, chain: [])
        let edPair = try TLSPair(client: try TestContexts.client(trusting: [Self.pki.ed25519Root]), server: ed25519)
        try edPair.handshake()
        #expect(edPair.client.peerSignatureType == "ED25519")
        #expect(edPair.client.peerSignatureDigest == nil, "Ed25519 signs without a separate digest")
        expectErrorQueueEmpty()
    }

    @Test(
        "S02 exported keying material: the same bytes on both sides, of the asked length; another label or context differs",
        arguments: bothTLSVersions)
    func exportKeyingMaterial(version: ProtocolVersion) throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(version))
        #expect(throws: OpenSSLError.self) { try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", length: 32) }
        expectErrorQueueEmpty()
        try pair.handshake()
        for length in [1, 32, 100] {
            let client = try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", length: length)
            let server = try pair.server.exportKeyingMaterial(label: "EXPERIMENTAL test", length: length)
            #expect(client.count == length)
            #expect(client == server)
        }
        let base = try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", context: [1, 2, 3], length: 32)
        #expect(base == (try pair.server.exportKeyingMaterial(label: "EXPERIMENTAL test", context: [1, 2, 3], length: 32)))
        #expect(base != (try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL other", context: [1, 2, 3], length: 32)))
        #expect(base != (try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", context: [1, 2, 4], length: 32)))
        let none = try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", context: nil, length: 32)
        let empty = try pair.client.exportKeyingMaterial(label: "EXPERIMENTAL test", context: [], length: 32)
        // RFC 5705 tells "no context" from "empty context"; TLS 1.3 (RFC 8446 §7.5) does not.
        #expect((none == empty) == (version == .tls1_3))
        #expect(throws: OpenSSLError.self) { try pair.client.exportKeyingMaterial(label: "x", length: 0) }
        expectErrorQueueEmpty()
    }

    @Test("I02 TLS 1.2 renegotiation: count 0, start one, pending, after a round count 1; data still flows")
    func renegotiation() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(.tls1_2))
        try pair.handshake()
        #expect(try pair.send(Array("hello".utf8), from: pair.server, to: pair.client) == Array("hello".utf8))
        #expect(pair.server.totalRenegotiations == 0)
        #expect(!pair.server.isRenegotiationPending)
        try pair.server.renegotiate()
        #expect(pair.server.isRenegotiationPending)
        try Self.runRenegotiation(pair)
        #expect(pair.server.totalRenegotiations == 1)
        #expect(pair.client.totalRenegotiations == 1)
        #expect(!pair.server.isRenegotiationPending)
        #expect(try pair.send(Array("after".utf8), from: pair.client, to: pair.server) == Array("after".utf8))
        #expect(try pair.send(Array("again".utf8), from: pair.server, to: pair.client) == Array("again".utf8))
        expectErrorQueueEmpty()
    }

    @Test(
        "I02 renegotiation refused: a client with .noRenegotiation fails the server's; none on TLS 1.3 or with the option set locally"
    )
    func renegotiationRefused() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(.tls1_2))
        pair.client.setOptions(.noRenegotiation)
        #expect(pair.client.options.contains(.noRenegotiation))
        try pair.handshake()
        try pair.server.renegotiate()
        let outcome = sslErrorCase { try Self.runRenegotiation(pair) }
        #expect(outcome == .ssl, "the server's renegotiation fails when the client refuses")
        #expect(throws: OpenSSLError.self) { try pair.client.renegotiate() }
        pair.client.clearOptions(.noRenegotiation)
        #expect(!pair.client.options.contains(.noRenegotiation))

        let modern = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(.tls1_3))
        try modern.handshake()
        let refused = try #require(throws: OpenSSLError.self) { try modern.server.renegotiate() }
        #expect(refused.hasReason("wrong ssl version"), "\(refused)")
        #expect(!modern.server.isRenegotiationPending)
        expectErrorQueueEmpty()
    }

    /// Drives a server-initiated renegotiation until it is no longer pending (bounded).
    static func runRenegotiation(_ pair: TLSPair) throws {
        for _ in 0..<20 {
            for connection in [pair.server, pair.client] {
                // Reading drives both sides: it sends the pending request, and an
                // established server only takes the client's new ClientHello while reading.
                let outcome = Result { () throws(SSLError) in _ = try connection.read(max: 1) }
                if case .failure(let error) = outcome, !error.isWant { throw error }
                try pair.pump()
            }
            if !pair.server.isRenegotiationPending { return }
        }
        Issue.record("renegotiation did not finish in 20 rounds")
    }

    @Test("TLS 1.3 key update: requested by one side, sent with its next write, answered by the peer; refused on TLS 1.2")
    func keyUpdate() throws {
        let states = LockedBox<[String]>([])
        let server = try VersionedContexts.server(.tls1_3)
        try server.setInfoCallback { _, event in states.mutate { $0.append(event.state) } }
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        #expect(throws: OpenSSLError.self) { try pair.client.requestKeyUpdate() }
        try pair.handshake()
        #expect(pair.client.pendingKeyUpdate == nil)
        try pair.client.requestKeyUpdate(.requested)
        #expect(pair.client.pendingKeyUpdate == .requested)
        #expect(throws: OpenSSLError.self) { try pair.client.requestKeyUpdate(.notRequested) }
        states.set([])
        #expect(try pair.send(Array("one".utf8), from: pair.client, to: pair.server) == Array("one".utf8))
        #expect(pair.client.pendingKeyUpdate == nil)
        // The server read the update and answered with its own, unprompted.
        let seen = states.get()
        #expect(seen.contains { $0.contains("read client key update") || $0.contains("key update") }, "\(seen)")
        #expect(pair.server.pendingKeyUpdate == .notRequested, "states: \(seen)")
        #expect(try pair.send(Array("two".utf8), from: pair.server, to: pair.client) == Array("two".utf8))
        try pair.server.requestKeyUpdate(.notRequested)
        #expect(pair.server.pendingKeyUpdate == .notRequested)
        #expect(try pair.send(Array("three".utf8), from: pair.server, to: pair.client) == Array("three".utf8))
        #expect(pair.server.pendingKeyUpdate == nil)

        let old = try TLSPair(client: try TestContexts.client(), server: try VersionedContexts.server(.tls1_2))
        try old.handshake()
        #expect(throws: OpenSSLError.self) { try old.client.requestKeyUpdate() }
        expectErrorQueueEmpty()
    }

    /// A TLS 1.3 server that asks for client certificates only after the handshake.
    static func postHandshakeServer() throws -> Context {
        let server = try VersionedContexts.server(.tls1_3)
        try server.trust([Self.pki.root])
        try server.setVerify([.peer, .failIfNoPeerCertificate, .postHandshake])
        return server
    }

    static func certificateClient(allowingPostHandshake: Bool) throws -> Context {
        let client = try Context.client(
            trusting: [Self.pki.root], certificate: Self.pki.client,
            key: Self.pki.clientKey, chain: [Self.pki.intermediate])
        if allowingPostHandshake { try client.setPostHandshakeAuthentication(true) }
        return client
    }

    /// After a post-handshake request: the client answers while reading, the server takes the answer while reading.
    static func answerRequest(_ pair: TLSPair) throws(SSLError) {
        try? pair.pump()
        switch Result(catching: { () throws(SSLError) in _ = try pair.client.read(max: 1) }) {
        case .failure(.wantRead): break
        case .failure(let error): throw error
        case .success: break
        }
        try? pair.pump()
        switch Result(catching: { () throws(SSLError) in _ = try pair.server.read(max: 1) }) {
        case .failure(.wantRead): break
        case .failure(let error): throw error
        case .success: break
        }
    }

    @Test(
        "Post-handshake client authentication: the server asks after the handshake, the client answers, the server sees the certificate"
    )
    func postHandshakeAuthentication() throws {
        let pair = try TLSPair(
            client: try Self.certificateClient(allowingPostHandshake: true),
            server: try Self.postHandshakeServer())
        try pair.handshake()
        #expect(pair.server.peerCertificate == nil, "not asked during the handshake")
        try pair.server.requestClientCertificate()
        try Self.answerRequest(pair)
        #expect(pair.server.peerCertificate == Self.pki.client)
        #expect(pair.server.verifyResult == .ok)
        #expect(try pair.send(Array("still here".utf8), from: pair.client, to: pair.server) == Array("still here".utf8))
        expectErrorQueueEmpty()
    }

    @Test("Post-handshake client authentication errors: a client that did not allow it; TLS 1.2; a verifier that throws")
    func postHandshakeAuthenticationErrors() throws {
        let unwilling = try TLSPair(
            client: try Self.certificateClient(allowingPostHandshake: false),
            server: try Self.postHandshakeServer())
        try unwilling.handshake()
        let refused = try #require(throws: SSLError.self) { try unwilling.server.requestClientCertificate() }
        #expect(refused.openSSLError?.hasReason("extension not received") == true, "\(refused)")

        let server12 = try VersionedContexts.server(.tls1_2)
        try server12.trust([Self.pki.root])
        try server12.setVerify([.peer, .postHandshake])  // TLS 1.2 asks during the handshake
        let old = try TLSPair(client: try Self.certificateClient(allowingPostHandshake: true), server: server12)
        try old.handshake()
        #expect(sslErrorCase { try old.server.requestClientCertificate() } == .ssl)

        let judging = try Self.postHandshakeServer()
        try judging.setPeerVerification { _, _ in throw TaggedError("late client") }
        let pair = try TLSPair(client: try Self.certificateClient(allowingPostHandshake: true), server: judging)
        try pair.handshake()
        try pair.server.requestClientCertificate()
        let error = try #require(throws: SSLError.self) { try Self.answerRequest(pair) }
        #expect(error.callbackError as? TaggedError == TaggedError("late client"))
        expectErrorQueueEmpty()
    }

    @Test("A connection's own certificate and key replace its context's (for the same key type)")
    func connectionCertificate() throws {
        let (key, certificate) = try Self.pki.issueLeaf(
            commonName: "localhost", sans: [.dnsName("localhost")], issuer: Self.pki.intermediate,
            issuerKey: Self.pki.intermediateKey, notBefore: Date() - 3600, notAfter: Date() + 86_400)
        let server = try TestContexts.server()
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.server.useCertificate(certificate)
        try pair.server.usePrivateKey(key)
        #expect(throws: OpenSSLError.self) { try pair.server.usePrivateKey(try Self.pki.serverKey.publicKey()) }
        #expect(throws: OpenSSLError.self, "does not match the certificate") { try pair.server.usePrivateKey(Self.pki.clientKey) }
        try pair.handshake()
        #expect(pair.client.peerCertificate == certificate)
        #expect(pair.server.certificate == certificate)
        #expect(server.certificate == Self.pki.server)
        expectErrorQueueEmpty()
    }
}
