internal import COpenSSL

/// One certificate verification against an `X509Store` (OpenSSL's
/// `X509_STORE_CTX`): a leaf, the untrusted certificates that may help build
/// its chain, and optionally a callback consulted for every certificate.
///
/// The context is reusable: change the leaf, the untrusted certificates or
/// the store and call `verify()` again. Each verification starts from a
/// fresh OpenSSL state (`X509_STORE_CTX_init`, then `X509_STORE_CTX_cleanup`
/// when it is done).
///
/// ```swift
/// let context = try X509StoreContext(store: store, certificate: leaf, untrusted: [intermediate])
/// context.setVerifyCallback { ok, info in
///     if !ok { log("depth \(info.depth): \(info.error)") }
///     return ok
/// }
/// let chain = try context.verify()
/// ```
///
/// Not `Sendable`: one thread drives a context at a time. The store it uses
/// may be shared.
public final class X509StoreContext {
    /// What the verify callback is told about the certificate being checked.
    public struct VerifyInfo: Sendable {
        /// The certificate being checked, when OpenSSL names one.
        /// - SeeAlso: X509_STORE_CTX_get_current_cert(3)
        public let certificate: X509?
        /// Its depth in the chain: 0 is the leaf.
        /// - SeeAlso: X509_STORE_CTX_get_error_depth(3)
        public let depth: Int
        /// The error OpenSSL found (`.ok` when the callback is called with `ok == true`).
        /// - SeeAlso: X509_STORE_CTX_get_error(3)
        public let error: X509VerificationError.Code
    }

    /// The per-certificate callback: OpenSSL's verdict for one certificate
    /// (`ok`) and what it found. Return true to carry on (overriding an
    /// error), false to fail verification there. A thrown error stops
    /// verification and comes out of `verify()` unchanged.
    public typealias VerifyCallback = (_ ok: Bool, _ info: VerifyInfo) throws -> Bool

    let handle: OwnedPointer<X509StoreContextKind>
    var raw: OpaquePointer { handle.raw }

    /// The store the next verification uses.
    public private(set) var store: X509Store
    /// The certificate the next verification checks.
    public private(set) var certificate: X509
    /// Certificates that may be used to build the chain but are not trusted.
    public private(set) var untrusted: [X509]
    /// The chain of the last successful verification, leaf first; nil before
    /// one, and after a failed one.
    /// - SeeAlso: X509_STORE_CTX_get0_chain(3)
    public private(set) var verifiedChain: [X509]?

    private var callback: VerifyCallback?
    /// An error the callback threw during the verification in progress.
    private var thrownByCallback: (any Error)?
    /// True while `verify()` runs.
    private var isVerifying = false

    /// Makes a context that verifies `certificate` against `store`.
    /// - Parameters:
    ///   - store: The trust anchors, CRLs and rules to verify against.
    ///   - certificate: The certificate to verify (the leaf).
    ///   - untrusted: certificates that may be used to build the
    ///     chain (intermediates a peer sent); they are not trusted.
    /// - Throws: `OpenSSLError` when OpenSSL cannot allocate the context.
    /// - SeeAlso: X509_STORE_CTX_new(3)
    public init(store: X509Store, certificate: X509, untrusted: [X509] = []) throws {
        handle = OwnedPointer(takingOwnership: try ErrorQueue.call("make store context") { X509_STORE_CTX_new() })
        self.store = store
        self.certificate = certificate
        self.untrusted = untrusted
    }

    /// Uses `store` for the next verification.
    public func setStore(_ store: X509Store) {
        self.store = store
    }

    /// Verifies `certificate` next.
    /// - SeeAlso: X509_STORE_CTX_set_cert(3)
    public func setCertificate(_ certificate: X509) {
        self.certificate = certificate
    }

    /// Offers these untrusted certificates to chain building next.
    /// - SeeAlso: X509_STORE_CTX_set0_untrusted(3)
    public func setUntrusted(_ certificates: [X509]) {
        untrusted = certificates
    }

    /// Calls `callback` for every certificate OpenSSL checks and every error
    /// it finds; nil removes it (OpenSSL's default: fail on the first error).
    ///
    /// When the callback returns false for a certificate OpenSSL accepted,
    /// verification fails with `applicationVerification`. The callback must
    /// not change the store being verified against.
    /// - SeeAlso: X509_STORE_CTX_set_verify_cb(3)
    public func setVerifyCallback(_ callback: VerifyCallback?) {
        self.callback = callback
    }

    /// Verifies the certificate.
    ///
    /// - Returns: the verified chain, leaf first, trust anchor last (also
    ///   kept in `verifiedChain`).
    /// - Throws: the verify callback's own error if it threw;
    ///   `X509VerificationError` (OpenSSL's code, message, depth and the
    ///   certificate at fault) when the chain does not verify;
    ///   `OpenSSLError` when OpenSSL cannot set the verification up;
    ///   `UsageError` when called from this context's own verify callback.
    /// - SeeAlso: X509_verify_cert(3), X509_STORE_CTX_init(3)
    @discardableResult
    public func verify() throws -> [X509] {
        // The X509_STORE_CTX is in use until the running verification returns.
        guard !isVerifying else {
            throw UsageError(
                operation: "verify certificate",
                reason: "verify() was called again from this context's own verify callback")
        }
        isVerifying = true
        defer { isVerifying = false }
        verifiedChain = nil
        thrownByCallback = nil
        guard storeContextExDataIndex >= 0 else {
            throw OpenSSLError(operation: "verify certificate", detail: "OpenSSL gave no ex-data index for the verify callback")
        }
        let untrustedStack = try ErrorQueue.call("make untrusted certificate stack") { cossl_sk_X509_new_null() }
        // The stack borrows the certificates: `untrusted` keeps them alive until it is freed.
        defer { cossl_sk_X509_free(untrustedStack) }
        for certificate in untrusted {
            try ErrorQueue.check("add untrusted certificate") { cossl_sk_X509_push(untrustedStack, certificate.raw) }
        }
        let store = self.store
        let leaf = self.certificate
        let policy = store.verificationPolicy
        let chain = try withExtendedLifetime((store, leaf, untrusted)) {
            try store.lock.withReadLock {
                try ErrorQueue.check("initialise store context") {
                    X509_STORE_CTX_init(raw, store.raw, leaf.raw, untrustedStack)
                }
                defer { X509_STORE_CTX_cleanup(raw) }
                return try runVerification(policy: policy)
            }
        }
        verifiedChain = chain
        return chain
    }

    /// Runs X509_verify_cert on the initialised context and reads the outcome.
    private func runVerification(policy: VerificationPolicy) throws -> [X509] {
        // The ex data points at self, unretained: self outlives this call, and
        // X509_STORE_CTX_cleanup drops the pointer before verify() returns.
        try ErrorQueue.check("attach store context") {
            X509_STORE_CTX_set_ex_data(raw, storeContextExDataIndex, Unmanaged.passUnretained(self).toOpaque())
        }
        if callback != nil {
            X509_STORE_CTX_set_verify_cb(raw, storeContextVerifyTrampoline)
        }
        if policy.isWebPKI {
            let outcome = PolicyEngine.verify(raw, policy: policy) { fresh, _ in
                // A build of the path search calls the same Swift callback.
                X509_STORE_CTX_set_ex_data(fresh, storeContextExDataIndex, Unmanaged.passUnretained(self).toOpaque())
            }
            ErrorQueue.clear()
            if let thrown = thrownByCallback {
                thrownByCallback = nil
                throw thrown
            }
            if let error = outcome.error { throw error }
            return outcome.chain ?? []
        }
        ErrorQueue.clear()
        let result = X509_verify_cert(raw)
        // Lookups (a hashed directory without the issuer) can leave entries
        // on the queue even when verification succeeds.
        ErrorQueue.clear()
        if let thrown = thrownByCallback {
            thrownByCallback = nil
            throw thrown
        }
        guard result == 1 else {
            var code = X509VerificationError.Code(rawValue: X509_STORE_CTX_get_error(raw))
            if code == .ok { code = .unspecified }
            let current = X509_STORE_CTX_get_current_cert(raw).flatMap { try? X509(borrowing: $0) }
            ErrorQueue.clear()
            throw X509VerificationError(code: code, depth: Int(X509_STORE_CTX_get_error_depth(raw)), certificate: current)
        }
        let stack = try ErrorQueue.call("read verified chain") { X509_STORE_CTX_get0_chain(raw) }
        return try (0..<max(cossl_sk_X509_num(stack), 0)).compactMap { index in
            try cossl_sk_X509_value(stack, index).map { try X509(borrowing: $0) }
        }
    }

    /// Called from C for each certificate: runs the Swift callback, never
    /// letting its error cross into OpenSSL.
    fileprivate func callVerifyCallback(ok: Bool, _ context: OpaquePointer) -> Int32 {
        guard let callback else { return ok ? 1 : 0 }
        // After a throw OpenSSL should already have stopped; refuse anything more and keep the first error.
        guard thrownByCallback == nil else { return 0 }
        return PerCertificateVerification.run(
            ok: ok, store: context, decide: { try callback(ok, $0) },
            record: { thrownByCallback = $0 })
    }

    /// Calls `body` with the underlying `X509_STORE_CTX *`. It is initialised
    /// only during `verify()`; outside it, it holds no certificate. Valid
    /// only inside `body`; do not free it.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

@available(*, unavailable)
extension X509StoreContext: Sendable {}

/// The ex-data slot of an `X509_STORE_CTX` that points back at its
/// `X509StoreContext`. Allocated once per process (a global `let` is
/// initialised exactly once, thread-safely); -1 if OpenSSL refused.
private let storeContextExDataIndex: Int32 = cossl_X509_STORE_CTX_get_ex_new_index(0, nil, nil, nil, nil)

/// The `X509_STORE_CTX_verify_cb` installed when a context has a Swift
/// callback: finds the context through its ex data and runs the callback.
private func storeContextVerifyTrampoline(_ ok: Int32, _ context: OpaquePointer?) -> Int32 {
    guard let context, let owner = X509_STORE_CTX_get_ex_data(context, storeContextExDataIndex) else {
        return ok
    }
    return Unmanaged<X509StoreContext>.fromOpaque(owner).takeUnretainedValue()
        .callVerifyCallback(ok: ok != 0, context)
}
