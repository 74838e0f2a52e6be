import CBench
import Foundation

/// The C reference's contexts, built once from the PKI.
final class CEnvironment {
    let raw: OpaquePointer

    init(_ pki: PKI) throws {
        var error = [CChar](repeating: 0, count: 512)
        let groups: UnsafeMutablePointer<CChar>? = benchGroups.flatMap { strdup($0.joined(separator: ":")) }
        defer { free(groups) }
        let env: OpaquePointer? = pki.rootPEM.withCString { root in
            pki.ecdsaCertificatePEM.withCString { ecdsaCert in
                pki.ecdsaKeyPEM.withCString { ecdsaKey in
                    pki.rsaCertificatePEM.withCString { rsaCert in
                        pki.rsaKeyPEM.withCString { rsaKey in
                            pki.clientCertificatePEM.withCString { clientCert in
                                pki.clientKeyPEM.withCString { clientKey in
                                    var inputs = cb_pki(
                                        root_pem: root, ecdsa_cert_pem: ecdsaCert, ecdsa_key_pem: ecdsaKey,
                                        rsa_cert_pem: rsaCert, rsa_key_pem: rsaKey,
                                        client_cert_pem: clientCert, client_key_pem: clientKey,
                                        groups: groups)
                                    return cb_env_new(&inputs, &error, error.count)
                                }
                            }
                        }
                    }
                }
            }
        }
        guard let env else {
            throw BenchError(
                "C set-up: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        raw = env
    }

    deinit { cb_env_free(raw) }
}

final class CHandshakes: Runner {
    let env: CEnvironment
    let kind: Int32
    init(_ env: CEnvironment, kind: Int32) {
        self.env = env
        self.kind = kind
    }
    func run(_ count: Int) throws {
        guard cb_handshakes(env.raw, kind, count) == 0 else { throw BenchError("C handshake failed") }
    }
}

final class CPair {
    let raw: OpaquePointer
    init(_ env: CEnvironment) throws {
        guard let pair = cb_pair_new(env.raw, Int32(CB_DATA13)) else { throw BenchError("C pair set-up failed") }
        raw = pair
    }
    deinit { cb_pair_free(raw) }
}

final class CBulk: Runner {
    let pair: CPair
    init(_ env: CEnvironment) throws { pair = try CPair(env) }
    func run(_ count: Int) throws {
        guard cb_bulk(pair.raw, count) == 0 else { throw BenchError("C bulk failed") }
    }
}

final class CRoundTrips: Runner {
    let pair: CPair
    init(_ env: CEnvironment) throws { pair = try CPair(env) }
    func run(_ count: Int) throws {
        guard cb_roundtrips(pair.raw, count) == 0 else { throw BenchError("C round trip failed") }
    }
}

final class CParse: Runner {
    let bundle: [UInt8]
    let expected: Int
    init(bundle: [UInt8], expected: Int) {
        self.bundle = bundle
        self.expected = expected
    }
    func run(_ count: Int) throws {
        for _ in 0..<count {
            let parsed = bundle.withUnsafeBytes { cb_parse_bundle($0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            guard parsed == expected else { throw BenchError("C parsed \(parsed) certificates, expected \(expected)") }
        }
    }
}

final class CTCP: Runner {
    let env: CEnvironment
    init(_ env: CEnvironment) { self.env = env }
    func run(_ count: Int) throws {
        guard cb_tcp_handshakes(env.raw, count) == 0 else { throw BenchError("C TCP handshake failed") }
    }
}
