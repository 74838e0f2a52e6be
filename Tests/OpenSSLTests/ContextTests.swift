import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Context configuration (CONFORMANCE P01–P05) and the named constructors.
@Suite("Context")
struct ContextTests {
    static var pki: TestPKI { TestPKI.shared }

    @Test("P01 server minimum TLS 1.3 against client maximum TLS 1.2 fails with unsupported protocol; no maximum succeeds")
    func protocolVersions() throws {
        let server = try TestContexts.server()
        try server.setMinimumProtocolVersion(.tls1_3)
        #expect(server.minimumProtocolVersion == .tls1_3)
        let oldClient = try TestContexts.client()
        try oldClient.setMaximumProtocolVersion(.tls1_2)
        #expect(oldClient.maximumProtocolVersion == .tls1_2)
        let failure = try #require(throws: TLSPair.Failure.self) { try TLSPair(client: oldClient, server: server).handshake() }
        #expect(failure.error.openSSLError?.hasReason("unsupported protocol") == true, "\(failure)")
        let modern = try TestContexts.client()
        #expect(modern.maximumProtocolVersion == nil)
        let pair = try TLSPair(client: modern, server: server)
        try pair.handshake()
        #expect(pair.client.protocolVersion == .tls1_3)
        expectErrorQueueEmpty()
    }

    @Test("P02 cipher lists: unknown names skipped, no known name throws no cipher match; TLS 1.3 suites restrict negotiation")
    func ciphers() throws {
        let context = try TestContexts.server()
        try context.setCipherList("NO-SUCH-CIPHER:ECDHE-ECDSA-AES256-GCM-SHA384")
        let error = try #require(throws: OpenSSLError.self) { try context.setCipherList("NO-SUCH-CIPHER:ALSO-NOT-ONE") }
        #expect(error.hasReason("no cipher match"))
        // The refused list harmed nothing: the context keeps the list it had (OpenSSL alone would empty it).
        expectErrorQueueEmpty()
        try context.setMaximumProtocolVersion(.tls1_2)
        var pair = try TLSPair(client: try TestContexts.client(), server: context)
        try pair.handshake()
        #expect(pair.client.cipherName == "ECDHE-ECDSA-AES256-GCM-SHA384")

        let modern = try TestContexts.server()
        try modern.setTLS13Ciphersuites("TLS_CHACHA20_POLY1305_SHA256")
        #expect(throws: OpenSSLError.self) { try modern.setTLS13Ciphersuites("TLS_NOT_A_SUITE") }
        pair = try TLSPair(client: try TestContexts.client(), server: modern)
        try pair.handshake()
        #expect(pair.client.cipherName == "TLS_CHACHA20_POLY1305_SHA256")
        #expect(throws: OpenSSLError.self) { try Context(.tls).setGroups(["not-a-group"]) }
        expectErrorQueueEmpty()
    }

    @Test("P03 methods are a closed set; a key that does not match its certificate throws")
    func methodsAndKeys() throws {
        #expect(Context.Method(rawValue: 99) == nil)
        for method in Context.Method.allCases {
            #expect(try Context(method).method == method)
        }
        let context = try Context(.tlsServer)
        try context.useCertificate(Self.pki.server)
        let error = try #require(throws: OpenSSLError.self) { try context.usePrivateKey(Self.pki.clientKey) }
        #expect(error.hasReason("key values mismatch"))
        let other = try Context(.tlsServer)
        try other.usePrivateKey(Self.pki.clientKey)
        #expect(throws: OpenSSLError.self) { try other.checkPrivateKey() }
        #expect(throws: OpenSSLError.self) { try context.usePrivateKey(try Self.pki.serverKey.publicKey()) }
        #expect(throws: OpenSSLError.self) {
            try Context.server(certificate: Self.pki.server, key: Self.pki.clientKey)
        }
        expectErrorQueueEmpty()
    }

    @Test("P04 the passphrase callback: once, with the limit; its error comes out; empty throws; long is cut")
    func passphraseCallback() throws {
        let directory = try TemporaryDirectory()
        let key = try PKey.generate(.ec(.p256))
        let limit = Int(PEM_BUFSIZE)  // what OpenSSL offers a PEM passphrase callback
        let long = String(repeating: "s", count: 1500)
        let encrypted = try key.privateKeyPEM(passphrase: Passphrase(String(long.prefix(limit))))
        let path = try directory.write("key.pem", encrypted)
        struct Vault: Error, Equatable {}

        let calls = LockedBox<[Int]>([])
        let context = try Context(.tlsServer)
        // An answer longer than OpenSSL takes is refused, not cut.
        let tooLong = try Context(.tlsServer)
        try tooLong.setPassphrase(.callback { _ in Array(long.utf8) })
        #expect(throws: PassphraseError.tooLong(operation: "read private key (PEM)", length: 1500, maximum: limit)) {
            try tooLong.usePrivateKeyFile(path)
        }
        try context.setPassphrase(
            .callback { max, isWriting in
                calls.mutate { $0.append(max) }
                #expect(!isWriting, "reading a key decrypts")
                return Array(long.utf8.prefix(max))
            })
        try context.usePrivateKeyFile(path)
        #expect(calls.get().count == 1)
        #expect(calls.get().first == limit)

        let throwing = try Context(.tlsServer)
        try throwing.setPassphrase(.callback { _ in throw Vault() })
        #expect(throws: Vault.self) { try throwing.usePrivateKeyFile(path) }
        let empty = try Context(.tlsServer)
        try empty.setPassphrase(.callback { _ in [] })
        #expect(throws: PassphraseError.self) { try empty.usePrivateKeyFile(path) }
        let none = try Context(.tlsServer)
        #expect(throws: PassphraseError.required(operation: "read private key (PEM)")) { try none.usePrivateKeyFile(path) }
        #expect(throws: OpenSSLError.self) { try none.usePrivateKeyFile(directory.path("missing.pem")) }
        expectErrorQueueEmpty()
    }

    @Test("P05 once a connection exists, configuration is refused; reading still works")
    func frozenAfterUse() throws {
        let context = try TestContexts.server()
        #expect(!context.isInUse)
        try context.setTimeout(300)
        _ = try Connection(context)
        #expect(context.isInUse)
        let refusals: [(String, () throws -> Void)] = [
            ("setCipherList", { try context.setCipherList("DEFAULT") }),
            ("setVerify", { try context.setVerify(.peer) }),
            ("setMinimumProtocolVersion", { try context.setMinimumProtocolVersion(.tls1_3) }),
            ("useCertificate", { try context.useCertificate(Self.pki.server) }),
            ("setOptions", { try context.setOptions(.noTicket) }),
            ("setTimeout", { try context.setTimeout(10) }),
            ("setPeerVerification", { try context.setPeerVerification(nil) }),
            ("loadVerifyLocations", { try context.loadVerifyLocations(file: "/etc/ssl/certs/ca-certificates.crt") }),
        ]
        for (name, call) in refusals {
            #expect(throws: UsageError.self, "\(name)") { try call() }
        }
        #expect(context.timeout == 300)
        #expect(context.verifyMode == .none)
        #expect(context.certificate == Self.pki.server)
        context.userInfo = "still settable"
        #expect(context.userInfo as? String == "still settable")
        expectErrorQueueEmpty()
    }

    @Test("Options and modes round-trip; defaults allow partial writes and moving buffers")
    func optionsAndModes() throws {
        let context = try Context(.tls)
        #expect(context.mode.contains([.enablePartialWrite, .acceptMovingWriteBuffer]))
        let options = try context.setOptions([.noTicket, .cipherServerPreference])
        #expect(options.contains([.noTicket, .cipherServerPreference]))
        #expect(context.options.contains(.noTicket))
        try context.clearOptions(.noTicket)
        #expect(!context.options.contains(.noTicket))
        try context.setMode(.releaseBuffers)
        #expect(context.mode.contains(.releaseBuffers))
        try context.clearMode(.releaseBuffers)
        #expect(!context.mode.contains(.releaseBuffers))
        #expect(context.minimumProtocolVersion == .tls1_2)
        #expect(SSLOptions.all.rawValue == cossl_SSL_OP_ALL())
        #expect(SSLOptions.noTLSv1_3.rawValue == cossl_SSL_OP_NO_TLSv1_3())
        try context.setSessionIDContext(Array("app".utf8))
        #expect(throws: OpenSSLError.self) { try context.setSessionIDContext([UInt8](repeating: 1, count: 33)) }
        try context.setGroups(["X25519", "P-256"])
    }

    @Test("Client CA list: set replaces, add appends; file loading")
    func clientCAList() throws {
        let context = try Context(.tlsServer)
        #expect(context.clientCAList.isEmpty)
        try context.setClientCAList([try Self.pki.root.subject])
        #expect(context.clientCAList == [try Self.pki.root.subject])
        try context.addClientCA(Self.pki.intermediate)
        #expect(context.clientCAList == [try Self.pki.root.subject, try Self.pki.intermediate.subject])
        try context.setClientCAList([])
        #expect(context.clientCAList.isEmpty)
        let directory = try TemporaryDirectory()
        try Self.pki.writePEMFiles(to: directory.url)
        try context.loadClientCAFile(directory.path("ca-bundle.pem"))
        #expect(context.clientCAList.count == 2)
        #expect(throws: OpenSSLError.self) { try context.loadClientCAFile(directory.path("missing.pem")) }
        expectErrorQueueEmpty()
    }
}
