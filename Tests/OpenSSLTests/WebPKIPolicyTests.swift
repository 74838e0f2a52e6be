import Foundation
import Testing
@testable import OpenSSL

/// The Web-PKI verification policy (`VerificationPolicy.webPKI`): every rule
/// refuses a certificate built to break it and accepts its twin that differs
/// only in what the rule checks (W01); every root of the system bundle is an
/// acceptable anchor (W02); the path search finds a valid path past a
/// dead-end or constrained intermediate (W03); the verdicts are the same
/// through a store, a TLS handshake and `ossl verify` (W04).
@Suite("Web-PKI policy")
struct WebPKIPolicyTests {
    typealias Chain = WebPKIChain

    /// Builds the chain `change` makes, verifies it under `.webPKI()`, and returns the verdict.
    private func verdict(host: String? = nil, policy: VerificationPolicy? = nil,
                         configure: (X509Store) throws -> Void = { _ in },
                         _ change: (inout Chain) throws -> Void) throws -> Result<[X509], X509VerificationError> {
        var chain = try Chain()
        try change(&chain)
        return try Chain.verify(try chain.build(), policy: try policy ?? Chain.webPKI(), host: host, configure: configure)
    }

    /// A refused case and its passing twin.
    private func pair(_ rule: WebPKIRule, depth: Int, host: String? = nil, strictAnchors: Bool = false,
                      refused: (inout Chain) throws -> Void, twin: (inout Chain) throws -> Void,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let policy = try Chain.webPKI(strictAnchors: strictAnchors)
        expectRefused(try verdict(host: host, policy: policy, refused), by: rule, depth: depth, sourceLocation: sourceLocation)
        expectAccepted(try verdict(host: host, policy: policy, twin), sourceLocation: sourceLocation)
    }

    private static func raw(_ oid: String, critical: Bool = false, _ bytes: [UInt8]) -> X509Extension {
        X509Extension(oid: oid, critical: critical, value: bytes)
    }

    /// The same extension with the other critical flag.
    private static func flipped(_ ext: X509Extension, critical: Bool) -> X509Extension {
        X509Extension(oid: ext.oid, critical: critical, value: ext.value)
    }

    private static func san(_ names: [GeneralName], critical: Bool = false) throws -> X509Extension {
        try .subjectAlternativeName(names, critical: critical)
    }

    // MARK: W01: the default chain, and P1–P5

    @Test("W01 the default chain passes every rule, with and without a host name")
    func defaultChainPasses() throws {
        expectAccepted(try verdict(host: "www.example.com") { _ in })
        expectAccepted(try verdict { _ in })
        let chain = try verdict { _ in }.get()
        #expect(chain.count == 3)
    }

    @Test("W01 P1 the purpose is TLS server: a clientAuth-only leaf is refused (OpenSSL's 26), a serverAuth twin passes")
    func purposeIsTLSServer() throws {
        let clientOnly: (inout Chain) throws -> Void = { $0.leaf.set(try .extendedKeyUsage([.clientAuth])) }
        expectRefused(try verdict(clientOnly), byOpenSSL: .invalidPurpose, depth: 0)
        expectAccepted(try verdict(policy: .openSSL, clientOnly))  // OpenSSL alone asks for no purpose
        expectAccepted(try verdict { $0.leaf.set(try .extendedKeyUsage([.serverAuth])) })
    }

    @Test("W01 P1 no fallback to the subject CN: a leaf without SANs does not match its CN (62); a SAN twin does")
    func noCommonNameFallback() throws {
        let noSAN: (inout Chain) throws -> Void = { $0.leaf.remove(X509Extension.subjectAlternativeNameOID) }
        expectRefused(try verdict(host: "www.example.com", noSAN), byOpenSSL: .hostnameMismatch, depth: 0)
        expectAccepted(try verdict(host: "www.example.com", policy: .openSSL, noSAN))
        expectAccepted(try verdict(host: "www.example.com") { _ in })
    }

    @Test("W01 P1 no partial wildcards: 'w*.example.com' does not match (62); '*.example.com' does")
    func noPartialWildcards() throws {
        let partial: (inout Chain) throws -> Void = { $0.leaf.set(try Self.san([.dnsName("w*.example.com")])) }
        expectRefused(try verdict(host: "www.example.com", partial), byOpenSSL: .hostnameMismatch, depth: 0)
        expectAccepted(try verdict(host: "www.example.com", policy: .openSSL, partial))
        expectAccepted(try verdict(host: "www.example.com") { $0.leaf.set(try Self.san([.dnsName("*.example.com")])) })
    }

    @Test("W01 P2 a trusted intermediate is an anchor: OpenSSL alone refuses (2), the policy accepts; an untrusted one is refused by both")
    func trustedIntermediateIsAnAnchor() throws {
        let built = try Chain().build()
        expectAccepted(try Chain.verify(built, policy: try Chain.webPKI(), trust: [built.intermediate], untrusted: []))
        expectRefused(try Chain.verify(built, policy: .openSSL, trust: [built.intermediate], untrusted: []),
                      byOpenSSL: .unableToGetIssuerCert, depth: 1)
        let stranger = try Chain().build().root
        expectRefused(try Chain.verify(built, policy: try Chain.webPKI(), trust: [stranger]),
                      byOpenSSL: .unableToGetIssuerCertLocally, depth: 1)
    }

    @Test("W01 P3 notAfter is inclusive: a leaf at its notAfter second passes, one second later it is expired (10)")
    func notAfterIsInclusive() throws {
        var chain = try Chain()
        let notAfter = Date(timeIntervalSince1970: (Chain.now + 86_400).timeIntervalSince1970.rounded(.down))
        chain.leaf.notAfter = notAfter
        let built = try chain.build()
        let at: (Date) -> (X509Store) throws -> Void = { date in { try $0.setVerificationTime(date) } }
        expectAccepted(try Chain.verify(built, policy: try Chain.webPKI(), configure: at(notAfter)))
        expectRefused(try Chain.verify(built, policy: .openSSL, configure: at(notAfter)), byOpenSSL: .certHasExpired, depth: 0)
        expectRefused(try Chain.verify(built, policy: try Chain.webPKI(), configure: at(notAfter + 1)),
                      byOpenSSL: .certHasExpired, depth: 0)
    }

    @Test("W01 P4 a depth limit does not count self-issued intermediates; a non-self-issued one over it is refused")
    func depthSkipsSelfIssued() throws {
        // A key rollover: an intermediate named like the root (self-issued), signed by the root's key.
        var chain = try Chain()
        chain.intermediate.subject = chain.root.subject
        let rollover = try chain.build()
        let depthZero: (X509Store) throws -> Void = { try $0.setDepth(0) }
        expectAccepted(try Chain.verify(rollover, policy: try Chain.webPKI(), configure: depthZero))
        expectRefused(try Chain.verify(rollover, policy: .openSSL, configure: depthZero), byOpenSSL: .certChainTooLong, depth: 1)
        // The twin: an ordinary intermediate under the same limit is refused by OpenSSL…
        let ordinary = try Chain().build()
        expectRefused(try Chain.verify(ordinary, policy: try Chain.webPKI(), configure: depthZero),
                      byOpenSSL: .certChainTooLong, depth: 1)
        // …and by P4 itself when an unused self-issued certificate raised OpenSSL's allowance.
        expectRefused(try Chain.verify(ordinary, policy: try Chain.webPKI(),
                                       untrusted: [ordinary.intermediate, rollover.intermediate], configure: depthZero),
                      by: .p4, depth: 1)
    }

    @Test("W01 P5 a CRL without a cRLNumber is not used (CRL check fails closed, 3); a numbered twin is used")
    func unnumberedCRLsAreNotUsed() throws {
        let chain = try Chain()
        let built = try chain.build()
        func crl(number: BigEndianInteger?) throws -> CRL {
            var builder = CRLBuilder(lastUpdate: Date() - 3600, nextUpdate: Date() + 86_400)
            builder.crlNumber = number
            return try builder.sign(with: chain.intermediate.key, issuer: built.intermediate)
        }
        func checking(_ list: CRL) -> (X509Store) throws -> Void {
            { try $0.add(list); try $0.setFlags(.crlCheck) }
        }
        let unnumbered = try crl(number: nil)
        expectRefused(try Chain.verify(built, policy: try Chain.webPKI(), configure: checking(unnumbered)),
                      byOpenSSL: .unableToGetCRL, depth: 0)
        expectAccepted(try Chain.verify(built, policy: .openSSL, configure: checking(unnumbered)))
        expectAccepted(try Chain.verify(built, policy: try Chain.webPKI(), configure: checking(try crl(number: BigEndianInteger(7)))))
    }

    // MARK: W01: K and A

    @Test("W01 K1 an RSA-1024 leaf key is refused; an RSA-2048 twin passes")
    func rsaKeySize() throws {
        try pair(.k1, depth: 0, refused: { $0.leaf.key = try PKey.generate(.rsa(bits: 1024)) },
                 twin: { $0.leaf.key = try PKey.generate(.rsa(bits: 2048)) })
    }

    @Test("W01 K1 a P-192 intermediate key and an Ed25519 leaf key are refused; P-384 and P-521 twins pass")
    func curves() throws {
        try pair(.k1, depth: 1, refused: { $0.intermediate.key = try PKey.generate(.ec(PKey.Curve("prime192v1"))) },
                 twin: { $0.intermediate.key = try PKey.generate(.ec(.p384)) })
        try pair(.k1, depth: 0, refused: { $0.leaf.key = try PKey.generate(.ed25519) },
                 twin: { $0.leaf.key = try PKey.generate(.ec(.p521)) })
    }

    @Test("W01 A2 a leaf without an authority key identifier is refused; the twin with one passes")
    func missingAKI() throws {
        try pair(.a2, depth: 0, refused: { $0.leaf.remove(X509Extension.authorityKeyIdentifierOID) }, twin: { _ in })
    }

    @Test("W01 A2 an AKI without keyIdentifier is refused; the keyIdentifier twin passes (a critical AKI: OpenSSL's 34)")
    func malformedAKI() throws {
        func aki(_ chain: Chain, critical: Bool, keyIdentifier: Bool) throws -> X509Extension {
            let issuer = try chain.build().intermediate
            let value = AuthorityKeyIdentifier(
                keyIdentifier: keyIdentifier ? try issuer.subjectKeyIdentifier : nil,
                issuer: keyIdentifier ? nil : [.directoryName(try issuer.issuer)],
                serialNumber: keyIdentifier ? nil : issuer.serialNumber)
            return Self.flipped(try .authorityKeyIdentifier(value), critical: critical)
        }
        // OpenSSL 3.0 does not handle a critical AKI at all: it refuses it first.
        expectRefused(try verdict { $0.leaf.set(try aki($0, critical: true, keyIdentifier: true)) },
                      byOpenSSL: .unhandledCriticalExtension, depth: 0)
        try pair(.a2, depth: 0, refused: { $0.leaf.set(try aki($0, critical: false, keyIdentifier: false)) },
                 twin: { $0.leaf.set(try aki($0, critical: false, keyIdentifier: true)) })
    }

    @Test("W01 A2 a self-signed root whose AKI names another key is refused; the twin naming itself passes")
    func selfSignedAKI() throws {
        try pair(.a2, depth: 2, refused: {
            $0.root.set(try .authorityKeyIdentifier(AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3, 4])))
        }, twin: { _ in })
    }

    @Test("W01 A3 a non-critical policyConstraints is refused; the critical twin passes")
    func policyConstraints() throws {
        let value: [UInt8] = [0x30, 0x03, 0x81, 0x01, 0x00]  // inhibitPolicyMapping 0
        try pair(.a3, depth: 1, refused: { $0.intermediate.set(Self.raw("2.5.29.36", critical: false, value)) },
                 twin: { $0.intermediate.set(Self.raw("2.5.29.36", critical: true, value)) })
    }

    @Test("W01 A4 an empty authorityInfoAccess is refused; the twin with an OCSP URL passes")
    func emptyAIA() throws {
        try pair(.a4, depth: 0, refused: { $0.leaf.set(Self.raw(X509Extension.authorityInfoAccessOID, [0x30, 0x00])) },
                 twin: { $0.leaf.set(try .authorityInfoAccess([.ocsp("http://ocsp.example.com")])) })
    }

    @Test("W01 A5 DNS name constraints with a leading dot or a '*' are refused; the plain twin passes")
    func nameConstraintLeadingDot() throws {
        for bad in [".other.example", "*.other.example", "other_example.com"] {
            try pair(.a5, depth: 1, refused: { $0.intermediate.set(try .nameConstraints(permitted: [], excluded: [.dnsName(bad)])) },
                     twin: { $0.intermediate.set(try .nameConstraints(permitted: [], excluded: [.dnsName("other.example")])) })
        }
        // OpenSSL itself reads a leading-dot permitted subtree as not covering www.example.com (47).
        expectRefused(try verdict { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName(".example.com")])) },
                      byOpenSSL: .permittedViolation, depth: 0)
    }

    @Test("W01 A5 an empty permitted list, and name constraints in a leaf, are refused; well-formed CA twins pass")
    func nameConstraintShape() throws {
        try pair(.a5, depth: 1, refused: {
            $0.intermediate.set(Self.raw(X509Extension.nameConstraintsOID, critical: true, [0x30, 0x02, 0xa0, 0x00]))
        }, twin: { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName("example.com")])) })
        try pair(.a5, depth: 0, refused: { $0.leaf.set(try .nameConstraints(permitted: [.dnsName("example.com")])) },
                 twin: { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName("example.com")])) })
    }

    // MARK: W01: B and C

    @Test("W01 B1 an intermediate with a non-critical basicConstraints is refused; the critical twin passes")
    func basicConstraintsCritical() throws {
        try pair(.b1, depth: 1, refused: {
            $0.intermediate.set(try .basicConstraints(BasicConstraints(isCA: true, pathLength: 0), critical: false))
        }, twin: { $0.intermediate.set(try .basicConstraints(BasicConstraints(isCA: true, pathLength: 0), critical: true)) })
    }

    @Test("W01 B1 a root with a non-critical basicConstraints is an anchor by default; strictAnchors refuses it")
    func anchorBasicConstraints() throws {
        let lax: (inout Chain) throws -> Void = {
            $0.root.set(try .basicConstraints(BasicConstraints(isCA: true), critical: false))
        }
        expectAccepted(try verdict(lax))
        try pair(.b1, depth: 2, strictAnchors: true, refused: lax, twin: { _ in })
    }

    @Test("W01 B2 an intermediate without a subject key identifier is refused; the twin passes (a critical SKI: OpenSSL's 34)")
    func subjectKeyIdentifier() throws {
        try pair(.b2, depth: 1, refused: { $0.intermediate.remove(X509Extension.subjectKeyIdentifierOID) }, twin: { _ in })
        expectRefused(try verdict { chain in
            let identifier = try X509Extension.keyIdentifier(of: chain.intermediate.key)
            chain.intermediate.set(Self.flipped(try .subjectKeyIdentifier(identifier), critical: true))
        }, byOpenSSL: .unhandledCriticalExtension, depth: 1)
    }

    @Test("W01 B2 a root without key identifiers is an anchor by default; strictAnchors refuses it")
    func anchorWithoutSKI() throws {
        let bare: (inout Chain) throws -> Void = {
            $0.root.remove(X509Extension.subjectKeyIdentifierOID)
            $0.root.remove(X509Extension.authorityKeyIdentifierOID)
        }
        expectAccepted(try verdict(bare))
        try pair(.b2, depth: 2, strictAnchors: true, refused: bare, twin: { _ in })
    }

    @Test("W01 B3 an intermediate with an empty subject is refused; the twin with a name passes")
    func emptyCASubject() throws {
        try pair(.b3, depth: 1, refused: { $0.intermediate.subject = [] }, twin: { _ in })
    }

    @Test("W01 B4 a self-signed root with an extendedKeyUsage is refused; the twin without passes")
    func anchorEKU() throws {
        try pair(.b4, depth: 2, refused: { $0.root.set(try .extendedKeyUsage([.serverAuth])) }, twin: { _ in })
    }

    @Test("W01 C1 a version 1 leaf is refused; the version 3 twin passes")
    func version() throws {
        try pair(.c1, depth: 0, refused: { $0.leaf.version = 1 }, twin: { $0.leaf.version = 3 })
        try pair(.c1, depth: 0, refused: { $0.leaf.version = 2 }, twin: { $0.leaf.version = 3 })
    }

    @Test("W01 C2 serial 0, a negative serial and a 21-octet serial are refused; serial 1 and a 20-octet twin pass")
    func serialNumbers() throws {
        try pair(.c2, depth: 0, refused: { $0.leaf.serial = BigEndianInteger(0) }, twin: { $0.leaf.serial = BigEndianInteger(1) })
        try pair(.c2, depth: 1, refused: { $0.intermediate.serial = BigEndianInteger(-5) },
                 twin: { $0.intermediate.serial = BigEndianInteger(5) })
        try pair(.c2, depth: 0, refused: { $0.leaf.serial = BigEndianInteger(magnitude: [0x01] + [UInt8](repeating: 0xab, count: 20)) },
                 twin: { $0.leaf.serial = BigEndianInteger(magnitude: [0x7f] + [UInt8](repeating: 0xab, count: 19)) })
    }

    @Test("W01 C2 a self-signed trust anchor with serial 0 is exempt")
    func anchorSerialZero() throws {
        expectAccepted(try verdict { $0.root.serial = BigEndianInteger(0) })
    }

    // MARK: W01: D

    @Test("W01 D1 a CA certificate as the leaf is refused; the CA:FALSE twin passes")
    func caLeaf() throws {
        try pair(.d1, depth: 0, refused: { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true)) },
                 twin: { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: false), critical: true)) })
        let refused = try verdict { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true)) }
        #expect(refused.failure?.message == "the leaf is a CA certificate (D1)")
    }

    @Test("W01 D1 a leaf whose keyUsage includes keyCertSign is refused; the twin without passes")
    func keyCertSignLeaf() throws {
        try pair(.d1, depth: 0, refused: { $0.leaf.set(try .keyUsage([.digitalSignature, .keyCertSign])) },
                 twin: { $0.leaf.set(try .keyUsage([.digitalSignature])) })
    }

    @Test("W01 D2 a critical extendedKeyUsage, and anyExtendedKeyUsage, are refused; the plain serverAuth twin passes")
    func leafEKU() throws {
        try pair(.d2, depth: 0, refused: { $0.leaf.set(try .extendedKeyUsage([.serverAuth], critical: true)) },
                 twin: { $0.leaf.set(try .extendedKeyUsage([.serverAuth], critical: false)) })
        try pair(.d2, depth: 0, refused: { $0.leaf.set(try .extendedKeyUsage([.serverAuth, .anyExtendedKeyUsage])) },
                 twin: { $0.leaf.set(try .extendedKeyUsage([.serverAuth])) })
        expectAccepted(try verdict { $0.leaf.remove(X509Extension.extendedKeyUsageOID) })  // absence is allowed
    }

    @Test("W01 D3 no subjectAltName, or an empty one, is refused; the twin with a name passes")
    func missingSAN() throws {
        try pair(.d3, depth: 0, refused: { $0.leaf.remove(X509Extension.subjectAlternativeNameOID) }, twin: { _ in })
        try pair(.d3, depth: 0, refused: { $0.leaf.set(Self.raw(X509Extension.subjectAlternativeNameOID, [0x30, 0x00])) },
                 twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")])) })
    }

    @Test("W01 D3 the SAN is critical exactly when the subject is empty; both mismatches are refused, both matches pass")
    func sanCriticality() throws {
        try pair(.d3, depth: 0, refused: { $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: true)) },
                 twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: false)) })
        try pair(.d3, depth: 0, refused: {
            $0.leaf.subject = []
            $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: false))
        }, twin: {
            $0.leaf.subject = []
            $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: true))
        })
    }

    @Test("W01 D4 DNS names that are not LDH host names are refused; the well-formed twin passes",
          arguments: ["www..example.com", "w*.example.com", "*.*.example.com", "www.exa_mple.com", "www.example.com.",
                      String(repeating: "a", count: 64) + ".example.com", "*"])
    func dnsNameSyntax(name: String) throws {
        try pair(.d4, depth: 0, refused: { $0.leaf.set(try Self.san([.dnsName(name)])) },
                 twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")])) })
    }

    @Test("W01 D4 an IP address of 5 octets is refused; the 4-octet twin passes")
    func ipAddressLength() throws {
        func sanIP(_ octets: [UInt8]) -> X509Extension {
            Self.raw(X509Extension.subjectAlternativeNameOID,
                     [0x30, UInt8(octets.count + 2 + 17), 0x82, 15] + Array("www.example.com".utf8) + [0x87, UInt8(octets.count)] + octets)
        }
        try pair(.d4, depth: 0, refused: { $0.leaf.set(sanIP([192, 0, 2, 1, 9])) }, twin: { $0.leaf.set(sanIP([192, 0, 2, 1])) })
    }

    @Test("W01 D5 two common names are refused; the one-CN twin passes")
    func twoCommonNames() throws {
        try pair(.d5, depth: 0, refused: { $0.leaf.subject = [("CN", "www.example.com"), ("CN", "example.com")] },
                 twin: { $0.leaf.subject = [("CN", "www.example.com")] })
    }

    @Test("W01 D5 an IP common name must be canonical and among the SAN IP addresses")
    func ipCommonName() throws {
        let sans: [GeneralName] = [.dnsName("www.example.com"), try .ipAddress("192.0.2.1"), try .ipAddress("2001:db8::1")]
        for cn in ["192.0.2.01", "0xc0.0.2.1", "3221225985", "2001:DB8::1", "2001:db8:0:0:0:0:0:1"] {
            try pair(.d5, depth: 0, refused: { $0.leaf.subject = [("CN", cn)]; $0.leaf.set(try Self.san(sans)) },
                     twin: { $0.leaf.subject = [("CN", cn.contains(":") ? "2001:db8::1" : "192.0.2.1")]; $0.leaf.set(try Self.san(sans)) })
        }
        try pair(.d5, depth: 0, refused: { $0.leaf.subject = [("CN", "192.0.2.7")]; $0.leaf.set(try Self.san(sans)) },
                 twin: { $0.leaf.subject = [("CN", "192.0.2.1")]; $0.leaf.set(try Self.san(sans)) })
    }

    @Test("W01 D5 a DNS common name differing from its SAN only in case, or not ASCII, is refused; the exact twin passes")
    func dnsCommonName() throws {
        try pair(.d5, depth: 0, refused: { $0.leaf.subject = [("CN", "WWW.example.com")] },
                 twin: { $0.leaf.subject = [("CN", "www.example.com")] })
        try pair(.d5, depth: 0, refused: { $0.leaf.subject = [("CN", "www.exämple.com")] },
                 twin: { $0.leaf.subject = [("CN", "www.xn--exmple-cua.com")] })
        expectAccepted(try verdict { $0.leaf.subject = [("CN", "Example Web Server")] })  // a CN that is no SAN is allowed
    }

    // MARK: W01: E

    @Test("W01 E1 a wildcard over a public suffix that matched the host is refused; the twin one label deeper passes",
          arguments: [("co.uk", "example.co.uk"), ("github.io", "someone.github.io"), ("xn--55qx5d.cn", "shop.xn--55qx5d.cn"),
                      ("anything.ck", "shop.anything.ck")])
    func wildcardOverPublicSuffix(suffix: String, registrable: String) throws {
        expectRefused(try verdict(host: "www.\(suffix)") { $0.leaf.set(try Self.san([.dnsName("*.\(suffix)")])) },
                      by: .e1, depth: 0)
        expectAccepted(try verdict(host: "www.\(suffix)", policy: .openSSL) { $0.leaf.set(try Self.san([.dnsName("*.\(suffix)")])) })
        expectAccepted(try verdict(host: "www.\(registrable)") { $0.leaf.set(try Self.san([.dnsName("*.\(registrable)")])) })
    }

    @Test("W01 E1 only the SAN entry that matched is judged")
    func onlyTheMatchedEntry() throws {
        expectAccepted(try verdict(host: "www.example.com") {
            $0.leaf.set(try Self.san([.dnsName("www.example.com"), .dnsName("*.co.uk")]))
        })
    }

    @Test("W01 E2 a wildcard reaching a host the CA was excluded from is refused; a host outside the exclusion passes")
    func excludedHost() throws {
        let constrained: (inout Chain) throws -> Void = {
            $0.intermediate.set(try .nameConstraints(permitted: [], excluded: [.dnsName("bad.example.com")]))
            $0.leaf.set(try Self.san([.dnsName("*.example.com")]))
        }
        expectRefused(try verdict(host: "bad.example.com", constrained), by: .e2, depth: 1)
        expectAccepted(try verdict(host: "bad.example.com", policy: .openSSL, constrained))  // OpenSSL checks the SAN only
        expectAccepted(try verdict(host: "good.example.com", constrained))
    }

    @Test("W01 E2 a host outside the CA's permitted DNS names is refused; one inside passes")
    func permittedHost() throws {
        let constrained: (inout Chain) throws -> Void = {
            $0.intermediate.set(try .nameConstraints(permitted: [.dnsName("example.com"), .dnsName("example.net")]))
            $0.leaf.set(try Self.san([.dnsName("www.example.com"), .dnsName("www.example.net")]))
        }
        expectAccepted(try verdict(host: "www.example.net", constrained))
        expectAccepted(try verdict(host: "www.example.com", constrained))
    }

    // MARK: Errors and set-up

    @Test("W01 a missing Public Suffix List is an error when the policy is made, naming the file")
    func missingList() throws {
        #expect {
            _ = try VerificationPolicy.webPKI(publicSuffixList: "/nonexistent/public_suffix_list.dat")
        } throws: { error in
            "\(error)".contains("/nonexistent/public_suffix_list.dat") && "\(error)".contains("publicsuffix")
        }
    }

    @Test("W01 the Public Suffix List is held as A-labels: Punycode encodes RFC 3492's way")
    func punycode() {
        #expect(Punycode.encode("bücher") == "bcher-kva")
        #expect(Punycode.encode("münchen") == "mnchen-3ya")
        #expect(Punycode.encode("公司") == "55qx5d")
        #expect(Punycode.encode("网络") == "io0a7i")
        #expect(Punycode.aLabels("aéroport.ci") == "xn--aroport-bya.ci")
    }

    @Test("W01 the list's rules: ordinary, wildcard, exception, the implicit '*', ICANN and PRIVATE")
    func publicSuffixRules() throws {
        let list = try PublicSuffixList.load()
        #expect(list.count > 5000)
        #expect(list.isPublicSuffix("co.uk") && list.isPublicSuffix("CO.UK"))
        #expect(list.isPublicSuffix("github.io"))          // PRIVATE section
        #expect(list.isPublicSuffix("xn--55qx5d.cn"))      // 公司.cn, converted
        #expect(list.isPublicSuffix("anything.ck"))        // *.ck
        #expect(!list.isPublicSuffix("www.ck"))            // !www.ck
        #expect(list.isPublicSuffix("notarealtld"))        // the implicit "*" rule
        #expect(!list.isPublicSuffix("example.com") && !list.isPublicSuffix("example.co.uk"))
        #expect(try PublicSuffixList.load() === list)      // read once
    }

    @Test("W01 OpenSSL's own refusals keep their code and message under the policy")
    func openSSLRefusalsKeepTheirCode() throws {
        var chain = try Chain()
        chain.leaf.notAfter = Date() - 86_400
        chain.leaf.notBefore = Date() - 2 * 86_400
        let result = try Chain.verify(try chain.build(), policy: try Chain.webPKI())
        expectRefused(result, byOpenSSL: .certHasExpired, depth: 0)
        #expect(result.failure?.message == "certificate has expired")
    }

    @Test("W01 X509StoreContext follows its store's policy, and its callback sees OpenSSL's findings")
    func storeContextFollowsPolicy() throws {
        var chain = try Chain()
        chain.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true))
        let built = try chain.build()
        let store = try X509Store()
        try store.add(built.root)
        #expect(store.verificationPolicy == .openSSL)
        store.setVerificationPolicy(try .webPKI())
        #expect(store.verificationPolicy == (try .webPKI()))
        let context = try X509StoreContext(store: store, certificate: built.leaf, untrusted: [built.intermediate])
        var calls = 0
        context.setVerifyCallback { ok, _ in calls += 1; return ok }
        #expect(throws: X509VerificationError.self) { try context.verify() }
        #expect(calls >= 3)
        do {
            try context.verify()
        } catch let error as X509VerificationError {
            #expect(error.rule == .d1 && error.depth == 0)
        }
    }
}

extension Result {
    /// The error of a failure, nil for a success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
