import Foundation
@testable import OpenSSL

/// The interop matrix: rows are `Case`s, columns are a real peer in one role
/// (this library takes the other role). Every cell runs the case against the
/// column's peer, started as a child process on 127.0.0.1.

/// A TLS implementation outside this library.
enum PeerKind: String, CaseIterable, Sendable {
    case openssl, python, gnutls
}

/// The role the *peer* plays; this library plays the other one.
enum PeerRole: String, Sendable {
    case server, client
}

/// A column of the matrix.
struct Column: Hashable, Sendable, CustomStringConvertible {
    let peer: PeerKind
    let role: PeerRole

    static let all: [Column] = [
        Column(peer: .openssl, role: .server), Column(peer: .openssl, role: .client),
        Column(peer: .python, role: .server), Column(peer: .python, role: .client),
        Column(peer: .gnutls, role: .server), Column(peer: .gnutls, role: .client),
    ]

    /// The peer program in its role: what the column is called in the table.
    var description: String {
        switch (peer, role) {
        case (.openssl, .server): return "s_server"
        case (.openssl, .client): return "s_client"
        case (.python, .server): return "py-server"
        case (.python, .client): return "py-client"
        case (.gnutls, .server): return "gnutls-serv"
        case (.gnutls, .client): return "gnutls-cli"
        }
    }
}

/// The server certificate's key.
enum ServerKey: String, Sendable {
    case ecdsa = "ECDSA P-256", rsa = "RSA-2048", ed25519 = "Ed25519"
}

/// What a case does after (or instead of) a plain handshake.
enum Scenario: Sendable, Equatable {
    /// Handshake, a few bytes each way; version, cipher and server key checked on both ends.
    case exchange
    /// The client presents a CA-signed certificate; the server requires and verifies it.
    case clientCertificate
    /// The client presents a self-signed certificate. This library as server
    /// accepts it in its whole-chain hook (trust on first use); a peer server
    /// trusts that one certificate.
    case selfSignedClientCertificate
    /// 1 MiB of pseudo-random bytes sent by the client, echoed by the server,
    /// compared byte for byte.
    case echo
    /// The peer sends close_notify: this library's read ends with `zeroReturn`.
    case closeNotifyFromPeer
    /// This library sends close_notify: the peer sees a clean close and answers with its own.
    case closeNotifyFromUs
    /// The peer vanishes (SIGKILL) without close_notify: this library's read
    /// throws `sysCall` marked unexpected EOF.
    case abruptFromPeer
    /// This library closes the socket without close_notify: the peer reports
    /// an unclean (unexpected EOF) close.
    case abruptFromUs
    /// The client trusts another CA: the client fails verification with
    /// "unable to get local issuer certificate" (20).
    case wrongCA
    /// The server presents a certificate for wrong.example: the client fails
    /// with "hostname mismatch" (62).
    case wrongHost
    /// The client presents a certificate from a CA the server does not trust:
    /// the server fails verification (self-signed, 18) and the client gets an alert.
    case untrustedClientCertificate
    /// The client sends SNI "localhost": the server sees that name and, by
    /// it, presents the localhost certificate instead of its default
    /// wrong.example one (this library: a server-name callback switching
    /// the connection's context).
    case serverName
    /// The server supports only TLS 1.2, the client requires 1.3: both fail.
    case versionMismatch
    /// The client connects twice; the second handshake resumes the first session.
    case resumption
    /// Client offers [swift/1, http/1.1], server supports http/1.1: both agree on http/1.1.
    case alpn
}

/// A row of the matrix.
struct Case: Sendable, Hashable, CustomStringConvertible {
    let name: String
    let version: ProtocolVersion
    let key: ServerKey
    let scenario: Scenario

    var description: String { name }

    static func == (lhs: Case, rhs: Case) -> Bool { lhs.name == rhs.name }
    func hash(into hasher: inout Hasher) { hasher.combine(name) }

    static var all: [Case] {
        var rows: [Case] = []
        let versions: [(ProtocolVersion, String)] = [(.tls1_2, "TLS1.2"), (.tls1_3, "TLS1.3")]
        for (version, label) in versions {
            for key in [ServerKey.rsa, .ecdsa, .ed25519] {
                rows.append(Case(name: "\(label) \(key.rawValue)", version: version, key: key, scenario: .exchange))
            }
        }
        let scenarios: [(Scenario, String)] = [
            (.clientCertificate, "client cert, CA-signed"),
            (.selfSignedClientCertificate, "client cert, self-signed"),
            (.echo, "1 MiB echo"),
            (.closeNotifyFromPeer, "close_notify from peer"),
            (.closeNotifyFromUs, "close_notify from us"),
            (.abruptFromPeer, "abrupt close by peer"),
            (.abruptFromUs, "abrupt close by us"),
            (.wrongCA, "verify fails: wrong CA"),
            (.wrongHost, "verify fails: wrong host"),
            (.untrustedClientCertificate, "verify fails: client cert"),
            (.serverName, "SNI"),
            (.resumption, "resumption"),
            (.alpn, "ALPN"),
        ]
        for (scenario, title) in scenarios {
            for (version, label) in versions {
                rows.append(Case(name: "\(label) \(title)", version: version, key: .ecdsa, scenario: scenario))
            }
        }
        rows.append(Case(name: "TLS1.2 server vs 1.3-only client", version: .tls1_3, key: .ecdsa, scenario: .versionMismatch))
        return rows
    }
}

/// One cell: a case against one column.
struct Cell: Sendable, Hashable, CustomStringConvertible {
    let row: Case
    let column: Column

    var description: String { "\(row.name) × \(column)" }

    static var all: [Cell] {
        Case.all.flatMap { row in Column.all.map { Cell(row: row, column: $0) } }
    }

    /// The cells to run: all, or those whose name contains one of the
    /// `|`-separated parts of `INTEROP_ONLY` (for working on a few cells).
    static var selected: [Cell] {
        guard let filter = ProcessInfo.processInfo.environment["INTEROP_ONLY"], !filter.isEmpty else { return all }
        let parts = filter.split(separator: "|").map(String.init)
        return all.filter { cell in parts.contains { cell.description.contains($0) } }
    }
}
