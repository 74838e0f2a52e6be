import Foundation
internal import COpenSSL

/// An X.509 certificate (OpenSSL's `X509`).
///
/// Load one from PEM or DER, or every certificate of a PEM bundle with
/// `X509.chain(pem:)`; read its fields, extensions and fingerprints. A
/// certificate is immutable and can be shared between threads. Two
/// certificates are equal when their DER encodings are.
public final class X509: @unchecked Sendable, Hashable, CustomStringConvertible {
    // @unchecked Sendable: immutable after init; X509's caches are locked by OpenSSL.
    let handle: OwnedPointer<X509Kind>
    var raw: OpaquePointer { handle.raw }

    init(takingOwnership pointer: OpaquePointer) {
        handle = OwnedPointer(takingOwnership: pointer)
    }

    /// Wraps a certificate someone else owns (a `get0_` result), taking a reference of our own.
    init(borrowing pointer: OpaquePointer) throws {
        guard let owned = OwnedPointer<X509Kind>(borrowing: pointer) else {
            throw ErrorQueue.drain("take a reference to a certificate")
        }
        handle = owned
    }

    // MARK: Loading

    /// Loads the first certificate in PEM input: a `BEGIN CERTIFICATE`,
    /// `BEGIN X509 CERTIFICATE` or `BEGIN TRUSTED CERTIFICATE` block (the
    /// last is what `openssl x509 -trustout` writes: the certificate followed
    /// by its trust settings, which `trustSettings` then reports).
    ///
    /// - Throws: `OpenSSLError`: for input with no certificate block
    ///   ("no start line"), a truncated or damaged block, or a block that
    ///   is not a valid certificate (with valid trust settings, if any
    ///   follow it).
    /// - SeeAlso: PEM_read_bio_X509_AUX(3)
    public convenience init(pem: some ContiguousBytes) throws {
        let operation = "read certificate (PEM)"
        let certificate: OpaquePointer
        do {
            certificate = try MemoryBIO.withReadOnly(pem) { bio in
                try PassphraseRequest.run(nil, operation: operation) { userData in
                    // The _AUX reader takes all three labels and decodes the
                    // trust settings a TRUSTED CERTIFICATE carries after the
                    // certificate (PEM_read_bio_X509 skips such a block).
                    PEM_read_bio_X509_AUX(bio, nil, passphraseTrampoline, userData)
                }
            }
        } catch let error as OpenSSLError
            where error.entries.count == 1 && error.hasReason(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE)
        {
            // No certificate block at all. The _AUX reader names what it
            // wanted "TRUSTED CERTIFICATE"; the plain one, failing the same
            // way, says "Expecting: CERTIFICATE", which is what the caller
            // most likely meant.
            certificate = try MemoryBIO.withReadOnly(pem) { bio in
                try PassphraseRequest.run(nil, operation: operation) { userData in
                    PEM_read_bio_X509(bio, nil, passphraseTrampoline, userData)
                }
            }
        }
        self.init(takingOwnership: certificate)
    }

    /// Loads the first certificate in PEM text. See `init(pem:)`.
    public convenience init(pem: String) throws {
        try self.init(pem: Array(pem.utf8))
    }

    /// Loads a DER-encoded certificate.
    /// - Throws: `OpenSSLError` for empty input, malformed DER, or trailing bytes after the certificate.
    /// - SeeAlso: d2i_X509(3)
    public convenience init(der: some ContiguousBytes) throws {
        let certificate = try MemoryBIO.fromDER(
            der, "read certificate (DER)",
            decode: { d2i_X509(nil, $0, $1) }, free: { X509_free($0) })
        self.init(takingOwnership: certificate)
    }

    /// Decodes the body of a `TRUSTED CERTIFICATE` block: a certificate
    /// followed by its trust settings (OpenSSL's `X509_CERT_AUX`).
    /// - Throws: `OpenSSLError` for malformed DER or bytes after the trust settings.
    convenience init(trustedDER der: some ContiguousBytes) throws {
        let certificate = try MemoryBIO.fromDER(
            der, "read trusted certificate (DER)",
            decode: { d2i_X509_AUX(nil, $0, $1) }, free: { X509_free($0) })
        self.init(takingOwnership: certificate)
    }

    /// Loads a certificate in either encoding: PEM when the input contains a
    /// `-----BEGIN` line, DER otherwise.
    /// - Throws: as `init(pem:)` or `init(der:)`.
    public convenience init(pemOrDER bytes: [UInt8]) throws {
        if PEMBlocks.looksLikePEM(bytes) {
            try self.init(pem: bytes)
        } else {
            try self.init(der: bytes)
        }
    }

    /// Every certificate in a PEM bundle, in order (a chain file, a CA bundle).
    ///
    /// Blocks labelled `CERTIFICATE`, `X509 CERTIFICATE` and `TRUSTED
    /// CERTIFICATE` (`openssl x509 -trustout`; its trust settings are kept,
    /// see `trustSettings`) are read. Text between blocks and blocks with
    /// other labels (keys, CRLs) are skipped.
    /// - Throws: `OpenSSLError` naming the block (counting from 0) when a
    ///   certificate block is damaged or does not hold a valid certificate
    ///   (for a `TRUSTED CERTIFICATE`: followed by valid trust settings and
    ///   nothing else), and when the input holds no certificate at all.
    /// - SeeAlso: d2i_X509(3), d2i_X509_AUX(3)
    public static func chain(pem: some ContiguousBytes) throws -> [X509] {
        let certificates = try eachCertificate(inPEM: pem).map { try $0.get() }
        guard !certificates.isEmpty else {
            throw OpenSSLError(operation: "read PEM bundle", detail: "no certificate found")
        }
        return certificates
    }

    /// Every certificate block of a PEM bundle, each decoded on its own: a
    /// block whose DER is not a valid certificate is a failure in its place,
    /// and the others are still read — for tools that inspect bundles and
    /// must report every certificate they can. Labels and text between
    /// blocks are handled as by `chain(pem:)`.
    /// - Returns: one result per certificate block, in order (empty when
    ///   there is none); a failure names the block (counting from 0).
    /// - Throws: `OpenSSLError` when the PEM itself is damaged (a block's
    ///   base64 does not decode): the blocks can no longer be told apart.
    public static func eachCertificate(inPEM pem: some ContiguousBytes) throws -> [Result<X509, OpenSSLError>] {
        var results: [Result<X509, OpenSSLError>] = []
        for block in try PEMBlocks.read(pem) where PEMBlocks.certificateLabels.contains(block.label) {
            let index = results.count
            do {
                if block.label == PEMBlocks.trustedCertificateLabel {
                    results.append(.success(try X509(trustedDER: block.der)))
                } else {
                    results.append(.success(try X509(der: block.der)))
                }
            } catch let error as OpenSSLError {
                results.append(
                    .failure(
                        OpenSSLError(
                            operation: "read certificate \(index) of PEM bundle",
                            entries: error.entries, detail: error.detail)))
            } catch {
                results.append(
                    .failure(
                        OpenSSLError(
                            operation: "read certificate \(index) of PEM bundle",
                            detail: "\(error)")))
            }
        }
        return results
    }

    /// Every certificate in PEM bundle text. See `chain(pem:)`.
    public static func chain(pem: String) throws -> [X509] {
        try chain(pem: Array(pem.utf8))
    }

    // MARK: Encoding

    /// The certificate as PEM (`-----BEGIN CERTIFICATE-----` …), without
    /// trust settings (a certificate read from a `TRUSTED CERTIFICATE` block
    /// is written as a plain one).
    /// - SeeAlso: PEM_write_bio_X509(3)
    public var pem: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("write certificate (PEM)") { PEM_write_bio_X509(bio, raw) }
            }
        }
    }

    /// The certificate as DER, without trust settings.
    /// - SeeAlso: i2d_X509(3)
    public var der: [UInt8] {
        get throws { try MemoryBIO.der("write certificate (DER)") { i2d_X509(raw, $0) } }
    }

    // MARK: Trust settings

    /// The trust settings the certificate was read with, from a `TRUSTED
    /// CERTIFICATE` PEM block (`openssl x509 -trustout -addtrust serverAuth
    /// -addreject clientAuth -setalias name`); nil when it carries none (any
    /// certificate read from a plain `CERTIFICATE` block or from DER).
    ///
    /// They travel with the certificate in memory: a store that trusts it
    /// (`X509Store.add(_:)`) applies them as OpenSSL does — a rejected use
    /// fails verification for that purpose, and once any use is listed the
    /// anchor is trusted only for the listed ones. `pem` and `der` write the
    /// certificate without them.
    /// - SeeAlso: X509_get0_trust_objects(3), X509_get0_reject_objects(3), X509_alias_get0(3)
    public var trustSettings: X509TrustSettings? {
        let trusted = X509_get0_trust_objects(raw).map(ExtendedKeyUsage.list(fromStack:)) ?? []
        let rejected = X509_get0_reject_objects(raw).map(ExtendedKeyUsage.list(fromStack:)) ?? []
        var length: Int32 = 0
        let aliasBytes = X509_alias_get0(raw, &length).map { Array(UnsafeBufferPointer(start: $0, count: Int(max(length, 0)))) }
        guard !trusted.isEmpty || !rejected.isEmpty || aliasBytes != nil else { return nil }
        return X509TrustSettings(trustedUses: trusted, rejectedUses: rejected, aliasBytes: aliasBytes)
    }

    // MARK: Fields

    /// The version as written in certificates: 1, 2 or 3.
    /// - SeeAlso: X509_get_version(3)
    public var version: Int { Int(X509_get_version(raw)) + 1 }

    /// The serial number, of any length and sign.
    /// - SeeAlso: X509_get0_serialNumber(3)
    public var serialNumber: BigEndianInteger { ASN1.integer(X509_get0_serialNumber(raw)) }

    /// The subject name (a copy).
    /// - SeeAlso: X509_get_subject_name(3)
    public var subject: X509Name {
        get throws { try X509Name(copying: try ErrorQueue.call("read subject") { X509_get_subject_name(raw) }) }
    }

    /// The issuer name (a copy).
    /// - SeeAlso: X509_get_issuer_name(3)
    public var issuer: X509Name {
        get throws { try X509Name(copying: try ErrorQueue.call("read issuer") { X509_get_issuer_name(raw) }) }
    }

    /// The start of the validity period.
    /// - Throws: `OpenSSLError` when the encoded time is malformed.
    public var notBefore: Date {
        get throws { try ASN1.date(X509_get0_notBefore(raw), "read notBefore") }
    }

    /// The end of the validity period.
    /// - Throws: `OpenSSLError` when the encoded time is malformed.
    public var notAfter: Date {
        get throws { try ASN1.date(X509_get0_notAfter(raw), "read notAfter") }
    }

    /// notBefore as encoded, whatever it holds: a UTCTime (`YYMMDDHHMMSSZ`)
    /// or GeneralizedTime (`YYYYMMDDHHMMSSZ`), with any byte that is not
    /// valid UTF-8 shown as `\xNN`. For a time `notBefore` cannot read.
    public var encodedNotBefore: String {
        ASN1.utf8EscapingInvalid(ASN1.bytes(X509_get0_notBefore(raw)))
    }

    /// notAfter as encoded, whatever it holds (see `encodedNotBefore`).
    public var encodedNotAfter: String {
        ASN1.utf8EscapingInvalid(ASN1.bytes(X509_get0_notAfter(raw)))
    }

    /// True when notAfter is in the past — or cannot be read (it fails closed).
    public var hasExpired: Bool {
        guard let notAfter = try? notAfter else { return true }
        return notAfter < Date()
    }

    /// True when `date` lies within the validity period (both ends inclusive);
    /// false when it does not or when either end cannot be read.
    public func isValid(at date: Date = Date()) -> Bool {
        guard let start = try? notBefore, let end = try? notAfter else { return false }
        return start <= date && date <= end
    }

    /// The subject's public key.
    /// - Throws: `OpenSSLError` when the key cannot be decoded (an unsupported algorithm).
    /// - SeeAlso: X509_get0_pubkey(3)
    public var publicKey: PKey {
        get throws {
            let key = try ErrorQueue.call("read certificate public key") { X509_get0_pubkey(raw) }
            return try PKey(borrowing: key, hasPrivateKey: false)
        }
    }

    /// The signature algorithm the issuer signed into the certificate (the
    /// one inside tbsCertificate, which `openssl x509 -text` prints first),
    /// as OpenSSL names it ("sha256WithRSAEncryption", "ecdsa-with-SHA256",
    /// "ED25519"), or its OID when unknown. RFC 5280 requires the copy
    /// outside the signed part to be the same; `outerSignatureAlgorithm`
    /// reads that one, for certificates where it is not.
    /// - SeeAlso: X509_get0_tbs_sigalg(3)
    public var signatureAlgorithm: String {
        Self.algorithmName(X509_get0_tbs_sigalg(raw))
    }

    /// The signature algorithm outside tbsCertificate, next to the signature
    /// bits (the one `openssl x509 -text` prints last). The same as
    /// `signatureAlgorithm` in any well-formed certificate; OpenSSL refuses
    /// to verify a certificate where they differ.
    /// - SeeAlso: X509_get0_signature(3)
    public var outerSignatureAlgorithm: String {
        var algorithm: UnsafePointer<X509_ALGOR>?
        X509_get0_signature(nil, &algorithm, raw)
        return Self.algorithmName(algorithm)
    }

    private static func algorithmName(_ algorithm: UnsafePointer<X509_ALGOR>?) -> String {
        guard let algorithm else { return "" }
        var object: OpaquePointer?
        X509_ALGOR_get0(&object, nil, nil, algorithm)
        return ASN1.longNameOrOID(object)
    }

    /// The signature bytes.
    public var signature: [UInt8] {
        var signature: UnsafePointer<ASN1_BIT_STRING>?
        X509_get0_signature(&signature, nil, raw)
        return ASN1.bytes(signature)
    }

    /// The hash of the DER encoding with `digest`: the certificate's fingerprint.
    /// - Throws: `OpenSSLError` for an unknown digest name.
    /// - SeeAlso: X509_digest(3)
    public func digest(_ digest: MessageDigest) throws -> [UInt8] {
        let md = try digest.fetched()
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        try ErrorQueue.check("certificate digest \(digest.name)") { X509_digest(raw, md, &out, &length) }
        out.removeSubrange(Int(length)...)
        return out
    }

    /// The fingerprint as uppercase hex pairs joined by colons ("AB:CD:…"), as `openssl x509 -fingerprint` shows it.
    /// - Throws: `OpenSSLError` for an unknown digest name.
    public func fingerprint(_ digest: MessageDigest = .sha256) throws -> String {
        Hex.fingerprint(try self.digest(digest))
    }

    /// True when issuer and subject are the same name and the signature
    /// verifies with the certificate's own public key.
    /// - SeeAlso: X509_self_signed(3)
    public var isSelfSigned: Bool {
        let result = X509_self_signed(raw, 1)
        ErrorQueue.clear()
        return result == 1
    }

    /// True when `key` verifies this certificate's signature (it was signed by `key`'s owner).
    /// - SeeAlso: X509_verify(3)
    public func isSigned(by key: PKey) -> Bool {
        let result = X509_verify(raw, key.raw)
        ErrorQueue.clear()
        return result == 1
    }

    /// Throws unless `key` is the private key for this certificate's public key.
    /// - Throws: `OpenSSLError` ("key values mismatch", …) when they do not match.
    /// - SeeAlso: X509_check_private_key(3)
    public func checkPrivateKey(_ key: PKey) throws {
        try ErrorQueue.check("check private key against certificate") { X509_check_private_key(raw, key.raw) }
    }

    // MARK: Extensions

    /// Every extension, in certificate order, as encoded: an extension that
    /// occurs twice is listed twice, and one whose value does not decode is
    /// listed like any other (only its typed getter fails).
    /// - SeeAlso: X509_get_ext(3)
    public var extensions: [X509Extension] {
        let count = X509_get_ext_count(raw)
        return (0..<max(count, 0)).compactMap { index in
            X509_get_ext(raw, index).map { X509Extension($0) }
        }
    }

    // Each typed getter below reads its own extension and fails alone: a
    // repeated or undecodable extension makes that getter throw, while the
    // certificate and every other getter keep working.

    /// subjectAltName entries in order, or nil when the extension is absent.
    /// - Throws: `OpenSSLError` when the extension is malformed ("decode
    ///   alternative name extension: …" with OpenSSL's reason) or repeated
    ///   ("the extension occurs 2 times").
    public var subjectAlternativeNames: [GeneralName]? {
        get throws { try extensions.unique(X509Extension.subjectAlternativeNameOID)?.generalNames() }
    }

    /// issuerAltName entries in order, or nil when absent.
    public var issuerAlternativeNames: [GeneralName]? {
        get throws { try extensions.unique(X509Extension.issuerAlternativeNameOID)?.generalNames() }
    }

    /// basicConstraints, or nil when absent.
    public var basicConstraints: BasicConstraints? {
        get throws { try extensions.unique(X509Extension.basicConstraintsOID)?.basicConstraints() }
    }

    /// keyUsage, or nil when absent.
    public var keyUsage: KeyUsage? {
        get throws { try extensions.unique(X509Extension.keyUsageOID)?.keyUsage() }
    }

    /// extendedKeyUsage purposes in order, or nil when absent.
    public var extendedKeyUsage: [ExtendedKeyUsage]? {
        get throws { try extensions.unique(X509Extension.extendedKeyUsageOID)?.extendedKeyUsage() }
    }

    /// subjectKeyIdentifier, or nil when absent.
    public var subjectKeyIdentifier: [UInt8]? {
        get throws { try extensions.unique(X509Extension.subjectKeyIdentifierOID)?.subjectKeyIdentifier() }
    }

    /// authorityKeyIdentifier, or nil when absent.
    public var authorityKeyIdentifier: AuthorityKeyIdentifier? {
        get throws { try extensions.unique(X509Extension.authorityKeyIdentifierOID)?.authorityKeyIdentifier() }
    }

    /// cRLDistributionPoints, or nil when absent.
    public var crlDistributionPoints: [CRLDistributionPoint]? {
        get throws { try extensions.unique(X509Extension.crlDistributionPointsOID)?.crlDistributionPoints() }
    }

    /// authorityInfoAccess entries, or nil when absent.
    public var authorityInfoAccess: [AccessDescription]? {
        get throws { try extensions.unique(X509Extension.authorityInfoAccessOID)?.authorityInfoAccess() }
    }

    /// OCSP responder URLs from authorityInfoAccess (empty when none).
    public var ocspURLs: [String] {
        get throws { try accessURLs(AccessDescription.ocspMethod) }
    }

    /// CA issuer certificate URLs from authorityInfoAccess (empty when none).
    public var caIssuerURLs: [String] {
        get throws { try accessURLs(AccessDescription.caIssuersMethod) }
    }

    private func accessURLs(_ method: String) throws -> [String] {
        (try authorityInfoAccess ?? []).compactMap { entry in
            guard entry.method == method, case .uri(let url) = entry.location else { return nil }
            return url
        }
    }

    // MARK: Name checks

    /// True when the certificate is valid for `host` by OpenSSL's rules
    /// (subjectAltName DNS entries, wildcards in the leftmost label only;
    /// the subject CN only when there is no DNS SAN).
    /// - SeeAlso: X509_check_host(3)
    public func matches(host: String) -> Bool {
        let result = X509_check_host(raw, host, host.utf8.count, 0, nil)
        ErrorQueue.clear()
        return result == 1
    }

    /// True when the certificate has an IP subjectAltName equal to `address` ("192.0.2.1", "::1").
    /// - SeeAlso: X509_check_ip_asc(3)
    public func matches(ipAddress address: String) -> Bool {
        let result = X509_check_ip_asc(raw, address, 0)
        ErrorQueue.clear()
        return result == 1
    }

    /// True when the certificate is valid for the email address.
    /// - SeeAlso: X509_check_email(3)
    public func matches(email: String) -> Bool {
        let result = X509_check_email(raw, email, email.utf8.count, 0)
        ErrorQueue.clear()
        return result == 1
    }

    // MARK: Text

    /// What `openssl x509 -text -noout -nameopt oneline` prints for this
    /// certificate: names in `oneline` form, `C = US, CN = x`, bytes above
    /// 0x7F escaped as `\C3\BC` (the tool's default up to OpenSSL 3.1; from
    /// 3.2 it defaults to `-nameopt utf8`, `C=US, CN=x`).
    /// - SeeAlso: X509_print_ex(3)
    public var text: String {
        get throws {
            try MemoryBIO.collectString { bio in
                try ErrorQueue.check("print certificate") {
                    X509_print_ex(bio, raw, cossl_XN_FLAG_ONELINE(), 0)
                }
            }
        }
    }

    /// A one-line summary: subject, issuer and serial.
    public var description: String {
        let subject = (try? subject.oneLineString) ?? "?"
        let issuer = (try? issuer.oneLineString) ?? "?"
        return "X509(subject: \(subject), issuer: \(issuer), serial: \(serialNumber.hexString))"
    }

    // MARK: Identity

    /// Equal when the DER encodings are equal.
    /// - SeeAlso: X509_cmp(3)
    public static func == (lhs: X509, rhs: X509) -> Bool {
        if lhs.raw == rhs.raw { return true }
        let result = X509_cmp(lhs.raw, rhs.raw)
        ErrorQueue.clear()
        return result == 0
    }

    /// Hashes the SHA-1 fingerprint OpenSSL caches with the certificate, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine((try? digest(.sha1)) ?? [])
    }

    /// Calls `body` with the underlying `X509 *`. Valid only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

/// The trust settings a `TRUSTED CERTIFICATE` PEM block carries after the
/// certificate (OpenSSL's `X509_CERT_AUX`, written by `openssl x509
/// -trustout`). See `X509.trustSettings`.
public struct X509TrustSettings: Sendable, Hashable {
    /// The uses the certificate is trusted for as an anchor (`-addtrust`), as
    /// extended-key-usage OIDs: `.serverAuth`, `.clientAuth`,
    /// `.anyExtendedKeyUsage` …; `shortName` gives the name `openssl` takes.
    public let trustedUses: [ExtendedKeyUsage]
    /// The uses the certificate must not be trusted for (`-addreject`).
    public let rejectedUses: [ExtendedKeyUsage]
    /// The alias (`-setalias`) as raw bytes, or nil when there is none.
    public let aliasBytes: [UInt8]?

    /// The alias as text; nil when there is none or it is not valid UTF-8
    /// (`aliasBytes` then holds it).
    public var alias: String? {
        aliasBytes.flatMap { String(validating: $0, as: UTF8.self) }
    }
}
