// swift-format-ignore-file
// This file holds the guides' Swift blocks verbatim (a test checks it), so it
// keeps the guides' layout rather than .swift-format's.

import Testing
import Foundation
@testable import OpenSSL
import TestSupport

// The code blocks of Docs/verification.md, verbatim.

// MARK: guide block 1
func isTrusted(_ leaf: X509, intermediates: [X509], caFile: String) throws -> Bool {
    let store = try X509Store()
    try store.loadFile(caFile)                 // e.g. "/etc/my-ca/root.pem"
    do {
        let chain = try store.verify(leaf, untrusted: intermediates)
        print("trusted via", try chain.last?.subject.oneLineString ?? "?")
        return true
    } catch let error as X509VerificationError {
        print("rejected:", error.message, "at depth", error.depth)
        return false
    }
}
func webPKIVerdict(_ leaf: X509, intermediates: [X509], roots: [X509], host: String) throws -> String {
    let store = try X509Store()
    for root in roots { try store.add(root) }   // or store.setDefaultPaths() for the system's roots
    try store.setExpectedHost(host)
    store.setVerificationPolicy(try .webPKI())  // OpenSSL's checks, then the Web-PKI rules
    do {
        try store.verify(leaf, untrusted: intermediates)
        return "accepted"
    } catch let error as X509VerificationError {
        // error.rule is nil for OpenSSL's own refusals ("certificate has expired")
        return "refused (\(error.rule?.rawValue ?? "OpenSSL")) at depth \(error.depth): \(error.message)"
    }
}
// MARK: end

// MARK: guide block 2
func makeInternalStore(rootPEM: String, host: String) throws -> X509Store {
    let store = try X509Store()            // empty: no system roots
    try store.add(try X509(pem: rootPEM))  // the only trust anchor
    try store.setPurpose(.tlsServer)       // EKU must allow serverAuth
    try store.setExpectedHost(host)        // e.g. "api.internal.example"
    try store.setFlags(.x509Strict)        // RFC 5280 rules, no leniency
    return store
}
// MARK: end

// MARK: guide block 3
func makePinnedIntermediateStore(_ intermediate: X509) throws -> X509Store {
    let store = try X509Store()
    try store.add(intermediate)
    try store.setFlags(.partialChain)   // without it: .unableToGetIssuerCert (2) at depth 1
    return store
}
// MARK: end

// MARK: guide block 4
final class KnownClients {
    private var fingerprints: [String: String] = [:]   // fingerprint -> name

    /// Accepts `certificate` if it is the one remembered for `name`, or if
    /// `name` is new (and then remembers it).
    func admit(_ certificate: X509, as name: String) throws -> Bool {
        let fingerprint = try certificate.fingerprint(.sha256)
        guard certificate.isSelfSigned, certificate.isValid() else { return false }

        let store = try X509Store()   // trusts nothing
        try store.setFlags(.checkSelfSignedSignature)
        let context = try X509StoreContext(store: store, certificate: certificate)
        context.setVerifyCallback { ok, info in
            // The only acceptable failure is "self-signed"; expiry etc. still fail.
            ok || (info.depth == 0 && info.error == .depthZeroSelfSignedCert)
        }
        try context.verify()

        if let known = fingerprints.first(where: { $0.value == name })?.key {
            return known == fingerprint
        }
        fingerprints[fingerprint] = name
        return true
    }
}
// MARK: end

// MARK: guide block 5
func requireIdentity(in store: X509Store, host: String?, ipAddress: String?, email: String?) throws {
    try store.setExpectedHost(host)                    // DNS SANs, wildcards by OpenSSL's rules; nil: no check
    try store.setExpectedIPAddress(ipAddress)          // an IP SAN: "127.0.0.1", "::1"
    try store.setExpectedEmail(email)                  // an email SAN
    try store.setHostCheckFlags(.noPartialWildcards)   // "f*.example.com" never matches
}
// MARK: end

// MARK: guide block 6
func isRevoked(_ leaf: X509, intermediate: X509, store: X509Store, crlPEM: String) throws -> Bool {
    try store.add(try CRL(pem: crlPEM))     // or: try store.loadFile("ca.crl.pem")
    try store.setFlags(.crlCheck)
    do {
        try store.verify(leaf, untrusted: [intermediate])
        return false
    } catch let error as X509VerificationError where error.code == .certRevoked {
        print("revoked:", error.certificate?.serialNumber.hexString ?? "?")
        return true
    }
}
// MARK: end

// MARK: guide block 7
func makeCRL(revoking compromisedLeaf: X509, caKey: PKey, caCertificate: X509) throws -> CRL {
    var builder = CRLBuilder(nextUpdate: Date() + 7 * 86400)
    builder.revoke(compromisedLeaf, reason: .keyCompromise)
    return try builder.sign(with: caKey, issuer: caCertificate)
}
// MARK: end

// MARK: guide block 8
func verifyAsOf(_ signingDate: Date, _ leaf: X509, untrusted chain: [X509], store: X509Store) throws -> [X509] {
    try store.setVerificationTime(signingDate)   // nil: back to "now"
    defer { try? store.setVerificationTime(nil) }
    return try store.verify(leaf, untrusted: chain)
}
// MARK: end

// MARK: guide block 9
func verifyChainMain(_ arguments: [String]) -> Int32 {
    guard arguments.count >= 3 else {
        print("usage: verify-chain CA.pem chain.pem [host]")
        return 2
    }
    do {
        let store = try X509Store()
        try store.loadFile(arguments[1])
        if arguments.count > 3 { try store.setExpectedHost(arguments[3]) }
        let certificates = try X509.chain(pem: try Data(contentsOf: URL(fileURLWithPath: arguments[2])))
        let chain = try store.verify(certificates[0], untrusted: Array(certificates.dropFirst()))
        for (depth, certificate) in chain.enumerated() {
            print(depth, try certificate.subject.oneLineString)
        }
        return 0
    } catch let error as X509VerificationError {
        print("verification failed: \(error.message) (\(error.code.rawValue)) at depth \(error.depth)")
        return 1
    } catch {
        print("error: \(error)")   // unreadable file, bad PEM: OpenSSLError with OpenSSL's reason
        return 1
    }
}
// MARK: end

// MARK: guide block 10
func verifyTwo(_ first: X509, _ second: X509, intermediates: [X509], store: X509Store) throws -> Int {
    let context = try X509StoreContext(store: store, certificate: first, untrusted: intermediates)
    try context.verify()
    context.setCertificate(second)    // same store, same untrusted certificates
    try context.verify()
    return context.verifiedChain?.count ?? 0
}
// MARK: end

/// Docs/verification.md, compiled and run: every ```swift block of the guide
/// appears above verbatim (checked by `guideBlocksAreHere`), and each is run
/// against the test PKI here.
@Suite("Verification guide")
struct VerificationGuideTests {
    let pki = TestPKI.shared

    @Test("Every swift block of Docs/verification.md is in this file verbatim")
    func guideBlocksAreHere() throws {
        let guide = try GuideBlocks(guide: "verification.md", testFile: #filePath)
        #expect(guide.blocks.count >= 10)
        for block in guide.missing {
            Issue.record("a block of the guide is not in VerificationGuideTests.swift:\n\(block)")
        }
    }

    @Test("The model: trusted with the CA file, rejected without the intermediate")
    func model() throws {
        let directory = try TemporaryDirectory()
        try pki.writePEMFiles(to: directory.url)
        #expect(try isTrusted(pki.server, intermediates: [pki.intermediate], caFile: directory.path("root.pem")))
        #expect(try !isTrusted(pki.server, intermediates: [], caFile: directory.path("root.pem")))
        #expect(throws: OpenSSLError.self) {
            try isTrusted(pki.server, intermediates: [], caFile: directory.path("absent.pem"))
        }
    }

    @Test("Recipe: pin a private CA for one host, and the failures its table lists")
    func pinPrivateCA() throws {
        let store = try makeInternalStore(rootPEM: try pki.root.pem, host: "localhost")
        #expect(try store.verify(pki.server, untrusted: [pki.intermediate]).count == 3)
        let cases: [(X509, [X509], X509VerificationError.Code)] = [
            (pki.ed25519Server, [], .unableToGetIssuerCertLocally),         // another CA
            (pki.server, [], .unableToGetIssuerCertLocally),                // intermediate not sent
            (pki.selfSignedClient, [], .depthZeroSelfSignedCert),
            (pki.wrongHost, [pki.intermediate], .hostnameMismatch),
            (pki.client, [pki.intermediate], .invalidPurpose),
            (pki.expired, [pki.intermediate], .certHasExpired),
            (pki.pathLengthViolatingLeaf, [pki.secondIntermediate, pki.intermediate], .pathLengthExceeded),
        ]
        for (leaf, untrusted, code) in cases {
            let error = try #require(throws: X509VerificationError.self) { try store.verify(leaf, untrusted: untrusted) }
            #expect(error.code == code, "\(leaf): \(error)")
        }
        expectErrorQueueEmpty()
    }

    @Test("Recipe: pin an intermediate with the partial-chain flag")
    func pinIntermediate() throws {
        let store = try makePinnedIntermediateStore(pki.intermediate)
        #expect(try store.verify(pki.server) == [pki.server, pki.intermediate])
        try store.clearFlags(.partialChain)
        let error = try #require(throws: X509VerificationError.self) { try store.verify(pki.server) }
        #expect(error.code == .unableToGetIssuerCert)
        #expect(error.depth == 1)
    }

    @Test("Recipe: trust on first use of self-signed client certificates by SHA-256 fingerprint")
    func trustOnFirstUse() throws {
        let clients = KnownClients()
        #expect(try clients.admit(pki.selfSignedClient, as: "alice"))
        #expect(try clients.admit(pki.selfSignedClient, as: "alice"))
        // Claims to be self-signed but is signed by another key: refused before anything else.
        let impostor = try selfIssuedCertificate(commonName: "Self-Signed Client", key: try PKey.generate(.ec(.p256)),
                                                 signer: try PKey.generate(.ec(.p256)))
        #expect(try !clients.admit(impostor, as: "bob"))
        // Another certificate for a name already seen.
        let other = try selfIssuedCertificate(commonName: "alice again", key: try PKey.generate(.ec(.p256)))
        #expect(try !clients.admit(other, as: "alice"))
        #expect(try clients.admit(other, as: "carol"))
        // A CA-issued certificate is not self-signed; an expired self-signed one is refused.
        #expect(try !clients.admit(pki.client, as: "dave"))
        let key = try PKey.generate(.ec(.p256))
        let old = try selfIssuedCertificate(commonName: "old", key: key, notBefore: Date() - 7200, notAfter: Date() - 3600)
        #expect(try !clients.admit(old, as: "erin"))
    }

    @Test("Recipe: host names, IP addresses and email")
    func identity() throws {
        let store = try X509Store()
        try store.add(pki.root)
        try requireIdentity(in: store, host: "localhost", ipAddress: "127.0.0.1", email: nil)
        #expect(try store.verify(pki.server, untrusted: [pki.intermediate]).count == 3)
        try requireIdentity(in: store, host: nil, ipAddress: "::1", email: nil)
        #expect(try store.verify(pki.server, untrusted: [pki.intermediate]).count == 3)
        try requireIdentity(in: store, host: "127.0.0.1", ipAddress: nil, email: nil)
        let error = try #require(throws: X509VerificationError.self) { try store.verify(pki.server, untrusted: [pki.intermediate]) }
        #expect(error.code == .hostnameMismatch)
        try requireIdentity(in: store, host: nil, ipAddress: nil, email: "alice@example.com")
        let email = try #require(throws: X509VerificationError.self) { try store.verify(pki.server, untrusted: [pki.intermediate]) }
        #expect(email.code == .emailMismatch)
        #expect(store.hostCheckFlags == .noPartialWildcards)
    }

    @Test("Recipe: CRLs, made with CRLBuilder and checked")
    func crls() throws {
        let crl = try makeCRL(revoking: pki.server, caKey: pki.intermediateKey, caCertificate: pki.intermediate)
        #expect(try crl.revocation(of: pki.server)?.reason == .keyCompromise)
        let store = try X509Store()
        try store.add(pki.root)
        #expect(try isRevoked(pki.server, intermediate: pki.intermediate, store: store, crlPEM: try crl.pem))
        #expect(try !isRevoked(pki.client, intermediate: pki.intermediate, store: store, crlPEM: try crl.pem))
        let missing = try X509Store()
        try missing.add(pki.root)
        try missing.setFlags(.crlCheck)
        let error = try #require(throws: X509VerificationError.self) { try missing.verify(pki.client, untrusted: [pki.intermediate]) }
        #expect(error.code == .unableToGetCRL)
    }

    @Test("Recipe: verify at another time")
    func verifyAtAnotherTime() throws {
        let hour: TimeInterval = 3600
        let (_, leaf) = try pki.issueLeaf(commonName: "short-lived", sans: [], issuer: pki.intermediate,
                                          issuerKey: pki.intermediateKey, notBefore: Date() - 5 * hour, notAfter: Date() - hour)
        let store = try X509Store()
        try store.add(pki.root)
        #expect(try verifyAsOf(Date() - 2 * hour, leaf, untrusted: [pki.intermediate], store: store).count == 3)
        #expect(store.verificationTime == nil)
        let expired = try #require(throws: X509VerificationError.self) { try store.verify(leaf, untrusted: [pki.intermediate]) }
        #expect(expired.code == .certHasExpired)
        let early = try #require(throws: X509VerificationError.self) {
            try verifyAsOf(Date() - 6 * hour, leaf, untrusted: [pki.intermediate], store: store)
        }
        #expect(early.code == .certNotYetValid)
    }

    @Test("Recipe: the verify-chain script gives openssl verify's verdicts")
    func script() throws {
        let directory = try TemporaryDirectory()
        try pki.writePEMFiles(to: directory.url)
        let root = directory.path("root.pem"), chain = directory.path("chain.pem")
        #expect(verifyChainMain(["verify-chain", root, chain, "localhost"]) == 0)
        let tool = try ExternalTool.run("/usr/bin/openssl", ["verify", "-no-CApath", "-no-CAstore", "-CAfile", root,
                                                               "-untrusted", chain, "-verify_hostname", "localhost", chain])
        #expect(tool.status == 0)

        #expect(verifyChainMain(["verify-chain", root, chain, "example.org"]) == 1)
        let wrongHost = try ExternalTool.run("/usr/bin/openssl", ["verify", "-no-CApath", "-no-CAstore", "-CAfile", root,
                                                                    "-untrusted", chain, "-verify_hostname", "example.org", chain])
        #expect(wrongHost.status != 0)
        #expect((wrongHost.stdout + wrongHost.stderr).contains("error 62 at 0 depth lookup"))

        #expect(verifyChainMain(["verify-chain", root, directory.path("server.pem")]) == 1)
        #expect(verifyChainMain(["verify-chain", directory.path("absent.pem"), chain]) == 1)
        #expect(verifyChainMain(["verify-chain"]) == 2)
        expectErrorQueueEmpty()
    }

    @Test("Recipe: the Web-PKI policy accepts the test server and names the rule refusing a CA leaf")
    func webPKIPolicy() throws {
        #expect(try webPKIVerdict(pki.server, intermediates: [pki.intermediate], roots: [pki.root], host: "localhost") == "accepted")
        let (_, caLeaf) = try pki.issueLeaf(commonName: "localhost", sans: [.dnsName("localhost")], issuer: pki.intermediate,
                                            issuerKey: pki.intermediateKey, notBefore: Date() - 60, notAfter: Date() + 3600,
                                            isCA: true)
        #expect(try webPKIVerdict(caLeaf, intermediates: [pki.intermediate], roots: [pki.root], host: "localhost")
                == "refused (D1) at depth 0: the leaf is a CA certificate (D1)")
        #expect(try webPKIVerdict(pki.expired, intermediates: [pki.intermediate], roots: [pki.root], host: "localhost")
                == "refused (OpenSSL) at depth 0: certificate has expired")
    }

    @Test("Recipe: one store context verifies two leaves")
    func contextReuse() throws {
        let store = try X509Store()
        try store.add(pki.root)
        #expect(try verifyTwo(pki.server, pki.client, intermediates: [pki.intermediate], store: store) == 3)
    }
}
