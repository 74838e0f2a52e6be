import Foundation
internal import COpenSSL

/// One extension of a certificate, request or CRL: its identifier, its
/// critical flag and its DER value, with OpenSSL's text for it.
public struct X509Extension: Sendable, Hashable {
    /// The extension's OID in dotted form ("2.5.29.17").
    public let oid: String
    /// OpenSSL's short name ("subjectAltName"), or nil for an extension OpenSSL does not know.
    public let shortName: String?
    /// OpenSSL's long name ("X509v3 Subject Alternative Name"), or nil.
    public let longName: String?
    /// Whether the extension is marked critical.
    public let isCritical: Bool
    /// The DER bytes inside the extension's OCTET STRING (extnValue).
    public let value: [UInt8]

    /// Makes an extension from its parts (to add to a certificate or request
    /// being built): `oid` is a dotted OID or a name OpenSSL knows.
    public init(oid: String, critical: Bool, value: [UInt8]) {
        let dotted = ASN1Object.canonicalOID(oid)
        self.oid = dotted
        self.isCritical = critical
        self.value = value
        let object = OBJ_txt2obj(dotted, 1)
        defer { if let object { ASN1_OBJECT_free(object) } }
        shortName = ASN1.shortName(object)
        longName = ASN1.longName(object)
        ErrorQueue.clear()
    }

    /// Reads one X509_EXTENSION.
    init(_ extensionPointer: OpaquePointer) {
        let object = X509_EXTENSION_get_object(extensionPointer)
        oid = ASN1.oid(object)
        shortName = ASN1.shortName(object)
        longName = ASN1.longName(object)
        isCritical = X509_EXTENSION_get_critical(extensionPointer) == 1
        value = ASN1.bytes(X509_EXTENSION_get_data(extensionPointer))
    }

    /// What `openssl x509 -text` prints for this extension's value; an
    /// extension OpenSSL cannot decode is shown as a hex dump.
    /// - SeeAlso: X509V3_EXT_print(3)
    public var text: String {
        (try? withOpenSSLExtension { ext in
            try MemoryBIO.collectString { bio in
                if X509V3_EXT_print(bio, ext, cossl_X509V3_EXT_DUMP_UNKNOWN(), 0) != 1 {
                    ErrorQueue.clear()
                    _ = ASN1_STRING_print(bio, X509_EXTENSION_get_data(ext))
                }
                ErrorQueue.clear()
            }
        }) ?? Hex.encode(value)
    }

    /// Runs `body` with a temporary X509_EXTENSION holding these parts.
    func withOpenSSLExtension<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        let object = try ErrorQueue.call("extension OID '\(oid)'") { OBJ_txt2obj(oid, 1) }
        defer { ASN1_OBJECT_free(object) }
        let data = try ErrorQueue.call("make extension value") { ASN1_OCTET_STRING_new() }
        defer { ASN1_OCTET_STRING_free(data) }
        try ErrorQueue.check("make extension value") { ASN1_OCTET_STRING_set(data, value, Int32(value.count)) }
        let ext = try ErrorQueue.call("make extension \(oid)") {
            X509_EXTENSION_create_by_OBJ(nil, object, isCritical ? 1 : 0, data)
        }
        defer { X509_EXTENSION_free(ext) }
        return try body(ext)
    }

    // MARK: Well-known OIDs

    /// subjectAltName (RFC 5280 §4.2.1.6).
    public static let subjectAlternativeNameOID = "2.5.29.17"
    /// issuerAltName (RFC 5280 §4.2.1.7).
    public static let issuerAlternativeNameOID = "2.5.29.18"
    /// basicConstraints (RFC 5280 §4.2.1.9).
    public static let basicConstraintsOID = "2.5.29.19"
    /// keyUsage (RFC 5280 §4.2.1.3).
    public static let keyUsageOID = "2.5.29.15"
    /// extKeyUsage (RFC 5280 §4.2.1.12).
    public static let extendedKeyUsageOID = "2.5.29.37"
    /// subjectKeyIdentifier (RFC 5280 §4.2.1.2).
    public static let subjectKeyIdentifierOID = "2.5.29.14"
    /// authorityKeyIdentifier (RFC 5280 §4.2.1.1).
    public static let authorityKeyIdentifierOID = "2.5.29.35"
    /// cRLDistributionPoints (RFC 5280 §4.2.1.13).
    public static let crlDistributionPointsOID = "2.5.29.31"
    /// authorityInfoAccess (RFC 5280 §4.2.2.1).
    public static let authorityInfoAccessOID = "1.3.6.1.5.5.7.1.1"
    /// nameConstraints (RFC 5280 §4.2.1.10).
    public static let nameConstraintsOID = "2.5.29.30"

    // MARK: Typed decoding

    /// Decodes a DER value with a `d2i_*` function into a temporary OpenSSL
    /// structure, reads it with `read`, and frees it.
    fileprivate func decode<T, R>(
        _ what: String,
        _ d2i: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> T?,
        free: (T) -> Void,
        read: (T) throws -> R
    ) throws -> R {
        let operation = "decode \(what) extension"
        return try value.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                throw OpenSSLError(operation: operation, detail: "empty value")
            }
            var cursor: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
            let decoded = try ErrorQueue.call(operation) { d2i(&cursor, buffer.count) }
            defer { free(decoded) }
            return try read(decoded)
        }
    }

    /// The value decoded as GeneralNames (subjectAltName, issuerAltName).
    /// - Throws: `OpenSSLError` when the value is malformed.
    public func generalNames() throws -> [GeneralName] {
        try decode("alternative name", { d2i_GENERAL_NAMES(nil, $0, $1) }, free: { GENERAL_NAMES_free($0) }) {
            GeneralName.list($0)
        }
    }

    /// The value decoded as basicConstraints.
    public func basicConstraints() throws -> BasicConstraints {
        try decode("basicConstraints", { d2i_BASIC_CONSTRAINTS(nil, $0, $1) }, free: { BASIC_CONSTRAINTS_free($0) }) { bc in
            let pathLength = bc.pointee.pathlen.map { ASN1.integer($0) }
            let length = try pathLength.map { value -> Int in
                guard !value.isNegative, let int = value.int64Value, int <= Int64(Int32.max) else {
                    throw OpenSSLError(operation: "decode basicConstraints extension", detail: "path length out of range")
                }
                return Int(int)
            }
            return BasicConstraints(isCA: bc.pointee.ca != 0, pathLength: length)
        }
    }

    /// The value decoded as keyUsage.
    public func keyUsage() throws -> KeyUsage {
        try decode("keyUsage", { d2i_ASN1_BIT_STRING(nil, $0, $1) }, free: { ASN1_BIT_STRING_free($0) }) { bits in
            var usage = KeyUsage()
            for bit in 0..<9 where ASN1_BIT_STRING_get_bit(bits, Int32(bit)) == 1 {
                usage.insert(KeyUsage(rawValue: 1 << UInt16(bit)))
            }
            return usage
        }
    }

    /// The value decoded as extendedKeyUsage, in order.
    public func extendedKeyUsage() throws -> [ExtendedKeyUsage] {
        try decode("extendedKeyUsage", { d2i_EXTENDED_KEY_USAGE(nil, $0, $1) }, free: { EXTENDED_KEY_USAGE_free($0) }) {
            ExtendedKeyUsage.list(fromStack: $0)
        }
    }

    /// The value decoded as subjectKeyIdentifier.
    public func subjectKeyIdentifier() throws -> [UInt8] {
        try decode("subjectKeyIdentifier", { d2i_ASN1_OCTET_STRING(nil, $0, $1) }, free: { ASN1_OCTET_STRING_free($0) }) {
            ASN1.bytes($0)
        }
    }

    /// The value decoded as authorityKeyIdentifier.
    public func authorityKeyIdentifier() throws -> AuthorityKeyIdentifier {
        try decode("authorityKeyIdentifier", { d2i_AUTHORITY_KEYID(nil, $0, $1) }, free: { AUTHORITY_KEYID_free($0) }) { akid in
            AuthorityKeyIdentifier(
                keyIdentifier: akid.pointee.keyid.map { ASN1.bytes($0) },
                issuer: akid.pointee.issuer.map { GeneralName.list($0) },
                serialNumber: akid.pointee.serial.map { ASN1.integer($0) }
            )
        }
    }

    /// The value decoded as cRLDistributionPoints.
    public func crlDistributionPoints() throws -> [CRLDistributionPoint] {
        try decode("cRLDistributionPoints", { d2i_CRL_DIST_POINTS(nil, $0, $1) }, free: { CRL_DIST_POINTS_free($0) }) { stack in
            (0..<max(cossl_sk_DIST_POINT_num(stack), 0)).compactMap { index in
                cossl_sk_DIST_POINT_value(stack, index).map { point in
                    var fullName: [GeneralName] = []
                    var relativeName: X509Name?
                    if let name = point.pointee.distpoint {
                        if name.pointee.type == 0 {
                            fullName = GeneralName.list(name.pointee.name.fullname)
                        } else {
                            relativeName = CRLDistributionPoint.relativeName(name)
                        }
                    }
                    let reasons = point.pointee.reasons.map { bits in
                        (0..<9).filter { ASN1_BIT_STRING_get_bit(bits, Int32($0)) == 1 }
                    }
                    return CRLDistributionPoint(
                        fullName: fullName, relativeName: relativeName,
                        reasonBits: reasons, crlIssuer: point.pointee.CRLissuer.map { GeneralName.list($0) }
                    )
                }
            }
        }
    }

    /// The value decoded as authorityInfoAccess, in order.
    public func authorityInfoAccess() throws -> [AccessDescription] {
        try decode(
            "authorityInfoAccess", { d2i_AUTHORITY_INFO_ACCESS(nil, $0, $1) },
            free: { AUTHORITY_INFO_ACCESS_free($0) }
        ) { stack in
            (0..<max(cossl_sk_ACCESS_DESCRIPTION_num(stack), 0)).compactMap { index in
                guard let description = cossl_sk_ACCESS_DESCRIPTION_value(stack, index),
                    let location = description.pointee.location
                else { return nil }
                return AccessDescription(
                    method: ASN1.oid(description.pointee.method),
                    location: GeneralName(UnsafePointer(location)))
            }
        }
    }
}

/// The basicConstraints extension.
public struct BasicConstraints: Sendable, Hashable {
    /// Whether the subject is a CA.
    public let isCA: Bool
    /// The most intermediate CAs that may follow this one in a path, or nil for no limit.
    public let pathLength: Int?

    /// Makes the extension's value.
    /// - Parameters:
    ///   - isCA: Whether the subject is a CA.
    ///   - pathLength: The most intermediate CAs that may follow it in a path; nil for no limit.
    public init(isCA: Bool, pathLength: Int? = nil) {
        self.isCA = isCA
        self.pathLength = pathLength
    }
}

/// The keyUsage extension's bits (RFC 5280 §4.2.1.3).
public struct KeyUsage: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Signatures other than on certificates and CRLs (TLS handshakes, for one).
    public static let digitalSignature = KeyUsage(rawValue: 1 << 0)
    /// Signatures meant to be binding (RFC 5280 also calls it contentCommitment).
    public static let nonRepudiation = KeyUsage(rawValue: 1 << 1)
    /// Encrypting keys (RSA key transport, as in TLS 1.2's RSA key exchange).
    public static let keyEncipherment = KeyUsage(rawValue: 1 << 2)
    /// Encrypting data directly with the public key.
    public static let dataEncipherment = KeyUsage(rawValue: 1 << 3)
    /// Key agreement (static (EC)DH keys).
    public static let keyAgreement = KeyUsage(rawValue: 1 << 4)
    /// Signing certificates: a CA's key.
    public static let keyCertSign = KeyUsage(rawValue: 1 << 5)
    /// Signing CRLs.
    public static let cRLSign = KeyUsage(rawValue: 1 << 6)
    /// With `keyAgreement`: the agreed key only encrypts.
    public static let encipherOnly = KeyUsage(rawValue: 1 << 7)
    /// With `keyAgreement`: the agreed key only decrypts.
    public static let decipherOnly = KeyUsage(rawValue: 1 << 8)

    private static let names = [
        "Digital Signature", "Non Repudiation", "Key Encipherment", "Data Encipherment",
        "Key Agreement", "Certificate Sign", "CRL Sign", "Encipher Only", "Decipher Only",
    ]

    /// The set bits with the names `openssl x509 -text` prints, in bit order.
    public var names: [String] {
        (0..<9).filter { rawValue & (1 << UInt16($0)) != 0 }.map { KeyUsage.names[$0] }
    }

    public var description: String { names.joined(separator: ", ") }
}

/// One purpose in an extendedKeyUsage extension.
public struct ExtendedKeyUsage: Sendable, Hashable, CustomStringConvertible {
    /// The purpose OID in dotted form.
    public let oid: String

    /// Names a purpose by dotted OID or a name OpenSSL knows ("serverAuth").
    public init(oid: String) { self.oid = ASN1Object.canonicalOID(oid) }

    /// OpenSSL's long name ("TLS Web Server Authentication"), or nil when unknown.
    public var name: String? {
        let object = OBJ_txt2obj(oid, 1)
        defer { if let object { ASN1_OBJECT_free(object) } }
        ErrorQueue.clear()
        return ASN1.longName(object)
    }

    /// OpenSSL's short name ("serverAuth"), or nil when unknown.
    public var shortName: String? {
        let object = OBJ_txt2obj(oid, 1)
        defer { if let object { ASN1_OBJECT_free(object) } }
        ErrorQueue.clear()
        return ASN1.shortName(object)
    }

    public var description: String { name ?? oid }

    /// TLS server authentication.
    public static let serverAuth = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.1")
    /// TLS client authentication.
    public static let clientAuth = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.2")
    /// Signing code.
    public static let codeSigning = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.3")
    /// S/MIME email protection.
    public static let emailProtection = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.4")
    /// Time-stamping (RFC 3161).
    public static let timeStamping = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.8")
    /// Signing OCSP responses on a CA's behalf.
    public static let ocspSigning = ExtendedKeyUsage(oid: "1.3.6.1.5.5.7.3.9")
    /// Any purpose (RFC 5280's anyExtendedKeyUsage).
    public static let anyExtendedKeyUsage = ExtendedKeyUsage(oid: "2.5.29.37.0")

    /// The usages of a STACK_OF(ASN1_OBJECT) someone else owns, in order.
    static func list(fromStack stack: OpaquePointer) -> [ExtendedKeyUsage] {
        (0..<max(cossl_sk_ASN1_OBJECT_num(stack), 0)).map { index in
            ExtendedKeyUsage(oid: ASN1.oid(cossl_sk_ASN1_OBJECT_value(stack, index)))
        }
    }
}

/// The authorityKeyIdentifier extension.
public struct AuthorityKeyIdentifier: Sendable, Hashable {
    /// The issuer's key identifier, if present.
    public let keyIdentifier: [UInt8]?
    /// The issuer's issuer name(s), if present.
    public let issuer: [GeneralName]?
    /// The issuer certificate's serial number, if present.
    public let serialNumber: BigEndianInteger?

    /// Makes a value to encode with `X509Extension.authorityKeyIdentifier(_:)`.
    public init(keyIdentifier: [UInt8]?, issuer: [GeneralName]? = nil, serialNumber: BigEndianInteger? = nil) {
        self.keyIdentifier = keyIdentifier
        self.issuer = issuer
        self.serialNumber = serialNumber
    }
}

/// One entry of a cRLDistributionPoints extension.
public struct CRLDistributionPoint: Sendable, Hashable {
    /// Where the CRL is (usually URIs).
    public let fullName: [GeneralName]
    /// A name relative to the CRL issuer, when the point is given that way.
    public let relativeName: X509Name?
    /// The revocation reasons the point covers (bit numbers of ReasonFlags), or nil for all.
    public let reasonBits: [Int]?
    /// Who issues the CRL, when not the certificate's issuer.
    public let crlIssuer: [GeneralName]?

    /// Makes a point to encode with `X509Extension.crlDistributionPoints(_:critical:)`:
    /// usually just `fullName: [.uri("http://…/ca.crl")]`.
    public init(
        fullName: [GeneralName], relativeName: X509Name? = nil,
        reasonBits: [Int]? = nil, crlIssuer: [GeneralName]? = nil
    ) {
        self.fullName = fullName
        self.relativeName = relativeName
        self.reasonBits = reasonBits
        self.crlIssuer = crlIssuer
    }

    /// The URIs in `fullName`.
    public var urls: [String] {
        fullName.compactMap { if case .uri(let url) = $0 { return url } else { return nil } }
    }

    /// The nameRelativeToCRLIssuer of a point, as a name of its own.
    ///
    /// d2i leaves `dpname` NULL: OpenSSL fills it only when told the CRL
    /// issuer (`DIST_POINT_set_dpname(3)`, which appends the relative RDN to
    /// that name). Given an empty issuer name it is the relative RDN alone.
    /// The structure is a temporary decoded copy, so setting it is harmless.
    static func relativeName(_ pointName: UnsafeMutablePointer<DIST_POINT_NAME>) -> X509Name? {
        guard let empty = X509_NAME_new() else {
            ErrorQueue.clear()
            return nil
        }
        defer { X509_NAME_free(empty) }
        guard DIST_POINT_set_dpname(pointName, empty) == 1, let dpname = pointName.pointee.dpname else {
            ErrorQueue.clear()
            return nil
        }
        return try? X509Name(copying: dpname)
    }
}

/// One entry of an authorityInfoAccess extension.
public struct AccessDescription: Sendable, Hashable {
    /// The access method OID ("1.3.6.1.5.5.7.48.1" OCSP, "1.3.6.1.5.5.7.48.2" caIssuers).
    public let method: String
    /// Where to go.
    public let location: GeneralName

    /// Makes an entry to encode with `X509Extension.authorityInfoAccess(_:)`.
    public init(method: String, location: GeneralName) {
        self.method = ASN1Object.canonicalOID(method)
        self.location = location
    }

    /// An OCSP responder at `url`.
    public static func ocsp(_ url: String) -> AccessDescription {
        AccessDescription(method: ocspMethod, location: .uri(url))
    }

    /// The issuing CA's certificate at `url`.
    public static func caIssuers(_ url: String) -> AccessDescription {
        AccessDescription(method: caIssuersMethod, location: .uri(url))
    }

    /// The access method of an OCSP responder (id-ad-ocsp).
    public static let ocspMethod = "1.3.6.1.5.5.7.48.1"
    /// The access method of the issuing CA's certificate (id-ad-caIssuers).
    public static let caIssuersMethod = "1.3.6.1.5.5.7.48.2"
}

/// Typed lookups over a list of extensions (a certificate's, a request's or a CRL's).
extension Array where Element == X509Extension {
    /// The extension with this OID, or nil when absent.
    /// - Throws: `OpenSSLError` when it occurs more than once (RFC 5280 forbids that).
    public func unique(_ oid: String) throws -> X509Extension? {
        let matches = filter { $0.oid == oid }
        guard matches.count <= 1 else {
            throw OpenSSLError(operation: "find extension \(oid)", detail: "the extension occurs \(matches.count) times")
        }
        return matches.first
    }
}
