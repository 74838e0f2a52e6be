import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// X509StoreContext and X509VerificationError: T01–T03, the per-certificate
/// callback, reuse, and the recipes of Docs/verification.md.
@Suite("X509StoreContext")
struct X509StoreContextTests {
    let pki = TestPKI.shared

    func store(trusting certificates: [X509], flags: X509VerifyFlags = []) throws -> X509Store {
        let store = try X509Store()
        for certificate in certificates { try store.add(certificate) }
        if !flags.isEmpty { try store.setFlags(flags) }
        return store
    }

    /// Runs `body`, which must throw an X509VerificationError, and checks it
    /// against OpenSSL's code, message, depth and certificate; the queue must be empty.
    func expectFailure(
        code: X509VerificationError.Code, depth: Int, certificate: X509,
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("verification succeeded; expected \(code)", sourceLocation: sourceLocation)
        } catch let error as X509VerificationError {
            #expect(error.code == code, sourceLocation: sourceLocation)
            #expect(
                error.message == String(cString: X509_verify_cert_error_string(Int(code.rawValue))),
                sourceLocation: sourceLocation)
            #expect(error.depth == depth, sourceLocation: sourceLocation)
            #expect(
                error.certificate == certificate, "at fault: \(error.certificate?.description ?? "none")",
                sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        #expect(ERR_peek_error() == 0, sourceLocation: sourceLocation)
    }

    // MARK: T01

    @Test("T01 missing issuer (intermediate): an intermediate whose issuer is nowhere")
    func missingIssuer() throws {
        let store = try store(trusting: [pki.intermediate])
        expectFailure(code: .unableToGetIssuerCert, depth: 1, certificate: pki.intermediate) {
            try store.verify(pki.server)
        }
        #expect(X509VerificationError.Code.unableToGetIssuerCert.message == "unable to get issuer certificate")
    }

    @Test("T01 missing local issuer (leaf of intermediate): the intermediate was not supplied")
    func missingLocalIssuer() throws {
        let store = try store(trusting: [pki.root])
        expectFailure(code: .unableToGetIssuerCertLocally, depth: 0, certificate: pki.server) {
            try store.verify(pki.server)
        }
        #expect(X509VerificationError.Code.unableToGetIssuerCertLocally.message == "unable to get local issuer certificate")
    }

    @Test("T01 self-signed leaf that is not trusted")
    func selfSigned() throws {
        let store = try store(trusting: [pki.root])
        expectFailure(code: .depthZeroSelfSignedCert, depth: 0, certificate: pki.selfSignedClient) {
            try store.verify(pki.selfSignedClient)
        }
        #expect(X509VerificationError.Code.depthZeroSelfSignedCert.message == "self-signed certificate")
    }

    @Test("T01 expired, via a verification time after the leaf's notAfter")
    func expiredAtSetTime() throws {
        let store = try store(trusting: [pki.root])
        let chain = try store.verify(pki.server, untrusted: [pki.intermediate])
        let moment = try pki.server.notAfter + 60
        try store.setVerificationTime(moment)
        // OpenSSL checks times from the anchor down: the deepest certificate expired at `moment` is at fault.
        let depth = try #require(try chain.indices.reversed().first { try chain[$0].notAfter < moment })
        expectFailure(code: .certHasExpired, depth: depth, certificate: chain[depth]) {
            try store.verify(pki.server, untrusted: [pki.intermediate])
        }
        #expect(X509VerificationError.Code.certHasExpired.message == "certificate has expired")
    }

    @Test("T01 revoked, with CRL checking on")
    func revoked() throws {
        let store = try store(trusting: [pki.root], flags: .crlCheck)
        try store.add(try TestCRL.make(issuer: pki.intermediate, key: pki.intermediateKey, revoking: [pki.server]))
        expectFailure(code: .certRevoked, depth: 0, certificate: pki.server) {
            try store.verify(pki.server, untrusted: [pki.intermediate])
        }
        // The client, not on the list, verifies against the same CRL.
        #expect(try store.verify(pki.client, untrusted: [pki.intermediate]).count == 3)
        #expect(X509VerificationError.Code.certRevoked.message == "certificate revoked")
    }

    @Test("T01 CRL missing, with CRL checking on")
    func crlMissing() throws {
        let store = try store(trusting: [pki.root], flags: .crlCheck)
        expectFailure(code: .unableToGetCRL, depth: 0, certificate: pki.server) {
            try store.verify(pki.server, untrusted: [pki.intermediate])
        }
        #expect(X509VerificationError.Code.unableToGetCRL.message == "unable to get certificate CRL")
    }

    // MARK: T02, T03

    @Test("T02 partial chain: a directly trusted intermediate verifies with the flag, not without")
    func partialChain() throws {
        let store = try store(trusting: [pki.intermediate])
        expectFailure(code: .unableToGetIssuerCert, depth: 1, certificate: pki.intermediate) {
            try store.verify(pki.server)
        }
        try store.setFlags(.partialChain)
        #expect(try store.verify(pki.server) == [pki.server, pki.intermediate])
        try store.clearFlags(.partialChain)
        #expect(throws: X509VerificationError.self) { try store.verify(pki.server) }
    }

    @Test("T03 untrusted intermediates build the chain, and the same context verifies again")
    func untrustedAndReuse() throws {
        let store = try store(trusting: [pki.root])
        let context = try X509StoreContext(store: store, certificate: pki.server, untrusted: [pki.intermediate])
        #expect(context.verifiedChain == nil)
        let chain = try context.verify()
        #expect(chain.count == 3)
        #expect(chain == [pki.server, pki.intermediate, pki.root])
        #expect(context.verifiedChain == chain)

        // Again, unchanged.
        #expect(try context.verify() == chain)
        // Another leaf, same untrusted intermediates.
        context.setCertificate(pki.client)
        #expect(try context.verify() == [pki.client, pki.intermediate, pki.root])
        // Without the intermediate: fails, and the verified chain is gone.
        context.setUntrusted([])
        expectFailure(code: .unableToGetIssuerCertLocally, depth: 0, certificate: pki.client) { try context.verify() }
        #expect(context.verifiedChain == nil)
        // With it again: verifies.
        context.setUntrusted([pki.intermediate])
        #expect(try context.verify().count == 3)
        // Another store: the root is not trusted there.
        context.setStore(try X509Store())
        expectFailure(code: .unableToGetIssuerCertLocally, depth: 1, certificate: pki.intermediate) { try context.verify() }
        #expect(context.store !== store)
    }

    // MARK: The verify callback

    struct Call: Equatable, CustomStringConvertible {
        let ok: Bool, depth: Int, error: X509VerificationError.Code, certificate: X509?
        var description: String { "(\(ok), \(depth), \(error.rawValue), \(certificate?.description ?? "nil"))" }
    }

    @Test("The callback sees every certificate, anchor first, with OpenSSL's verdict")
    func callbackSeesChain() throws {
        let context = try X509StoreContext(
            store: try store(trusting: [pki.root]), certificate: pki.server,
            untrusted: [pki.intermediate])
        var calls: [Call] = []
        context.setVerifyCallback { ok, info in
            calls.append(Call(ok: ok, depth: info.depth, error: info.error, certificate: info.certificate))
            return ok
        }
        #expect(try context.verify().count == 3)
        #expect(
            calls == [
                Call(ok: true, depth: 2, error: .ok, certificate: pki.root),
                Call(ok: true, depth: 1, error: .ok, certificate: pki.intermediate),
                Call(ok: true, depth: 0, error: .ok, certificate: pki.server),
            ])
    }

    @Test("Returning true overrides an error; the chain is what OpenSSL built")
    func callbackOverrides() throws {
        let context = try X509StoreContext(store: try X509Store(), certificate: pki.selfSignedClient)
        var calls: [Call] = []
        context.setVerifyCallback { ok, info in
            calls.append(Call(ok: ok, depth: info.depth, error: info.error, certificate: info.certificate))
            return true
        }
        #expect(try context.verify() == [pki.selfSignedClient])
        #expect(calls.first == Call(ok: false, depth: 0, error: .depthZeroSelfSignedCert, certificate: pki.selfSignedClient))
        #expect(calls.allSatisfy { $0.certificate == pki.selfSignedClient && $0.depth == 0 })
        #expect(ERR_peek_error() == 0)

        // Removing the callback restores OpenSSL's verdict.
        context.setVerifyCallback(nil)
        expectFailure(code: .depthZeroSelfSignedCert, depth: 0, certificate: pki.selfSignedClient) { try context.verify() }
    }

    @Test("Returning false for an accepted certificate fails with application verification at its depth")
    func callbackRejects() throws {
        let context = try X509StoreContext(
            store: try store(trusting: [pki.root]), certificate: pki.server,
            untrusted: [pki.intermediate])
        context.setVerifyCallback { ok, info in info.depth == 1 ? false : ok }
        expectFailure(code: .applicationVerification, depth: 1, certificate: pki.intermediate) { try context.verify() }
        #expect(context.verifiedChain == nil)
    }

    final class PolicyFailure: Error, @unchecked Sendable {  // immutable
        let reason: String
        init(reason: String) { self.reason = reason }
    }

    @Test("An error thrown by the callback comes out of verify as that same error, and stops verification")
    func callbackThrows() throws {
        let thrown = PolicyFailure(reason: "fingerprint not on the allow list")
        let context = try X509StoreContext(
            store: try store(trusting: [pki.root]), certificate: pki.server,
            untrusted: [pki.intermediate])
        var depths: [Int] = []
        context.setVerifyCallback { _, info in
            depths.append(info.depth)
            if info.depth == 1 { throw thrown }
            return true
        }
        do {
            try context.verify()
            Issue.record("verify succeeded")
        } catch let error as PolicyFailure {
            #expect(error === thrown)
        }
        #expect(depths == [2, 1])
        #expect(context.verifiedChain == nil)
        #expect(ERR_peek_error() == 0)

        // The stored error does not leak into the next verification.
        context.setVerifyCallback { ok, _ in ok }
        #expect(try context.verify().count == 3)
    }

    @Test("verify() from the context's own callback is a usage error; the context stays usable")
    func reentrantVerify() throws {
        let context = try X509StoreContext(
            store: try store(trusting: [pki.root]), certificate: pki.server,
            untrusted: [pki.intermediate])
        var inner: (any Error)?
        context.setVerifyCallback { [unowned context] ok, info in
            if info.depth == 0 {
                do { try context.verify() } catch { inner = error }
            }
            return ok
        }
        #expect(try context.verify().count == 3)
        let usage = try #require(inner as? UsageError)
        #expect(usage.reason.contains("own verify callback"))
        // Verifying against the same store from another context inside the callback is fine.
        let other = try X509StoreContext(store: context.store, certificate: pki.client, untrusted: [pki.intermediate])
        var nestedLength = 0
        context.setVerifyCallback { ok, _ in
            nestedLength = try other.verify().count
            return ok
        }
        #expect(try context.verify().count == 3)
        #expect(nestedLength == 3)
        #expect(ERR_peek_error() == 0)
    }

    @Test("Callbacks of contexts verifying at once each see their own context (ex data, not globals)")
    func callbacksAreIsolated() async throws {
        let store = try store(trusting: [pki.root])
        let leaves = [pki.server, pki.client]
        let intermediate = pki.intermediate
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let leaf = leaves[task % 2]
                    var wrong = 0
                    for _ in 0..<40 {
                        let context = try X509StoreContext(store: store, certificate: leaf, untrusted: [intermediate])
                        context.setVerifyCallback { ok, info in
                            if info.depth == 0 && info.certificate != leaf { wrong += 1 }
                            return ok
                        }
                        if try context.verify().first != leaf { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test("The store-context ex-data index shim hands out indexes")
    func exDataIndexShim() throws {
        let first = cossl_X509_STORE_CTX_get_ex_new_index(0, nil, nil, nil, nil)
        let second = cossl_X509_STORE_CTX_get_ex_new_index(0, nil, nil, nil, nil)
        #expect(first >= 0)
        #expect(second > first)
    }

    // MARK: The error value

    @Test("Verification error codes are OpenSSL 3.0's numbers")
    func codeValues() {
        let expected: [(X509VerificationError.Code, Int32)] = [
            (.ok, 0), (.unableToGetIssuerCert, 2), (.unableToGetCRL, 3), (.certSignatureFailure, 7),
            (.crlSignatureFailure, 8), (.certNotYetValid, 9), (.certHasExpired, 10), (.crlNotYetValid, 11),
            (.crlHasExpired, 12), (.depthZeroSelfSignedCert, 18), (.selfSignedCertInChain, 19),
            (.unableToGetIssuerCertLocally, 20), (.unableToVerifyLeafSignature, 21), (.certChainTooLong, 22),
            (.certRevoked, 23), (.noIssuerPublicKey, 24), (.pathLengthExceeded, 25), (.invalidPurpose, 26),
            (.certUntrusted, 27), (.certRejected, 28), (.applicationVerification, 50), (.hostnameMismatch, 62),
            (.emailMismatch, 63), (.ipAddressMismatch, 64), (.invalidCall, 69), (.storeLookup, 70), (.invalidCA, 79),
        ]
        for (code, value) in expected {
            #expect(code.rawValue == value)
        }
        #expect(X509VerificationError.Code.certHasExpired.description == "certificate has expired (10)")
        #expect(X509VerificationError.Code(rawValue: 9999).message == "unknown certificate verification error")
    }

    @Test("A verification error is equatable, hashable and describes itself")
    func errorValue() throws {
        let store = try store(trusting: [pki.root])
        let first = try #require(throws: X509VerificationError.self) { try store.verify(pki.server) }
        let second = try #require(throws: X509VerificationError.self) { try store.verify(pki.server) }
        #expect(first == second)
        #expect(Set([first, second]).count == 1)
        #expect(first != X509VerificationError(code: .certHasExpired, depth: 0, certificate: pki.server))
        #expect(first.description.contains("unable to get local issuer certificate (20) at depth 0"))
        #expect(first.description.contains("localhost"))
        let made = X509VerificationError(code: .certRevoked, depth: 1)
        #expect(made.message == "certificate revoked")
        #expect(made.certificate == nil)
    }
}
