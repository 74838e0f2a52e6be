import Foundation
internal import COpenSSL

/// A certificate signing request, PKCS#10 (OpenSSL's `X509_REQ`).
///
/// Load one from PEM or DER, or make one with `X509RequestBuilder`; read
/// its subject, public key and requested extensions; check its
/// self-signature. A request is immutable and can be shared between threads.
public final class X509Request: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: immutable after init; never mutated through `raw`.
    let handle: OwnedPointer<X509ReqKind>
    var raw: OpaquePointer { handle.raw }

    init(takingOwnership pointer: OpaquePointer) {
        handle = OwnedPointer(takingOwnership: pointer)
    }

    // MARK: Loading

    /// Loads the first request in PEM input (`BEGIN CERTIFICATE REQUEST`,
    /// or the older `BEGIN NEW CERTIFICATE REQUEST`).
    /// - Throws: `OpenSSLError` for input with no request block ("no start
    ///   line", also for a block with another label), a truncated or
    ///   damaged block, or one that is not a valid request.
    /// - SeeAlso: PEM_read_bio_X509_REQ(3)
    public convenience init(pem: some ContiguousBytes) throws {
        let request = try MemoryBIO.withReadOnly(pem) { bio in
            try PassphraseRequest.run(nil, operation: "read certificate request (PEM)") { userData in
                PEM_read_bio_X509_REQ(bio, nil, passphraseTrampoline, userData)
            }
        }
        self.init(takingOwnership: request)
    }

    /// Loads the first request in PEM text. See `init(pem:)`.
    /// - Throws: as `init(pem:)`.
    /// - SeeAlso: PEM_read_bio_X509_REQ(3)
    public convenience init(pem: String) throws {
        try self.init(pem: Array(pem.utf8))
    }

    /// Loads a DER-encoded request.
    /// - Throws: `OpenSSLError` for empty input, malformed DER, or trailing bytes.
    /// - SeeAlso: d2i_X509_REQ(3)
    public convenience init(der: some ContiguousBytes) throws {
        let request = try MemoryBIO.fromDER(
            der, "read certificate request (DER)",
            decode: { d2i_X509_REQ(nil, $0, $1) }, free: { X509_REQ_free($0) })
        self.init(takingOwnership: request)
    }

    // MARK: Encoding

    /// The request as PEM (`-----BEGIN CERTIFICATE REQUEST-----` …).
    /// - SeeAlso: PEM_write_bio_X509_REQ(3)
    public var pem: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("write certificate request (PEM)") { PEM_write_bio_X509_REQ(bio, raw) }
            }
        }
    }

    /// The request as DER.
    /// - SeeAlso: i2d_X509_REQ(3)
    public var der: [UInt8] {
        get throws { try MemoryBIO.der("write certificate request (DER)") { i2d_X509_REQ(raw, $0) } }
    }

    // MARK: Fields

    /// The version as `openssl req -text` shows it: 1 (encoded as 0, the only version PKCS#10 defines).
    /// - SeeAlso: X509_REQ_get_version(3)
    public var version: Int { X509_REQ_get_version(raw) + 1 }

    /// The subject name (a copy).
    /// - SeeAlso: X509_REQ_get_subject_name(3)
    public var subject: X509Name {
        get throws {
            try X509Name(copying: try ErrorQueue.call("read request subject") { X509_REQ_get_subject_name(raw) })
        }
    }

    /// The public key the request asks to have certified.
    /// - Throws: `OpenSSLError` when the key cannot be decoded.
    /// - SeeAlso: X509_REQ_get0_pubkey(3)
    public var publicKey: PKey {
        get throws {
            let key = try ErrorQueue.call("read request public key") { X509_REQ_get0_pubkey(raw) }
            return try PKey(borrowing: key, hasPrivateKey: false)
        }
    }

    /// The signature algorithm as `openssl req -text` names it
    /// ("sha256WithRSAEncryption", "ecdsa-with-SHA256", "ED25519"), or its OID.
    /// - SeeAlso: X509_REQ_get0_signature(3)
    public var signatureAlgorithm: String {
        var algorithm: UnsafePointer<X509_ALGOR>?
        X509_REQ_get0_signature(raw, nil, &algorithm)
        guard let algorithm else { return "" }
        var object: OpaquePointer?
        X509_ALGOR_get0(&object, nil, nil, algorithm)
        return ASN1.longNameOrOID(object)
    }

    /// The signature bytes.
    public var signature: [UInt8] {
        var signature: UnsafePointer<ASN1_BIT_STRING>?
        X509_REQ_get0_signature(raw, &signature, nil)
        return ASN1.bytes(signature)
    }

    /// The requested extensions (the extensionRequest attribute), in order;
    /// empty when the request asks for none.
    /// - Throws: `OpenSSLError` when the attribute is malformed.
    /// - SeeAlso: X509_REQ_get_extensions(3)
    public var extensions: [X509Extension] {
        get throws {
            let stack = try ErrorQueue.call("read requested extensions") { X509_REQ_get_extensions(raw) }
            defer { cossl_sk_X509_EXTENSION_pop_free(stack) }
            return (0..<max(cossl_sk_X509_EXTENSION_num(stack), 0)).compactMap { index in
                cossl_sk_X509_EXTENSION_value(stack, index).map { X509Extension($0) }
            }
        }
    }

    /// The requested subjectAltName entries, or nil when none are requested.
    /// - Throws: `OpenSSLError` when the extension is malformed or repeated.
    public var subjectAlternativeNames: [GeneralName]? {
        get throws { try extensions.unique(X509Extension.subjectAlternativeNameOID)?.generalNames() }
    }

    // MARK: Signature

    /// True when the request's signature verifies with its own public key
    /// (proof that the requester holds the private key); false when it does
    /// not or cannot be checked.
    /// - SeeAlso: X509_REQ_verify(3)
    public var isSignatureValid: Bool {
        guard let key = X509_REQ_get0_pubkey(raw) else {
            ErrorQueue.clear()
            return false
        }
        let result = X509_REQ_verify(raw, key)
        ErrorQueue.clear()
        return result == 1
    }

    /// True when `key` verifies the request's signature.
    /// - SeeAlso: X509_REQ_verify(3)
    public func isSigned(by key: PKey) -> Bool {
        let result = X509_REQ_verify(raw, key.raw)
        ErrorQueue.clear()
        return result == 1
    }

    // MARK: Text

    /// What `openssl req -text -noout -nameopt oneline` prints for this
    /// request (names as `X509.text` prints them).
    /// - SeeAlso: X509_REQ_print_ex(3)
    public var text: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("print certificate request") {
                    X509_REQ_print_ex(bio, raw, cossl_XN_FLAG_ONELINE(), 0)
                }
            }
        }
    }

    /// A one-line summary: the subject.
    public var description: String {
        "X509Request(subject: \((try? subject.oneLineString) ?? "?"))"
    }

    /// Calls `body` with the underlying `X509_REQ *`. Valid only inside `body`; do not free or modify it.
    /// - Throws: whatever `body` throws.
    /// - SeeAlso: X509_REQ(3) (the functions that take one)
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}
