import ArgumentParser
import Foundation
import OpenSSL

/// Parsing what `req` and `selfsign` take on the command line: a subject
/// and subject alternative names.
enum NameOptions {
    /// A subject written `/C=US/O=Example/CN=www.example.com`.
    /// - Throws: `CLIFailure.input` with OpenSSL's reason for an unknown
    ///   attribute or a value it refuses.
    static func subject(_ text: String) throws -> X509Name {
        guard text.hasPrefix("/") else {
            throw CLIFailure.input("--subject '\(text)': expected /TYPE=value/… (for example /CN=example.com/O=Example)")
        }
        do {
            return try X509Name(slashSeparated: text)
        } catch {
            throw CLIFailure.input("--subject '\(text)'", error)
        }
    }

    /// Alternative names from `--san` values: each `DNS:name`, `IP:address`,
    /// `email:address`, `URI:uri`, or a bare value (an IP address when it
    /// parses as one, a DNS name otherwise); a value may hold several,
    /// separated by commas.
    /// - Throws: `CLIFailure.input` for an unknown type or a bad IP address.
    static func alternativeNames(_ values: [String]) throws -> [GeneralName] {
        var names: [GeneralName] = []
        for value in values {
            for item in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                names.append(try alternativeName(item))
            }
        }
        return names
    }

    private static func alternativeName(_ item: String) throws -> GeneralName {
        // A bare IPv6 address has colons too: try addresses before TYPE:value.
        if let address = try? GeneralName.ipAddress(item) { return address }
        guard let colon = item.firstIndex(of: ":") else { return .dnsName(item) }
        let type = item[..<colon].lowercased()
        let value = String(item[item.index(after: colon)...])
        guard !value.isEmpty else { throw CLIFailure.input("--san '\(item)': empty value") }
        switch type {
        case "dns": return .dnsName(value)
        case "ip": return try ipAddress(value)
        case "email": return .email(value)
        case "uri": return .uri(value)
        default:
            throw CLIFailure.input("--san '\(item)': unknown type '\(item[..<colon])' (use DNS:, IP:, email: or URI:)")
        }
    }

    private static func ipAddress(_ text: String) throws -> GeneralName {
        do {
            return try GeneralName.ipAddress(text)
        } catch {
            throw CLIFailure.input("--san IP:\(text)", error)
        }
    }
}

/// The options every command that reads a private key shares.
struct KeyOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The private key (PEM or DER), or - for stdin.", valueName: "file"))
    var key: String

    @Option(name: .long, help: ArgumentHelp("The key's passphrase: pass:TEXT, env:VARIABLE or file:PATH.", valueName: "source"))
    var passphrase: String?

    /// The key, decrypted when needed.
    /// - Throws: `CLIFailure.input` naming the key file.
    func load() throws -> PKey {
        let secret = try passphrase.map { try PassphraseSource($0).resolve() }
        return try InputFile(key).privateKey(passphrase: secret)
    }
}
