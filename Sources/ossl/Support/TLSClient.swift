import Foundation
import OpenSSL

/// The client side shared by `ossl connect` and `ossl demo`: connect,
/// handshake, optionally send and read, close with close_notify, and
/// report what was seen at each step.
enum TLSClient {
    /// What the client's whole-chain hook saw and decided, kept on the
    /// `Connection` (`userInfo`) for the report.
    final class Verdict {
        /// The chain the server sent, leaf first.
        let peerChain: [X509]
        /// OpenSSL's verdict: nil when the chain verified (trusted root, dates, host name).
        let error: X509VerificationError?
        /// Whether the leaf matched `--pin-sha256`; nil without a pin.
        let pinMatched: Bool?
        /// Whether the client went on with the handshake.
        let accepted: Bool

        init(peerChain: [X509], error: X509VerificationError?, pinMatched: Bool?, accepted: Bool) {
            self.peerChain = peerChain
            self.error = error
            self.pinMatched = pinMatched
            self.accepted = accepted
        }

        /// One line: "OK", or OpenSSL's error with code and depth, and what the pin and --insecure did.
        var summary: String {
            var text = error.map { "failed: \($0.message) (error \($0.code.rawValue) at depth \($0.depth))" } ?? "OK"
            if let pinMatched { text += pinMatched ? "; pinned certificate matches" : "; pinned certificate does NOT match" }
            if error != nil && accepted { text += "; accepted because of --insecure" }
            return text
        }
    }

    /// Installs the client's whole-chain hook on `context`: it records
    /// OpenSSL's verdict and accepts when OpenSSL verified the chain (or
    /// always, when `insecure`), and the leaf matches `pin` when one is given.
    static func installVerifier(on context: Context, insecure: Bool, pin: [UInt8]?) throws {
        try context.setPeerVerification { connection, verification in
            let pinMatched = pin.map { pin in (try? verification.leaf?.digest(.sha256)) == pin }
            let accepted = (insecure || verification.error == nil) && pinMatched != false
            connection.userInfo = Verdict(
                peerChain: verification.peerChain, error: verification.error,
                pinMatched: pinMatched, accepted: accepted)
            return accepted ? .accept : .reject
        }
    }

    /// Where a client run stopped.
    enum Failure {
        /// No TCP connection (exit status 2: the address is the problem).
        case connect(String)
        /// The handshake failed or the client refused the server (exit status 1).
        case handshake(String)
        /// The server refused or broke the connection after the handshake
        /// (TLS 1.3 servers judge client certificates then) (exit status 1).
        case refused(String)

        var message: String {
            switch self {
            case .connect(let text), .handshake(let text), .refused(let text): return text
            }
        }
    }

    /// What one client run saw.
    struct Outcome {
        /// The connection, also after a failure (for its protocol and chain); nil when TCP failed.
        var connection: Connection?
        /// The TCP peer ("93.184.216.34:443").
        var remoteAddress: String?
        /// The bytes received after `--send`.
        var received: [UInt8] = []
        /// Set when the run did not complete.
        var failure: Failure?

        /// The hook's record, when it ran (not on a resumed session).
        var verdict: Verdict? { connection?.userInfo as? Verdict }
    }

    /// Connects to `host`:`port`, handshakes, sends `send` and reads the
    /// answer until the server closes, stays silent for `readTimeout`, or
    /// has sent `expectedReply` bytes,
    /// then closes with close_notify and waits (bounded) for the server's.
    ///
    /// - Parameters:
    ///   - serverName: sent as SNI (unless an IP address) and checked against the certificate.
    ///   - prepare: called before the handshake (to offer a session, set ALPN…).
    static func run(
        context: Context, host: String, port: UInt16, serverName: String, send: [UInt8]?,
        expectedReply: Int? = nil, timeout: Duration, readTimeout: Duration,
        prepare: (Connection) throws -> Void = { _ in }
    ) -> Outcome {
        var outcome = Outcome()
        let socket: TCPSocket
        do {
            socket = try TCPSocket.connect(host: host, port: port, timeout: timeout)
            try socket.setReadTimeout(timeout)
            try socket.setWriteTimeout(timeout)
        } catch {
            outcome.failure = .connect(describe(error))
            return outcome
        }
        outcome.remoteAddress = socket.remoteAddress
        defer { socket.close() }

        let connection: Connection
        do {
            connection = try Connection(context, transport: socket)
            connection.setConnectState()
            try connection.setServerName(serverName)
            try prepare(connection)
        } catch {
            outcome.failure = .connect(describe(error))
            return outcome
        }
        outcome.connection = connection

        do {
            try connection.doHandshake()
        } catch {
            if let verdict = connection.userInfo as? Verdict, !verdict.accepted {
                outcome.failure = .handshake("server certificate refused: \(verdict.summary)")
            } else {
                outcome.failure = .handshake("handshake failed: \(error.openSSLError.map(reasons) ?? describe(error))")
            }
            return outcome
        }

        var peerClosed = false
        if let send {
            switch Result(catching: { () throws(SSLError) in try connection.writeAll(send) }) {
            case .success: break
            case .failure(let error):
                outcome.failure = .refused(alertOrError(connection, after: error))
                return outcome
            }
            try? socket.setReadTimeout(readTimeout)
            var buffer = [UInt8](repeating: 0, count: 16_384)
            reading: while true {
                switch Result(catching: { () throws(SSLError) in try connection.read(into: &buffer) }) {
                case .success(let count):
                    outcome.received += buffer[0..<count]
                    if let expectedReply, outcome.received.count >= expectedReply { break reading }
                case .failure(.zeroReturn):
                    peerClosed = true
                    break reading
                case .failure(.wantRead), .failure(.wantWrite):
                    break reading  // silent for readTimeout: done
                case .failure(let error):
                    if error.isUnexpectedEOF {
                        peerClosed = true
                        break reading
                    }
                    outcome.failure = .refused(error.openSSLError.map(refusal) ?? "after the handshake: \(describe(error))")
                    return outcome
                }
            }
        }

        // close_notify, then the server's: a server that refused our
        // certificate after the handshake (TLS 1.3) says so here. Reading,
        // not a second SSL_shutdown: SSL_shutdown reports a fatal alert
        // received while waiting as a completed shutdown.
        try? socket.setReadTimeout(min(readTimeout, .seconds(3)))
        switch Result(catching: { () throws(SSLError) in try connection.shutdown() }) {
        case .success(let complete):
            guard !complete && !peerClosed else { break }
            var buffer = [UInt8](repeating: 0, count: 4096)
            draining: while true {
                switch Result(catching: { () throws(SSLError) in try connection.read(into: &buffer) }) {
                case .success:
                    continue  // data sent before the server saw our close_notify
                case .failure(.ssl(let error)):
                    outcome.failure = .refused(refusal(error))
                    break draining
                case .failure:
                    break draining  // close_notify, end of stream, reset or silence: closed
                }
            }
        case .failure(let error):
            if !peerClosed {
                outcome.failure = .refused(alertOrError(connection, after: error))
            }
        }
        return outcome
    }

    /// OpenSSL's reasons without the operation ("tlsv1 alert unknown ca (SSL routines) …").
    static func reasons(_ error: OpenSSLError) -> String {
        let text = oneLine(error.description)
        let prefix = error.operation + ": "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }

    /// "refused by the server after the handshake: tlsv1 alert unknown ca".
    private static func refusal(_ error: OpenSSLError) -> String {
        "refused by the server after the handshake: \(oneLine(error.reason ?? error.description))"
    }

    /// After a failed write: the alert the server sent before it closed,
    /// when there is one to read, else the write's own error.
    private static func alertOrError(_ connection: Connection, after error: SSLError) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        switch Result(catching: { () throws(SSLError) in try connection.read(into: &buffer) }) {
        case .failure(.ssl(let alert)):
            return refusal(alert)
        default:
            return "the server closed the connection after the handshake (\(describe(error)))"
        }
    }
}
