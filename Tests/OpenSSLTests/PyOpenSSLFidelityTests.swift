import Testing
import Foundation
@testable import OpenSSL
import TestSupport

/// What a port of pyOpenSSL's own tests tripped on (issue 20): each test is
/// named after the pyOpenSSL test it mirrors, or after the behaviour.
@Suite("pyOpenSSL fidelity")
struct PyOpenSSLFidelityTests {
    static var pki: TestPKI { TestPKI.shared }

    @Test("test_set_session_id_fail: more than 32 bytes is refused with OpenSSL's own reason")
    func setSessionIDFail() throws {
        let context = try Context(.tlsServer)
        let error = try #require(throws: OpenSSLError.self) {
            try context.setSessionIDContext([UInt8](repeating: 0x61, count: 33))
        }
        #expect(!error.entries.isEmpty, "OpenSSL's entries, not only the binding's message")
        #expect(error.reason == "ssl session id context too long", "\(error)")
        try context.setSessionIDContext([UInt8](repeating: 0x61, count: 32))
        expectErrorQueueEmpty()
    }

    @Test("test_check_public_key: a public-only key checks its public part (the Swift design; pyOpenSSL refuses it)")
    func checkPublicKey() throws {
        let publicOnly = try PKey(publicKeyPEM: Self.pki.serverKey.publicKeyPEM())
        #expect(!publicOnly.hasPrivateKey)
        try publicOnly.checkConsistency()
        try Self.pki.serverKey.checkConsistency()
        expectErrorQueueEmpty()
    }

    @Test("test_get_elliptic_curve_unknown: an unknown curve name is refused where it is given")
    func unknownCurve() throws {
        #expect(throws: UnknownNameError(kind: .curve, name: "P-257")) { try PKey.Curve("P-257") }
        #expect(try PKey.generate(.ec(try PKey.Curve("secp384r1"))).curveName == "secp384r1")
        let result = try OsslTool.run(["genkey", "--type", "ec", "--curve", "P-257"])
        #expect(result.status == 2, "a usage error")
        #expect(result.stderr.contains("P-257"), "\(result.stderr)")
    }

    @Test("get_socket: a connection hands back the transport it was made with")
    func getSocket() throws {
        let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
        defer { listener.close() }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort)
        defer { socket.close() }
        let connection = try Connection(try TestContexts.client(), transport: socket)
        #expect(connection.transport as? TCPSocket === socket)
        #expect(try Connection(try TestContexts.client()).transport == nil, "memory BIOs have none")
    }

    @Test("test_recv_into_with_nbytes: reads at most the count asked for, into the start of the buffer")
    func recvIntoWithCount() throws {
        let pair = try TLSPair(client: try TestContexts.client(), server: try TestContexts.server())
        try pair.handshake()
        try pair.client.writeAll(Array("0123456789".utf8))
        try pair.pump()
        var buffer = [UInt8](repeating: 0xee, count: 64)
        let count = try buffer.withUnsafeMutableBytes { try pair.server.read(into: $0, count: 4) }
        #expect(count == 4)
        #expect(Array(buffer[..<4]) == Array("0123".utf8))
        #expect(buffer[4] == 0xee, "nothing past the count is written")
        #expect(try pair.server.read(max: 64) == Array("456789".utf8))
        #expect(sslErrorCase { _ = try buffer.withUnsafeMutableBytes { try pair.server.read(into: $0, count: 65) } } == .usage)
        expectErrorQueueEmpty()
    }

    @Test("test_load_privatekey_passphrase_callback_length: an answer longer than OpenSSL takes is refused, not cut")
    func passphraseCallbackLength() throws {
        let key = try PKey.generate(.ec(.p256))
        let pem = try key.privateKeyPEM(passphrase: "foo")
        let error = try #require(throws: PassphraseError.self) {
            try PKey(privateKeyPEM: pem, passphrase: .callback { max in [UInt8](repeating: 0x66, count: max + 1) })
        }
        guard case .tooLong = error else {
            Issue.record("expected tooLong, got \(error)")
            return
        }
        #expect("\(error)".contains("passphrase"))
        expectErrorQueueEmpty()
    }

    @Test("test_dump_privatekey_passphrase_callback: the callback is told it is writing")
    func passphraseCallbackWritingFlag() throws {
        let key = try PKey.generate(.ec(.p256))
        let flags = LockedBox<[Bool]>([])
        let pem = try key.privateKeyPEM(
            passphrase: .callback { _, isWriting in
                flags.mutate { $0.append(isWriting) }
                return Array("foo".utf8)
            })
        _ = try PKey(
            privateKeyPEM: pem,
            passphrase: .callback { _, isWriting in
                flags.mutate { $0.append(isWriting) }
                return Array("foo".utf8)
            })
        let bundle = PKCS12(privateKey: Self.pki.serverKey, certificate: Self.pki.server, friendlyName: "writing")
        let der = try bundle.der(
            passphrase: .callback { _, isWriting in
                flags.mutate { $0.append(isWriting) }
                return Array("foo".utf8)
            }, iterations: 1000)
        _ = try PKCS12(
            der: der,
            passphrase: .callback { _, isWriting in
                flags.mutate { $0.append(isWriting) }
                return Array("foo".utf8)
            })
        #expect(flags.get() == [true, false, true, false])
    }
}
