import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Distinguished names (CONFORMANCE X03).
@Suite("X509Name")
struct X509NameTests {
    @Test("X03 components in order, repeated attributes and multi-valued RDNs")
    func componentsInOrder() throws {
        let subject = try X509(pem: try Fixtures.bytes("utf8-names.pem")).subject
        #expect(subject.components.map(\.name) == ["C", "O", "OU", "OU", "UID", "CN"])
        #expect(subject.components.map(\.value) == ["DE", "テスト GmbH", "one", "two", "42", "Grüße Straße"])
        // UID and CN share one RDN.
        #expect(subject.components.map(\.rdnIndex) == [0, 1, 2, 3, 4, 4])
        #expect(try subject.values(for: "OU") == ["one", "two"])
        #expect(subject.commonName == "Grüße Straße")
        #expect(subject.organization == "テスト GmbH")
        #expect(subject.country == "DE")
        #expect(subject.organizationalUnit == "one")
        #expect(subject.locality == nil)
        #expect(subject.components[0].oid == "2.5.4.6")
        #expect(subject.components[0].longName == "countryName")
        #expect(subject.components[5].stringType == V_ASN1_UTF8STRING)
        #expect(subject.rfc2253String == "CN=Grüße Straße+UID=42,OU=two,OU=one,O=テスト GmbH,C=DE")
        #expect(subject.oneLineString.contains("CN = Grüße Straße"))
        #expect(subject.slashSeparatedString == "/C=DE/O=テスト GmbH/OU=one/OU=two/UID=42/CN=Grüße Straße")
    }

    @Test("X03 lookup by short name, long name and OID")
    func lookup() throws {
        let name = try X509Name([("CN", "example.com"), ("O", "Example"), ("OU", "a"), ("OU", "b")])
        #expect(try name["CN"] == "example.com")
        #expect(try name["commonName"] == "example.com")
        #expect(try name["2.5.4.3"] == "example.com")
        #expect(try name.values(for: "organizationalUnitName") == ["a", "b"])
        #expect(try name["L"] == nil)
        // Unknown is not absent: the lookup refuses the name (pyOpenSSL raises AttributeError).
        let unknown = try #require(throws: UnknownNameError.self) { try name.values(for: "definitelyNotAnAttribute") }
        #expect(unknown == UnknownNameError(kind: .attribute, name: "definitelyNotAnAttribute"))
        #expect(throws: UnknownNameError.self) { try name["definitelyNotAnAttribute"] }
        #expect(try name.values(for: "L").isEmpty, "known and absent: no values")
    }

    @Test("X03 an unknown attribute is refused")
    func unknownAttribute() throws {
        let error = try #require(throws: OpenSSLError.self) { try X509Name([("CN", "x"), ("NoSuchAttr", "y")]) }
        #expect(error.operation.contains("NoSuchAttr"))
        #expect(!error.entries.isEmpty)
        expectErrorQueueEmpty()
        #expect(throws: OpenSSLError.self) { try X509Name(slashSeparated: "/CN=x/Bogus=y") }
        #expect(throws: OpenSSLError.self) { try X509Name(slashSeparated: "CN=x") }
        #expect(throws: OpenSSLError.self) { try X509Name(slashSeparated: "/CN") }
        // A country must be two characters.
        #expect(throws: OpenSSLError.self) { try X509Name([("C", "Germany")]) }
        expectErrorQueueEmpty()
    }

    @Test("X03 NUL bytes inside a value are kept")
    func nulInsideValue() throws {
        let name = try X509Name([("CN", "good.example\0.evil.example"), ("O", "org")])
        #expect(name.commonName == "good.example\0.evil.example")
        #expect(name.components[0].rawValue.count == 26)
        let back = try X509Name(der: name.der)
        #expect(back.commonName == "good.example\0.evil.example")
        #expect(back == name)
        #expect(back != (try X509Name([("CN", "good.example"), ("O", "org")])))
    }

    @Test("X03 equality and ordering follow X509_NAME_cmp")
    func equalityAndOrdering() throws {
        let a = try X509Name([("C", "US"), ("CN", "alpha")])
        let a2 = try X509Name(slashSeparated: "/C=US/CN=alpha")
        let b = try X509Name([("C", "US"), ("CN", "beta")])
        #expect(a == a2)
        #expect(a.hashValue == a2.hashValue)
        #expect(a != b)
        // Canonical comparison: case and inner whitespace do not matter.
        #expect(a == (try X509Name([("C", "US"), ("CN", "  ALPHA ")])))
        // X509_NAME_cmp orders by canonical encoding length first: "beta" sorts before "alpha".
        #expect(b < a)
        #expect(!(a < b))
        #expect([a, b].sorted() == [b, a])
        let cmp = a.withUnsafeOpenSSLPointer { pa in b.withUnsafeOpenSSLPointer { pb in X509_NAME_cmp(pa, pb) } }
        #expect((cmp < 0) == (a < b))
        #expect(Set([a, a2, b]).count == 2)
    }

    @Test("X03 hash and DER agree with openssl")
    func hashAndDER() throws {
        let certificate = try X509(pem: try Fixtures.bytes("negative-serial.pem"))
        let subject = try certificate.subject
        let hash = try ExternalTool.openssl(["x509", "-in", Fixtures.path("negative-serial.pem"), "-noout", "-subject_hash"])
        #expect(String(format: "%08x", subject.hash) == hash.trimmingCharacters(in: .whitespacesAndNewlines))
        let der = subject.der
        #expect(der.first == 0x30)
        #expect(try X509Name(der: der) == subject)
        #expect(throws: OpenSSLError.self) { try X509Name(der: der + [0]) }
        #expect(throws: OpenSSLError.self) { try X509Name(der: [0x30, 0x05]) }
        #expect(throws: OpenSSLError.self) { try X509Name(der: []) }
        expectErrorQueueEmpty()
    }

    @Test("Invalid UTF-8 and invalid BMPString values are refused by OpenSSL's decoder")
    func invalidText() throws {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String 0xff 0xfe } } }
        let badUTF8: [UInt8] = [0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x02, 0xff, 0xfe]
        let error = try #require(throws: OpenSSLError.self) { try X509Name(der: badUTF8) }
        #expect(error.hasReason("invalid utf8string"))
        expectErrorQueueEmpty()
        // A BMPString holding a lone surrogate (0xD800) is refused the same way.
        let loneSurrogate: [UInt8] = [0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x1e, 0x02, 0xd8, 0x00]
        let bmp = try #require(throws: OpenSSLError.self) { try X509Name(der: loneSurrogate) }
        #expect(bmp.hasReason("illegal characters"))
        expectErrorQueueEmpty()
    }

    @Test("An unknown attribute type is shown by its OID")
    func unknownAttributeType() throws {
        let name = try X509Name([("1.2.3.4.5", "custom")])
        #expect(name.components[0].shortName == nil)
        #expect(name.components[0].name == "1.2.3.4.5")
        #expect(try name["1.2.3.4.5"] == "custom")
    }
}
