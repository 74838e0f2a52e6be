import Foundation
import Testing
import OpenSSL

/// Two connections pumped against each other through memory BIOs
/// (pyOpenSSL's `handshake_in_memory` / `interact_in_memory`).
package final class TLSPair {
    package let client: Connection
    package let server: Connection

    /// Which side a handshake failed on, and how.
    package struct Failure: Error, CustomStringConvertible {
        package enum Side: Sendable { case client, server }
        package let side: Side
        package let error: SSLError
        package var description: String { "\(side) failed: \(error)" }
    }

    package init(client clientContext: Context, server serverContext: Context, serverName: String? = "localhost") throws {
        client = try Connection(clientContext)
        server = try Connection(serverContext)
        client.setConnectState()
        server.setAcceptState()
        if let serverName { try client.setServerName(serverName) }
    }

    /// Moves every pending ciphertext byte from `from` to `to`; true when anything moved.
    @discardableResult
    package static func move(from: Connection, to: Connection) throws -> Bool {
        var moved = false
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while from.pendingCiphertext > 0 {
            let count = try buffer.withUnsafeMutableBytes { try from.bioRead(into: $0) }
            try to.bioWrite(Array(buffer[..<count]))
            moved = true
        }
        return moved
    }

    /// Moves ciphertext both ways until none is left.
    package func pump() throws {
        while try TLSPair.move(from: client, to: server) || TLSPair.move(from: server, to: client) {}
    }

    /// Runs both handshakes to completion, pumping between them.
    /// - Throws: `Failure` naming the side whose handshake failed first.
    package func handshake() throws {
        for _ in 0..<64 {
            for (connection, side) in [(client, Failure.Side.client), (server, .server)] where !connection.isHandshakeDone {
                do {
                    try connection.doHandshake()
                } catch .wantRead {
                    // needs the peer's bytes
                } catch {
                    try? pump()
                    throw Failure(side: side, error: error)
                }
            }
            let moved = try TLSPair.move(from: client, to: server) || TLSPair.move(from: server, to: client)
            if client.isHandshakeDone && server.isHandshakeDone && !moved { return }
        }
        Issue.record("handshake did not finish in 64 rounds")
    }

    /// Sends `bytes` from one side and reads them on the other.
    package func send(_ bytes: [UInt8], from sender: Connection, to receiver: Connection) throws -> [UInt8] {
        try sender.writeAll(bytes)
        try pump()
        var received: [UInt8] = []
        while received.count < bytes.count {
            received += try receiver.read(max: bytes.count - received.count)
        }
        return received
    }
}

/// Contexts for tests, built on the shared TestPKI.
package enum TestContexts {
    package static var pki: TestPKI { TestPKI.shared }

    /// A server presenting `pki.server` (ECDSA P-256) with the intermediate.
    package static func server(certificate: X509? = nil, key: PKey? = nil, chain: [X509]? = nil) throws -> Context {
        try Context.server(
            certificate: certificate ?? pki.server, key: key ?? pki.serverKey,
            chain: chain ?? [pki.intermediate])
    }

    /// A client trusting only the test root and verifying host names.
    package static func client(trusting roots: [X509]? = nil) throws -> Context {
        try Context.client(trusting: roots ?? [pki.root])
    }

    /// A self-signed server certificate for "localhost" with a fresh key.
    package static func selfSignedServer(type: PKey.Specification = .ec(.p256)) throws -> (PKey, X509) {
        let key = try PKey.generate(type)
        var builder = X509Builder(
            subject: try X509Name([("CN", "localhost")]), publicKey: key,
            notBefore: Date() - 3600, notAfter: Date() + 86_400)
        try builder.addSubjectAlternativeNames([.dnsName("localhost")])
        try builder.addExtendedKeyUsage([.serverAuth])
        let digest: MessageDigest? = (type == .ed25519 || type == .ed448) ? nil : .sha256
        return (key, try builder.sign(with: key, digest: digest))
    }
}

/// The case of an `SSLError`, without payload, so tests can compare it.
package enum SSLErrorCase: Equatable, Sendable {
    case wantRead, wantWrite, wantRetryVerify, wantOther, zeroReturn, sysCall, unexpectedEOF, ssl, callback, transport, usage
    case notSSLError(String)

    package init(_ error: SSLError) {
        switch error {
        case .wantRead: self = .wantRead
        case .wantWrite: self = .wantWrite
        case .wantRetryVerify: self = .wantRetryVerify
        case .wantX509Lookup, .wantAsync, .wantAsyncJob, .wantClientHello, .wantConnect, .wantAccept: self = .wantOther
        case .zeroReturn: self = .zeroReturn
        case .sysCall: self = error.isUnexpectedEOF ? .unexpectedEOF : .sysCall
        case .ssl: self = .ssl
        case .callback: self = .callback
        case .transport: self = .transport
        case .usage: self = .usage
        }
    }
}

/// Runs `body` and returns the case of the `SSLError` it threw; nil when it did not throw.
package func sslErrorCase(_ body: () throws -> Void) -> SSLErrorCase? {
    do {
        try body()
        return nil
    } catch let error as SSLError {
        return SSLErrorCase(error)
    } catch let failure as TLSPair.Failure {
        return SSLErrorCase(failure.error)
    } catch {
        return .notSSLError("\(error)")
    }
}
