import Testing
import Foundation
@testable import OpenSSL

@Test func smoke() throws {
    let key = try PKey.generate(.ec(.p256))
    let pem = try key.privateKeyPEM()
    let back = try PKey(privateKeyPEM: pem)
    #expect(back.isPublicKeyEqual(to: key))
    #expect(key.curveName == "prime256v1")
    let enc = try key.privateKeyPEM(passphrase: "secret")
    print(enc.prefix(40))
    #expect(throws: PassphraseError.self) { try PKey(privateKeyPEM: enc) }
    #expect(throws: PassphraseError.self) { try PKey(privateKeyPEM: enc, passphrase: "nope") }
    let again = try PKey(privateKeyPEM: enc, passphrase: "secret")
    #expect(again.isPublicKeyEqual(to: key))
    let sig = try key.sign(Array("hi".utf8))
    #expect(try key.verify(signature: sig, for: Array("hi".utf8)))
    let ed = try PKey.generate(.ed25519)
    let der = try ed.privateKeyDER()
    #expect(try PKey(privateKeyDER: der).isPublicKeyEqual(to: ed))
    let encDer = try ed.privateKeyDER(passphrase: "pw")
    #expect(try PKey(privateKeyDER: encDer, passphrase: "pw").isPublicKeyEqual(to: ed))
    do { _ = try PKey(privateKeyDER: encDer, passphrase: "bad"); Issue.record("no throw") } catch { print("wrong DER pass:", error) }
    do { _ = try PKey(privateKeyDER: encDer); Issue.record("no throw") } catch { print("missing DER pass:", error) }
    do { _ = try X509(pem: "garbage") } catch { print(error) }
    let bundle = try String(contentsOfFile: "/etc/ssl/certs/ca-certificates.crt", encoding: .utf8)
    let certs = try X509.chain(pem: bundle)
    print(certs.count, certs[0], try certs[0].fingerprint(), try certs[0].text.prefix(300))
    for c in certs.prefix(3) { print(c.extensions.map { "\($0.shortName ?? $0.oid): \($0.text)" }) }
    print(try certs[0].subject.rfc2253String, try certs[0].basicConstraints as Any, try certs[0].keyUsage as Any)
}
