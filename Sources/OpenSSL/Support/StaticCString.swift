extension StaticString {
    /// The literal as a C string, valid for the life of the process.
    ///
    /// For the few OpenSSL calls that keep a `const char *` without copying
    /// it (`EVP_PKEY_CTX_new_from_name`'s key type,
    /// `OSSL_DECODER_CTX_new_for_pkey`'s input type): a Swift String passed
    /// there becomes a temporary C string that is gone when the call returns,
    /// while OpenSSL reads it again later. A string literal's storage never goes.
    /// Callers pass multi-character literals, which always have a pointer representation.
    var cString: UnsafePointer<CChar> {
        precondition(hasPointerRepresentation, "a C string needs a string literal, not a single scalar")
        return UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
