import Foundation
internal import COpenSSL

/// Making the ASN.1 values the builders hand to OpenSSL, each owned only for
/// the duration of one call (the `set` functions they go to copy them).
extension ASN1 {
    /// Runs `body` with a temporary ASN1_TIME for `date` (whole seconds,
    /// rounded down): UTCTime through 2049, GeneralizedTime after, as RFC 5280 wants.
    /// - Throws: `OpenSSLError` for a date outside years 0000–9999.
    /// - SeeAlso: ASN1_TIME_set(3)
    @discardableResult
    static func withTime<R>(
        _ date: Date, _ operation: String,
        _ body: (UnsafeMutablePointer<ASN1_TIME>) throws -> R
    ) throws -> R {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        // 253402300799 is 9999-12-31T23:59:59Z; -62167219200 is 0000-01-01T00:00:00Z.
        guard seconds >= -62_167_219_200, seconds <= 253_402_300_799 else {
            throw OpenSSLError(operation: operation, detail: "\(date) cannot be written as an ASN.1 time")
        }
        let time = try ErrorQueue.call(operation) { ASN1_TIME_set(nil, time_t(seconds)) }
        defer { ASN1_TIME_free(time) }
        return try body(time)
    }

    /// Runs `body` with a temporary ASN1_INTEGER holding `value` (any length, either sign).
    /// - SeeAlso: d2i_ASN1_INTEGER(3)
    @discardableResult
    static func withInteger<R>(
        _ value: BigEndianInteger, _ operation: String,
        _ body: (UnsafeMutablePointer<ASN1_INTEGER>) throws -> R
    ) throws -> R {
        let der = DER.integer(value)
        let integer = try der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return try ErrorQueue.call(operation) { d2i_ASN1_INTEGER(nil, &cursor, buffer.count) }
        }
        defer { ASN1_INTEGER_free(integer) }
        return try body(integer)
    }

    /// A random positive serial number of `bytes` bytes (RFC 5280 allows up to 20),
    /// its top bit clear so it stays positive and its first byte non-zero so it keeps its length.
    /// - SeeAlso: RAND_bytes(3)
    static func randomSerial(bytes count: Int = 16) throws -> BigEndianInteger {
        var bytes = [UInt8](repeating: 0, count: count)
        try ErrorQueue.check("make a random serial number") { RAND_bytes(&bytes, Int32(count)) }
        bytes[0] = (bytes[0] & 0x7f) | 0x01
        return BigEndianInteger(magnitude: bytes)
    }
}
