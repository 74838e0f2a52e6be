import Foundation
internal import COpenSSL

/// Signing a certificate, request or CRL: the checks and the `EVP_MD_CTX`
/// set-up the three builders share, written once.
enum Signer {
    /// Checks that `key` can sign with `digest` and `padding`, sets up a
    /// digest-sign context and hands it to `sign` (`X509_sign_ctx`,
    /// `X509_REQ_sign_ctx`, `X509_CRL_sign_ctx`), which returns the
    /// signature length or 0 on failure.
    ///
    /// `digest` nil means the key's default: SHA-256 for RSA and EC, none for
    /// Ed25519 and Ed448 (which hash internally and refuse a digest).
    /// - Throws: `OpenSSLError` for a public-only key, a digest given for
    ///   EdDSA, an unknown digest, PSS padding with a non-RSA key, or a
    ///   combination OpenSSL refuses.
    /// - SeeAlso: EVP_DigestSignInit_ex(3), EVP_PKEY_CTX_set_rsa_padding(3), EVP_PKEY_CTX_set_rsa_pss_saltlen(3)
    static func sign(
        _ what: String, key: PKey, digest: MessageDigest?, padding: RSASignaturePadding,
        _ sign: (OpaquePointer) -> Int32
    ) throws {
        let operation = "sign \(what)"
        let digestName = try checkedDigestName(operation, key: key, digest: digest, padding: padding)
        let context = try ErrorQueue.call(operation) { EVP_MD_CTX_new() }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        try ErrorQueue.check(operation) {
            EVP_DigestSignInit_ex(context, &keyContext, digestName, nil, nil, key.raw, nil)
        }
        if padding == .pss {
            guard let keyContext, let digestName else {
                throw OpenSSLError(operation: operation, detail: "no key context for PSS parameters")
            }
            try ErrorQueue.check("\(operation): set PSS padding") {
                EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING)
            }
            try ErrorQueue.check("\(operation): set PSS salt length") {
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST)
            }
            try ErrorQueue.check("\(operation): set MGF1 digest") {
                EVP_PKEY_CTX_set_rsa_mgf1_md_name(keyContext, digestName, nil)
            }
        }
        try ErrorQueue.check(operation) { sign(context) }
    }

    /// The digest name to sign with, after checking the combination.
    private static func checkedDigestName(
        _ operation: String, key: PKey, digest: MessageDigest?, padding: RSASignaturePadding
    ) throws -> String? {
        try key.requirePrivate(operation)
        let type = key.type
        let isEdDSA = type == .ed25519 || type == .ed448
        let isRSA = type == .rsa || type == .rsaPSS
        if padding == .pss && !isRSA {
            throw OpenSSLError(operation: operation, detail: "PSS padding needs an RSA key, not \(key.typeName)")
        }
        if isEdDSA {
            if let digest {
                throw OpenSSLError(
                    operation: operation,
                    detail: "\(key.typeName) signs without a separate digest; pass digest: nil, not \(digest.name)")
            }
            return nil
        }
        let chosen = digest ?? .sha256
        do {
            _ = try chosen.fetched()
        } catch let error as OpenSSLError {
            throw OpenSSLError(operation: operation, entries: error.entries, detail: "unknown digest '\(chosen.name)'")
        }
        return chosen.name
    }
}
