import Foundation
import Testing
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The fault matrix: TLS 1.2 and TLS 1.3 handshakes over a `MemoryTransportPair`
/// whose ends misbehave — one-byte reads and writes, EINTR, would-block
/// storms, the peer hanging up at every byte offset of the handshake (both
/// roles), an error thrown at every transport call (both roles).
///
/// Every case must end, within a bounded number of steps, in success or a
/// typed `SSLError` of the kind the fault explains; never a hang or a crash,
/// and never with anything left on OpenSSL's error queue. Each test counts
/// its cases and prints the count.
@Suite("Fault matrix")
struct FaultMatrixTests {
    enum Role: String, CaseIterable, Sendable, CustomStringConvertible {
        case client, server
        var description: String { rawValue }
        var peer: Role { self == .client ? .server : .client }
    }

    /// How one case ended.
    enum Outcome: CustomStringConvertible {
        case success
        case failed(Role, SSLError)
        /// Neither side finished nor failed, and no byte moved for `idleRounds` rounds.
        case hang(steps: Int)

        var description: String {
            switch self {
            case .success: return "success"
            case .failed(let role, let error): return "\(role) failed: \(error)"
            case .hang(let steps): return "hang after \(steps) steps"
            }
        }
    }

    struct Injected: Error, Equatable, Sendable {
        let call: Int
    }

    /// Contexts shared by every case of a version (they are made once; a
    /// self-signed leaf keeps the handshake short, so the matrix stays fast).
    final class Setup: Sendable {
        let client: Context
        let server: Context

        init(version: ProtocolVersion) throws {
            let (key, certificate) = try TestContexts.selfSignedServer()
            server = try Context.server(certificate: certificate, key: key)
            try server.setMaximumProtocolVersion(version)
            client = try Context.client(trusting: [certificate])
            try client.setMaximumProtocolVersion(version)
        }
    }

    static let setups: [ProtocolVersion: Setup] = {
        var setups: [ProtocolVersion: Setup] = [:]
        for version in [ProtocolVersion.tls1_2, .tls1_3] {
            setups[version] = try? Setup(version: version)
        }
        return setups
    }()

    static let idleRounds = 400
    static let maximumSteps = 200_000

    /// Runs one handshake over a pair with these faults, stepping both sides
    /// on this thread until both are done, one fails, or nothing moves.
    static func handshake(
        _ version: ProtocolVersion, client clientFaults: TransportFaults = .init(),
        server serverFaults: TransportFaults = .init(),
        exchangeData: Bool = false
    ) throws -> (Outcome, MemoryTransportPair) {
        let setup = try #require(setups[version], "contexts for \(version) could not be made")
        let pair = MemoryTransportPair(client: clientFaults, server: serverFaults)
        let client = try Connection(setup.client, transport: pair.client)
        let server = try Connection(setup.server, transport: pair.server)
        client.setConnectState()
        server.setAcceptState()
        try client.setServerName("localhost")
        var idle = 0
        var moved = 0
        for step in 1...maximumSteps {
            if client.isHandshakeDone && server.isHandshakeDone {
                if exchangeData {
                    return (try exchange(client, server, steps: maximumSteps - step), pair)
                }
                return (.success, pair)
            }
            for (connection, role) in [(client, Role.client), (server, .server)] where !connection.isHandshakeDone {
                switch Result(catching: { () throws(SSLError) in try connection.doHandshake() }) {
                case .success, .failure(.wantRead), .failure(.wantWrite): break
                case .failure(let error): return (.failed(role, error), pair)
                }
            }
            let now = pair.client.bytesRead + pair.client.bytesWritten + pair.server.bytesRead + pair.server.bytesWritten
            if now == moved {
                idle += 1
                if idle > idleRounds { return (.hang(steps: step), pair) }
            } else {
                idle = 0
                moved = now
            }
        }
        return (.hang(steps: maximumSteps), pair)
    }

    /// After the handshake: a message each way, read back intact.
    static func exchange(_ client: Connection, _ server: Connection, steps: Int) throws -> Outcome {
        let request = Array("request".utf8)
        let reply = Array("reply from the server".utf8)
        var sent = [0, 0]
        var received: [[UInt8]] = [[], []]
        for _ in 0..<max(steps, 1) {
            for (index, (sender, receiver, message)) in [(client, server, request), (server, client, reply)].enumerated() {
                if sent[index] < message.count {
                    let result = message.withUnsafeBytes { bytes in
                        Result { () throws(SSLError) in
                            try sender.write(UnsafeRawBufferPointer(rebasing: bytes[sent[index]...]))
                        }
                    }
                    switch result {
                    case .success(let count): sent[index] += count
                    case .failure(.wantRead), .failure(.wantWrite): break
                    case .failure(let error): return .failed(index == 0 ? .client : .server, error)
                    }
                }
                if received[index].count < message.count {
                    switch Result(catching: { () throws(SSLError) in try receiver.read(max: 100) }) {
                    case .success(let bytes): received[index] += bytes
                    case .failure(.wantRead), .failure(.wantWrite): break
                    case .failure(let error): return .failed(index == 0 ? .server : .client, error)
                    }
                }
            }
            if received[0] == request && received[1] == reply { return .success }
        }
        return .hang(steps: steps)
    }

    /// Bytes each side writes in a clean handshake, and transport calls each side makes.
    static func cleanHandshakeProfile(_ version: ProtocolVersion) throws -> (written: [Role: Int], calls: [Role: Int]) {
        let (outcome, pair) = try handshake(version)
        guard case .success = outcome else { throw MatrixError(description: "clean \(version) handshake: \(outcome)") }
        return (
            written: [.client: pair.client.bytesWritten, .server: pair.server.bytesWritten],
            calls: [
                .client: pair.client.readCalls + pair.client.writeCalls,
                .server: pair.server.readCalls + pair.server.writeCalls,
            ]
        )
    }

    struct MatrixError: Error, CustomStringConvertible {
        let description: String
    }

    static func faults(_ role: Role, _ faults: TransportFaults) -> (client: TransportFaults, server: TransportFaults) {
        role == .client ? (faults, TransportFaults()) : (TransportFaults(), faults)
    }

    /// Checks the queue after a case; returns false (and empties it) when something was left.
    static func queueIsEmpty() -> Bool {
        let left = ERR_peek_error()
        ERR_clear_error()
        return left == 0
    }

    static let versions: [ProtocolVersion] = [.tls1_2, .tls1_3]

    // MARK: Short I/O, EINTR, would-block: always success

    /// Faults a correct stack absorbs: the handshake and a message each way must succeed.
    static let absorbed: [(String, TransportFaults)] = [
        ("one-byte reads", TransportFaults(maxBytesPerRead: 1)),
        ("one-byte writes", TransportFaults(maxBytesPerWrite: 1)),
        ("one-byte reads and writes", TransportFaults(maxBytesPerRead: 1, maxBytesPerWrite: 1)),
        ("EINTR on every 2nd call", TransportFaults(interruptEveryNthCall: 2)),
        ("EINTR on every call 1-63 (one short of giving up)", TransportFaults(interruptedCalls: 1...63)),
        ("EINTR on every 3rd call with one-byte reads", TransportFaults(maxBytesPerRead: 1, interruptEveryNthCall: 3)),
        ("every 2nd read and write would block", TransportFaults(wouldBlockEveryNthRead: 2, wouldBlockEveryNthWrite: 2)),
        ("would-block storms: 50 of every 53 calls", TransportFaults(wouldBlockStorm: (length: 50, period: 53))),
        (
            "would-block storms with one-byte I/O",
            TransportFaults(
                maxBytesPerRead: 1, maxBytesPerWrite: 1,
                wouldBlockStorm: (length: 7, period: 9))
        ),
        (
            "everything at once",
            TransportFaults(
                maxBytesPerRead: 1, maxBytesPerWrite: 3, interruptEveryNthCall: 5,
                wouldBlockStorm: (length: 3, period: 7))
        ),
    ]

    @Test(
        "short reads and writes, EINTR and would-block storms on either side: the handshake and data still get through",
        arguments: versions, Role.allCases)
    func absorbedFaults(version: ProtocolVersion, role: Role) throws {
        var cases = 0
        for (name, fault) in Self.absorbed {
            for both in [false, true] {
                let sides = both ? (client: fault, server: fault) : Self.faults(role, fault)
                let (outcome, _) = try Self.handshake(version, client: sides.client, server: sides.server, exchangeData: true)
                cases += 1
                guard case .success = outcome else {
                    Issue.record("\(version) \(name) on \(both ? "both sides" : role.rawValue): \(outcome)")
                    continue
                }
                #expect(Self.queueIsEmpty(), "\(version) \(name): error left on the queue")
            }
        }
        print("fault matrix: \(version) \(role), absorbed faults: \(cases) cases, 0 hangs")
    }

    @Test("an EINTR storm longer than the bridge retries ends in .transport(EINTR), not a spin", arguments: versions)
    func endlessEINTR(version: ProtocolVersion) throws {
        let (outcome, _) = try Self.handshake(version, client: TransportFaults(interruptedCalls: 1...100_000))
        guard case .failed(.client, .transport(let error)) = outcome else {
            Issue.record("expected the client to fail with .transport(EINTR): \(outcome)")
            return
        }
        #expect((error as? POSIXError)?.code == .EINTR)
        #expect(Self.queueIsEmpty())
    }

    // MARK: EOF at every byte offset

    @Test(
        "the peer hangs up at every byte offset of the handshake: a typed EOF or EPIPE error, or success once the handshake no longer needs the bytes",
        arguments: versions, Role.allCases)
    func hangUpAtEveryOffset(version: ProtocolVersion, role: Role) throws {
        let profile = try Self.cleanHandshakeProfile(version)
        // `role` is the side that sees the end of stream: its peer cuts the
        // connection after writing `offset` bytes.
        let total = try #require(profile.written[role.peer])
        var cases = 0
        var successes = 0
        var hangs: [Int] = []
        var wrong: [String] = []
        var leftOnQueue: [Int] = []
        for offset in 0..<total {
            let cut = Self.faults(role.peer, TransportFaults(closeAfterWriting: offset))
            let (outcome, _) = try Self.handshake(version, client: cut.client, server: cut.server)
            cases += 1
            switch outcome {
            case .success:
                successes += 1
            case .failed(let side, let error):
                // The side that sees EOF reports it as such; the side that cut
                // may instead fail writing to the closed pipe.
                let eofOnReader = side == role && error.isUnexpectedEOF
                var epipeOnCutter = false
                if side == role.peer, case .transport(let cause) = error {
                    epipeOnCutter = (cause as? POSIXError)?.code == .EPIPE
                }
                let eofOnCutter = side == role.peer && error.isUnexpectedEOF
                if !(eofOnReader || epipeOnCutter || eofOnCutter) { wrong.append("offset \(offset): \(side) \(error)") }
            case .hang:
                hangs.append(offset)
            }
            if !Self.queueIsEmpty() { leftOnQueue.append(offset) }
        }
        print(
            "fault matrix: \(version) \(role) sees EOF at every offset: \(cases) cases (\(successes) successes), \(hangs.count) hangs"
        )
        #expect(cases == total)
        #expect(hangs.isEmpty, "hangs at offsets \(hangs.prefix(20))")
        #expect(wrong.isEmpty, "unexpected errors: \(wrong.prefix(10))")
        #expect(leftOnQueue.isEmpty, "error left on the queue at offsets \(leftOnQueue.prefix(20))")
        // Every cut before the last byte the side needs must fail: at least the cut at 0 does.
        #expect(successes < cases)
    }

    // MARK: An error at every transport call

    @Test(
        "the transport throws at every call of the handshake: the driving call rethrows that very error",
        arguments: versions, Role.allCases)
    func errorAtEveryCall(version: ProtocolVersion, role: Role) throws {
        var cases = 0
        var hangs: [String] = []
        var wrong: [String] = []
        var leftOnQueue: [String] = []
        // Plain I/O, and with would-block storms and short reads so there are more, smaller steps.
        let shapes: [(String, TransportFaults)] = [
            ("plain", TransportFaults()),
            (
                "short and blocking",
                TransportFaults(
                    maxBytesPerRead: 64, maxBytesPerWrite: 100,
                    wouldBlockStorm: (length: 1, period: 3))
            ),
        ]
        for (shape, base) in shapes {
            // How many calls this side makes in a clean handshake with this shape. It varies
            // from handshake to handshake (an ECDSA signature is 70 to 72 bytes, and with short
            // writes and would-block storms a byte more can mean a call more; OpenSSL 3.5's
            // larger key shares make more calls): the fewest of several clean handshakes.
            let clean = Self.faults(role, base)
            var counts: [Int] = []
            for _ in 0..<8 {
                let (reference, pair) = try Self.handshake(version, client: clean.client, server: clean.server)
                guard case .success = reference else {
                    Issue.record("clean \(shape) handshake: \(reference)")
                    break
                }
                let end = role == .client ? pair.client : pair.server
                counts.append(end.readCalls + end.writeCalls)
            }
            guard let calls = counts.max(), let fewest = counts.min() else { continue }
            for call in 1...calls {
                var fault = base
                fault.error = Injected(call: call)
                fault.errorOnCall = call
                fault.errorOn = .any
                let sides = Self.faults(role, fault)
                let (outcome, _) = try Self.handshake(version, client: sides.client, server: sides.server)
                cases += 1
                switch outcome {
                case .success:
                    // Every call belongs to the handshake, so the error must stop it; only
                    // calls past the fewest a clean handshake made (less one) may not happen.
                    if call < fewest - 1 {
                        wrong.append("\(shape) call \(call): success")
                    }
                case .failed(let side, .transport(let error)) where side == role:
                    if error as? Injected != Injected(call: call) { wrong.append("\(shape) call \(call): \(error)") }
                case .failed(let side, let error):
                    // The faulty side stops: its peer may then read EOF or hit EPIPE, never anything else.
                    wrong.append("\(shape) call \(call): \(side) \(error)")
                case .hang(let steps):
                    hangs.append("\(shape) call \(call) after \(steps) steps")
                }
                if !Self.queueIsEmpty() { leftOnQueue.append("\(shape) call \(call)") }
            }
        }
        print("fault matrix: \(version) \(role) transport throws at every call: \(cases) cases, \(hangs.count) hangs")
        #expect(cases > 0)
        #expect(hangs.isEmpty, "hangs: \(hangs.prefix(10))")
        #expect(wrong.isEmpty, "unexpected outcomes: \(wrong.prefix(10))")
        #expect(leftOnQueue.isEmpty, "error left on the queue: \(leftOnQueue.prefix(10))")
    }

    @Test("EINTR at every single call of the handshake is retried: every case succeeds", arguments: versions, Role.allCases)
    func eintrAtEveryCall(version: ProtocolVersion, role: Role) throws {
        let profile = try Self.cleanHandshakeProfile(version)
        let calls = try #require(profile.calls[role])
        var cases = 0
        var failures: [String] = []
        for call in 1...calls {
            let sides = Self.faults(role, TransportFaults(error: POSIXError(.EINTR), errorOnCall: call, errorOn: .any))
            let (outcome, _) = try Self.handshake(version, client: sides.client, server: sides.server)
            cases += 1
            if case .success = outcome {} else { failures.append("call \(call): \(outcome)") }
            if !Self.queueIsEmpty() { failures.append("call \(call): error left on the queue") }
        }
        print("fault matrix: \(version) \(role) EINTR at every call: \(cases) cases, 0 hangs")
        #expect(failures.isEmpty, "\(failures.prefix(10))")
    }
}
