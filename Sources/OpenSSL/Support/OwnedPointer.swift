internal import COpenSSL

/// How one kind of OpenSSL object is freed and (where OpenSSL counts
/// references) retained. One conformance per OpenSSL type; `OwnedPointer`
/// does the bookkeeping for all of them.
protocol OpenSSLObjectKind {
    /// Releases one reference (`X509_free`, `EVP_PKEY_free`, …).
    static func free(_ pointer: OpaquePointer)
    /// Takes one more reference (`X509_up_ref`, …); returns false when OpenSSL
    /// refuses. Types OpenSSL does not reference-count return false.
    static func upRef(_ pointer: OpaquePointer) -> Bool
}

/// Exactly one reference to an OpenSSL object, released exactly once.
///
/// Noncopyable, so a reference cannot be duplicated by accident: a wrapper
/// class stores one of these as a `let` and the struct's `deinit` frees the
/// object when the wrapper goes away. This is the single place where
/// OpenSSL objects owned by Swift are freed.
struct OwnedPointer<Kind: OpenSSLObjectKind>: ~Copyable {
    /// The object. Valid for as long as this value lives.
    let raw: OpaquePointer

    /// Adopts a reference the caller already owns (a fresh `X509_new`,
    /// `d2i_X509`, or a `get1_` getter's result).
    init(takingOwnership pointer: OpaquePointer) {
        raw = pointer
    }

    /// Takes a new reference on an object someone else owns (a `get0_`
    /// getter's result), so it stays valid after they free theirs.
    /// Returns nil when OpenSSL refuses the reference.
    init?(borrowing pointer: OpaquePointer) {
        guard Kind.upRef(pointer) else { return nil }
        raw = pointer
    }

    deinit {
        Kind.free(raw)
    }
}

enum X509Kind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { X509_up_ref(pointer) == 1 }
}

enum PKeyKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { EVP_PKEY_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { EVP_PKEY_up_ref(pointer) == 1 }
}

/// X509_NAME has no reference count: a borrowed name is duplicated instead.
enum X509NameKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_NAME_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { false }
}

enum BIOKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { BIO_free_all(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { BIO_up_ref(pointer) == 1 }
}

enum X509StoreKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_STORE_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { X509_STORE_up_ref(pointer) == 1 }
}

/// X509_STORE_CTX has no reference count: exactly one owner, the `X509StoreContext`.
enum X509StoreContextKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_STORE_CTX_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { false }
}

/// PKCS12 has no reference count; it lives only inside one load or export.
enum PKCS12Kind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { PKCS12_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { false }
}

enum SSLContextKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { SSL_CTX_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { SSL_CTX_up_ref(pointer) == 1 }
}

/// SSL objects are not shared: a Connection owns its one reference.
enum SSLKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { SSL_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { false }
}

/// X509_REQ has no reference count: a borrowed request is duplicated instead.
enum X509ReqKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_REQ_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { false }
}

enum X509CRLKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { X509_CRL_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { X509_CRL_up_ref(pointer) == 1 }
}

enum SSLSessionKind: OpenSSLObjectKind {
    static func free(_ pointer: OpaquePointer) { SSL_SESSION_free(pointer) }
    static func upRef(_ pointer: OpaquePointer) -> Bool { SSL_SESSION_up_ref(pointer) == 1 }
}
