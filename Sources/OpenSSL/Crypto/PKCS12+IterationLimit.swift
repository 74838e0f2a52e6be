import Foundation
internal import COpenSSL

// Why this file exists: the iteration counts of a PKCS#12 bundle's MAC and
// of its password-based encryption are chosen by whoever wrote the file, and
// OpenSSL runs whatever count it finds. A 3 KB bundle asking for
// 2,147,483,647 MAC iterations keeps `PKCS12_verify_mac` busy for many
// minutes, before any passphrase is known to be right (the library even
// tries the empty passphrases when none is given); one with no MAC and an
// encrypted bag does the same inside `PKCS12_parse`. So `PKCS12(der:)`
// reads every count first (the MAC's, each encrypted safe's, each shrouded
// key's, N·r·p for scrypt) and refuses the bundle when one is above its limit.

extension PKCS12 {
    /// The most key-derivation iterations `init(der:passphrase:maximumIterations:)`
    /// accepts by default: 1,000,000, far above what tools write (OpenSSL
    /// 2,048, Java 10,000, Windows 2,000) and a fraction of a second to compute.
    public static let defaultMaximumIterations = 1_000_000

    /// Throws when the MAC asks for more than `limit` iterations (or for a count that is not a small positive integer).
    static func checkMACIterations(_ p12: OpaquePointer, limit: Int, operation: String) throws {
        guard PKCS12_mac_present(p12) == 1 else { return }
        var iterations: UnsafePointer<ASN1_INTEGER>?
        PKCS12_get0_mac(nil, nil, nil, &iterations, p12)
        // An absent count means 1 (RFC 7292's default).
        guard let iterations else { return }
        try check(iterations, what: "MAC", limit: limit, operation: operation)
    }

    /// Throws when an encrypted safe or a shrouded key asks for more than
    /// `limit` iterations. Encrypted safes are decrypted (after their own
    /// count was checked) to reach the keys inside; a safe that does not
    /// decrypt is left for `PKCS12_parse` to report.
    static func checkContentIterations(_ p12: OpaquePointer, password: [CChar]?, limit: Int, operation: String) throws {
        ErrorQueue.clear()
        guard let safes = PKCS12_unpack_authsafes(p12) else {
            ErrorQueue.clear()
            return  // not decodable: PKCS12_parse reports it
        }
        defer { cossl_sk_PKCS7_pop_free(safes) }
        for index in 0..<max(cossl_sk_PKCS7_num(safes), 0) {
            guard let safe = cossl_sk_PKCS7_value(safes, index) else { continue }
            let bags: OpaquePointer?
            switch OBJ_obj2nid(safe.pointee.type) {
            case NID_pkcs7_data:
                bags = PKCS12_unpack_p7data(safe)
            case NID_pkcs7_encrypted:
                try check(
                    safe.pointee.d.encrypted?.pointee.enc_data?.pointee.algorithm,
                    what: "encrypted contents", limit: limit, operation: operation)
                bags =
                    password.map { secret in
                        secret.withUnsafeBufferPointer { PKCS12_unpack_p7encdata(safe, $0.baseAddress, -1) }
                    } ?? PKCS12_unpack_p7encdata(safe, nil, 0)
            default:
                bags = nil
            }
            ErrorQueue.clear()
            guard let bags else { continue }
            defer { cossl_sk_PKCS12_SAFEBAG_pop_free(bags) }
            try checkBags(bags, depth: 0, limit: limit, operation: operation)
        }
        ErrorQueue.clear()
    }

    /// Checks the shrouded keys among `bags`, and inside nested safe-contents bags (at most 8 deep).
    private static func checkBags(_ bags: OpaquePointer, depth: Int, limit: Int, operation: String) throws {
        for index in 0..<max(cossl_sk_PKCS12_SAFEBAG_num(bags), 0) {
            guard let bag = cossl_sk_PKCS12_SAFEBAG_value(bags, index) else { continue }
            switch PKCS12_SAFEBAG_get_nid(bag) {
            case NID_pkcs8ShroudedKeyBag:
                guard let shrouded = PKCS12_SAFEBAG_get0_pkcs8(bag) else { continue }
                var algorithm: UnsafePointer<X509_ALGOR>?
                X509_SIG_get0(shrouded, &algorithm, nil)
                try check(algorithm, what: "encrypted private key", limit: limit, operation: operation)
            case NID_safeContentsBag:
                guard depth < 8 else {
                    throw OpenSSLError(operation: operation, detail: "safe contents nested more than 8 deep")
                }
                if let nested = PKCS12_SAFEBAG_get0_safes(bag) {
                    try checkBags(nested, depth: depth + 1, limit: limit, operation: operation)
                }
            default:
                continue
            }
        }
    }

    /// Checks a password-based encryption algorithm's work: PBES2 with PBKDF2
    /// (its iteration count) or scrypt (N·r·p), or a PKCS#5 v1 / PKCS#12 PBE
    /// (its iteration count). Other algorithms are left to OpenSSL, which
    /// refuses what it does not know.
    private static func check(_ algorithm: UnsafePointer<X509_ALGOR>?, what: String, limit: Int, operation: String) throws {
        guard let algorithm else { return }
        var object: OpaquePointer?
        var parameterType: Int32 = 0
        var parameter: UnsafeRawPointer?
        X509_ALGOR_get0(&object, &parameterType, &parameter, algorithm)
        guard parameterType == V_ASN1_SEQUENCE, let sequence = parameter?.assumingMemoryBound(to: ASN1_STRING.self) else {
            return
        }
        let der = ASN1.bytes(sequence)
        if OBJ_obj2nid(object) == NID_pbes2 {
            let decoded = decode(der) { d2i_PBE2PARAM(nil, $0, $1) }
            guard let pbes2 = decoded else { return }
            defer { PBE2PARAM_free(pbes2) }
            guard let keyDerivation = pbes2.pointee.keyfunc else { return }
            var keyObject: OpaquePointer?
            var keyParameterType: Int32 = 0
            var keyParameter: UnsafeRawPointer?
            X509_ALGOR_get0(&keyObject, &keyParameterType, &keyParameter, keyDerivation)
            guard keyParameterType == V_ASN1_SEQUENCE,
                let keySequence = keyParameter?.assumingMemoryBound(to: ASN1_STRING.self)
            else { return }
            let keyDER = ASN1.bytes(keySequence)
            switch OBJ_obj2nid(keyObject) {
            case NID_id_pbkdf2:
                guard let pbkdf2 = decode(keyDER, { d2i_PBKDF2PARAM(nil, $0, $1) }) else { return }
                defer { PBKDF2PARAM_free(pbkdf2) }
                try check(pbkdf2.pointee.iter, what: what, limit: limit, operation: operation)
            case NID_id_scrypt:
                guard let scrypt = decode(keyDER, { d2i_SCRYPT_PARAMS(nil, $0, $1) }) else { return }
                defer { SCRYPT_PARAMS_free(scrypt) }
                let n = value(scrypt.pointee.costParameter)
                let r = value(scrypt.pointee.blockSize)
                let p = value(scrypt.pointee.parallelizationParameter)
                let (nr, overflow1) = (n ?? Int64.max).multipliedReportingOverflow(by: r ?? Int64.max)
                let (work, overflow2) = nr.multipliedReportingOverflow(by: p ?? Int64.max)
                if n == nil || r == nil || p == nil || overflow1 || overflow2 || work > Int64(limit) {
                    throw OpenSSLError(
                        operation: operation,
                        detail: "the \(what) asks for scrypt work N·r·p above the limit of \(limit)")
                }
            default:
                return
            }
        } else if let pbe = decode(der, { d2i_PBEPARAM(nil, $0, $1) }) {
            defer { PBEPARAM_free(pbe) }
            try check(pbe.pointee.iter, what: what, limit: limit, operation: operation)
        }
        ErrorQueue.clear()
    }

    /// Throws unless `iterations` is between 1 and `limit`.
    private static func check(_ iterations: UnsafePointer<ASN1_INTEGER>?, what: String, limit: Int, operation: String) throws {
        // An absent count means 1.
        guard let iterations else { return }
        let count = value(iterations)
        guard let count, count <= Int64(limit) else {
            throw OpenSSLError(
                operation: operation,
                detail:
                    "the \(what) asks for \(count.map(String.init) ?? "an enormous number of") iterations; the limit is \(limit)")
        }
        guard count >= 1 else {
            throw OpenSSLError(operation: operation, detail: "the \(what) asks for \(count) iterations")
        }
    }

    /// An ASN1_INTEGER as Int64, nil when it does not fit.
    private static func value(_ integer: UnsafePointer<ASN1_INTEGER>?) -> Int64? {
        guard let integer else { return nil }
        var result: Int64 = 0
        let ok = ASN1_INTEGER_get_int64(&result, integer)
        ErrorQueue.clear()
        return ok == 1 ? result : nil
    }

    /// Decodes `der` with a `d2i_*` function; nil (queue cleared) when it does not decode.
    private static func decode<T>(_ der: [UInt8], _ d2i: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> T?) -> T? {
        guard !der.isEmpty else { return nil }
        return der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let decoded = d2i(&cursor, buffer.count)
            if decoded == nil { ErrorQueue.clear() }
            return decoded
        }
    }
}
