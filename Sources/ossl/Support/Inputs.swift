#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import OpenSSL

/// An input named on the command line: a file path, or `-` for stdin.
///
/// Every read failure becomes a `CLIFailure.input` naming the input and the
/// system's or OpenSSL's reason, so a command never needs its own wording.
struct InputFile: Sendable {
    /// The path as given (`-` for stdin).
    let path: String

    init(_ path: String) { self.path = path }

    /// How messages name the input: the path, or `<stdin>`.
    var name: String { path == "-" ? "<stdin>" : path }

    /// The whole input.
    /// - Throws: `CLIFailure.input` for a missing or unreadable file, a
    ///   directory, or empty input.
    func read() throws -> [UInt8] {
        let bytes: [UInt8]
        if path == "-" {
            bytes = try readAll(descriptor: STDIN_FILENO)
        } else {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw CLIFailure.input("\(name): \(systemReason(errno))") }
            defer { close(descriptor) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw CLIFailure.input("\(name): \(systemReason(errno))") }
            guard (status.st_mode & S_IFMT) != S_IFDIR else { throw CLIFailure.input("\(name): is a directory") }
            bytes = try readAll(descriptor: descriptor)
        }
        guard !bytes.isEmpty else { throw CLIFailure.input("\(name): empty input") }
        return bytes
    }

    private func readAll(descriptor: Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIFailure.input("\(name): \(systemReason(errno))")
            }
            bytes += chunk[0..<count]
        }
    }

    /// Every certificate in the input: all blocks of a PEM bundle, or one DER certificate.
    /// - Throws: `CLIFailure.input` naming the input and OpenSSL's reason.
    func certificates() throws -> [X509] {
        try certificateEntries().map { entry in
            do {
                return try entry.get()
            } catch {
                throw CLIFailure.input(name, error)
            }
        }
    }

    /// Every certificate in the input, each parsed on its own: a PEM block
    /// whose certificate does not parse is a failure in its place, the
    /// others are still read. A DER input is one certificate.
    /// - Throws: `CLIFailure.input` when the input itself cannot be read: a
    ///   missing file, damaged PEM (bad base64), no certificate block at
    ///   all, DER that is not a certificate.
    func certificateEntries() throws -> [Result<X509, OpenSSLError>] {
        let bytes = try read()
        guard looksLikePEM(bytes) else {
            do {
                return [.success(try X509(der: bytes))]
            } catch {
                throw CLIFailure.input("\(name): not PEM, and not a DER certificate: \(describe(error))")
            }
        }
        let entries: [Result<X509, OpenSSLError>]
        do {
            entries = try X509.eachCertificate(inPEM: bytes)
        } catch {
            throw CLIFailure.input(name, error)
        }
        guard !entries.isEmpty else {
            throw CLIFailure.input("\(name): read PEM bundle: no certificate found")
        }
        return entries
    }

    /// A private key, PEM or DER, decrypted with `passphrase` when it is encrypted.
    /// - Throws: `CLIFailure.input` naming the input: not a key, a damaged
    ///   key, a missing or wrong passphrase.
    func privateKey(passphrase: Passphrase?) throws -> PKey {
        let bytes = try read()
        do {
            if looksLikePEM(bytes) {
                return try PKey(privateKeyPEM: bytes, passphrase: passphrase)
            }
            return try PKey(privateKeyDER: bytes, passphrase: passphrase)
        } catch let error as PassphraseError {
            switch error {
            case .required:
                throw CLIFailure.input("\(name): the key is encrypted; give its passphrase with --passphrase")
            case .incorrect(let cause):
                throw CLIFailure.input("\(name): wrong passphrase (\(cause.reason ?? "decryption failed"))")
            case .empty:
                throw CLIFailure.input("\(name): the passphrase is empty")
            case .tooLong(_, let length, let maximum):
                throw CLIFailure.input("\(name): the passphrase is \(length) bytes long; at most \(maximum) are taken")
            }
        } catch {
            throw CLIFailure.input(name, error)
        }
    }
}

/// True when `bytes` hold a PEM block (`-----BEGIN `): PEM is then read, DER otherwise.
func looksLikePEM(_ bytes: [UInt8]) -> Bool {
    let marker = Array("-----BEGIN ".utf8)
    guard bytes.count >= marker.count else { return false }
    for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
        if bytes[start..<(start + marker.count)].elementsEqual(marker) { return true }
    }
    return false
}

/// read(2), named so that methods called `read` can reach it.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// write(2), named so that methods called `write` can reach it.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// The C library's text for an errno value ("No such file or directory").
func systemReason(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Where a passphrase comes from, in OpenSSL's `-passin` syntax:
/// `pass:TEXT`, `env:VARIABLE` or `file:PATH` (its first line).
struct PassphraseSource: Sendable {
    let specification: String

    init(_ specification: String) { self.specification = specification }

    /// The passphrase.
    /// - Throws: `CLIFailure.input` for an unknown form, an unset variable, an unreadable file.
    func resolve() throws -> Passphrase {
        if specification.hasPrefix("pass:") {
            return Passphrase(String(specification.dropFirst(5)))
        }
        if specification.hasPrefix("env:") {
            let variable = String(specification.dropFirst(4))
            guard let value = ProcessInfo.processInfo.environment[variable] else {
                throw CLIFailure.input("--passphrase: environment variable \(variable) is not set")
            }
            return Passphrase(value)
        }
        if specification.hasPrefix("file:") {
            let bytes = try InputFile(String(specification.dropFirst(5))).read()
            let line = bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
            return Passphrase(bytes: Array(line))
        }
        throw CLIFailure.input("--passphrase: expected pass:TEXT, env:VARIABLE or file:PATH, got '\(specification)'")
    }
}

/// Writes command output: to stdout when `path` is nil or `-`, else to the
/// file, replacing it atomically (a temporary file in the same directory,
/// then rename), with mode 0600 when `isSecret`.
/// - Throws: `CLIFailure.input` naming the file and the system's reason.
func writeOutput(_ text: String, to path: String?, isSecret: Bool = false) throws {
    guard let path, path != "-" else {
        print(text, terminator: "")
        return
    }
    do {
        try AtomicFile.write(Array(text.utf8), to: path, mode: isSecret ? 0o600 : 0o644)
    } catch {
        throw CLIFailure.input(path, error)
    }
}

/// Replacing a file so that readers see the old or the new contents, never a mix.
enum AtomicFile {
    /// A failed system call while writing a file.
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Writes `bytes` to a new temporary file next to `path`, flushes it to
    /// disk, renames it over `path`, and flushes the directory so that the
    /// rename itself survives a crash. Every descriptor it opens is closed
    /// on every path, and the temporary file is removed when anything fails
    /// before the rename.
    ///
    /// - Parameter sync: fsync(2), replaceable so that tests can make it
    ///   fail (it is called on the file, then on the directory).
    /// - Throws: `Failure` with the system's reason. A failure to flush the
    ///   directory is reported too, although `path` then already holds the
    ///   new contents.
    static func write(
        _ bytes: [UInt8], to path: String, mode: mode_t,
        sync: (Int32) -> Int32 = { fsync($0) }
    ) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        let temporary =
            (directory.isEmpty ? "" : directory + "/") + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure(message: "cannot create a file next to it: \(systemReason(errno))") }
        // From here on the descriptor is closed exactly once, whatever fails.
        var failure: String?
        if let reason = writeAll(bytes, to: descriptor) {
            failure = "write failed: \(reason)"
        } else if sync(descriptor) != 0 {
            failure = "write failed: fsync: \(systemReason(errno))"
        }
        if close(descriptor) != 0, failure == nil {
            failure = "write failed: close: \(systemReason(errno))"
        }
        if let failure {
            unlink(temporary)
            throw Failure(message: failure)
        }
        guard rename(temporary, path) == 0 else {
            let reason = systemReason(errno)
            unlink(temporary)
            throw Failure(message: "cannot replace it: \(reason)")
        }
        if let reason = syncDirectory(directory.isEmpty ? "." : directory, sync: sync) {
            throw Failure(message: "replaced, but the directory was not flushed to disk: \(reason)")
        }
    }

    /// Writes all of `bytes` to `descriptor`, retrying short writes and
    /// EINTR; nil on success, else the system's reason.
    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> String? {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { systemWrite(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return systemReason(errno)
            }
            written += count
        }
        return nil
    }

    /// Flushes `directory` (its entries: a new or renamed file) to disk;
    /// nil on success, else the system's reason. The directory's descriptor
    /// is closed on every path.
    static func syncDirectory(_ directory: String, sync: (Int32) -> Int32 = { fsync($0) }) -> String? {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return "open \(directory): \(systemReason(errno))" }
        defer { close(descriptor) }
        guard sync(descriptor) == 0 else { return "fsync \(directory): \(systemReason(errno))" }
        return nil
    }
}
