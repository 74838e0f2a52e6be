import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Info, keylog, server-name, ALPN and OCSP callbacks (CONFORMANCE C01–C05).
@Suite("TLS feature callbacks")
struct CallbackTests {
    static var pki: TestPKI { TestPKI.shared }

    // MARK: C01 info

    @Test(
        "C01 the context info callback gets each connection and sees handshake start and done, on both sides",
        arguments: bothTLSVersions)
    func contextInfoCallback(version: ProtocolVersion) throws {
        let events = LockedBox<[String: [InfoEvent]]>([:])
        let serverContext = try VersionedContexts.server(version)
        let clientContext = try TestContexts.client()
        let pairBox = LockedBox<[ObjectIdentifier: String]>([:])
        for (context, side) in [(serverContext, "server"), (clientContext, "client")] {
            try context.setInfoCallback { connection, event in
                let id = ObjectIdentifier(connection)
                let known = pairBox.get()[id]
                events.mutate { $0[known ?? "unknown", default: []].append(event) }
                #expect(connection.isServer == (side == "server"))
            }
        }
        let pair = try TLSPair(client: clientContext, server: serverContext)
        pairBox.set([ObjectIdentifier(pair.client): "client", ObjectIdentifier(pair.server): "server"])
        try pair.handshake()
        let seen = events.get()
        #expect(seen["unknown"] == nil, "every event came with the very Connection that was handshaking")
        for side in ["client", "server"] {
            let list = seen[side] ?? []
            #expect(list.first?.isHandshakeStart == true, "\(side): \(list)")
            #expect(list.contains { $0.isHandshakeDone }, "\(side)")
            #expect(list.filter { $0.isHandshakeStart }.count == 1)
            #expect(list.contains { $0.kind.contains(.loop) })
        }
        #expect(seen["client"]?.contains { $0.kind.contains(.connect) } == true)
        #expect(seen["server"]?.contains { $0.kind.contains(.accept) } == true)

        // close_notify shows up as a warning alert: sent by the client, received by the server.
        events.set([:])
        _ = try pair.client.shutdown()
        try pair.pump()
        #expect(sslErrorCase { _ = try pair.server.read(max: 1) } == .zeroReturn)
        let sent = try #require(events.get()["client"]?.compactMap(\.alert).first)
        #expect(sent.isSent && !sent.isFatal && sent.code == 0 && sent.text == "close notify")
        let received = try #require(events.get()["server"]?.compactMap(\.alert).first)
        #expect(!received.isSent && received.code == 0)
        expectErrorQueueEmpty()
    }

    @Test("C01 a per-connection info callback replaces the context's, and sees a fatal alert on a failed handshake")
    func connectionInfoCallback() throws {
        let contextEvents = LockedBox(0)
        let clientContext = try Context(.tlsClient)  // trusts nothing: verification fails
        try clientContext.setVerify(.peer)
        try clientContext.setInfoCallback { _, _ in contextEvents.mutate { $0 += 1 } }
        let pair = try TLSPair(client: clientContext, server: try TestContexts.server())
        let clientEvents = LockedBox<[InfoEvent]>([])
        let serverEvents = LockedBox<[InfoEvent]>([])
        pair.client.setInfoCallback { _, event in clientEvents.mutate { $0.append(event) } }
        pair.server.setInfoCallback { _, event in serverEvents.mutate { $0.append(event) } }
        let failure = try #require(expectHandshakeFailure(pair))
        #expect(failure.side == .client)
        #expect(contextEvents.get() == 0, "the connection's own callback replaced the context's")
        #expect(clientEvents.get().first?.isHandshakeStart == true)
        let sent = try #require(clientEvents.get().compactMap(\.alert).first)
        #expect(sent.isSent && sent.isFatal)
        #expect(sent.text == "unknown CA" || sent.text == "certificate unknown", "\(sent)")
        // The server read the client's alert and failed.
        #expect(sslErrorCase { try pair.server.doHandshake() } == .ssl)
        let received = try #require(serverEvents.get().compactMap(\.alert).first)
        #expect(!received.isSent && received.isFatal && received.code == sent.code)
        // Removing it stops the events.
        let count = clientEvents.get().count
        pair.client.setInfoCallback(nil)
        _ = sslErrorCase { try pair.client.doHandshake() }
        #expect(clientEvents.get().count == count)
        expectErrorQueueEmpty()
    }

    // MARK: C02 keylog

    @Test(
        "C02 the keylog callback gives NSS key-log lines: CLIENT_RANDOM on TLS 1.2, traffic secrets on TLS 1.3",
        arguments: bothTLSVersions)
    func keylog(version: ProtocolVersion) throws {
        let lines = LockedBox<[String: [String]]>([:])
        let serverContext = try VersionedContexts.server(version)
        let clientContext = try TestContexts.client()
        try serverContext.setKeylogCallback { connection, line in
            #expect(connection.isServer)
            lines.mutate { $0["server", default: []].append(line) }
        }
        try clientContext.setKeylogCallback { connection, line in
            #expect(!connection.isServer)
            lines.mutate { $0["client", default: []].append(line) }
        }
        let pair = try TLSPair(client: clientContext, server: serverContext)
        try pair.handshake()
        let client = lines.get()["client"] ?? []
        let server = lines.get()["server"] ?? []
        #expect(Set(client) == Set(server), "both sides log the same secrets")
        let random = hex(try #require(pair.client.clientRandom))
        let labels = Set(client.compactMap { $0.split(separator: " ").first.map(String.init) })
        for line in client {
            let fields = line.split(separator: " ")
            #expect(fields.count == 3, "\(line)")
            #expect(fields.dropFirst().first.map(String.init) == random, "second field is the client random")
            #expect(fields.last?.allSatisfy(\.isHexDigit) == true)
        }
        if version == .tls1_2 {
            #expect(labels == ["CLIENT_RANDOM"])
            let secret = try #require(client.first?.split(separator: " ").last.map(String.init))
            #expect(secret == hex(try #require(pair.client.masterKey)))
        } else {
            #expect(
                labels == [
                    "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
                ])
        }
        expectErrorQueueEmpty()
    }

    @Test("C02 KeyLogFile: lines from many threads arrive whole, one per line, in a file only its owner can read")
    func keylogFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("keys.log")
        let file = try KeyLogFile(path: path)
        let threads = 8
        let perThread = 500
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                file.append("CLIENT_RANDOM \(String(repeating: String(thread), count: 64)) \(index)")
            }
        }
        // And a real handshake through the context helper.
        let context = try TestContexts.client()
        try context.setKeylogFile(file)
        let pair = try TLSPair(client: context, server: try TestContexts.server())
        try pair.handshake()
        #expect(file.lastWriteError == nil)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        let written = lines.dropLast()
        #expect(written.count == threads * perThread + 5)
        for line in written.prefix(threads * perThread) {
            let fields = line.split(separator: " ")
            #expect(fields.count == 3 && fields[1].count == 64 && Set(fields[1]).count == 1, "torn line: \(line)")
        }
        let labels = Set(written.suffix(5).compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(
            labels == [
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET",
            ])
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(throws: POSIXError.self) { try KeyLogFile(path: directory.path("missing/dir/keys.log")) }
    }

    // MARK: C03 SNI

    @Test(
        "C03 the server-name callback fires once with the server connection; the name is absent or as sent; a switch presents the other certificate",
        arguments: bothTLSVersions)
    func serverName(version: ProtocolVersion) throws {
        let other = try Context.server(
            certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey,
            chain: [Self.pki.intermediate])
        let calls = LockedBox<[(ObjectIdentifier, String?)]>([])
        let server = try VersionedContexts.server(version)
        try server.setServerNameCallback { connection in
            #expect(connection.isServer)
            calls.mutate { $0.append((ObjectIdentifier(connection), connection.serverName)) }
            if connection.serverName == "wrong.example" { try connection.setContext(other) }
        }

        // A name that switches the context.
        let switched = try TLSPair(client: try TestContexts.client(), server: server, serverName: "wrong.example")
        try switched.handshake()
        #expect(calls.get().count == 1)
        #expect(calls.get().first?.0 == ObjectIdentifier(switched.server))
        #expect(calls.get().first?.1 == "wrong.example")
        #expect(switched.client.peerCertificate == Self.pki.wrongHost)
        #expect(switched.server.context === other)
        #expect(switched.server.serverName == "wrong.example")
        #expect(switched.client.serverName == "wrong.example")
        // The server accepted the name, so the sessions record it.
        #expect(switched.server.session?.serverName == "wrong.example")
        #expect(switched.client.session?.serverName == "wrong.example")

        // A name that keeps the default context.
        calls.set([])
        let plain = try TLSPair(client: try TestContexts.client(), server: server, serverName: "localhost")
        try plain.handshake()
        #expect(calls.get().map(\.1) == ["localhost"])
        #expect(plain.client.peerCertificate == Self.pki.server)
        #expect(plain.server.serverName == "localhost")

        // No name at all.
        calls.set([])
        let anonymous = try TLSPair(client: try TestContexts.client(), server: server, serverName: nil)
        try anonymous.client.setExpectedHost("localhost")
        try anonymous.handshake()
        #expect(calls.get().count == 1)
        #expect(calls.get().first?.1 == nil)
        #expect(anonymous.server.serverName == nil)
        #expect(anonymous.client.serverName == nil)
        expectErrorQueueEmpty()
    }

    @Test("C03 an error thrown in the server-name callback fails the handshake and comes out as that error")
    func serverNameError() throws {
        let server = try TestContexts.server()
        try server.setServerNameCallback { _ in throw TaggedError("sni") }
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        let failure = try #require(expectHandshakeFailure(pair))
        #expect(failure.side == .server)
        #expect(failure.callbackError as? TaggedError == TaggedError("sni"))
        // The client got a fatal alert.
        #expect(sslErrorCase { try pair.client.doHandshake() } == .ssl)
        expectErrorQueueEmpty()
    }

    @Test("C03 callbacks pinned on the connection survive a context switch; the new context fills the gaps")
    func pinnedAcrossSwitch() throws {
        let keylogLines = LockedBox(0)
        let infoEvents = LockedBox(0)
        let verifierCalls = LockedBox(0)
        // The context switched to has no callbacks except an OCSP server callback the first lacks.
        let other = try Context.server(
            certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey,
            chain: [Self.pki.intermediate])
        try other.setOCSPServerCallback { _ in [1, 2, 3] }
        let server = try TestContexts.server()
        try server.setKeylogCallback { _, _ in keylogLines.mutate { $0 += 1 } }
        try server.setInfoCallback { _, _ in infoEvents.mutate { $0 += 1 } }
        try server.setALPNSelectCallback { _, offered in offered.last }
        // Verification follows the context switched to, unless it was set on
        // the connection itself (SEC02): set here, it survives the switch.
        try server.setServerNameCallback { connection in
            connection.setVerify(.peer)
            connection.setPeerVerification { _, _ in
                verifierCalls.mutate { $0 += 1 }
                return .accept
            }
            try connection.setContext(other)
        }
        // The switched-to context being in use by other connections does not matter.
        _ = try Connection(other)

        let client = try Context.client(trusting: [Self.pki.root], certificate: Self.pki.client, key: Self.pki.clientKey)
        try client.setALPNProtocols(["h2", "http/1.1"])
        let stapled = LockedBox<[UInt8]>([])
        try client.setOCSPClientCallback { _, response in
            stapled.set(response)
            return true
        }
        let pair = try TLSPair(client: client, server: server, serverName: "wrong.example")
        try pair.client.requestOCSP()
        try pair.handshake()
        #expect(pair.server.context === other)
        #expect(pair.client.peerCertificate == Self.pki.wrongHost)
        #expect(pair.server.alpnProtocol == "http/1.1", "the pinned ALPN callback ran on the new context")
        #expect(keylogLines.get() == 5, "the pinned keylog callback ran on the new context")
        #expect(infoEvents.get() > 0)
        #expect(verifierCalls.get() == 1, "the pinned whole-chain hook judged the client on the new context")
        #expect(pair.server.peerCertificate == Self.pki.client)
        #expect(stapled.get() == [1, 2, 3], "the new context's OCSP callback filled the gap")
        expectErrorQueueEmpty()
    }

    // MARK: C04 ALPN

    @Test(
        "C04 ALPN: the select callback gets the client's list in order; the choice is reported on both sides",
        arguments: bothTLSVersions)
    func alpnSelection(version: ProtocolVersion) throws {
        let offered = LockedBox<[[String]]>([])
        let server = try VersionedContexts.server(version)
        try server.setALPNSelectCallback { connection, protocols in
            #expect(connection.isServer)
            offered.mutate { $0.append(protocols) }
            return protocols.contains("http/1.1") ? "http/1.1" : nil
        }
        let client = try TestContexts.client()
        try client.setALPNProtocols(["h2", "spdy/3", "http/1.1"])
        let pair = try TLSPair(client: client, server: server)
        #expect(pair.client.alpnProtocol == nil)
        try pair.handshake()
        #expect(offered.get() == [["h2", "spdy/3", "http/1.1"]])
        #expect(pair.client.alpnProtocol == "http/1.1")
        #expect(pair.server.alpnProtocol == "http/1.1")
        #expect(pair.client.session?.alpnProtocol == "http/1.1")

        // No overlap: the handshake completes without a protocol.
        let noOverlap = try TLSPair(client: try TestContexts.client(), server: server)
        try noOverlap.client.setALPNProtocols(["h2"])
        try noOverlap.handshake()
        #expect(offered.get().last == ["h2"])
        #expect(noOverlap.client.alpnProtocol == nil)
        #expect(noOverlap.server.alpnProtocol == nil)

        // A server without ALPN reports none, whatever the client offers.
        let plain = try TLSPair(client: client, server: try VersionedContexts.server(version))
        try plain.handshake()
        #expect(plain.client.alpnProtocol == nil)
        #expect(plain.server.alpnProtocol == nil)

        // A client without ALPN: the callback does not run.
        let count = offered.get().count
        let silent = try TLSPair(client: try TestContexts.client(), server: server)
        try silent.handshake()
        #expect(offered.get().count == count)
        #expect(silent.server.alpnProtocol == nil)
        expectErrorQueueEmpty()
    }

    @Test("C04 ALPN per connection replaces the context's list; setALPNSelection(preferring:) uses the server's order")
    func alpnPerConnection() throws {
        let server = try TestContexts.server()
        try server.setALPNSelection(preferring: ["h2", "http/1.1"])
        let client = try TestContexts.client()
        try client.setALPNProtocols(["http/1.1"])
        let pair = try TLSPair(client: client, server: server)
        try pair.client.setALPNProtocols(["http/1.1", "h2"])
        try pair.handshake()
        #expect(pair.client.alpnProtocol == "h2")
        #expect(pair.server.alpnProtocol == "h2")

        let contextList = try TLSPair(client: client, server: server)
        try contextList.handshake()
        #expect(contextList.server.alpnProtocol == "http/1.1")
        expectErrorQueueEmpty()
    }

    @Test("C04 an empty or malformed ALPN list is refused; errors in the select callback come out of the handshake")
    func alpnErrors() throws {
        let context = try Context(.tlsClient)
        let connection = try Connection(try Context(.tlsClient))
        for bad in [[], [""], [String(repeating: "x", count: 256)], ["h2", ""]] as [[String]] {
            #expect(throws: OpenSSLError.self) { try context.setALPNProtocols(bad) }
            #expect(throws: OpenSSLError.self) { try connection.setALPNProtocols(bad) }
        }
        try context.setALPNProtocols([String(repeating: "x", count: 255)])
        expectErrorQueueEmpty()

        let throwing = try TestContexts.server()
        try throwing.setALPNSelectCallback { _, _ in throw TaggedError("alpn") }
        let client = try TestContexts.client()
        try client.setALPNProtocols(["h2"])
        let pair = try TLSPair(client: client, server: throwing)
        let failure = try #require(expectHandshakeFailure(pair))
        #expect(failure.side == .server)
        #expect(failure.callbackError as? TaggedError == TaggedError("alpn"))
        #expect(sslErrorCase { try pair.client.doHandshake() } == .ssl)

        // A choice the client did not offer is refused the same way.
        let liar = try TestContexts.server()
        try liar.setALPNSelectCallback { _, _ in "h3" }
        let lied = try TLSPair(client: client, server: liar)
        let refused = try #require(expectHandshakeFailure(lied))
        #expect(refused.callbackError is UsageError)
        expectErrorQueueEmpty()
    }

    // MARK: C05 OCSP

    @Test(
        "C05 OCSP stapling: no callback runs unless the client asks; the server's bytes reach the client verbatim",
        arguments: bothTLSVersions)
    func ocspStapling(version: ProtocolVersion) throws {
        let response: [UInt8] = [0x30, 0x82, 0x00, 0x03, 0x0A, 0x01, 0x00] + (0..<200).map { UInt8($0 & 0xFF) }
        let serverCalls = LockedBox(0)
        let received = LockedBox<[[UInt8]]>([])
        let server = try VersionedContexts.server(version)
        try server.setOCSPServerCallback { connection in
            #expect(connection.isServer)
            serverCalls.mutate { $0 += 1 }
            return connection.serverName == "localhost" ? response : nil
        }
        let client = try TestContexts.client()
        try client.setOCSPClientCallback { connection, bytes in
            #expect(!connection.isServer)
            received.mutate { $0.append(bytes) }
            return true
        }

        // Not requested: neither callback runs.
        let unasked = try TLSPair(client: client, server: server)
        #expect(!unasked.client.requestsOCSP)
        try unasked.handshake()
        #expect(serverCalls.get() == 0)
        #expect(received.get().isEmpty)

        // Requested: the bytes arrive verbatim.
        let asked = try TLSPair(client: client, server: server)
        try asked.client.requestOCSP()
        #expect(asked.client.requestsOCSP)
        try asked.handshake()
        #expect(serverCalls.get() == 1)
        #expect(received.get() == [response])
        #expect(asked.client.stapledOCSPResponse == response)

        // Requested, but the server staples nothing: the client callback sees no bytes.
        let empty = try TLSPair(client: client, server: server, serverName: nil)
        try empty.client.setExpectedHost("localhost")
        try empty.client.requestOCSP()
        try empty.handshake()
        #expect(received.get().last == [])
        expectErrorQueueEmpty()
    }

    @Test(
        "C05 OCSP failures: a client callback returning false fails the handshake; errors thrown on either side come out",
        arguments: bothTLSVersions)
    func ocspFailures(version: ProtocolVersion) throws {
        let server = try VersionedContexts.server(version)
        try server.setOCSPServerCallback { _ in [0x30, 0x00] }

        let rejecting = try TestContexts.client()
        try rejecting.setOCSPClientCallback { _, _ in false }
        let rejected = try TLSPair(client: rejecting, server: server)
        try rejected.client.requestOCSP()
        let failure = try #require(expectHandshakeFailure(rejected))
        #expect(failure.side == .client)
        #expect(failure.error.openSSLError?.hasReason("invalid status response") == true, "\(failure)")

        let throwingClient = try TestContexts.client()
        try throwingClient.setOCSPClientCallback { _, _ in throw TaggedError("ocsp client") }
        let clientThrows = try TLSPair(client: throwingClient, server: server)
        try clientThrows.client.requestOCSP()
        let clientFailure = try #require(expectHandshakeFailure(clientThrows))
        #expect(clientFailure.side == .client)
        #expect(clientFailure.callbackError as? TaggedError == TaggedError("ocsp client"))

        let throwingServer = try VersionedContexts.server(version)
        try throwingServer.setOCSPServerCallback { _ in throw TaggedError("ocsp server") }
        let serverThrows = try TLSPair(client: try TestContexts.client(), server: throwingServer)
        try serverThrows.client.requestOCSP()
        let serverFailure = try #require(expectHandshakeFailure(serverThrows))
        #expect(serverFailure.side == .server)
        #expect(serverFailure.callbackError as? TaggedError == TaggedError("ocsp server"))
        #expect(sslErrorCase { try serverThrows.client.doHandshake() } == .ssl)
        expectErrorQueueEmpty()
    }

    // MARK: Freezing

    @Test("P05 the feature callbacks and ALPN are configuration: refused once a connection exists")
    func callbackSettersFreeze() throws {
        let context = try TestContexts.server()
        _ = try Connection(context)
        let attempts: [(String, () throws -> Void)] = [
            ("server name", { try context.setServerNameCallback(nil) }),
            ("alpn", { try context.setALPNProtocols(["h2"]) }),
            ("alpn select", { try context.setALPNSelectCallback(nil) }),
            ("keylog", { try context.setKeylogCallback(nil) }),
            ("info", { try context.setInfoCallback(nil) }),
            ("ocsp server", { try context.setOCSPServerCallback(nil) }),
            ("ocsp client", { try context.setOCSPClientCallback(nil) }),
            ("new session", { try context.setNewSessionCallback(nil) }),
            ("remove session", { try context.setRemoveSessionCallback(nil) }),
            ("cache mode", { try context.setSessionCacheMode(.off) }),
            ("cache size", { try context.setSessionCacheSize(10) }),
            ("post-handshake auth", { try context.setPostHandshakeAuthentication(true) }),
            ("srtp", { try context.setSRTPProfiles(["SRTP_AES128_CM_SHA1_80"]) }),
        ]
        for (name, attempt) in attempts {
            #expect(throws: UsageError.self, "\(name)") { try attempt() }
        }
        expectErrorQueueEmpty()
    }
}
