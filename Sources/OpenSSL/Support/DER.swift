import Foundation
internal import COpenSSL

/// A small DER writer (and just enough of a reader) for the extension values
/// the builders make.
///
/// Typed extensions (subjectAltName, nameConstraints, …) are encoded here in
/// Swift rather than through OpenSSL's `GENERAL_NAME`/`…_new` structures: the
/// values are byte arrays, so nothing is allocated in C, nothing can leak on
/// an error path, and a NUL byte inside a name is just another byte. Every
/// value built this way is then decoded by OpenSSL's own `d2i_*` before it is
/// used (see `X509Extension` factories), so a mistake here is an error, never
/// a malformed certificate.
enum DER {
    // Universal tags.
    static let boolean: UInt8 = 0x01
    static let integerTag: UInt8 = 0x02
    static let bitStringTag: UInt8 = 0x03
    static let octetStringTag: UInt8 = 0x04
    static let oidTag: UInt8 = 0x06
    static let enumeratedTag: UInt8 = 0x0a
    static let sequenceTag: UInt8 = 0x30
    static let setTag: UInt8 = 0x31

    /// A context-specific tag: `[number]`, constructed or primitive.
    static func contextTag(_ number: UInt8, constructed: Bool) -> UInt8 {
        0x80 | (constructed ? 0x20 : 0) | (number & 0x1f)
    }

    /// The DER length octets for `count`.
    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    /// One tag-length-value.
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        [tag] + length(content.count) + content
    }

    /// A SEQUENCE of already-encoded elements.
    static func sequence(_ elements: [[UInt8]]) -> [UInt8] {
        tlv(sequenceTag, elements.flatMap { $0 })
    }

    /// BOOLEAN TRUE (DER leaves out FALSE defaults; callers omit those).
    static let trueValue: [UInt8] = [boolean, 0x01, 0xff]

    /// The content octets of an INTEGER (two's complement, minimal).
    static func integerContent(_ value: BigEndianInteger) -> [UInt8] {
        if value.magnitude.isEmpty { return [0] }
        if !value.isNegative {
            return (value.magnitude[0] & 0x80) != 0 ? [0] + value.magnitude : value.magnitude
        }
        // Two's complement of the magnitude, then drop redundant leading 0xff.
        var bytes = [0] + value.magnitude
        var carry = true
        for index in bytes.indices.reversed() {
            bytes[index] = ~bytes[index]
            if carry {
                let (sum, overflow) = bytes[index].addingReportingOverflow(1)
                bytes[index] = sum
                carry = overflow
            }
        }
        while bytes.count > 1, bytes[0] == 0xff, (bytes[1] & 0x80) != 0 { bytes.removeFirst() }
        return bytes
    }

    /// An INTEGER.
    static func integer(_ value: BigEndianInteger) -> [UInt8] {
        tlv(integerTag, integerContent(value))
    }

    /// A BIT STRING holding named bits (bit 0 is the most significant bit of
    /// the first byte), with trailing zero bits removed as DER requires for
    /// named bit lists (RFC 5280 keyUsage, ReasonFlags).
    static func namedBits(_ bits: [Int]) -> [UInt8] {
        let highest = bits.max() ?? -1
        guard highest >= 0 else { return tlv(bitStringTag, [0]) }
        var bytes = [UInt8](repeating: 0, count: highest / 8 + 1)
        for bit in bits where bit >= 0 { bytes[bit / 8] |= 0x80 >> UInt8(bit % 8) }
        let unused = UInt8(7 - highest % 8)
        return tlv(bitStringTag, [unused] + bytes)
    }

    /// An OBJECT IDENTIFIER from dotted text or a name OpenSSL knows ("serverAuth").
    /// - Throws: `OpenSSLError` when OpenSSL knows no such object and the text is not a dotted OID.
    static func oid(_ text: String) throws -> [UInt8] {
        let object = try ErrorQueue.call("object identifier '\(text)'") { OBJ_txt2obj(text, 0) }
        defer { ASN1_OBJECT_free(object) }
        return try MemoryBIO.der("encode object identifier '\(text)'") { i2d_ASN1_OBJECT(object, $0) }
    }

    /// An IA5String's content: ASCII only (a NUL byte is ASCII and is kept).
    /// - Throws: `OpenSSLError` naming `what` for a character outside ASCII.
    static func ia5(_ text: String, _ what: String) throws -> [UInt8] {
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy({ $0 < 0x80 }) else {
            throw OpenSSLError(
                operation: "encode \(what)",
                detail: "'\(text)' is not ASCII (IA5String); use the punycode or percent-encoded form")
        }
        return bytes
    }

    // MARK: Reading

    /// The value of INTEGER (or ENUMERATED) content octets: two's complement,
    /// big-endian. Nil for empty content.
    static func integerValue(_ content: ArraySlice<UInt8>) -> BigEndianInteger? {
        guard let first = content.first else { return nil }
        guard first & 0x80 != 0 else { return BigEndianInteger(magnitude: Array(content)) }
        // Negative: the magnitude is the two's complement of the content.
        var bytes = Array(content)
        var carry = true
        for index in bytes.indices.reversed() {
            bytes[index] = ~bytes[index]
            if carry {
                let (sum, overflow) = bytes[index].addingReportingOverflow(1)
                bytes[index] = sum
                carry = overflow
            }
        }
        return BigEndianInteger(magnitude: bytes, isNegative: true)
    }

    /// One element read by `elements(_:)`: its tag and content, and the whole encoding.
    struct Element {
        let tag: UInt8
        let content: ArraySlice<UInt8>
        let encoded: ArraySlice<UInt8>
    }

    /// Splits `bytes` into consecutive top-level TLVs (single-byte tags,
    /// definite lengths). Nil when the input is not well-formed DER of that shape.
    static func elements(_ bytes: ArraySlice<UInt8>) -> [Element]? {
        var result: [Element] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let start = index
            let tag = bytes[index]
            guard tag & 0x1f != 0x1f else { return nil }
            index += 1
            guard index < bytes.endIndex else { return nil }
            var count = Int(bytes[index])
            index += 1
            if count & 0x80 != 0 {
                let octets = count & 0x7f
                guard octets > 0, octets <= 4, bytes.endIndex - index >= octets else { return nil }
                count = 0
                for _ in 0..<octets {
                    count = count << 8 | Int(bytes[index])
                    index += 1
                }
            }
            guard bytes.endIndex - index >= count else { return nil }
            result.append(Element(tag: tag, content: bytes[index..<(index + count)], encoded: bytes[start..<(index + count)]))
            index += count
        }
        return result
    }
}
