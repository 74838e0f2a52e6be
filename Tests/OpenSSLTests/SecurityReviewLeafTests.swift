import Testing
import Foundation
import COpenSSL
@testable import OpenSSL

/// Security review, issue 12: trusted-certificate PEM (SEC08), TCPSocket
/// bounds (SEC09), PKCS#12 passphrase length (SEC11), and cache calls made
/// from the remove-session callback (SEC12).
@Suite("Security review (issue 12): PEM, sockets, PKCS#12, session cache")
struct SecurityReviewLeafTests {
    static var pki: TestPKI { TestPKI.shared }

    // MARK: SEC08 TRUSTED CERTIFICATE

    /// `openssl x509 -trustout` output for `certificate`, with the given extra arguments.
    static func trustedPEM(_ certificate: X509, _ arguments: [String]) throws -> String {
        let directory = try TemporaryDirectory()
        let input = try directory.write("cert.pem", try certificate.pem)
        return try ExternalTool.openssl(["x509", "-in", input, "-trustout"] + arguments)
    }

    @Test("SEC08 a TRUSTED CERTIFICATE from openssl x509 -trustout loads through X509(pem:) with its trust settings")
    func trustedCertificateSingle() throws {
        let root = Self.pki.root
        let pem = try Self.trustedPEM(root, ["-addtrust", "serverAuth", "-addreject", "clientAuth",
                                             "-setalias", "Test Root (trusted)"])
        #expect(pem.hasPrefix("-----BEGIN TRUSTED CERTIFICATE-----"))

        let loaded = try X509(pem: pem)
        #expect(loaded == root)
        #expect(try loaded.der == root.der, "der is the certificate alone")
        #expect(try loaded.pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let settings = try #require(loaded.trustSettings)
        #expect(settings.trustedUses == [.serverAuth])
        #expect(settings.trustedUses.first?.shortName == "serverAuth")
        #expect(settings.rejectedUses == [.clientAuth])
        #expect(settings.alias == "Test Root (trusted)")
        #expect(settings.aliasBytes == Array("Test Root (trusted)".utf8))

        // A plain certificate carries none.
        #expect(root.trustSettings == nil)
        #expect(try X509(pem: try root.pem).trustSettings == nil)
        // pemOrDER goes the same way.
        #expect(try X509(pemOrDER: Array(pem.utf8)).trustSettings == settings)
        expectErrorQueueEmpty()
    }

    @Test("SEC08 X509.chain(pem:) reads TRUSTED CERTIFICATE blocks among plain ones, keeping their trust settings")
    func trustedCertificateChain() throws {
        let trustedRoot = try Self.trustedPEM(Self.pki.root, ["-addtrust", "serverAuth"])
        let bundle = try Self.pki.server.pem + Self.pki.intermediate.pem + trustedRoot
        let chain = try X509.chain(pem: bundle)
        #expect(chain == [Self.pki.server, Self.pki.intermediate, Self.pki.root])
        #expect(chain[0].trustSettings == nil)
        #expect(chain[2].trustSettings?.trustedUses == [.serverAuth])
        #expect(chain[2].trustSettings?.rejectedUses == [])
        #expect(chain[2].trustSettings?.alias == nil)

        // -trustout alone writes the label with no settings after the certificate.
        let bare = try Self.trustedPEM(Self.pki.root, [])
        #expect(bare.hasPrefix("-----BEGIN TRUSTED CERTIFICATE-----"))
        #expect(try X509.chain(pem: bare) == [Self.pki.root])
        #expect(try X509(pem: bare) == Self.pki.root)

        // Bytes after the trust settings are still refused, naming the block.
        var der = try Self.pki.root.der
        der += [0x30, 0x00, 0xFF]
        let junk = "-----BEGIN TRUSTED CERTIFICATE-----\n"
            + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END TRUSTED CERTIFICATE-----\n"
        let error = try #require(throws: OpenSSLError.self) { try X509.chain(pem: junk) }
        #expect(error.operation.contains("certificate 0"))
        expectErrorQueueEmpty()
    }

    @Test("SEC08 trusted certificates as anchors: a store and a CA file apply their trusted and rejected uses")
    func trustedCertificateAnchors() throws {
        let directory = try TemporaryDirectory()
        for (arguments, shouldVerify) in [(["-addtrust", "serverAuth"], true),
                                          (["-addreject", "serverAuth"], false),
                                          (["-addtrust", "clientAuth"], false)] {
            let pem = try Self.trustedPEM(Self.pki.root, arguments)
            let viaChain = try X509Store()
            try viaChain.add(try #require(X509.chain(pem: pem).first))
            let viaFile = try X509Store()
            try viaFile.loadFile(try directory.write("anchor.pem", pem))
            for store in [viaChain, viaFile] {
                try store.setPurpose(.tlsServer)
                let outcome = Result { try store.verify(Self.pki.server, untrusted: [Self.pki.intermediate]) }
                if shouldVerify {
                    #expect(try outcome.get().count == 3, "\(arguments)")
                } else {
                    #expect(throws: X509VerificationError.self, "\(arguments)") { try outcome.get() }
                }
            }
        }
        expectErrorQueueEmpty()
    }
}
