import Foundation
internal import COpenSSL

/// Reading ASN.1 values OpenSSL hands out, always by their encoded length:
/// never `String(cString:)` on certificate data, so a NUL byte inside a name
/// is kept and cannot truncate it.
enum ASN1 {
    /// The content bytes of an ASN1_STRING (any string type, octet string, bit string).
    static func bytes(_ string: UnsafePointer<ASN1_STRING>?) -> [UInt8] {
        guard let string, let data = ASN1_STRING_get0_data(string) else { return [] }
        let length = Int(ASN1_STRING_length(string))
        guard length > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: length))
    }

    /// The string as text: converted to UTF-8 by `ASN1_STRING_to_UTF8(3)`
    /// (which also decodes BMPString and UniversalString), then validated.
    /// Returns nil when the bytes are not valid for their declared type.
    static func text(_ string: UnsafePointer<ASN1_STRING>?) -> String? {
        guard let string else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&out, string)
        ErrorQueue.clear()
        guard length >= 0, let out else { return nil }
        defer { cossl_OPENSSL_free(out) }
        let buffer = UnsafeBufferPointer(start: out, count: Int(length))
        return String(validating: buffer, as: UTF8.self)
    }

    /// An IA5String (DNS name, email, URI) as text: ASCII by definition; any
    /// byte outside it makes the value invalid (nil) rather than reinterpreted.
    static func ia5Text(_ string: UnsafePointer<ASN1_STRING>?) -> String? {
        let raw = bytes(string)
        guard raw.allSatisfy({ $0 < 0x80 }) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }

    /// Bytes as text, faithfully: valid UTF-8 as it is (whatever the ASN.1
    /// type claims), and each byte of an invalid sequence as `\xNN`, so no
    /// byte is lost or guessed at.
    static func utf8EscapingInvalid(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                out.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .error(let length):
                for byte in bytes[offset..<(offset + length)] { out += "\\x" + Hex.encode([byte]) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }

    /// An object identifier in dotted form ("2.5.29.17").
    static func oid(_ object: OpaquePointer?) -> String {
        objectText(object, noName: true)
    }

    /// OpenSSL's long name for an object, or its dotted form when unknown
    /// (what `i2a_ASN1_OBJECT` prints).
    static func longNameOrOID(_ object: OpaquePointer?) -> String {
        objectText(object, noName: false)
    }

    /// OpenSSL's short name for an object ("CN", "subjectAltName"), if it has one.
    static func shortName(_ object: OpaquePointer?) -> String? {
        guard let object else { return nil }
        let nid = OBJ_obj2nid(object)
        guard nid != NID_undef, let sn = OBJ_nid2sn(nid) else { return nil }
        return String(cString: sn)
    }

    /// OpenSSL's long name for an object ("commonName"), if it has one.
    static func longName(_ object: OpaquePointer?) -> String? {
        guard let object else { return nil }
        let nid = OBJ_obj2nid(object)
        guard nid != NID_undef, let ln = OBJ_nid2ln(nid) else { return nil }
        return String(cString: ln)
    }

    private static func objectText(_ object: OpaquePointer?, noName: Bool) -> String {
        guard let object else { return "" }
        var buffer = [CChar](repeating: 0, count: 128)
        var length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, noName ? 1 : 0)
        if length >= Int32(buffer.count) {
            buffer = [CChar](repeating: 0, count: Int(length) + 1)
            length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, noName ? 1 : 0)
        }
        ErrorQueue.clear()
        guard length > 0 else { return "" }
        return String(decoding: buffer[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An ASN1_TIME (UTCTime or GeneralizedTime) as a `Date`.
    static func date(_ time: UnsafePointer<ASN1_TIME>?, _ operation: @autoclosure () -> String) throws -> Date {
        guard let time else { throw OpenSSLError(operation: operation(), detail: "time is absent") }
        var parts = tm()
        ErrorQueue.clear()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else {
            // OpenSSL rejects a malformed time without queueing a reason: say which rule it broke.
            let kind = ASN1_STRING_type(time) == V_ASN1_GENERALIZEDTIME ? "GeneralizedTime" : "UTCTime"
            let text = utf8EscapingInvalid(bytes(time))
            throw ErrorQueue.drain(operation(), detail: "'\(text)' is not a valid \(kind)")
        }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// An ASN1_INTEGER of any length.
    static func integer(_ value: UnsafePointer<ASN1_INTEGER>?) -> BigEndianInteger {
        guard let value else { return BigEndianInteger(magnitude: [], isNegative: false) }
        var magnitude = bytes(value)
        // OpenSSL stores the magnitude; a negative value is marked by the type.
        let negative = (ASN1_STRING_type(value) & V_ASN1_NEG) != 0
        while magnitude.first == 0 { magnitude.removeFirst() }
        return BigEndianInteger(magnitude: magnitude, isNegative: negative && !magnitude.isEmpty)
    }
}

/// An integer of any length as OpenSSL stores it: a big-endian magnitude and a sign.
/// Used for certificate and CRL serial numbers.
public struct BigEndianInteger: Sendable, Hashable, CustomStringConvertible {
    /// The absolute value, big-endian, without leading zero bytes (empty for zero).
    public let magnitude: [UInt8]
    /// True for a negative value (RFC 5280 forbids them, but they occur).
    public let isNegative: Bool

    /// Makes an integer from a big-endian magnitude and a sign; leading zero bytes are dropped.
    public init(magnitude: [UInt8], isNegative: Bool = false) {
        let trimmed = Array(magnitude.drop(while: { $0 == 0 }))
        self.magnitude = trimmed
        self.isNegative = isNegative && !trimmed.isEmpty
    }

    /// Makes an integer from a machine integer.
    public init(_ value: Int64) {
        let absolute = value.magnitude
        var bytes: [UInt8] = []
        var rest = absolute
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        self.init(magnitude: bytes, isNegative: value < 0)
    }

    /// Lowercase hexadecimal, no separators, no leading zeros: `"0"` for zero,
    /// a leading `-` when negative.
    public var hexString: String {
        guard !magnitude.isEmpty else { return "0" }
        var hex = Hex.encode(magnitude)
        while hex.hasPrefix("0") && hex.count > 1 { hex.removeFirst() }
        return (isNegative ? "-" : "") + hex
    }

    /// The same as `hexString`.
    public var description: String { hexString }

    /// The value when it fits in an `Int64`, else nil.
    public var int64Value: Int64? {
        guard magnitude.count <= 8 else { return nil }
        var value: UInt64 = 0
        for byte in magnitude { value = value << 8 | UInt64(byte) }
        if isNegative {
            guard value <= UInt64(Int64.max) + 1 else { return nil }
            return value == UInt64(Int64.max) + 1 ? Int64.min : -Int64(value)
        }
        guard value <= UInt64(Int64.max) else { return nil }
        return Int64(value)
    }
}

/// Hexadecimal text, written once.
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex, no separators.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Uppercase hex pairs joined by `separator` ("AB:CD:…"), as fingerprints are usually shown.
    static func fingerprint(_ bytes: some Sequence<UInt8>, separator: String = ":") -> String {
        bytes.map { byte in
            let text = encode([byte]).uppercased()
            return text
        }.joined(separator: separator)
    }

    /// Parses hex text (case-insensitive; `:` and spaces ignored). Nil on any other character or an odd count.
    static func decode(_ text: String) -> [UInt8]? {
        var nibbles: [UInt8] = []
        for c in text.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibbles.append(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibbles.append(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibbles.append(c - UInt8(ascii: "A") + 10)
            case UInt8(ascii: ":"), UInt8(ascii: " "): continue
            default: return nil
            }
        }
        guard nibbles.count % 2 == 0 else { return nil }
        return stride(from: 0, to: nibbles.count, by: 2).map { nibbles[$0] << 4 | nibbles[$0 + 1] }
    }
}
