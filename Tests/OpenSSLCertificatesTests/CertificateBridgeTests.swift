import Foundation
import OpenSSL
import OpenSSLCertificates
import SwiftASN1
import Testing
import X509
import TestSupport

/// B01: certificates, chains, names, requests and extensions cross to
/// swift-certificates and back unchanged.
@Suite("Bridge: certificates and names")
struct CertificateBridgeTests {
    static let bundlePath = "/etc/ssl/certs/ca-certificates.crt"
    var pki: TestPKI { TestPKI.shared }

    @Test("B01 every certificate of the system bundle crosses to Certificate and back DER-identical")
    func systemBundleRoundTrips() throws {
        let bundle = try X509.chain(pem: try String(contentsOfFile: Self.bundlePath, encoding: .utf8))
        #expect(bundle.count > 100)
        let certificates = try [Certificate](bundle)
        #expect(certificates.count == bundle.count)
        let back = try [X509](certificates)
        for (index, (original, certificate)) in zip(bundle, certificates).enumerated() {
            let returned = back[index]
            #expect(try returned.der == original.der, "certificate \(index) of the bundle changed on the way back")
            #expect(try derOf(certificate) == original.der)
            // What swift-certificates read agrees with what OpenSSL reads.
            #expect(try X509Name(certificate.subject).der == original.subject.der)
            #expect(try derOf(DistinguishedName(original.issuer)) == original.issuer.der)
            if !original.serialNumber.isNegative {
                #expect(
                    Array(certificate.serialNumber.bytes).dropLeadingZeros()
                        == original.serialNumber.magnitude.dropLeadingZeros())
            }
            #expect(try certificate.notValidAfter == original.notAfter)
            #expect(try derOf(certificate.publicKey) == original.publicKey.publicKeyDER())
        }
    }

    @Test("B01 the test PKI's certificates and chain cross both ways; fields and extensions agree")
    func testPKIRoundTrips() throws {
        let chain = [pki.server, pki.intermediate, pki.root]
        let certificates = try [Certificate](chain)
        #expect(try [X509](certificates).map { try $0.der } == chain.map { try $0.der })
        for x509 in [pki.ed25519Root, pki.ed25519Server, pki.rsaServer, pki.client, pki.expired] {
            #expect(try X509(Certificate(x509)).der == x509.der)
        }

        let server = certificates[0]
        #expect(server.subject == (try DistinguishedName(pki.server.subject)))
        #expect(server.issuer == certificates[1].subject)
        // Extensions: the same list, and each one crosses both ways unchanged.
        let openSSLExtensions = pki.server.extensions
        #expect(Array(server.extensions).count == openSSLExtensions.count)
        #expect([X509Extension](server.extensions) == openSSLExtensions)
        for x509Extension in openSSLExtensions {
            let crossed = try Certificate.Extension(x509Extension)
            #expect(X509Extension(crossed) == x509Extension)
        }
        #expect(try [Certificate.Extension](openSSLExtensions) == Array(server.extensions))
        // swift-certificates' typed views read the crossed extensions.
        let sans = try #require(try server.extensions.subjectAlternativeNames)
        #expect(sans.contains(SwiftCertificatesGeneralName.dnsName("localhost")))
        #expect(try server.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try certificates[1].extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        // An extension made on the swift-certificates side reads in OpenSSL.
        let made = try Certificate.Extension(
            SwiftCertificatesBasicConstraints.isCertificateAuthority(maxPathLength: 3), critical: true)
        let mine = X509Extension(made)
        #expect(mine.oid == X509Extension.basicConstraintsOID)
        #expect(mine.text.contains("CA:TRUE"))
    }

    @Test("B01 names keep their RDN order, multi-valued RDNs and string types both ways")
    func namesKeepStructure() throws {
        // C=US (PrintableString), then one RDN holding CN (UTF8String) and
        // OU (BMPString), then O (T61String), emailAddress (IA5String) and
        // L (UniversalString), written by hand.
        let der = Self.name([
            [Self.attribute([0x55, 0x04, 0x06], tag: 0x13, Array("US".utf8))],
            [
                Self.attribute([0x55, 0x04, 0x03], tag: 0x0c, Array("Zoë".utf8)),
                Self.attribute([0x55, 0x04, 0x0b], tag: 0x1e, [0x00, 0x55, 0x00, 0x6e, 0x00, 0x69, 0x00, 0x74]),
            ],
            [Self.attribute([0x55, 0x04, 0x0a], tag: 0x14, Array("Org".utf8))],
            [Self.attribute([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], tag: 0x16, Array("a@b.example".utf8))],
            [Self.attribute([0x55, 0x04, 0x07], tag: 0x1c, [0, 0, 0, 0x4c, 0, 0, 0, 0x41])],
        ])
        let x509Name = try X509Name(der: der)
        #expect(x509Name.der == der)
        let distinguishedName = try DistinguishedName(x509Name)
        #expect(try derOf(distinguishedName) == der)
        let rdns = Array(distinguishedName)
        #expect(rdns.count == 5)
        #expect(rdns.map { Array($0).count } == [1, 2, 1, 1, 1])
        #expect(
            rdns.map { Array($0).first?.type } == [
                .RDNAttributeType.countryName, .RDNAttributeType.commonName,
                .RDNAttributeType.organizationName,
                .RDNAttributeType.emailAddress,
                .RDNAttributeType.localityName,
            ])

        let back = try X509Name(distinguishedName)
        #expect(back.der == der)
        #expect(back.components.map(\.stringType) == x509Name.components.map(\.stringType))
        #expect(back.components.map(\.rdnIndex) == [0, 1, 1, 2, 3, 4])
        #expect(back.commonName == "Zoë")
        #expect(back.organizationalUnit == "Unit")

        // A name built with swift-certificates' builder reads in OpenSSL.
        let built = try DistinguishedName {
            CountryName("DE")
            OrganizationName("Beispiel")
            CommonName("bridge.example")
        }
        let converted = try X509Name(built)
        #expect(converted.rfc2253String == "CN=bridge.example,O=Beispiel,C=DE")
        #expect(try DistinguishedName(converted) == built)
    }

    @Test("B01 requests cross both ways; one signed by swift-certificates verifies in OpenSSL")
    func requestsCross() throws {
        let key = try PKey.generate(.ec(.p256))
        var builder = X509RequestBuilder(subject: try X509Name([("CN", "request.example"), ("O", "Bridge")]))
        try builder.addSubjectAlternativeNames([.dnsName("request.example")])
        let request = try builder.sign(with: key)
        let csr = try CertificateSigningRequest(request)
        #expect(try X509Request(csr).der == request.der)
        #expect(csr.publicKey == (try Certificate.PublicKey(key)))
        #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
        #expect(csr.subject == (try DistinguishedName(request.subject)))
        let requested = try #require(try csr.attributes.extensionRequest)
        #expect(
            try requested.extensions.subjectAlternativeNames
                == SubjectAlternativeNames([SwiftCertificatesGeneralName.dnsName("request.example")]))

        // The other way: swift-certificates signs with the OpenSSL key.
        let made = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName("made.example") },
            privateKey: try Certificate.PrivateKey(key), attributes: CertificateSigningRequest.Attributes(),
            signatureAlgorithm: .ecdsaWithSHA256)
        let asOpenSSL = try X509Request(made)
        #expect(asOpenSSL.isSignatureValid)
        #expect(try asOpenSSL.subject.commonName == "made.example")
        #expect(try asOpenSSL.publicKey.isPublicKeyEqual(to: key))
        #expect(try derOf(CertificateSigningRequest(asOpenSSL)) == asOpenSSL.der)
    }

    @Test("B01 a certificate issued by swift-certificates with an OpenSSL key verifies in OpenSSL")
    func certificateIssuedAcrossVerifies() throws {
        let issuerCertificate = try Certificate(pki.intermediate)
        let subjectKey = try PKey.generate(.ed25519)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: try Certificate.PublicKey(subjectKey),
            notValidBefore: Date() - 60, notValidAfter: Date() + 3600, issuer: issuerCertificate.subject,
            subject: try DistinguishedName { CommonName("issued.example") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(SwiftCertificatesBasicConstraints.notCertificateAuthority) },
            issuerPrivateKey: try Certificate.PrivateKey(pki.intermediateKey))
        let x509 = try X509(certificate)
        #expect(x509.isSigned(by: pki.intermediateKey))
        #expect(!x509.isSigned(by: pki.rootKey))
        #expect(try x509.publicKey.isPublicKeyEqual(to: subjectKey))
        #expect(try x509.subject.commonName == "issued.example")
        #expect(try x509.basicConstraints?.isCA == false)
    }

    @Test("B01 a certificate swift-certificates cannot parse is refused with its reason")
    func unparsableCertificateIsRefused() throws {
        // OpenSSL loads a certificate carrying the same extension twice;
        // swift-certificates refuses it. OpenSSL's builder refuses to make
        // one, so make two private extensions and give the second the
        // first's OID in the DER (1.3.6.1.4.1.55555.2 -> .1).
        let key = try PKey.generate(.ec(.p256))
        var builder = X509Builder(
            subject: try X509Name([("CN", "twice")]), publicKey: key,
            notBefore: Date() - 60, notAfter: Date() + 3600)
        builder.addExtension(X509Extension(oid: "1.3.6.1.4.1.55555.1", critical: false, value: [0x05, 0x00]))
        builder.addExtension(X509Extension(oid: "1.3.6.1.4.1.55555.2", critical: false, value: [0x05, 0x00]))
        var der = try builder.sign(with: key).der
        let second: [UInt8] = [0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb2, 0x03, 0x02]
        let at = try #require(der.indices.first { der[$0...].starts(with: second) })
        der[at + second.count - 1] = 0x01
        let x509 = try X509(der: der)
        #expect(x509.extensions.map(\.oid) == ["1.3.6.1.4.1.55555.1", "1.3.6.1.4.1.55555.1"])
        #expect {
            _ = try Certificate(x509)
        } throws: { error in
            guard let error = error as? CertificateBridgeError else { return false }
            return error.code == .refused && error.operation == "X509 to Certificate" && !error.detail.isEmpty
        }
    }

    // MARK: helpers

    /// A Name in DER from RDNs of AttributeTypeAndValue encodings (each RDN's SET sorted as DER asks).
    static func name(_ rdns: [[[UInt8]]]) -> [UInt8] {
        tlv(
            0x30,
            rdns.flatMap { rdn in
                tlv(0x31, rdn.sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 })
            })
    }

    static func attribute(_ oid: [UInt8], tag: UInt8, _ value: [UInt8]) -> [UInt8] {
        tlv(0x30, tlv(0x06, oid) + tlv(tag, value))
    }

    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        precondition(content.count < 128, "short lengths only in these fixtures")
        return [tag, UInt8(content.count)] + content
    }
}

/// The DER of a swift-certificates value.
func derOf(_ value: some DERSerializable) throws -> [UInt8] {
    var serializer = DER.Serializer()
    try serializer.serialize(value)
    return serializer.serializedBytes
}

extension Array where Element == UInt8 {
    /// The bytes without leading zero bytes (keeping one for zero).
    func dropLeadingZeros() -> [UInt8] {
        let trimmed = Array(drop { $0 == 0 })
        return trimmed.isEmpty ? [0] : trimmed
    }
}
