#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import OpenSSL
import Synchronization

/// Trust on first use, Gemini style: each client subject's SHA-256
/// certificate fingerprint, remembered on first sight; a different
/// certificate for a known subject is refused.
///
/// With a file, what is learnt survives restarts, and several processes may
/// share one file. The format is one line per subject, the fingerprint (64
/// lowercase hex digits), a tab, and the subject key (`key(for:fingerprint:)`:
/// the RFC 2253 form, control characters escaped, so a subject never spans
/// lines); `#` starts a comment. Lines may end in LF or CRLF. A subject may
/// appear on several lines only with the same fingerprint.
///
/// The file only grows: a new subject is one line appended (O_APPEND, then
/// fsync) while holding an advisory `flock(2)` on the file, after reading
/// what other processes appended since — so a pin already in the file always
/// wins over a new first use, and two servers never lose each other's pins.
/// Known subjects are decided from memory without waiting for any disk I/O;
/// only new subjects queue for the file.
final class TOFUStore: Sendable {
    /// What the store decided for one client certificate.
    enum Decision: Equatable, Sendable {
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

    /// A TOFU file that cannot be read, parsed, locked or appended to.
    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// One remembered subject: its fingerprint and the line that pinned it (0 when in memory only).
    private struct Pin: Sendable {
        let fingerprint: String
        let line: Int
    }

    /// How far the file has been read, so that only what others appended is read again.
    private struct FileState: Sendable {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        /// Bytes read and parsed.
        var offset: Int = 0
        /// Lines read (for error messages naming a line).
        var lines: Int = 0
        /// Whether the bytes read end with a newline (an appended line then needs none before it).
        var endsWithNewline = true
        /// Whether the file existed when last looked at.
        var exists = false
    }

    static let header = """
        # ossl serve --tofu: client certificates trusted on first use.
        # One per line: SHA-256 fingerprint, a tab, the subject (RFC 2253).

        """

    private let path: String?
    private let lockTimeout: Duration
    /// subject key → pin. Held only for lookups and merges, never across I/O.
    private let pins = Mutex<[String: Pin]>([:])
    /// Held across the file work for one new subject (re-read, append, fsync),
    /// so this process's writers queue here and not on `pins`.
    private let file = Mutex(FileState())

    /// A store kept in memory only.
    init() {
        path = nil
        lockTimeout = .seconds(5)
    }

    /// A store backed by `path`; a missing file is an empty store, created on first use.
    /// - Parameter lockTimeout: how long to wait for another process's lock on the file.
    /// - Throws: `CLIFailure.input` naming the file for an unreadable file,
    ///   or a line that does not parse (with its number): a damaged file is
    ///   never taken for an empty one.
    init(path: String, lockTimeout: Duration = .seconds(5)) throws {
        self.path = path
        self.lockTimeout = lockTimeout
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { return }
            throw CLIFailure.input("\(path): \(systemReason(code))")
        }
        defer { close(descriptor) }
        do {
            try lock(descriptor, LOCK_SH)
            var state = FileState()
            try refresh(descriptor, state: &state)
            file.withLock { $0 = state }
        } catch let failure as Failure {
            throw CLIFailure.input(failure.message)
        }
    }

    /// The key a certificate's subject is remembered under.
    ///
    /// The RFC 2253 form when it names the subject faithfully: every
    /// attribute valid text for its type, no control character or U+FFFD,
    /// at least one `=`. Otherwise `der:` and the subject's DER in hex,
    /// which no RFC 2253 string can equal (it has no `=`). A certificate
    /// with an empty subject names no one: its key is `empty-subject:` and
    /// its own fingerprint, so such certificates never stand in for one
    /// another (each is its own identity).
    static func key(for subject: X509Name, fingerprint: String) -> String {
        if subject.components.isEmpty {
            return "empty-subject:sha256:\(fingerprint)"
        }
        let text = subject.rfc2253String
        let faithful =
            subject.components.allSatisfy { $0.value != nil }
            && text.contains("=")
            && !text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || $0 == "\u{FFFD}" }
        if faithful { return text }
        return "der:" + hex(subject.der)
    }

    /// Decides for the subject `subject` (a key from `key(for:fingerprint:)`)
    /// with `fingerprint` (lowercase hex), remembering it — one line appended
    /// to the file — on first use. A known subject is decided from memory.
    /// - Throws: `Failure` when the file cannot be locked, read, parsed or
    ///   written, or `subject` holds a control character; the client is then
    ///   not remembered, and should be refused.
    func decide(subject: String, fingerprint: String) throws -> Decision {
        if let pin = pins.withLock({ $0[subject] }) {
            return Self.decision(pin, fingerprint)
        }
        guard !subject.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw Failure(message: "a subject key with a control character cannot be stored")
        }
        guard let path else {
            return pins.withLock { pins in
                if let pin = pins[subject] { return Self.decision(pin, fingerprint) }
                pins[subject] = Pin(fingerprint: fingerprint, line: 0)
                return .firstUse
            }
        }
        return try file.withLock { state in
            // Another thread may have remembered it while this one waited.
            if let pin = pins.withLock({ $0[subject] }) { return Self.decision(pin, fingerprint) }
            let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw Failure(message: "\(path): \(systemReason(errno))") }
            defer { close(descriptor) }  // also releases the lock
            try lock(descriptor, LOCK_EX)
            // What other processes appended since: a pin in the file wins.
            try refresh(descriptor, state: &state)
            if let pin = pins.withLock({ $0[subject] }) { return Self.decision(pin, fingerprint) }

            var text = state.endsWithNewline ? "" : "\n"
            if state.offset == 0 { text += Self.header }
            text += "\(fingerprint)\t\(subject)\n"
            let bytes = Array(text.utf8)
            var failure = AtomicFile.writeAll(bytes, to: descriptor).map { "write: \($0)" }
            if failure == nil, fsync(descriptor) != 0 { failure = "fsync: \(systemReason(errno))" }
            if failure == nil, state.offset == 0 {
                // A new file: its directory entry must reach the disk too.
                let directory = (path as NSString).deletingLastPathComponent
                failure = AtomicFile.syncDirectory(directory.isEmpty ? "." : directory)
            }
            if let failure {
                // Leave the file as it was: no half line for the next reader.
                _ = ftruncate(descriptor, off_t(state.offset))
                throw Failure(message: "\(path): \(failure)")
            }
            state.offset += bytes.count
            state.lines += text.utf8.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            state.endsWithNewline = true
            let line = state.lines
            pins.withLock { $0[subject] = Pin(fingerprint: fingerprint, line: line) }
            return .firstUse
        }
    }

    /// How many subjects are remembered.
    var count: Int {
        pins.withLock { $0.count }
    }

    private static func decision(_ pin: Pin, _ fingerprint: String) -> Decision {
        pin.fingerprint == fingerprint ? .known : .mismatch(expected: pin.fingerprint)
    }

    /// Takes an advisory lock on `descriptor`, waiting at most `lockTimeout`.
    private func lock(_ descriptor: Int32, _ operation: Int32) throws {
        let deadline = ContinuousClock.now + lockTimeout
        while flock(descriptor, operation | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                throw Failure(message: "\(path ?? "?"): cannot lock it: \(systemReason(code))")
            }
            guard ContinuousClock.now < deadline else {
                throw Failure(message: "\(path ?? "?"): still locked by another process after \(lockTimeout)")
            }
            usleep(5_000)
        }
    }

    /// Brings `pins` up to date with the file open on `descriptor` (locked):
    /// reads only what was appended since `state`, or all of it when the file
    /// was replaced or shortened (it is then the whole truth). Called with
    /// `file` held, so nothing else changes `pins` meanwhile. Leaves `state`
    /// and `pins` untouched when it throws.
    private func refresh(_ descriptor: Int32, state: inout FileState) throws {
        let path = self.path ?? "?"
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(message: "\(path): \(systemReason(errno))") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw Failure(message: "\(path): not a regular file") }
        var next = state
        let device = UInt64(status.st_dev)
        let inode = UInt64(status.st_ino)
        let size = Int(status.st_size)
        let replaced = !state.exists || device != state.device || inode != state.inode || size < state.offset
        if replaced {
            next = FileState(device: device, inode: inode, exists: true)
        }
        var bytes = [UInt8](repeating: 0, count: max(size - next.offset, 0))
        var filled = 0
        while filled < bytes.count {
            let count = bytes[filled...].withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress, $0.count, off_t(next.offset + filled))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(message: "\(path): \(systemReason(errno))")
            }
            if count == 0 { break }
            filled += count
        }
        bytes.removeSubrange(filled...)
        let added = try Self.parse(bytes[...], path: path, state: &next) { subject in
            replaced ? nil : self.pins.withLock { $0[subject] }
        }
        state = next
        pins.withLock { pins in
            if replaced {
                pins = added
            } else {
                pins.merge(added) { earlier, _ in earlier }
            }
        }
    }

    /// Parses whole lines of a TOFU file (LF or CRLF; the last one may lack
    /// its newline), continuing the line count in `state`; returns the pins
    /// they add. `known` looks up a pin from earlier in the file.
    /// - Throws: `Failure` naming the file and the line for a malformed line,
    ///   text that is not UTF-8, or a second fingerprint for a subject.
    private static func parse(
        _ bytes: ArraySlice<UInt8>, path: String, state: inout FileState,
        known: (String) -> Pin?
    ) throws -> [String: Pin] {
        var added: [String: Pin] = [:]
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.endIndex
            var content = bytes[start..<end]
            if content.last == UInt8(ascii: "\r") { content = content.dropLast() }
            // A byte order mark, as some editors write it, at the very start.
            if state.offset == 0, start == bytes.startIndex, content.starts(with: [0xEF, 0xBB, 0xBF]) {
                content = content.dropFirst(3)
            }
            state.lines += 1
            let number = state.lines
            guard let text = String(bytes: content, encoding: .utf8) else {
                throw Failure(message: "\(path): line \(number): not UTF-8 text")
            }
            if !text.trimmingCharacters(in: .whitespaces).isEmpty, !text.hasPrefix("#") {
                guard let tab = text.firstIndex(of: "\t") else {
                    throw Failure(message: "\(path): line \(number): expected FINGERPRINT<tab>SUBJECT")
                }
                let fingerprint = String(text[..<tab]).lowercased()
                guard fingerprint.utf8.count == 64, fingerprint.utf8.allSatisfy({ isHexDigit($0) }) else {
                    throw Failure(
                        message: "\(path): line \(number): '\(fingerprint)' is not a SHA-256 fingerprint (64 hex digits)")
                }
                let subject = String(text[text.index(after: tab)...])
                if let pin = added[subject] ?? known(subject) {
                    guard pin.fingerprint == fingerprint else {
                        let earlier = pin.line > 0 ? "line \(pin.line)" : "an earlier line"
                        throw Failure(
                            message:
                                "\(path): line \(number): a second fingerprint for \"\(subject)\" (\(earlier) has another); keep one"
                        )
                    }
                } else {
                    added[subject] = Pin(fingerprint: fingerprint, line: number)
                }
            }
            start = newline.map { bytes.index(after: $0) } ?? bytes.endIndex
            state.endsWithNewline = newline != nil
        }
        state.offset += bytes.count
        return added
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
