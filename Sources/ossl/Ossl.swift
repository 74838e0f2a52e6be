import ArgumentParser
import OpenSSL

/// `ossl`: inspect certificates and probe TLS from scripts.
@main
struct Ossl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ossl",
        abstract: "Inspect certificates and probe TLS with the system OpenSSL.",
        version: "ossl \(Version.library) (\(Version.openSSL))",
        subcommands: [DemoCommand.self, VersionCommand.self],
        defaultSubcommand: VersionCommand.self
    )
}

/// Prints this tool's and OpenSSL's versions.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the versions of ossl and of the OpenSSL library it runs on."
    )

    func run() throws {
        print("ossl \(Version.library)")
        print("OpenSSL (runtime): \(Version.openSSL)")
        print("OpenSSL (headers): \(Version.openSSLHeaders)")
    }
}
