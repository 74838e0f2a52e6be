internal import COpenSSL

/// What a verified certificate is to be used for (OpenSSL's
/// `X509_PURPOSE_*`): verification then checks the leaf's extended key
/// usage (and the legacy Netscape type) fit, and fails with
/// `X509VerificationError.Code.invalidPurpose` when they do not.
///
/// A struct, so an id this library does not name is still a value; an id
/// OpenSSL does not know is refused when it is set.
/// - SeeAlso: X509_VERIFY_PARAM_set_purpose(3), X509_check_purpose(3)
public struct X509Purpose: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// OpenSSL's purpose id.
    public let rawValue: Int32

    /// Wraps OpenSSL's purpose id.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// A TLS client certificate (EKU clientAuth) (X509_PURPOSE_SSL_CLIENT).
    public static let tlsClient = X509Purpose(rawValue: X509_PURPOSE_SSL_CLIENT)
    /// A TLS server certificate (EKU serverAuth) (X509_PURPOSE_SSL_SERVER).
    public static let tlsServer = X509Purpose(rawValue: X509_PURPOSE_SSL_SERVER)
    /// A TLS server certificate under Netscape's stricter rules (X509_PURPOSE_NS_SSL_SERVER).
    public static let netscapeTLSServer = X509Purpose(rawValue: X509_PURPOSE_NS_SSL_SERVER)
    /// S/MIME signing (X509_PURPOSE_SMIME_SIGN).
    public static let smimeSign = X509Purpose(rawValue: X509_PURPOSE_SMIME_SIGN)
    /// S/MIME encryption (X509_PURPOSE_SMIME_ENCRYPT).
    public static let smimeEncrypt = X509Purpose(rawValue: X509_PURPOSE_SMIME_ENCRYPT)
    /// Signing CRLs (X509_PURPOSE_CRL_SIGN).
    public static let crlSign = X509Purpose(rawValue: X509_PURPOSE_CRL_SIGN)
    /// Any purpose: no usage check (X509_PURPOSE_ANY).
    public static let any = X509Purpose(rawValue: X509_PURPOSE_ANY)
    /// An OCSP responder (X509_PURPOSE_OCSP_HELPER).
    public static let ocspHelper = X509Purpose(rawValue: X509_PURPOSE_OCSP_HELPER)
    /// Time-stamp signing (X509_PURPOSE_TIMESTAMP_SIGN).
    public static let timestampSign = X509Purpose(rawValue: X509_PURPOSE_TIMESTAMP_SIGN)

    /// OpenSSL's short name for the purpose ("sslserver"), or "purpose N" when OpenSSL does not know it.
    /// - SeeAlso: X509_PURPOSE_get0_sname(3)
    public var description: String {
        let index = X509_PURPOSE_get_by_id(rawValue)
        guard index >= 0, let purpose = X509_PURPOSE_get0(index), let name = X509_PURPOSE_get0_sname(purpose) else {
            ErrorQueue.clear()
            return "purpose \(rawValue)"
        }
        return String(cString: name)
    }
}
