import Foundation
internal import COpenSSL

/// A distinguished name (OpenSSL's `X509_NAME`): a certificate's subject or
/// issuer, a CRL's issuer, a request's subject.
///
/// A copy: reading it never changes the certificate it came from. Names
/// compare and order the way OpenSSL does (`X509_NAME_cmp(3)`, on the
/// canonical encoding). Values are read by their ASN.1 length, so a NUL byte
/// inside one is kept, and a value that is not valid text for its string
/// type reads as nil rather than being guessed at.
public final class X509Name: @unchecked Sendable, Hashable, Comparable, CustomStringConvertible {  // immutable after init
    let handle: OwnedPointer<X509NameKind>
    var raw: OpaquePointer { handle.raw }

    /// The name's attributes, in encoded order.
    public let components: [Component]

    /// One attribute of a name (`CN=example.com`).
    public struct Component: Sendable, Hashable {
        /// The attribute type in dotted form ("2.5.4.3").
        public let oid: String
        /// OpenSSL's short name ("CN"), or nil for an attribute OpenSSL does not know.
        public let shortName: String?
        /// OpenSSL's long name ("commonName"), or nil for an unknown attribute.
        public let longName: String?
        /// The value as text, converted to UTF-8 from its ASN.1 string type;
        /// nil when the bytes are not valid for that type (see `rawValue`).
        public let value: String?
        /// The value's content bytes exactly as encoded.
        public let rawValue: [UInt8]
        /// The ASN.1 string type (`V_ASN1_UTF8STRING` = 12, `V_ASN1_PRINTABLESTRING` = 19, …).
        public let stringType: Int32
        /// Which RDN (set) the component belongs to: components sharing an
        /// index form one multi-valued RDN (`CN=a+UID=b`).
        public let rdnIndex: Int
        /// The value's whole DER encoding (tag, length, contents) — what
        /// RFC 4514 writes after `#` for a value that is not text.
        public let valueDER: [UInt8]

        /// True when the value is one of the ASN.1 string types (UTF8String,
        /// PrintableString, IA5String, T61String, BMPString, …); false for
        /// the other types a name may hold (a BIT STRING, a SEQUENCE).
        public var isText: Bool { Component.textTypes.contains(stringType) }

        /// The value written faithfully, for display (what `ossl x509
        /// --json` prints): text as text — for the one-byte string types,
        /// valid UTF-8 is read as such whatever the type claims, and each
        /// byte of an invalid sequence is shown as `\xNN`; a BMPString or
        /// UniversalString decoded (its bytes as `\xNN` when it does not
        /// decode) — and a value that is not text as `hex:` and its DER
        /// (`hex:0303000102` for a BIT STRING).
        public var displayValue: String {
            switch stringType {
            case V_ASN1_BMPSTRING, V_ASN1_UNIVERSALSTRING:
                return value ?? ASN1.utf8EscapingInvalid(rawValue)
            case _ where isText:
                return ASN1.utf8EscapingInvalid(rawValue)
            default:
                return "hex:" + Hex.encode(valueDER)
            }
        }

        /// The ASN.1 string types.
        static let textTypes: Set<Int32> = [
            V_ASN1_UTF8STRING, V_ASN1_NUMERICSTRING, V_ASN1_PRINTABLESTRING, V_ASN1_T61STRING,
            V_ASN1_VIDEOTEXSTRING, V_ASN1_IA5STRING, V_ASN1_GRAPHICSTRING, V_ASN1_VISIBLESTRING,
            V_ASN1_GENERALSTRING, V_ASN1_UNIVERSALSTRING, V_ASN1_BMPSTRING,
        ]

        /// The short name, or the dotted OID when OpenSSL has no name for the attribute.
        public var name: String { shortName ?? oid }
    }

    init(takingOwnership pointer: OpaquePointer) {
        handle = OwnedPointer(takingOwnership: pointer)
        components = X509Name.readComponents(pointer)
    }

    /// Copies a name someone else owns (`X509_NAME` is not reference-counted).
    convenience init(copying pointer: OpaquePointer) throws {
        let copy = try ErrorQueue.call("copy a name") { X509_NAME_dup(pointer) }
        self.init(takingOwnership: copy)
    }

    /// Builds a name from `(attribute, value)` pairs in order, each its own
    /// RDN. The attribute is a short name ("CN", "O", "C"), a long name
    /// ("commonName") or a dotted OID; values are UTF-8.
    ///
    /// - Throws: `OpenSSLError` for an unknown attribute or a value the
    ///   attribute cannot hold (a country code that is not two letters).
    /// - SeeAlso: X509_NAME_add_entry_by_txt(3)
    public convenience init(_ attributes: [(String, String)]) throws {
        let name = try ErrorQueue.call("make a name") { X509_NAME_new() }
        do {
            for (field, value) in attributes {
                let bytes = Array(value.utf8)
                try ErrorQueue.check("add '\(field)' to a name") {
                    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes, Int32(bytes.count), -1, 0)
                }
            }
        } catch {
            X509_NAME_free(name)
            throw error
        }
        self.init(takingOwnership: name)
    }

    /// Parses a name written as OpenSSL's command line takes it:
    /// `/C=US/O=Example/CN=www.example.com` (a `+` joins a multi-valued RDN).
    /// - Throws: `OpenSSLError` for a malformed string or an unknown attribute.
    public convenience init(slashSeparated text: String) throws {
        guard text.hasPrefix("/") else {
            throw OpenSSLError(operation: "parse name '\(text)'", detail: "expected /TYPE=value/…")
        }
        let name = try ErrorQueue.call("make a name") { X509_NAME_new() }
        do {
            var pending = ""
            var parts: [String] = []
            var escaped = false
            for character in text.dropFirst() {
                if escaped {
                    pending.append(character)
                    escaped = false
                    continue
                }
                if character == "\\" {
                    escaped = true
                    continue
                }
                if character == "/" {
                    parts.append(pending)
                    pending = ""
                    continue
                }
                pending.append(character)
            }
            parts.append(pending)
            for part in parts where !part.isEmpty {
                for (position, piece) in part.split(separator: "+", omittingEmptySubsequences: false).enumerated() {
                    guard let equals = piece.firstIndex(of: "=") else {
                        throw OpenSSLError(operation: "parse name '\(text)'", detail: "'\(piece)' has no '='")
                    }
                    let field = String(piece[..<equals])
                    let bytes = Array(piece[piece.index(after: equals)...].utf8)
                    try ErrorQueue.check("add '\(field)' to a name") {
                        X509_NAME_add_entry_by_txt(
                            name, field, MBSTRING_UTF8, bytes, Int32(bytes.count),
                            -1, position == 0 ? 0 : -1)
                    }
                }
            }
        } catch {
            X509_NAME_free(name)
            throw error
        }
        self.init(takingOwnership: name)
    }

    /// Reads a DER-encoded name.
    /// - Throws: `OpenSSLError` for malformed input or trailing bytes.
    /// - SeeAlso: d2i_X509_NAME(3)
    public convenience init(der: some ContiguousBytes) throws {
        let name = try MemoryBIO.fromDER(
            der, "read name (DER)",
            decode: { d2i_X509_NAME(nil, $0, $1) }, free: { X509_NAME_free($0) })
        self.init(takingOwnership: name)
    }

    private static func readComponents(_ name: OpaquePointer) -> [Component] {
        let count = X509_NAME_entry_count(name)
        var result: [Component] = []
        result.reserveCapacity(Int(max(count, 0)))
        for index in 0..<max(count, 0) {
            guard let entry = X509_NAME_get_entry(name, index) else { continue }
            let object = X509_NAME_ENTRY_get_object(entry)
            let data = X509_NAME_ENTRY_get_data(entry)
            let bytes = ASN1.bytes(data)
            let type = data.map { ASN1_STRING_type($0) } ?? 0
            result.append(
                Component(
                    oid: ASN1.oid(object),
                    shortName: ASN1.shortName(object),
                    longName: ASN1.longName(object),
                    value: ASN1.text(data),
                    rawValue: bytes,
                    stringType: type,
                    rdnIndex: Int(X509_NAME_ENTRY_set(entry)),
                    valueDER: valueEncoding(entry, type: type, bytes: bytes)
                ))
        }
        ErrorQueue.clear()
        return result
    }

    /// The ASN.1 string types whose DER is their universal tag (equal to the
    /// type), the length and the bytes `ASN1_STRING` holds.
    private static let plainStringTypes: Set<Int32> = [
        V_ASN1_UTF8STRING, V_ASN1_NUMERICSTRING, V_ASN1_PRINTABLESTRING, V_ASN1_T61STRING, V_ASN1_VIDEOTEXSTRING,
        V_ASN1_IA5STRING, V_ASN1_GRAPHICSTRING, V_ASN1_VISIBLESTRING, V_ASN1_GENERALSTRING,
        V_ASN1_UNIVERSALSTRING, V_ASN1_BMPSTRING,
    ]

    /// The DER of an entry's value. For the string types (nearly every real
    /// name) it is built from the value's type and bytes; otherwise the
    /// entry (a SEQUENCE of the type's OID and the value) is encoded and the
    /// OID skipped.
    private static func valueEncoding(_ entry: OpaquePointer, type: Int32, bytes: [UInt8]) -> [UInt8] {
        if plainStringTypes.contains(type) {
            return DER.tlv(UInt8(type), bytes)
        }
        guard let der = try? MemoryBIO.der("encode name entry", { i2d_X509_NAME_ENTRY(entry, $0) }),
            let entryElement = DER.elements(der[...])?.first,
            let parts = DER.elements(entryElement.content), parts.count == 2
        else { return [] }
        return Array(parts[1].encoded)
    }

    // MARK: Lookups

    /// Every value of an attribute, in order (empty when the name has none).
    /// `attribute` is a short name, long name or dotted OID.
    /// - Throws: `UnknownNameError` (kind `.attribute`) for a name OpenSSL
    ///   does not know, so that "unknown" and "absent" never look the same.
    /// - SeeAlso: OBJ_txt2obj(3)
    public func values(for attribute: String) throws(UnknownNameError) -> [String?] {
        guard let wanted = ASN1Object.knownOID(attribute) else {
            throw UnknownNameError(kind: .attribute, name: attribute)
        }
        return values(forOID: wanted)
    }

    /// The first value of an attribute, or nil when absent (or not valid text).
    /// - Throws: `UnknownNameError` for an attribute name OpenSSL does not know.
    public subscript(attribute: String) -> String? {
        get throws(UnknownNameError) { try values(for: attribute).first ?? nil }
    }

    private func values(forOID oid: String) -> [String?] {
        components.filter { $0.oid == oid }.map(\.value)
    }

    private func first(_ oid: String) -> String? { values(forOID: oid).first ?? nil }

    /// commonName (CN).
    public var commonName: String? { first("2.5.4.3") }
    /// countryName (C).
    public var country: String? { first("2.5.4.6") }
    /// stateOrProvinceName (ST).
    public var stateOrProvince: String? { first("2.5.4.8") }
    /// localityName (L).
    public var locality: String? { first("2.5.4.7") }
    /// organizationName (O).
    public var organization: String? { first("2.5.4.10") }
    /// organizationalUnitName (OU).
    public var organizationalUnit: String? { first("2.5.4.11") }
    /// emailAddress.
    public var emailAddress: String? { first("1.2.840.113549.1.9.1") }
    /// serialNumber (the attribute, not a certificate's serial).
    public var serialNumber: String? { first("2.5.4.5") }

    // MARK: Encodings

    /// The DER encoding.
    /// - SeeAlso: i2d_X509_NAME(3)
    public var der: [UInt8] {
        (try? MemoryBIO.der("encode name") { i2d_X509_NAME(raw, $0) }) ?? []
    }

    /// OpenSSL's hash of the name (`X509_NAME_hash_ex(3)`), the `<hash>` of a
    /// hashed certificate directory's `<hash>.0` file names.
    public var hash: UInt32 {
        var ok: Int32 = 0
        let value = X509_NAME_hash_ex(raw, nil, nil, &ok)
        ErrorQueue.clear()
        return UInt32(truncatingIfNeeded: value)
    }

    /// RFC 2253 form, most specific first: `CN=www.example.com,O=Example,C=US`.
    /// Non-ASCII characters are kept as UTF-8 rather than escaped as hex.
    /// - SeeAlso: X509_NAME_print_ex(3) with XN_FLAG_RFC2253
    public var rfc2253String: String {
        print(flags: cossl_XN_FLAG_RFC2253() & ~cossl_ASN1_STRFLGS_ESC_MSB() | cossl_ASN1_STRFLGS_UTF8_CONVERT())
    }

    /// OpenSSL's one-line form, in encoded order: `C = US, O = Example, CN = www.example.com`.
    /// Non-ASCII characters are kept as UTF-8.
    public var oneLineString: String {
        print(flags: cossl_XN_FLAG_ONELINE() & ~cossl_ASN1_STRFLGS_ESC_MSB() | cossl_ASN1_STRFLGS_UTF8_CONVERT())
    }

    /// The OpenSSL command-line form: `/C=US/O=Example/CN=www.example.com`.
    public var slashSeparatedString: String {
        components.map { "/\($0.name)=\($0.value ?? Hex.encode($0.rawValue))" }.joined()
    }

    private func print(flags: UInt) -> String {
        (try? MemoryBIO.collectString { bio in
            _ = X509_NAME_print_ex(bio, raw, 0, flags)
            ErrorQueue.clear()
        }) ?? ""
    }

    /// The one-line form.
    public var description: String { oneLineString }

    // MARK: Comparison

    /// Equal when `X509_NAME_cmp(3)` says so.
    public static func == (lhs: X509Name, rhs: X509Name) -> Bool {
        compare(lhs, rhs) == 0
    }

    /// Ordered as `X509_NAME_cmp(3)` orders.
    public static func < (lhs: X509Name, rhs: X509Name) -> Bool {
        compare(lhs, rhs) < 0
    }

    private static func compare(_ lhs: X509Name, _ rhs: X509Name) -> Int32 {
        let result = X509_NAME_cmp(lhs.raw, rhs.raw)
        ErrorQueue.clear()
        return result
    }

    /// Hashes the canonical DER, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }

    /// Calls `body` with the underlying `X509_NAME *`. Valid only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

/// Object identifiers: names and dotted forms, both ways.
enum ASN1Object {
    /// The dotted OID of a short name, long name or dotted OID; nil when
    /// OpenSSL knows no such name (or the text is no OID).
    static func knownOID(_ text: String) -> String? {
        guard let object = OBJ_txt2obj(text, 0) else {
            ErrorQueue.clear()
            return nil
        }
        defer { ASN1_OBJECT_free(object) }
        return ASN1.oid(object)
    }

    /// The dotted OID for a short name, long name or dotted OID; the input
    /// itself when OpenSSL knows no such object.
    static func canonicalOID(_ text: String) -> String {
        knownOID(text) ?? text
    }
}
