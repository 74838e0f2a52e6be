import Foundation
internal import COpenSSL

/// One entry of a certificate revocation list: which certificate (by
/// serial number), since when, and why.
public struct Revoked: Sendable, Hashable {
    /// Why a certificate was revoked: RFC 5280 §5.3.1 `CRLReason`.
    ///
    /// A struct with static members rather than an enum, so a code this
    /// library does not list still reads as a value.
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        /// The CRLReason code (0…10; 7 is unused).
        public let rawValue: Int
        /// Makes a reason from its code (any value; `name` is nil for codes RFC 5280 does not define).
        /// - SeeAlso: X509_REVOKED_get_ext_d2i(3) with NID_crl_reason
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// 0: no reason given.
        public static let unspecified = Reason(rawValue: 0)
        /// 1: the subject's private key was compromised.
        public static let keyCompromise = Reason(rawValue: 1)
        /// 2: the CA's key was compromised.
        public static let cACompromise = Reason(rawValue: 2)
        /// 3: the subject's name or other information changed.
        public static let affiliationChanged = Reason(rawValue: 3)
        /// 4: the certificate was replaced.
        public static let superseded = Reason(rawValue: 4)
        /// 5: the certificate is no longer needed.
        public static let cessationOfOperation = Reason(rawValue: 5)
        /// 6: temporarily suspended.
        public static let certificateHold = Reason(rawValue: 6)
        /// 8: a hold is lifted (delta CRLs only).
        public static let removeFromCRL = Reason(rawValue: 8)
        /// 9: a privilege in the certificate was withdrawn.
        public static let privilegeWithdrawn = Reason(rawValue: 9)
        /// 10: an attribute authority was compromised.
        public static let aACompromise = Reason(rawValue: 10)

        /// Every reason RFC 5280 defines, in code order.
        public static let all: [Reason] = [
            .unspecified, .keyCompromise, .cACompromise, .affiliationChanged, .superseded,
            .cessationOfOperation, .certificateHold, .removeFromCRL, .privilegeWithdrawn, .aACompromise,
        ]

        /// The RFC 5280 name ("keyCompromise"), or nil for a code it does not define.
        public var name: String? {
            let names = [
                0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
                4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL",
                9: "privilegeWithdrawn", 10: "aACompromise",
            ]
            return names[rawValue]
        }

        /// The name, or `reason(N)` for an unknown code.
        public var description: String { name ?? "reason(\(rawValue))" }
    }

    /// The revoked certificate's serial number.
    public var serialNumber: BigEndianInteger
    /// When it was revoked (whole seconds).
    public var revocationDate: Date
    /// Why, or nil when the entry carries no reasonCode extension.
    public var reason: Reason?
    /// Other entry extensions (invalidityDate, certificateIssuer, …). When
    /// read from a CRL this lists every entry extension, reasonCode included;
    /// when building, a reasonCode here as well as in `reason` is an error.
    public var extensions: [X509Extension]

    /// Makes an entry to put in a CRL with `CRLBuilder`.
    /// - SeeAlso: X509_REVOKED_new(3), called by `CRLBuilder.sign`
    public init(
        serialNumber: BigEndianInteger, revocationDate: Date, reason: Reason? = nil,
        extensions: [X509Extension] = []
    ) {
        self.serialNumber = serialNumber
        self.revocationDate = revocationDate
        self.reason = reason
        self.extensions = extensions
    }

    /// Reads one X509_REVOKED.
    /// - Throws: `OpenSSLError` for a malformed date or reasonCode.
    init(_ entry: OpaquePointer) throws {
        serialNumber = ASN1.integer(X509_REVOKED_get0_serialNumber(entry))
        revocationDate = try ASN1.date(X509_REVOKED_get0_revocationDate(entry), "read revocation date")
        let count = X509_REVOKED_get_ext_count(entry)
        extensions = (0..<max(count, 0)).compactMap { index in
            X509_REVOKED_get_ext(entry, index).map { X509Extension($0) }
        }
        reason = try extensions.unique(X509Extension.reasonCodeOID).map { try $0.reasonCode() }
    }
}

extension X509Extension {
    /// The reasonCode extension of a CRL entry (OID 2.5.29.21), never critical.
    /// - Throws: `OpenSSLError` for a negative code.
    /// - SeeAlso: X509_REVOKED_add_ext(3)
    public static func reasonCode(_ reason: Revoked.Reason) throws -> X509Extension {
        guard reason.rawValue >= 0 else {
            throw OpenSSLError(operation: "encode reasonCode", detail: "reason code \(reason.rawValue) is negative")
        }
        let content = DER.integerContent(BigEndianInteger(Int64(reason.rawValue)))
        return X509Extension(oid: reasonCodeOID, critical: false, value: DER.tlv(DER.enumeratedTag, content))
    }

    /// The value decoded as a CRL entry's reasonCode (an ENUMERATED).
    /// - Throws: `OpenSSLError` when it is not a small non-negative ENUMERATED.
    /// - SeeAlso: X509_REVOKED_get_ext_d2i(3) with NID_crl_reason
    public func reasonCode() throws -> Revoked.Reason {
        guard let elements = DER.elements(value[...]), elements.count == 1, elements[0].tag == DER.enumeratedTag,
            let code = DER.integerValue(elements[0].content), !code.isNegative,
            let small = code.int64Value, small <= 0xffff
        else {
            throw OpenSSLError(operation: "decode reasonCode extension", detail: "not a valid CRLReason")
        }
        return Revoked.Reason(rawValue: Int(small))
    }

    /// The value decoded as a CRL's cRLNumber (an INTEGER).
    /// - Throws: `OpenSSLError` when it is not an INTEGER.
    /// - SeeAlso: X509_CRL_get_ext_d2i(3) with NID_crl_number
    public func crlNumber() throws -> BigEndianInteger {
        guard let elements = DER.elements(value[...]), elements.count == 1, elements[0].tag == DER.integerTag,
            let number = DER.integerValue(elements[0].content)
        else {
            throw OpenSSLError(operation: "decode cRLNumber extension", detail: "not an INTEGER")
        }
        return number
    }
}
