import ArgumentParser
import Foundation
import OpenSSL

/// `ossl genkey`: a new private key, as PKCS#8 PEM.
struct GenKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkey",
        abstract: "Generate a private key (PKCS#8 PEM).",
        discussion: """
            Writes the key to --out (created with mode 0600, replaced atomically) or stdout. \
            With --passphrase the key is encrypted with AES-256-CBC.

            Examples:
              ossl genkey --out key.pem                       # EC P-256
              ossl genkey --type rsa --bits 3072 --out rsa.pem
              ossl genkey --type ec --curve P-384
              ossl genkey --type ed25519 --passphrase env:KEY_PASSPHRASE --out ed.pem
            """
    )

    enum KeyType: String, ExpressibleByArgument, CaseIterable {
        case rsa, ec, ed25519, ed448
    }

    @Option(name: .customLong("type"), help: "The key type: rsa, ec, ed25519 or ed448.")
    var keyType: KeyType = .ec

    @Option(help: ArgumentHelp("RSA modulus size in bits (default 2048).", valueName: "n"))
    var bits: Int?

    @Option(help: ArgumentHelp("EC curve: P-256 (default), P-384, P-521, or any name OpenSSL knows.", valueName: "name"))
    var curve: String?

    @Option(
        help: ArgumentHelp("Encrypt the key with this passphrase: pass:TEXT, env:VARIABLE or file:PATH.", valueName: "source"))
    var passphrase: String?

    @Option(help: ArgumentHelp("Where to write the key (default stdout).", valueName: "file"))
    var out: String?

    func validate() throws {
        if bits != nil && keyType != .rsa { throw ValidationError("--bits is for --type rsa") }
        if curve != nil && keyType != .ec { throw ValidationError("--curve is for --type ec") }
        if let bits, bits < 512 || bits > 16384 { throw ValidationError("--bits must be between 512 and 16384") }
    }

    func run() throws {
        let specification: PKey.Specification
        switch keyType {
        case .rsa: specification = .rsa(bits: bits ?? 2048)
        case .ec:
            do {
                specification = .ec(try PKey.Curve(curve ?? "P-256"))
            } catch {
                throw CLIFailure.input("--curve: \(error)")
            }
        case .ed25519: specification = .ed25519
        case .ed448: specification = .ed448
        }
        let secret = try passphrase.map { try PassphraseSource($0).resolve() }
        let pem: String
        do {
            let key = try PKey.generate(specification)
            pem = try key.privateKeyPEM(passphrase: secret)
        } catch {
            throw CLIFailure.input(curve.map { "--curve \($0)" } ?? "key generation", error)
        }
        try writeOutput(pem, to: out, isSecret: true)
    }
}

/// `ossl selfsign`: a self-signed certificate for a key.
struct SelfSignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfsign",
        abstract: "Make a self-signed certificate for a key.",
        discussion: """
            The certificate is valid from now for --days days, has a random serial number, a \
            subject key identifier, and the given alternative names. Without --ca it is a leaf \
            (CA:FALSE, digitalSignature, serverAuth and clientAuth); with --ca it is a CA \
            (CA:TRUE, keyCertSign and cRLSign). RSA and EC keys sign with SHA-256.

            Examples:
              ossl genkey --out key.pem
              ossl selfsign --key key.pem --subject /CN=localhost --san DNS:localhost --san IP:127.0.0.1 --out cert.pem
              ossl selfsign --key ca-key.pem --subject "/O=Example/CN=Example Root" --ca --days 3650
            """
    )

    @OptionGroup var keyOptions: KeyOptions

    @Option(help: ArgumentHelp("The subject, as /TYPE=value/… (e.g. /CN=localhost/O=Example).", valueName: "name"))
    var subject: String

    @Option(help: ArgumentHelp("Days of validity (default 365).", valueName: "n"))
    var days: Int = 365

    @Option(
        help: ArgumentHelp(
            "Subject alternative names: DNS:name, IP:addr, email:addr, URI:uri (repeatable, or comma-separated).",
            valueName: "name"))
    var san: [String] = []

    @Flag(help: "Make a CA certificate.")
    var ca = false

    @Option(help: ArgumentHelp("Where to write the certificate (default stdout).", valueName: "file"))
    var out: String?

    func validate() throws {
        guard days > 0 && days <= 36_500 else { throw ValidationError("--days must be between 1 and 36500") }
    }

    func run() throws {
        let key = try keyOptions.load()
        let name = try NameOptions.subject(subject)
        let alternativeNames = try NameOptions.alternativeNames(san)
        let now = Date()
        var builder = X509Builder(
            subject: name, publicKey: key, notBefore: now,
            notAfter: now + TimeInterval(days) * 86_400)
        let certificate: X509
        do {
            if ca {
                try builder.addBasicConstraints(isCA: true)
                try builder.addKeyUsage([.keyCertSign, .cRLSign, .digitalSignature])
            } else {
                try builder.addBasicConstraints(isCA: false)
                try builder.addKeyUsage(key.type == .rsa ? [.digitalSignature, .keyEncipherment] : [.digitalSignature])
                try builder.addExtendedKeyUsage([.serverAuth, .clientAuth])
            }
            if !alternativeNames.isEmpty { try builder.addSubjectAlternativeNames(alternativeNames) }
            builder.addSubjectKeyIdentifier()
            certificate = try builder.sign(with: key, digest: signingDigest(for: key))
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure.input(keyOptions.key, error)
        }
        try writeOutput(try certificate.pem, to: out)
    }
}

/// SHA-256 for RSA and EC keys; nil for Ed25519 and Ed448, which take no digest.
func signingDigest(for key: PKey) -> MessageDigest? {
    key.type == .ed25519 || key.type == .ed448 ? nil : .sha256
}

/// `ossl req`: a PKCS#10 certificate signing request for a key.
struct ReqCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "req",
        abstract: "Make a certificate signing request (PKCS#10, PEM) for a key.",
        discussion: """
            The request carries the subject and, when given, a subjectAltName extension; it is \
            signed with the key (SHA-256 for RSA and EC). Read it back with \
            `openssl req -text -noout -verify`.

            Examples:
              ossl genkey --out key.pem
              ossl req --key key.pem --subject "/C=DE/O=Example/CN=www.example.com" --san www.example.com,example.com --out req.pem
              ossl req --key key.pem --passphrase env:KEY_PASS --subject /CN=alice --san email:alice@example.com
            """
    )

    @OptionGroup var keyOptions: KeyOptions

    @Option(help: ArgumentHelp("The subject, as /TYPE=value/… (e.g. /CN=www.example.com/O=Example).", valueName: "name"))
    var subject: String

    @Option(
        help: ArgumentHelp(
            "Subject alternative names: DNS:name, IP:addr, email:addr, URI:uri (repeatable, or comma-separated).",
            valueName: "name"))
    var san: [String] = []

    @Option(help: ArgumentHelp("Where to write the request (default stdout).", valueName: "file"))
    var out: String?

    func run() throws {
        let key = try keyOptions.load()
        let name = try NameOptions.subject(subject)
        let alternativeNames = try NameOptions.alternativeNames(san)
        var builder = X509RequestBuilder(subject: name)
        let pem: String
        do {
            if !alternativeNames.isEmpty { try builder.addSubjectAlternativeNames(alternativeNames) }
            pem = try builder.sign(with: key, digest: signingDigest(for: key)).pem
        } catch {
            throw CLIFailure.input(keyOptions.key, error)
        }
        try writeOutput(pem, to: out)
    }
}
