import CBench
import Foundation
import OpenSSL

// W8 (issue 16): one chain verification, root → intermediate → leaf, through
// X509Store.verify under `.openSSL` and under `.webPKI()`, beside the plain C
// X509_verify_cert loop. The same store and certificates for every
// verification, as a client verifying many connections to one site would
// have; the expected host is set in all three (so `.webPKI` runs E1/E2 too).

/// This library: `X509Store.verify(_:untrusted:)` under `policy`.
final class LibraryVerify: Runner {
    let store: X509Store
    let leaf: X509
    let untrusted: [X509]

    init(_ pki: PKI, policy: VerificationPolicy) throws {
        store = try X509Store()
        try store.add(try X509(pem: pki.chainRootPEM))
        try store.setExpectedHost(PKI.chainHost)
        store.setVerificationPolicy(policy)
        leaf = try X509(pem: pki.chainLeafPEM)
        untrusted = [try X509(pem: pki.chainIntermediatePEM)]
        // Both policies must accept this chain, or the comparison means nothing.
        guard try store.verify(leaf, untrusted: untrusted).count == 3 else {
            throw BenchError("W8: \(policy) did not build a three-certificate chain")
        }
    }

    func run(_ count: Int) throws {
        for _ in 0..<count {
            sink &+= try store.verify(leaf, untrusted: untrusted).count
        }
    }
}

/// The C reference: X509_STORE_CTX_new/init, X509_verify_cert, free.
final class CVerify: Runner {
    let raw: OpaquePointer

    init(_ pki: PKI) throws {
        guard let made = cb_verify_new(pki.chainRootPEM, pki.chainIntermediatePEM, pki.chainLeafPEM, PKI.chainHost) else {
            throw BenchError("C W8 set-up failed")
        }
        raw = made
        guard cb_verify_run(raw, 1) == 0 else { throw BenchError("C W8: the chain does not verify") }
    }

    deinit { cb_verify_free(raw) }

    func run(_ count: Int) throws {
        guard cb_verify_run(raw, count) == 0 else { throw BenchError("C W8 verification failed") }
    }
}
