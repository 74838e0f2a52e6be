// swift-format-ignore-file
// This file holds the guides' Swift blocks verbatim (a test checks it), so it
// keeps the guides' layout rather than .swift-format's.

import Testing
import Foundation
@testable import OpenSSL
import TestSupport

// The code of Docs/tls-recipes.md, compiled and run against a peer in
// memory. `recipeBlocksAreHere` checks that every ```swift block of the
// guide appears in this file verbatim.

// MARK: recipe 1
/// A server context that presents `hosts[name]`'s certificate to clients
/// asking for `name`, and its own to everyone else.
func virtualHostServer(certificate: X509, key: PKey, hosts: [String: Context]) throws -> Context {
    let context = try Context.server(certificate: certificate, key: key)
    try context.setServerNameCallback { connection in
        guard let name = connection.serverName?.lowercased() else { return }  // no SNI: the default
        if let host = hosts[name] {
            try connection.setContext(host)
        }
    }
    return context
}
// MARK: end

// MARK: recipe 2
func http2Server(certificate: X509, key: PKey) throws -> Context {
    let context = try Context.server(certificate: certificate, key: key)
    try context.setALPNSelection(preferring: ["h2", "http/1.1"])
    return context
}

func http2Client(trusting roots: [X509]? = nil) throws -> Context {
    let context = try Context.client(trusting: roots)
    try context.setALPNProtocols(["h2", "http/1.1"])
    return context
}

enum HTTPVersion { case http2, http1 }

/// After the handshake: what to speak.
func negotiatedHTTPVersion(_ connection: Connection) -> HTTPVersion {
    connection.alpnProtocol == "h2" ? .http2 : .http1
}
// MARK: end

// MARK: recipe 3
/// The newest session of each host, as DER. Anything that stores bytes will do.
final class SessionStore: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var sessions: [String: [UInt8]] = [:]

    func save(_ session: Session, for host: String) {
        guard session.isResumable, let der = try? session.der else { return }
        lock.lock()
        sessions[host] = der
        lock.unlock()
    }

    func session(for host: String) -> Session? {
        lock.lock()
        let der = sessions[host]
        lock.unlock()
        return der.flatMap { try? Session(der: $0) }
    }
}

/// A client context that stores every session it receives, by server name.
func resumingClient(store: SessionStore, trusting roots: [X509]? = nil) throws -> Context {
    let context = try Context.client(trusting: roots)
    try context.setNewSessionCallback { connection, session in
        if let host = connection.serverName { store.save(session, for: host) }
    }
    return context
}

/// Before the handshake: name the host, and offer its stored session.
func prepare(_ connection: Connection, host: String, store: SessionStore) throws {
    try connection.setServerName(host)
    if let session = store.session(for: host) {
        try connection.setSession(session)
    }
}
// MARK: end

// MARK: recipe 4
/// Logs the secrets of every connection of `context` when SSLKEYLOGFILE is set.
func enableKeyLogging(_ context: Context) throws {
    if let file = try KeyLogFile.fromEnvironment() {
        try context.setKeylogFile(file)
    }
}
// MARK: end

// MARK: recipe 5
/// The current OCSP response for the server's certificate, refreshed by a
/// background task before the previous one expires.
final class StapledResponse: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var der: [UInt8]?

    func update(_ response: [UInt8]) {
        lock.lock()
        der = response
        lock.unlock()
    }

    var current: [UInt8]? {
        lock.lock()
        defer { lock.unlock() }
        return der
    }
}

func staplingServer(certificate: X509, key: PKey, staple: StapledResponse) throws -> Context {
    let context = try Context.server(certificate: certificate, key: key)
    // Called only for clients that ask; nil staples nothing.
    try context.setOCSPServerCallback { _ in staple.current }
    return context
}

/// A client that asks for a staple and hands it to `check` (soft-fail:
/// a server that staples nothing is accepted).
func staplingClient(trusting roots: [X509]? = nil,
                    check: @escaping @Sendable (Connection, [UInt8]) throws -> Bool) throws -> Context {
    let context = try Context.client(trusting: roots)
    try context.setOCSPClientCallback { connection, response in
        if response.isEmpty { return true }
        return try check(connection, response)
    }
    return context
}
// MARK: end

@Suite("TLS recipes (Docs/tls-recipes.md)")
struct TLSRecipesTests {
    static var pki: TestPKI { TestPKI.shared }
    /// The recipes' servers send no intermediate: the clients trust it directly.
    static var roots: [X509] { [pki.root, pki.intermediate] }

    @Test("Every swift block of Docs/tls-recipes.md is in this file verbatim")
    func recipeBlocksAreHere() throws {
        let guide = try GuideBlocks(guide: "tls-recipes.md", testFile: #filePath)
        #expect(guide.blocks.count == 5)
        for block in guide.missing {
            Issue.record("a block of the guide is not in TLSRecipesTests.swift:\n\(block)")
        }
    }

    @Test("Recipe: a certificate per host; no name or an unknown one gets the default")
    func certificatePerHost() throws {
        let other = try Context.server(certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey)
        let server = try virtualHostServer(certificate: Self.pki.server, key: Self.pki.serverKey,
                                           hosts: ["wrong.example": other])
        for (name, expected) in [("wrong.example", Self.pki.wrongHost), ("WRONG.example", Self.pki.wrongHost),
                                 ("localhost", Self.pki.server)] {
            let pair = try TLSPair(client: try Context.client(trusting: Self.roots), server: server, serverName: name)
            try pair.handshake()
            #expect(pair.client.peerCertificate == expected, "\(name)")
        }
        let anonymous = try TLSPair(client: try Context.client(trusting: Self.roots), server: server, serverName: nil)
        try anonymous.client.setExpectedHost("127.0.0.1")
        try anonymous.handshake()
        #expect(anonymous.client.peerCertificate == Self.pki.server)
        expectErrorQueueEmpty()
    }

    @Test("Recipe: ALPN picks h2 when both sides have it, HTTP/1.1 otherwise")
    func alpnForHTTP2() throws {
        let server = try http2Server(certificate: Self.pki.server, key: Self.pki.serverKey)
        let modern = try TLSPair(client: try http2Client(trusting: Self.roots), server: server)
        try modern.handshake()
        #expect(negotiatedHTTPVersion(modern.client) == .http2)
        #expect(negotiatedHTTPVersion(modern.server) == .http2)
        let old = try TLSPair(client: try http2Client(trusting: Self.roots), server: server)
        try old.client.setALPNProtocols(["http/1.1"])
        try old.handshake()
        #expect(old.server.alpnProtocol == "http/1.1")
        #expect(negotiatedHTTPVersion(old.client) == .http1)
        expectErrorQueueEmpty()
    }

    @Test("Recipe: sessions kept as DER in an external store resume the next connection", arguments: bothTLSVersions)
    func externalSessionCache(version: ProtocolVersion) throws {
        let server = try Context.server(certificate: Self.pki.server, key: Self.pki.serverKey)
        try server.setMaximumProtocolVersion(version)
        let store = SessionStore()
        #expect(store.session(for: "localhost") == nil)
        let first = try TLSPair(client: try resumingClient(store: store, trusting: Self.roots), server: server, serverName: nil)
        try prepare(first.client, host: "localhost", store: store)
        try first.handshake()
        #expect(!first.client.isSessionReused)
        // TLS 1.3 tickets arrive after the handshake, while the client reads.
        try first.pump()
        _ = sslErrorCase { _ = try first.client.read(max: 1) }
        _ = try first.client.shutdown()
        #expect(store.session(for: "localhost") != nil)

        // Another client context, as after a restart: the stored DER still resumes.
        let second = try TLSPair(client: try resumingClient(store: store, trusting: Self.roots), server: server, serverName: nil)
        try prepare(second.client, host: "localhost", store: store)
        try second.handshake()
        #expect(second.client.isSessionReused)
        #expect(second.server.isSessionReused)
        expectErrorQueueEmpty()
    }

    @Test("Recipe: key logging is off without SSLKEYLOGFILE")
    func keyLogging() throws {
        try #require(ProcessInfo.processInfo.environment["SSLKEYLOGFILE"] == nil)
        let context = try Context.client(trusting: Self.roots)
        try enableKeyLogging(context)
        #expect(context.state.withLock { $0.callbacks.keylog } == nil)
        // (Scripts/keylog-decrypt.sh runs the SSLKEYLOGFILE path end to end, with tshark.)
    }

    @Test("Recipe: OCSP stapling hands the current response to the client's check; none staples nothing")
    func ocspStapling() throws {
        let staple = StapledResponse()
        let server = try staplingServer(certificate: Self.pki.server, key: Self.pki.serverKey, staple: staple)
        let checked = LockedBox<[[UInt8]]>([])
        let client = try staplingClient(trusting: Self.roots) { _, response in
            checked.mutate { $0.append(response) }
            return response.first == 0x30
        }
        let unstapled = try TLSPair(client: client, server: server)
        try unstapled.client.requestOCSP()
        try unstapled.handshake()
        #expect(checked.get().isEmpty, "nothing stapled: soft-fail, the check is not asked")

        staple.update([0x30, 0x03, 0x0A, 0x01, 0x00])
        let stapled = try TLSPair(client: client, server: server)
        try stapled.client.requestOCSP()
        try stapled.handshake()
        #expect(checked.get() == [[0x30, 0x03, 0x0A, 0x01, 0x00]])

        staple.update([0x01])
        let refused = try TLSPair(client: client, server: server)
        try refused.client.requestOCSP()
        let failure = try #require(expectHandshakeFailure(refused))
        #expect(failure.side == .client)
        expectErrorQueueEmpty()
    }
}
