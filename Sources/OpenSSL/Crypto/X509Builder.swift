import Foundation
internal import COpenSSL

/// Builds and signs an X.509 certificate.
///
/// Set the fields, add extensions (typed ones with the `add…` methods, any
/// other with `addExtension(_:)`), then `sign(with:digest:rsaPadding:issuer:)`.
/// A builder is a value: copy it to make several similar certificates.
///
/// ```swift
/// var builder = X509Builder(subject: try X509Name([("CN", "localhost")]), publicKey: leafKey)
/// try builder.addSubjectAlternativeNames([.dnsName("localhost"), try .ipAddress("127.0.0.1")])
/// builder.addSubjectKeyIdentifier()
/// builder.addAuthorityKeyIdentifier()
/// let certificate = try builder.sign(with: caKey, issuer: caCertificate)
/// ```
public struct X509Builder: Sendable {
    /// The version as written in certificates: 1, 2 or 3 (the default; extensions need 3).
    public var version: Int = 3
    /// The serial number, of any length; nil (the default) means a random
    /// positive 128-bit number chosen when signing.
    public var serialNumber: BigEndianInteger?
    /// The subject; nil means an empty name (then the subjectAltName should be critical).
    public var subject: X509Name?
    /// The issuer name; nil means the issuer certificate's subject when
    /// signing with one, or `subject` for a self-signed certificate.
    public var issuer: X509Name?
    /// The start of the validity period (whole seconds; fractions are dropped).
    public var notBefore: Date
    /// The end of the validity period; it must not be before `notBefore`.
    public var notAfter: Date
    /// The key being certified; nil means the signing key (a self-signed certificate).
    public var publicKey: PKey?

    /// Extensions in the order they were added. Key identifiers wait for
    /// signing, when the keys are known.
    private var pending: [Pending] = []

    private enum Pending: Sendable {
        case ready(X509Extension)
        case subjectKeyIdentifier
        case authorityKeyIdentifier(includeIssuerNameAndSerial: Bool)
    }

    /// Starts a certificate. Everything can also be set afterwards.
    /// - Parameters:
    ///   - subject: The subject's name; nil leaves it empty.
    ///   - publicKey: The key to certify; nil until set (``sign(with:digest:rsaPadding:issuer:)`` needs one).
    ///   - notBefore: default now.
    ///   - notAfter: default 365 days after `notBefore`.
    /// - SeeAlso: X509_new(3), called by `sign`
    public init(subject: X509Name? = nil, publicKey: PKey? = nil, notBefore: Date = Date(), notAfter: Date? = nil) {
        self.subject = subject
        self.publicKey = publicKey
        self.notBefore = notBefore
        self.notAfter = notAfter ?? notBefore.addingTimeInterval(365 * 86_400)
    }

    /// Starts a certificate for a signing request: its subject and public
    /// key, and (when `copyExtensions`) the extensions it requests, in order.
    /// Review what a request asks for before certifying it.
    /// - Throws: `OpenSSLError` when the request's self-signature does not
    ///   verify, or its extensions or key cannot be read.
    /// - SeeAlso: X509_REQ_verify(3), X509_REQ_get_extensions(3)
    public init(request: X509Request, copyExtensions: Bool = false, notBefore: Date = Date(), notAfter: Date? = nil) throws {
        guard request.isSignatureValid else {
            throw OpenSSLError(operation: "start certificate from request", detail: "the request's signature does not verify")
        }
        self.init(subject: try request.subject, publicKey: try request.publicKey, notBefore: notBefore, notAfter: notAfter)
        if copyExtensions {
            pending = try request.extensions.map { .ready($0) }
        }
    }

    /// The OIDs of the extensions added so far, in order (the key
    /// identifiers that are computed when signing included).
    public var extensionOIDs: [String] {
        pending.map {
            switch $0 {
            case .ready(let ext): return ext.oid
            case .subjectKeyIdentifier: return X509Extension.subjectKeyIdentifierOID
            case .authorityKeyIdentifier: return X509Extension.authorityKeyIdentifierOID
            }
        }
    }

    // MARK: Extensions

    /// Adds an extension as it is: any OID, DER value and critical flag.
    /// Adding two extensions with the same OID makes `sign` throw.
    /// - SeeAlso: X509_add_ext(3)
    public mutating func addExtension(_ ext: X509Extension) {
        pending.append(.ready(ext))
    }

    /// Adds a subjectAltName listing `names` in order (every `GeneralName` kind; NUL bytes kept).
    /// - Throws: as `X509Extension.subjectAlternativeName(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addSubjectAlternativeNames(_ names: [GeneralName], critical: Bool = false) throws {
        addExtension(try .subjectAlternativeName(names, critical: critical))
    }

    /// Adds basicConstraints (critical by default).
    /// - Throws: as `X509Extension.basicConstraints(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addBasicConstraints(isCA: Bool, pathLength: Int? = nil, critical: Bool = true) throws {
        addExtension(try .basicConstraints(BasicConstraints(isCA: isCA, pathLength: pathLength), critical: critical))
    }

    /// Adds keyUsage (critical by default).
    /// - Throws: as `X509Extension.keyUsage(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addKeyUsage(_ usage: KeyUsage, critical: Bool = true) throws {
        addExtension(try .keyUsage(usage, critical: critical))
    }

    /// Adds extendedKeyUsage with `purposes` in order.
    /// - Throws: as `X509Extension.extendedKeyUsage(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addExtendedKeyUsage(_ purposes: [ExtendedKeyUsage], critical: Bool = false) throws {
        addExtension(try .extendedKeyUsage(purposes, critical: critical))
    }

    /// Adds a subjectKeyIdentifier computed when signing from the certified
    /// public key (SHA-1 of its bits, RFC 5280 method 1; OpenSSL's `hash`).
    /// - SeeAlso: X509_pubkey_digest(3), which computes the same value
    public mutating func addSubjectKeyIdentifier() {
        pending.append(.subjectKeyIdentifier)
    }

    /// Adds an authorityKeyIdentifier computed when signing: the issuer
    /// certificate's subjectKeyIdentifier, or the hash of the issuer's key when
    /// it has none (for a self-signed certificate, of the signing key).
    /// - Parameter includeIssuerNameAndSerial: also record the issuer's
    ///   issuer name and serial number (OpenSSL's `issuer:always`).
    /// - SeeAlso: X509_get0_subject_key_id(3)
    public mutating func addAuthorityKeyIdentifier(includeIssuerNameAndSerial: Bool = false) {
        pending.append(.authorityKeyIdentifier(includeIssuerNameAndSerial: includeIssuerNameAndSerial))
    }

    /// Adds nameConstraints (critical by default).
    /// - Throws: as `X509Extension.nameConstraints(permitted:excluded:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addNameConstraints(
        permitted: [GeneralName], excluded: [GeneralName] = [],
        critical: Bool = true
    ) throws {
        addExtension(try .nameConstraints(permitted: permitted, excluded: excluded, critical: critical))
    }

    /// Adds cRLDistributionPoints.
    /// - Throws: as `X509Extension.crlDistributionPoints(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addCRLDistributionPoints(_ points: [CRLDistributionPoint]) throws {
        addExtension(try .crlDistributionPoints(points))
    }

    /// Adds cRLDistributionPoints with one point per URL.
    /// - Throws: as `X509Extension.crlDistributionPoints(_:critical:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addCRLDistributionPoints(urls: [String]) throws {
        try addCRLDistributionPoints(urls.map { CRLDistributionPoint(fullName: [.uri($0)]) })
    }

    /// Adds authorityInfoAccess with the entries in order.
    /// - Throws: as `X509Extension.authorityInfoAccess(_:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addAuthorityInformationAccess(_ entries: [AccessDescription]) throws {
        addExtension(try .authorityInfoAccess(entries))
    }

    /// Adds authorityInfoAccess: OCSP responders first, then CA issuer URLs.
    /// - Throws: as `X509Extension.authorityInfoAccess(_:)`.
    /// - SeeAlso: X509_add_ext(3), which adds it when signing
    public mutating func addAuthorityInformationAccess(ocsp: [String] = [], caIssuers: [String] = []) throws {
        try addAuthorityInformationAccess(ocsp.map { .ocsp($0) } + caIssuers.map { .caIssuers($0) })
    }

    // MARK: Signing

    /// Makes the certificate and signs it.
    ///
    /// - Parameters:
    ///   - key: the signing private key: the issuer's, or the subject's own for a self-signed certificate.
    ///   - digest: the hash to sign with; nil means SHA-256 for RSA and EC.
    ///     Ed25519 and Ed448 take none, and giving one is an error.
    ///   - rsaPadding: PKCS#1 v1.5 (default) or PSS, for RSA keys only.
    ///   - issuerCertificate: the issuer's certificate; nil for a self-signed certificate.
    /// - Returns: the certificate, re-read from its DER encoding.
    /// - Throws: `OpenSSLError` with a `detail` saying why for: a public-only
    ///   key, an unknown digest, a digest with Ed25519/Ed448, PSS with a
    ///   non-RSA key, `notAfter` before `notBefore`, a version outside 1…3 or
    ///   extensions on a version 1 or 2 certificate, the same extension twice,
    ///   a signing key that does not belong to `issuer`, or an issuer given
    ///   without a `publicKey` to certify; with OpenSSL's reasons for anything OpenSSL refuses.
    /// - SeeAlso: X509_sign_ctx(3), X509_set_pubkey(3), X509_add_ext(3), X509_set1_notBefore(3)
    public func sign(
        with key: PKey, digest: MessageDigest? = nil, rsaPadding: RSASignaturePadding = .pkcs1v15,
        issuer issuerCertificate: X509? = nil
    ) throws -> X509 {
        let operation = "build certificate"
        guard (1...3).contains(version) else {
            throw OpenSSLError(operation: operation, detail: "version \(version) is not 1, 2 or 3")
        }
        guard version == 3 || pending.isEmpty else {
            throw OpenSSLError(operation: operation, detail: "extensions need a version 3 certificate")
        }
        guard notAfter >= notBefore else {
            throw OpenSSLError(operation: operation, detail: "notAfter (\(notAfter)) is before notBefore (\(notBefore))")
        }
        if let issuerCertificate {
            guard X509_check_private_key(issuerCertificate.raw, key.raw) == 1 else {
                ErrorQueue.clear()
                throw OpenSSLError(operation: operation, detail: "the signing key does not belong to the issuer certificate")
            }
            ErrorQueue.clear()
        }
        guard let certifiedKey = publicKey ?? (issuerCertificate == nil ? key : nil) else {
            throw OpenSSLError(
                operation: operation, detail: "no publicKey to certify (only a self-signed certificate uses the signing key)")
        }
        let serial = try serialNumber ?? ASN1.randomSerial()
        let subjectName = try subject ?? X509Name([])
        let issuerName = try issuer ?? issuerCertificate?.subject ?? subjectName
        let extensions = try resolveExtensions(
            certifiedKey: certifiedKey, signingKey: key, issuer: issuerCertificate,
            selfSigned: (issuerName, serial))

        let draft = X509(takingOwnership: try ErrorQueue.call(operation) { X509_new() })
        let x = draft.raw
        try ErrorQueue.check("\(operation): set version") { X509_set_version(x, version - 1) }
        try ASN1.withInteger(serial, "\(operation): serial number") { integer in
            try ErrorQueue.check("\(operation): set serial number") { X509_set_serialNumber(x, integer) }
        }
        try ErrorQueue.check("\(operation): set subject") { X509_set_subject_name(x, subjectName.raw) }
        try ErrorQueue.check("\(operation): set issuer") { X509_set_issuer_name(x, issuerName.raw) }
        try ASN1.withTime(notBefore, "\(operation): notBefore") { time in
            try ErrorQueue.check("\(operation): set notBefore") { X509_set1_notBefore(x, time) }
        }
        try ASN1.withTime(notAfter, "\(operation): notAfter") { time in
            try ErrorQueue.check("\(operation): set notAfter") { X509_set1_notAfter(x, time) }
        }
        try ErrorQueue.check("\(operation): set public key") { X509_set_pubkey(x, certifiedKey.raw) }
        for ext in extensions {
            _ = try ext.withOpenSSLExtension { pointer in
                try ErrorQueue.check("\(operation): add extension \(ext.shortName ?? ext.oid)") { X509_add_ext(x, pointer, -1) }
            }
        }
        try Signer.sign("certificate", key: key, digest: digest, padding: rsaPadding) { X509_sign_ctx(x, $0) }
        // Re-read from DER, so the result is exactly what a reader of the
        // encoding sees, with none of the in-memory object's caches.
        return try X509(der: try draft.der)
    }

    /// The extensions in order, with the key identifiers computed. `selfSigned`
    /// is this certificate's own issuer name and serial, which an
    /// authorityKeyIdentifier records when there is no issuer certificate.
    private func resolveExtensions(
        certifiedKey: PKey, signingKey: PKey, issuer: X509?,
        selfSigned: (issuer: X509Name, serial: BigEndianInteger)
    ) throws -> [X509Extension] {
        var result: [X509Extension] = []
        for entry in pending {
            switch entry {
            case .ready(let ext):
                result.append(ext)
            case .subjectKeyIdentifier:
                result.append(try .subjectKeyIdentifier(try X509Extension.keyIdentifier(of: certifiedKey)))
            case .authorityKeyIdentifier(let includeIssuerNameAndSerial):
                let keyIdentifier: [UInt8]
                if let issuer {
                    keyIdentifier = try issuer.subjectKeyIdentifier ?? X509Extension.keyIdentifier(of: try issuer.publicKey)
                } else {
                    keyIdentifier = try X509Extension.keyIdentifier(of: signingKey)
                }
                var names: [GeneralName]?
                var serial: BigEndianInteger?
                if includeIssuerNameAndSerial {
                    if let issuer {
                        names = [.directoryName(try issuer.issuer)]
                        serial = issuer.serialNumber
                    } else {
                        names = [.directoryName(selfSigned.issuer)]
                        serial = selfSigned.serial
                    }
                }
                result.append(
                    try .authorityKeyIdentifier(
                        AuthorityKeyIdentifier(keyIdentifier: keyIdentifier, issuer: names, serialNumber: serial)))
            }
        }
        var seen = Set<String>()
        for ext in result where !seen.insert(ext.oid).inserted {
            throw OpenSSLError(
                operation: "build certificate",
                detail: "extension \(ext.shortName ?? ext.oid) is added more than once")
        }
        return result
    }
}
