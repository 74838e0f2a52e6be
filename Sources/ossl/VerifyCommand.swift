import ArgumentParser
import Foundation
import OpenSSL

/// `ossl verify`: builds and verifies a certificate's chain, as `openssl verify` does.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a certificate chain; exit 0 when it verifies, 1 when it does not.",
        discussion: """
            Builds the chain from LEAF to a trusted certificate (--ca, --ca-dir, or the system's \
            trust store when neither is given), using the --untrusted intermediates and any \
            certificates after the first one in LEAF itself. Prints the verified chain, one line \
            per certificate, or OpenSSL's verify error with its code, message and depth.

            Examples:
              ossl verify --ca root.pem --untrusted intermediate.pem leaf.pem
              ossl verify --ca root.pem --host www.example.com --purpose server chain.pem
              ossl verify --ca root.pem --crl root.crl --crl-check leaf.pem
              ossl verify --ca root.pem --at 2030-01-01T00:00:00Z --json leaf.pem
              ossl verify --policy webpki --host www.example.com chain.pem

            --policy webpki adds the Web-PKI rules browsers enforce on a TLS server \
            certificate to OpenSSL's verification (Docs/verification.md); a refusal by one \
            of them names its rule id (D1, E1, ...), also in --json ("rule").
            """
    )

    @Option(
        name: .customLong("ca"), help: ArgumentHelp("Trusted certificates (PEM bundle or DER); repeatable.", valueName: "file"))
    var caFiles: [String] = []

    @Option(
        name: .customLong("ca-dir"),
        help: ArgumentHelp("A hashed directory of trusted certificates (openssl rehash).", valueName: "dir"))
    var caDirectory: String?

    @Option(
        name: .customLong("untrusted"),
        help: ArgumentHelp("Intermediate certificates to build the chain with; repeatable.", valueName: "file"))
    var untrustedFiles: [String] = []

    @Option(help: ArgumentHelp("The DNS name the leaf must match.", valueName: "name"))
    var host: String?

    @Option(help: ArgumentHelp("The IP address the leaf must match.", valueName: "addr"))
    var ip: String?

    @Option(help: ArgumentHelp("The email address the leaf must match.", valueName: "addr"))
    var email: String?

    @Option(help: ArgumentHelp("The purpose the chain must allow: server, client or any.", valueName: "purpose"))
    var purpose: Purpose?

    @Option(
        name: .customLong("at"),
        help: ArgumentHelp("Verify at this time instead of now (2030-01-01T00:00:00Z).", valueName: "iso-time"))
    var time: String?

    @Option(
        name: .customLong("crl"),
        help: ArgumentHelp("Certificate revocation lists (PEM or DER); repeatable. Checked with --crl-check.", valueName: "file"))
    var crlFiles: [String] = []

    @Flag(name: .customLong("crl-check"), help: "Check the leaf against its issuer's CRL (a CRL must be given).")
    var crlCheck = false

    @Flag(name: .customLong("partial-chain"), help: "Accept a chain that ends at any trusted certificate, not only a root.")
    var partialChain = false

    @Option(name: .customLong("max-depth"), help: ArgumentHelp("The most intermediate certificates allowed.", valueName: "n"))
    var maxDepth: Int?

    @Option(
        help: ArgumentHelp(
            "The verification policy: openssl (OpenSSL's verdict, the default) or webpki (OpenSSL's and the Web-PKI rules).",
            valueName: "policy"))
    var policy: PolicyName = .openssl

    @Flag(help: "Print the result as JSON (schema in Docs/cli.md).")
    var json = false

    @Argument(help: "The certificate to verify (its first certificate; the others are used as intermediates), or - for stdin.")
    var leaf: String

    enum PolicyName: String, ExpressibleByArgument, CaseIterable {
        case openssl, webpki
    }

    enum Purpose: String, ExpressibleByArgument, CaseIterable {
        case server, client, any

        var value: X509Purpose {
            switch self {
            case .server: return .tlsServer
            case .client: return .tlsClient
            case .any: return .any
            }
        }
    }

    func validate() throws {
        if let maxDepth, maxDepth < 0 { throw ValidationError("--max-depth must be 0 or more") }
        if let time, parseISOTime(time) == nil {
            throw ValidationError("--at: '\(time)' is not an ISO 8601 time such as 2030-01-01T00:00:00Z")
        }
        let stdinUses = ([leaf] + caFiles + untrustedFiles + crlFiles).filter { $0 == "-" }.count
        if stdinUses > 1 { throw ValidationError("stdin (-) can be read only once") }
    }

    func run() throws {
        let leafInput = InputFile(leaf)
        let leafFile = try leafInput.certificates()
        guard let leafCertificate = leafFile.first else { throw CLIFailure.input("\(leafInput.name): no certificate") }
        var untrusted = Array(leafFile.dropFirst())
        for path in untrustedFiles {
            untrusted += try InputFile(path).certificates()
        }
        let store = try makeStore()

        let outcome: Result<[X509], X509VerificationError>
        do {
            outcome = .success(try store.verify(leafCertificate, untrusted: untrusted))
        } catch let error as X509VerificationError {
            outcome = .failure(error)
        } catch {
            throw CLIFailure.input(leafInput.name, error)
        }

        switch outcome {
        case .success(let chain):
            if json {
                print(resultJSON(file: leafInput, chain: chain, error: nil).text)
            } else {
                print("\(leafInput.name): OK")
                for (depth, certificate) in chain.enumerated() {
                    print("  " + CertificateReport(certificate).chainLine(depth: depth))
                }
            }
        case .failure(let error):
            if json {
                print(resultJSON(file: leafInput, chain: nil, error: error).text)
            } else {
                print(
                    "\(leafInput.name): verification failed: error \(error.code.rawValue) at depth \(error.depth): \(error.message)"
                )
                if let certificate = error.certificate {
                    print("  " + CertificateReport(certificate).chainLine(depth: error.depth))
                }
            }
            throw ExitCode(1)
        }
    }

    /// The store: trust anchors, CRLs, and the verification parameters from the options.
    private func makeStore() throws -> X509Store {
        let store = try X509Store()
        for path in caFiles {
            let input = InputFile(path)
            for certificate in try input.certificates() {
                do { try store.add(certificate) } catch { throw CLIFailure.input(input.name, error) }
            }
        }
        if let caDirectory {
            do { try store.loadDirectory(caDirectory) } catch { throw CLIFailure.input(caDirectory, error) }
        }
        if caFiles.isEmpty && caDirectory == nil {
            do { try store.setDefaultPaths() } catch { throw CLIFailure.input("system trust store", error) }
        }
        for path in crlFiles {
            try CRLLoader.add(InputFile(path), to: store)
        }
        var flags: X509VerifyFlags = []
        if crlCheck { flags.insert(.crlCheck) }
        if partialChain { flags.insert(.partialChain) }
        do {
            if !flags.isEmpty { try store.setFlags(flags) }
            if let purpose { try store.setPurpose(purpose.value) }
            if let maxDepth { try store.setDepth(maxDepth) }
            if let time, let date = parseISOTime(time) { try store.setVerificationTime(date) }
        } catch {
            throw CLIFailure.input("verification parameters", error)
        }
        do { if let host { try store.setExpectedHost(host) } } catch { throw CLIFailure.input("--host \(host ?? "")", error) }
        do { if let ip { try store.setExpectedIPAddress(ip) } } catch { throw CLIFailure.input("--ip \(ip ?? "")", error) }
        do { if let email { try store.setExpectedEmail(email) } } catch {
            throw CLIFailure.input("--email \(email ?? "")", error)
        }
        if policy == .webpki {
            do { store.setVerificationPolicy(try .webPKI()) } catch { throw CLIFailure.input("--policy webpki", error) }
        }
        return store
    }

    private func resultJSON(file: InputFile, chain: [X509]?, error: X509VerificationError?) -> JSON {
        .object([
            ("file", .string(file.name)),
            ("verified", .bool(error == nil)),
            ("chain", .array((chain ?? []).enumerated().map { CertificateReport($1).chainJSON(depth: $0) })),
            (
                "error",
                error.map { error in
                    .object([
                        ("code", .int(Int(error.code.rawValue))),
                        ("message", .string(error.message)),
                        ("depth", .int(error.depth)),
                        ("rule", .string(error.rule?.rawValue)),
                        ("certificate", error.certificate.map { CertificateReport($0).chainJSON(depth: error.depth) } ?? .null),
                    ])
                } ?? .null
            ),
        ])
    }
}
