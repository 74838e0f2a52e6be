import COpenSSL
import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOTLS
import Testing
@testable import OpenSSL
import OpenSSLNIO
import TestSupport

// N05–N07: asynchronous verification and certificate selection, over
// NIOAsyncTestingChannel pairs (EmbeddedChannel's thread-safe sibling: an
// asynchronous hook answers from another thread) and over real sockets
// against openssl s_server / s_client and Python's ssl.

/// An asynchronous hook the test answers when it chooses.
final class Gate<Answer: Sendable>: Sendable {
    private struct State {
        var calls = 0
        var names: [String?] = []
        var verifications: [PeerVerification] = []
        var waiter: CheckedContinuation<Result<Answer, any Error>, Never>?
        var preset: Result<Answer, any Error>?
    }
    private let state = LockedBox(State())

    /// How many times the hook ran.
    var calls: Int { state.get().calls }
    var verifications: [PeerVerification] { state.get().verifications }
    var names: [String?] { state.get().names }
    var isWaiting: Bool { state.mutate { $0.waiter != nil } }

    /// Answers the waiting call (or the next one).
    func answer(_ result: Result<Answer, any Error>) {
        let waiter = state.mutate { state -> CheckedContinuation<Result<Answer, any Error>, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.preset = result
            return nil
        }
        waiter?.resume(returning: result)
    }

    func wait(verification: PeerVerification? = nil, name: String?? = nil) async throws -> Answer {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Answer, any Error>, Never>) in
            let ready = state.mutate { state -> Result<Answer, any Error>? in
                state.calls += 1
                if let verification { state.verifications.append(verification) }
                if let name { state.names.append(name) }
                if let preset = state.preset {
                    state.preset = nil
                    return preset
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        return try result.get()
    }
}

extension Gate where Answer == VerificationDecision {
    var hook: OpenSSLAsyncPeerVerifier { { verification in try await self.wait(verification: verification) } }
}

extension Gate where Answer == OpenSSLCertificateSelection {
    var selector: OpenSSLAsyncCertificateSelector { { name in try await self.wait(name: .some(name)) } }
}

struct HookFailure: Error, Equatable {
    let reason: String
}

/// Polls `condition` (every 5 ms, at most `seconds`), running `between` each time.
func eventually(
    seconds: Double = 10, _ between: () async throws -> Void = {}, _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        try await between()
        if try await condition() { return true }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    return false
}

/// A client and a server pipeline on NIOAsyncTestingChannels, ciphertext moved by `pump()`.
final class AsyncPair: Sendable {
    let client: NIOAsyncTestingChannel
    let server: NIOAsyncTestingChannel
    nonisolated(unsafe) let clientRecorder = Recorder()  // touched only on the channels' loops (see `onLoop`)
    nonisolated(unsafe) let serverRecorder = Recorder()

    init(client clientHandler: OpenSSLClientHandler, server serverHandler: OpenSSLServerHandler) async throws {
        client = NIOAsyncTestingChannel()
        server = NIOAsyncTestingChannel()
        nonisolated(unsafe) let handlers = (clientHandler, serverHandler)
        let recorders = (clientRecorder, serverRecorder)
        nonisolated(unsafe) let unsafeRecorders = recorders
        try await client.testingEventLoop.executeInContext { [client] in
            try client.pipeline.syncOperations.addHandler(handlers.0)
            try client.pipeline.syncOperations.addHandler(unsafeRecorders.0)
        }
        try await server.testingEventLoop.executeInContext { [server] in
            try server.pipeline.syncOperations.addHandler(handlers.1)
            try server.pipeline.syncOperations.addHandler(unsafeRecorders.1)
        }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try await server.connect(to: address).get()
        try await client.connect(to: address).get()
    }

    /// Moves every outbound buffer of `from` into `to`; true when any moved.
    static func move(from: NIOAsyncTestingChannel, to: NIOAsyncTestingChannel, byteByByte: Bool = false) async throws -> Bool {
        var moved = false
        while let buffer = try await from.readOutbound(as: ByteBuffer.self) {
            moved = true
            guard to.isActive else { continue }
            if byteByByte {
                for byte in buffer.readableBytesView { _ = try? await to.writeInbound(ByteBuffer(bytes: [byte])) }
            } else {
                _ = try? await to.writeInbound(buffer)
            }
        }
        return moved
    }

    /// True once each side saw exactly one handshake completion.
    func bothCompleted() async throws -> Bool {
        let client = try await client { $0.handshakeCompletions.count == 1 }
        let server = try await server { $0.handshakeCompletions.count == 1 }
        return client && server
    }

    func pump() async throws {
        for _ in 0..<1_000 {
            let forward = try await Self.move(from: client, to: server)
            let backward = try await Self.move(from: server, to: client)
            if !forward && !backward { return }
        }
        Issue.record("the pair kept talking for 1000 rounds")
    }

    /// Reads a recorder on its channel's loop.
    func client<T: Sendable>(_ read: @escaping @Sendable (Recorder) -> T) async throws -> T {
        nonisolated(unsafe) let recorder = clientRecorder
        return try await client.testingEventLoop.executeInContext { read(recorder) }
    }

    func server<T: Sendable>(_ read: @escaping @Sendable (Recorder) -> T) async throws -> T {
        nonisolated(unsafe) let recorder = serverRecorder
        return try await server.testingEventLoop.executeInContext { read(recorder) }
    }

    func send(from channel: NIOAsyncTestingChannel, _ text: String) async throws {
        try await channel.testingEventLoop.executeInContext {
            channel.writeAndFlush(ByteBuffer(string: text), promise: nil)
        }
    }

    func finish() async {
        // Not awaited: a TLS close waits for the peer's close_notify, which only pump() delivers.
        for channel in [client, server] where channel.isActive {
            try? await channel.testingEventLoop.executeInContext { channel.close(promise: nil) }
        }
        try? await pump()
        await client.testingEventLoop.advanceTime(by: .seconds(3_600))
        await server.testingEventLoop.advanceTime(by: .seconds(3_600))
        _ = try? await client.finish(acceptAlreadyClosed: true)
        _ = try? await server.finish(acceptAlreadyClosed: true)
    }
}

extension Recorder {
    var errorTexts: [String] { errors.map { "\($0)" } }
}

@Suite("OpenSSLNIO asynchronous hooks (N05–N07)", .serialized, .timeLimit(.minutes(3)))
struct AsyncHookTests {
    static var pki: TestPKI { TestPKI.shared }

    // MARK: N05 client

    /// A client whose async hook is `gate`, verifying with `context` (the
    /// test client of `version` when nil), against the test server.
    static func clientHookPair(
        _ gate: Gate<VerificationDecision>, version: ProtocolVersion? = nil,
        context: Context? = nil
    ) async throws -> AsyncPair {
        try await AsyncPair(
            client: try OpenSSLClientHandler(
                context: try context ?? NIOContexts.client(maximumVersion: version),
                serverHostname: "localhost", verification: gate.hook),
            server: try OpenSSLServerHandler(context: try NIOContexts.server(maximumVersion: version)))
    }

    @Test(
        "N05 client: the handshake waits for the async hook, bytes arriving meanwhile are kept, the hook runs once, accept completes it",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func clientAcceptWaits(version: ProtocolVersion) async throws {
        let gate = Gate<VerificationDecision>()
        let pair = try await Self.clientHookPair(gate, version: version)
        // The server's first flight one byte at a time: the hook starts as soon
        // as the certificate is in, and the rest arrives while it decides.
        _ = try await AsyncPair.move(from: pair.client, to: pair.server)
        _ = try await AsyncPair.move(from: pair.server, to: pair.client, byteByByte: true)
        #expect(try await eventually { gate.isWaiting })
        #expect(gate.calls == 1)
        let verification = try #require(gate.verifications.first)
        #expect(verification.error == nil)
        #expect(try verification.peerChain.first?.der == Self.pki.server.der)
        // Still waiting: more pumping (and the bytes already in) change nothing, the hook does not run again.
        try await pair.pump()
        #expect(try await pair.client { $0.handshakeCompletions.isEmpty })
        #expect(gate.calls == 1)

        gate.answer(.success(.accept))
        #expect(
            try await eventually({ try await pair.pump() }) { try await pair.bothCompleted() })
        try await pair.send(from: pair.client, "after the decision")
        try await pair.pump()
        #expect(try await pair.server { $0.text } == "after the decision")
        #expect(gate.calls == 1)
        #expect(try await pair.client { $0.errorTexts }.isEmpty)
        await pair.finish()
    }

    @Test(
        "N05 client: an async rejection fails the handshake with OpenSSL's verify failure, and the server gets an alert",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func clientReject(version: ProtocolVersion) async throws {
        let gate = Gate<VerificationDecision>()
        let pair = try await Self.clientHookPair(gate, version: version)
        gate.answer(.success(.reject))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        let errors = try await pair.client { $0.errorTexts }
        #expect(errors.count == 1)
        #expect(errors.first?.contains("certificate verify failed") == true, "\(errors)")
        #expect(try await eventually({ try await pair.pump() }) { try await pair.server { !$0.errors.isEmpty } })
        #expect(try await pair.server { $0.errorTexts }.first?.contains("alert") == true)
        #expect(gate.calls == 1)
        #expect(!pair.client.isActive)
        await pair.finish()
    }

    @Test("N05 client: an error thrown by the async hook fails the handshake with that error")
    func clientThrows() async throws {
        let gate = Gate<VerificationDecision>()
        let pair = try await Self.clientHookPair(gate)
        gate.answer(.failure(HookFailure(reason: "the revocation service said no")))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        nonisolated(unsafe) let recorder = pair.clientRecorder
        let thrown = try await pair.client.testingEventLoop.executeInContext { () -> HookFailure? in
            guard case .failed(.callback(let error))? = recorder.errors.first as? OpenSSLHandshakeError else { return nil }
            return error as? HookFailure
        }
        #expect(thrown == HookFailure(reason: "the revocation service said no"))
        #expect(gate.calls == 1)
        await pair.finish()
    }

    @Test("N05 client: OpenSSL's own verdict reaches the async hook, which may accept a chain OpenSSL refused")
    func clientSeesOpenSSLVerdict() async throws {
        let gate = Gate<VerificationDecision>()
        // A client trusting nothing: OpenSSL's verdict is a failure.
        let context = try Context.client(trusting: [Self.pki.ed25519Root])
        let pair = try await Self.clientHookPair(gate, context: context)
        gate.answer(.success(.accept))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { $0.handshakeCompletions.count == 1 } })
        #expect(gate.verifications.first?.error != nil)
        await pair.finish()
    }

    // MARK: N06 server

    static func serverPair(
        version: ProtocolVersion, gate: Gate<VerificationDecision>,
        clientTickets: LockedBox<Int>
    ) async throws -> (AsyncPair, Context, OpenSSLClientHandler) {
        let clientContext = try NIOContexts.client(maximumVersion: version, withCertificate: true)
        try clientContext.setNewSessionCallback { _, _ in clientTickets.mutate { $0 += 1 } }
        let serverContext = try NIOContexts.server(maximumVersion: version, requireClientCertificate: true)
        let client = try OpenSSLClientHandler(context: clientContext, serverHostname: "localhost")
        let pair = try await AsyncPair(
            client: client,
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        return (pair, serverContext, client)
    }

    @Test(
        "N06 server: before the decision no completion event, no plaintext, no session ticket; after accept everything is released and tickets issued",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func serverAccept(version: ProtocolVersion) async throws {
        let gate = Gate<VerificationDecision>()
        let tickets = LockedBox(0)
        let (pair, serverContext, _) = try await Self.serverPair(version: version, gate: gate, clientTickets: tickets)
        try await pair.pump()
        #expect(try await eventually { gate.isWaiting })
        try await pair.send(from: pair.client, "sent before the decision")
        try await pair.send(from: pair.server, "server wrote before the decision")
        try await pair.pump()
        #expect(try await pair.server { $0.handshakeCompletions.isEmpty && $0.received.isEmpty })
        #expect(try await pair.client { $0.received.isEmpty })
        #expect(tickets.get() == 0)
        #expect(serverContext.cachedSessionCount == 0)
        if version == .tls1_2 {
            // The client has not even finished: the server's last flight is held back.
            #expect(try await pair.client { $0.handshakeCompletions.isEmpty })
        }

        gate.answer(.success(.accept))
        #expect(
            try await eventually({ try await pair.pump() }) {
                try await pair.server { $0.text == "sent before the decision" && $0.handshakeCompletions.count == 1 }
            })
        #expect(
            try await eventually({ try await pair.pump() }) {
                try await pair.client { $0.text == "server wrote before the decision" }
            })
        #expect(tickets.get() == (version == .tls1_3 ? 2 : 1))
        #expect(gate.calls == 1)
        #expect(try await pair.server { $0.errorTexts }.isEmpty)
        #expect(try await pair.client { $0.errorTexts }.isEmpty)
        await pair.finish()
    }

    @Test(
        "N06 server: after a rejection the client receives a fatal alert, no ticket, the session is forgotten and the channel closes",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func serverReject(version: ProtocolVersion) async throws {
        let gate = Gate<VerificationDecision>()
        let tickets = LockedBox(0)
        let (pair, serverContext, _) = try await Self.serverPair(version: version, gate: gate, clientTickets: tickets)
        try await pair.pump()
        #expect(try await eventually { gate.isWaiting })
        try await pair.send(from: pair.client, "never read")
        gate.answer(.success(.reject))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        let clientErrors = try await pair.client { $0.errorTexts }
        // TLS 1.2: the handler's own alert (access_denied: OpenSSL had accepted the chain);
        // TLS 1.3: OpenSSL's encrypted alert.
        let expected = version == .tls1_2 ? "access denied" : "unexpected message"
        #expect(clientErrors.first?.contains(expected) == true, "\(clientErrors)")
        #expect(try await pair.server { $0.received.isEmpty && $0.handshakeCompletions.isEmpty })
        let serverErrors = try await pair.server { $0.errorTexts }
        #expect(serverErrors.first?.contains("rejected the client") == true, "\(serverErrors)")
        #expect(try await eventually { !pair.server.isActive })
        #expect(tickets.get() == 0)
        #expect(serverContext.cachedSessionCount == 0)
        #expect(gate.calls == 1)
        await pair.finish()
    }

    @Test(
        "N06 server: an error thrown by the async hook ends the handshake with that error and an alert (TLS 1.2: internal_error)")
    func serverThrows() async throws {
        let gate = Gate<VerificationDecision>()
        let tickets = LockedBox(0)
        let (pair, _, _) = try await Self.serverPair(version: .tls1_2, gate: gate, clientTickets: tickets)
        gate.answer(.failure(HookFailure(reason: "directory unavailable")))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        #expect(try await pair.client { $0.errorTexts }.first?.contains("internal error") == true)
        nonisolated(unsafe) let recorder = pair.serverRecorder
        let thrown = try await pair.server.testingEventLoop.executeInContext { () -> HookFailure? in
            guard case .failed(.callback(let error))? = recorder.errors.first as? OpenSSLHandshakeError else { return nil }
            return error as? HookFailure
        }
        #expect(thrown == HookFailure(reason: "directory unavailable"))
        await pair.finish()
    }

    @Test("N06 server: a client without a certificate (optional) completes at once, and its TLS 1.3 tickets still come")
    func serverNoClientCertificate() async throws {
        let gate = Gate<VerificationDecision>()
        let tickets = LockedBox(0)
        let clientContext = try NIOContexts.client()
        try clientContext.setNewSessionCallback { _, _ in tickets.mutate { $0 += 1 } }
        let serverContext = try NIOContexts.server()
        try serverContext.setVerify([.peer])  // asks, does not require
        let pair = try await AsyncPair(
            client: try OpenSSLClientHandler(context: clientContext, serverHostname: "localhost"),
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        try await pair.pump()
        #expect(try await pair.server { $0.handshakeCompletions.count == 1 })
        try await pair.send(from: pair.client, "x")
        try await pair.pump()
        #expect(tickets.get() == 2)
        #expect(gate.calls == 0)
        await pair.finish()
    }

    // MARK: N07

    static func selectionPair(gate: Gate<OpenSSLCertificateSelection>) async throws -> AsyncPair {
        // The context's own certificate is for another host: only the chosen one verifies.
        let serverContext = try Context.server(certificate: pki.wrongHost, key: pki.wrongHostKey, chain: [pki.intermediate])
        return try await AsyncPair(
            client: try OpenSSLClientHandler(context: try NIOContexts.client(), serverHostname: "localhost"),
            server: try OpenSSLServerHandler(context: serverContext, certificateSelector: gate.selector))
    }

    @Test(
        "N07 async certificate selection: the handshake waits for the answer to the SNI name and presents the chosen certificate")
    func certificateSelection() async throws {
        let gate = Gate<OpenSSLCertificateSelection>()
        let pair = try await Self.selectionPair(gate: gate)
        try await pair.pump()
        #expect(try await eventually { gate.isWaiting })
        try await pair.pump()
        #expect(try await pair.client { $0.handshakeCompletions.isEmpty })
        #expect(gate.names == ["localhost"])
        gate.answer(
            .success(
                OpenSSLCertificateSelection(
                    certificateChain: [Self.pki.server, Self.pki.intermediate],
                    privateKey: Self.pki.serverKey)))
        #expect(
            try await eventually({ try await pair.pump() }) { try await pair.bothCompleted() })
        let result = try await pair.client.openSSLHandshakeResult().get()
        let presented = try result.peerCertificateChain.map { try $0.der }
        #expect(presented == [try Self.pki.server.der, try Self.pki.intermediate.der])
        #expect(gate.calls == 1)
        await pair.finish()
    }

    @Test("N07 an error thrown by the certificate selector fails the handshake with that error")
    func certificateSelectionThrows() async throws {
        let gate = Gate<OpenSSLCertificateSelection>()
        let pair = try await Self.selectionPair(gate: gate)
        gate.answer(.failure(HookFailure(reason: "no certificate for this name")))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.server { !$0.errors.isEmpty } })
        nonisolated(unsafe) let recorder = pair.serverRecorder
        let thrown = try await pair.server.testingEventLoop.executeInContext { () -> HookFailure? in
            guard case .failed(.callback(let error))? = recorder.errors.first as? OpenSSLHandshakeError else { return nil }
            return error as? HookFailure
        }
        #expect(thrown == HookFailure(reason: "no certificate for this name"))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        #expect(try await pair.client { $0.errorTexts }.first?.contains("internal error") == true)
        await pair.finish()
    }

    // MARK: Error paths

    /// What the callback threw when `channel`'s handshake failed with
    /// `.callback(thatError)`: its type and text, read on the channel's
    /// loop. Nil, with an issue recorded, for any other outcome.
    static func callbackCause(
        _ channel: NIOAsyncTestingChannel, _ recorder: Recorder
    ) async throws
        -> (type: String, text: String)?
    {
        nonisolated(unsafe) let recorder = recorder
        let outcome = try await channel.testingEventLoop.executeInContext { () -> (type: String, text: String)? in
            guard case .failed(.callback(let cause))? = recorder.errors.first as? OpenSSLHandshakeError else { return nil }
            return ("\(type(of: cause))", "\(cause)")
        }
        if outcome == nil {
            let seen = try await channel.testingEventLoop.executeInContext { "\(recorder.errors)" }
            Issue.record("expected a handshake failure with .callback(…), got \(seen)")
        }
        return outcome
    }

    @Test(
        "N05 client with VerifyMode.none: an async rejection still fails the handshake (OpenSSL alone would go on)",
        arguments: [ProtocolVersion.tls1_2, .tls1_3])
    func clientRejectWithoutPeerVerification(version: ProtocolVersion) async throws {
        let gate = Gate<VerificationDecision>()
        let context = try NIOContexts.client(maximumVersion: version)
        try context.setVerify(.none)
        let pair = try await Self.clientHookPair(gate, version: version, context: context)
        gate.answer(.success(.reject))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        #expect(try await pair.client { $0.handshakeCompletions.isEmpty })
        let errors = try await pair.client { $0.errorTexts }
        #expect(errors.count == 1)
        #expect(errors.first?.contains("rejected the server") == true, "\(errors)")
        #expect(try await eventually { !pair.client.isActive })
        #expect(gate.calls == 1)
        await pair.finish()
    }

    @Test("N05 an async hook answering decideLater fails the handshake with a usage error, in both roles")
    func asyncDecideLaterIsAUsageError() async throws {
        let clientGate = Gate<VerificationDecision>()
        let clientSide = try await Self.clientHookPair(clientGate)
        clientGate.answer(.success(.decideLater))
        #expect(try await eventually({ try await clientSide.pump() }) { try await clientSide.client { !$0.errors.isEmpty } })
        guard let clientCause = try await Self.callbackCause(clientSide.client, clientSide.clientRecorder) else { return }
        #expect(clientCause.type == "UsageError", "\(clientCause)")
        #expect(clientCause.text.contains("answer .accept or .reject"))
        await clientSide.finish()

        let serverGate = Gate<VerificationDecision>()
        let tickets = LockedBox(0)
        let (serverSide, serverContext, _) = try await Self.serverPair(version: .tls1_3, gate: serverGate, clientTickets: tickets)
        serverGate.answer(.success(.decideLater))
        #expect(try await eventually({ try await serverSide.pump() }) { try await serverSide.server { !$0.errors.isEmpty } })
        guard let serverCause = try await Self.callbackCause(serverSide.server, serverSide.serverRecorder) else { return }
        #expect(serverCause.type == "UsageError", "\(serverCause)")
        #expect(try await serverSide.server { $0.handshakeCompletions.isEmpty && $0.received.isEmpty })
        #expect(tickets.get() == 0)
        #expect(serverContext.cachedSessionCount == 0)
        await serverSide.finish()
    }

    @Test("N07 a selector answering an empty chain fails the handshake with a usage error and an internal_error alert")
    func certificateSelectionEmptyChain() async throws {
        let gate = Gate<OpenSSLCertificateSelection>()
        let pair = try await Self.selectionPair(gate: gate)
        gate.answer(.success(OpenSSLCertificateSelection(certificateChain: [], privateKey: Self.pki.serverKey)))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.server { !$0.errors.isEmpty } })
        guard let cause = try await Self.callbackCause(pair.server, pair.serverRecorder) else { return }
        #expect(cause.text.contains("the chosen chain is empty"), "\(cause)")
        #expect(try await eventually({ try await pair.pump() }) { try await pair.client { !$0.errors.isEmpty } })
        #expect(try await pair.client { $0.errorTexts }.first?.contains("internal error") == true)
        #expect(gate.calls == 1)
        await pair.finish()
    }

    @Test("N07 a selector answering a key that does not match its certificate fails the handshake with OpenSSL's reason")
    func certificateSelectionMismatchedKey() async throws {
        let gate = Gate<OpenSSLCertificateSelection>()
        let pair = try await Self.selectionPair(gate: gate)
        gate.answer(
            .success(
                OpenSSLCertificateSelection(
                    certificateChain: [Self.pki.server, Self.pki.intermediate],
                    privateKey: Self.pki.wrongHostKey)))
        #expect(try await eventually({ try await pair.pump() }) { try await pair.server { !$0.errors.isEmpty } })
        guard let cause = try await Self.callbackCause(pair.server, pair.serverRecorder) else { return }
        #expect(cause.type == "OpenSSLError", "\(cause)")
        #expect(try await pair.client { $0.handshakeCompletions.isEmpty })
        await pair.finish()
    }

    @Test(
        "N06 server, TLS 1.2 with a session cache and no tickets: the session is cached only once the hook accepts, and the client resumes it"
    )
    func serverAcceptCachesTheSession() async throws {
        // With tickets, OpenSSL gives a TLS 1.2 session no ID and never caches
        // it on the server; without them the cache is the only way to resume.
        let clientContext = try NIOContexts.client(maximumVersion: .tls1_2, withCertificate: true)
        let serverContext = try NIOContexts.server(maximumVersion: .tls1_2, requireClientCertificate: true)
        _ = try serverContext.setOptions(.noTicket)
        let gate = Gate<VerificationDecision>()
        let first = try Connection(clientContext)
        try first.setServerName("localhost")
        let pair = try await AsyncPair(
            client: try OpenSSLClientHandler(connection: first),
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        try await pair.pump()
        #expect(try await eventually { gate.isWaiting })
        #expect(serverContext.cachedSessionCount == 0)
        gate.answer(.success(.accept))
        #expect(
            try await eventually({ try await pair.pump() }) {
                try await pair.client { $0.handshakeCompletions.count == 1 }
            })
        #expect(serverContext.cachedSessionCount == 1)
        nonisolated(unsafe) let firstConnection = first
        let session = try #require(try await pair.client.testingEventLoop.executeInContext { firstConnection.session })
        await pair.finish()

        // The next connection offers the session and resumes it: the hook does not run again.
        let resuming = try Connection(clientContext)
        try resuming.setSession(session)
        try resuming.setServerName("localhost")
        let again = try await AsyncPair(
            client: try OpenSSLClientHandler(connection: resuming),
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        #expect(
            try await eventually({ try await again.pump() }) { try await again.bothCompleted() })
        nonisolated(unsafe) let resumingConnection = resuming
        #expect(try await again.client.testingEventLoop.executeInContext { resumingConnection.isSessionReused })
        #expect(gate.calls == 1)
        await again.finish()
    }

    @Test(
        "N06 server, TLS 1.3: a client resuming with its ticket gets one new ticket, as OpenSSL sends after a resumption, and the hook does not run"
    )
    func serverResumptionGetsOneTicket() async throws {
        let tickets = LockedBox<[Session]>([])
        let clientContext = try NIOContexts.client(maximumVersion: .tls1_3, withCertificate: true)
        try clientContext.setNewSessionCallback { _, session in tickets.mutate { $0.append(session) } }
        let serverContext = try NIOContexts.server(maximumVersion: .tls1_3, requireClientCertificate: true)
        let gate = Gate<VerificationDecision>()
        gate.answer(.success(.accept))
        let first = try await AsyncPair(
            client: try OpenSSLClientHandler(context: clientContext, serverHostname: "localhost"),
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        #expect(try await eventually({ try await first.pump() }) { tickets.get().count == 2 })
        await first.finish()
        let ticket = try #require(tickets.get().first)

        let resuming = try Connection(clientContext)
        try resuming.setSession(ticket)
        try resuming.setServerName("localhost")
        let again = try await AsyncPair(
            client: try OpenSSLClientHandler(connection: resuming),
            server: try OpenSSLServerHandler(context: serverContext, verification: gate.hook))
        #expect(
            try await eventually({ try await again.pump() }) {
                try await again.server { $0.handshakeCompletions.count == 1 }
            })
        try await again.send(from: again.client, "x")
        #expect(try await eventually({ try await again.pump() }) { try await again.server { $0.text == "x" } })
        nonisolated(unsafe) let resumingConnection = resuming
        #expect(try await again.client.testingEventLoop.executeInContext { resumingConnection.isSessionReused })
        #expect(try await eventually({ try await again.pump() }) { tickets.get().count >= 3 })
        #expect(tickets.get().count == 3)
        #expect(gate.calls == 1)
        await again.finish()
    }
}
