import Foundation
internal import COpenSSL

/// Moving bytes in and out of OpenSSL through memory BIOs, written once.
enum MemoryBIO {
    /// Runs `body` with a read-only memory BIO over `bytes`, without copying
    /// them (`BIO_new_mem_buf` reads the caller's buffer in place; the BIO is
    /// freed before the buffer goes away).
    static func withReadOnly<R>(
        _ bytes: some ContiguousBytes,
        _ body: (OpaquePointer) throws -> R
    ) throws -> R {
        try bytes.withUnsafeBytes { buffer in
            // BIO_new_mem_buf refuses a NULL pointer even for zero bytes.
            var empty: UInt8 = 0
            let base = buffer.baseAddress ?? withUnsafePointer(to: &empty) { UnsafeRawPointer($0) }
            let bio = try ErrorQueue.call("make a memory BIO") {
                BIO_new_mem_buf(base, Int32(clamping: buffer.count))
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with an empty writable memory BIO, then returns what it wrote.
    static func collect(_ body: (OpaquePointer) throws -> Void) throws -> [UInt8] {
        let bio = try ErrorQueue.call("make a memory BIO") { BIO_new(BIO_s_mem()) }
        defer { BIO_free(bio) }
        try body(bio)
        var base: UnsafeMutablePointer<CChar>?
        let count = cossl_BIO_get_mem_data(bio, &base)
        guard count > 0, let base else { return [] }
        return base.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
    }

    /// Like `collect`, decoded as text (PEM, `openssl x509 -text` output),
    /// keeping any invalid UTF-8 visible as U+FFFD rather than failing.
    static func collectString(_ body: (OpaquePointer) throws -> Void) throws -> String {
        String(decoding: try collect(body), as: UTF8.self)
    }

    /// Encodes with an `i2d_*` function into a fresh array (two passes: size, then bytes).
    static func der(
        _ operation: @autoclosure () -> String,
        _ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32
    ) throws -> [UInt8] {
        ErrorQueue.clear()
        let length = encode(nil)
        guard length > 0 else { throw ErrorQueue.drain(operation()) }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return encode(&cursor)
        }
        guard written == length else { throw ErrorQueue.drain(operation()) }
        return out
    }

    /// Decodes with a `d2i_*` function, requiring that it consume every
    /// byte; trailing data is refused (and the decoded object freed).
    static func fromDER(
        _ bytes: some ContiguousBytes,
        _ operation: @autoclosure () -> String,
        decode: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?,
        free: (OpaquePointer) -> Void
    ) throws -> OpaquePointer {
        try bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                throw OpenSSLError(operation: operation(), detail: "empty input")
            }
            let start = base.assumingMemoryBound(to: UInt8.self)
            var cursor: UnsafePointer<UInt8>? = start
            let value = try ErrorQueue.call(operation()) { decode(&cursor, buffer.count) }
            let consumed = cursor.map { $0 - start } ?? buffer.count
            if consumed != buffer.count {
                free(value)
                throw OpenSSLError(
                    operation: operation(),
                    detail: "\(buffer.count - consumed) bytes of trailing data after the DER structure"
                )
            }
            return value
        }
    }
}
