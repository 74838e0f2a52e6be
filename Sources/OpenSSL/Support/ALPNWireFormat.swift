import Foundation

/// ALPN's wire format: each protocol as a length byte and its bytes.
enum ALPN {
    /// The ranges of the protocols in a wire-format list; stops at a truncated entry.
    static func parse(_ wire: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 0
        while index < wire.count {
            let length = Int(wire[index])
            let start = index + 1
            guard length > 0, start + length <= wire.count else { break }
            ranges.append(start..<start + length)
            index = start + length
        }
        return ranges
    }

    /// Encodes a protocol list.
    /// - Throws: `OpenSSLError` for an empty list, or a protocol that is empty or longer than 255 bytes.
    static func encode(_ protocols: [String], operation: String) throws -> [UInt8] {
        guard !protocols.isEmpty else {
            throw OpenSSLError(operation: operation, detail: "the protocol list is empty")
        }
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw OpenSSLError(
                    operation: operation,
                    detail: "protocol \"\(name)\" is \(bytes.count) bytes; ALPN allows 1 to 255")
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        return wire
    }
}
