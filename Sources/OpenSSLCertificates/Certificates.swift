import Foundation
import OpenSSL
import SwiftASN1
import X509

// Certificates, names, requests and extensions cross as DER: OpenSSL writes
// the bytes it holds (it keeps a certificate's and a request's original
// encoding), swift-certificates parses them and keeps what it does not
// interpret, and the reverse. A round trip is therefore DER identical.

/// DER-encodes a swift-certificates value.
func derBytes(of value: some DERSerializable, _ operation: String) throws(CertificateBridgeError) -> [UInt8] {
    try bridging(operation) {
        var serializer = DER.Serializer()
        try serializer.serialize(value)
        return serializer.serializedBytes
    }
}

// MARK: - Certificates

extension Certificate {
    /// The same certificate as swift-certificates' `Certificate`
    /// (pyOpenSSL's `X509.to_cryptography()`).
    ///
    /// - Throws: `CertificateBridgeError.refused` when swift-certificates
    ///   cannot parse it (it refuses, for example, a certificate whose
    ///   extensions repeat an OID, which OpenSSL loads); `OpenSSLError` when
    ///   OpenSSL cannot write the certificate's DER.
    public init(_ x509: OpenSSL.X509) throws {
        let der = try x509.der
        self = try bridging("X509 to Certificate") { try Certificate(derEncoded: der) }
    }
}

extension OpenSSL.X509 {
    /// The same certificate as an OpenSSL `X509` (pyOpenSSL's
    /// `X509.from_cryptography()`); its DER is the `Certificate`'s.
    ///
    /// - Throws: `CertificateBridgeError.refused` when the certificate cannot
    ///   be serialized, `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ certificate: Certificate) throws {
        try self.init(der: try derBytes(of: certificate, "Certificate to X509"))
    }
}

extension Array where Element == Certificate {
    /// A chain of `X509`s (leaf first, say) as `Certificate`s, in the same order.
    /// - Throws: `CertificateBridgeError` (or `OpenSSLError`) for the first
    ///   certificate that cannot cross.
    public init(_ chain: [OpenSSL.X509]) throws {
        var result: [Certificate] = []
        result.reserveCapacity(chain.count)
        for x509 in chain { result.append(try Certificate(x509)) }
        self = result
    }
}

extension Array where Element == OpenSSL.X509 {
    /// A chain of `Certificate`s as `X509`s, in the same order.
    /// - Throws: `CertificateBridgeError` or `OpenSSLError` for the first
    ///   certificate that cannot cross.
    public init(_ chain: [Certificate]) throws {
        var result: [OpenSSL.X509] = []
        result.reserveCapacity(chain.count)
        for certificate in chain { result.append(try OpenSSL.X509(certificate)) }
        self = result
    }
}

// MARK: - Names

extension DistinguishedName {
    /// The same name as swift-certificates' `DistinguishedName`: the RDNs in
    /// their order, multi-valued RDNs as one RDN, and each value's string
    /// type (PrintableString, UTF8String, BMPString, …) kept.
    ///
    /// - Throws: `CertificateBridgeError.refused` when swift-certificates
    ///   cannot parse the name's DER.
    public init(_ name: X509Name) throws(CertificateBridgeError) {
        let der = name.der
        self = try bridging("X509Name to DistinguishedName") { try DistinguishedName(derEncoded: try DER.parse(der)) }
    }
}

extension X509Name {
    /// The same name as an OpenSSL `X509Name` (order, multi-valued RDNs and
    /// string types kept).
    ///
    /// - Throws: `CertificateBridgeError.refused` when the name cannot be
    ///   serialized, `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ name: DistinguishedName) throws {
        try self.init(der: try derBytes(of: name, "DistinguishedName to X509Name"))
    }
}

// MARK: - Requests

extension CertificateSigningRequest {
    /// The same request as swift-certificates' `CertificateSigningRequest`
    /// (pyOpenSSL's `X509Req.to_cryptography()`).
    ///
    /// - Throws: `CertificateBridgeError.refused` when swift-certificates
    ///   cannot parse it, `OpenSSLError` when OpenSSL cannot write its DER.
    public init(_ request: X509Request) throws {
        let der = try request.der
        self = try bridging("X509Request to CertificateSigningRequest") {
            try CertificateSigningRequest(derEncoded: der)
        }
    }
}

extension X509Request {
    /// The same request as an OpenSSL `X509Request` (pyOpenSSL's
    /// `X509Req.from_cryptography()`); its DER is the request's.
    ///
    /// - Throws: `CertificateBridgeError.refused` when the request cannot be
    ///   serialized, `OpenSSLError` when OpenSSL refuses the bytes.
    public convenience init(_ request: CertificateSigningRequest) throws {
        try self.init(der: try derBytes(of: request, "CertificateSigningRequest to X509Request"))
    }
}

// MARK: - Extensions

extension Certificate.Extension {
    /// The same extension (OID, criticality and the DER of its value) as
    /// swift-certificates' `Certificate.Extension`, which its typed views
    /// (`SubjectAlternativeNames(ext)`, `BasicConstraints(ext)`, …) decode.
    ///
    /// - Throws: `CertificateBridgeError.refused` when the OID is not a
    ///   dotted OID swift-asn1 accepts.
    public init(_ x509Extension: X509Extension) throws(CertificateBridgeError) {
        let oid = try bridging("X509Extension to Certificate.Extension") {
            try ASN1ObjectIdentifier(dotRepresentation: x509Extension.oid)
        }
        self.init(oid: oid, critical: x509Extension.isCritical, value: x509Extension.value[...])
    }
}

extension X509Extension {
    /// The same extension as this library's `X509Extension` (OID in dotted
    /// form, criticality, the DER of its value). Never fails: every
    /// `Certificate.Extension` has a counterpart.
    public init(_ certificateExtension: Certificate.Extension) {
        self.init(
            oid: certificateExtension.oid.description, critical: certificateExtension.critical,
            value: Array(certificateExtension.value))
    }
}

extension Array where Element == Certificate.Extension {
    /// Each extension as a `Certificate.Extension`, in the same order.
    /// - Throws: `CertificateBridgeError` for the first that cannot cross.
    public init(_ extensions: [X509Extension]) throws(CertificateBridgeError) {
        var result: [Certificate.Extension] = []
        for x509Extension in extensions { result.append(try Certificate.Extension(x509Extension)) }
        self = result
    }
}

extension Array where Element == X509Extension {
    /// A certificate's or request's extensions as `X509Extension`s, in their order.
    public init(_ extensions: Certificate.Extensions) {
        self = extensions.map { X509Extension($0) }
    }
}
