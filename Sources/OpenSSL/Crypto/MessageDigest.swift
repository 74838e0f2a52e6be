import Foundation
internal import COpenSSL

/// A message digest algorithm known to OpenSSL, by name.
///
/// The common ones are static members; any other name OpenSSL's providers
/// know works too (`MessageDigest("SHA3-256")`, `MessageDigest("SM3")`).
/// An unknown name throws when it is first used. The algorithm object is
/// fetched once per name and reused (`EVP_MD_fetch(3)`), which is cheaper
/// than looking it up on every hash.
public struct MessageDigest: Sendable, Hashable, CustomStringConvertible {
    /// The algorithm name as given ("SHA256", "sha3-512", …).
    public let name: String

    /// Names a digest. Nothing is checked until it is used.
    public init(_ name: String) {
        self.name = name
    }

    /// MD5: broken; only for interoperating with old formats and fingerprints.
    public static let md5 = MessageDigest("MD5")
    /// SHA-1: collisions are practical; not for new signatures.
    public static let sha1 = MessageDigest("SHA1")
    /// SHA-224.
    public static let sha224 = MessageDigest("SHA224")
    /// SHA-256.
    public static let sha256 = MessageDigest("SHA256")
    /// SHA-384.
    public static let sha384 = MessageDigest("SHA384")
    /// SHA-512.
    public static let sha512 = MessageDigest("SHA512")
    /// SHA3-256.
    public static let sha3_256 = MessageDigest("SHA3-256")
    /// SHA3-384.
    public static let sha3_384 = MessageDigest("SHA3-384")
    /// SHA3-512.
    public static let sha3_512 = MessageDigest("SHA3-512")

    /// The algorithm name, as given.
    public var description: String { name }

    /// The digest's output size in bytes.
    /// - Throws: `OpenSSLError` when OpenSSL knows no digest by this name.
    public var size: Int {
        get throws { Int(EVP_MD_get_size(try fetched())) }
    }

    /// Hashes `data` in one call.
    /// - Throws: `OpenSSLError` for an unknown digest name.
    /// - SeeAlso: EVP_Digest(3)
    public func hash(_ data: some ContiguousBytes) throws -> [UInt8] {
        let md = try fetched()
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = try data.withUnsafeBytes { input in
            try out.withUnsafeMutableBufferPointer { output in
                try ErrorQueue.check("hash with \(name)") {
                    EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, md, nil)
                }
            }
        }
        out.removeSubrange(Int(length)...)
        return out
    }

    /// The fetched `EVP_MD`, cached for the life of the process.
    func fetched() throws -> OpaquePointer {
        let key = name.uppercased()
        if let cached = MessageDigest.cache.lookup(key) { return cached }
        let md = try ErrorQueue.call("unknown digest '\(name)'") { EVP_MD_fetch(nil, name, nil) }
        return MessageDigest.cache.insert(key, md)
    }

    private static let cache = FetchCache()
}

/// Fetched algorithm objects, one per name, kept for the process's life
/// (there are only a few dozen digests, so the cache is bounded).
private final class FetchCache: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var entries: [String: OpaquePointer] = [:]

    func lookup(_ key: String) -> OpaquePointer? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    /// Stores `md` unless another thread got there first; returns the one kept.
    func insert(_ key: String, _ md: OpaquePointer) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let existing = entries[key] {
            EVP_MD_free(md)
            return existing
        }
        entries[key] = md
        return md
    }
}
