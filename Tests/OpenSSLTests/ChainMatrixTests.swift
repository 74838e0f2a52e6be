import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// The chain matrix: one verification per row, each asserting OpenSSL's exact
/// verify code, the depth and the certificate at fault; the same rows are
/// run through `openssl verify` and must get the same verdict.
@Suite("Chain matrix")
struct ChainMatrixTests {
    /// Everything one verification needs.
    struct Setup {
        var trusted: [X509]
        var untrusted: [X509] = []
        var leaf: X509
        var crls: [CRL] = []
        var flags: X509VerifyFlags = []
        var host: String?
        var ipAddress: String?
        var email: String?
        var hostFlags: X509Store.HostCheckFlags = []
        var purpose: X509Purpose?
        var time: Date?
        var depth: Int?
        /// The certificate OpenSSL must name for a failure.
        var fault: X509?

        /// `openssl verify` has no options for the host-check flags.
        var expressibleInOpenSSLVerify: Bool { hostFlags.isEmpty }

        func makeStore() throws -> X509Store {
            let store = try X509Store()
            for certificate in trusted { try store.add(certificate) }
            for crl in crls { try store.add(crl) }
            try store.setFlags(flags)
            if let host { try store.setExpectedHost(host) }
            if let ipAddress { try store.setExpectedIPAddress(ipAddress) }
            if let email { try store.setExpectedEmail(email) }
            try store.setHostCheckFlags(hostFlags)
            if let purpose { try store.setPurpose(purpose) }
            if let time { try store.setVerificationTime(time) }
            if let depth { try store.setDepth(depth) }
            return store
        }
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        let name: String
        /// `.ok` for a chain that must verify.
        let code: X509VerificationError.Code
        /// The failure depth, or the verified chain's length for `.ok`.
        let number: Int
        let build: @Sendable (TestPKI) throws -> Setup
        var testDescription: String {
            "\(name) → \(code == .ok ? "ok, \(number) certificates" : "\(code.rawValue) at depth \(number)")"
        }

        static func ok(_ name: String, length: Int, _ build: @escaping @Sendable (TestPKI) throws -> Setup) -> Scenario {
            Scenario(name: name, code: .ok, number: length, build: build)
        }

        static func fails(
            _ name: String, _ code: X509VerificationError.Code, depth: Int,
            _ build: @escaping @Sendable (TestPKI) throws -> Setup
        ) -> Scenario {
            Scenario(name: name, code: code, number: depth, build: build)
        }
    }

    static let hour: TimeInterval = 3600
    static let day: TimeInterval = 86400

    /// TestPKI.issueLeaf with the defaults these rows use: under the intermediate, valid for a month from yesterday.
    static func issue(
        _ pki: TestPKI, _ commonName: String, sans: [GeneralName] = [], issuer: X509? = nil,
        issuerKey: PKey? = nil, notBefore: Date = Date() - 86400, notAfter: Date = Date() + 30 * 86400,
        isCA: Bool = false
    ) throws -> (key: PKey, certificate: X509) {
        let (key, certificate) = try pki.issueLeaf(
            commonName: commonName, sans: sans, issuer: issuer ?? pki.intermediate,
            issuerKey: issuerKey ?? pki.intermediateKey, notBefore: notBefore,
            notAfter: notAfter, isCA: isCA)
        return (key, certificate)
    }

    static let scenarios: [Scenario] = [
        .ok("valid chain", length: 3) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server)
        },
        .fails("missing intermediate", .unableToGetIssuerCertLocally, depth: 0) { pki in
            Setup(trusted: [pki.root], leaf: pki.server, fault: pki.server)
        },
        .fails("untrusted root sent along", .selfSignedCertInChain, depth: 2) { pki in
            Setup(trusted: [], untrusted: [pki.intermediate, pki.root], leaf: pki.server, fault: pki.root)
        },
        .fails("root trusted by nobody, not sent", .unableToGetIssuerCertLocally, depth: 1) { pki in
            Setup(trusted: [], untrusted: [pki.intermediate], leaf: pki.server, fault: pki.intermediate)
        },
        .fails("expired leaf", .certHasExpired, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.expired, fault: pki.expired)
        },
        .fails("expired intermediate", .certHasExpired, depth: 1) { pki in
            let ca = try issue(
                pki, "Expired Intermediate", issuer: pki.root, issuerKey: pki.rootKey,
                notBefore: Date() - 20 * hour, notAfter: Date() - hour, isCA: true)
            let leaf = try issue(pki, "leaf of expired", issuer: ca.certificate, issuerKey: ca.key)
            return Setup(trusted: [pki.root], untrusted: [ca.certificate], leaf: leaf.certificate, fault: ca.certificate)
        },
        .fails("not yet valid", .certNotYetValid, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.notYetValid, fault: pki.notYetValid)
        },
        .ok("verification time in the past makes an expired certificate valid", length: 3) { pki in
            // Expired an hour ago; the CAs are older than it, so all three are valid ten hours ago.
            let leaf = try issue(pki, "expired an hour ago", notBefore: Date() - 20 * hour, notAfter: Date() - hour)
            #expect(try pki.intermediate.notBefore < Date() - 10 * hour)
            return Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, time: Date() - 10 * hour)
        },
        .fails("an expired certificate is still expired now", .certHasExpired, depth: 0) { pki in
            let leaf = try issue(pki, "expired an hour ago", notBefore: Date() - 20 * hour, notAfter: Date() - hour)
            return Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, fault: leaf.certificate)
        },
        .fails("verification time before the leaf's notBefore", .certNotYetValid, depth: 0) { pki in
            let leaf = try issue(pki, "valid from an hour ago", notBefore: Date() - hour, notAfter: Date() + day)
            return Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate,
                time: Date() - 2 * hour, fault: leaf.certificate)
        },
        .ok("hostname matches a DNS SAN", length: 3) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, host: "localhost")
        },
        .fails("wrong hostname", .hostnameMismatch, depth: 0) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.wrongHost, host: "localhost",
                fault: pki.wrongHost)
        },
        .ok("IPv4 SAN matches", length: 3) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, ipAddress: "127.0.0.1")
        },
        .ok("IPv6 SAN matches", length: 3) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, ipAddress: "::1")
        },
        .fails("IP SAN mismatch", .ipAddressMismatch, depth: 0) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, ipAddress: "192.0.2.1",
                fault: pki.server)
        },
        .fails("an IP address given as a host name is not matched against IP SANs", .hostnameMismatch, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, host: "127.0.0.1", fault: pki.server)
        },
        .ok("wildcard matches one label", length: 3) { pki in
            try wildcard(pki, san: .dnsName("*.example.com"), host: "www.example.com")
        },
        .fails("wildcard does not match the bare domain", .hostnameMismatch, depth: 0) { pki in
            try wildcard(pki, san: .dnsName("*.example.com"), host: "example.com")
        },
        .fails("wildcard does not match two labels", .hostnameMismatch, depth: 0) { pki in
            try wildcard(pki, san: .dnsName("*.example.com"), host: "a.b.example.com")
        },
        .fails("wildcard over a single-label domain matches nothing", .hostnameMismatch, depth: 0) { pki in
            try wildcard(pki, san: .dnsName("*.com"), host: "example.com")
        },
        .ok("partial-label wildcard matches by default", length: 3) { pki in
            try wildcard(pki, san: .dnsName("f*.example.com"), host: "foo.example.com")
        },
        .fails("partial-label wildcard refused with noPartialWildcards", .hostnameMismatch, depth: 0) { pki in
            var setup = try wildcard(pki, san: .dnsName("f*.example.com"), host: "foo.example.com")
            setup.hostFlags = .noPartialWildcards
            return setup
        },
        .fails("wildcard refused with noWildcards", .hostnameMismatch, depth: 0) { pki in
            var setup = try wildcard(pki, san: .dnsName("*.example.com"), host: "www.example.com")
            setup.hostFlags = .noWildcards
            return setup
        },
        .ok("subject CN is used when there is no DNS SAN", length: 3) { pki in
            let leaf = try issue(pki, "legacy.example")
            return Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, host: "legacy.example")
        },
        .fails("subject CN is ignored when there is a DNS SAN", .hostnameMismatch, depth: 0) { pki in
            let leaf = try issue(pki, "cn.example", sans: [.dnsName("san.example")])
            return Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, host: "cn.example",
                fault: leaf.certificate)
        },
        .ok("email SAN matches", length: 3) { pki in
            let leaf = try issue(pki, "Alice", sans: [.email("alice@example.com")])
            return Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, email: "alice@example.com")
        },
        .fails("email mismatch", .emailMismatch, depth: 0) { pki in
            let leaf = try issue(pki, "Alice", sans: [.email("alice@example.com")])
            return Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, email: "bob@example.com",
                fault: leaf.certificate)
        },
        .fails("path length exceeded", .pathLengthExceeded, depth: 2) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.secondIntermediate, pki.intermediate],
                leaf: pki.pathLengthViolatingLeaf, fault: pki.intermediate)
        },
        .fails("chain longer than the verify depth", .certChainTooLong, depth: 1) { pki in
            // Depth 0 allows no intermediate: the first one is at fault.
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, depth: 0, fault: pki.intermediate)
        },
        .fails("a CA:FALSE certificate used as issuer", .invalidCA, depth: 1) { pki in
            let notCA = try issue(pki, "Not a CA", issuer: pki.root, issuerKey: pki.rootKey, isCA: false)
            let leaf = try issue(pki, "signed by a non-CA", issuer: notCA.certificate, issuerKey: notCA.key)
            return Setup(trusted: [pki.root], untrusted: [notCA.certificate], leaf: leaf.certificate, fault: notCA.certificate)
        },
        .fails("client certificate for the TLS server purpose", .invalidPurpose, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.client, purpose: .tlsServer, fault: pki.client)
        },
        .fails("server certificate for the TLS client purpose", .invalidPurpose, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, purpose: .tlsClient, fault: pki.server)
        },
        .ok("server certificate for the TLS server purpose", length: 3) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, purpose: .tlsServer)
        },
        .fails("revoked by CRL, CRL check on", .certRevoked, depth: 0) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server,
                crls: [try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [pki.server])],
                flags: .crlCheck, fault: pki.server)
        },
        .ok("revoked by CRL, CRL check off", length: 3) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server,
                crls: [try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [pki.server])])
        },
        .ok("not on the CRL, CRL check on", length: 3) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.client,
                crls: [try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [pki.server])],
                flags: .crlCheck)
        },
        .fails("CRL missing, CRL check on", .unableToGetCRL, depth: 0) { pki in
            Setup(trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server, flags: .crlCheck, fault: pki.server)
        },
        .fails("the root's CRL missing, CRL check on the whole chain", .unableToGetCRL, depth: 1) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server,
                crls: [try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [])],
                flags: [.crlCheck, .crlCheckAll], fault: pki.intermediate)
        },
        .fails("expired CRL", .crlHasExpired, depth: 0) { pki in
            Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server,
                crls: [
                    try TestCRL.make(
                        issuer: pki.intermediate, key: pki.intermediateKey, revoking: [],
                        lastUpdate: Date() - 10 * day, nextUpdate: Date() - day)
                ],
                flags: .crlCheck, fault: pki.server)
        },
        .fails("CRL with the issuer's name but another key's signature", .crlSignatureFailure, depth: 0) { pki in
            // A look-alike CA: same subject as the intermediate, its own key.
            let fake = try issue(
                pki, try #require(try pki.intermediate.subject.commonName), issuer: pki.root,
                issuerKey: pki.rootKey, isCA: true)
            var builder = CRLBuilder(lastUpdate: Date() - hour)
            builder.includeAuthorityKeyIdentifier = false
            return Setup(
                trusted: [pki.root], untrusted: [pki.intermediate], leaf: pki.server,
                crls: [try builder.sign(with: fake.key, issuer: fake.certificate)],
                flags: .crlCheck, fault: pki.server)
        },
        .fails("partial chain without the flag", .unableToGetIssuerCert, depth: 1) { pki in
            Setup(trusted: [pki.intermediate], leaf: pki.server, fault: pki.intermediate)
        },
        .ok("partial chain with the flag", length: 2) { pki in
            Setup(trusted: [pki.intermediate], leaf: pki.server, flags: .partialChain)
        },
        .fails("self-signed leaf", .depthZeroSelfSignedCert, depth: 0) { pki in
            Setup(trusted: [pki.root], leaf: pki.selfSignedClient, fault: pki.selfSignedClient)
        },
        .ok("self-signed leaf that is trusted", length: 1) { pki in
            Setup(trusted: [pki.selfSignedClient], leaf: pki.selfSignedClient)
        },
    ]

    /// A leaf under the intermediate with one SAN, and the host to expect.
    static func wildcard(_ pki: TestPKI, san: GeneralName, host: String) throws -> Setup {
        let leaf = try issue(pki, "wildcard", sans: [san])
        return Setup(
            trusted: [pki.root], untrusted: [pki.intermediate], leaf: leaf.certificate, host: host,
            fault: leaf.certificate)
    }

    @Test("Chain matrix: the exact verify code, depth and certificate", arguments: scenarios)
    func verdict(scenario: Scenario) throws {
        let setup = try scenario.build(TestPKI.shared)
        let store = try setup.makeStore()
        if scenario.code == .ok {
            let chain = try store.verify(setup.leaf, untrusted: setup.untrusted)
            #expect(chain.count == scenario.number)
            #expect(chain.first == setup.leaf)
            #expect(try chain.last.map { try store.certificates.contains($0) } == true, "the chain ends in a trusted certificate")
        } else {
            let error = try #require(throws: X509VerificationError.self) {
                try store.verify(setup.leaf, untrusted: setup.untrusted)
            }
            #expect(error.code == scenario.code, "\(error)")
            #expect(error.depth == scenario.number)
            #expect(error.message == scenario.code.message)
            #expect(setup.fault != nil, "the scenario names the certificate at fault")
            #expect(error.certificate == setup.fault, "at fault: \(error.certificate?.description ?? "none")")
        }
        expectErrorQueueEmpty()
    }

    @Test(
        "Chain matrix verdicts agree with openssl verify",
        arguments: scenarios.filter { (try? $0.build(TestPKI.shared).expressibleInOpenSSLVerify) == true })
    func agreesWithOpenSSL(scenario: Scenario) throws {
        let setup = try scenario.build(TestPKI.shared)
        let directory = try TemporaryDirectory()
        var arguments = ["verify", "-no-CApath", "-no-CAstore"]
        if setup.trusted.isEmpty {
            arguments.append("-no-CAfile")
        } else {
            arguments += ["-CAfile", try directory.write("trusted.pem", try setup.trusted.map { try $0.pem }.joined())]
        }
        if !setup.untrusted.isEmpty {
            arguments += ["-untrusted", try directory.write("untrusted.pem", try setup.untrusted.map { try $0.pem }.joined())]
        }
        if !setup.crls.isEmpty {
            arguments += ["-CRLfile", try directory.write("crls.pem", try setup.crls.map { try $0.pem }.joined())]
        }
        if setup.flags.contains(.crlCheck) { arguments.append("-crl_check") }
        if setup.flags.contains(.crlCheckAll) { arguments.append("-crl_check_all") }
        if setup.flags.contains(.partialChain) { arguments.append("-partial_chain") }
        if let host = setup.host { arguments += ["-verify_hostname", host] }
        if let ip = setup.ipAddress { arguments += ["-verify_ip", ip] }
        if let email = setup.email { arguments += ["-verify_email", email] }
        if let purpose = setup.purpose { arguments += ["-purpose", purpose.description] }
        if let time = setup.time { arguments += ["-attime", String(Int(time.timeIntervalSince1970))] }
        if let depth = setup.depth { arguments += ["-verify_depth", String(depth)] }
        arguments.append(try directory.write("leaf.pem", try setup.leaf.pem))

        let result = try ExternalTool.run("/usr/bin/openssl", arguments, timeout: 20)
        #expect(!result.timedOut)
        let output = result.stdout + result.stderr
        if scenario.code == .ok {
            #expect(result.status == 0, "\(output)")
            #expect(result.stdout.contains(": OK"))
        } else {
            #expect(result.status != 0, "\(output)")
            // openssl verify prints "error N at D depth lookup: message" for the first error it meets.
            let first = try #require(output.firstMatch(of: /error (\d+) at (\d+) depth lookup: ([^\n]*)/), "\(output)")
            #expect(Int32(first.output.1) == scenario.code.rawValue, "\(output)")
            #expect(Int(first.output.2) == scenario.number, "\(output)")
            #expect(String(first.output.3) == scenario.code.message)
        }
    }

    @Test("Every expected verdict is one OpenSSL knows by name")
    func scenarioCodesAreNamed() {
        for scenario in Self.scenarios {
            #expect(!scenario.code.message.contains("unknown"), "\(scenario.name)")
        }
        #expect(Self.scenarios.count >= 30)
    }
}
