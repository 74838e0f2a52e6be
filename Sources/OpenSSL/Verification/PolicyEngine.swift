import Foundation
internal import COpenSSL

/// Runs one verification under `VerificationPolicy.webPKI` on an
/// initialised `X509_STORE_CTX`, for `X509StoreContext` and for the TLS
/// whole-chain trampoline alike.
///
/// 1. OpenSSL is asked as the profile says (P1–P4 on the context's own
///    parameters; P5 through the store's CRL lookup, see `installCRLLookup`).
/// 2. `X509_verify_cert` runs, with a verify callback in front of the
///    caller's that makes notAfter inclusive (P3).
/// 3. The profile's rules are checked over the chain OpenSSL built.
/// 4. P6: when OpenSSL or a rule refuses a certificate at depth ≥ 1 that
///    came from the untrusted set (or, for a name-constraint violation, the
///    untrusted CA certificate that imposed the constraint), it is set aside
///    and the chain built again on a fresh context: at most 8 builds in all,
///    none started after 2 seconds. When none succeeds, the first refusal is
///    reported.
///
/// The outcome is written back into the caller's context: on success its
/// verified chain is the accepted one and its error `X509_V_OK`; on refusal
/// its error is OpenSSL's code, or `X509_V_ERR_APPLICATION_VERIFICATION`
/// for a rule, at the refusal's depth.
enum PolicyEngine {
    /// The most chains built for one verification (P6).
    static let maximumBuilds = 8
    /// No build starts after this many seconds (P6).
    static let timeBudget: TimeInterval = 2

    struct Outcome {
        /// OpenSSL's own verdict on its first build (nil: it verified).
        var openSSLError: X509VerificationError?
        /// The chain OpenSSL built and verified on its first build.
        var openSSLChain: [X509]?
        /// The policy's verdict: nil when the chain was accepted.
        var error: X509VerificationError?
        /// The chain the policy accepted.
        var chain: [X509]?
    }

    /// Verifies on `context` (initialised, not yet run) under `policy`.
    /// - Parameter prepareRebuild: called with each fresh context of the
    ///   path search and the original one, to copy what the caller attached
    ///   to the original (its ex data); the parameters, the store, the leaf
    ///   and the caller's verify callback are copied here.
    static func verify(
        _ context: OpaquePointer, policy: VerificationPolicy,
        prepareRebuild: (_ fresh: OpaquePointer, _ original: OpaquePointer) -> Void
    ) -> Outcome {
        var outcome = Outcome()
        guard policyRunIndex >= 0, let publicSuffixes = policy.publicSuffixes,
            let parameters = X509_STORE_CTX_get0_param(context),
            let leaf = X509_STORE_CTX_get0_cert(context)
        else {
            let error = X509VerificationError(
                code: .unspecified, depth: 0, certificate: nil,
                message: "the Web-PKI policy could not be set up on this verification")
            X509_STORE_CTX_set_error(context, X509_V_ERR_UNSPECIFIED)
            outcome.openSSLError = error
            outcome.error = error
            return outcome
        }
        let store = X509_STORE_CTX_get0_store(context)
        let leafCertificate = try? X509(borrowing: leaf)
        let untrusted = X509.list(fromStack: X509_STORE_CTX_get0_untrusted(context))
        let maximumDepth = prepare(parameters, untrusted: untrusted.filter { $0 != leafCertificate })
        let checks = WebPKIChecks(
            strictAnchors: policy.strictAnchors, publicSuffixes: publicSuffixes,
            hosts: expectedHosts(parameters),
            hostFlags: X509_VERIFY_PARAM_get_hostflags(parameters),
            maximumDepth: maximumDepth)
        let callersCallback = X509_STORE_CTX_get_verify_cb(context)
        let deadline = Date().addingTimeInterval(timeBudget)
        var remaining = untrusted
        var builds = 0
        var firstRefusal: X509VerificationError?
        // The fresh context of the current build and its untrusted stack (nil on the first build).
        var fresh: (context: OpaquePointer, stack: OpaquePointer)?
        defer { if let fresh { release(fresh) } }

        while true {
            let current = fresh?.context ?? context
            builds += 1
            let state = RunState(
                callersCallback: callersCallback,
                checkTime: X509_VERIFY_PARAM_get_time(X509_STORE_CTX_get0_param(current)))
            X509_STORE_CTX_set_ex_data(current, policyRunIndex, Unmanaged.passUnretained(state).toOpaque())
            X509_STORE_CTX_set_verify_cb(current, policyVerifyTrampoline)
            ErrorQueue.clear()
            let verified = withExtendedLifetime(state) { X509_verify_cert(current) == 1 }
            ErrorQueue.clear()
            X509_STORE_CTX_set_ex_data(current, policyRunIndex, nil)
            X509_STORE_CTX_set_verify_cb(current, callersCallback)
            let built = X509.list(fromStack: X509_STORE_CTX_get0_chain(current))
            let untrustedCount = Int(X509_STORE_CTX_get_num_untrusted(current))

            let refusal: X509VerificationError
            if verified {
                if builds == 1 { outcome.openSSLChain = built }
                if let violation = checks.firstViolation(in: built) {
                    refusal = violation
                } else {
                    if current != context { adoptChain(of: current, into: context, leaf: leaf) }
                    outcome.chain = built
                    return outcome
                }
            } else {
                var error = X509VerificationError(store: current)
                if error.code == .ok {
                    error = X509VerificationError(code: .unspecified, depth: error.depth, certificate: error.certificate)
                }
                if builds == 1 { outcome.openSSLError = error }
                refusal = error
            }
            if firstRefusal == nil { firstRefusal = refusal }

            guard builds < maximumBuilds, Date() < deadline,
                let culprit = culprit(of: refusal, in: built, untrustedCount: untrustedCount)
            else { break }
            let before = remaining.count
            remaining.removeAll { $0 == culprit }
            guard remaining.count < before,
                let next = makeContext(store: store, leaf: leaf, untrusted: remaining, like: context)
            else { break }
            prepareRebuild(next.context, context)
            if let previous = fresh { release(previous) }
            fresh = next
        }
        let refusal = firstRefusal ?? X509VerificationError(code: .unspecified, depth: 0)
        report(refusal, into: context)
        outcome.error = refusal
        return outcome
    }

    // MARK: Steps

    /// P1–P4 on the context's parameters; returns the depth limit asked for
    /// (P4), or nil when there is none.
    private static func prepare(_ parameters: OpaquePointer, untrusted: [X509]) -> Int? {
        // P1: a TLS server certificate; names from subjectAltNames only, whole-label wildcards.
        X509_VERIFY_PARAM_set_purpose(parameters, X509_PURPOSE_SSL_SERVER)
        X509_VERIFY_PARAM_set_trust(parameters, X509_TRUST_SSL_SERVER)
        X509_VERIFY_PARAM_set_hostflags(
            parameters,
            X509_VERIFY_PARAM_get_hostflags(parameters)
                | UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        // P2: every trusted certificate is an anchor.
        X509_VERIFY_PARAM_set_flags(parameters, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        // P3: one fixed verification time in whole seconds, for every
        // certificate and for the inclusive notAfter in the callback.
        if X509_VERIFY_PARAM_get_flags(parameters) & UInt(X509_V_FLAG_USE_CHECK_TIME) == 0 {
            X509_VERIFY_PARAM_set_time(parameters, time(nil))
        }
        // P4: self-issued intermediates do not count against the depth.
        let depth = X509_VERIFY_PARAM_get_depth(parameters)
        ErrorQueue.clear()
        guard depth >= 0 else { return nil }
        let selfIssued = untrusted.filter(WebPKIChecks.isSelfIssued).count
        X509_VERIFY_PARAM_set_depth(parameters, depth + Int32(clamping: selfIssued))
        return Int(depth)
    }

    /// The host names set on the parameters.
    private static func expectedHosts(_ parameters: OpaquePointer) -> [String] {
        var hosts: [String] = []
        var index: Int32 = 0
        while let host = X509_VERIFY_PARAM_get0_host(parameters, index) {
            hosts.append(String(cString: host))
            index += 1
        }
        ErrorQueue.clear()
        return hosts
    }

    private static let nameConstraintCodes: Set<X509VerificationError.Code> = [
        .permittedViolation, .excludedViolation, .subtreeMinmax, .unsupportedConstraintType,
        .unsupportedConstraintSyntax, .unsupportedNameSyntax,
    ]

    /// The untrusted certificate to set aside after `refusal`, or nil when
    /// another build cannot help.
    private static func culprit(of refusal: X509VerificationError, in chain: [X509], untrustedCount: Int) -> X509? {
        let fromUntrusted = 1..<max(min(chain.count, untrustedCount), 1)
        if refusal.rule == nil && nameConstraintCodes.contains(refusal.code) {
            // OpenSSL names the certificate whose names broke a constraint;
            // set aside the untrusted CA above it that imposed constraints.
            let start = max(refusal.depth + 1, 1)
            return fromUntrusted.filter { $0 >= start }.first { depth in
                chain[depth].extensions.contains { $0.oid == X509Extension.nameConstraintsOID }
            }.map { chain[$0] }
        }
        guard fromUntrusted.contains(refusal.depth) else { return nil }
        return chain[refusal.depth]
    }

    /// A fresh context for another build: same store, leaf and parameters,
    /// the given untrusted certificates; nil when OpenSSL cannot make one.
    private static func makeContext(
        store: OpaquePointer?, leaf: OpaquePointer, untrusted: [X509],
        like original: OpaquePointer
    ) -> (context: OpaquePointer, stack: OpaquePointer)? {
        guard let stack = cossl_sk_X509_new_null() else {
            ErrorQueue.clear()
            return nil
        }
        // The stack borrows the certificates: the caller's context holds them.
        for certificate in untrusted where cossl_sk_X509_push(stack, certificate.raw) <= 0 {
            cossl_sk_X509_free(stack)
            ErrorQueue.clear()
            return nil
        }
        guard let context = X509_STORE_CTX_new() else {
            cossl_sk_X509_free(stack)
            ErrorQueue.clear()
            return nil
        }
        guard X509_STORE_CTX_init(context, store, leaf, stack) == 1,
            let to = X509_STORE_CTX_get0_param(context), let from = X509_STORE_CTX_get0_param(original)
        else {
            X509_STORE_CTX_free(context)
            cossl_sk_X509_free(stack)
            ErrorQueue.clear()
            return nil
        }
        // An exact copy of the original's parameters (as prepared).
        let saved = X509_VERIFY_PARAM_get_inh_flags(to)
        X509_VERIFY_PARAM_set_inh_flags(to, UInt32(X509_VP_FLAG_OVERWRITE | X509_VP_FLAG_RESET_FLAGS))
        let copied = X509_VERIFY_PARAM_inherit(to, from)
        X509_VERIFY_PARAM_set_inh_flags(to, saved)
        ErrorQueue.clear()
        guard copied == 1 else {
            X509_STORE_CTX_free(context)
            cossl_sk_X509_free(stack)
            return nil
        }
        return (context, stack)
    }

    private static func release(_ built: (context: OpaquePointer, stack: OpaquePointer)) {
        X509_STORE_CTX_free(built.context)
        cossl_sk_X509_free(built.stack)
    }

    /// Makes the chain of a later build the verified chain of the caller's context.
    private static func adoptChain(of source: OpaquePointer, into target: OpaquePointer, leaf: OpaquePointer) {
        if let chain = X509_STORE_CTX_get0_chain(source), let copy = X509_chain_up_ref(chain) {
            X509_STORE_CTX_set0_verified_chain(target, copy)
        }
        X509_STORE_CTX_set_error(target, X509_V_OK)
        X509_STORE_CTX_set_error_depth(target, 0)
        X509_STORE_CTX_set_current_cert(target, leaf)
        ErrorQueue.clear()
    }

    /// Writes a refusal into the caller's context (what TLS reports and alerts).
    private static func report(_ refusal: X509VerificationError, into context: OpaquePointer) {
        X509_STORE_CTX_set_error(context, refusal.rule == nil ? refusal.code.rawValue : X509_V_ERR_APPLICATION_VERIFICATION)
        X509_STORE_CTX_set_error_depth(context, Int32(clamping: refusal.depth))
        // Only a certificate the caller's context holds itself: the current
        // certificate is a borrowed pointer.
        if let certificate = refusal.certificate {
            let own =
                [X509_STORE_CTX_get0_cert(context)].compactMap { $0 }
                + stackPointers(X509_STORE_CTX_get0_chain(context)) + stackPointers(X509_STORE_CTX_get0_untrusted(context))
            if let match = own.first(where: { X509_cmp($0, certificate.raw) == 0 }) {
                X509_STORE_CTX_set_current_cert(context, match)
            }
        }
        ErrorQueue.clear()
    }

    private static func stackPointers(_ stack: OpaquePointer?) -> [OpaquePointer] {
        guard let stack else { return [] }
        return (0..<max(cossl_sk_X509_num(stack), 0)).compactMap { cossl_sk_X509_value(stack, $0) }
    }

    // MARK: P5

    /// Makes `store` look CRLs up through `policyLookupCRLs`: OpenSSL's own
    /// lookup, minus the CRLs without a cRLNumber during a Web-PKI
    /// verification (P5). Outside one it is OpenSSL's lookup unchanged.
    static func installCRLLookup(on store: OpaquePointer) {
        X509_STORE_set_lookup_crls(store, policyLookupCRLs)
    }
}

/// What the verify callback needs during one build.
private final class RunState {
    let callersCallback: X509_STORE_CTX_verify_cb?
    let checkTime: time_t

    init(callersCallback: X509_STORE_CTX_verify_cb?, checkTime: time_t) {
        self.callersCallback = callersCallback
        self.checkTime = checkTime
    }
}

/// The X509_STORE_CTX ex-data slot that marks a Web-PKI build and holds its `RunState`.
private let policyRunIndex: Int32 = cossl_X509_STORE_CTX_get_ex_new_index(0, nil, nil, nil, nil)

/// P3: an "expired" error for a certificate whose notAfter is exactly the
/// verification time is not an error; everything else goes to the caller's callback.
private func policyVerifyTrampoline(_ ok: Int32, _ context: OpaquePointer?) -> Int32 {
    guard let context, let pointer = X509_STORE_CTX_get_ex_data(context, policyRunIndex) else { return ok }
    let state = Unmanaged<RunState>.fromOpaque(pointer).takeUnretainedValue()
    if ok == 0, X509_STORE_CTX_get_error(context) == X509_V_ERR_CERT_HAS_EXPIRED,
        let certificate = X509_STORE_CTX_get_current_cert(context),
        ASN1_TIME_cmp_time_t(X509_get0_notAfter(certificate), state.checkTime) == 0
    {
        X509_STORE_CTX_set_error(context, X509_V_OK)
        ErrorQueue.clear()
        return 1
    }
    guard let callersCallback = state.callersCallback else { return ok }
    return callersCallback(ok, context)
}

/// P5: the store's CRLs for `name`, without those lacking a cRLNumber when
/// the verification is a Web-PKI one.
private func policyLookupCRLs(_ context: OpaquePointer?, _ name: OpaquePointer?) -> OpaquePointer? {
    guard let crls = X509_STORE_CTX_get1_crls(context, name) else { return nil }
    guard let context, policyRunIndex >= 0, X509_STORE_CTX_get_ex_data(context, policyRunIndex) != nil else { return crls }
    var index = OPENSSL_sk_num(crls) - 1
    while index >= 0 {
        if let crl = OPENSSL_sk_value(crls, index).map(OpaquePointer.init),
            X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) < 0
        {
            _ = OPENSSL_sk_delete(crls, index)
            X509_CRL_free(crl)
        }
        index -= 1
    }
    ErrorQueue.clear()
    return crls
}
