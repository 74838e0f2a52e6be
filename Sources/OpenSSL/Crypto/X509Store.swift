import Foundation
internal import COpenSSL

/// A set of trusted certificates and CRLs, and the rules a chain is verified
/// by (OpenSSL's `X509_STORE` and its `X509_VERIFY_PARAM`).
///
/// Add trust anchors (`add(_:)`, `loadFile(_:)`, `loadDirectory(_:)`,
/// `setDefaultPaths()`), set the rules (flags, time, depth, purpose, the
/// expected host, IP address or email), then verify leaves with
/// `verify(_:untrusted:)`, or with an `X509StoreContext` when a per-certificate
/// callback is needed.
///
/// ```swift
/// let store = try X509Store()
/// try store.add(privateRoot)
/// try store.setPurpose(.tlsServer)
/// try store.setExpectedHost("api.internal")
/// let chain = try store.verify(leaf, untrusted: intermediates)  // leaf … root
/// ```
///
/// Thread safety: a store can be shared between threads. Verifications run
/// concurrently; a change (adding a certificate, setting a flag) waits for
/// running verifications and holds off new ones until it is done, because
/// OpenSSL does not lock a store's lookups and parameters itself. The lock
/// belongs to the OpenSSL store, so every `X509Store` wrapping the same one
/// (a `Context`'s `certificateStore`) uses it; TLS handshakes, which OpenSSL
/// runs on the store directly, do not. Changing a
/// store that others already verify against is allowed but is the caller's
/// business: verifications that start afterwards see the change. A verify
/// callback must not change the store it is verifying against (it would
/// wait for itself).
public final class X509Store: @unchecked Sendable {
    // @unchecked Sendable: every use of the X509_STORE holds `state.lock`, which is shared by every wrapper of it.
    let handle: OwnedPointer<X509StoreKind>
    var raw: OpaquePointer { handle.raw }
    /// The Swift-side state of the X509_STORE, kept in its ex data so that
    /// every wrapper of one store (a `Context`'s store is wrapped anew on
    /// each access) uses the same lock.
    let state: SharedState
    /// Shared for verification and reads, exclusive for changes.
    var lock: ReadWriteLock { state.lock }

    /// Makes an empty store: no trusted certificates, no CRLs, no flags.
    /// - Throws: `OpenSSLError` when OpenSSL cannot allocate the store.
    /// - SeeAlso: X509_STORE_new(3)
    public init() throws {
        let owned = OwnedPointer<X509StoreKind>(
            takingOwnership: try ErrorQueue.call("make certificate store") { X509_STORE_new() })
        state = try SharedState.attached(to: owned.raw)
        handle = owned
    }

    /// Wraps a store someone else owns (an `SSL_CTX`'s), taking a reference of our own.
    init(borrowing pointer: OpaquePointer) throws {
        guard let owned = OwnedPointer<X509StoreKind>(borrowing: pointer) else {
            throw ErrorQueue.drain("take a reference to a certificate store")
        }
        state = try SharedState.attached(to: owned.raw)
        handle = owned
    }

    /// What the binding keeps per X509_STORE: the lock, and the purpose
    /// (OpenSSL 3.0 has no getter for it). Lives as long as the X509_STORE:
    /// its ex data holds one retain, released by `sharedStateFree` when
    /// OpenSSL frees the store.
    final class SharedState: @unchecked Sendable {  // `purpose` and `policy` are guarded by `lock`
        let lock = ReadWriteLock()
        var purpose: X509Purpose?
        var policy: VerificationPolicy = .openSSL

        /// Serialises attaching state to a store, so two wrappers made at
        /// once for a store made elsewhere end up with the same state.
        private static let attachment = NSLock()

        static func attached(to store: OpaquePointer) throws -> SharedState {
            guard sharedStateIndex >= 0 else {
                throw OpenSSLError(
                    operation: "wrap certificate store", detail: "OpenSSL gave no ex-data index for the store's state")
            }
            attachment.lock()
            defer { attachment.unlock() }
            if let existing = X509_STORE_get_ex_data(store, sharedStateIndex) {
                return Unmanaged<SharedState>.fromOpaque(existing).takeUnretainedValue()
            }
            let state = SharedState()
            // Web-PKI rule P5 filters CRLs in the store's lookup (a pass-through otherwise).
            PolicyEngine.installCRLLookup(on: store)
            let retained = Unmanaged.passRetained(state)
            do {
                try ErrorQueue.check("wrap certificate store") {
                    X509_STORE_set_ex_data(store, sharedStateIndex, retained.toOpaque())
                }
            } catch {
                retained.release()
                throw error
            }
            return state
        }
    }

    private var parameters: OpaquePointer? { X509_STORE_get0_param(raw) }

    @discardableResult
    private func withParameters<R>(
        _ operation: @autoclosure () -> String, _ body: (OpaquePointer) throws -> R
    ) throws -> R {
        try lock.withWriteLock {
            guard let parameters else {
                throw OpenSSLError(operation: operation(), detail: "the store has no verification parameters")
            }
            return try body(parameters)
        }
    }

    private func readParameters<R>(_ fallback: R, _ body: (OpaquePointer) -> R) -> R {
        lock.withReadLock {
            guard let parameters else { return fallback }
            return body(parameters)
        }
    }

    // MARK: Trust

    /// Trusts `certificate` as an anchor. Adding a certificate that is
    /// already in the store does nothing.
    /// - Throws: `OpenSSLError` when OpenSSL refuses it (out of memory).
    /// - SeeAlso: X509_STORE_add_cert(3)
    public func add(_ certificate: X509) throws {
        try lock.withWriteLock {
            try ErrorQueue.check("add certificate to store") { X509_STORE_add_cert(raw, certificate.raw) }
        }
    }

    /// Adds a certificate revocation list, consulted when `.crlCheck` (the
    /// leaf) or `.crlCheckAll` (the whole chain) is set. A certificate listed
    /// in it then fails with `certRevoked`; with checking on, a certificate
    /// whose issuer has no CRL here fails with `unableToGetCRL`. Adding a CRL
    /// that is already in the store does nothing.
    /// - Throws: `OpenSSLError` when OpenSSL refuses it (out of memory).
    /// - SeeAlso: X509_STORE_add_crl(3)
    public func add(_ crl: CRL) throws {
        _ = try withExtendedLifetime(crl) {
            try lock.withWriteLock {
                // X509_STORE_add_crl takes its own reference.
                try ErrorQueue.check("add CRL to store") { X509_STORE_add_crl(raw, crl.raw) }
            }
        }
    }

    /// Trusts every certificate, and adds every CRL, in a PEM file (a CA
    /// bundle such as `/etc/ssl/certs/ca-certificates.crt`).
    ///
    /// The file is read now; later changes to it are not seen.
    /// - Throws: `OpenSSLError` with OpenSSL's reason when the file is
    ///   missing or unreadable ("No such file or directory"), or holds no
    ///   certificate or CRL.
    /// - SeeAlso: X509_STORE_load_file(3)
    public func loadFile(_ path: String) throws {
        try lock.withWriteLock {
            try ErrorQueue.check("load CA file '\(path)'") { X509_STORE_load_file(raw, path) }
        }
    }

    /// Trusts the certificates (and CRLs) of a hashed directory: files named
    /// `<subject hash>.0`, `.1`, … (as `openssl rehash` makes them), looked
    /// up by issuer name when a chain is built.
    ///
    /// OpenSSL only records the path and reads files during verification, so
    /// this checks first that the directory exists and can be listed.
    /// - Throws: `OpenSSLError` with the system's reason when the directory
    ///   is missing or not a directory, or when OpenSSL refuses the path.
    /// - SeeAlso: X509_STORE_load_path(3)
    public func loadDirectory(_ path: String) throws {
        let operation = "load CA directory '\(path)'"
        guard let directory = opendir(path) else {
            let code = errno
            throw OpenSSLError(operation: operation, detail: String(cString: strerror(code)))
        }
        closedir(directory)
        try lock.withWriteLock {
            try ErrorQueue.check(operation) { X509_STORE_load_path(raw, path) }
        }
    }

    /// Trusts the system's default CA file and directory (OpenSSL's compiled-in
    /// paths, or the `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables).
    /// A missing default location is skipped, as OpenSSL does.
    /// - Throws: `OpenSSLError` when OpenSSL cannot add the lookups.
    /// - SeeAlso: X509_STORE_set_default_paths(3)
    public func setDefaultPaths() throws {
        try lock.withWriteLock {
            try ErrorQueue.check("load default CA paths") { X509_STORE_set_default_paths(raw) }
        }
    }

    /// The certificates held in memory: those added with `add(_:)` or read
    /// by `loadFile(_:)`, and those a directory lookup has loaded so far.
    /// - Throws: `OpenSSLError` when OpenSSL cannot list them.
    /// - SeeAlso: X509_STORE_get1_all_certs(3)
    public var certificates: [X509] {
        get throws {
            try lock.withReadLock {
                let stack = try ErrorQueue.call("list store certificates") { X509_STORE_get1_all_certs(raw) }
                // The stack holds one reference per certificate; each X509 adopts its reference.
                defer { cossl_sk_X509_free(stack) }
                return (0..<max(cossl_sk_X509_num(stack), 0)).compactMap { index in
                    cossl_sk_X509_value(stack, index).map { X509(takingOwnership: $0) }
                }
            }
        }
    }

    // MARK: Rules

    /// The verification flags in effect.
    /// - SeeAlso: X509_VERIFY_PARAM_get_flags(3)
    public var flags: X509VerifyFlags {
        readParameters(X509VerifyFlags()) { X509VerifyFlags(rawValue: X509_VERIFY_PARAM_get_flags($0)) }
    }

    /// Turns on `flags`, leaving the others as they are (OpenSSL's and
    /// pyOpenSSL's `set_flags` semantics).
    /// - Throws: `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: X509_STORE_set_flags(3)
    public func setFlags(_ flags: X509VerifyFlags) throws {
        try lock.withWriteLock {
            try ErrorQueue.check("set store flags") { X509_STORE_set_flags(raw, flags.rawValue) }
        }
    }

    /// Turns off `flags`, leaving the others as they are.
    /// - Throws: `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: X509_VERIFY_PARAM_clear_flags(3)
    public func clearFlags(_ flags: X509VerifyFlags) throws {
        try withParameters("clear store flags") { parameters in
            try ErrorQueue.check("clear store flags") { X509_VERIFY_PARAM_clear_flags(parameters, flags.rawValue) }
        }
    }

    /// The time chains are verified at, or nil for "now, at each verification".
    /// - SeeAlso: X509_VERIFY_PARAM_get_time(3)
    public var verificationTime: Date? {
        readParameters(nil) { parameters in
            guard X509_VERIFY_PARAM_get_flags(parameters) & UInt(X509_V_FLAG_USE_CHECK_TIME) != 0 else { return nil }
            return Date(timeIntervalSince1970: TimeInterval(X509_VERIFY_PARAM_get_time(parameters)))
        }
    }

    /// Verifies at `date` (whole seconds, rounded down) instead of the
    /// current time; nil returns to the current time. Certificates and CRLs
    /// are checked for validity at that moment: a past date can make an
    /// expired certificate valid.
    /// - Throws: `OpenSSLError` for a date `time_t` cannot hold.
    /// - SeeAlso: X509_VERIFY_PARAM_set_time(3)
    public func setVerificationTime(_ date: Date?) throws {
        let seconds = try date.map { date in
            guard let seconds = time_t(exactly: date.timeIntervalSince1970.rounded(.down)) else {
                throw OpenSSLError(operation: "set verification time", detail: "\(date) is out of range")
            }
            return seconds
        }
        try withParameters("set verification time") { parameters in
            if let seconds {
                X509_VERIFY_PARAM_set_time(parameters, seconds)
            } else {
                try ErrorQueue.check("set verification time") {
                    X509_VERIFY_PARAM_clear_flags(parameters, UInt(X509_V_FLAG_USE_CHECK_TIME))
                }
            }
        }
    }

    /// The most intermediate certificates a chain may have, or nil for
    /// OpenSSL's default (100).
    /// - SeeAlso: X509_VERIFY_PARAM_get_depth(3)
    public var depth: Int? {
        readParameters(nil) { parameters in
            let depth = X509_VERIFY_PARAM_get_depth(parameters)
            return depth < 0 ? nil : Int(depth)
        }
    }

    /// Limits chains to `depth` intermediate certificates (not counting the
    /// leaf or the trust anchor); longer chains fail with `certChainTooLong`.
    /// - Throws: `OpenSSLError` for a negative depth or one beyond `Int32`.
    /// - SeeAlso: X509_STORE_set_depth(3)
    public func setDepth(_ depth: Int) throws {
        guard depth >= 0, let value = Int32(exactly: depth) else {
            throw OpenSSLError(operation: "set verify depth", detail: "depth \(depth) is out of range")
        }
        try lock.withWriteLock {
            try ErrorQueue.check("set verify depth") { X509_STORE_set_depth(raw, value) }
        }
    }

    /// The purpose last set with `setPurpose(_:)`, or nil when none was set
    /// (then no extended key usage is checked).
    public var purpose: X509Purpose? {
        lock.withReadLock { state.purpose }
    }

    /// Requires the leaf to be fit for `purpose` (its extended key usage);
    /// a leaf that does not fit fails with `invalidPurpose`.
    /// - Throws: `OpenSSLError` for an id OpenSSL does not know.
    /// - SeeAlso: X509_STORE_set_purpose(3)
    public func setPurpose(_ purpose: X509Purpose) throws {
        try lock.withWriteLock {
            try ErrorQueue.check("set verify purpose \(purpose.rawValue)") { X509_STORE_set_purpose(raw, purpose.rawValue) }
            state.purpose = purpose
        }
    }

    // MARK: Policy

    /// The policy `verify(_:untrusted:)` and every `X509StoreContext` on
    /// this store verify by: `.openSSL` (the default) or `.webPKI()`.
    public var verificationPolicy: VerificationPolicy {
        lock.withReadLock { state.policy }
    }

    /// Verifies by `policy` from now on (see `VerificationPolicy`). Shared by
    /// every wrapper of the same OpenSSL store; a `Context` has a policy of
    /// its own for its handshakes (`Context.setVerificationPolicy(_:)`).
    public func setVerificationPolicy(_ policy: VerificationPolicy) {
        lock.withWriteLock { state.policy = policy }
    }

    // MARK: Expected identity

    /// How host names are matched (OpenSSL's `X509_CHECK_FLAG_*`).
    /// - SeeAlso: X509_check_host(3)
    public struct HostCheckFlags: OptionSet, Sendable, Hashable {
        /// OpenSSL's bit mask.
        public let rawValue: UInt32
        /// Wraps OpenSSL's bit mask.
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        private init(_ value: Int32) { rawValue = UInt32(value) }

        /// Check the subject CN even when the certificate has DNS SANs.
        public static let alwaysCheckSubject = HostCheckFlags(X509_CHECK_FLAG_ALWAYS_CHECK_SUBJECT)
        /// Never check the subject CN, even without DNS SANs.
        public static let neverCheckSubject = HostCheckFlags(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
        /// Wildcards never match.
        public static let noWildcards = HostCheckFlags(X509_CHECK_FLAG_NO_WILDCARDS)
        /// `f*.example.com` style wildcards do not match; only a whole `*` label does.
        public static let noPartialWildcards = HostCheckFlags(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
        /// A wildcard may match several labels.
        public static let multiLabelWildcards = HostCheckFlags(X509_CHECK_FLAG_MULTI_LABEL_WILDCARDS)
        /// An expected name starting with "." matches that domain's direct subdomains.
        public static let singleLabelSubdomains = HostCheckFlags(X509_CHECK_FLAG_SINGLE_LABEL_SUBDOMAINS)
    }

    /// The host names a leaf must match (any one of them); empty when none is required.
    /// - SeeAlso: X509_VERIFY_PARAM_get0_host(3)
    public var expectedHosts: [String] {
        readParameters([]) { parameters in
            var hosts: [String] = []
            var index: Int32 = 0
            while let host = X509_VERIFY_PARAM_get0_host(parameters, index) {
                hosts.append(String(cString: host))
                index += 1
            }
            return hosts
        }
    }

    /// Requires the leaf to match `host` (a DNS name in its subjectAltName,
    /// or its CN when it has no DNS SAN; wildcards by OpenSSL's rules);
    /// otherwise verification fails with `hostnameMismatch`. Replaces any
    /// host set before; nil removes the requirement.
    /// - Throws: `OpenSSLError` for a name OpenSSL refuses (one containing a NUL byte).
    /// - SeeAlso: X509_VERIFY_PARAM_set1_host(3)
    public func setExpectedHost(_ host: String?) throws {
        try withParameters("set expected host") { parameters in
            try ErrorQueue.check("set expected host '\(host ?? "")'") {
                X509_VERIFY_PARAM_set1_host(parameters, host, host?.utf8.count ?? 0)
            }
        }
    }

    /// Adds `host` to the names a leaf may match (any one is enough).
    /// - Throws: `OpenSSLError` for a name OpenSSL refuses.
    /// - SeeAlso: X509_VERIFY_PARAM_add1_host(3)
    public func addExpectedHost(_ host: String) throws {
        try withParameters("add expected host") { parameters in
            try ErrorQueue.check("add expected host '\(host)'") {
                X509_VERIFY_PARAM_add1_host(parameters, host, host.utf8.count)
            }
        }
    }

    /// The rules host names are matched by.
    /// - SeeAlso: X509_VERIFY_PARAM_get_hostflags(3)
    public var hostCheckFlags: HostCheckFlags {
        readParameters(HostCheckFlags()) { HostCheckFlags(rawValue: X509_VERIFY_PARAM_get_hostflags($0)) }
    }

    /// Sets the rules host names are matched by (replacing the previous ones).
    /// - SeeAlso: X509_VERIFY_PARAM_set_hostflags(3)
    public func setHostCheckFlags(_ flags: HostCheckFlags) throws {
        try withParameters("set host check flags") { parameters in
            X509_VERIFY_PARAM_set_hostflags(parameters, flags.rawValue)
        }
    }

    /// The IP address a leaf must carry in its subjectAltName, or nil.
    /// - SeeAlso: X509_VERIFY_PARAM_get1_ip_asc(3)
    public var expectedIPAddress: String? {
        readParameters(nil) { parameters in
            guard let text = X509_VERIFY_PARAM_get1_ip_asc(parameters) else {
                ErrorQueue.clear()
                return nil
            }
            defer { cossl_OPENSSL_free(text) }
            return String(cString: text)
        }
    }

    /// Requires the leaf to carry `address` ("192.0.2.1", "::1") as an IP
    /// subjectAltName; otherwise verification fails with `ipAddressMismatch`.
    /// nil removes the requirement.
    /// - Throws: `OpenSSLError` when `address` is not an IPv4 or IPv6 address.
    /// - SeeAlso: X509_VERIFY_PARAM_set1_ip_asc(3)
    public func setExpectedIPAddress(_ address: String?) throws {
        try withParameters("set expected IP address") { parameters in
            if let address {
                ErrorQueue.clear()
                guard X509_VERIFY_PARAM_set1_ip_asc(parameters, address) == 1 else {
                    throw ErrorQueue.drain(
                        "set expected IP address",
                        detail: "'\(address)' is not an IPv4 or IPv6 address")
                }
            } else {
                try ErrorQueue.check("clear expected IP address") { X509_VERIFY_PARAM_set1_ip(parameters, nil, 0) }
            }
        }
    }

    /// The email address a leaf must match, or nil.
    /// - SeeAlso: X509_VERIFY_PARAM_get0_email(3)
    public var expectedEmail: String? {
        readParameters(nil) { parameters in
            X509_VERIFY_PARAM_get0_email(parameters).map { String(cString: $0) }
        }
    }

    /// Requires the leaf to match `email` (an rfc822Name subjectAltName, or
    /// the subject's emailAddress); otherwise verification fails with
    /// `emailMismatch`. nil removes the requirement.
    /// - Throws: `OpenSSLError` for an address OpenSSL refuses (one containing a NUL byte).
    /// - SeeAlso: X509_VERIFY_PARAM_set1_email(3)
    public func setExpectedEmail(_ email: String?) throws {
        try withParameters("set expected email") { parameters in
            try ErrorQueue.check("set expected email '\(email ?? "")'") {
                X509_VERIFY_PARAM_set1_email(parameters, email, email?.utf8.count ?? 0)
            }
        }
    }

    // MARK: Verification

    /// Verifies `leaf` against this store, building the chain from the
    /// trusted certificates and the `untrusted` ones (intermediates the peer
    /// sent).
    ///
    /// - Returns: the verified chain, leaf first, trust anchor last.
    /// - Throws: `X509VerificationError` with OpenSSL's code, message,
    ///   depth and the certificate at fault when the chain does not verify;
    ///   `OpenSSLError` when OpenSSL cannot run the verification at all.
    /// - SeeAlso: X509_verify_cert(3)
    @discardableResult
    public func verify(_ leaf: X509, untrusted: [X509] = []) throws -> [X509] {
        try X509StoreContext(store: self, certificate: leaf, untrusted: untrusted).verify()
    }

    /// Calls `body` with the underlying `X509_STORE *`. Valid only inside
    /// `body`; do not free it. Changes made through it are not guarded by
    /// the store's lock.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }
}

/// The X509_STORE ex-data slot holding the binding's `SharedState`.
/// Allocated once per process; -1 if OpenSSL refused.
private let sharedStateIndex: Int32 = cossl_X509_STORE_get_ex_new_index(0, nil, nil, nil, sharedStateFree)

/// Called by OpenSSL when an X509_STORE is freed: drops the retain its ex data held.
private func sharedStateFree(
    _ parent: UnsafeMutableRawPointer?, _ pointer: UnsafeMutableRawPointer?, _ exData: UnsafeMutablePointer<CRYPTO_EX_DATA>?,
    _ index: Int32, _ argl: Int, _ argp: UnsafeMutableRawPointer?
) {
    guard let pointer else { return }
    Unmanaged<X509Store.SharedState>.fromOpaque(pointer).release()
}
