import Foundation
internal import COpenSSL

/// Builds and signs a certificate revocation list (a v2 CRL).
///
/// ```swift
/// var builder = CRLBuilder(lastUpdate: Date(), nextUpdate: Date() + 7 * 86_400)
/// builder.revoke(compromised, reason: .keyCompromise)
/// builder.crlNumber = BigEndianInteger(42)
/// let crl = try builder.sign(with: caKey, issuer: caCertificate)
/// ```
public struct CRLBuilder: Sendable {
    /// When this CRL is issued (thisUpdate; whole seconds).
    public var lastUpdate: Date
    /// When the next CRL is due; nil leaves it out (RFC 5280 wants it present).
    public var nextUpdate: Date?
    /// The revoked entries. They are written sorted by serial number, as OpenSSL orders them.
    public var revoked: [Revoked]
    /// The cRLNumber extension's value; nil leaves the extension out.
    public var crlNumber: BigEndianInteger?
    /// Whether to add an authorityKeyIdentifier (the issuer's subjectKeyIdentifier,
    /// or the hash of its key). Default true, as RFC 5280 requires.
    public var includeAuthorityKeyIdentifier: Bool = true
    /// Further CRL extensions (issuingDistributionPoint, deltaCRLIndicator, …), added after the others.
    public var extensions: [X509Extension] = []

    /// Starts a CRL.
    /// - Parameters:
    ///   - lastUpdate: default now.
    ///   - nextUpdate: default 30 days after `lastUpdate` (set the property to nil to leave it out).
    ///   - revoked: the entries.
    ///   - crlNumber: the cRLNumber, or nil for none.
    /// - SeeAlso: X509_CRL_new(3), called by `sign`
    public init(
        lastUpdate: Date = Date(), nextUpdate: Date? = nil, revoked: [Revoked] = [],
        crlNumber: BigEndianInteger? = nil
    ) {
        self.lastUpdate = lastUpdate
        self.nextUpdate = nextUpdate ?? lastUpdate.addingTimeInterval(30 * 86_400)
        self.revoked = revoked
        self.crlNumber = crlNumber
    }

    /// Adds an entry for `serialNumber`.
    /// - SeeAlso: X509_CRL_add0_revoked(3), which adds it when signing
    public mutating func revoke(serialNumber: BigEndianInteger, at date: Date = Date(), reason: Revoked.Reason? = nil) {
        revoked.append(Revoked(serialNumber: serialNumber, revocationDate: date, reason: reason))
    }

    /// Adds an entry for `certificate` (by its serial number).
    /// - SeeAlso: X509_CRL_add0_revoked(3), which adds it when signing
    public mutating func revoke(_ certificate: X509, at date: Date = Date(), reason: Revoked.Reason? = nil) {
        revoke(serialNumber: certificate.serialNumber, at: date, reason: reason)
    }

    /// Makes the CRL and signs it as `issuer`.
    ///
    /// - Parameters:
    ///   - key: the issuer's private key.
    ///   - digest: nil means SHA-256 for RSA and EC; Ed25519 and Ed448 take none.
    ///   - rsaPadding: PKCS#1 v1.5 (default) or PSS, for RSA keys only.
    ///   - issuer: the CA certificate whose subject becomes the CRL's issuer.
    /// - Returns: the CRL, re-read from its DER encoding.
    /// - Throws: `OpenSSLError` with a `detail` for a public-only key, an
    ///   unknown digest, a digest with Ed25519/Ed448, a key that does not
    ///   belong to `issuer`, `nextUpdate` before `lastUpdate`, a serial listed
    ///   twice, a reasonCode given twice, or an extension added twice; with
    ///   OpenSSL's reasons otherwise.
    /// - SeeAlso: X509_CRL_add0_revoked(3), X509_CRL_sort(3), X509_CRL_sign_ctx(3)
    public func sign(
        with key: PKey, digest: MessageDigest? = nil, rsaPadding: RSASignaturePadding = .pkcs1v15,
        issuer: X509
    ) throws -> CRL {
        let operation = "build CRL"
        if let nextUpdate, nextUpdate < lastUpdate {
            throw OpenSSLError(operation: operation, detail: "nextUpdate (\(nextUpdate)) is before lastUpdate (\(lastUpdate))")
        }
        guard X509_check_private_key(issuer.raw, key.raw) == 1 else {
            ErrorQueue.clear()
            throw OpenSSLError(operation: operation, detail: "the signing key does not belong to the issuer certificate")
        }
        ErrorQueue.clear()
        var serials = Set<BigEndianInteger>()
        for entry in revoked where !serials.insert(entry.serialNumber).inserted {
            throw OpenSSLError(operation: operation, detail: "serial \(entry.serialNumber.hexString) is listed twice")
        }
        let crlExtensions = try makeExtensions(issuer: issuer, operation)
        let issuerName = try issuer.subject

        let draft = CRL(takingOwnership: try ErrorQueue.call(operation) { X509_CRL_new() })
        let crl = draft.raw
        try ErrorQueue.check("\(operation): set version") { X509_CRL_set_version(crl, 1) }
        try ErrorQueue.check("\(operation): set issuer") { X509_CRL_set_issuer_name(crl, issuerName.raw) }
        try ASN1.withTime(lastUpdate, "\(operation): lastUpdate") { time in
            try ErrorQueue.check("\(operation): set lastUpdate") { X509_CRL_set1_lastUpdate(crl, time) }
        }
        if let nextUpdate {
            try ASN1.withTime(nextUpdate, "\(operation): nextUpdate") { time in
                try ErrorQueue.check("\(operation): set nextUpdate") { X509_CRL_set1_nextUpdate(crl, time) }
            }
        }
        for entry in revoked {
            try add(entry, to: crl, operation)
        }
        try ErrorQueue.check("\(operation): sort entries") { X509_CRL_sort(crl) }
        for ext in crlExtensions {
            _ = try ext.withOpenSSLExtension { pointer in
                try ErrorQueue.check("\(operation): add extension \(ext.shortName ?? ext.oid)") {
                    X509_CRL_add_ext(crl, pointer, -1)
                }
            }
        }
        try Signer.sign("CRL", key: key, digest: digest, padding: rsaPadding) { X509_CRL_sign_ctx(crl, $0) }
        return try CRL(der: try draft.der)
    }

    /// The CRL's extensions in order: authorityKeyIdentifier, cRLNumber, then `extensions`.
    private func makeExtensions(issuer: X509, _ operation: String) throws -> [X509Extension] {
        var result: [X509Extension] = []
        if includeAuthorityKeyIdentifier {
            let keyIdentifier = try issuer.subjectKeyIdentifier ?? X509Extension.keyIdentifier(of: try issuer.publicKey)
            result.append(try .authorityKeyIdentifier(AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)))
        }
        if let crlNumber {
            result.append(try .crlNumber(crlNumber))
        }
        result += extensions
        var seen = Set<String>()
        for ext in result where !seen.insert(ext.oid).inserted {
            throw OpenSSLError(operation: operation, detail: "extension \(ext.shortName ?? ext.oid) is added more than once")
        }
        return result
    }

    /// Adds one entry. The X509_REVOKED is ours until X509_CRL_add0_revoked
    /// takes it; every failure before that frees it.
    private func add(_ entry: Revoked, to crl: OpaquePointer, _ operation: String) throws {
        let what = "\(operation): entry \(entry.serialNumber.hexString)"
        var entryExtensions = entry.extensions
        if let reason = entry.reason {
            guard !entryExtensions.contains(where: { $0.oid == X509Extension.reasonCodeOID }) else {
                throw OpenSSLError(operation: what, detail: "the reason is given both as `reason` and as an extension")
            }
            entryExtensions.insert(try .reasonCode(reason), at: 0)
        }
        var seen = Set<String>()
        for ext in entryExtensions where !seen.insert(ext.oid).inserted {
            throw OpenSSLError(operation: what, detail: "extension \(ext.shortName ?? ext.oid) is added more than once")
        }
        let revoked = try ErrorQueue.call(what) { X509_REVOKED_new() }
        var owned = true
        defer { if owned { X509_REVOKED_free(revoked) } }
        try ASN1.withInteger(entry.serialNumber, what) { serial in
            try ErrorQueue.check("\(what): set serial number") { X509_REVOKED_set_serialNumber(revoked, serial) }
        }
        try ASN1.withTime(entry.revocationDate, "\(what): revocation date") { time in
            try ErrorQueue.check("\(what): set revocation date") { X509_REVOKED_set_revocationDate(revoked, time) }
        }
        for ext in entryExtensions {
            _ = try ext.withOpenSSLExtension { pointer in
                try ErrorQueue.check("\(what): add extension \(ext.shortName ?? ext.oid)") {
                    X509_REVOKED_add_ext(revoked, pointer, -1)
                }
            }
        }
        try ErrorQueue.check("\(what): add to CRL") { X509_CRL_add0_revoked(crl, revoked) }
        owned = false
    }
}
