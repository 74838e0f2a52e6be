import Foundation
internal import COpenSSL

/// A certificate revocation list (OpenSSL's `X509_CRL`).
///
/// Load one from PEM or DER, or make one with `CRLBuilder`; read its issuer,
/// update times, CRL number and revoked entries; check its signature. A CRL
/// is immutable and can be shared between threads.
public final class CRL: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: immutable after init; X509_CRL's lazy caches are locked by OpenSSL.
    let handle: OwnedPointer<X509CRLKind>
    var raw: OpaquePointer { handle.raw }

    init(takingOwnership pointer: OpaquePointer) {
        handle = OwnedPointer(takingOwnership: pointer)
    }

    /// Wraps a CRL someone else owns (a `get0_` result), taking a reference of our own.
    init(borrowing pointer: OpaquePointer) throws {
        guard let owned = OwnedPointer<X509CRLKind>(borrowing: pointer) else {
            throw ErrorQueue.drain("take a reference to a CRL")
        }
        handle = owned
    }

    // MARK: Loading

    /// Loads the first CRL in PEM input (`BEGIN X509 CRL`).
    /// - Throws: `OpenSSLError` for input with no CRL block ("no start line",
    ///   also for a block with another label), a truncated or damaged block,
    ///   or one that is not a valid CRL.
    /// - SeeAlso: PEM_read_bio_X509_CRL(3)
    public convenience init(pem: some ContiguousBytes) throws {
        let crl = try MemoryBIO.withReadOnly(pem) { bio in
            try PassphraseRequest.run(nil, operation: "read CRL (PEM)") { userData in
                PEM_read_bio_X509_CRL(bio, nil, passphraseTrampoline, userData)
            }
        }
        self.init(takingOwnership: crl)
    }

    /// Loads the first CRL in PEM text. See `init(pem:)`.
    /// - Throws: as `init(pem:)`.
    /// - SeeAlso: PEM_read_bio_X509_CRL(3)
    public convenience init(pem: String) throws {
        try self.init(pem: Array(pem.utf8))
    }

    /// Loads a DER-encoded CRL.
    /// - Throws: `OpenSSLError` for empty input, malformed DER, or trailing bytes.
    /// - SeeAlso: d2i_X509_CRL(3)
    public convenience init(der: some ContiguousBytes) throws {
        let crl = try MemoryBIO.fromDER(der, "read CRL (DER)", decode: { d2i_X509_CRL(nil, $0, $1) }, free: { X509_CRL_free($0) })
        self.init(takingOwnership: crl)
    }

    // MARK: Encoding

    /// The CRL as PEM (`-----BEGIN X509 CRL-----` …).
    /// - SeeAlso: PEM_write_bio_X509_CRL(3)
    public var pem: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("write CRL (PEM)") { PEM_write_bio_X509_CRL(bio, raw) }
            }
        }
    }

    /// The CRL as DER.
    /// - SeeAlso: i2d_X509_CRL(3)
    public var der: [UInt8] {
        get throws { try MemoryBIO.der("write CRL (DER)") { i2d_X509_CRL(raw, $0) } }
    }

    // MARK: Fields

    /// The version as written in CRLs: 1 or 2 (v2 when the CRL has extensions).
    /// - SeeAlso: X509_CRL_get_version(3)
    public var version: Int { X509_CRL_get_version(raw) + 1 }

    /// The issuer name (a copy).
    /// - SeeAlso: X509_CRL_get_issuer(3)
    public var issuer: X509Name {
        get throws { try X509Name(copying: try ErrorQueue.call("read CRL issuer") { X509_CRL_get_issuer(raw) }) }
    }

    /// When this CRL was issued (thisUpdate).
    /// - Throws: `OpenSSLError` when the encoded time is malformed.
    /// - SeeAlso: X509_CRL_get0_lastUpdate(3)
    public var lastUpdate: Date {
        get throws { try ASN1.date(X509_CRL_get0_lastUpdate(raw), "read CRL lastUpdate") }
    }

    /// When the next CRL is due, or nil when the CRL does not say.
    /// - Throws: `OpenSSLError` when the encoded time is malformed.
    /// - SeeAlso: X509_CRL_get0_nextUpdate(3)
    public var nextUpdate: Date? {
        get throws {
            guard let time = X509_CRL_get0_nextUpdate(raw) else { return nil }
            return try ASN1.date(time, "read CRL nextUpdate")
        }
    }

    /// The revoked entries, in the order the CRL lists them.
    /// - Throws: `OpenSSLError` when an entry's date or reason is malformed.
    /// - SeeAlso: X509_CRL_get_REVOKED(3)
    public var revoked: [Revoked] {
        get throws {
            guard let stack = X509_CRL_get_REVOKED(raw) else { return [] }
            return try (0..<max(cossl_sk_X509_REVOKED_num(stack), 0)).compactMap { index in
                try cossl_sk_X509_REVOKED_value(stack, index).map { try Revoked($0) }
            }
        }
    }

    /// The entry for `serialNumber`, or nil when the CRL does not list it.
    /// - Throws: as `revoked`.
    /// - SeeAlso: X509_CRL_get0_by_serial(3) (same lookup, done here over `revoked`)
    public func revocation(of serialNumber: BigEndianInteger) throws -> Revoked? {
        try revoked.first { $0.serialNumber == serialNumber }
    }

    /// The entry for `certificate` (matched by serial number; the caller
    /// checks that the CRL's issuer is the certificate's), or nil.
    /// - Throws: as `revoked`.
    /// - SeeAlso: X509_CRL_get0_by_cert(3)
    public func revocation(of certificate: X509) throws -> Revoked? {
        try revocation(of: certificate.serialNumber)
    }

    /// Every CRL extension, in order.
    /// - SeeAlso: X509_CRL_get_ext(3)
    public var extensions: [X509Extension] {
        let count = X509_CRL_get_ext_count(raw)
        return (0..<max(count, 0)).compactMap { index in
            X509_CRL_get_ext(raw, index).map { X509Extension($0) }
        }
    }

    /// The cRLNumber, or nil when absent.
    /// - Throws: `OpenSSLError` when it is malformed or repeated.
    public var crlNumber: BigEndianInteger? {
        get throws { try extensions.unique(X509Extension.crlNumberOID)?.crlNumber() }
    }

    /// The authorityKeyIdentifier, or nil when absent.
    /// - Throws: `OpenSSLError` when it is malformed or repeated.
    public var authorityKeyIdentifier: AuthorityKeyIdentifier? {
        get throws { try extensions.unique(X509Extension.authorityKeyIdentifierOID)?.authorityKeyIdentifier() }
    }

    /// The signature algorithm as `openssl crl -text` names it, or its OID.
    /// - SeeAlso: X509_CRL_get0_signature(3)
    public var signatureAlgorithm: String {
        var algorithm: UnsafePointer<X509_ALGOR>?
        X509_CRL_get0_signature(raw, nil, &algorithm)
        guard let algorithm else { return "" }
        var object: OpaquePointer?
        X509_ALGOR_get0(&object, nil, nil, algorithm)
        return ASN1.longNameOrOID(object)
    }

    /// The signature bytes.
    public var signature: [UInt8] {
        var signature: UnsafePointer<ASN1_BIT_STRING>?
        X509_CRL_get0_signature(raw, &signature, nil)
        return ASN1.bytes(signature)
    }

    /// True when `key` (the issuer's public key) verifies the CRL's signature.
    /// - SeeAlso: X509_CRL_verify(3)
    public func isSigned(by key: PKey) -> Bool {
        let result = X509_CRL_verify(raw, key.raw)
        ErrorQueue.clear()
        return result == 1
    }

    // MARK: Text

    /// What `openssl crl -text -noout -nameopt oneline` prints for this CRL
    /// (names as `X509.text` prints them).
    /// - SeeAlso: X509_CRL_print_ex(3)
    public var text: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("print CRL") { X509_CRL_print_ex(bio, raw, cossl_XN_FLAG_ONELINE()) }
            }
        }
    }

    /// A one-line summary: issuer and number of entries.
    public var description: String {
        let issuer = (try? issuer.oneLineString) ?? "?"
        let count = X509_CRL_get_REVOKED(raw).map { cossl_sk_X509_REVOKED_num($0) } ?? 0
        return "CRL(issuer: \(issuer), revoked: \(count))"
    }

    /// Calls `body` with the underlying `X509_CRL *`. Valid only inside `body`; do not free or modify it.
    /// - Throws: whatever `body` throws.
    /// - SeeAlso: X509_CRL(3) (the functions that take one)
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}
