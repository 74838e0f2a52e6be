#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Foundation
import OpenSSL

/// `ossl`: inspect certificates and probe TLS from scripts.
///
/// Exit status: 0 ok, 1 the check failed (verification, a refused
/// handshake), 2 usage or input error. Errors go to stderr as one line,
/// `ossl <subcommand>: <input>: <reason>`.
@main
struct Ossl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ossl",
        abstract: "Inspect certificates and probe TLS with the system OpenSSL.",
        discussion: """
            Exit status: 0 ok; 1 the check failed (verification failed, handshake refused); \
            2 usage or input error. Errors are printed on stderr as one line naming the input \
            and OpenSSL's reason. Inputs are files or - for stdin, PEM or DER.

            Examples:
              ossl x509 cert.pem
              ossl x509 --json /etc/ssl/certs/ca-certificates.crt | jq '.[].subject'
              ossl verify --ca root.pem --untrusted intermediate.pem --host example.com leaf.pem
              ossl connect example.com:443
              ossl serve --port 1965 --tofu known-clients.txt
              ossl demo
            """,
        version: "ossl \(Version.library) (\(Version.openSSL))",
        subcommands: [
            X509Command.self, VerifyCommand.self, ConnectCommand.self, ServeCommand.self,
            GenKeyCommand.self, ReqCommand.self, SelfSignCommand.self, DemoCommand.self,
            VersionCommand.self,
        ]
    )

    /// Parses, runs, and turns every outcome into the documented exit status:
    /// help and version on stdout with 0; a `CLIFailure` or any other error
    /// as one line on stderr (status 2, or the failure's own); a usage error
    /// as one line pointing at `--help`, status 2.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            let status = exitCode(for: error)
            if status == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            let subcommand = subcommandName(in: arguments)
            printError(
                "ossl\(subcommand.map { " " + $0 } ?? ""): \(oneLine(message(for: error))) "
                    + "(see 'ossl \(subcommand.map { $0 + " " } ?? "")--help')")
            terminate(2)
        }
        let name = type(of: command).configuration.commandName ?? "ossl"
        let prefix = name == "ossl" ? "ossl" : "ossl \(name)"
        do {
            var runnable = command
            try runnable.run()
            terminate(0)
        } catch let failure as CLIFailure {
            printError("\(prefix): \(oneLine(failure.message))")
            terminate(failure.exitCode)
        } catch let status as ExitCode {
            terminate(status.rawValue)
        } catch let error as ValidationError {
            printError("\(prefix): \(oneLine(error.message)) (see '\(prefix) --help')")
            terminate(2)
        } catch {
            // `ossl help x509` and `--help` run ArgumentParser's own help
            // command, which reports the help text as an error.
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                terminate(0)
            }
            printError("\(prefix): \(describe(error))")
            terminate(2)
        }
    }

    /// The subcommand named in `arguments`, for a usage error's message.
    private static func subcommandName(in arguments: [String]) -> String? {
        guard let first = arguments.first else { return nil }
        let names = configuration.subcommands.compactMap { $0.configuration.commandName }
        return names.contains(first) ? first : nil
    }
}

/// Ends the process with `status`, flushing stdout first.
func terminate(_ status: Int32) -> Never {
    fflush(nil)
    exit(status)
}

/// Prints this tool's and OpenSSL's versions.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the versions of ossl and of the OpenSSL library it runs on.",
        discussion: """
            Example:
              ossl version
            """
    )

    func run() throws {
        print("ossl \(Version.library)")
        print("OpenSSL (runtime): \(Version.openSSL)")
        print("OpenSSL (headers): \(Version.openSSLHeaders)")
    }
}
