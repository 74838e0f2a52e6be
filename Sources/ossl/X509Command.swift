import ArgumentParser
import Foundation
import OpenSSL

/// `ossl x509 FILE...`: one block per certificate of every file.
struct X509Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "x509",
        abstract: "Show certificates: a summary, OpenSSL's text, or JSON.",
        discussion: """
        Reads every certificate of every FILE (PEM bundles included; DER is detected; - is stdin) \
        and prints one block per certificate: by default a summary (subject, issuer, serial, \
        validity and days left, alternative names, key, SHA-256 fingerprint, CA or not, key \
        usages, self-signed or not); with --text what `openssl x509 -text -noout` prints; with \
        --json one JSON array of objects whose schema Docs/cli.md documents.

        Examples:
          ossl x509 cert.pem
          ossl x509 --text cert.der
          ossl x509 --json /etc/ssl/certs/ca-certificates.crt | jq -r '.[].fingerprints.sha256'
          curl -s https://example.com/cert.pem | ossl x509 -
        """
    )

    @Flag(name: .long, help: "Print what `openssl x509 -text -noout` prints.")
    var text = false

    @Flag(name: .long, help: "Print a JSON array, one object per certificate (schema in Docs/cli.md).")
    var json = false

    @Argument(help: "Certificate files (PEM or DER), or - for stdin.")
    var files: [String]

    func validate() throws {
        if text && json { throw ValidationError("--text and --json cannot be used together") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("stdin (-) can be read only once") }
    }

    func run() throws {
        // Read everything first: output starts only when every input is good,
        // so a script never gets half a JSON array.
        var certificates: [(file: InputFile, index: Int, count: Int, certificate: X509)] = []
        for path in files {
            let input = InputFile(path)
            let found = try input.certificates()
            for (index, certificate) in found.enumerated() {
                certificates.append((input, index, found.count, certificate))
            }
        }

        func failure(_ entry: (file: InputFile, index: Int, count: Int, certificate: X509), _ error: any Error) -> CLIFailure {
            .input("\(entry.file.name): certificate \(entry.index + 1): \(describe(error))")
        }

        if json {
            var objects: [JSON] = []
            for entry in certificates {
                do {
                    objects.append(try CertificateReport(entry.certificate).json())
                } catch {
                    throw failure(entry, error)
                }
            }
            print(JSON.array(objects).text)
            return
        }

        var blocks: [String] = []
        let now = Date()
        for entry in certificates {
            do {
                if text {
                    blocks.append(try entry.certificate.text)
                } else {
                    let header = entry.count > 1
                        ? "\(entry.file.name) [\(entry.index + 1)/\(entry.count)]"
                        : entry.file.name
                    blocks.append(header + "\n" + (try CertificateReport(entry.certificate).summary(now: now)) + "\n")
                }
            } catch {
                throw failure(entry, error)
            }
        }
        print(blocks.joined(separator: text ? "" : "\n"), terminator: "")
    }
}
