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

            A field that does not decode (a repeated or malformed extension, a time that does not \
            parse) never loses the certificate: it is shown in its place (in JSON as \
            {"error": "<OpenSSL's reason>"}, a time as "raw:<as encoded>"), with one line on stderr \
            per field, and the exit status stays 0. A certificate that does not parse at all is \
            left out with one line on stderr, the others are printed, and the exit status is 1. An \
            input that cannot be read (missing, damaged PEM, no certificate) is exit status 2 \
            before any output.

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
        // Read every input first: a file that cannot be read at all (missing,
        // damaged PEM, not a certificate) stops the command before any output,
        // so a script never gets half a JSON array.
        var entries: [(file: InputFile, index: Int, count: Int, result: Result<X509, OpenSSLError>)] = []
        for path in files {
            let input = InputFile(path)
            let found = try input.certificateEntries()
            for (index, result) in found.enumerated() {
                entries.append((input, index, found.count, result))
            }
        }

        // A certificate that does not parse is left out (one line on stderr;
        // exit status 1); one field that does not decode is reported in its
        // place (one line on stderr each; exit status 0).
        var unparsed = 0
        func location(_ entry: (file: InputFile, index: Int, count: Int, result: Result<X509, OpenSSLError>)) -> String {
            "\(entry.file.name): certificate \(entry.index + 1)"
        }
        func report(_ entry: (file: InputFile, index: Int, count: Int, result: Result<X509, OpenSSLError>)) -> X509? {
            switch entry.result {
            case .success(let certificate):
                return certificate
            case .failure(let error):
                unparsed += 1
                printError("ossl x509: \(location(entry)): \(oneLine(describe(error)))")
                return nil
            }
        }
        func reportFields(
            _ errors: [CertificateReport.FieldError],
            _ entry: (file: InputFile, index: Int, count: Int, result: Result<X509, OpenSSLError>)
        ) {
            for error in errors {
                printError("ossl x509: \(location(entry)): \(error.field): \(oneLine(error.reason))")
            }
        }

        if json {
            var objects: [JSON] = []
            for entry in entries {
                guard let certificate = report(entry) else { continue }
                let (object, errors) = CertificateReport(certificate).json()
                reportFields(errors, entry)
                objects.append(object)
            }
            print(JSON.array(objects).text)
        } else {
            var blocks: [String] = []
            let now = Date()
            for entry in entries {
                guard let certificate = report(entry) else { continue }
                if text {
                    do {
                        blocks.append(try certificate.text)
                    } catch {
                        unparsed += 1
                        printError("ossl x509: \(location(entry)): \(oneLine(describe(error)))")
                    }
                } else {
                    let header =
                        entry.count > 1
                        ? "\(entry.file.name) [\(entry.index + 1)/\(entry.count)]"
                        : entry.file.name
                    let (summary, errors) = CertificateReport(certificate).summary(now: now)
                    reportFields(errors, entry)
                    blocks.append(header + "\n" + summary + "\n")
                }
            }
            print(blocks.joined(separator: text ? "" : "\n"), terminator: "")
        }
        if unparsed > 0 {
            throw ExitCode(1)
        }
    }
}
