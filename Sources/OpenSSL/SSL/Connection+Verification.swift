import Foundation
internal import COpenSSL

/// What the application set on a connection itself (not through its
/// context). `Connection.setContext(_:)` keeps these and takes everything
/// else about verification from the context it switches to.
struct PinnedVerification {
    /// `setVerify(_:callback:)` was called: mode and per-certificate callback.
    var modeAndCallback = false
    /// `setPeerVerification(_:)` was called: the whole-chain hook.
    var peerVerifier = false
    /// The host or IP address given to `setExpectedHost(_:)` (or through
    /// `setServerName(_:)` on a host-verifying client).
    var expectedHost: String?
}

/// The verification trampoline's refusal of a handshake on a client that
/// must name a host first; `drive` turns it into `SSLError.usage`. Internal,
/// so no user callback can throw it.
struct UnnamedHostRefusal: Error {
    let message: String
}

extension Connection {
    /// Sets this connection's verification mode and per-certificate callback,
    /// replacing what it took from its context; the context is unchanged.
    /// Both stay with the connection across `setContext(_:)`.
    /// - SeeAlso: SSL_set_verify(3)
    public func setVerify(_ mode: VerifyMode, callback: Context.VerifyCallback? = nil) {
        verifyCallback = callback
        pinnedVerification.modeAndCallback = true
        SSL_set_verify(raw, mode.rawValue, callback == nil ? nil : perCertificateVerifyTrampoline)
    }

    /// Sets this connection's whole-chain hook, replacing its context's.
    /// It stays with the connection across `setContext(_:)`.
    public func setPeerVerification(_ verifier: Context.PeerVerifier?) {
        peerVerifier = verifier
        pinnedVerification.peerVerifier = true
    }

    /// This connection's verification mode.
    /// - SeeAlso: SSL_get_verify_mode(3)
    public var verifyMode: VerifyMode { VerifyMode(rawValue: SSL_get_verify_mode(raw)) }

    /// Gives the decision the whole-chain hook postponed with `.decideLater`;
    /// the next `doHandshake()` resumes and accepts or fails.
    /// Driving the handshake again before the decision is given keeps it
    /// waiting (`.wantRetryVerify` again) without running the hook again.
    public func setVerificationDecision(_ accept: Bool) {
        pendingDecision = accept
    }

    /// True while the handshake waits for `setVerificationDecision(_:)`.
    /// - SeeAlso: SSL_want_retry_verify(3)
    public var isWaitingForVerificationDecision: Bool { cossl_SSL_want_retry_verify(raw) == 1 }

    /// OpenSSL's verdict on the peer's chain in the last handshake.
    /// - SeeAlso: SSL_get_verify_result(3)
    public var verifyResult: X509VerificationError.Code {
        X509VerificationError.Code(rawValue: Int32(truncatingIfNeeded: SSL_get_verify_result(raw)))
    }

    /// The host a client expects: a DNS name or an IP address (v4 or v6).
    /// The server's certificate must match it, or the handshake fails with
    /// verify code `hostnameMismatch` / `ipAddressMismatch`. Wildcards
    /// follow OpenSSL's rules (leftmost label only, no partial labels).
    /// - Throws: `OpenSSLError` when OpenSSL refuses the name.
    /// - SeeAlso: SSL_set1_host(3), X509_VERIFY_PARAM_set1_ip_asc(3)
    public func setExpectedHost(_ host: String) throws {
        try applyExpectedHost(host)
        pinnedVerification.expectedHost = host
    }

    private func applyExpectedHost(_ host: String) throws {
        let parameters = try ErrorQueue.call("expected host") { SSL_get0_param(raw) }
        if IPAddressText.parse(host) != nil {
            // Clear the name first: on newer OpenSSL (3.5; not 3.0) SSL_set1_host clears the IP too.
            try ErrorQueue.check("expected host") { SSL_set1_host(raw, nil) }
            try ErrorQueue.check("expected IP address \(host)") { X509_VERIFY_PARAM_set1_ip_asc(parameters, host) }
        } else {
            try ErrorQueue.check("expected host \(host)") { SSL_set1_host(raw, host) }
            try ErrorQueue.check("expected host") { X509_VERIFY_PARAM_set1_ip(parameters, nil, 0) }
        }
    }

    /// True when an expected host or IP address has been set.
    var hasExpectedHost: Bool {
        guard let parameters = SSL_get0_param(raw) else { return false }
        if X509_VERIFY_PARAM_get0_host(parameters, 0) != nil { return true }
        // With no IP set, get1_ip_asc queues "passed a null parameter": clear it.
        defer { ErrorQueue.clear() }
        if let ip = X509_VERIFY_PARAM_get1_ip_asc(parameters) {
            cossl_OPENSSL_free(ip)
            return true
        }
        return false
    }

    /// Client: the server name to send (SNI). On a connection from a context
    /// that verifies host names (`Context.client`), it is also the host the
    /// certificate must match (an IP address is checked but not sent: SNI
    /// carries names only).
    /// - Throws: `OpenSSLError` when OpenSSL refuses the name.
    /// - SeeAlso: SSL_set_tlsext_host_name(3)
    public func setServerName(_ name: String) throws {
        if IPAddressText.parse(name) == nil {
            try ErrorQueue.check("set server name \(name)") { cossl_SSL_set_tlsext_host_name(raw, name) }
        }
        if expectsHost {
            try setExpectedHost(name)
        }
    }

    /// The server name: on a client, the one it sends; on a server, the one
    /// the client sent (nil when none).
    /// - SeeAlso: SSL_get_servername(3)
    public var serverName: String? {
        SSL_get_servername(raw, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    /// Switches the connection to another context (in a server-name callback:
    /// a certificate per host): the server then presents the new context's
    /// certificate, and verifies its peer exactly as the new context says —
    /// its verify mode, per-certificate callback, whole-chain hook, depth,
    /// flags, purpose, check time, trust store and host-name requirement —
    /// so a switch to a `Context.mutualTLSServer` context requires a client
    /// certificate.
    ///
    /// What was set on the connection itself stays: a mode and callback
    /// given to `setVerify(_:callback:)`, a hook given to
    /// `setPeerVerification(_:)`, a host given to `setExpectedHost(_:)` (or
    /// `setServerName(_:)` on a host-verifying client), and the feature
    /// callbacks pinned on the connection (for a role it has no callback
    /// for, the new context's is used).
    /// - Throws: `OpenSSLError` when OpenSSL refuses the switch or the new
    ///   context's verification parameters cannot be copied.
    /// - SeeAlso: SSL_set_SSL_CTX(3), X509_VERIFY_PARAM_inherit(3)
    public func setContext(_ context: Context) throws {
        guard SSL_set_SSL_CTX(raw, context.raw) != nil else { throw ErrorQueue.drain("switch context") }
        ErrorQueue.clear()
        context.markInUse()
        self.context = context
        // SSL_set_SSL_CTX switches certificate, key and trust store, but the
        // verify mode, callback and parameters stay those copied from the
        // first context at SSL_new: take them from the new one.
        try adoptVerification(of: context)
        // Keep what this connection pinned; take the new context's callbacks
        // only for roles it has none for.
        let hadInfo = callbacks.info != nil
        callbacks.fillGaps(from: context.state.withLock { $0.callbacks })
        if !hadInfo && callbacks.info != nil { SSL_set_info_callback(raw, infoTrampoline) }
        // OpenSSL calls the keylog callback of the current SSL_CTX, which
        // carries the trampoline only when key logging is wanted there.
        if callbacks.keylog != nil { context.installKeylogTrampoline() }
    }

    /// Makes this connection verify as `context` says, but for what the
    /// application pinned on the connection (`pinnedVerification`).
    private func adoptVerification(of context: Context) throws {
        let taken = context.state.withLock { ($0.verifyCallback, $0.peerVerifier, $0.verifiesHostnames) }
        if !pinnedVerification.modeAndCallback {
            verifyCallback = taken.0
            SSL_set_verify(raw, SSL_CTX_get_verify_mode(context.raw), SSL_CTX_get_verify_callback(context.raw))
        }
        if !pinnedVerification.peerVerifier {
            peerVerifier = taken.1
        }
        expectsHost = taken.2
        // Every parameter (depth, flags, purpose, trust, time, hosts, security
        // level) overwritten by the new context's, then the pinned host again.
        let parameters = try ErrorQueue.call("switch context: verification parameters") { SSL_get0_param(raw) }
        let saved = X509_VERIFY_PARAM_get_inh_flags(parameters)
        X509_VERIFY_PARAM_set_inh_flags(parameters, UInt32(X509_VP_FLAG_OVERWRITE | X509_VP_FLAG_RESET_FLAGS))
        let copied = X509_VERIFY_PARAM_inherit(parameters, SSL_CTX_get0_param(context.raw))
        X509_VERIFY_PARAM_set_inh_flags(parameters, saved)
        guard copied == 1 else { throw ErrorQueue.drain("switch context: verification parameters") }
        if let host = pinnedVerification.expectedHost {
            try applyExpectedHost(host)
        }
    }

    // MARK: Called from the C trampolines

    func runPerCertificateCallback(ok: Bool, store: OpaquePointer) -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = verifyCallback else { return ok ? 1 : 0 }
        return PerCertificateVerification.run(
            ok: ok, store: store,
            decide: { info in
                // pyOpenSSL's callback always gets a certificate; without one, OpenSSL's verdict stands.
                guard let certificate = info.certificate else { return ok }
                return try callback(self, certificate, info.error, info.depth, ok)
            }, record: { callbackError = $0 })
    }

    func runPeerVerification(ssl: OpaquePointer, store: OpaquePointer) -> Int32 {
        // The same refusal as `refuseUnnamedHost`, here for every handshake
        // whatever started it (a renegotiation inside `read`, a context switch).
        if expectsHost, SSL_is_server(ssl) == 0, !hasExpectedHost {
            callbackError = UnnamedHostRefusal(message: Connection.unnamedHostMessage("handshake"))
            X509_STORE_CTX_set_error(store, X509_V_ERR_HOSTNAME_MISMATCH)
            return 0
        }
        if awaitingDecision, pendingDecision == nil, peerVerifier != nil, callbackError == nil {
            // Driven again before `setVerificationDecision(_:)`: still waiting.
            return cossl_SSL_set_retry_verify(ssl)
        }
        let policy = context.verificationPolicy
        var outcome: PolicyEngine.Outcome?
        let verified: Bool
        if policy.isWebPKI {
            // The path search's fresh contexts reach this connection's per-certificate callback too.
            let result = PolicyEngine.verify(store, policy: policy) { fresh, original in
                let index = SSL_get_ex_data_X509_STORE_CTX_idx()
                X509_STORE_CTX_set_ex_data(fresh, index, X509_STORE_CTX_get_ex_data(original, index))
            }
            outcome = result
            verified = result.error == nil
        } else {
            verified = X509_verify_cert(store) == 1
        }
        ErrorQueue.clear()
        if callbackError != nil { return 0 }
        guard let verifier = peerVerifier else { return verified ? 1 : 0 }

        let decision: VerificationDecision
        if let decided = pendingDecision {
            pendingDecision = nil
            awaitingDecision = false
            decision = decided ? .accept : .reject
        } else {
            let peerChain = X509.list(fromStack: X509_STORE_CTX_get0_untrusted(store))
            let error = verified ? nil : (outcome?.error ?? X509VerificationError(store: store))
            let verification = PeerVerification(
                peerChain: peerChain.isEmpty
                    ? (X509_STORE_CTX_get0_cert(store).flatMap { try? X509(borrowing: $0) }.map { [$0] } ?? [])
                    : peerChain,
                verifiedChain: outcome.map { $0.chain ?? $0.openSSLChain }
                    ?? (verified ? X509.list(fromStack: X509_STORE_CTX_get0_chain(store)) : nil),
                error: error,
                openSSLError: outcome.map { $0.openSSLError } ?? error,
                policy: policy
            )
            do {
                decision = try verifier(self, verification)
            } catch {
                callbackError = error
                X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
                return 0
            }
        }
        switch decision {
        case .accept:
            X509_STORE_CTX_set_error(store, X509_V_OK)
            return 1
        case .reject:
            if verified { X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION) }
            return 0
        case .decideLater:
            guard SSL_is_server(ssl) == 0 else {
                callbackError = UsageError(
                    operation: "peer verification",
                    reason:
                        "a server cannot postpone its decision (OpenSSL 3.0 supports retry-verify on clients only); decide in the hook or after the handshake"
                )
                X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
                return 0
            }
            awaitingDecision = true
            return cossl_SSL_set_retry_verify(ssl)
        }
    }
}
