import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Sessions, resumption, the session cache and client CA lists (CONFORMANCE R01–R04).
@Suite("Sessions and client CAs")
struct SessionTests {
    static var pki: TestPKI { TestPKI.shared }

    /// A TLS 1.3 client that collects the sessions (tickets) it receives.
    static func ticketCollectingClient() throws -> (Context, LockedBox<[Session]>) {
        let sessions = LockedBox<[Session]>([])
        let client = try TestContexts.client()
        try client.setNewSessionCallback { connection, session in
            #expect(!connection.isServer)
            sessions.mutate { $0.append(session) }
        }
        return (client, sessions)
    }

    /// Reads until `wantRead`, so a TLS 1.3 client processes the tickets that follow the handshake.
    static func drainTickets(_ pair: TLSPair) throws {
        try pair.pump()
        #expect(sslErrorCase { _ = try pair.client.read(max: 1) } == .wantRead)
    }

    @Test("R01 TLS 1.2: a client that sets the previous session resumes it; both sides report reuse; master keys match")
    func resumeTLS12() throws {
        let server = try VersionedContexts.server(.tls1_2)
        let client = try TestContexts.client()
        let first = try TLSPair(client: client, server: server)
        #expect(first.client.session == nil, "no session before a handshake")
        try first.handshake()
        #expect(!first.client.isSessionReused && !first.server.isSessionReused)
        let session = try #require(first.client.session)
        #expect(session.protocolVersion == .tls1_2)
        #expect(session.isResumable)
        #expect(session.masterKey == first.client.masterKey)
        #expect(session.masterKey.count == 48)
        // The server accepted no name (it has no server-name callback), so the session records none.
        #expect(session.serverName == nil)
        #expect(session.cipherName == first.client.cipherName)
        #expect(session.peerCertificate == Self.pki.server)
        #expect(abs(session.time.timeIntervalSinceNow) < 120)
        #expect(session.timeout > 0)

        let second = try TLSPair(client: client, server: server)
        try second.client.setSession(session)
        try second.handshake()
        #expect(second.client.isSessionReused)
        #expect(second.server.isSessionReused)
        #expect(second.client.masterKey == first.client.masterKey)
        #expect(second.server.masterKey == first.server.masterKey)
        #expect(second.client.masterKey == second.server.masterKey)
        // Resumption skips the certificate exchange, yet the peer certificate is remembered.
        #expect(second.client.peerCertificate == Self.pki.server)
        expectErrorQueueEmpty()
    }

    @Test("R01 TLS 1.3: tickets arrive through the new-session callback and resume the next connection")
    func resumeTLS13() throws {
        let (client, sessions) = try Self.ticketCollectingClient()
        #expect(client.sessionCacheMode.contains(.client))
        #expect(client.sessionCacheMode.contains(.noInternalStore))
        let server = try VersionedContexts.server(.tls1_3)
        let first = try TLSPair(client: client, server: server)
        try first.handshake()
        try Self.drainTickets(first)
        let tickets = sessions.get()
        #expect(tickets.count == 2, "OpenSSL's server sends two tickets by default")
        let ticket = try #require(tickets.first)
        #expect(ticket.protocolVersion == .tls1_3)
        #expect(ticket.hasTicket)
        #expect(ticket.isResumable)
        #expect(ticket.ticketLifetimeHint > 0)

        let second = try TLSPair(client: client, server: server)
        try second.client.setSession(ticket)
        try second.handshake()
        #expect(second.client.isSessionReused)
        #expect(second.server.isSessionReused)
        #expect(!first.client.isSessionReused)
        expectErrorQueueEmpty()
    }

    @Test("R01 a session from another context is refused; a fresh connection has none")
    func sessionFromAnotherContext() throws {
        let server = try VersionedContexts.server(.tls1_2)
        let first = try TLSPair(client: try TestContexts.client(), server: server)
        try first.handshake()
        let session = try #require(first.client.session)
        let stranger = try Connection(try TestContexts.client())
        #expect(stranger.session == nil)
        #expect(throws: UsageError.self) { try stranger.setSession(session) }
        // The server's own connection is from yet another context.
        #expect(throws: UsageError.self) { try Connection(server).setSession(session) }
        expectErrorQueueEmpty()
    }

    @Test("R02 session cache mode, size and timeout setters return the previous value and round-trip")
    func cacheSettings() throws {
        let context = try Context(.tlsServer)
        #expect(context.sessionCacheMode == .server)
        #expect(try context.setSessionCacheMode(.off) == .server)
        #expect(context.sessionCacheMode == .off)
        #expect(try context.setSessionCacheMode([.both, .noAutoClear]) == .off)
        #expect(context.sessionCacheMode == [.client, .server, .noAutoClear])
        #expect(SessionCacheMode.noInternal == [.noInternalLookup, .noInternalStore])

        let defaultTimeout = context.timeout
        #expect(defaultTimeout == 7200, "OpenSSL 3.0's TLS default")
        #expect(try context.setTimeout(1234) == defaultTimeout)
        #expect(context.timeout == 1234)

        let defaultSize = context.sessionCacheSize
        #expect(defaultSize == Int(SSL_SESSION_CACHE_MAX_SIZE_DEFAULT))
        #expect(try context.setSessionCacheSize(10) == defaultSize)
        #expect(context.sessionCacheSize == 10)
        #expect(throws: OpenSSLError.self) { try context.setSessionCacheSize(-1) }
        expectErrorQueueEmpty()
    }

    @Test("R02 a server's cache holds its sessions; flushing and removing call the remove-session callback")
    func serverCacheAndRemoveCallback() throws {
        let server = try VersionedContexts.server(.tls1_2)
        try server.setOptions(.noTicket)  // stateful sessions: kept in the server's cache
        try server.setTimeout(60)
        let removed = LockedBox<[[UInt8]]>([])
        try server.setRemoveSessionCallback { context, session in
            #expect(context === server)
            removed.mutate { $0.append(session.id) }
        }
        var ids: [[UInt8]] = []
        for _ in 0..<2 {
            let pair = try TLSPair(client: try TestContexts.client(), server: server)
            try pair.handshake()
            let session = try #require(pair.server.session)
            #expect(session.timeout == 60)
            #expect(!session.hasTicket)
            #expect(session.id.count == 32)
            #expect(session.id == pair.client.session?.id)
            ids.append(session.id)
            // OpenSSL drops the session of a connection freed without a shutdown from the cache.
            _ = try pair.server.shutdown()
        }
        #expect(server.cachedSessionCount == 2)

        // Nothing has expired yet.
        server.flushSessions()
        #expect(server.cachedSessionCount == 2)
        #expect(removed.get().isEmpty)

        // Removing one by hand.
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.handshake()
        let third = try #require(pair.server.session)
        #expect(server.cachedSessionCount == 3)
        #expect(server.removeSession(third))
        #expect(removed.get() == [third.id])
        #expect(server.cachedSessionCount == 2)
        #expect(!server.removeSession(third), "no longer cached")
        _ = try pair.server.shutdown()

        // Two minutes on, the other two have expired.
        server.flushSessions(expiredAt: Date() + 120)
        #expect(server.cachedSessionCount == 0)
        #expect(Set(removed.get()) == Set(ids + [third.id]))
        expectErrorQueueEmpty()
    }

    @Test(
        "R03 a session serialised to DER and read back resumes, also from a new client context (an external cache)",
        arguments: bothTLSVersions)
    func derRoundTrip(version: ProtocolVersion) throws {
        let server = try VersionedContexts.server(version)
        let (client, sessions) = try Self.ticketCollectingClient()
        let first = try TLSPair(client: client, server: server)
        try first.handshake()
        try Self.drainTickets(first)
        let original = try #require(version == .tls1_3 ? sessions.get().first : first.client.session)
        let der = try original.der
        let restored = try Session(der: der)
        #expect(try restored.der == der)
        #expect(restored.id == original.id)
        #expect(restored.protocolVersion == version)
        #expect(restored.masterKey == original.masterKey)
        #expect(restored.hasTicket == original.hasTicket)

        // A new process would make a new client context: the DER session still resumes.
        let (freshClient, _) = try Self.ticketCollectingClient()
        let second = try TLSPair(client: freshClient, server: server)
        try second.client.setSession(restored)
        try second.handshake()
        #expect(second.client.isSessionReused)
        #expect(second.server.isSessionReused)

        for bad in [[], [0x30, 0x03, 0x02], Array(der.dropLast()), der + [0], Array(repeating: 0xFF, count: 40)] as [[UInt8]] {
            #expect(throws: OpenSSLError.self) { try Session(der: bad) }
        }
        expectErrorQueueEmpty()
    }

    @Test(
        "R04 client CA list: none before the handshake, the server's list after; set replaces, add appends; empty, one, many",
        arguments: bothTLSVersions)
    func clientCAList(version: ProtocolVersion) throws {
        let root = try Self.pki.root.subject
        let intermediate = try Self.pki.intermediate.subject
        let other = try X509Name([("CN", "Other CA"), ("O", "Elsewhere")])
        let cases: [(String, (Context) throws -> Void, [X509Name])] = [
            ("empty", { try $0.setClientCAList([]) }, []),
            ("one", { try $0.setClientCAList([root]) }, [root]),
            ("many", { try $0.setClientCAList([root, intermediate, other]) }, [root, intermediate, other]),
            (
                "replace",
                {
                    try $0.setClientCAList([other])
                    try $0.setClientCAList([intermediate])
                }, [intermediate]
            ),
            (
                "append",
                {
                    try $0.setClientCAList([other])
                    try $0.addClientCA(Self.pki.root)
                }, [other, root]
            ),
        ]
        for (name, configure, expected) in cases {
            let server = try VersionedContexts.server(version)
            try server.setVerify(.peer)  // ask for a client certificate, so the list is sent
            try configure(server)
            let pair = try TLSPair(client: try TestContexts.client(), server: server)
            #expect(pair.client.clientCAList.isEmpty, "\(name): nothing before the handshake")
            #expect(pair.server.clientCAList == expected, "\(name): the server's own list")
            try pair.handshake()
            #expect(pair.client.clientCAList == expected, "\(name)")
        }
        expectErrorQueueEmpty()
    }
}
