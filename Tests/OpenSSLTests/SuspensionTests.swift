import COpenSSL
import Foundation
import Testing
@testable import OpenSSL
import TestSupport

/// The core calls an event loop needs to let a handshake wait for an
/// asynchronous answer (issue 15): the certificate callback's suspension,
/// ticket control, the retry-verify re-arm, and dropping ciphertext.
@Suite("Handshake suspension (certificate callback, tickets, retry-verify)")
struct SuspensionTests {
    static var pki: TestPKI { TestPKI.shared }

    /// Drives both sides once; returns the server's error, if any.
    static func step(_ pair: TLSPair) throws -> SSLError? {
        var serverError: SSLError?
        for (connection, isServer) in [(pair.client, false), (pair.server, true)] where !connection.isHandshakeDone {
            switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
            case .success: break
            case .failure(.wantRead): break
            case .failure(let error): if isServer { serverError = error } else if !error.isWant { throw error }
            }
        }
        try pair.pump()
        return serverError
    }

    @Test(
        "N07 a certificate callback that answers retryLater suspends the server's handshake (wantX509Lookup) until the certificate is in place"
    )
    func certificateCallbackSuspends() throws {
        let serverContext = try Context.server(
            certificate: Self.pki.wrongHost, key: Self.pki.wrongHostKey,
            chain: [Self.pki.intermediate])
        let calls = LockedCounter()
        let chosen = LockedCounter()
        try serverContext.setCertificateCallback { connection in
            calls.increment()
            #expect(connection.serverName == "localhost")
            return chosen.value > 0 ? .ready : .retryLater
        }
        let pair = try TLSPair(client: try Context.client(trusting: [Self.pki.root]), server: serverContext)
        var suspended = false
        for _ in 0..<4 {
            if case .wantX509Lookup? = try Self.step(pair) {
                suspended = true
                break
            }
        }
        #expect(suspended)
        #expect(pair.server.isWaitingForCertificate)
        #expect(cossl_SSL_want_x509_lookup(pair.server.raw) == 1)
        // Driven again without an answer: still waiting.
        #expect(try Self.step(pair).map { "\($0)" } == "\(SSLError.wantX509Lookup)")
        try pair.server.useCertificate(Self.pki.server)
        try pair.server.usePrivateKey(Self.pki.serverKey)
        try pair.server.setCertificateChain([Self.pki.intermediate])
        chosen.increment()
        try pair.handshake()
        #expect(try pair.client.peerCertificate?.der == Self.pki.server.der)
        #expect(calls.value == 3)
        #expect(ERR_peek_error() == 0)
    }

    @Test("N07 an error thrown by the certificate callback fails the handshake with that error")
    func certificateCallbackThrows() throws {
        struct NoCertificate: Error {}
        let serverContext = try TestContexts.server()
        try serverContext.setCertificateCallback { _ in throw NoCertificate() }
        let pair = try TLSPair(client: try TestContexts.client(), server: serverContext)
        do {
            try pair.handshake()
            Issue.record("the handshake completed")
        } catch let failure as TLSPair.Failure {
            #expect(failure.side == .server)
            guard case .callback(let error) = failure.error else {
                Issue.record("expected the callback's error, got \(failure.error)")
                return
            }
            #expect(error is NoCertificate)
        }
        #expect(ERR_peek_error() == 0)
    }

    @Test(
        "N06 a server connection's ticket count: 0 sends no TLS 1.3 ticket; issueSessionTicket sends one later; a client cannot issue"
    )
    func ticketsOnDemand() throws {
        let clientContext = try TestContexts.client()
        let received = LockedCounter()
        try clientContext.setNewSessionCallback { _, _ in received.increment() }
        let pair = try TLSPair(client: clientContext, server: try TestContexts.server())
        #expect(pair.server.sessionTicketCount == 2)
        try pair.server.setSessionTicketCount(0)
        #expect(throws: OpenSSLError.self) { try pair.server.setSessionTicketCount(-1) }
        try pair.handshake()
        _ = try pair.send(Array("x".utf8), from: pair.server, to: pair.client)
        #expect(received.value == 0)
        try pair.server.issueSessionTicket()
        try pair.server.doHandshake()
        _ = try pair.send(Array("y".utf8), from: pair.server, to: pair.client)
        #expect(received.value == 1)
        #expect(throws: OpenSSLError.self) { try pair.client.issueSessionTicket() }
        #expect(ERR_peek_error() == 0)
    }

    @Test("N05 driven again before the decision, a postponed verification waits again without running the hook twice")
    func retryVerifyRearmed() throws {
        let clientContext = try TestContexts.client()
        let calls = LockedCounter()
        try clientContext.setPeerVerification { _, _ in
            calls.increment()
            return .decideLater
        }
        let pair = try TLSPair(client: clientContext, server: try TestContexts.server())
        var waits = 0
        for _ in 0..<6 {
            switch Result(catching: { () throws(SSLError) in try pair.client.doHandshake() }) {
            case .failure(.wantRetryVerify): waits += 1
            default: break
            }
            _ = try? pair.server.doHandshake()
            try pair.pump()
        }
        #expect(waits >= 2)
        #expect(calls.value == 1)
        pair.client.setVerificationDecision(true)
        try pair.handshake()
        #expect(calls.value == 1)
        #expect(pair.client.isHandshakeDone)
    }

    @Test("Dropping ciphertext: unread bytes from the peer and unsent bytes from OpenSSL go; the chain shims add and clear")
    func discardCiphertext() throws {
        let connection = try Connection(try TestContexts.client())
        connection.setConnectState()
        try connection.setServerName("localhost")
        _ = try? connection.doHandshake()
        #expect(connection.pendingCiphertext > 0)
        connection.discardPendingCiphertext()
        #expect(connection.pendingCiphertext == 0)
        _ = try connection.bioWrite([0x16, 0x03, 0x03])
        #expect(connection.unreadCiphertext == 3)
        connection.discardUnreadCiphertext()
        #expect(connection.unreadCiphertext == 0)
        #expect(cossl_SSL_add1_chain_cert(connection.raw, Self.pki.intermediate.raw) == 1)
        #expect(cossl_SSL_clear_chain_certs(connection.raw) == 1)
        #expect(ERR_peek_error() == 0)
    }
}

/// A counter several threads may touch.
final class LockedCounter: @unchecked Sendable {  // `count` only under `lock`
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.withLock { count } }
    func increment() { lock.withLock { count += 1 } }
}
