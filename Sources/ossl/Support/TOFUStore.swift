import Foundation
import OpenSSL

/// Trust on first use, Gemini style: each client subject's SHA-256
/// certificate fingerprint, remembered on first sight; a different
/// certificate for a known subject is refused.
///
/// With a file, what is learnt survives restarts: the whole file is
/// rewritten atomically (temporary file, fsync, rename) every time a new
/// subject is remembered, so a crash never leaves it half written. The
/// format is one line per subject, the fingerprint (64 lowercase hex
/// digits), a tab, and the subject in RFC 2253 form (control characters
/// escaped by OpenSSL, so a subject never spans lines); `#` starts a comment.
final class TOFUStore: @unchecked Sendable {  // `entries` and the file are guarded by `lock`
    /// What the store decided for one client certificate.
    enum Decision: Equatable {
        /// A subject never seen before: remembered now.
        case firstUse
        /// The fingerprint remembered for this subject.
        case known
        /// A different certificate for a known subject; carries the remembered fingerprint.
        case mismatch(expected: String)

        /// True unless the certificate differs from the one remembered.
        var accepts: Bool {
            if case .mismatch = self { return false }
            return true
        }
    }

    private let lock = NSLock()
    private let path: String?
    private var entries: [(subject: String, fingerprint: String)]

    /// A store kept in memory only.
    init() {
        path = nil
        entries = []
    }

    /// A store backed by `path`; a missing file is an empty store, created on first use.
    /// - Throws: `CLIFailure.input` for an unreadable file or a malformed line (with its number).
    init(path: String) throws {
        self.path = path
        entries = []
        guard FileManager.default.fileExists(atPath: path) else { return }
        let input = InputFile(path)
        let bytes: [UInt8]
        do {
            bytes = try input.read()
        } catch let failure as CLIFailure where failure.message.hasSuffix("empty input") {
            return
        }
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.hasSuffix("\r") ? line.dropLast() : line
            if text.trimmingCharacters(in: .whitespaces).isEmpty || text.hasPrefix("#") { continue }
            guard let tab = text.firstIndex(of: "\t") else {
                throw CLIFailure.input("\(path): line \(number + 1): expected FINGERPRINT<tab>SUBJECT")
            }
            let fingerprint = String(text[..<tab]).lowercased()
            guard fingerprint.count == 64, fingerprint.allSatisfy(\.isHexDigit) else {
                throw CLIFailure.input("\(path): line \(number + 1): '\(fingerprint)' is not a SHA-256 fingerprint (64 hex digits)")
            }
            let subject = String(text[text.index(after: tab)...])
            if let index = entries.firstIndex(where: { $0.subject == subject }) {
                entries[index].fingerprint = fingerprint
            } else {
                entries.append((subject, fingerprint))
            }
        }
    }

    /// Decides for `subject` (RFC 2253) with `fingerprint` (lowercase hex),
    /// remembering it — and rewriting the file — on first use.
    /// - Throws: `AtomicFile.Failure` when the file cannot be written; the
    ///   client is then not remembered, and should be refused.
    func decide(subject: String, fingerprint: String) throws -> Decision {
        lock.lock()
        defer { lock.unlock() }
        if let known = entries.first(where: { $0.subject == subject }) {
            return known.fingerprint == fingerprint ? .known : .mismatch(expected: known.fingerprint)
        }
        entries.append((subject, fingerprint))
        do {
            try save()
        } catch {
            entries.removeLast()
            throw error
        }
        return .firstUse
    }

    /// How many subjects are remembered.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }

    private func save() throws {
        guard let path else { return }
        var text = "# ossl serve --tofu: client certificates trusted on first use.\n"
        text += "# One per line: SHA-256 fingerprint, a tab, the subject (RFC 2253).\n"
        for entry in entries {
            text += "\(entry.fingerprint)\t\(entry.subject)\n"
        }
        try AtomicFile.write(Array(text.utf8), to: path, mode: 0o600)
    }
}
