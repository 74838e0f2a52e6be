import Foundation
internal import COpenSSL

/// One entry of a subjectAltName, issuerAltName, CRL distribution point or
/// access location (RFC 5280 `GeneralName`).
///
/// Text values (DNS, email, URI) are IA5 strings: a NUL byte inside one is
/// kept as `\0` in the string, so `"good.com\0.evil.com"` never reads as
/// `"good.com"`; bytes outside ASCII that form valid UTF-8 are read as the
/// text they spell (IA5 has no such characters, but that is what such a
/// certificate's issuer meant), and each byte of an invalid sequence is
/// shown as `\xNN` instead of being reinterpreted.
public enum GeneralName: Sendable, Hashable, CustomStringConvertible {
    /// dNSName.
    case dnsName(String)
    /// iPAddress: 4 or 16 octets in a SAN; 8 or 32 (address and mask) in
    /// name constraints, which `valueString` writes as CIDR (`192.0.2.0/24`).
    case ipAddress([UInt8])
    /// rfc822Name.
    case email(String)
    /// uniformResourceIdentifier.
    case uri(String)
    /// directoryName.
    case directoryName(X509Name)
    /// registeredID, as a dotted OID.
    case registeredID(String)
    /// otherName: the type OID, and the DER encoding of the value.
    case otherName(typeID: String, value: [UInt8])
    /// x400Address, as the DER encoding of the whole GeneralName.
    case x400Address(der: [UInt8])
    /// ediPartyName, as the DER encoding of the whole GeneralName.
    case ediPartyName(der: [UInt8])

    /// An IP address general name from text ("192.0.2.1", "2001:db8::1").
    /// - Throws: `OpenSSLError` when the text is not an IPv4 or IPv6 address.
    public static func ipAddress(_ text: String) throws -> GeneralName {
        guard let bytes = IPAddressText.parse(text) else {
            throw OpenSSLError(operation: "parse IP address", detail: "'\(text)' is not an IPv4 or IPv6 address")
        }
        return .ipAddress(bytes)
    }

    /// The kind as OpenSSL's configuration syntax and `ossl --json` name it:
    /// "DNS", "IP", "email", "URI", "dirName", "registeredID", "otherName", "X400Name", "EdiPartyName".
    public var typeName: String {
        switch self {
        case .dnsName: return "DNS"
        case .ipAddress: return "IP"
        case .email: return "email"
        case .uri: return "URI"
        case .directoryName: return "dirName"
        case .registeredID: return "registeredID"
        case .otherName: return "otherName"
        case .x400Address: return "X400Name"
        case .ediPartyName: return "EdiPartyName"
        }
    }

    /// The value as text: the name itself; an IP address in dotted or RFC 5952
    /// form, an address and mask (8 or 32 octets) in CIDR form
    /// (`192.0.2.0/24`, `2001:db8::/32`; `address/mask` when the mask is not
    /// contiguous), other lengths in hex; a directory name in RFC 2253 form;
    /// an otherName as `OID;hex`.
    public var valueString: String {
        switch self {
        case .dnsName(let text), .email(let text), .uri(let text), .registeredID(let text):
            return text
        case .ipAddress(let bytes):
            return IPAddressText.format(bytes)
        case .directoryName(let name):
            return name.rfc2253String
        case .otherName(let oid, let value):
            return oid + ";" + Hex.encode(value)
        case .x400Address(let der), .ediPartyName(let der):
            return Hex.encode(der)
        }
    }

    /// `TYPE:value`, as `openssl x509 -text` lists alternative names.
    public var description: String { "\(typeName):\(valueString)" }

    /// Reads one GENERAL_NAME.
    init(_ name: UnsafePointer<GENERAL_NAME>) {
        let value = name.pointee.d
        switch name.pointee.type {
        case GEN_DNS: self = .dnsName(IA5.text(value.dNSName))
        case GEN_EMAIL: self = .email(IA5.text(value.rfc822Name))
        case GEN_URI: self = .uri(IA5.text(value.uniformResourceIdentifier))
        case GEN_IPADD: self = .ipAddress(ASN1.bytes(value.iPAddress))
        case GEN_RID: self = .registeredID(ASN1.oid(value.registeredID))
        case GEN_DIRNAME:
            if let dirName = value.directoryName, let copy = try? X509Name(copying: dirName) {
                self = .directoryName(copy)
            } else {
                self = .x400Address(der: GeneralName.der(name))
            }
        case GEN_OTHERNAME:
            let other = value.otherName
            let typeID = ASN1.oid(other?.pointee.type_id)
            let der = (try? MemoryBIO.der("encode otherName") { i2d_ASN1_TYPE(other?.pointee.value, $0) }) ?? []
            self = .otherName(typeID: typeID, value: der)
        case GEN_X400: self = .x400Address(der: GeneralName.der(name))
        default: self = .ediPartyName(der: GeneralName.der(name))
        }
    }

    private static func der(_ name: UnsafePointer<GENERAL_NAME>) -> [UInt8] {
        (try? MemoryBIO.der("encode GeneralName") { i2d_GENERAL_NAME(UnsafeMutablePointer(mutating: name), $0) }) ?? []
    }

    /// Reads every entry of a GENERAL_NAMES stack, in order.
    static func list(_ names: OpaquePointer?) -> [GeneralName] {
        guard let names else { return [] }
        let count = cossl_sk_GENERAL_NAME_num(names)
        return (0..<max(count, 0)).compactMap { index in
            cossl_sk_GENERAL_NAME_value(names, index).map { GeneralName(UnsafePointer($0)) }
        }
    }
}

/// IA5String values, NULs kept, valid UTF-8 read as text, the bytes of
/// invalid sequences escaped (see `GeneralName`).
enum IA5 {
    static func text(_ string: UnsafePointer<ASN1_STRING>?) -> String {
        ASN1.utf8EscapingInvalid(ASN1.bytes(string))
    }
}

/// IP address text, both ways (inet_pton / inet_ntop; RFC 5952 for IPv6).
enum IPAddressText {
    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func format(_ bytes: [UInt8]) -> String {
        switch bytes.count {
        case 4, 16:
            var buffer = [CChar](repeating: 0, count: 64)
            let family = bytes.count == 4 ? AF_INET : AF_INET6
            let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
            guard ok != nil else { return Hex.encode(bytes) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case 8, 32:
            // Address and mask, as name constraints carry them: CIDR when
            // the mask is a run of ones then zeros.
            let half = bytes.count / 2
            let address = format(Array(bytes[..<half]))
            let mask = Array(bytes[half...])
            if let prefix = prefixLength(mask) { return address + "/" + String(prefix) }
            return address + "/" + format(mask)
        default:
            return Hex.encode(bytes)
        }
    }

    /// The number of leading one bits of a contiguous mask, or nil when a
    /// one follows a zero.
    static func prefixLength(_ mask: [UInt8]) -> Int? {
        var ones = 0
        var seenZero = false
        for byte in mask {
            for bit in (0..<8).reversed() {
                if byte & (1 << bit) != 0 {
                    if seenZero { return nil }
                    ones += 1
                } else {
                    seenZero = true
                }
            }
        }
        return ones
    }
}
