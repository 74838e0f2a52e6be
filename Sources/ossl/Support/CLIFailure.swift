import Foundation
import OpenSSL

/// A failure a subcommand reports to the user: one line on stderr and an
/// exit status. `Ossl.main()` prints it as `ossl <subcommand>: <message>`.
///
/// The exit statuses are the tool's contract with scripts:
/// 0 = ok, 1 = the check failed (verification, a refused handshake),
/// 2 = usage or input error (a missing file, bad PEM, a wrong passphrase…).
struct CLIFailure: Error, CustomStringConvertible {
    /// What went wrong, on one line: the input it concerns and OpenSSL's reason.
    let message: String
    /// The process exit status.
    let exitCode: Int32

    /// A usage or input error (exit status 2).
    static func input(_ message: String) -> CLIFailure {
        CLIFailure(message: message, exitCode: 2)
    }

    /// The check the command ran failed (exit status 1).
    static func checkFailed(_ message: String) -> CLIFailure {
        CLIFailure(message: message, exitCode: 1)
    }

    /// An input error about `input` (a file name, `<stdin>`, a host): `input: reason`.
    static func input(_ input: String, _ error: any Error) -> CLIFailure {
        .input("\(input): \(describe(error))")
    }

    var description: String { message }
}

/// One line describing `error`, with OpenSSL's reason where there is one.
///
/// Library errors already carry the operation and OpenSSL's reasons; this
/// joins them on one line, so a script's log never gets a multi-line dump.
func describe(_ error: any Error) -> String {
    let text: String
    switch error {
    case let failure as CLIFailure:
        text = failure.message
    case let error as OpenSSLError:
        text = error.description
    case let error as PassphraseError:
        text = error.description
    case let error as SSLError:
        text = describe(sslError: error)
    case let error as X509VerificationError:
        text = "\(error.message) (verify error \(error.code.rawValue) at depth \(error.depth))"
    case let error as SocketError:
        text = error.description
    case let error as UsageError:
        text = error.description
    case let error as POSIXError:
        text = String(cString: strerror(error.code.rawValue))
    case let error as CocoaError:
        text = error.localizedDescription
    default:
        text = String(describing: error)
    }
    return oneLine(text)
}

/// An `SSLError` without the wrapping noise: the callback's or transport's
/// own error for those cases.
private func describe(sslError: SSLError) -> String {
    switch sslError {
    case .callback(let error): return describe(error)
    case .transport(let error): return describe(error)
    default: return sslError.description
    }
}

/// `text` with line breaks and tabs turned into spaces and runs of spaces
/// collapsed, so it fits on one line of stderr.
func oneLine(_ text: String) -> String {
    var out = ""
    var lastWasSpace = false
    for scalar in text.unicodeScalars {
        let isSpace = scalar == "\n" || scalar == "\r" || scalar == "\t" || scalar == " "
        if isSpace {
            if !lastWasSpace && !out.isEmpty { out.unicodeScalars.append(" ") }
            lastWasSpace = true
        } else if scalar.value < 0x20 || scalar.value == 0x7f {
            out += String(format: "\\x%02x", scalar.value)
            lastWasSpace = false
        } else {
            out.unicodeScalars.append(scalar)
            lastWasSpace = false
        }
    }
    while out.hasSuffix(" ") { out.removeLast() }
    return out
}

/// Writes `text` and a newline to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
