import Foundation
import Synchronization
@testable import OpenSSL
import TestSupport

/// The test PKI (TestPKI, shared with the unit tests) written once to PEM
/// files that the peer programs read. The directory is removed at exit.
final class InteropPKI: Sendable {
    static let shared: Result<InteropPKI, CellFailure> = {
        do {
            return .success(try InteropPKI())
        } catch {
            return .failure(CellFailure("cannot write the test PKI: \(error)"))
        }
    }()

    let pki = TestPKI.shared
    let directory: String

    private init() throws {
        directory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-openssl-interop-pki-\(getpid())").path
        scratchToRemoveAtExit.withLock { $0.append(directory) }
        atexit { removeScratchDirectories() }
        let url = URL(fileURLWithPath: directory)
        try pki.writePEMFiles(to: url)
        func write(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: url.appendingPathComponent(name), options: .atomic)
        }
        try write("wrong-host-chain.pem", try pki.wrongHost.pem + pki.intermediate.pem)
        try write("ed25519-chain.pem", try pki.ed25519Server.pem)
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// The server leaf, its key, the intermediates sent after it, and the root that verifies it.
    struct ServerIdentity {
        let certificate: X509
        let key: PKey
        let chain: [X509]
        let root: X509
        /// PEM files: leaf alone, key, leaf + chain, intermediates alone (nil when none), root.
        let leafFile, keyFile, chainFile: String
        let intermediatesFile: String?
        let rootFile: String
    }

    func server(_ key: ServerKey) -> ServerIdentity {
        switch key {
        case .ecdsa:
            return ServerIdentity(
                certificate: pki.server, key: pki.serverKey, chain: [pki.intermediate], root: pki.root,
                leafFile: path("server.pem"), keyFile: path("server-key.pem"),
                chainFile: path("chain.pem"), intermediatesFile: path("intermediate.pem"),
                rootFile: path("root.pem"))
        case .rsa:
            return ServerIdentity(
                certificate: pki.rsaServer, key: pki.rsaServerKey, chain: [pki.intermediate], root: pki.root,
                leafFile: path("rsa-server.pem"), keyFile: path("rsa-server-key.pem"),
                chainFile: path("rsa-chain.pem"), intermediatesFile: path("intermediate.pem"),
                rootFile: path("root.pem"))
        case .ed25519:
            return ServerIdentity(
                certificate: pki.ed25519Server, key: pki.ed25519ServerKey, chain: [], root: pki.ed25519Root,
                leafFile: path("ed25519-server.pem"), keyFile: path("ed25519-server-key.pem"),
                chainFile: path("ed25519-chain.pem"), intermediatesFile: nil,
                rootFile: path("ed25519-root.pem"))
        }
    }

    /// wrong.example, signed by the intermediate.
    var wrongHost: ServerIdentity {
        ServerIdentity(
            certificate: pki.wrongHost, key: pki.wrongHostKey, chain: [pki.intermediate], root: pki.root,
            leafFile: path("wrong-host.pem"), keyFile: path("wrong-host-key.pem"),
            chainFile: path("wrong-host-chain.pem"), intermediatesFile: path("intermediate.pem"),
            rootFile: path("root.pem"))
    }

    /// A client certificate: leaf, key, intermediates; PEM files as for servers.
    struct ClientIdentity {
        let certificate: X509
        let key: PKey
        let chain: [X509]
        let leafFile, keyFile, chainFile: String
        let intermediatesFile: String?
        let commonName: String
    }

    var caSignedClient: ClientIdentity {
        ClientIdentity(
            certificate: pki.client, key: pki.clientKey, chain: [pki.intermediate],
            leafFile: path("client.pem"), keyFile: path("client-key.pem"),
            chainFile: path("client-chain.pem"), intermediatesFile: path("intermediate.pem"),
            commonName: "Test Client")
    }

    var selfSignedClient: ClientIdentity {
        ClientIdentity(
            certificate: pki.selfSignedClient, key: pki.selfSignedClientKey, chain: [],
            leafFile: path("self-signed-client.pem"), keyFile: path("self-signed-client-key.pem"),
            chainFile: path("self-signed-client.pem"), intermediatesFile: nil,
            commonName: "Self-Signed Client")
    }
}

private let scratchToRemoveAtExit = Mutex<[String]>([])

private func removeScratchDirectories() {
    for directory in scratchToRemoveAtExit.withLock({ $0 }) {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Why a cell failed, in words for the table and the test log.
struct CellFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Why a cell was not run (the peer cannot do it).
struct CellSkip: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}

/// Fails the cell with `message` unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(CellFailure) {
    if !condition { throw CellFailure(message()) }
}
