import Foundation
import Testing
@testable import OpenSSL
import TestSupport

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
    private func verdict(
        host: String? = nil, policy: VerificationPolicy? = nil,
        configure: (X509Store) throws -> Void = { _ in },
        _ change: (inout Chain) throws -> Void
    ) throws -> Result<[X509], X509VerificationError> {
        var chain = try Chain()
        try change(&chain)
        return try Chain.verify(try chain.build(), policy: try policy ?? Chain.webPKI(), host: host, configure: configure)
    }

    /// A refused case and its passing twin.
    private func pair(
        _ rule: WebPKIRule, depth: Int, host: String? = nil, strictAnchors: Bool = false,
        refused: (inout Chain) throws -> Void, twin: (inout Chain) throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
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

    @Test(
        "W01 P2 a trusted intermediate is an anchor: OpenSSL alone refuses (2), the policy accepts; an untrusted one is refused by both"
    )
    func trustedIntermediateIsAnAnchor() throws {
        let built = try Chain().build()
        expectAccepted(try Chain.verify(built, policy: try Chain.webPKI(), trust: [built.intermediate], untrusted: []))
        expectRefused(
            try Chain.verify(built, policy: .openSSL, trust: [built.intermediate], untrusted: []),
            byOpenSSL: .unableToGetIssuerCert, depth: 1)
        let stranger = try Chain().build().root
        expectRefused(
            try Chain.verify(built, policy: try Chain.webPKI(), trust: [stranger]),
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
        expectRefused(
            try Chain.verify(built, policy: try Chain.webPKI(), configure: at(notAfter + 1)),
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
        expectRefused(
            try Chain.verify(ordinary, policy: try Chain.webPKI(), configure: depthZero),
            byOpenSSL: .certChainTooLong, depth: 1)
        // …and by P4 itself when an unused self-issued certificate raised OpenSSL's allowance.
        expectRefused(
            try Chain.verify(
                ordinary, policy: try Chain.webPKI(),
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
            {
                try $0.add(list)
                try $0.setFlags(.crlCheck)
            }
        }
        let unnumbered = try crl(number: nil)
        expectRefused(
            try Chain.verify(built, policy: try Chain.webPKI(), configure: checking(unnumbered)),
            byOpenSSL: .unableToGetCRL, depth: 0)
        expectAccepted(try Chain.verify(built, policy: .openSSL, configure: checking(unnumbered)))
        expectAccepted(
            try Chain.verify(built, policy: try Chain.webPKI(), configure: checking(try crl(number: BigEndianInteger(7)))))
    }

    // MARK: W01: K and A

    @Test("W01 K1 an RSA-1024 leaf key is refused; an RSA-2048 twin passes")
    func rsaKeySize() throws {
        try pair(
            .k1, depth: 0, refused: { $0.leaf.key = try PKey.generate(.rsa(bits: 1024)) },
            twin: { $0.leaf.key = try PKey.generate(.rsa(bits: 2048)) })
    }

    @Test("W01 K1 a P-192 intermediate key and an Ed25519 leaf key are refused; P-384 and P-521 twins pass")
    func curves() throws {
        try pair(
            .k1, depth: 1, refused: { $0.intermediate.key = try PKey.generate(.ec(PKey.Curve("prime192v1"))) },
            twin: { $0.intermediate.key = try PKey.generate(.ec(.p384)) })
        try pair(
            .k1, depth: 0, refused: { $0.leaf.key = try PKey.generate(.ed25519) },
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
        expectRefused(
            try verdict { $0.leaf.set(try aki($0, critical: true, keyIdentifier: true)) },
            byOpenSSL: .unhandledCriticalExtension, depth: 0)
        try pair(
            .a2, depth: 0, refused: { $0.leaf.set(try aki($0, critical: false, keyIdentifier: false)) },
            twin: { $0.leaf.set(try aki($0, critical: false, keyIdentifier: true)) })
    }

    @Test("W01 A2 a self-signed root whose AKI names another key is refused; the twin naming itself passes")
    func selfSignedAKI() throws {
        try pair(
            .a2, depth: 2,
            refused: {
                $0.root.set(try .authorityKeyIdentifier(AuthorityKeyIdentifier(keyIdentifier: [1, 2, 3, 4])))
            }, twin: { _ in })
    }

    @Test(
        "W01 A2 a CA certificate without an AKI is refused; its twin that reuses its issuer's key is self-signed and needs none")
    func issuerKeyReuse() throws {
        // The twin's signature verifies with its own key: the self-signed
        // test below the anchor must find the two keys equal (its shortcut
        // for different EC points must not take equal ones for different).
        try pair(
            .a2, depth: 1, refused: { $0.intermediate.remove(X509Extension.authorityKeyIdentifierOID) },
            twin: {
                $0.intermediate.key = $0.root.key
                $0.intermediate.remove(X509Extension.authorityKeyIdentifierOID)
            })
    }

    @Test("W01 A3 a non-critical policyConstraints is refused; the critical twin passes")
    func policyConstraints() throws {
        let value: [UInt8] = [0x30, 0x03, 0x81, 0x01, 0x00]  // inhibitPolicyMapping 0
        try pair(
            .a3, depth: 1, refused: { $0.intermediate.set(Self.raw("2.5.29.36", critical: false, value)) },
            twin: { $0.intermediate.set(Self.raw("2.5.29.36", critical: true, value)) })
    }

    @Test("W01 A4 an empty authorityInfoAccess is refused; the twin with an OCSP URL passes")
    func emptyAIA() throws {
        try pair(
            .a4, depth: 0, refused: { $0.leaf.set(Self.raw(X509Extension.authorityInfoAccessOID, [0x30, 0x00])) },
            twin: { $0.leaf.set(try .authorityInfoAccess([.ocsp("http://ocsp.example.com")])) })
    }

    @Test("W01 A5 DNS name constraints with a leading dot or a '*' are refused; the plain twin passes")
    func nameConstraintLeadingDot() throws {
        for bad in [".other.example", "*.other.example", "other_example.com"] {
            try pair(
                .a5, depth: 1, refused: { $0.intermediate.set(try .nameConstraints(permitted: [], excluded: [.dnsName(bad)])) },
                twin: { $0.intermediate.set(try .nameConstraints(permitted: [], excluded: [.dnsName("other.example")])) })
        }
        // OpenSSL itself reads a leading-dot permitted subtree as not covering www.example.com (47).
        expectRefused(
            try verdict { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName(".example.com")])) },
            byOpenSSL: .permittedViolation, depth: 0)
    }

    @Test("W01 A5 an empty permitted list, and name constraints in a leaf, are refused; well-formed CA twins pass")
    func nameConstraintShape() throws {
        try pair(
            .a5, depth: 1,
            refused: {
                $0.intermediate.set(Self.raw(X509Extension.nameConstraintsOID, critical: true, [0x30, 0x02, 0xa0, 0x00]))
            }, twin: { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName("example.com")])) })
        try pair(
            .a5, depth: 0, refused: { $0.leaf.set(try .nameConstraints(permitted: [.dnsName("example.com")])) },
            twin: { $0.intermediate.set(try .nameConstraints(permitted: [.dnsName("example.com")])) })
    }

    // MARK: W01: B and C

    @Test("W01 B1 an intermediate with a non-critical basicConstraints is refused; the critical twin passes")
    func basicConstraintsCritical() throws {
        try pair(
            .b1, depth: 1,
            refused: {
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
        expectRefused(
            try verdict { chain in
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
        try pair(
            .c2, depth: 1, refused: { $0.intermediate.serial = BigEndianInteger(-5) },
            twin: { $0.intermediate.serial = BigEndianInteger(5) })
        try pair(
            .c2, depth: 0,
            refused: { $0.leaf.serial = BigEndianInteger(magnitude: [0x01] + [UInt8](repeating: 0xab, count: 20)) },
            twin: { $0.leaf.serial = BigEndianInteger(magnitude: [0x7f] + [UInt8](repeating: 0xab, count: 19)) })
    }

    @Test("W01 C2 a self-signed trust anchor with serial 0 is exempt")
    func anchorSerialZero() throws {
        expectAccepted(try verdict { $0.root.serial = BigEndianInteger(0) })
    }

    // MARK: W01: D

    @Test("W01 D1 a CA certificate as the leaf is refused; the CA:FALSE twin passes")
    func caLeaf() throws {
        try pair(
            .d1, depth: 0, refused: { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true)) },
            twin: { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: false), critical: true)) })
        let refused = try verdict { $0.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true)) }
        #expect(refused.failure?.message == "the leaf is a CA certificate (D1)")
    }

    @Test("W01 D1 a leaf whose keyUsage includes keyCertSign is refused; the twin without passes")
    func keyCertSignLeaf() throws {
        try pair(
            .d1, depth: 0, refused: { $0.leaf.set(try .keyUsage([.digitalSignature, .keyCertSign])) },
            twin: { $0.leaf.set(try .keyUsage([.digitalSignature])) })
    }

    @Test("W01 D2 a critical extendedKeyUsage, and anyExtendedKeyUsage, are refused; the plain serverAuth twin passes")
    func leafEKU() throws {
        try pair(
            .d2, depth: 0, refused: { $0.leaf.set(try .extendedKeyUsage([.serverAuth], critical: true)) },
            twin: { $0.leaf.set(try .extendedKeyUsage([.serverAuth], critical: false)) })
        try pair(
            .d2, depth: 0, refused: { $0.leaf.set(try .extendedKeyUsage([.serverAuth, .anyExtendedKeyUsage])) },
            twin: { $0.leaf.set(try .extendedKeyUsage([.serverAuth])) })
        expectAccepted(try verdict { $0.leaf.remove(X509Extension.extendedKeyUsageOID) })  // absence is allowed
    }

    @Test("W01 D3 no subjectAltName, or an empty one, is refused; the twin with a name passes")
    func missingSAN() throws {
        try pair(.d3, depth: 0, refused: { $0.leaf.remove(X509Extension.subjectAlternativeNameOID) }, twin: { _ in })
        try pair(
            .d3, depth: 0, refused: { $0.leaf.set(Self.raw(X509Extension.subjectAlternativeNameOID, [0x30, 0x00])) },
            twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")])) })
    }

    @Test("W01 D3 the SAN is critical exactly when the subject is empty; both mismatches are refused, both matches pass")
    func sanCriticality() throws {
        try pair(
            .d3, depth: 0, refused: { $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: true)) },
            twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: false)) })
        try pair(
            .d3, depth: 0,
            refused: {
                $0.leaf.subject = []
                $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: false))
            },
            twin: {
                $0.leaf.subject = []
                $0.leaf.set(try Self.san([.dnsName("www.example.com")], critical: true))
            })
    }

    @Test(
        "W01 D4 DNS names that are not LDH host names are refused; the well-formed twin passes",
        arguments: [
            "www..example.com", "w*.example.com", "*.*.example.com", "www.exa_mple.com", "www.example.com.",
            String(repeating: "a", count: 64) + ".example.com", "*",
        ])
    func dnsNameSyntax(name: String) throws {
        try pair(
            .d4, depth: 0, refused: { $0.leaf.set(try Self.san([.dnsName(name)])) },
            twin: { $0.leaf.set(try Self.san([.dnsName("www.example.com")])) })
    }

    @Test("W01 D4 an IP address of 5 octets is refused; the 4-octet twin passes")
    func ipAddressLength() throws {
        func sanIP(_ octets: [UInt8]) -> X509Extension {
            Self.raw(
                X509Extension.subjectAlternativeNameOID,
                [0x30, UInt8(octets.count + 2 + 17), 0x82, 15] + Array("www.example.com".utf8) + [0x87, UInt8(octets.count)]
                    + octets)
        }
        try pair(
            .d4, depth: 0, refused: { $0.leaf.set(sanIP([192, 0, 2, 1, 9])) }, twin: { $0.leaf.set(sanIP([192, 0, 2, 1])) })
    }

    @Test("W01 D5 two common names are refused; the one-CN twin passes")
    func twoCommonNames() throws {
        try pair(
            .d5, depth: 0, refused: { $0.leaf.subject = [("CN", "www.example.com"), ("CN", "example.com")] },
            twin: { $0.leaf.subject = [("CN", "www.example.com")] })
    }

    @Test("W01 D5 an IP common name must be canonical and among the SAN IP addresses")
    func ipCommonName() throws {
        let sans: [GeneralName] = [.dnsName("www.example.com"), try .ipAddress("192.0.2.1"), try .ipAddress("2001:db8::1")]
        for cn in ["192.0.2.01", "0xc0.0.2.1", "3221225985", "2001:DB8::1", "2001:db8:0:0:0:0:0:1"] {
            try pair(
                .d5, depth: 0,
                refused: {
                    $0.leaf.subject = [("CN", cn)]
                    $0.leaf.set(try Self.san(sans))
                },
                twin: {
                    $0.leaf.subject = [("CN", cn.contains(":") ? "2001:db8::1" : "192.0.2.1")]
                    $0.leaf.set(try Self.san(sans))
                })
        }
        try pair(
            .d5, depth: 0,
            refused: {
                $0.leaf.subject = [("CN", "192.0.2.7")]
                $0.leaf.set(try Self.san(sans))
            },
            twin: {
                $0.leaf.subject = [("CN", "192.0.2.1")]
                $0.leaf.set(try Self.san(sans))
            })
    }

    @Test("W01 D5 a DNS common name differing from its SAN only in case, or not ASCII, is refused; the exact twin passes")
    func dnsCommonName() throws {
        try pair(
            .d5, depth: 0, refused: { $0.leaf.subject = [("CN", "WWW.example.com")] },
            twin: { $0.leaf.subject = [("CN", "www.example.com")] })
        try pair(
            .d5, depth: 0, refused: { $0.leaf.subject = [("CN", "www.exämple.com")] },
            twin: { $0.leaf.subject = [("CN", "www.xn--exmple-cua.com")] })
        expectAccepted(try verdict { $0.leaf.subject = [("CN", "Example Web Server")] })  // a CN that is no SAN is allowed
        // Text that begins like an address is still text (glibc's inet_aton reads "10 Downing Street" as 0.0.0.10).
        expectAccepted(try verdict { $0.leaf.subject = [("CN", "10 Downing Street")] })
        expectAccepted(try verdict { $0.leaf.subject = [("CN", "1 Example Corp")] })
    }

    // MARK: W01: E

    @Test(
        "W01 E1 a wildcard over a public suffix that matched the host is refused; the twin one label deeper passes",
        arguments: [
            ("co.uk", "example.co.uk"), ("github.io", "someone.github.io"), ("xn--55qx5d.cn", "shop.xn--55qx5d.cn"),
            ("anything.ck", "shop.anything.ck"),
        ])
    func wildcardOverPublicSuffix(suffix: String, registrable: String) throws {
        expectRefused(
            try verdict(host: "www.\(suffix)") { $0.leaf.set(try Self.san([.dnsName("*.\(suffix)")])) },
            by: .e1, depth: 0)
        expectAccepted(
            try verdict(host: "www.\(suffix)", policy: .openSSL) { $0.leaf.set(try Self.san([.dnsName("*.\(suffix)")])) })
        expectAccepted(try verdict(host: "www.\(registrable)") { $0.leaf.set(try Self.san([.dnsName("*.\(registrable)")])) })
    }

    @Test("W01 E1 only the SAN entry that matched is judged")
    func onlyTheMatchedEntry() throws {
        expectAccepted(
            try verdict(host: "www.example.com") {
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

    // A host outside the permitted subtrees cannot get this far: OpenSSL
    // already refuses every SAN outside them (a matching SAN is inside, so
    // is the host), and A5 refuses leading-dot bases. E2's permitted branch
    // stays as a guard behind a caller's callback that overrides OpenSSL.
    @Test("W01 E2 hosts inside the CA's permitted DNS names pass")
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
        #expect(list.isPublicSuffix("github.io"))  // PRIVATE section
        #expect(list.isPublicSuffix("xn--55qx5d.cn"))  // 公司.cn, converted
        #expect(list.isPublicSuffix("anything.ck"))  // *.ck
        #expect(!list.isPublicSuffix("www.ck"))  // !www.ck
        #expect(list.isPublicSuffix("notarealtld"))  // the implicit "*" rule
        #expect(!list.isPublicSuffix("example.com") && !list.isPublicSuffix("example.co.uk"))
        #expect(try PublicSuffixList.load() === list)  // read once
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
        context.setVerifyCallback { ok, _ in
            calls += 1
            return ok
        }
        #expect(throws: X509VerificationError.self) { try context.verify() }
        #expect(calls >= 3)
        let error = try #require(throws: X509VerificationError.self) { try context.verify() }
        #expect(error.rule == .d1 && error.depth == 0)
    }
}

extension Result {
    /// The error of a failure, nil for a success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

// MARK: - W02: the system's roots

@Suite("Web-PKI policy: system roots")
struct WebPKISystemRootsTests {
    static let bundle = "/etc/ssl/certs/ca-certificates.crt"

    /// The checks the policy runs over a built chain, with no host.
    private static func checks(strictAnchors: Bool) throws -> WebPKIChecks {
        WebPKIChecks(
            strictAnchors: strictAnchors, publicSuffixes: try PublicSuffixList.load(),
            hosts: [], hostFlags: 0, maximumDepth: nil)
    }

    /// Whether a root breaks B1's criticality or B2 (what strictAnchors adds).
    private static func breaksStrictAnchorRules(_ root: X509) -> Bool {
        let extensions = root.extensions
        let basic = extensions.first { $0.oid == X509Extension.basicConstraintsOID }
        let ski = extensions.first { $0.oid == X509Extension.subjectKeyIdentifierOID }
        return basic?.isCritical != true || ski == nil || ski?.isCritical == true
    }

    @Test(
        "W02 every root of the system bundle is accepted as a trust anchor by the default policy; strictAnchors refuses exactly those breaking B1/B2"
    )
    func systemBundle() throws {
        let roots = try X509.chain(pem: Array(try Data(contentsOf: URL(fileURLWithPath: Self.bundle))))
        #expect(roots.count > 100)
        // Each root as the anchor of [an ordinary leaf, root]: the rules for the
        // anchor are the ones that can refuse (the leaf passes every rule).
        let leaf = try WebPKIChain().build().leaf
        let lenient = try Self.checks(strictAnchors: false)
        let strict = try Self.checks(strictAnchors: true)
        for root in roots {
            let refusal = lenient.firstViolation(in: [leaf, root])
            #expect(refusal == nil, "\(root): \(refusal.map(String.init(describing:)) ?? "")")
        }
        var refusedByStrict: [(X509, X509VerificationError)] = []
        for root in roots {
            if let refusal = strict.firstViolation(in: [leaf, root]) { refusedByStrict.append((root, refusal)) }
        }
        for (root, refusal) in refusedByStrict {
            #expect(refusal.rule == .b1 || refusal.rule == .b2, "\(root): \(refusal)")
            #expect(refusal.depth == 1)
            print("W02 strictAnchors refuses \((try? root.subject.oneLineString) ?? "?"): \(refusal.message)")
        }
        #expect(Set(refusedByStrict.map(\.0)) == Set(roots.filter(Self.breaksStrictAnchorRules)))
        #expect(!refusedByStrict.isEmpty, "the bundle is expected to hold a few roots breaking B1/B2")
    }
}

// MARK: - W03: path search

@Suite("Web-PKI policy: path search")
struct WebPKIPathSearchTests {
    /// A chain and, for its intermediate's subject and key, other
    /// certificates: one issued by a root nobody trusts (a dead end), and
    /// others issued by the trusted root with the given extension.
    struct CrossSigned {
        let built: WebPKIChain.Built
        let chain: WebPKIChain

        init(_ change: (inout WebPKIChain) throws -> Void = { _ in }) throws {
            var chain = try WebPKIChain()
            try change(&chain)
            self.chain = chain
            built = try chain.build()
        }

        /// The intermediate again (same subject and key), issued by a root nobody trusts.
        func deadEnd(serial: Int64 = 100) throws -> X509 {
            let stranger = try WebPKIChain()
            var spec = chain.intermediate
            spec.serial = BigEndianInteger(serial)
            return try spec.sign(with: stranger.root.key, issuer: try stranger.build().root)
        }

        /// The intermediate again, issued by the trusted root, with `ext` added.
        func variant(adding ext: X509Extension, serial: Int64 = 200) throws -> X509 {
            var spec = chain.intermediate
            spec.serial = BigEndianInteger(serial)
            spec.set(ext)
            return try spec.sign(with: chain.root.key, issuer: built.root)
        }
    }

    @Test("W03 a dead-end intermediate offered first does not hide the valid path (OpenSSL alone stops at it)")
    func pastDeadEnd() throws {
        let pki = try CrossSigned()
        let deadEnd = try pki.deadEnd()
        let untrusted = [deadEnd, pki.built.intermediate]
        expectRefused(
            try WebPKIChain.verify(pki.built, policy: .openSSL, untrusted: untrusted),
            byOpenSSL: .unableToGetIssuerCertLocally, depth: 1)
        let chain = try WebPKIChain.verify(pki.built, policy: try .webPKI(), untrusted: untrusted).get()
        #expect(chain == [pki.built.leaf, pki.built.intermediate, pki.built.root])
    }

    @Test("W03 an intermediate violating a name constraint offered first does not hide the valid path")
    func pastNameConstraintViolation() throws {
        let pki = try CrossSigned()
        let constrained = try pki.variant(adding: try .nameConstraints(permitted: [.dnsName("other.example")]))
        let untrusted = [constrained, pki.built.intermediate]
        expectRefused(
            try WebPKIChain.verify(pki.built, policy: .openSSL, untrusted: untrusted),
            byOpenSSL: .permittedViolation, depth: 0)
        let chain = try WebPKIChain.verify(pki.built, policy: try .webPKI(), untrusted: untrusted).get()
        #expect(chain[1] == pki.built.intermediate)
        // Alone, the constrained intermediate's refusal is reported as OpenSSL made it.
        expectRefused(
            try WebPKIChain.verify(pki.built, policy: try .webPKI(), untrusted: [constrained]),
            byOpenSSL: .permittedViolation, depth: 0)
    }

    @Test("W03 an intermediate whose exclusion the host falls in (E2) offered first does not hide the valid path")
    func pastExcludedHost() throws {
        let pki = try CrossSigned { $0.leaf.set(try .subjectAlternativeName([.dnsName("*.example.com")])) }
        let excluding = try pki.variant(adding: try .nameConstraints(permitted: [], excluded: [.dnsName("bad.example.com")]))
        let untrusted = [excluding, pki.built.intermediate]
        expectAccepted(try WebPKIChain.verify(pki.built, policy: .openSSL, host: "bad.example.com", untrusted: untrusted))
        let chain = try WebPKIChain.verify(pki.built, policy: try .webPKI(), host: "bad.example.com", untrusted: untrusted).get()
        #expect(chain[1] == pki.built.intermediate)
        expectRefused(
            try WebPKIChain.verify(pki.built, policy: try .webPKI(), host: "bad.example.com", untrusted: [excluding]),
            by: .e2, depth: 1)
    }

    @Test("W03 the search builds at most 8 chains and reports the first refusal; a valid path 9th in line is not reached")
    func boundedSearch() throws {
        let pki = try CrossSigned()
        let deadEnds = try (0..<9).map { try pki.deadEnd(serial: 100 + Int64($0)) }
        let store = try X509Store()
        try store.add(pki.built.root)
        store.setVerificationPolicy(try .webPKI())
        let context = try X509StoreContext(
            store: store, certificate: pki.built.leaf,
            untrusted: deadEnds + [pki.built.intermediate])
        var builds = 0
        context.setVerifyCallback { ok, info in
            if !ok && info.error == .unableToGetIssuerCertLocally { builds += 1 }
            return ok
        }
        let started = Date()
        do {
            try context.verify()
            Issue.record("accepted past 9 dead ends")
        } catch let error as X509VerificationError {
            #expect(error.rule == nil && error.code == .unableToGetIssuerCertLocally && error.depth == 1)
            #expect(error.certificate == deadEnds[0], "the first refusal is reported")
        }
        #expect(builds == PolicyEngine.maximumBuilds)
        #expect(Date().timeIntervalSince(started) < PolicyEngine.timeBudget + 1)
        // With the valid intermediate within reach (8th), the search finds it.
        context.setUntrusted(Array(deadEnds.prefix(7)) + [pki.built.intermediate])
        builds = 0
        #expect(try context.verify()[1] == pki.built.intermediate)
        #expect(builds == 7)
    }
}

// MARK: - W04: store, TLS and CLI agree

@Suite("Web-PKI policy: store, TLS and CLI")
struct WebPKISurfacesTests {
    /// A verdict as each surface reports it.
    struct Verdict: Equatable, CustomStringConvertible {
        let accepted: Bool
        let rule: String?
        let depth: Int?
        var description: String {
            accepted ? "accepted" : "refused by \(rule ?? "OpenSSL") at depth \(depth.map(String.init) ?? "?")"
        }
    }

    struct Case {
        let name: String
        let built: WebPKIChain.Built
        let leafKey: PKey
        let intermediates: [X509]
        let host: String
        let expected: Verdict
    }

    static func cases() throws -> [Case] {
        var result: [Case] = []
        let ordinary = try WebPKIChain()
        let built = try ordinary.build()
        result.append(
            Case(
                name: "ordinary", built: built, leafKey: ordinary.leaf.key, intermediates: [built.intermediate],
                host: "www.example.com", expected: Verdict(accepted: true, rule: nil, depth: nil)))
        var caLeaf = try WebPKIChain()
        caLeaf.leaf.set(try .basicConstraints(BasicConstraints(isCA: true), critical: true))
        let caBuilt = try caLeaf.build()
        result.append(
            Case(
                name: "CA leaf", built: caBuilt, leafKey: caLeaf.leaf.key, intermediates: [caBuilt.intermediate],
                host: "www.example.com", expected: Verdict(accepted: false, rule: "D1", depth: 0)))
        var wildcard = try WebPKIChain()
        wildcard.leaf.set(try .subjectAlternativeName([.dnsName("*.co.uk")]))
        let wildcardBuilt = try wildcard.build()
        result.append(
            Case(
                name: "wildcard over co.uk", built: wildcardBuilt, leafKey: wildcard.leaf.key,
                intermediates: [wildcardBuilt.intermediate], host: "www.co.uk",
                expected: Verdict(accepted: false, rule: "E1", depth: 0)))
        var noSKI = try WebPKIChain()
        noSKI.intermediate.remove(X509Extension.subjectKeyIdentifierOID)
        let noSKIBuilt = try noSKI.build()
        result.append(
            Case(
                name: "intermediate without SKI", built: noSKIBuilt, leafKey: noSKI.leaf.key,
                intermediates: [noSKIBuilt.intermediate], host: "www.example.com",
                expected: Verdict(accepted: false, rule: "B2", depth: 1)))
        let pki = try WebPKIPathSearchTests.CrossSigned()
        result.append(
            Case(
                name: "dead end first", built: pki.built, leafKey: pki.chain.leaf.key,
                intermediates: [try pki.deadEnd(), pki.built.intermediate], host: "www.example.com",
                expected: Verdict(accepted: true, rule: nil, depth: nil)))
        return result
    }

    static func storeVerdict(_ c: Case) throws -> Verdict {
        switch try WebPKIChain.verify(c.built, policy: try .webPKI(), host: c.host, untrusted: c.intermediates) {
        case .success: return Verdict(accepted: true, rule: nil, depth: nil)
        case .failure(let error): return Verdict(accepted: false, rule: error.rule?.rawValue, depth: error.depth)
        }
    }

    /// A handshake with a server sending `c`'s chain, the client under `.webPKI()`;
    /// the whole-chain hook records both verdicts and goes with the policy's.
    static func tlsVerdict(_ c: Case) throws -> (Verdict, PeerVerification?) {
        let server = try Context.server(certificate: c.built.leaf, key: c.leafKey, chain: c.intermediates)
        let client = try Context.client(trusting: [c.built.root])
        try client.setVerificationPolicy(try .webPKI())
        let seen = Locked<PeerVerification?>(nil)
        try client.setPeerVerification { _, verification in
            seen.withLock { $0 = verification }
            return verification.error == nil ? .accept : .reject
        }
        let pair = try TLSPair(client: client, server: server, serverName: c.host)
        let accepted = (try? pair.handshake()) != nil
        let verification = seen.withLock { $0 }
        #expect(verification != nil, "the hook ran")
        return (
            accepted
                ? Verdict(accepted: true, rule: nil, depth: nil)
                : Verdict(accepted: false, rule: verification?.error?.rule?.rawValue, depth: verification?.error?.depth),
            verification
        )
    }

    static func cliVerdict(_ c: Case) throws -> Verdict {
        let directory = try TemporaryDirectory()
        try directory.write("root.pem", Data(try c.built.root.pem.utf8))
        try directory.write("untrusted.pem", Data(try c.intermediates.map { try $0.pem }.joined().utf8))
        try directory.write("leaf.pem", Data(try c.built.leaf.pem.utf8))
        let result = try OsslTool.run([
            "verify", "--policy", "webpki", "--json", "--ca", directory.path("root.pem"),
            "--untrusted", directory.path("untrusted.pem"), "--host", c.host,
            directory.path("leaf.pem"),
        ])
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            "\(result.stdout) \(result.stderr)")
        let verified = object["verified"] as? Bool == true
        #expect(result.status == (verified ? 0 : 1))
        let error = object["error"] as? [String: Any]
        return Verdict(accepted: verified, rule: error?["rule"] as? String, depth: error?["depth"] as? Int)
    }

    @Test("W04 the same verdicts through X509Store, a TLS client's handshake and ossl verify --policy webpki")
    func sameVerdicts() throws {
        for c in try Self.cases() {
            let store = try Self.storeVerdict(c)
            let (tls, verification) = try Self.tlsVerdict(c)
            let cli = try Self.cliVerdict(c)
            #expect(store == c.expected, "\(c.name): store \(store)")
            #expect(tls == c.expected, "\(c.name): TLS \(tls)")
            #expect(cli == c.expected, "\(c.name): CLI \(cli)")
            #expect(verification?.policy == (try .webPKI()))
        }
    }

    @Test("W04 the hook sees OpenSSL's verdict and the policy's apart")
    func hookSeesBothVerdicts() throws {
        let cases = try Self.cases()
        // OpenSSL accepts the CA leaf; the policy refuses it.
        let (_, caLeaf) = try Self.tlsVerdict(try #require(cases.first { $0.name == "CA leaf" }))
        #expect(caLeaf?.isTrustedByOpenSSL == true && caLeaf?.openSSLError == nil)
        #expect(caLeaf?.isAcceptedByPolicy == false && caLeaf?.error?.rule == .d1)
        #expect(caLeaf?.verifiedChain?.count == 3)
        // OpenSSL's first build stops at the dead end; the policy's search goes past it.
        let deadEndCase = try #require(cases.first { $0.name == "dead end first" })
        let (_, deadEnd) = try Self.tlsVerdict(deadEndCase)
        #expect(deadEnd?.openSSLError?.code == .unableToGetIssuerCertLocally)
        #expect(deadEnd?.error == nil && deadEnd?.isAcceptedByPolicy == true)
        #expect(deadEnd?.verifiedChain?[1] == deadEndCase.built.intermediate)
    }

    @Test("W04 without a hook the handshake fails on a rule's refusal with verify result 50, and succeeds past a dead end")
    func handshakeWithoutHook() throws {
        for c in try Self.cases() {
            let server = try Context.server(certificate: c.built.leaf, key: c.leafKey, chain: c.intermediates)
            let client = try Context.client(trusting: [c.built.root])
            try client.setVerificationPolicy(try .webPKI())
            let pair = try TLSPair(client: client, server: server, serverName: c.host)
            let failure = sslErrorCase { try pair.handshake() }
            #expect((failure == nil) == c.expected.accepted, "\(c.name): \(String(describing: failure))")
            #expect(pair.client.verifyResult == (c.expected.accepted ? .ok : .applicationVerification), "\(c.name)")
            if c.expected.accepted {
                #expect((pair.client.peerCertificateChain?.count ?? 0) >= 2)
            }
            // The same chain under .openSSL (a context given its own trust) is accepted
            // when only a rule refused it.
            let lenient = try Context.client(trusting: [c.built.root])
            #expect(lenient.verificationPolicy == .openSSL)
            if c.expected.rule != nil {
                let plain = try TLSPair(client: lenient, server: server, serverName: c.host)
                #expect(sslErrorCase { try plain.handshake() } == nil, "\(c.name): OpenSSL alone accepts it")
            }
        }
    }

    @Test(
        "W04 defaults: Context.client() with the system roots verifies by .webPKI; with its own trust, and X509Store(), by .openSSL"
    )
    func defaults() throws {
        #expect(try Context.client().verificationPolicy == (try .webPKI()))
        #expect(try Context.client(trusting: [TestPKI.shared.root]).verificationPolicy == .openSSL)
        #expect(try X509Store().verificationPolicy == .openSSL)
        #expect(try Context(.tlsServer).verificationPolicy == .openSSL)
        let context = try Context.client(trusting: [TestPKI.shared.root])
        try context.setVerificationPolicy(try .webPKI(strictAnchors: true))
        #expect(context.verificationPolicy.strictAnchors)
        _ = try Connection(context)
        #expect(throws: UsageError.self) { try context.setVerificationPolicy(.openSSL) }
    }

    @Test("W04 ossl verify keeps OpenSSL's verdict by default and refuses a CA leaf with --policy webpki")
    func cliPolicyOption() throws {
        let c = try #require(try Self.cases().first { $0.name == "CA leaf" })
        let directory = try TemporaryDirectory()
        try directory.write("root.pem", Data(try c.built.root.pem.utf8))
        try directory.write("chain.pem", Data(try (c.built.leaf.pem + c.built.intermediate.pem).utf8))
        let lenient = try OsslTool.run(["verify", "--ca", directory.path("root.pem"), directory.path("chain.pem")])
        #expect(lenient.status == 0, "\(lenient.stdout)")
        let strict = try OsslTool.run([
            "verify", "--policy", "webpki", "--ca", directory.path("root.pem"), directory.path("chain.pem"),
        ])
        #expect(strict.status == 1)
        #expect(strict.stdout.contains("the leaf is a CA certificate (D1)"), "\(strict.stdout)")
        let bad = try OsslTool.run(["verify", "--policy", "browser", directory.path("chain.pem")])
        #expect(bad.status == 2)
    }
}
