import Foundation
internal import COpenSSL

/// The Web-PKI profile's checks over a chain OpenSSL has built and verified
/// (rules K1, A2–A5, B1–B4, C1–C2, D1–D5, E1–E2, and P4's count): the
/// first refusal, or nil when the chain passes.
///
/// `chain[0]` is the leaf, `chain.last` the trust anchor. Certificates are
/// checked leaf first; within one certificate C, K, A, B, then D. E1 and E2
/// come last: they need the whole chain.
struct WebPKIChecks {
    let strictAnchors: Bool
    let publicSuffixes: PublicSuffixList
    /// The host names the leaf must match (empty: no E1/E2).
    let hosts: [String]
    /// The X509_CHECK_FLAG_* the host is matched with.
    let hostFlags: UInt32
    /// The maximum depth asked for (P4), not counting self-issued
    /// intermediates; nil for no limit.
    let maximumDepth: Int?

    /// The first refusal in `chain`, or nil.
    func firstViolation(in chain: [X509]) -> X509VerificationError? {
        guard !chain.isEmpty else { return nil }
        for (depth, certificate) in chain.enumerated() {
            let facts = CertificateFacts(
                certificate, depth: depth, isAnchor: depth == chain.count - 1,
                issuer: depth + 1 < chain.count ? chain[depth + 1] : nil)
            if let refusal = check(facts) { return refusal }
        }
        if let refusal = checkDepth(chain) { return refusal }
        return checkHost(chain)
    }

    // MARK: One certificate

    private func check(_ c: CertificateFacts) -> X509VerificationError? {
        func refuse(_ rule: WebPKIRule, _ sentence: String) -> X509VerificationError {
            X509VerificationError.refusal(rule, depth: c.depth, certificate: c.certificate, "\(c.name) \(sentence)")
        }
        let exemptFromC = c.isAnchor && c.isSelfSigned
        // C1, C2
        if !exemptFromC {
            if c.certificate.version != 3 { return refuse(.c1, "is version \(c.certificate.version), not 3") }
            let serial = c.certificate.serialNumber
            if serial.isNegative || serial.magnitude.isEmpty {
                return refuse(.c2, "has serial number \(serial.hexString), not a positive number")
            }
            let octets = DER.integerContent(serial).count
            if octets > 20 { return refuse(.c2, "has a serial number of \(octets) octets, more than 20") }
        }
        // K1
        if let problem = keyProblem(c.certificate) { return refuse(.k1, problem) }
        // A2
        if let aki = c.ext(NID_authority_key_identifier) {
            if aki.isCritical { return refuse(.a2, "has a critical authority key identifier") }
            guard let keyIdentifier = c.authorityKeyIdentifier else {
                return refuse(.a2, "has an authority key identifier without a keyIdentifier")
            }
            if c.isSelfSigned {
                if keyIdentifier != c.subjectKeyIdentifier || !akidNamesItself(c.certificate, aki.value) {
                    return refuse(.a2, "is self-signed, but its authority key identifier does not name its own key")
                }
            }
        } else if !c.isSelfSigned {
            return refuse(.a2, "has no authority key identifier")
        }
        // A3
        if let constraints = c.ext(NID_policy_constraints), !constraints.isCritical {
            return refuse(.a3, "has a non-critical policyConstraints extension")
        }
        // A4
        if let access = c.ext(NID_info_access) {
            let decoded = X509Extension(
                oid: X509Extension.authorityInfoAccessOID, critical: access.isCritical, value: access.value)
            guard let entries = try? decoded.authorityInfoAccess() else {
                return refuse(.a4, "has an authorityInfoAccess extension that does not decode")
            }
            if entries.isEmpty { return refuse(.a4, "has an empty authorityInfoAccess extension") }
        }
        // A5
        if let constraints = c.ext(NID_name_constraints) {
            if !c.isCA { return refuse(.a5, "has name constraints but is not a CA certificate") }
            guard let parsed = NameConstraintsValue(constraints.value), opensslDecodesNameConstraints(c.certificate) else {
                return refuse(.a5, "has name constraints that do not decode")
            }
            if parsed.permitted == nil && parsed.excluded == nil {
                return refuse(.a5, "has name constraints with neither permitted nor excluded subtrees")
            }
            if parsed.permitted?.isEmpty == true || parsed.excluded?.isEmpty == true {
                return refuse(.a5, "has name constraints with an empty list of subtrees")
            }
            for name in parsed.dnsNames(permitted: true) + parsed.dnsNames(permitted: false) where !name.isEmpty {
                if name.first == UInt8(ascii: ".") {
                    return refuse(.a5, "has a DNS name constraint with a leading dot ('\(Self.text(name))')")
                }
                if let problem = Self.hostNameProblem(name, allowWildcard: false) {
                    return refuse(.a5, "has a DNS name constraint '\(Self.text(name))' that is not a host name: \(problem)")
                }
            }
        }
        if c.depth >= 1 {
            // B1
            guard let basic = c.ext(NID_basic_constraints) else {
                return refuse(.b1, "is a CA certificate without basicConstraints")
            }
            if !c.isCA { return refuse(.b1, "is used as a CA certificate, but its basicConstraints says cA FALSE") }
            if !basic.isCritical && (!c.isAnchor || strictAnchors) {
                return refuse(.b1, "is a CA certificate whose basicConstraints is not critical")
            }
            // B2
            if !c.isAnchor || strictAnchors {
                guard let ski = c.ext(NID_subject_key_identifier) else {
                    return refuse(.b2, "is a CA certificate without a subject key identifier")
                }
                if ski.isCritical { return refuse(.b2, "is a CA certificate whose subject key identifier is critical") }
            }
            // B3
            if X509_NAME_entry_count(X509_get_subject_name(c.certificate.raw)) <= 0 {
                return refuse(.b3, "is a CA certificate with an empty subject")
            }
            // B4
            if c.isAnchor && c.isSelfSigned && c.ext(NID_ext_key_usage) != nil {
                return refuse(.b4, "is a self-signed trust anchor with an extendedKeyUsage extension")
            }
        }
        if c.depth == 0 { return checkLeaf(c, refuse) }
        return nil
    }

    private func checkLeaf(
        _ c: CertificateFacts,
        _ refuse: (WebPKIRule, String) -> X509VerificationError
    ) -> X509VerificationError? {
        let raw = c.certificate.raw
        // D1
        if c.isCA { return refuse(.d1, "is a CA certificate") }
        if X509_get_extension_flags(raw) & UInt32(EXFLAG_KUSAGE) != 0,
            X509_get_key_usage(raw) & UInt32(KU_KEY_CERT_SIGN) != 0
        {
            return refuse(.d1, "is a CA certificate (its keyUsage includes keyCertSign)")
        }
        // D2
        if let eku = c.ext(NID_ext_key_usage) {
            if eku.isCritical { return refuse(.d2, "has a critical extendedKeyUsage") }
            if X509_get_extended_key_usage(raw) & UInt32(XKU_ANYEKU) != 0 {
                return refuse(.d2, "has anyExtendedKeyUsage in its extendedKeyUsage")
            }
        }
        // D3
        guard let sanExtension = c.ext(NID_subject_alt_name) else {
            return refuse(.d3, "has no subjectAltName")
        }
        guard let names = CertificateFacts.alternativeNames(sanExtension.value) else {
            return refuse(.d3, "has a subjectAltName that does not decode")
        }
        if names.count == 0 { return refuse(.d3, "has an empty subjectAltName") }
        let subjectIsEmpty = X509_NAME_entry_count(X509_get_subject_name(raw)) <= 0
        if subjectIsEmpty && !sanExtension.isCritical {
            return refuse(.d3, "has an empty subject and a non-critical subjectAltName")
        }
        if !subjectIsEmpty && sanExtension.isCritical {
            return refuse(.d3, "has a subject and a critical subjectAltName")
        }
        // D4
        for dns in names.dns {
            if let problem = Self.hostNameProblem(dns, allowWildcard: true) {
                return refuse(.d4, "has a subjectAltName DNS name '\(Self.text(dns))' that is not a host name: \(problem)")
            }
        }
        for address in names.ip where address.count != 4 && address.count != 16 {
            return refuse(.d4, "has a subjectAltName IP address of \(address.count) octets, not 4 or 16")
        }
        // D5
        let commonNames = c.commonNames
        if commonNames.count > 1 { return refuse(.d5, "has \(commonNames.count) common names in its subject, not one") }
        if let commonName = commonNames.first {
            guard let text = commonName else { return refuse(.d5, "has a common name that does not decode") }
            if let address = Self.parseAnyIPAddress(text) {
                let canonical = IPAddressText.format(address)
                if text != canonical {
                    return refuse(
                        .d5, "has the IP address '\(text)' as its common name, not in its canonical form '\(canonical)'")
                }
                if !names.ip.contains(address) {
                    return refuse(
                        .d5, "has the IP address \(text) as its common name, but not among its subjectAltName IP addresses")
                }
            } else {
                guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
                    return refuse(.d5, "has a common name that is not ASCII ('\(text)')")
                }
                let bytes = Array(text.utf8)
                let lowered = Self.lowercased(bytes)
                for dns in names.dns where dns != bytes && Self.lowercased(dns) == lowered {
                    return refuse(
                        .d5, "has the common name '\(text)', which differs from its subjectAltName '\(Self.text(dns))' in case")
                }
            }
        }
        return nil
    }

    // MARK: Chain-wide

    /// P4: the intermediates that are not self-issued are at most `maximumDepth`.
    private func checkDepth(_ chain: [X509]) -> X509VerificationError? {
        guard let maximumDepth, chain.count > 2 else { return nil }
        var counted = 0
        for depth in 1..<(chain.count - 1) where !Self.isSelfIssued(chain[depth]) {
            counted += 1
            if counted > maximumDepth {
                return .refusal(
                    .p4, depth: depth, certificate: chain[depth],
                    "the chain has more than \(maximumDepth) intermediate certificates that are not self-issued")
            }
        }
        return nil
    }

    /// E1 and E2, for the first expected host the leaf matches.
    private func checkHost(_ chain: [X509]) -> X509VerificationError? {
        guard let leaf = chain.first else { return nil }
        for host in hosts {
            var peer: UnsafeMutablePointer<CChar>?
            let matched = X509_check_host(leaf.raw, host, host.utf8.count, hostFlags, &peer)
            ErrorQueue.clear()
            guard matched == 1 else {
                if let peer { cossl_OPENSSL_free(peer) }
                continue
            }
            let matchedName = peer.map { String(cString: $0) } ?? host
            if let peer { cossl_OPENSSL_free(peer) }
            // E1
            if matchedName.hasPrefix("*.") {
                let covered = String(matchedName.dropFirst(2))
                if publicSuffixes.isPublicSuffix(covered) {
                    return .refusal(
                        .e1, depth: 0, certificate: leaf,
                        "the wildcard '\(matchedName)' that matched '\(host)' covers the public suffix '\(covered)'")
                }
            }
            // E2
            var hostBytes = Array(host.utf8)
            while hostBytes.last == UInt8(ascii: ".") { hostBytes.removeLast() }
            let name = Self.lowercased(hostBytes)
            for depth in 1..<max(chain.count, 1) {
                guard let ext = CertificateFacts.extensionData(chain[depth].raw, NID_name_constraints),
                    let constraints = NameConstraintsValue(ext.value)
                else { continue }
                let permitted = constraints.dnsNames(permitted: true)
                if constraints.permitted != nil, !permitted.isEmpty,
                    !permitted.contains(where: { Self.isWithin(name, Self.lowercased($0)) })
                {
                    return .refusal(
                        .e2, depth: depth, certificate: chain[depth],
                        "the host '\(host)' is outside the permitted DNS names of the CA certificate at depth \(depth)")
                }
                if let excluded = constraints.dnsNames(permitted: false).first(where: { Self.isWithin(name, Self.lowercased($0)) }
                ) {
                    return .refusal(
                        .e2, depth: depth, certificate: chain[depth],
                        "the host '\(host)' is within the DNS names '\(Self.text(excluded))' excluded by the CA certificate at depth \(depth)"
                    )
                }
            }
            return nil
        }
        return nil
    }

    // MARK: Helpers

    /// K1's curves, as OpenSSL names them (`OSSL_PKEY_PARAM_GROUP_NAME`), in bytes.
    private static let acceptedCurves: [[UInt8]] = ["prime256v1", "secp384r1", "secp521r1", "P-256", "P-384", "P-521"]
        .map { Array($0.utf8) }

    /// K1: nil for an acceptable key, else what is wrong with it.
    private func keyProblem(_ certificate: X509) -> String? {
        guard let key = X509_get0_pubkey(certificate.raw) else {
            ErrorQueue.clear()
            return "has a public key that cannot be decoded"
        }
        let accepted = "the Web PKI accepts RSA of at least 2048 bits (a multiple of 8) or EC on P-256, P-384 or P-521"
        let bits = Int(EVP_PKEY_get_bits(key))
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            if bits >= 2048 && bits % 8 == 0 { return nil }
            return "has an RSA-\(bits) key; \(accepted)"
        case EVP_PKEY_EC:
            // The curve's name into a buffer on the stack, compared as bytes:
            // text is made only for a refusal.
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 80) { buffer -> String? in
                var length = 0
                let named =
                    EVP_PKEY_get_utf8_string_param(
                        key, OSSL_PKEY_PARAM_GROUP_NAME, buffer.baseAddress,
                        buffer.count, &length) == 1
                ErrorQueue.clear()
                let name = UnsafeRawBufferPointer(start: buffer.baseAddress, count: named ? min(length, buffer.count) : 0)
                if named && Self.acceptedCurves.contains(where: { $0.elementsEqual(name) }) { return nil }
                let curve = named ? String(decoding: name, as: UTF8.self) : "explicit parameters"
                return "has an EC key on \(curve); \(accepted)"
            }
        default:
            let name = EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown"
            return "has a \(name) key; \(accepted)"
        }
    }

    /// X509_check_akid of a self-signed certificate against its own AKI.
    private func akidNamesItself(_ certificate: X509, _ aki: [UInt8]) -> Bool {
        aki.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard buffer.count > 0, let akid = d2i_AUTHORITY_KEYID(nil, &cursor, buffer.count) else {
                ErrorQueue.clear()
                return false
            }
            defer { AUTHORITY_KEYID_free(akid) }
            let result = X509_check_akid(certificate.raw, akid)
            ErrorQueue.clear()
            return result == X509_V_OK
        }
    }

    /// OpenSSL's own decoder accepts the certificate's nameConstraints.
    private func opensslDecodesNameConstraints(_ certificate: X509) -> Bool {
        var critical: Int32 = 0
        let decoded = X509_get_ext_d2i(certificate.raw, NID_name_constraints, &critical, nil)
        ErrorQueue.clear()
        guard let decoded else { return false }
        NAME_CONSTRAINTS_free(decoded.assumingMemoryBound(to: NAME_CONSTRAINTS.self))
        return true
    }

    /// True when the subject and issuer names are the same (RFC 5280 "self-issued").
    static func isSelfIssued(_ certificate: X509) -> Bool {
        X509_NAME_cmp(X509_get_subject_name(certificate.raw), X509_get_issuer_name(certificate.raw)) == 0
    }

    /// Why `name` is not an LDH host name, or nil when it is: ASCII letters,
    /// digits and hyphens in labels of 1–63 characters, at most 253 in all;
    /// with `allowWildcard`, "*" as the whole leftmost label of a name of
    /// two labels or more.
    static func hostNameProblem(_ name: [UInt8], allowWildcard: Bool) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.count > 253 { return "it is longer than 253 characters" }
        let labels = name.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for (index, label) in labels.enumerated() {
            if label.isEmpty { return "it has an empty label" }
            if label.count > 63 { return "a label is longer than 63 characters" }
            if label.elementsEqual([UInt8(ascii: "*")]) {
                if allowWildcard && index == 0 && labels.count >= 2 { continue }
                return "a wildcard is allowed only as the whole leftmost label"
            }
            if label.contains(UInt8(ascii: "*")) { return "a wildcard is allowed only as the whole leftmost label" }
            let ldh = label.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || byte == UInt8(ascii: "-")
            }
            if !ldh { return "it has a character other than a letter, digit or hyphen" }
        }
        return nil
    }

    /// RFC 5280 §4.2.1.10 for DNS names: `name` is `constraint` or below it;
    /// an empty constraint holds every name. Both already lowercased.
    static func isWithin(_ name: [UInt8], _ constraint: [UInt8]) -> Bool {
        if constraint.isEmpty { return true }
        if name == constraint { return true }
        return name.count > constraint.count && name.suffix(constraint.count).elementsEqual(constraint)
            && name[name.count - constraint.count - 1] == UInt8(ascii: ".")
    }

    /// An IPv4 address in any notation inet_aton(3) accepts ("127.1",
    /// "0x7f.0.0.1", "2130706433"), or an IPv6 address; nil otherwise.
    /// Only text made of the characters such notations use is tried: glibc's
    /// inet_aton also accepts an address followed by a space and anything
    /// ("10 Downing Street" is 0.0.0.10), which is no IP address.
    static func parseAnyIPAddress(_ text: String) -> [UInt8]? {
        let notation = text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "x")
                || byte == UInt8(ascii: "X")
        }
        guard notation, !text.isEmpty else { return nil }
        var v4 = in_addr()
        if inet_aton(text, &v4) != 0 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }
    }

    /// Bytes as printable text for a sentence (non-printable bytes as \xNN).
    static func text(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7f {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += String(format: "\\x%02X", byte)
            }
        }
        return out
    }
}

/// What the checks read from one certificate: mostly what OpenSSL cached
/// when it verified the chain (extension flags, key usages, key identifiers).
private struct CertificateFacts {
    let certificate: X509
    let depth: Int
    let isAnchor: Bool
    let isSelfSigned: Bool

    /// - Parameter issuer: the next certificate of the chain, whose key
    ///   OpenSSL verified this one's signature with; nil for the anchor.
    init(_ certificate: X509, depth: Int, isAnchor: Bool, issuer: X509?) {
        self.certificate = certificate
        self.depth = depth
        self.isAnchor = isAnchor
        // "Self-signed": the signature verifies with the certificate's own key.
        // Below the anchor OpenSSL verified the signature with the issuer's
        // key, so it can verify with the certificate's own key only when the
        // two keys are the same: the signature is checked again only then.
        if let issuer, let own = X509_get0_pubkey(certificate.raw), let issuerKey = X509_get0_pubkey(issuer.raw),
            Self.differentECPoints(certificate.raw, own, issuer.raw, issuerKey) || EVP_PKEY_eq(own, issuerKey) != 1
        {
            isSelfSigned = false
        } else {
            isSelfSigned = SelfSignedCache.isSelfSigned(certificate)
        }
        ErrorQueue.clear()
    }

    /// True when both keys are EC keys given as uncompressed points
    /// (0x04 ‖ X ‖ Y) whose encodings differ: then `EVP_PKEY_eq` cannot find
    /// them equal (on one curve an uncompressed point has one encoding; on
    /// two curves the groups already differ), and the comparison, which in
    /// OpenSSL 3.0 goes through the provider and allocates, is skipped. Any
    /// other form (compressed, hybrid, not EC) is left to `EVP_PKEY_eq`.
    private static func differentECPoints(
        _ certificate: OpaquePointer, _ key: OpaquePointer,
        _ issuer: OpaquePointer, _ issuerKey: OpaquePointer
    ) -> Bool {
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_EC, EVP_PKEY_get_base_id(issuerKey) == EVP_PKEY_EC,
            let own = X509_get0_pubkey_bitstr(certificate), let other = X509_get0_pubkey_bitstr(issuer),
            let ownBytes = ASN1_STRING_get0_data(own), let otherBytes = ASN1_STRING_get0_data(other)
        else { return false }
        let ownLength = Int(ASN1_STRING_length(own))
        let otherLength = Int(ASN1_STRING_length(other))
        guard ownLength > 0, otherLength > 0, ownBytes[0] == 0x04, otherBytes[0] == 0x04 else { return false }
        return ownLength != otherLength || memcmp(ownBytes, otherBytes, ownLength) != 0
    }

    /// "the leaf", "the trust anchor", "the CA certificate at depth 2".
    var name: String {
        if depth == 0 { return "the leaf" }
        return isAnchor ? "the trust anchor (depth \(depth))" : "the CA certificate at depth \(depth)"
    }

    /// The first extension with this NID.
    func ext(_ nid: Int32) -> ExtensionData? {
        Self.extensionData(certificate.raw, nid)
    }

    /// The first extension of `certificate` with this NID. Valid while the certificate is.
    static func extensionData(_ certificate: OpaquePointer, _ nid: Int32) -> ExtensionData? {
        let index = X509_get_ext_by_NID(certificate, nid, -1)
        guard index >= 0, let ext = X509_get_ext(certificate, index) else { return nil }
        return ExtensionData(isCritical: X509_EXTENSION_get_critical(ext) == 1, raw: ext)
    }

    /// An extension's critical flag, and its value bytes copied only when
    /// asked for (most rules look at the flag or the presence alone).
    struct ExtensionData {
        let isCritical: Bool
        /// The `X509_EXTENSION *`, owned by the certificate.
        let raw: OpaquePointer
        var value: [UInt8] { ASN1.bytes(X509_EXTENSION_get_data(raw)) }
    }

    /// basicConstraints present with cA TRUE.
    var isCA: Bool {
        let flags = X509_get_extension_flags(certificate.raw)
        return flags & UInt32(EXFLAG_BCONS) != 0 && flags & UInt32(EXFLAG_CA) != 0
    }

    var subjectKeyIdentifier: [UInt8]? {
        X509_get0_subject_key_id(certificate.raw).map { ASN1.bytes($0) }
    }

    /// The authority key identifier's keyIdentifier.
    var authorityKeyIdentifier: [UInt8]? {
        X509_get0_authority_key_id(certificate.raw).map { ASN1.bytes($0) }
    }

    /// The subject's CN values: text, or nil for one that does not convert to UTF-8.
    var commonNames: [String?] {
        guard let name = X509_get_subject_name(certificate.raw) else { return [] }
        var values: [String?] = []
        var index: Int32 = -1
        while true {
            index = X509_NAME_get_index_by_NID(name, NID_commonName, index)
            guard index >= 0 else { break }
            values.append(X509_NAME_get_entry(name, index).flatMap { ASN1.text(X509_NAME_ENTRY_get_data($0)) })
        }
        ErrorQueue.clear()
        return values
    }

    /// A subjectAltName's entries counted, and its DNS names and IP addresses as encoded; nil when it does not parse.
    static func alternativeNames(_ value: [UInt8]) -> (count: Int, dns: [[UInt8]], ip: [[UInt8]])? {
        guard let outer = DER.elements(value[...]), outer.count == 1, outer[0].tag == DER.sequenceTag,
            let names = DER.elements(outer[0].content)
        else { return nil }
        return (
            names.count, names.filter { $0.tag == 0x82 }.map { Array($0.content) },
            names.filter { $0.tag == 0x87 }.map { Array($0.content) }
        )
    }
}

/// A nameConstraints value, read with the DER reader: for each of the
/// permitted and excluded lists (nil when absent), the base names as
/// (tag, content) pairs.
struct NameConstraintsValue {
    var permitted: [(tag: UInt8, content: [UInt8])]?
    var excluded: [(tag: UInt8, content: [UInt8])]?

    init?(_ value: [UInt8]) {
        guard let outer = DER.elements(value[...]), outer.count == 1, outer[0].tag == DER.sequenceTag,
            let parts = DER.elements(outer[0].content)
        else { return nil }
        for part in parts {
            guard part.tag == 0xa0 || part.tag == 0xa1, let subtrees = DER.elements(part.content) else { return nil }
            var bases: [(tag: UInt8, content: [UInt8])] = []
            for subtree in subtrees {
                guard subtree.tag == DER.sequenceTag, let fields = DER.elements(subtree.content),
                    let base = fields.first
                else { return nil }
                bases.append((base.tag, Array(base.content)))
            }
            if part.tag == 0xa0 {
                guard permitted == nil else { return nil }
                permitted = bases
            } else {
                guard excluded == nil else { return nil }
                excluded = bases
            }
        }
    }

    /// The dNSName bases of one list.
    func dnsNames(permitted wantPermitted: Bool) -> [[UInt8]] {
        ((wantPermitted ? permitted : excluded) ?? []).filter { $0.tag == 0x82 }.map(\.content)
    }
}

/// Whether certificates verify with their own key, remembered per
/// certificate (trust anchors come back in every verification, and a
/// signature check costs as much as the rest of the policy). Keyed by the
/// certificate itself: its equality is `X509_cmp`, which compares the whole
/// encoding after the hash, so two certificates sharing a SHA-1 hash never
/// share an answer.
///
/// A second map keyed by the `X509 *` answers first: an anchor comes back as
/// the same object of its store every time, and hashing a certificate
/// (`X509.hash(into:)`, a SHA-1 digest) costs more than the rest of the
/// lookup. The entry holds the certificate, so its address cannot be given
/// to another one while the entry exists.
enum SelfSignedCache {
    private struct Entries {
        var byCertificate: [X509: Bool] = [:]
        var byAddress: [OpaquePointer: (certificate: X509, selfSigned: Bool)] = [:]
    }
    private static let known = Locked(Entries())
    private static let capacity = 4096

    static func isSelfSigned(_ certificate: X509) -> Bool {
        let address = certificate.raw
        let cached = known.withLock { entries -> Bool? in
            if let entry = entries.byAddress[address] { return entry.selfSigned }
            guard let answer = entries.byCertificate[certificate] else { return nil }
            if entries.byAddress.count >= capacity { entries.byAddress.removeAll() }
            entries.byAddress[address] = (certificate, answer)
            return answer
        }
        if let cached { return cached }
        guard let key = X509_get0_pubkey(address) else {
            ErrorQueue.clear()
            return false
        }
        let result = X509_verify(address, key) == 1
        ErrorQueue.clear()
        known.withLock { entries in
            if entries.byCertificate.count >= capacity { entries.byCertificate.removeAll() }
            if entries.byAddress.count >= capacity { entries.byAddress.removeAll() }
            entries.byCertificate[certificate] = result
            entries.byAddress[address] = (certificate, result)
        }
        return result
    }
}
