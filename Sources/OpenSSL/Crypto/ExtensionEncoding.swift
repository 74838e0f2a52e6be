import Foundation
internal import COpenSSL

// Making extensions from typed values: the counterpart of the typed getters
// in X509Extension.swift. Each factory DER-encodes its value in Swift (see
// `DER`) and then has OpenSSL parse the result, so what comes out is always
// something OpenSSL itself reads back.

extension X509Extension {
    /// A subjectAltName extension listing `names` in order.
    ///
    /// Text names are written byte for byte: a NUL inside a DNS name is kept
    /// (and read back as such), it is not a terminator.
    /// - Parameters:
    ///   - names: The names, in the order they are written.
    ///   - critical: RFC 5280 wants it critical only when the subject name is empty.
    /// - Throws: `OpenSSLError` for an empty list, non-ASCII text in a DNS,
    ///   email or URI name (IA5String), an unknown OID, or a value OpenSSL cannot parse.
    /// - SeeAlso: d2i_GENERAL_NAMES(3)
    public static func subjectAlternativeName(_ names: [GeneralName], critical: Bool = false) throws -> X509Extension {
        try alternativeNames(subjectAlternativeNameOID, names, critical: critical, what: "subjectAltName")
    }

    /// An issuerAltName extension listing `names` in order.
    /// - Throws: as `subjectAlternativeName(_:critical:)`.
    /// - SeeAlso: d2i_GENERAL_NAMES(3)
    public static func issuerAlternativeName(_ names: [GeneralName], critical: Bool = false) throws -> X509Extension {
        try alternativeNames(issuerAlternativeNameOID, names, critical: critical, what: "issuerAltName")
    }

    private static func alternativeNames(
        _ oid: String, _ names: [GeneralName], critical: Bool,
        what: String
    ) throws -> X509Extension {
        guard !names.isEmpty else {
            throw OpenSSLError(operation: "encode \(what)", detail: "at least one name is required")
        }
        let value = DER.sequence(try names.map { try $0.der() })
        return try validated(X509Extension(oid: oid, critical: critical, value: value), what)
    }

    /// A basicConstraints extension.
    /// - Parameters:
    ///   - constraints: Whether the subject is a CA, and its path length.
    ///   - critical: RFC 5280 wants it critical in CA certificates.
    /// - Throws: `OpenSSLError` when a path length is given for a non-CA or is negative.
    /// - SeeAlso: d2i_BASIC_CONSTRAINTS(3)
    public static func basicConstraints(_ constraints: BasicConstraints, critical: Bool = true) throws -> X509Extension {
        var elements: [[UInt8]] = []
        if constraints.isCA { elements.append(DER.trueValue) }
        if let pathLength = constraints.pathLength {
            guard constraints.isCA else {
                throw OpenSSLError(operation: "encode basicConstraints", detail: "a path length is only allowed with CA:TRUE")
            }
            guard pathLength >= 0 else {
                throw OpenSSLError(operation: "encode basicConstraints", detail: "path length \(pathLength) is negative")
            }
            elements.append(DER.integer(BigEndianInteger(Int64(pathLength))))
        }
        return try validated(
            X509Extension(
                oid: basicConstraintsOID, critical: critical,
                value: DER.sequence(elements)), "basicConstraints")
    }

    /// A keyUsage extension with the given bits.
    /// - Parameters:
    ///   - usage: The bits to set; at least one.
    ///   - critical: RFC 5280 recommends critical.
    /// - Throws: `OpenSSLError` for an empty set (RFC 5280 requires at least one bit).
    /// - SeeAlso: d2i_ASN1_BIT_STRING(3)
    public static func keyUsage(_ usage: KeyUsage, critical: Bool = true) throws -> X509Extension {
        let bits = (0..<9).filter { usage.rawValue & (1 << UInt16($0)) != 0 }
        guard !bits.isEmpty else {
            throw OpenSSLError(operation: "encode keyUsage", detail: "at least one usage bit is required")
        }
        return try validated(X509Extension(oid: keyUsageOID, critical: critical, value: DER.namedBits(bits)), "keyUsage")
    }

    /// An extendedKeyUsage extension listing `purposes` in order.
    /// - Throws: `OpenSSLError` for an empty list or an unknown purpose OID.
    /// - SeeAlso: d2i_EXTENDED_KEY_USAGE(3)
    public static func extendedKeyUsage(_ purposes: [ExtendedKeyUsage], critical: Bool = false) throws -> X509Extension {
        guard !purposes.isEmpty else {
            throw OpenSSLError(operation: "encode extendedKeyUsage", detail: "at least one purpose is required")
        }
        let value = DER.sequence(try purposes.map { try DER.oid($0.oid) })
        return try validated(X509Extension(oid: extendedKeyUsageOID, critical: critical, value: value), "extendedKeyUsage")
    }

    /// A subjectKeyIdentifier extension holding `identifier` (never critical).
    /// - Throws: `OpenSSLError` for an empty identifier.
    /// - SeeAlso: d2i_ASN1_OCTET_STRING(3)
    public static func subjectKeyIdentifier(_ identifier: [UInt8]) throws -> X509Extension {
        guard !identifier.isEmpty else {
            throw OpenSSLError(operation: "encode subjectKeyIdentifier", detail: "the identifier is empty")
        }
        return X509Extension(
            oid: subjectKeyIdentifierOID, critical: false,
            value: DER.tlv(DER.octetStringTag, identifier))
    }

    /// The key identifier of `key` by RFC 5280 §4.2.1.2 method 1: the SHA-1
    /// hash of the subjectPublicKey BIT STRING (without tag, length and
    /// unused-bits octet). This is what OpenSSL's `subjectKeyIdentifier = hash` writes.
    /// - Throws: `OpenSSLError` when the key cannot be encoded.
    /// - SeeAlso: X509_pubkey_digest(3), i2d_PUBKEY(3)
    public static func keyIdentifier(of key: PKey) throws -> [UInt8] {
        let spki = try key.publicKeyDER()
        guard let outer = DER.elements(spki[...]), outer.count == 1, outer[0].tag == DER.sequenceTag,
            let parts = DER.elements(outer[0].content), parts.count == 2, parts[1].tag == DER.bitStringTag,
            let unused = parts[1].content.first, unused == 0
        else {
            throw OpenSSLError(operation: "compute key identifier", detail: "unexpected SubjectPublicKeyInfo encoding")
        }
        return try MessageDigest.sha1.hash(Array(parts[1].content.dropFirst()))
    }

    /// An authorityKeyIdentifier extension (never critical).
    /// - Throws: `OpenSSLError` when it would be empty, or holds an issuer
    ///   without a serial number (or the reverse; RFC 5280 wants both or neither).
    /// - SeeAlso: d2i_AUTHORITY_KEYID(3)
    public static func authorityKeyIdentifier(_ value: AuthorityKeyIdentifier) throws -> X509Extension {
        var elements: [[UInt8]] = []
        if let keyIdentifier = value.keyIdentifier {
            elements.append(DER.tlv(DER.contextTag(0, constructed: false), keyIdentifier))
        }
        guard (value.issuer == nil) == (value.serialNumber == nil) else {
            throw OpenSSLError(
                operation: "encode authorityKeyIdentifier",
                detail: "the issuer name and serial number go together")
        }
        if let issuer = value.issuer, let serial = value.serialNumber {
            elements.append(DER.tlv(DER.contextTag(1, constructed: true), try issuer.flatMap { try $0.der() }))
            elements.append(DER.tlv(DER.contextTag(2, constructed: false), DER.integerContent(serial)))
        }
        guard !elements.isEmpty else {
            throw OpenSSLError(operation: "encode authorityKeyIdentifier", detail: "nothing to identify the authority by")
        }
        return try validated(
            X509Extension(
                oid: authorityKeyIdentifierOID, critical: false,
                value: DER.sequence(elements)), "authorityKeyIdentifier")
    }

    /// A nameConstraints extension (for CA certificates).
    ///
    /// Each subtree is a `GeneralName`; an IP subtree is an address and a
    /// mask (8 or 16+16 bytes, see `GeneralName.ipNetwork(_:)`).
    /// - Parameters:
    ///   - permitted: The subtrees names below this CA must fall in (per name type).
    ///   - excluded: The subtrees they must not fall in; these win over `permitted`.
    ///   - critical: RFC 5280 requires critical.
    /// - Throws: `OpenSSLError` when both lists are empty, or a name cannot be encoded.
    /// - SeeAlso: NAME_CONSTRAINTS_check(3), which enforces it
    public static func nameConstraints(
        permitted: [GeneralName], excluded: [GeneralName] = [],
        critical: Bool = true
    ) throws -> X509Extension {
        guard !(permitted.isEmpty && excluded.isEmpty) else {
            throw OpenSSLError(operation: "encode nameConstraints", detail: "no permitted or excluded subtree")
        }
        func subtrees(_ number: UInt8, _ names: [GeneralName]) throws -> [UInt8] {
            DER.tlv(DER.contextTag(number, constructed: true), try names.flatMap { DER.sequence([try $0.der()]) })
        }
        var elements: [[UInt8]] = []
        if !permitted.isEmpty { elements.append(try subtrees(0, permitted)) }
        if !excluded.isEmpty { elements.append(try subtrees(1, excluded)) }
        return try validated(
            X509Extension(
                oid: nameConstraintsOID, critical: critical,
                value: DER.sequence(elements)), "nameConstraints")
    }

    /// A cRLDistributionPoints extension.
    /// - Throws: `OpenSSLError` for an empty list, a point with both a full
    ///   and a relative name, a relative name of more than one RDN, or a name that cannot be encoded.
    /// - SeeAlso: d2i_CRL_DIST_POINTS(3)
    public static func crlDistributionPoints(_ points: [CRLDistributionPoint], critical: Bool = false) throws -> X509Extension {
        let operation = "encode cRLDistributionPoints"
        guard !points.isEmpty else { throw OpenSSLError(operation: operation, detail: "no distribution point") }
        let encoded = try points.map { point -> [UInt8] in
            var elements: [[UInt8]] = []
            if !point.fullName.isEmpty, point.relativeName != nil {
                throw OpenSSLError(operation: operation, detail: "a point has either a full name or a relative name")
            }
            if !point.fullName.isEmpty {
                let fullName = DER.tlv(DER.contextTag(0, constructed: true), try point.fullName.flatMap { try $0.der() })
                elements.append(DER.tlv(DER.contextTag(0, constructed: true), fullName))
            } else if let relative = point.relativeName {
                guard
                    let rdns = DER.elements(try relative.encoded()[...]).flatMap({ $0.first }).flatMap({
                        DER.elements($0.content)
                    }),
                    rdns.count == 1
                else {
                    throw OpenSSLError(operation: operation, detail: "a relative name must be exactly one RDN")
                }
                let name = DER.tlv(DER.contextTag(1, constructed: true), Array(rdns[0].content))
                elements.append(DER.tlv(DER.contextTag(0, constructed: true), name))
            }
            if let reasons = point.reasonBits {
                var bits = DER.namedBits(reasons)
                bits[0] = DER.contextTag(1, constructed: false)
                elements.append(bits)
            }
            if let issuer = point.crlIssuer {
                elements.append(DER.tlv(DER.contextTag(2, constructed: true), try issuer.flatMap { try $0.der() }))
            }
            return DER.sequence(elements)
        }
        return try validated(
            X509Extension(
                oid: crlDistributionPointsOID, critical: critical,
                value: DER.sequence(encoded)), "cRLDistributionPoints")
    }

    /// An authorityInfoAccess extension (OCSP responders, CA issuer URLs), never critical.
    /// - Throws: `OpenSSLError` for an empty list, an unknown method OID or a location that cannot be encoded.
    /// - SeeAlso: d2i_AUTHORITY_INFO_ACCESS(3)
    public static func authorityInfoAccess(_ entries: [AccessDescription]) throws -> X509Extension {
        guard !entries.isEmpty else {
            throw OpenSSLError(operation: "encode authorityInfoAccess", detail: "no access description")
        }
        let value = DER.sequence(try entries.map { DER.sequence([try DER.oid($0.method), try $0.location.der()]) })
        return try validated(
            X509Extension(oid: authorityInfoAccessOID, critical: false, value: value),
            "authorityInfoAccess")
    }

    /// The cRLNumber extension of a CRL (OID 2.5.29.20), never critical.
    /// - Throws: `OpenSSLError` for a negative number.
    /// - SeeAlso: X509_CRL_add1_ext_i2d(3) with NID_crl_number
    public static func crlNumber(_ number: BigEndianInteger) throws -> X509Extension {
        guard !number.isNegative else {
            throw OpenSSLError(operation: "encode cRLNumber", detail: "a CRL number cannot be negative")
        }
        return X509Extension(oid: crlNumberOID, critical: false, value: DER.integer(number))
    }

    /// The cRLNumber extension's OID.
    public static let crlNumberOID = "2.5.29.20"
    /// The CRL entry reasonCode extension's OID.
    public static let reasonCodeOID = "2.5.29.21"

    /// Has OpenSSL decode the value with its own decoder for the OID, so a
    /// value it cannot read is refused here rather than written into a
    /// certificate. (Decoding, not printing: OpenSSL refuses to print a name
    /// with an embedded NUL, which is still a valid encoding.)
    /// - SeeAlso: X509V3_EXT_get_nid(3), ASN1_item_d2i(3)
    static func validated(_ candidate: X509Extension, _ what: String) throws -> X509Extension {
        let operation = "encode \(what): OpenSSL cannot parse the value"
        let nid = OBJ_txt2nid(candidate.oid)
        guard nid != NID_undef, let method = X509V3_EXT_get_nid(nid),
            let itemFunction = method.pointee.it, let item = itemFunction()
        else {
            ErrorQueue.clear()
            throw OpenSSLError(operation: operation, detail: "OpenSSL has no decoder for \(candidate.oid)")
        }
        try candidate.value.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                throw OpenSSLError(operation: operation, detail: "empty value")
            }
            var cursor: UnsafePointer<UInt8>? = base
            let decoded = try ErrorQueue.call(operation) { ASN1_item_d2i(nil, &cursor, buffer.count, item) }
            ASN1_item_free(decoded, item)
            guard cursor == base + buffer.count else {
                throw OpenSSLError(operation: operation, detail: "trailing bytes after the value")
            }
        }
        return candidate
    }
}

extension GeneralName {
    /// An IP subtree for name constraints from CIDR text ("10.0.0.0/8",
    /// "2001:db8::/32"): the address followed by the mask.
    /// - Throws: `OpenSSLError` when the text is not an address with a prefix length in range.
    /// - SeeAlso: a2i_IPADDRESS_NC(3), OpenSSL's parser for the same form
    public static func ipNetwork(_ cidr: String) throws -> GeneralName {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddressText.parse(String(parts[0])),
            let prefix = Int(parts[1]), prefix >= 0, prefix <= address.count * 8
        else {
            throw OpenSSLError(operation: "parse IP network", detail: "'\(cidr)' is not ADDRESS/PREFIX")
        }
        let mask = (0..<address.count).map { index -> UInt8 in
            let bits = min(max(prefix - index * 8, 0), 8)
            return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
        return .ipAddress(address + mask)
    }

    /// The DER encoding of this name (RFC 5280 `GeneralName`, context-tagged).
    /// - Throws: `OpenSSLError` for non-ASCII text in an IA5 name, an unknown OID,
    ///   or a malformed pre-encoded value (x400Address, ediPartyName, otherName value).
    func der() throws -> [UInt8] {
        switch self {
        case .otherName(let typeID, let value):
            guard let elements = DER.elements(value[...]), elements.count == 1 else {
                throw OpenSSLError(operation: "encode otherName", detail: "the value is not one DER element")
            }
            let content = try DER.oid(typeID) + DER.tlv(DER.contextTag(0, constructed: true), value)
            return DER.tlv(DER.contextTag(0, constructed: true), content)
        case .email(let text):
            return DER.tlv(DER.contextTag(1, constructed: false), try DER.ia5(text, "email name"))
        case .dnsName(let text):
            return DER.tlv(DER.contextTag(2, constructed: false), try DER.ia5(text, "DNS name"))
        case .x400Address(let der), .ediPartyName(let der):
            guard let elements = DER.elements(der[...]), elements.count == 1 else {
                throw OpenSSLError(operation: "encode \(typeName)", detail: "the value is not one DER element")
            }
            return der
        case .directoryName(let name):
            return DER.tlv(DER.contextTag(4, constructed: true), try name.encoded())
        case .uri(let text):
            return DER.tlv(DER.contextTag(6, constructed: false), try DER.ia5(text, "URI"))
        case .ipAddress(let bytes):
            guard [4, 8, 16, 32].contains(bytes.count) else {
                throw OpenSSLError(
                    operation: "encode IP address",
                    detail: "\(bytes.count) bytes is not an IPv4 or IPv6 address (or address and mask)")
            }
            return DER.tlv(DER.contextTag(7, constructed: false), bytes)
        case .registeredID(let oid):
            let encoded = try DER.oid(oid)
            guard let element = DER.elements(encoded[...])?.first else {
                throw OpenSSLError(operation: "encode registeredID", detail: "bad OID encoding")
            }
            return DER.tlv(DER.contextTag(8, constructed: false), Array(element.content))
        }
    }
}

extension X509Name {
    /// The DER encoding, throwing rather than returning empty on failure.
    func encoded() throws -> [UInt8] {
        try MemoryBIO.der("encode name") { i2d_X509_NAME(raw, $0) }
    }
}
