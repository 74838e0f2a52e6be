import Foundation
import Synchronization
internal import COpenSSL

/// TLS configuration shared by connections (OpenSSL's `SSL_CTX`), the
/// counterpart of pyOpenSSL's `SSL.Context`.
///
/// Configure a context, then make any number of `Connection`s from it, on
/// any threads. Once the first connection has been made, the configuration
/// is frozen: every `set…`/`use…`/`load…` method throws `UsageError`
/// (pyOpenSSL 26.2's rule), because OpenSSL reads a context's settings
/// without locks while connections use it. Reading settings back still works.
///
/// For the common cases use the named constructors, which make the secure
/// choice the easy one: `Context.client()` verifies the server and its host
/// name against the system's trusted roots; `Context.server(certificate:key:)`
/// and `Context.mutualTLSServer(...)` set up a server.
public final class Context: @unchecked Sendable {
    // @unchecked Sendable: SSL_CTX is safe to share once configured; Swift-side state is in `state` (locked).
    /// Which side(s) a context serves.
    public enum Method: Int, Sendable, Hashable, CaseIterable {
        /// TLS, either role (`TLS_method`).
        case tls
        /// TLS clients (`TLS_client_method`).
        case tlsClient
        /// TLS servers (`TLS_server_method`).
        case tlsServer
        /// DTLS, either role (`DTLS_method`).
        case dtls
        /// DTLS clients.
        case dtlsClient
        /// DTLS servers.
        case dtlsServer
    }

    /// The pyOpenSSL-style per-certificate verify callback: called for each
    /// certificate of the peer's chain (root first) with the connection, the
    /// certificate, OpenSSL's verify code for it, its depth and OpenSSL's
    /// verdict. Return true to accept (overriding an error), false to fail
    /// the handshake. A thrown error fails the handshake and comes out of
    /// the driving call as `SSLError.callback(thatError)`.
    public typealias VerifyCallback =
        @Sendable (
            _ connection: Connection, _ certificate: X509, _ error: X509VerificationError.Code, _ depth: Int, _ ok: Bool
        ) throws -> Bool

    /// The whole-chain verification hook: called once per handshake with the
    /// chain the peer sent and OpenSSL's own verdict on it; decides. See
    /// `PeerVerification` and `setPeerVerification(_:)`.
    public typealias PeerVerifier =
        @Sendable (_ connection: Connection, _ verification: PeerVerification) throws
        -> VerificationDecision

    struct State {
        var inUse = false
        var verifyCallback: VerifyCallback?
        var peerVerifier: PeerVerifier?
        var passphrase: Passphrase?
        var userInfo: (any Sendable)?
        var verifiesHostnames = false
        var verificationPolicy: VerificationPolicy = .openSSL
        /// SNI, ALPN, keylog, info, session, OCSP and cookie callbacks (pinned by each connection).
        var callbacks = CallbackSet()
        var removeSession: RemoveSessionCallback?
        /// Set by `setDHAuto(_:)` (OpenSSL offers no getter for it).
        var usesAutomaticDHParameters = false
    }

    let handle: OwnedPointer<SSLContextKind>
    var raw: OpaquePointer { handle.raw }
    let state = Locked(State())

    /// The method the context was made for.
    public let method: Method

    /// A number no other context of this process has, for telling sessions'
    /// origins apart (object addresses can be reused after a context is freed).
    let identity: UInt64 = Context.identities.wrappingAdd(1, ordering: .relaxed).newValue
    private static let identities = Atomic<UInt64>(0)

    /// Makes a context. Connections made from it start with partial writes
    /// and moving write buffers allowed (as pyOpenSSL sets them up) and
    /// TLS 1.2 as the minimum version.
    /// - Throws: `OpenSSLError` when OpenSSL cannot make the context.
    /// - SeeAlso: SSL_CTX_new(3)
    public init(_ method: Method) throws {
        self.method = method
        let context = try ErrorQueue.call("make TLS context") { () -> OpaquePointer? in
            switch method {
            case .tls: return SSL_CTX_new(TLS_method())
            case .tlsClient: return SSL_CTX_new(TLS_client_method())
            case .tlsServer: return SSL_CTX_new(TLS_server_method())
            case .dtls: return SSL_CTX_new(DTLS_method())
            case .dtlsClient: return SSL_CTX_new(DTLS_client_method())
            case .dtlsServer: return SSL_CTX_new(DTLS_server_method())
            }
        }
        handle = OwnedPointer(takingOwnership: context)
        _ = cossl_SSL_CTX_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        if method == .tls || method == .tlsClient || method == .tlsServer {
            _ = cossl_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
        }
        // Context-level callbacks find this object through the app-data slot.
        _ = cossl_SSL_CTX_set_app_data(context, Unmanaged.passUnretained(self).toOpaque())
        // The whole-chain hook is always installed: it finds the connection's
        // pinned hook (if any) at run time, so per-connection hooks work and
        // survive a context switch; without one it is X509_verify_cert.
        SSL_CTX_set_cert_verify_callback(context, chainVerifyTrampoline, nil)
        if let store = SSL_CTX_get_cert_store(context) { PolicyEngine.installCRLLookup(on: store) }
        installFeatureCallbacks(context)
        ErrorQueue.clear()
    }

    deinit {
        // SSL_CTX_free flushes the session cache, which would call the
        // remove-session callback for a Context that is going away; and the
        // SSL_CTX may outlive this object (someone took a reference through
        // withUnsafeOpenSSLPointer): let no callback find it any more.
        SSL_CTX_sess_set_remove_cb(raw, nil)
        _ = cossl_SSL_CTX_set_app_data(raw, nil)
    }

    // MARK: Freezing

    /// Throws when a connection has already been made from this context.
    func ensureConfigurable(_ operation: @autoclosure () -> String) throws {
        let inUse = state.withLock { $0.inUse }
        if inUse {
            throw UsageError(
                operation: operation(),
                reason: "the context is in use by a connection and can no longer be changed")
        }
    }

    /// Marks the context as used (called when a connection is made from it).
    func markInUse() {
        state.withLock { $0.inUse = true }
    }

    /// True once a connection has been made from this context: from then on
    /// its configuration can be read but not changed.
    public var isInUse: Bool { state.withLock { $0.inUse } }

    // MARK: Certificates and keys

    /// Uses `certificate` as this side's certificate.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses it.
    /// - SeeAlso: SSL_CTX_use_certificate(3)
    public func useCertificate(_ certificate: X509) throws {
        try ensureConfigurable("use certificate")
        try ErrorQueue.check("use certificate") { SSL_CTX_use_certificate(raw, certificate.raw) }
    }

    /// Uses `key` as this side's private key.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when
    ///   the key is public-only or does not match the certificate already set.
    /// - SeeAlso: SSL_CTX_use_PrivateKey(3)
    public func usePrivateKey(_ key: PKey) throws {
        try ensureConfigurable("use private key")
        try key.requirePrivate("use private key")
        try ErrorQueue.check("use private key") { SSL_CTX_use_PrivateKey(raw, key.raw) }
    }

    /// The encoding of a certificate or key file.
    public enum FileFormat: Sendable, Hashable {
        /// PEM: Base64 between `-----BEGIN …-----` lines.
        case pem
        /// DER: the binary ASN.1 encoding.
        case der
    }

    /// Reads this side's certificate from a file.
    /// - Throws: `UsageError` when the context is in use; an error naming the
    ///   file when it cannot be read or holds no certificate.
    public func useCertificateFile(_ path: String, format: FileFormat = .pem) throws {
        try ensureConfigurable("use certificate file \(path)")
        let bytes = try Context.readFile(path)
        let certificate = try Context.naming(path) {
            format == .pem ? try X509(pem: bytes) : try X509(der: bytes)
        }
        try useCertificate(certificate)
    }

    /// Reads this side's private key from a file, asking the context's
    /// passphrase callback (`setPassphrase(_:)`) when it is encrypted.
    /// - Throws: `UsageError` when the context is in use; `PassphraseError`
    ///   for a missing or wrong passphrase; the passphrase callback's own
    ///   error; `OpenSSLError` naming the file otherwise.
    public func usePrivateKeyFile(_ path: String, format: FileFormat = .pem) throws {
        try ensureConfigurable("use private key file \(path)")
        let bytes = try Context.readFile(path)
        let passphrase = state.withLock { $0.passphrase }
        let key = try Context.naming(path) {
            format == .pem
                ? try PKey(privateKeyPEM: bytes, passphrase: passphrase)
                : try PKey(privateKeyDER: bytes, passphrase: passphrase)
        }
        try usePrivateKey(key)
    }

    /// Reads a PEM chain file: the first certificate is this side's, the
    /// rest are sent after it as its chain.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError`
    ///   naming the file and the damaged block otherwise.
    /// - SeeAlso: SSL_CTX_use_certificate_chain_file(3)
    public func useCertificateChainFile(_ path: String) throws {
        try ensureConfigurable("use certificate chain file \(path)")
        let certificates = try Context.naming(path) { try X509.chain(pem: try Context.readFile(path)) }
        try useCertificateChain(certificates)
    }

    /// Uses the first certificate as this side's and sends the rest after it.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when the list is empty or OpenSSL refuses one.
    /// - SeeAlso: SSL_CTX_use_certificate(3), SSL_CTX_add_extra_chain_cert(3)
    public func useCertificateChain(_ certificates: [X509]) throws {
        guard let leaf = certificates.first else {
            throw OpenSSLError(operation: "use certificate chain", detail: "the chain is empty")
        }
        try useCertificate(leaf)
        try ErrorQueue.check("clear extra chain certificates") { Int32(cossl_SSL_CTX_clear_extra_chain_certs(raw)) }
        for certificate in certificates.dropFirst() {
            try addExtraChainCertificate(certificate)
        }
    }

    /// Adds a certificate sent after this side's own (an intermediate).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses it.
    /// - SeeAlso: SSL_CTX_add_extra_chain_cert(3)
    public func addExtraChainCertificate(_ certificate: X509) throws {
        try ensureConfigurable("add extra chain certificate")
        // The context takes over one reference on success.
        guard X509_up_ref(certificate.raw) == 1 else { throw ErrorQueue.drain("add extra chain certificate") }
        do {
            try ErrorQueue.check("add extra chain certificate") {
                Int32(cossl_SSL_CTX_add_extra_chain_cert(raw, certificate.raw))
            }
        } catch {
            X509_free(certificate.raw)
            throw error
        }
    }

    /// The extra chain certificates, in the order they are sent.
    public var extraChainCertificates: [X509] {
        var stack: OpaquePointer?
        _ = cossl_SSL_CTX_get_extra_chain_certs(raw, &stack)
        return X509.list(fromStack: stack)
    }

    /// Throws unless the private key matches the certificate.
    /// - Throws: `OpenSSLError` ("key values mismatch", "no private key assigned", …).
    /// - SeeAlso: SSL_CTX_check_private_key(3)
    public func checkPrivateKey() throws {
        try ErrorQueue.check("check private key") { SSL_CTX_check_private_key(raw) }
    }

    /// This side's certificate, or nil when none is set.
    /// - SeeAlso: SSL_CTX_get0_certificate(3)
    public var certificate: X509? {
        SSL_CTX_get0_certificate(raw).flatMap { try? X509(borrowing: $0) }
    }

    /// Sets the passphrase used when `usePrivateKeyFile` meets an encrypted key.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_default_passwd_cb(3)
    public func setPassphrase(_ passphrase: Passphrase?) throws {
        try ensureConfigurable("set passphrase")
        state.withLock { $0.passphrase = passphrase }
    }

    // MARK: Trust

    /// Loads trusted certificates from a PEM file and/or a hashed directory (`<hash>.0` files).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when the file or directory cannot be used.
    /// - SeeAlso: SSL_CTX_load_verify_file(3), SSL_CTX_load_verify_dir(3)
    public func loadVerifyLocations(file: String? = nil, directory: String? = nil) throws {
        try ensureConfigurable("load verify locations")
        guard file != nil || directory != nil else {
            throw OpenSSLError(operation: "load verify locations", detail: "give a file, a directory or both")
        }
        if let file {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw OpenSSLError(operation: "load verify file \(file)", detail: "no such readable file")
            }
            try ErrorQueue.check("load verify file \(file)") { SSL_CTX_load_verify_file(raw, file) }
        }
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw OpenSSLError(operation: "load verify directory \(directory)", detail: "no such directory")
            }
            try ErrorQueue.check("load verify directory \(directory)") { SSL_CTX_load_verify_dir(raw, directory) }
        }
    }

    /// Trusts the system's default roots (Debian: /etc/ssl/certs).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: SSL_CTX_set_default_verify_paths(3)
    public func setDefaultVerifyPaths() throws {
        try ensureConfigurable("set default verify paths")
        try ErrorQueue.check("set default verify paths") { SSL_CTX_set_default_verify_paths(raw) }
    }

    /// Trusts each certificate in `certificates` (adds them to the certificate store).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses one.
    public func trust(_ certificates: [X509]) throws {
        try ensureConfigurable("trust certificates")
        let store = try certificateStore
        for certificate in certificates {
            try store.add(certificate)
        }
    }

    /// The context's certificate store (trusted certificates, CRLs, verification flags).
    ///
    /// Not frozen with the rest of the configuration, on purpose: the store is
    /// OpenSSL's own locked object, shared by every connection of the context,
    /// so a certificate or CRL added while connections run (a new CA, a fresh
    /// CRL) applies to the verifications that start afterwards, and never
    /// tears one in progress. Its flags and purpose are read per verification
    /// too. `setCertificateStore(_:)` (replacing the store) is frozen.
    /// - Throws: `OpenSSLError` when OpenSSL cannot give a reference to it.
    /// - SeeAlso: SSL_CTX_get_cert_store(3)
    public var certificateStore: X509Store {
        get throws {
            try X509Store(borrowing: try ErrorQueue.call("get certificate store") { SSL_CTX_get_cert_store(raw) })
        }
    }

    /// Replaces the certificate store.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set1_cert_store(3)
    public func setCertificateStore(_ store: X509Store) throws {
        try ensureConfigurable("set certificate store")
        SSL_CTX_set1_cert_store(raw, store.raw)
    }

    /// Sets the list of CA names a server sends when it asks for a client certificate.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when a name cannot be copied.
    /// - SeeAlso: SSL_CTX_set_client_CA_list(3)
    public func setClientCAList(_ names: [X509Name]) throws {
        try ensureConfigurable("set client CA list")
        let stack = try X509Name.makeStack(names)
        SSL_CTX_set_client_CA_list(raw, stack)
    }

    /// Adds a CA's subject to the list a server sends.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: SSL_CTX_add_client_CA(3)
    public func addClientCA(_ certificate: X509) throws {
        try ensureConfigurable("add client CA")
        try ErrorQueue.check("add client CA") { SSL_CTX_add_client_CA(raw, certificate.raw) }
    }

    /// Sets the client CA list from the subjects of the certificates in a PEM file.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when the file holds no certificate.
    /// - SeeAlso: SSL_load_client_CA_file(3)
    public func loadClientCAFile(_ path: String) throws {
        try ensureConfigurable("load client CA file \(path)")
        let stack = try ErrorQueue.call("load client CA file \(path)") { SSL_load_client_CA_file(path) }
        SSL_CTX_set_client_CA_list(raw, stack)
    }

    /// The CA names a server sends when asking for a client certificate.
    /// - SeeAlso: SSL_CTX_get_client_CA_list(3)
    public var clientCAList: [X509Name] {
        X509Name.list(fromStack: SSL_CTX_get_client_CA_list(raw))
    }

    // MARK: Verification

    /// Sets the verification mode and, optionally, the pyOpenSSL-style
    /// per-certificate callback (see `VerifyCallback`).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_verify(3)
    public func setVerify(_ mode: VerifyMode, callback: VerifyCallback? = nil) throws {
        try ensureConfigurable("set verify")
        state.withLock { $0.verifyCallback = callback }
        SSL_CTX_set_verify(raw, mode.rawValue, callback == nil ? nil : perCertificateVerifyTrampoline)
    }

    /// Sets the whole-chain verification hook: it sees the peer's chain and
    /// OpenSSL's verdict once per handshake and decides (accept, reject, or,
    /// on a client, decide later). Pass nil to go back to OpenSSL's verdict.
    ///
    /// The hook's decision counts only when the verify mode includes
    /// `.peer`: under `.none`, OpenSSL ignores the verdict of any
    /// verification. A server must use `.peer` to ask for client
    /// certificates at all.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_cert_verify_callback(3)
    public func setPeerVerification(_ verifier: PeerVerifier?) throws {
        try ensureConfigurable("set peer verification")
        state.withLock { $0.peerVerifier = verifier }
    }

    /// The verification mode.
    /// - SeeAlso: SSL_CTX_get_verify_mode(3)
    public var verifyMode: VerifyMode { VerifyMode(rawValue: SSL_CTX_get_verify_mode(raw)) }

    /// Sets the maximum chain depth accepted.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_verify_depth(3)
    public func setVerifyDepth(_ depth: Int) throws {
        try ensureConfigurable("set verify depth")
        SSL_CTX_set_verify_depth(raw, Int32(clamping: depth))
    }

    /// The maximum chain depth accepted.
    public var verifyDepth: Int { Int(SSL_CTX_get_verify_depth(raw)) }

    /// The policy the peer's chain is verified by (see `VerificationPolicy`):
    /// `.webPKI()` for `Context.client()` with the system's roots, `.openSSL`
    /// for every other context. Applied in every handshake after OpenSSL's
    /// own verification; the whole-chain hook sees both verdicts.
    public var verificationPolicy: VerificationPolicy { state.withLock { $0.verificationPolicy } }

    /// Verifies peers by `policy` from now on. `.webPKI()` is for verifying
    /// servers (it requires the TLS-server purpose); a server verifying
    /// client certificates keeps `.openSSL`.
    /// - Throws: `UsageError` when the context is in use.
    public func setVerificationPolicy(_ policy: VerificationPolicy) throws {
        try ensureConfigurable("set verification policy")
        state.withLock { $0.verificationPolicy = policy }
    }

    /// Whether connections from this context check the server's host name
    /// (set by `Context.client`): a client connection then refuses to
    /// handshake until `setServerName(_:)` or `setExpectedHost(_:)` says
    /// which host it expects.
    public var verifiesHostnames: Bool { state.withLock { $0.verifiesHostnames } }

    /// Turns the host-name requirement described in `verifiesHostnames` on or off.
    /// - Throws: `UsageError` when the context is in use.
    public func setVerifiesHostnames(_ on: Bool) throws {
        try ensureConfigurable("set hostname verification")
        state.withLock { $0.verifiesHostnames = on }
    }

    // MARK: Protocol

    /// Sets the lowest protocol version allowed (nil: OpenSSL's lowest).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for a version this method cannot do.
    /// - SeeAlso: SSL_CTX_set_min_proto_version(3)
    public func setMinimumProtocolVersion(_ version: ProtocolVersion?) throws {
        try ensureConfigurable("set minimum protocol version")
        try ErrorQueue.check("set minimum protocol version") {
            cossl_SSL_CTX_set_min_proto_version(raw, version?.rawValue ?? 0)
        }
    }

    /// Sets the highest protocol version allowed (nil: OpenSSL's highest).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for a version this method cannot do.
    /// - SeeAlso: SSL_CTX_set_max_proto_version(3)
    public func setMaximumProtocolVersion(_ version: ProtocolVersion?) throws {
        try ensureConfigurable("set maximum protocol version")
        try ErrorQueue.check("set maximum protocol version") {
            cossl_SSL_CTX_set_max_proto_version(raw, version?.rawValue ?? 0)
        }
    }

    /// The lowest protocol version allowed, or nil for no limit.
    public var minimumProtocolVersion: ProtocolVersion? {
        ProtocolVersion(rawValue: cossl_SSL_CTX_get_min_proto_version(raw))
    }

    /// The highest protocol version allowed, or nil for no limit.
    public var maximumProtocolVersion: ProtocolVersion? {
        ProtocolVersion(rawValue: cossl_SSL_CTX_get_max_proto_version(raw))
    }

    /// Adds options; returns all options now set.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_options(3)
    @discardableResult
    public func setOptions(_ options: SSLOptions) throws -> SSLOptions {
        try ensureConfigurable("set options")
        return SSLOptions(rawValue: SSL_CTX_set_options(raw, options.rawValue))
    }

    /// Removes options; returns all options still set.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_clear_options(3)
    @discardableResult
    public func clearOptions(_ options: SSLOptions) throws -> SSLOptions {
        try ensureConfigurable("clear options")
        return SSLOptions(rawValue: SSL_CTX_clear_options(raw, options.rawValue))
    }

    /// The options set.
    public var options: SSLOptions { SSLOptions(rawValue: SSL_CTX_get_options(raw)) }

    /// Adds modes; returns all modes now set.
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_mode(3)
    @discardableResult
    public func setMode(_ modes: SSLModes) throws -> SSLModes {
        try ensureConfigurable("set mode")
        return SSLModes(rawValue: cossl_SSL_CTX_set_mode(raw, modes.rawValue))
    }

    /// Removes modes; returns the modes still set.
    /// - Throws: `UsageError` when the context is in use.
    @discardableResult
    public func clearMode(_ modes: SSLModes) throws -> SSLModes {
        try ensureConfigurable("clear mode")
        return SSLModes(rawValue: cossl_SSL_CTX_clear_mode(raw, modes.rawValue))
    }

    /// The modes set.
    public var mode: SSLModes { SSLModes(rawValue: cossl_SSL_CTX_get_mode(raw)) }

    /// Sets the TLS 1.2-and-below cipher list (OpenSSL's syntax:
    /// "ECDHE+AESGCM:!aNULL"). Unknown names are skipped.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError`
    ///   ("no cipher match") when no name in the list is known.
    /// - SeeAlso: SSL_CTX_set_cipher_list(3)
    public func setCipherList(_ list: String) throws {
        try ensureConfigurable("set cipher list")
        // OpenSSL replaces the context's list before it finds that nothing
        // matched, leaving no TLS 1.2 ciphers at all; try the list on a
        // scratch context first so a refused list changes nothing.
        let scratch = try ErrorQueue.call("set cipher list") { SSL_CTX_new(TLS_method()) }
        defer { SSL_CTX_free(scratch) }
        try ErrorQueue.check("set cipher list '\(list)'") { SSL_CTX_set_cipher_list(scratch, list) }
        try ErrorQueue.check("set cipher list '\(list)'") { SSL_CTX_set_cipher_list(raw, list) }
    }

    /// Sets the TLS 1.3 ciphersuites ("TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256").
    ///
    /// OpenSSL's default order, kept here, is AES-256-GCM, ChaCha20-Poly1305,
    /// AES-128-GCM. For speed on x86 with AES-NI, put AES-128-GCM first
    /// (`Context.aes128FirstTLS13Ciphersuites`): AES-GCM beats ChaCha20 on
    /// small records there (ChaCha20 is about 29 % slower per small round
    /// trip), and AES-128 does 10 rounds to AES-256's 14, for 128-bit
    /// security instead of 256-bit. A client's order decides unless the
    /// server sets `.cipherServerPreference`.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when none is known.
    /// - SeeAlso: SSL_CTX_set_ciphersuites(3)
    public func setTLS13Ciphersuites(_ list: String) throws {
        try ensureConfigurable("set TLS 1.3 ciphersuites")
        try ErrorQueue.check("set TLS 1.3 ciphersuites '\(list)'") { SSL_CTX_set_ciphersuites(raw, list) }
    }

    /// All three of OpenSSL's TLS 1.3 ciphersuites, AES-128-GCM first: the
    /// fastest order on x86 with AES-NI (see `setTLS13Ciphersuites(_:)`).
    public static let aes128FirstTLS13Ciphersuites =
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// Sets the key-exchange groups in preference order ("X25519:P-256").
    /// OpenSSL's default list already starts with X25519. Keep X25519 first
    /// unless you need otherwise (FIPS, a peer without it): P-256 key
    /// exchange costs about 16.5 % more per handshake.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for an unknown group.
    /// - SeeAlso: SSL_CTX_set1_groups_list(3)
    public func setGroups(_ groups: [String]) throws {
        try ensureConfigurable("set groups")
        let list = groups.joined(separator: ":")
        ErrorQueue.clear()
        guard cossl_SSL_CTX_set1_groups_list(raw, list) > 0 else {
            let error = ErrorQueue.drain("set groups '\(list)'")
            // OpenSSL 3.5 refuses an unknown name without queuing a reason.
            guard !error.entries.isEmpty else {
                throw OpenSSLError(operation: error.operation, detail: "a group in the list is unknown or not supported")
            }
            throw error
        }
        ErrorQueue.clear()
    }

    /// Sets how many TLS 1.3 session tickets a server sends after each full
    /// handshake (OpenSSL's default, kept here: 2; after a resumption, one).
    ///
    /// The trade-off: making tickets is about 6.6 % of a full handshake's
    /// cost, so 0 gives about 9 % more full handshakes per second — but then
    /// clients cannot resume at all, and a resumption skips about 37 % of a
    /// full handshake's cost. Choose 0 only for clients that never resume
    /// (one-shot connections, clients without a session cache); 1 serves a
    /// client that resumes one connection at a time; the default 2 lets it
    /// open two resumed connections at once. It does not affect TLS 1.2
    /// (turn its tickets off with `.noTicket`).
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when OpenSSL refuses.
    /// - SeeAlso: SSL_CTX_set_num_tickets(3)
    public func setSessionTicketCount(_ count: Int) throws {
        try ensureConfigurable("set session ticket count")
        guard count >= 0 else {
            throw OpenSSLError(operation: "set session ticket count", detail: "\(count) is negative")
        }
        try ErrorQueue.check("set session ticket count") { SSL_CTX_set_num_tickets(raw, count) }
    }

    /// How many TLS 1.3 session tickets a server sends after a full handshake.
    /// - SeeAlso: SSL_CTX_get_num_tickets(3)
    public var sessionTicketCount: Int { SSL_CTX_get_num_tickets(raw) }

    /// Sets the session id context (at most 32 bytes): sessions are resumed
    /// only by contexts with the same one. Servers that ask for client
    /// certificates need it for resumption.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` when it is too long.
    /// - SeeAlso: SSL_CTX_set_session_id_context(3)
    public func setSessionIDContext(_ bytes: [UInt8]) throws {
        try ensureConfigurable("set session id context")
        // OpenSSL itself refuses more than 32 bytes, with its own reason
        // ("ssl session id context too long"), which the error carries.
        try ErrorQueue.check("set session id context") {
            SSL_CTX_set_session_id_context(raw, bytes, UInt32(bytes.count))
        }
    }

    /// Sets how long sessions stay resumable, in seconds; returns the
    /// previous value (as OpenSSL and pyOpenSSL do).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_timeout(3)
    @discardableResult
    public func setTimeout(_ seconds: Int) throws -> Int {
        try ensureConfigurable("set timeout")
        return SSL_CTX_set_timeout(raw, seconds)
    }

    /// How long sessions stay resumable, in seconds.
    public var timeout: Int { SSL_CTX_get_timeout(raw) }

    /// A slot for the application's own data (pyOpenSSL's `set_app_data`).
    /// Not configuration: it can be changed at any time.
    public var userInfo: (any Sendable)? {
        get { state.withLock { $0.userInfo } }
        set { state.withLock { $0.userInfo = newValue } }
    }

    /// Calls `body` with the underlying `SSL_CTX *`. Valid only inside `body`; do not free it.
    ///
    /// This bypasses the freeze (`isInUse`): nothing stops `body` from
    /// changing the configuration while connections use the context, which
    /// OpenSSL does not allow (`SSL_CTX` setters are not thread-safe once
    /// shared). Read through it freely; change things through it only before
    /// the first connection. It also bypasses this type's bookkeeping: do
    /// not replace the callbacks or the app data it installed.
    public func withUnsafeOpenSSLPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(raw)
    }

    /// Client: lets the server ask connections from this context for a
    /// certificate after a TLS 1.3 handshake (`Connection.requestClientCertificate()`).
    /// - Throws: `UsageError` when the context is in use.
    /// - SeeAlso: SSL_CTX_set_post_handshake_auth(3)
    public func setPostHandshakeAuthentication(_ enabled: Bool) throws {
        try ensureConfigurable("set post-handshake authentication")
        SSL_CTX_set_post_handshake_auth(raw, enabled ? 1 : 0)
    }

    // MARK: Helpers

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OpenSSLError(operation: "read \(path)", detail: "no such readable file")
        }
        return Array(data)
    }

    /// Runs a load, putting the file's name into an `OpenSSLError`'s operation.
    static func naming<R>(_ path: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as OpenSSLError {
            throw OpenSSLError(operation: "\(path): \(error.operation)", entries: error.entries, detail: error.detail)
        }
    }

    /// Finds the Context whose SSL_CTX this is, through the app-data slot.
    static func from(_ context: OpaquePointer?) -> Context? {
        guard let context, let pointer = cossl_SSL_CTX_get_app_data(context) else { return nil }
        return Unmanaged<Context>.fromOpaque(pointer).takeUnretainedValue()
    }
}
