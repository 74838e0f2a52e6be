import Foundation
import Testing
@testable import OpenSSL

/// A root → intermediate → leaf chain for the Web-PKI policy tests, every
/// field and extension of each certificate adjustable, so that a refused
/// certificate and its passing twin differ only in what one rule checks.
///
/// The default chain passes every rule: P-256 keys, version 3, small
/// positive serials, critical basicConstraints, key identifiers, a leaf for
/// `www.example.com` (CN and SAN) with EKU serverAuth.
struct WebPKIChain {
    /// One certificate to build.
    struct Spec {
        var subject: [(String, String)]
        var key: PKey
        var version = 3
        var serial: BigEndianInteger? = BigEndianInteger(0x1001)
        var issuerName: [(String, String)]?
        var notBefore = WebPKIChain.now - 86_400
        var notAfter = WebPKIChain.now + 30 * 86_400
        /// Extensions in order: `.ski` and `.aki` are computed when signing.
        var slots: [Slot]

        enum Slot {
            case ski, aki
            case ext(X509Extension)

            var oid: String {
                switch self {
                case .ski: return X509Extension.subjectKeyIdentifierOID
                case .aki: return X509Extension.authorityKeyIdentifierOID
                case .ext(let ext): return ext.oid
                }
            }
        }

        /// Replaces the extension with `oid` (or appends it); nil removes it.
        mutating func set(_ oid: String, _ slot: Slot?) {
            if let index = slots.firstIndex(where: { $0.oid == oid }) {
                if let slot { slots[index] = slot } else { slots.remove(at: index) }
            } else if let slot {
                slots.append(slot)
            }
        }

        /// Replaces (or adds) a ready extension.
        mutating func set(_ ext: X509Extension) { set(ext.oid, .ext(ext)) }

        /// Removes the extension with `oid`.
        mutating func remove(_ oid: String) { set(oid, nil) }

        func sign(with signer: PKey, issuer: X509?) throws -> X509 {
            var builder = X509Builder(
                subject: try X509Name(subject), publicKey: key,
                notBefore: notBefore, notAfter: notAfter)
            builder.version = version
            builder.serialNumber = serial
            if let issuerName { builder.issuer = try X509Name(issuerName) }
            if version == 3 {
                for slot in slots {
                    switch slot {
                    case .ski: builder.addSubjectKeyIdentifier()
                    case .aki: builder.addAuthorityKeyIdentifier()
                    case .ext(let ext): builder.addExtension(ext)
                    }
                }
            }
            return try builder.sign(with: signer, issuer: issuer)
        }
    }

    /// The certificates as built.
    struct Built {
        let root: X509
        let intermediate: X509
        let leaf: X509
    }

    static let now = Date()

    var root: Spec
    var intermediate: Spec
    var leaf: Spec

    init() throws {
        root = Spec(
            subject: [("CN", "WebPKI Test Root")], key: try PKey.generate(.ec(.p256)), serial: BigEndianInteger(1),
            slots: [
                .ext(try .basicConstraints(BasicConstraints(isCA: true), critical: true)),
                .ext(try .keyUsage([.keyCertSign, .cRLSign])), .ski, .aki,
            ])
        intermediate = Spec(
            subject: [("CN", "WebPKI Test Intermediate")], key: try PKey.generate(.ec(.p256)),
            serial: BigEndianInteger(2),
            slots: [
                .ext(try .basicConstraints(BasicConstraints(isCA: true, pathLength: 0), critical: true)),
                .ext(try .keyUsage([.keyCertSign, .cRLSign])), .ski, .aki,
            ])
        leaf = Spec(
            subject: [("CN", "www.example.com")], key: try PKey.generate(.ec(.p256)),
            slots: [
                .ext(try .basicConstraints(BasicConstraints(isCA: false), critical: true)),
                .ext(try .keyUsage([.digitalSignature])),
                .ext(try .extendedKeyUsage([.serverAuth])),
                .ext(try .subjectAlternativeName([.dnsName("www.example.com"), .dnsName("example.com")])),
                .ski, .aki,
            ])
    }

    /// Builds the three certificates, each signed by its issuer's key.
    func build() throws -> Built {
        let rootCertificate = try root.sign(with: root.key, issuer: nil)
        let intermediateCertificate = try intermediate.sign(with: root.key, issuer: rootCertificate)
        let leafCertificate = try leaf.sign(with: intermediate.key, issuer: intermediateCertificate)
        return Built(root: rootCertificate, intermediate: intermediateCertificate, leaf: leafCertificate)
    }

    // MARK: Verifying

    /// The default Web-PKI policy (the system's Public Suffix List).
    static func webPKI(strictAnchors: Bool = false) throws -> VerificationPolicy {
        try .webPKI(strictAnchors: strictAnchors)
    }

    /// Verifies `built.leaf` with `built.intermediate` untrusted and `built.root`
    /// trusted, under `policy`; `host` is the expected host name.
    static func verify(
        _ built: Built, policy: VerificationPolicy, host: String? = nil,
        trust: [X509]? = nil, untrusted: [X509]? = nil,
        configure: (X509Store) throws -> Void = { _ in }
    ) throws -> Result<[X509], X509VerificationError> {
        let store = try X509Store()
        for certificate in trust ?? [built.root] { try store.add(certificate) }
        if let host { try store.setExpectedHost(host) }
        try configure(store)
        store.setVerificationPolicy(policy)
        do {
            return .success(try store.verify(built.leaf, untrusted: untrusted ?? [built.intermediate]))
        } catch let error as X509VerificationError {
            return .failure(error)
        }
    }
}

/// Records an issue unless `result` is a refusal by `rule` at `depth`.
func expectRefused(
    _ result: Result<[X509], X509VerificationError>, by rule: WebPKIRule, depth: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch result {
    case .success:
        Issue.record("accepted; expected a refusal by \(rule) at depth \(depth)", sourceLocation: sourceLocation)
    case .failure(let error):
        #expect(error.rule == rule, "refused by \(error.rule?.rawValue ?? "OpenSSL"): \(error)", sourceLocation: sourceLocation)
        #expect(error.depth == depth, "\(error)", sourceLocation: sourceLocation)
        #expect(error.code == .applicationVerification, sourceLocation: sourceLocation)
        #expect(error.message.hasSuffix("(\(rule.rawValue))"), "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.certificate != nil, sourceLocation: sourceLocation)
    }
}

/// Records an issue unless `result` is OpenSSL's own refusal with `code` at `depth`.
func expectRefused(
    _ result: Result<[X509], X509VerificationError>, byOpenSSL code: X509VerificationError.Code,
    depth: Int, sourceLocation: SourceLocation = #_sourceLocation
) {
    switch result {
    case .success:
        Issue.record("accepted; expected OpenSSL's \(code) at depth \(depth)", sourceLocation: sourceLocation)
    case .failure(let error):
        #expect(error.rule == nil, "\(error)", sourceLocation: sourceLocation)
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.depth == depth, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message == code.message, sourceLocation: sourceLocation)
    }
}

/// Records an issue unless `result` is an accepted chain.
func expectAccepted(_ result: Result<[X509], X509VerificationError>, sourceLocation: SourceLocation = #_sourceLocation) {
    if case .failure(let error) = result {
        Issue.record("refused: \(error)", sourceLocation: sourceLocation)
    }
}
