import Foundation
internal import COpenSSL

/// Builds and signs a certificate signing request (PKCS#10).
///
/// ```swift
/// var builder = X509RequestBuilder(subject: try X509Name([("CN", "www.example.com")]))
/// try builder.addSubjectAlternativeNames([.dnsName("www.example.com")])
/// let request = try builder.sign(with: key)
/// ```
public struct X509RequestBuilder: Sendable {
    /// The subject; nil means an empty name.
    public var subject: X509Name?
    /// The extensions to request (written as the extensionRequest attribute), in order.
    public var extensions: [X509Extension]

    /// Starts a request.
    /// - SeeAlso: X509_REQ_new(3), called by `sign`
    public init(subject: X509Name? = nil, extensions: [X509Extension] = []) {
        self.subject = subject
        self.extensions = extensions
    }

    /// Requests an extension as it is. Two with the same OID make `sign` throw.
    /// - SeeAlso: X509_REQ_add_extensions(3), which writes them when signing
    public mutating func addExtension(_ ext: X509Extension) {
        extensions.append(ext)
    }

    /// Requests a subjectAltName listing `names` in order.
    /// - Throws: as `X509Extension.subjectAlternativeName(_:critical:)`.
    /// - SeeAlso: X509_REQ_add_extensions(3)
    public mutating func addSubjectAlternativeNames(_ names: [GeneralName], critical: Bool = false) throws {
        addExtension(try .subjectAlternativeName(names, critical: critical))
    }

    /// Makes the request for `key`'s public key and signs it with `key`.
    ///
    /// - Parameters:
    ///   - key: the requester's private key.
    ///   - digest: nil means SHA-256 for RSA and EC; Ed25519 and Ed448 take none.
    ///   - rsaPadding: PKCS#1 v1.5 (default) or PSS, for RSA keys only.
    /// - Returns: the request, re-read from its DER encoding.
    /// - Throws: `OpenSSLError` with a `detail` for a public-only key, an
    ///   unknown digest, a digest with Ed25519/Ed448, PSS with a non-RSA key,
    ///   or the same extension twice; with OpenSSL's reasons otherwise.
    /// - SeeAlso: X509_REQ_set_pubkey(3), X509_REQ_add_extensions(3), X509_REQ_sign_ctx(3)
    public func sign(
        with key: PKey, digest: MessageDigest? = nil,
        rsaPadding: RSASignaturePadding = .pkcs1v15
    ) throws -> X509Request {
        let operation = "build certificate request"
        var seen = Set<String>()
        for ext in extensions where !seen.insert(ext.oid).inserted {
            throw OpenSSLError(operation: operation, detail: "extension \(ext.shortName ?? ext.oid) is requested more than once")
        }
        // Checked again by the signer; checked here first so nothing is built for nothing.
        try key.requirePrivate("sign certificate request")
        let subjectName = try subject ?? X509Name([])
        let draft = X509Request(takingOwnership: try ErrorQueue.call(operation) { X509_REQ_new() })
        let request = draft.raw
        try ErrorQueue.check("\(operation): set version") { X509_REQ_set_version(request, 0) }
        try ErrorQueue.check("\(operation): set subject") { X509_REQ_set_subject_name(request, subjectName.raw) }
        try ErrorQueue.check("\(operation): set public key") { X509_REQ_set_pubkey(request, key.raw) }
        if !extensions.isEmpty {
            try addExtensions(to: request, operation)
        }
        try Signer.sign("certificate request", key: key, digest: digest, padding: rsaPadding) {
            X509_REQ_sign_ctx(request, $0)
        }
        return try X509Request(der: try draft.der)
    }

    /// Writes the extensionRequest attribute. The stack owns copies of the
    /// extensions and is freed with them; X509_REQ_add_extensions encodes
    /// the stack into the request, keeping nothing of it.
    private func addExtensions(to request: OpaquePointer, _ operation: String) throws {
        let stack = try ErrorQueue.call(operation) { cossl_sk_X509_EXTENSION_new_null() }
        defer { cossl_sk_X509_EXTENSION_pop_free(stack) }
        for ext in extensions {
            let copy = try ext.withOpenSSLExtension { pointer in
                try ErrorQueue.call("\(operation): copy extension \(ext.oid)") { X509_EXTENSION_dup(pointer) }
            }
            guard cossl_sk_X509_EXTENSION_push(stack, copy) > 0 else {
                X509_EXTENSION_free(copy)
                throw ErrorQueue.drain("\(operation): add extension \(ext.oid)")
            }
        }
        try ErrorQueue.check("\(operation): add extensionRequest") { X509_REQ_add_extensions(request, stack) }
    }
}
