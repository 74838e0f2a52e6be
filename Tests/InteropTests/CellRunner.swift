import Foundation
import Synchronization
@testable import OpenSSL
import TestSupport

/// Runs one cell: starts the column's peer, plays the other role with this
/// library, and checks what both ends saw. Returns a short note on success;
/// throws `CellFailure` (with the peer's log) or `CellSkip`.
enum CellRunner {
    static let smallPayload = Array("ping from swift-openssl\n".utf8)
    static let mebibyte = payloadBytes(count: 1 << 20)
    /// 1 MiB of pseudo-random printable lines: gnutls-serv's echo is line
    /// based (it echoes complete lines and stops at a NUL), so it gets text.
    static let mebibyteOfLines = payloadLines(count: 1 << 20)

    static func run(_ cell: Cell) throws -> String {
        let pki = try InteropPKI.shared.get()
        _ = try Peers.program(for: cell.column)
        let scratch = try TemporaryDirectory()
        let deadline = ContinuousClock.now + .seconds(25)
        switch cell.column.role {
        case .server: return try weAreClient(cell, pki: pki, scratch: scratch, deadline: deadline)
        case .client: return try weAreServer(cell, pki: pki, scratch: scratch, deadline: deadline)
        }
    }

    // MARK: This library as client, the peer as server

    static func weAreClient(
        _ cell: Cell, pki: InteropPKI, scratch: TemporaryDirectory,
        deadline: ContinuousClock.Instant
    ) throws -> String {
        let row = cell.row
        let kind = cell.column.peer
        let identity = pki.server(row.key)
        var spec = ServerSpec(identity: identity)
        var trust = [identity.root]
        var ours: InteropPKI.ClientIdentity?
        switch row.scenario {
        case .clientCertificate:
            spec.clientCAFile = identity.rootFile
            ours = pki.caSignedClient
        case .selfSignedClientCertificate:
            // The peer trusts exactly this certificate (pinning).
            spec.clientCAFile = pki.selfSignedClient.leafFile
            ours = pki.selfSignedClient
        case .untrustedClientCertificate:
            spec.clientCAFile = identity.rootFile
            ours = pki.selfSignedClient
        case .wrongCA:
            trust = [pki.pki.ed25519Root]
        case .wrongHost:
            spec.identity = pki.wrongHost
        case .serverName:
            // wrong.example unless the client names localhost: only SNI gets a certificate that verifies.
            spec.identity = pki.wrongHost
            spec.byName = ("localhost", identity)
        case .closeNotifyFromPeer:
            spec.closes = true
        case .versionMismatch:
            spec.onlyTLS12 = true
        case .resumption:
            spec.connections = 2
        case .alpn:
            spec.alpn = ["http/1.1"]
        case .exchange, .echo, .closeNotifyFromUs, .abruptFromPeer, .abruptFromUs:
            break
        }
        let (peer, port) = try Peers.startServer(kind, spec, scratch: scratch)
        defer { peer.stop() }
        func failure(_ message: String) -> CellFailure {
            CellFailure("\(message)\n  peer: \(peer.command)\n  peer log: \(tail(Peers.log(peer, kind, scratch: scratch)))")
        }

        let context = try Context.client(
            trusting: trust, certificate: ours?.certificate, key: ours?.key,
            chain: ours?.chain ?? [])
        try context.setMinimumProtocolVersion(row.version)
        try context.setMaximumProtocolVersion(row.version)
        if row.scenario == .alpn { try context.setALPNProtocols(["swift/1", "http/1.1"]) }
        var tls = try LocalTLS.client(context, port: port, serverName: "localhost", deadline: deadline)
        defer { tls.close() }
        let handshake = Result { () throws(SSLError) in try tls.handshake() }

        // Cases that must fail.
        switch row.scenario {
        case .wrongCA, .wrongHost:
            let expected: X509VerificationError.Code =
                row.scenario == .wrongCA ? .unableToGetIssuerCertLocally : .hostnameMismatch
            guard case .failure(let error) = handshake else { throw failure("the handshake succeeded; expected \(expected)") }
            try require(
                error.openSSLError?.hasReason("certificate verify failed") == true,
                failure("expected certificate verify failed, got \(error)").message)
            try require(
                tls.connection.verifyResult == expected,
                failure("verify result \(tls.connection.verifyResult), expected \(expected)").message)
            return "client refused: \(expected.message)"
        case .versionMismatch:
            guard case .failure(let error) = handshake else { throw failure("a 1.3-only client agreed with a 1.2 server") }
            // GnuTLS answers a client it shares no version with by a handshake_failure alert, not protocol_version.
            let gnutlsWay = kind == .gnutls && reasons(error).contains("alert handshake failure")
            try require(
                mentionsProtocolVersion(error) || gnutlsWay,
                failure("expected a protocol version failure, got \(error)").message)
            return "refused: \(reasons(error))"
        case .untrustedClientCertificate:
            // TLS 1.2: the alert ends the handshake. TLS 1.3: the client finishes
            // first and reads the alert afterwards.
            var error: (any Error)?
            switch handshake {
            case .failure(let thrown): error = thrown
            case .success:
                // Read, not write: a write could meet the closed socket before the alert is read.
                let (_, end) = try tls.readToEnd()
                error = end
            }
            guard let error else { throw failure("the peer accepted an untrusted client certificate") }
            try require("\(error)".contains("alert"), failure("expected an alert from the server, got \(error)").message)
            try require(
                peerRefusedClientCertificate(peer, kind, scratch: scratch),
                failure("the peer did not report refusing the certificate").message)
            return "server refused it: \(reasons(error))"
        default:
            if case .failure(let error) = handshake { throw failure("handshake failed: \(error)") }
        }

        var connection = tls.connection
        try require(
            connection.protocolVersion == row.version,
            failure("negotiated \(connection.protocolVersionName ?? "nothing"), expected \(row.version)").message)
        let expectedServer = spec.byName?.identity.certificate ?? spec.identity.certificate
        try require(try connection.peerCertificate?.der == expectedServer.der, failure("unexpected server certificate").message)
        let note = "\(connection.protocolVersionName ?? "?") \(connection.cipherName ?? "?")"

        switch row.scenario {
        case .echo:
            let payload = kind == .gnutls ? mebibyteOfLines : mebibyte
            let echoed = try tls.exchange(payload, expect: payload.count)
            if let offset = firstDifference(echoed, payload) {
                throw failure("the echo differs from what was sent at byte \(offset) (\(echoed.count) bytes back)")
            }
            _ = try? tls.shutdown(waitForPeer: false)
            return note + ", 1 MiB echoed intact"
        case .closeNotifyFromPeer:
            let request = Peers.closingRequest(kind)
            let (reply, end) = try sendThenReadToEnd(tls, request)
            try require(
                Peers.closingReplyIsRight(kind, reply),
                failure("unexpected reply \(String(decoding: reply.prefix(80), as: UTF8.self).debugDescription)").message)
            try require(caseOf(end) == "zeroReturn", failure("the connection ended with \(end.caseName), not zeroReturn").message)
            return note + ", zeroReturn on the peer's close_notify"
        case .closeNotifyFromUs:
            try echoSmall(tls, failure)
            let complete = try tls.shutdown(waitForPeer: true)
            try require(complete, failure("the peer did not answer our close_notify").message)
            if kind == .python {
                try require(
                    peer.waitForText("\"how\": \"close_notify\"", timeout: 5),
                    failure("the peer did not see a clean close").message)
            }
            return note + ", two-way close_notify"
        case .abruptFromPeer:
            try echoSmall(tls, failure)
            peer.killPeer()
            let (_, end) = try tls.readToEnd()
            try require(end.isUnexpectedEOF, failure("the read ended with \(end.caseName) (\(end)), not unexpected EOF").message)
            return note + ", unexpected EOF when the peer vanished"
        case .abruptFromUs:
            try echoSmall(tls, failure)
            tls.closeAbruptly()
            try require(
                peerSawUncleanClose(peer, kind, scratch: scratch),
                failure("the peer did not report an unclean close").message)
            return note + ", the peer saw an unclean close"
        case .clientCertificate, .selfSignedClientCertificate:
            try echoSmall(tls, failure)
            let name = ours?.commonName ?? "?"
            try require(
                peerSawClientCertificate(peer, kind, commonName: name, scratch: scratch),
                failure("the peer did not report the client certificate \(name)").message)
            _ = try? tls.shutdown(waitForPeer: false)
            return note + ", peer saw \(name)"
        case .serverName:
            try echoSmall(tls, failure)
            _ = try? tls.shutdown(waitForPeer: false)
            return note + ", certificate chosen by SNI"
        case .exchange:
            try echoSmall(tls, failure)
            _ = try? tls.shutdown(waitForPeer: false)
            return note
        case .alpn:
            try require(
                connection.alpnProtocol == "http/1.1",
                failure("ALPN gave \(connection.alpnProtocol ?? "nothing"), expected http/1.1").message)
            try echoSmall(tls, failure)
            _ = try? tls.shutdown(waitForPeer: false)
            return note + ", ALPN http/1.1"
        case .resumption:
            try require(!connection.isSessionReused, failure("the first connection claims to be resumed").message)
            // The echo also reads TLS 1.3's tickets, which come after the handshake.
            try echoSmall(tls, failure)
            guard let session = connection.session, session.isResumable else {
                throw failure("no resumable session after the first connection")
            }
            // A clean shutdown keeps the session resumable.
            _ = try tls.shutdown(waitForPeer: false)
            tls.close()
            tls = try LocalTLS.client(context, port: port, serverName: "localhost", deadline: deadline)
            try tls.connection.setSession(session)
            if case .failure(let error) = Result(catching: { () throws(SSLError) in try tls.handshake() }) {
                throw failure("the resuming handshake failed: \(error)")
            }
            connection = tls.connection
            try require(connection.isSessionReused, failure("the second connection was not resumed").message)
            try echoSmall(tls, failure)
            _ = try? tls.shutdown(waitForPeer: false)
            return note + ", resumed"
        case .wrongCA, .wrongHost, .versionMismatch, .untrustedClientCertificate:
            return note  // handled above
        }
    }

    // MARK: This library as server, the peer as client

    static func weAreServer(
        _ cell: Cell, pki: InteropPKI, scratch: TemporaryDirectory,
        deadline: ContinuousClock.Instant
    ) throws -> String {
        let row = cell.row
        let kind = cell.column.peer
        var identity = pki.server(row.key)
        var spec = ClientSpec(trustFile: identity.rootFile)
        var clientRoots: [X509]?
        let hookCalls = Mutex<[PeerVerification]>([])
        var verifier: Context.PeerVerifier?
        var maximum = row.version
        switch row.scenario {
        case .clientCertificate:
            clientRoots = [pki.pki.root]
            spec.identity = pki.caSignedClient
        case .selfSignedClientCertificate:
            clientRoots = []
            spec.identity = pki.selfSignedClient
            let pinned = try pki.selfSignedClient.certificate.digest(.sha256)
            verifier = { _, verification in
                hookCalls.withLock { $0.append(verification) }
                return try verification.leaf?.digest(.sha256) == pinned ? .accept : .reject
            }
        case .untrustedClientCertificate:
            clientRoots = [pki.pki.root]
            spec.identity = pki.selfSignedClient
        case .wrongCA:
            spec.trustFile = pki.path("ed25519-root.pem")
        case .wrongHost:
            identity = pki.wrongHost
        case .versionMismatch:
            maximum = .tls1_2
            spec.onlyTLS13 = true
        case .echo:
            spec.payload = mebibyte
        case .closeNotifyFromPeer:
            spec.then = .close
        case .abruptFromPeer:
            spec.then = .stay
        case .resumption:
            spec.resume = true
        case .alpn:
            spec.alpn = ["swift/1", "http/1.1"]
        case .exchange, .closeNotifyFromUs, .abruptFromUs, .serverName:
            break
        }
        let context: Context
        let serverNameCalls = Mutex<[String?]>([])
        if row.scenario == .serverName {
            // Present wrong.example unless the client asks for localhost: the
            // callback switches the connection to the localhost context.
            context = try Context.server(
                certificate: pki.wrongHost.certificate, key: pki.wrongHost.key,
                chain: pki.wrongHost.chain)
            let named = try Context.server(certificate: identity.certificate, key: identity.key, chain: identity.chain)
            try named.setMinimumProtocolVersion(row.version)
            try named.setMaximumProtocolVersion(row.version)
            try context.setServerNameCallback { connection in
                serverNameCalls.withLock { $0.append(connection.serverName) }
                if connection.serverName == "localhost" { try connection.setContext(named) }
            }
        } else if let clientRoots {
            context = try Context.mutualTLSServer(
                certificate: identity.certificate, key: identity.key, chain: identity.chain,
                trusting: clientRoots, verifier: verifier)
        } else {
            context = try Context.server(certificate: identity.certificate, key: identity.key, chain: identity.chain)
        }
        try context.setMinimumProtocolVersion(maximum == .tls1_2 ? .tls1_2 : row.version)
        try context.setMaximumProtocolVersion(maximum)
        if row.scenario == .alpn { try context.setALPNSelection(preferring: ["http/1.1"]) }

        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let port = listener.localPort
        let sessionFile = scratch.path("session.pem")
        let twoRuns = row.scenario == .resumption && kind == .openssl
        var peer = try Peers.startClient(
            kind, spec, port: port, scratch: scratch,
            sessionFile: twoRuns ? sessionFile : nil)
        defer { peer.stop() }
        func failure(_ message: String) -> CellFailure {
            CellFailure("\(message)\n  peer: \(peer.command)\n  peer log: \(tail(Peers.log(peer, kind, scratch: scratch)))")
        }
        feed(peer, kind, spec)

        let connections = row.scenario == .resumption ? 2 : 1
        var note = ""
        for index in 0..<connections {
            if index == 1 && twoRuns {
                _ = peer.waitForExit(timeout: 10)
                peer.stop()
                peer = try Peers.startClient(kind, spec, port: port, scratch: scratch, resumeFrom: sessionFile)
                feed(peer, kind, spec)
            }
            let tls = try LocalTLS.server(context, listener: listener, deadline: deadline)
            defer { tls.close() }
            let handshake = Result { () throws(SSLError) in try tls.handshake() }
            let connection = tls.connection

            switch row.scenario {
            case .wrongCA, .wrongHost:
                guard case .failure(let error) = handshake else { throw failure("the peer accepted the server certificate") }
                let expected: X509VerificationError.Code =
                    row.scenario == .wrongCA ? .unableToGetIssuerCertLocally : .hostnameMismatch
                _ = peer.waitForExit(timeout: 10)
                try require(
                    peerRefusedServerCertificate(peer, kind, expected, scratch: scratch),
                    failure("the peer did not report \(expected) (\(expected.rawValue))").message)
                return "peer refused: \(expected.message); here: \(reasons(error))"
            case .versionMismatch:
                guard case .failure(let error) = handshake else { throw failure("a 1.2 server agreed with a 1.3-only client") }
                try require(mentionsProtocolVersion(error), failure("expected a protocol version failure, got \(error)").message)
                return "refused: \(reasons(error))"
            case .untrustedClientCertificate:
                guard case .failure(let error) = handshake else { throw failure("accepted an untrusted client certificate") }
                try require(
                    error.openSSLError?.hasReason("certificate verify failed") == true,
                    failure("expected certificate verify failed, got \(error)").message)
                try require(
                    connection.verifyResult == .depthZeroSelfSignedCert,
                    failure("verify result \(connection.verifyResult), expected self-signed (18)").message)
                return "server refused: \(connection.verifyResult.message)"
            default:
                if case .failure(let error) = handshake { throw failure("handshake failed: \(error)") }
            }
            try require(
                connection.protocolVersion == row.version,
                failure("negotiated \(connection.protocolVersionName ?? "nothing"), expected \(row.version)").message)
            note = "\(connection.protocolVersionName ?? "?") \(connection.cipherName ?? "?")"

            switch row.scenario {
            case .clientCertificate, .selfSignedClientCertificate:
                let expected = try spec.identity?.certificate.der
                try require(
                    try connection.peerCertificate?.der == expected, failure("the client certificate is not the one sent").message
                )
                if row.scenario == .selfSignedClientCertificate {
                    let calls = hookCalls.withLock { $0 }
                    try require(calls.count == 1, failure("the whole-chain hook ran \(calls.count) times").message)
                    try require(
                        calls.first?.isTrustedByOpenSSL == false,
                        failure("OpenSSL trusted a self-signed client certificate").message)
                    note += ", hook accepted the pinned certificate"
                } else {
                    try require(
                        connection.verifiedChain?.count == 3, failure("verified chain is not leaf, intermediate, root").message)
                    note += ", client chain verified"
                }
            case .serverName:
                let calls = serverNameCalls.withLock { $0 }
                try require(calls == ["localhost"], failure("the server-name callback saw \(calls)").message)
                try require(
                    try connection.certificate?.der == identity.certificate.der,
                    failure("the server did not switch to the localhost certificate").message)
                note += ", SNI localhost picked the certificate"
            case .alpn:
                try require(
                    connection.alpnProtocol == "http/1.1",
                    failure("ALPN gave \(connection.alpnProtocol ?? "nothing"), expected http/1.1").message)
                note += ", ALPN http/1.1"
            case .resumption where index == 1:
                try require(connection.isSessionReused, failure("the second connection was not resumed").message)
                note += ", resumed"
            default:
                break
            }

            let (echoed, end) = try tls.echo(limit: spec.payload.count)
            if let end {
                // gnutls-cli --resume only handshakes on its first connection, then says goodbye.
                guard row.scenario == .resumption && index == 0 && caseOf(end) == "zeroReturn" else {
                    throw failure("the peer ended the connection after \(echoed) bytes: \(end)")
                }
                _ = try? tls.shutdown(waitForPeer: false)
                continue
            }
            if row.scenario == .resumption && index == 0 {
                // Close this one; the peer reconnects.
                _ = try? tls.shutdown(waitForPeer: false)
                continue
            }
            try finishAsServer(
                row.scenario, kind: kind, peer: peer, tls: tls, spec: spec, scratch: scratch,
                note: &note, failure: failure)
        }
        let exit = peer.waitForExit(timeout: 10)
        if [.abruptFromPeer, .abruptFromUs].contains(row.scenario) == false {
            try require(
                exit?.succeeded == true, failure("the peer client ended with \(exit.map { "\($0)" } ?? "no exit")").message)
        }
        if row.scenario != .abruptFromPeer {
            let received = peer.stdout
            // py_peer echoes on both connections; gnutls-cli --resume sends only on
            // the second; s_client ran twice and this is the second run's output.
            let expected = row.scenario == .resumption && kind == .python ? spec.payload + spec.payload : spec.payload
            if let offset = firstDifference(received, expected) {
                throw failure(
                    "the peer received \(received.count) bytes, differing from the \(expected.count) sent at byte \(offset)")
            }
        }
        if row.scenario == .echo { note += ", 1 MiB echoed intact" }
        return note
    }

    /// After the echo: how this library's server ends the connection, per scenario.
    private static func finishAsServer(
        _ scenario: Scenario, kind: PeerKind, peer: PeerProcess, tls: LocalTLS,
        spec: ClientSpec, scratch: TemporaryDirectory, note: inout String,
        failure: (String) -> CellFailure
    ) throws {
        switch scenario {
        case .closeNotifyFromPeer:
            waitForEcho(peer, spec)
            peer.closeInput()
            let (_, end) = try tls.readToEnd()
            try require(
                caseOf(end) == "zeroReturn", failure("the read ended with \(end.caseName) (\(end)), not zeroReturn").message)
            _ = try? tls.shutdown(waitForPeer: false)
            note += ", zeroReturn on the peer's close_notify"
        case .closeNotifyFromUs:
            waitForEcho(peer, spec)
            if let error = try tls.shutdownAwaitingReply() {
                // gnutls-cli closes its socket on close_notify without answering
                // (it logs the clean close, checked below); every other peer answers.
                try require(
                    kind == .gnutls && error.isUnexpectedEOF,
                    failure("the peer did not answer our close_notify: \(error)").message)
                note += ", close_notify (gnutls-cli does not answer it)"
            } else {
                note += ", two-way close_notify"
            }
            _ = peer.waitForExit(timeout: 10)
            try require(
                peerSawCleanClose(peer, kind, scratch: scratch),
                failure("the peer did not report a clean close").message)
        case .abruptFromPeer:
            waitForEcho(peer, spec)
            peer.killPeer()
            let (_, end) = try tls.readToEnd()
            try require(end.isUnexpectedEOF, failure("the read ended with \(end.caseName) (\(end)), not unexpected EOF").message)
            note += ", unexpected EOF when the peer vanished"
        case .abruptFromUs:
            waitForEcho(peer, spec)
            tls.closeAbruptly()
            _ = peer.waitForExit(timeout: 10)
            try require(
                peerSawUncleanClose(peer, kind, scratch: scratch),
                failure("the peer did not report an unclean close").message)
            note += ", the peer saw an unclean close"
        default:
            waitForEcho(peer, spec)
            _ = try tls.shutdown(waitForPeer: false)
            if kind == .gnutls { peer.closeInput() }
        }
    }

    /// Queues the payload on the peer client's standard input (and closes it
    /// when the peer would not take EOF as a reason to close).
    private static func feed(_ peer: PeerProcess, _ kind: PeerKind, _ spec: ClientSpec) {
        peer.send(spec.payload)
        switch kind {
        case .python: peer.closeInput()
        case .openssl where spec.then != .close: peer.closeInput()  // -ign_eof
        default: break  // EOF would make it close: closed when the echo is back
        }
    }

    /// Waits (bounded) until the peer client has printed the whole echo.
    private static func waitForEcho(_ peer: PeerProcess, _ spec: ClientSpec) {
        peer.waitFor(timeout: 10) { out, _ in out.count >= spec.payload.count }
    }

    // MARK: Helpers

    private static func echoSmall(_ tls: LocalTLS, _ failure: (String) -> CellFailure) throws {
        let echoed = try tls.exchange(smallPayload, expect: smallPayload.count)
        try require(
            echoed == smallPayload, failure("the echo was \(String(decoding: echoed, as: UTF8.self).debugDescription)").message)
    }

    private static func sendThenReadToEnd(_ tls: LocalTLS, _ request: [UInt8]) throws -> ([UInt8], SSLError) {
        _ = try tls.exchange(request, expect: 0)
        return try tls.readToEnd()
    }

    static func caseOf(_ error: SSLError) -> String { error.caseName }

    static func reasons(_ error: any Error) -> String {
        if let error = error as? SSLError, let queue = error.openSSLError {
            let reasons = queue.entries.compactMap(\.reason)
            if !reasons.isEmpty { return reasons.joined(separator: "; ") }
        }
        return "\(error)"
    }

    static func mentionsProtocolVersion(_ error: SSLError) -> Bool {
        let text = reasons(error)
        return text.contains("protocol version") || text.contains("unsupported protocol")
    }
}
