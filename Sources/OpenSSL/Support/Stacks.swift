internal import COpenSSL

// OpenSSL's STACK_OF(X509) and STACK_OF(X509_NAME), read into Swift arrays and made from them.

extension X509 {
    /// The certificates of a STACK_OF(X509) someone else owns, each with a reference of its own.
    static func list(fromStack stack: OpaquePointer?) -> [X509] {
        guard let stack else { return [] }
        return (0..<max(cossl_sk_X509_num(stack), 0)).compactMap { index in
            cossl_sk_X509_value(stack, index).flatMap { try? X509(borrowing: $0) }
        }
    }
}

extension X509Name {
    /// The names of a STACK_OF(X509_NAME) someone else owns, as copies.
    static func list(fromStack stack: OpaquePointer?) -> [X509Name] {
        guard let stack else { return [] }
        let names = (0..<max(cossl_sk_X509_NAME_num(stack), 0)).compactMap { index in
            cossl_sk_X509_NAME_value(stack, index).flatMap { try? X509Name(copying: $0) }
        }
        ErrorQueue.clear()
        return names
    }

    /// A new STACK_OF(X509_NAME) holding copies of `names`; the caller owns it.
    static func makeStack(_ names: [X509Name]) throws -> OpaquePointer {
        let stack = try ErrorQueue.call("make name list") { cossl_sk_X509_NAME_new_null() }
        for name in names {
            guard let copy = X509_NAME_dup(name.raw), cossl_sk_X509_NAME_push(stack, copy) > 0 else {
                cossl_sk_X509_NAME_pop_free(stack)
                throw ErrorQueue.drain("make name list")
            }
        }
        return stack
    }
}
