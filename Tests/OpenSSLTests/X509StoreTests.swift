import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// X509Store: trust sources (certificates, CA file, hashed directory,
/// default paths) and the verification rules, read back through OpenSSL.
@Suite("X509Store")
struct X509StoreTests {
    /// A self-signed root of the system bundle that is valid now: a trust
    /// anchor the default paths know, minted by nobody in this process.
    static func systemRoot() throws -> X509 {
        let bundle = try X509.chain(pem: try Data(contentsOf: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt")))
        return try #require(bundle.first { $0.isSelfSigned && $0.isValid() })
    }

    // MARK: Defaults and rules

    @Test("A new store is empty and has OpenSSL's defaults")
    func defaults() throws {
        let store = try X509Store()
        #expect(try store.certificates.isEmpty)
        #expect(store.flags == [])
        #expect(store.verificationTime == nil)
        #expect(store.depth == nil)
        #expect(store.purpose == nil)
        #expect(store.expectedHosts.isEmpty)
        #expect(store.expectedIPAddress == nil)
        #expect(store.expectedEmail == nil)
        #expect(store.hostCheckFlags == [])
    }

    static let allFlags: [(X509VerifyFlags, Int32)] = [
        (.useCheckTime, X509_V_FLAG_USE_CHECK_TIME), (.crlCheck, X509_V_FLAG_CRL_CHECK),
        (.crlCheckAll, X509_V_FLAG_CRL_CHECK_ALL), (.ignoreCritical, X509_V_FLAG_IGNORE_CRITICAL),
        (.x509Strict, X509_V_FLAG_X509_STRICT), (.allowProxyCertificates, X509_V_FLAG_ALLOW_PROXY_CERTS),
        (.policyCheck, X509_V_FLAG_POLICY_CHECK), (.explicitPolicy, X509_V_FLAG_EXPLICIT_POLICY),
        (.inhibitAny, X509_V_FLAG_INHIBIT_ANY), (.inhibitMap, X509_V_FLAG_INHIBIT_MAP),
        (.notifyPolicy, X509_V_FLAG_NOTIFY_POLICY), (.extendedCRLSupport, X509_V_FLAG_EXTENDED_CRL_SUPPORT),
        (.useDeltas, X509_V_FLAG_USE_DELTAS), (.checkSelfSignedSignature, X509_V_FLAG_CHECK_SS_SIGNATURE),
        (.trustedFirst, X509_V_FLAG_TRUSTED_FIRST), (.suiteB128Only, X509_V_FLAG_SUITEB_128_LOS_ONLY),
        (.suiteB192, X509_V_FLAG_SUITEB_192_LOS), (.suiteB128, X509_V_FLAG_SUITEB_128_LOS),
        (.partialChain, X509_V_FLAG_PARTIAL_CHAIN), (.noAlternativeChains, X509_V_FLAG_NO_ALT_CHAINS),
        (.noCheckTime, X509_V_FLAG_NO_CHECK_TIME),
    ]

    @Test(
        "Every X509_V_FLAG_ is an option, and set/clear round-trip through the store's parameters",
        arguments: allFlags.indices)
    func flagRoundTrip(index: Int) throws {
        let (flag, constant) = Self.allFlags[index]
        #expect(flag.rawValue == UInt(constant))
        let store = try X509Store()
        try store.setFlags(.crlCheck)
        try store.setFlags(flag)
        // OpenSSL turns policy checking on with any policy flag, and leaves it on.
        let implied: X509VerifyFlags = [.explicitPolicy, .inhibitAny, .inhibitMap].contains(flag) ? .policyCheck : []
        #expect(store.flags == flag.union(.crlCheck).union(implied))
        try store.clearFlags(flag)
        #expect(store.flags == (flag == .crlCheck ? [] : X509VerifyFlags.crlCheck.union(implied)))
    }

    @Test("setFlags adds to the flags already set; clearFlags removes only what it names")
    func flagsAccumulate() throws {
        let store = try X509Store()
        try store.setFlags([.crlCheck, .partialChain])
        try store.setFlags(.x509Strict)
        #expect(store.flags == [.crlCheck, .partialChain, .x509Strict])
        try store.clearFlags([.crlCheck, .x509Strict])
        #expect(store.flags == .partialChain)
    }

    @Test("The verification time round-trips in whole seconds; nil returns to now")
    func verificationTime() throws {
        let store = try X509Store()
        let date = Date(timeIntervalSince1970: 1_500_000_000.75)
        try store.setVerificationTime(date)
        #expect(store.verificationTime == Date(timeIntervalSince1970: 1_500_000_000))
        #expect(store.flags.contains(.useCheckTime))
        try store.setVerificationTime(nil)
        #expect(store.verificationTime == nil)
        #expect(!store.flags.contains(.useCheckTime))
        let error = try #require(throws: OpenSSLError.self) {
            try store.setVerificationTime(Date(timeIntervalSince1970: .infinity))
        }
        #expect(error.detail?.contains("out of range") == true)
        #expect(store.verificationTime == nil)
        try store.setVerificationTime(Date(timeIntervalSince1970: -86400))
        #expect(store.verificationTime == Date(timeIntervalSince1970: -86400))
    }

    @Test("Depth round-trips; a negative depth is refused")
    func depth() throws {
        let store = try X509Store()
        try store.setDepth(3)
        #expect(store.depth == 3)
        try store.setDepth(0)
        #expect(store.depth == 0)
        let error = try #require(throws: OpenSSLError.self) { try store.setDepth(-1) }
        #expect(error.detail?.contains("out of range") == true)
        #expect(store.depth == 0)
        expectErrorQueueEmpty()
    }

    @Test("Purpose round-trips; an id OpenSSL does not know is refused with its reason")
    func purpose() throws {
        #expect(X509Purpose.tlsServer.rawValue == X509_PURPOSE_SSL_SERVER)
        #expect(X509Purpose.tlsClient.rawValue == X509_PURPOSE_SSL_CLIENT)
        #expect(X509Purpose.any.rawValue == X509_PURPOSE_ANY)
        #expect(X509Purpose.tlsServer.description == "sslserver")
        #expect(X509Purpose.tlsClient.description == "sslclient")
        #expect(X509Purpose(rawValue: 99).description == "purpose 99")
        let store = try X509Store()
        try store.setPurpose(.tlsServer)
        #expect(store.purpose == .tlsServer)
        let error = try #require(throws: OpenSSLError.self) { try store.setPurpose(X509Purpose(rawValue: 99)) }
        #expect(error.hasReason("invalid purpose"))
        #expect(ERR_peek_error() == 0)
        #expect(store.purpose == .tlsServer)
    }

    @Test("Expected hosts: set replaces, add appends, nil clears; a NUL inside is refused")
    func expectedHosts() throws {
        let store = try X509Store()
        try store.setExpectedHost("www.example.com")
        try store.addExpectedHost("example.com")
        #expect(store.expectedHosts == ["www.example.com", "example.com"])
        try store.setExpectedHost("other.example")
        #expect(store.expectedHosts == ["other.example"])
        try store.setExpectedHost(nil)
        #expect(store.expectedHosts.isEmpty)
        #expect(throws: OpenSSLError.self) { try store.setExpectedHost("evil.com\0.example.com") }
        #expect(ERR_peek_error() == 0)
        try store.setHostCheckFlags([.noWildcards, .neverCheckSubject])
        #expect(store.hostCheckFlags == [.noWildcards, .neverCheckSubject])
        #expect(X509Store.HostCheckFlags.noPartialWildcards.rawValue == UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
    }

    @Test("Expected IP address: IPv4 and IPv6 round-trip, nil clears, text that is no address is refused")
    func expectedIPAddress() throws {
        let store = try X509Store()
        try store.setExpectedIPAddress("127.0.0.1")
        #expect(store.expectedIPAddress == "127.0.0.1")
        try store.setExpectedIPAddress("::1")
        // OpenSSL prints IPv6 addresses uncompressed.
        #expect(store.expectedIPAddress == "0:0:0:0:0:0:0:1")
        let error = try #require(throws: OpenSSLError.self) { try store.setExpectedIPAddress("localhost") }
        #expect(error.detail?.contains("not an IPv4 or IPv6 address") == true)
        #expect(ERR_peek_error() == 0)
        #expect(store.expectedIPAddress == "0:0:0:0:0:0:0:1")
        try store.setExpectedIPAddress(nil)
        #expect(store.expectedIPAddress == nil)
    }

    @Test("Expected email round-trips and clears")
    func expectedEmail() throws {
        let store = try X509Store()
        try store.setExpectedEmail("alice@example.com")
        #expect(store.expectedEmail == "alice@example.com")
        try store.setExpectedEmail(nil)
        #expect(store.expectedEmail == nil)
    }

    // MARK: Trust sources

    @Test("Added certificates are listed; adding one twice keeps one")
    func addCertificates() throws {
        let root = try Self.systemRoot()
        let store = try X509Store()
        try store.add(root)
        try store.add(root)
        #expect(try store.certificates == [root])
    }

    @Test("A trusted self-signed root verifies; the empty store says depth-zero self-signed")
    func selfSignedRoot() throws {
        let root = try Self.systemRoot()
        let empty = try X509Store()
        let error = try #require(throws: X509VerificationError.self) { try empty.verify(root) }
        #expect(error.code == .depthZeroSelfSignedCert)
        #expect(error.depth == 0)
        #expect(error.certificate == root)
        #expect(ERR_peek_error() == 0)
        let store = try X509Store()
        try store.add(root)
        #expect(try store.verify(root) == [root])
    }

    @Test("a CA file is loaded; a missing file throws OpenSSL's reason")
    func loadFile() throws {
        let root = try Self.systemRoot()
        let directory = try TemporaryDirectory()
        let path = try directory.write("ca.pem", try root.pem)
        let store = try X509Store()
        try store.loadFile(path)
        #expect(try store.certificates == [root])
        #expect(try store.verify(root) == [root])

        let missing = try #require(throws: OpenSSLError.self) { try store.loadFile(directory.path("absent.pem")) }
        #expect(missing.hasReason("no such file"))
        #expect(missing.entries.contains { $0.libraryCode == ERR_LIB_SYS && $0.reasonCode == ENOENT })
        #expect(missing.operation.contains("absent.pem"))
        #expect(ERR_peek_error() == 0)

        let notPEM = try #require(throws: OpenSSLError.self) {
            try store.loadFile(try directory.write("notes.txt", "no certificates here\n"))
        }
        #expect(notPEM.hasReason("no certificate or crl found"))
        #expect(ERR_peek_error() == 0)
    }

    @Test("a whole CA bundle is loaded")
    func loadBundle() throws {
        let path = "/etc/ssl/certs/ca-certificates.crt"
        let bundle = try X509.chain(pem: try Data(contentsOf: URL(fileURLWithPath: path)))
        let store = try X509Store()
        try store.loadFile(path)
        #expect(try store.certificates.count == Set(bundle).count)
    }

    @Test("a hashed directory is used; a missing directory or a file throws")
    func loadDirectory() throws {
        let root = try Self.systemRoot()
        let directory = try TemporaryDirectory()
        let name = String(format: "%08x.0", try root.subject.hash)
        try directory.write(name, try root.pem)
        // Cross-check the name with openssl's own hash.
        let opensslHash = try ExternalTool.openssl(["x509", "-hash", "-noout", "-in", directory.path(name)])
        #expect(opensslHash.trimmingCharacters(in: .whitespacesAndNewlines) + ".0" == name)

        let store = try X509Store()
        try store.loadDirectory(directory.url.path)
        #expect(try store.verify(root) == [root])
        expectErrorQueueEmpty()

        let emptyDirectory = try TemporaryDirectory()
        let unrelated = try X509Store()
        try unrelated.loadDirectory(emptyDirectory.url.path)
        let error = try #require(throws: X509VerificationError.self) { try unrelated.verify(root) }
        #expect(error.code == .depthZeroSelfSignedCert)
        expectErrorQueueEmpty()

        let missing = try #require(throws: OpenSSLError.self) { try store.loadDirectory(directory.path("absent")) }
        #expect(missing.detail == "No such file or directory")
        let file = try #require(throws: OpenSSLError.self) { try store.loadDirectory(directory.path(name)) }
        #expect(file.detail == "Not a directory")
        #expect(ERR_peek_error() == 0)
    }

    @Test("CRLs are read from a CA file and from a hashed directory (<issuer hash>.r0)")
    func crlsFromFiles() throws {
        let pki = TestPKI.shared
        let crl = try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [pki.server]).pem
        let directory = try TemporaryDirectory()

        // Adding the same CRL object twice is accepted.
        let added = try X509Store()
        let crlObject = try CRL(pem: crl)
        try added.add(crlObject)
        try added.add(crlObject)

        let fromFile = try X509Store()
        try fromFile.add(pki.root)
        try fromFile.loadFile(try directory.write("crl.pem", crl))
        try fromFile.setFlags(.crlCheck)
        let revoked = try #require(throws: X509VerificationError.self) {
            try fromFile.verify(pki.server, untrusted: [pki.intermediate])
        }
        #expect(revoked.code == .certRevoked)

        let hashed = try TemporaryDirectory()
        try hashed.write(String(format: "%08x.0", try pki.root.subject.hash), try pki.root.pem)
        try hashed.write(String(format: "%08x.r0", try pki.intermediate.subject.hash), crl)
        let fromDirectory = try X509Store()
        try fromDirectory.loadDirectory(hashed.url.path)
        try fromDirectory.setFlags(.crlCheck)
        let again = try #require(throws: X509VerificationError.self) {
            try fromDirectory.verify(pki.server, untrusted: [pki.intermediate])
        }
        #expect(again.code == .certRevoked)
        #expect(try fromDirectory.verify(pki.client, untrusted: [pki.intermediate]).count == 3)
        expectErrorQueueEmpty()
    }

    @Test("Default paths trust the system's roots")
    func defaultPaths() throws {
        let root = try Self.systemRoot()
        let store = try X509Store()
        try store.setDefaultPaths()
        #expect(try store.verify(root) == [root])
        expectErrorQueueEmpty()
    }

    // MARK: Sharing

    @Test("Every wrapper of one X509_STORE shares its lock and purpose; the state goes when the store is freed")
    func sharedState() throws {
        weak var weakState: X509Store.SharedState?
        do {
            let store = try X509Store()
            let other = try store.withUnsafeOpenSSLPointer { try X509Store(borrowing: $0) }
            #expect(other.state === store.state)
            #expect(other.lock === store.lock)
            try store.setPurpose(.tlsClient)
            #expect(other.purpose == .tlsClient)
            weakState = store.state
            #expect(weakState != nil)
            #expect(try X509Store().state !== store.state)
        }
        // Both wrappers are gone, so is the X509_STORE, and OpenSSL's ex-data free callback released the state.
        #expect(weakState == nil)
        let index = cossl_X509_STORE_get_ex_new_index(0, nil, nil, nil, nil)
        #expect(index >= 0)
    }

    @Test("Verifications on many threads while another thread changes the store")
    func concurrentUse() async throws {
        let root = try Self.systemRoot()
        let bundle = try X509.chain(pem: try Data(contentsOf: URL(fileURLWithPath: "/etc/ssl/certs/ca-certificates.crt")))
        let store = try X509Store()
        try store.add(root)
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                for (index, certificate) in bundle.prefix(40).enumerated() {
                    try store.add(certificate)
                    try store.setDepth(10 + index)
                    try store.setHostCheckFlags(index % 2 == 0 ? .noWildcards : [])
                }
                return 0
            }
            for _ in 0..<4 {
                group.addTask {
                    var verified = 0
                    for _ in 0..<50 {
                        verified += try store.verify(root).count
                    }
                    return verified
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.sorted() == [0, 50, 50, 50, 50])
        #expect(store.depth == 49)
        #expect(try store.certificates.count >= 40)
    }
}
