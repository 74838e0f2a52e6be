internal import COpenSSL

/// Why a certificate chain did not verify: OpenSSL's verify result
/// (`X509_STORE_CTX_get_error(3)`), the depth in the chain where it was
/// found (0 is the leaf), and the certificate at that depth.
///
/// Thrown by `X509Store.verify(_:untrusted:)` and `X509StoreContext.verify()`.
/// Match on `code`:
///
/// ```swift
/// do {
///     try store.verify(leaf)
/// } catch let error as X509VerificationError where error.code == .certHasExpired {
///     print("expired:", error.certificate?.description ?? "?")
/// }
/// ```
public struct X509VerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An OpenSSL verify result code (`X509_V_ERR_*`).
    ///
    /// A struct, not an enum: a code this library does not name (a newer
    /// OpenSSL's) still has a value and never breaks a `switch`.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// OpenSSL's number for the result (`X509_V_OK` is 0).
        public let rawValue: Int32

        /// Wraps OpenSSL's number.
        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        /// OpenSSL's text for the code ("certificate has expired").
        /// - SeeAlso: X509_verify_cert_error_string(3)
        public var message: String {
            String(cString: X509_verify_cert_error_string(Int(rawValue)))
        }

        /// `message (code)`, e.g. "certificate has expired (10)".
        public var description: String {
            "\(message) (\(rawValue))"
        }

        /// 0, "ok" (X509_V_OK).
        public static let ok = Code(rawValue: X509_V_OK)
        /// 1, "unspecified certificate verification error" (X509_V_ERR_UNSPECIFIED).
        public static let unspecified = Code(rawValue: X509_V_ERR_UNSPECIFIED)
        /// 2, "unable to get issuer certificate" (X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT).
        public static let unableToGetIssuerCert = Code(rawValue: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
        /// 3, "unable to get certificate CRL" (X509_V_ERR_UNABLE_TO_GET_CRL).
        public static let unableToGetCRL = Code(rawValue: X509_V_ERR_UNABLE_TO_GET_CRL)
        /// 4, "unable to decrypt certificate's signature" (X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE).
        public static let unableToDecryptCertSignature = Code(rawValue: X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE)
        /// 5, "unable to decrypt CRL's signature" (X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE).
        public static let unableToDecryptCRLSignature = Code(rawValue: X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE)
        /// 6, "unable to decode issuer public key" (X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY).
        public static let unableToDecodeIssuerPublicKey = Code(rawValue: X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
        /// 7, "certificate signature failure" (X509_V_ERR_CERT_SIGNATURE_FAILURE).
        public static let certSignatureFailure = Code(rawValue: X509_V_ERR_CERT_SIGNATURE_FAILURE)
        /// 8, "CRL signature failure" (X509_V_ERR_CRL_SIGNATURE_FAILURE).
        public static let crlSignatureFailure = Code(rawValue: X509_V_ERR_CRL_SIGNATURE_FAILURE)
        /// 9, "certificate is not yet valid" (X509_V_ERR_CERT_NOT_YET_VALID).
        public static let certNotYetValid = Code(rawValue: X509_V_ERR_CERT_NOT_YET_VALID)
        /// 10, "certificate has expired" (X509_V_ERR_CERT_HAS_EXPIRED).
        public static let certHasExpired = Code(rawValue: X509_V_ERR_CERT_HAS_EXPIRED)
        /// 11, "CRL is not yet valid" (X509_V_ERR_CRL_NOT_YET_VALID).
        public static let crlNotYetValid = Code(rawValue: X509_V_ERR_CRL_NOT_YET_VALID)
        /// 12, "CRL has expired" (X509_V_ERR_CRL_HAS_EXPIRED).
        public static let crlHasExpired = Code(rawValue: X509_V_ERR_CRL_HAS_EXPIRED)
        /// 13, "format error in certificate's notBefore field" (X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD).
        public static let errorInCertNotBeforeField = Code(rawValue: X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD)
        /// 14, "format error in certificate's notAfter field" (X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD).
        public static let errorInCertNotAfterField = Code(rawValue: X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD)
        /// 15, "format error in CRL's lastUpdate field" (X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD).
        public static let errorInCRLLastUpdateField = Code(rawValue: X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD)
        /// 16, "format error in CRL's nextUpdate field" (X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD).
        public static let errorInCRLNextUpdateField = Code(rawValue: X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD)
        /// 17, "out of memory" (X509_V_ERR_OUT_OF_MEM).
        public static let outOfMemory = Code(rawValue: X509_V_ERR_OUT_OF_MEM)
        /// 18, "self-signed certificate" (X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT).
        public static let depthZeroSelfSignedCert = Code(rawValue: X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
        /// 19, "self-signed certificate in certificate chain" (X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN).
        public static let selfSignedCertInChain = Code(rawValue: X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
        /// 20, "unable to get local issuer certificate" (X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY).
        public static let unableToGetIssuerCertLocally = Code(rawValue: X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
        /// 21, "unable to verify the first certificate" (X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE).
        public static let unableToVerifyLeafSignature = Code(rawValue: X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)
        /// 22, "certificate chain too long" (X509_V_ERR_CERT_CHAIN_TOO_LONG).
        public static let certChainTooLong = Code(rawValue: X509_V_ERR_CERT_CHAIN_TOO_LONG)
        /// 23, "certificate revoked" (X509_V_ERR_CERT_REVOKED).
        public static let certRevoked = Code(rawValue: X509_V_ERR_CERT_REVOKED)
        /// 24, "issuer certificate doesn't have a public key" (X509_V_ERR_NO_ISSUER_PUBLIC_KEY).
        /// OpenSSL 1.1.1 used 24 for "invalid CA certificate"; 3.0 moved that to 79 (`invalidCA`).
        public static let noIssuerPublicKey = Code(rawValue: X509_V_ERR_NO_ISSUER_PUBLIC_KEY)
        /// 25, "path length constraint exceeded" (X509_V_ERR_PATH_LENGTH_EXCEEDED).
        public static let pathLengthExceeded = Code(rawValue: X509_V_ERR_PATH_LENGTH_EXCEEDED)
        /// 26, "unsuitable certificate purpose" (X509_V_ERR_INVALID_PURPOSE).
        public static let invalidPurpose = Code(rawValue: X509_V_ERR_INVALID_PURPOSE)
        /// 27, "certificate not trusted" (X509_V_ERR_CERT_UNTRUSTED).
        public static let certUntrusted = Code(rawValue: X509_V_ERR_CERT_UNTRUSTED)
        /// 28, "certificate rejected" (X509_V_ERR_CERT_REJECTED).
        public static let certRejected = Code(rawValue: X509_V_ERR_CERT_REJECTED)
        /// 29, "subject issuer mismatch" (X509_V_ERR_SUBJECT_ISSUER_MISMATCH).
        public static let subjectIssuerMismatch = Code(rawValue: X509_V_ERR_SUBJECT_ISSUER_MISMATCH)
        /// 30, "authority and subject key identifier mismatch" (X509_V_ERR_AKID_SKID_MISMATCH).
        public static let akidSkidMismatch = Code(rawValue: X509_V_ERR_AKID_SKID_MISMATCH)
        /// 31, "authority and issuer serial number mismatch" (X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH).
        public static let akidIssuerSerialMismatch = Code(rawValue: X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH)
        /// 32, "key usage does not include certificate signing" (X509_V_ERR_KEYUSAGE_NO_CERTSIGN).
        public static let keyUsageNoCertSign = Code(rawValue: X509_V_ERR_KEYUSAGE_NO_CERTSIGN)
        /// 33, "unable to get CRL issuer certificate" (X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER).
        public static let unableToGetCRLIssuer = Code(rawValue: X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER)
        /// 34, "unhandled critical extension" (X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION).
        public static let unhandledCriticalExtension = Code(rawValue: X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION)
        /// 35, "key usage does not include CRL signing" (X509_V_ERR_KEYUSAGE_NO_CRL_SIGN).
        public static let keyUsageNoCRLSign = Code(rawValue: X509_V_ERR_KEYUSAGE_NO_CRL_SIGN)
        /// 36, "unhandled critical CRL extension" (X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION).
        public static let unhandledCriticalCRLExtension = Code(rawValue: X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION)
        /// 37, "invalid non-CA certificate (has CA markings)" (X509_V_ERR_INVALID_NON_CA).
        public static let invalidNonCA = Code(rawValue: X509_V_ERR_INVALID_NON_CA)
        /// 38, "proxy path length constraint exceeded" (X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED).
        public static let proxyPathLengthExceeded = Code(rawValue: X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED)
        /// 39, "key usage does not include digital signature" (X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE).
        public static let keyUsageNoDigitalSignature = Code(rawValue: X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE)
        /// 40, "proxy certificates not allowed, please set the appropriate flag" (X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED).
        public static let proxyCertificatesNotAllowed = Code(rawValue: X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED)
        /// 41, "invalid or inconsistent certificate extension" (X509_V_ERR_INVALID_EXTENSION).
        public static let invalidExtension = Code(rawValue: X509_V_ERR_INVALID_EXTENSION)
        /// 42, "invalid or inconsistent certificate policy extension" (X509_V_ERR_INVALID_POLICY_EXTENSION).
        public static let invalidPolicyExtension = Code(rawValue: X509_V_ERR_INVALID_POLICY_EXTENSION)
        /// 43, "no explicit policy" (X509_V_ERR_NO_EXPLICIT_POLICY).
        public static let noExplicitPolicy = Code(rawValue: X509_V_ERR_NO_EXPLICIT_POLICY)
        /// 44, "different CRL scope" (X509_V_ERR_DIFFERENT_CRL_SCOPE).
        public static let differentCRLScope = Code(rawValue: X509_V_ERR_DIFFERENT_CRL_SCOPE)
        /// 45, "unsupported extension feature" (X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE).
        public static let unsupportedExtensionFeature = Code(rawValue: X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE)
        /// 46, "RFC 3779 resource not subset of parent's resources" (X509_V_ERR_UNNESTED_RESOURCE).
        public static let unnestedResource = Code(rawValue: X509_V_ERR_UNNESTED_RESOURCE)
        /// 47, "permitted subtree violation" (X509_V_ERR_PERMITTED_VIOLATION).
        public static let permittedViolation = Code(rawValue: X509_V_ERR_PERMITTED_VIOLATION)
        /// 48, "excluded subtree violation" (X509_V_ERR_EXCLUDED_VIOLATION).
        public static let excludedViolation = Code(rawValue: X509_V_ERR_EXCLUDED_VIOLATION)
        /// 49, "name constraints minimum and maximum not supported" (X509_V_ERR_SUBTREE_MINMAX).
        public static let subtreeMinmax = Code(rawValue: X509_V_ERR_SUBTREE_MINMAX)
        /// 50, "application verification failure" (X509_V_ERR_APPLICATION_VERIFICATION).
        public static let applicationVerification = Code(rawValue: X509_V_ERR_APPLICATION_VERIFICATION)
        /// 51, "unsupported name constraint type" (X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE).
        public static let unsupportedConstraintType = Code(rawValue: X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE)
        /// 52, "unsupported or invalid name constraint syntax" (X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX).
        public static let unsupportedConstraintSyntax = Code(rawValue: X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX)
        /// 53, "unsupported or invalid name syntax" (X509_V_ERR_UNSUPPORTED_NAME_SYNTAX).
        public static let unsupportedNameSyntax = Code(rawValue: X509_V_ERR_UNSUPPORTED_NAME_SYNTAX)
        /// 54, "CRL path validation error" (X509_V_ERR_CRL_PATH_VALIDATION_ERROR).
        public static let crlPathValidationError = Code(rawValue: X509_V_ERR_CRL_PATH_VALIDATION_ERROR)
        /// 55, "path loop" (X509_V_ERR_PATH_LOOP).
        public static let pathLoop = Code(rawValue: X509_V_ERR_PATH_LOOP)
        /// 56, "Suite B: certificate version invalid" (X509_V_ERR_SUITE_B_INVALID_VERSION).
        public static let suiteBInvalidVersion = Code(rawValue: X509_V_ERR_SUITE_B_INVALID_VERSION)
        /// 57, "Suite B: invalid public key algorithm" (X509_V_ERR_SUITE_B_INVALID_ALGORITHM).
        public static let suiteBInvalidAlgorithm = Code(rawValue: X509_V_ERR_SUITE_B_INVALID_ALGORITHM)
        /// 58, "Suite B: invalid ECC curve" (X509_V_ERR_SUITE_B_INVALID_CURVE).
        public static let suiteBInvalidCurve = Code(rawValue: X509_V_ERR_SUITE_B_INVALID_CURVE)
        /// 59, "Suite B: invalid signature algorithm" (X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM).
        public static let suiteBInvalidSignatureAlgorithm = Code(rawValue: X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM)
        /// 60, "Suite B: curve not allowed for this LOS" (X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED).
        public static let suiteBLOSNotAllowed = Code(rawValue: X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED)
        /// 61, "Suite B: cannot sign P-384 with P-256" (X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256).
        public static let suiteBCannotSignP384WithP256 = Code(rawValue: X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256)
        /// 62, "hostname mismatch" (X509_V_ERR_HOSTNAME_MISMATCH).
        public static let hostnameMismatch = Code(rawValue: X509_V_ERR_HOSTNAME_MISMATCH)
        /// 63, "email address mismatch" (X509_V_ERR_EMAIL_MISMATCH).
        public static let emailMismatch = Code(rawValue: X509_V_ERR_EMAIL_MISMATCH)
        /// 64, "IP address mismatch" (X509_V_ERR_IP_ADDRESS_MISMATCH).
        public static let ipAddressMismatch = Code(rawValue: X509_V_ERR_IP_ADDRESS_MISMATCH)
        /// 65, "no matching DANE TLSA records" (X509_V_ERR_DANE_NO_MATCH).
        public static let daneNoMatch = Code(rawValue: X509_V_ERR_DANE_NO_MATCH)
        /// 66, "EE certificate key too weak" (X509_V_ERR_EE_KEY_TOO_SMALL).
        public static let eeKeyTooSmall = Code(rawValue: X509_V_ERR_EE_KEY_TOO_SMALL)
        /// 67, "CA certificate key too weak" (X509_V_ERR_CA_KEY_TOO_SMALL).
        public static let caKeyTooSmall = Code(rawValue: X509_V_ERR_CA_KEY_TOO_SMALL)
        /// 68, "CA signature digest algorithm too weak" (X509_V_ERR_CA_MD_TOO_WEAK).
        public static let caMDTooWeak = Code(rawValue: X509_V_ERR_CA_MD_TOO_WEAK)
        /// 69, "invalid certificate verification context" (X509_V_ERR_INVALID_CALL).
        public static let invalidCall = Code(rawValue: X509_V_ERR_INVALID_CALL)
        /// 70, "issuer certificate lookup error" (X509_V_ERR_STORE_LOOKUP).
        public static let storeLookup = Code(rawValue: X509_V_ERR_STORE_LOOKUP)
        /// 71, "Certificate Transparency required, but no valid SCTs found" (X509_V_ERR_NO_VALID_SCTS).
        public static let noValidSCTs = Code(rawValue: X509_V_ERR_NO_VALID_SCTS)
        /// 72, "proxy subject name violation" (X509_V_ERR_PROXY_SUBJECT_NAME_VIOLATION).
        public static let proxySubjectNameViolation = Code(rawValue: X509_V_ERR_PROXY_SUBJECT_NAME_VIOLATION)
        /// 73, "OCSP verification needed" (X509_V_ERR_OCSP_VERIFY_NEEDED).
        public static let ocspVerifyNeeded = Code(rawValue: X509_V_ERR_OCSP_VERIFY_NEEDED)
        /// 74, "OCSP verification failed" (X509_V_ERR_OCSP_VERIFY_FAILED).
        public static let ocspVerifyFailed = Code(rawValue: X509_V_ERR_OCSP_VERIFY_FAILED)
        /// 75, "OCSP unknown cert" (X509_V_ERR_OCSP_CERT_UNKNOWN).
        public static let ocspCertUnknown = Code(rawValue: X509_V_ERR_OCSP_CERT_UNKNOWN)
        /// 76, "Cannot find certificate signature algorithm" (X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM).
        public static let unsupportedSignatureAlgorithm = Code(rawValue: X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM)
        /// 77, "subject signature algorithm and issuer public key algorithm mismatch" (X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH).
        public static let signatureAlgorithmMismatch = Code(rawValue: X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH)
        /// 78, "cert info signature and signature algorithm mismatch" (X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY).
        public static let signatureAlgorithmInconsistency = Code(rawValue: X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY)
        /// 79, "invalid CA certificate" (X509_V_ERR_INVALID_CA).
        /// A certificate that is not a CA (CA:FALSE, or no basicConstraints) was used as an issuer.
        /// 24 in OpenSSL 1.1.1, 79 from 3.0 on.
        public static let invalidCA = Code(rawValue: X509_V_ERR_INVALID_CA)
        /// 80, "Path length invalid for non-CA cert" (X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA).
        public static let pathLengthInvalidForNonCA = Code(rawValue: X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA)
        /// 81, "Path length given without key usage keyCertSign" (X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN).
        public static let pathLengthWithoutKeyUsageKeyCertSign = Code(rawValue: X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN)
        /// 82, "Key usage keyCertSign invalid for non-CA cert" (X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA).
        public static let keyUsageKeyCertSignInvalidForNonCA = Code(rawValue: X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA)
        /// 83, "Issuer name empty" (X509_V_ERR_ISSUER_NAME_EMPTY).
        public static let issuerNameEmpty = Code(rawValue: X509_V_ERR_ISSUER_NAME_EMPTY)
        /// 84, "Subject name empty" (X509_V_ERR_SUBJECT_NAME_EMPTY).
        public static let subjectNameEmpty = Code(rawValue: X509_V_ERR_SUBJECT_NAME_EMPTY)
        /// 85, "Missing Authority Key Identifier" (X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER).
        public static let missingAuthorityKeyIdentifier = Code(rawValue: X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER)
        /// 86, "Missing Subject Key Identifier" (X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER).
        public static let missingSubjectKeyIdentifier = Code(rawValue: X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER)
        /// 87, "Empty Subject Alternative Name extension" (X509_V_ERR_EMPTY_SUBJECT_ALT_NAME).
        public static let emptySubjectAltName = Code(rawValue: X509_V_ERR_EMPTY_SUBJECT_ALT_NAME)
        /// 88, "Subject empty and Subject Alt Name extension not critical" (X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL).
        public static let emptySubjectSANNotCritical = Code(rawValue: X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL)
        /// 89, "Basic Constraints of CA cert not marked critical" (X509_V_ERR_CA_BCONS_NOT_CRITICAL).
        public static let caBasicConstraintsNotCritical = Code(rawValue: X509_V_ERR_CA_BCONS_NOT_CRITICAL)
        /// 90, "Authority Key Identifier marked critical" (X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL).
        public static let authorityKeyIdentifierCritical = Code(rawValue: X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL)
        /// 91, "Subject Key Identifier marked critical" (X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL).
        public static let subjectKeyIdentifierCritical = Code(rawValue: X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL)
        /// 92, "CA cert does not include key usage extension" (X509_V_ERR_CA_CERT_MISSING_KEY_USAGE).
        public static let caCertMissingKeyUsage = Code(rawValue: X509_V_ERR_CA_CERT_MISSING_KEY_USAGE)
        /// 93, "Using cert extension requires at least X509v3" (X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3).
        public static let extensionsRequireVersion3 = Code(rawValue: X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3)
        /// 94, "Certificate public key has explicit ECC parameters" (X509_V_ERR_EC_KEY_EXPLICIT_PARAMS).
        public static let ecKeyExplicitParams = Code(rawValue: X509_V_ERR_EC_KEY_EXPLICIT_PARAMS)
    }

    /// The verify result.
    public let code: Code
    /// OpenSSL's text for `code`, as `X509_verify_cert_error_string(3)` gives it.
    public let message: String
    /// Where in the chain the error was found: 0 is the leaf, 1 its issuer, and so on.
    /// - SeeAlso: X509_STORE_CTX_get_error_depth(3)
    public let depth: Int
    /// The certificate at `depth`, when OpenSSL names one.
    /// - SeeAlso: X509_STORE_CTX_get_current_cert(3)
    public let certificate: X509?

    /// The Web-PKI rule that refused the chain (`VerificationPolicy.webPKI`),
    /// or nil when OpenSSL itself refused it. With a rule, `code` is
    /// `.applicationVerification` and `message` a sentence ending in the
    /// rule's id: "the leaf is a CA certificate (D1)".
    public let rule: WebPKIRule?

    /// Makes an error. The library creates these; public so callers and tests
    /// can build expected values. `message` defaults to OpenSSL's text for `code`.
    public init(code: Code, depth: Int, certificate: X509? = nil, message: String? = nil, rule: WebPKIRule? = nil) {
        self.code = code
        self.depth = depth
        self.certificate = certificate
        self.message = message ?? code.message
        self.rule = rule
    }

    /// A refusal by a Web-PKI rule: code `.applicationVerification`, and
    /// `sentence` with the rule's id appended ("the leaf is a CA certificate (D1)").
    static func refusal(_ rule: WebPKIRule, depth: Int, certificate: X509?, _ sentence: String) -> X509VerificationError {
        X509VerificationError(
            code: .applicationVerification, depth: depth, certificate: certificate,
            message: "\(sentence) (\(rule.rawValue))", rule: rule)
    }

    /// "certificate verify failed: certificate has expired (10) at depth 0 [subject …]";
    /// for a Web-PKI rule, "certificate verify failed: the leaf is a CA certificate (D1) at depth 0 […]".
    public var description: String {
        var text =
            rule == nil
            ? "certificate verify failed: \(message) (\(code.rawValue)) at depth \(depth)"
            : "certificate verify failed: \(message) at depth \(depth)"
        if let certificate, let subject = try? certificate.subject.oneLineString {
            text += " [\(subject)]"
        }
        return text
    }
}

extension X509VerificationError {
    /// The error recorded in a store context after a failed verification.
    init(store: OpaquePointer) {
        let info = PerCertificateVerification.info(of: store)
        self.init(code: info.error, depth: info.depth, certificate: info.certificate)
    }
}
