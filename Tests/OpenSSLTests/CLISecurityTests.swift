#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import OpenSSL
import Testing
@testable import ossl
import TestSupport

/// Security review fixes (issue 12) in the `ossl` tool: the TOFU store
/// (CRLF files, several processes on one file, empty subjects), `serve`'s
/// deadlines for a handshake and a close, and the atomic file writer's
/// descriptors. The store and the writer are exercised in process
/// (`@testable import ossl`); `serve` runs as a child process on 127.0.0.1.
@Suite("ossl security fixes")
struct CLISecurityTests {
    // MARK: Helpers

    /// A SHA-256-sized fingerprint made of one repeated hex digit.
    private static func fingerprint(_ digit: Character) -> String {
        String(repeating: digit, count: 64)
    }

    /// A key and a self-signed certificate for `subject` (empty: no RDN at all), made in process.
    private static func makeIdentity(subject: [(String, String)]) throws -> (certificate: X509, key: PKey) {
        let key = try PKey.generate(.ec(.p256))
        let now = Date()
        let builder = X509Builder(subject: try X509Name(subject), publicKey: key, notBefore: now - 60, notAfter: now + 86_400)
        return (try builder.sign(with: key, digest: .sha256), key)
    }

    /// `makeIdentity` written to `name.pem` and `name-key.pem` in `directory`.
    private static func writeIdentity(
        _ directory: TemporaryDirectory, name: String,
        subject: [(String, String)]
    ) throws -> (cert: String, key: String, fingerprint: String) {
        let (certificate, key) = try makeIdentity(subject: subject)
        let cert = try directory.write("\(name).pem", certificate.pem)
        let keyPath = try directory.write("\(name)-key.pem", try key.privateKeyPEM())
        return (cert, keyPath, hexString(try certificate.digest(.sha256)))
    }

    private static func hexString(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The pin lines of a TOFU file (no comments, no blank lines, no CR).
    private static func pinLines(_ path: String) throws -> [String] {
        // Split on the byte: "\r\n" is one Character, which "\n" does not match.
        try Data(contentsOf: URL(fileURLWithPath: path))
            .split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .map { String(decoding: $0.last == UInt8(ascii: "\r") ? $0.dropLast() : $0, as: UTF8.self) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    // MARK: SEC03 CRLF files

    @Test("SEC03 a known-clients file with CRLF endings keeps its pins")
    func crlfFileKeepsPins() throws {
        let directory = try TemporaryDirectory()
        let alice = Self.fingerprint("a")
        let impostor = Self.fingerprint("b")
        let bob = Self.fingerprint("c")
        let path = try directory.write(
            "known-clients.txt",
            "# ossl serve --tofu: client certificates trusted on first use.\r\n"
                + "# One per line: SHA-256 fingerprint, a tab, the subject (RFC 2253).\r\n"
                + "\(alice)\tCN=alice\r\n")
        let store = try TOFUStore(path: path)
        #expect(store.count == 1)
        #expect(try store.decide(subject: "CN=alice", fingerprint: impostor) == .mismatch(expected: alice))
        #expect(try store.decide(subject: "CN=alice", fingerprint: alice) == .known)
        // A new subject is added without losing the CRLF file's pin.
        #expect(try store.decide(subject: "CN=bob", fingerprint: bob) == .firstUse)
        let reloaded = try TOFUStore(path: path)
        #expect(reloaded.count == 2)
        #expect(try reloaded.decide(subject: "CN=alice", fingerprint: impostor) == .mismatch(expected: alice))
        #expect(try reloaded.decide(subject: "CN=bob", fingerprint: bob) == .known)
        #expect(try Self.pinLines(path) == ["\(alice)\tCN=alice", "\(bob)\tCN=bob"])
    }

    @Test("SEC03 serve --tofu with a CRLF file refuses another certificate for a pinned subject")
    func crlfFileServeRefusesImpostor() throws {
        let directory = try TemporaryDirectory()
        let alice = try Self.writeIdentity(directory, name: "alice", subject: [("CN", "alice")])
        let impostor = try Self.writeIdentity(directory, name: "impostor", subject: [("CN", "alice")])
        let tofu = try directory.write("known-clients.txt", "# pinned on Windows\r\n\(alice.fingerprint)\tCN=alice\r\n")
        let server = try ServeProcess(["--tofu", tofu, "--idle-timeout", "5"])
        defer { server.stop() }
        let target = "127.0.0.1:\(server.port)"
        let refused = try OsslTool.run(
            ["connect", "--insecure", "--timeout", "10", "--cert", impostor.cert, "--key", impostor.key, target],
            timeout: 30)
        #expect(refused.status == 1, "\(refused.stdout) \(refused.stderr)")
        let accepted = try OsslTool.run(
            ["connect", "--insecure", "--timeout", "10", "--cert", alice.cert, "--key", alice.key, target],
            timeout: 30)
        #expect(accepted.status == 0, "\(accepted.stdout) \(accepted.stderr)")
        let log = server.logLines(waitingFor: 2)
        #expect(
            log.count == 2 && log[0].contains("decision=reject-mismatch") && log[1].contains("decision=accept-known"),
            "\(log) \(server.errorText)")
        #expect(try Self.pinLines(tofu) == ["\(alice.fingerprint)\tCN=alice"])
    }

    @Test("SEC03 a TOFU file that does not parse stops serve at start, naming the file and the line")
    func malformedFileRefused() throws {
        let directory = try TemporaryDirectory()
        let good = Self.fingerprint("a")
        let cases: [(String, String)] = [
            ("# header\r\n\(good)\tCN=alice\r\nnot a pin line\r\n", "line 3"),
            ("# header\r\n\(good)\tCN=alice\r\nabc\tCN=bob\r\n", "line 3"),
            ("\(good)\tCN=alice\n\(Self.fingerprint("b"))\tCN=alice\n", "line 2"),
        ]
        let notText: [UInt8] = Array("# header\r\n".utf8) + [0xFF, 0xFE, 0x09, 0x43, 0x0D, 0x0A]
        for (index, (bytes, line)) in (cases.map { (Array($0.0.utf8), $0.1) } + [(notText, "line 2")]).enumerated() {
            let path = try directory.write("bad-\(index).txt", bytes)
            // Refused by the store itself…
            #expect(throws: CLIFailure.self) { try TOFUStore(path: path) }
            do {
                _ = try TOFUStore(path: path)
            } catch let failure as CLIFailure {
                #expect(failure.message.contains(path) && failure.message.contains(line), "\(failure.message)")
            }
            // …and so `serve` exits with an input error before listening.
            let result = try OsslTool.run(["serve", "--tofu", path, "--idle-timeout", "1"], timeout: 10)
            #expect(result.status == 2, "case \(index): status \(result.status) \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains(path) && result.stderr.contains(line), "case \(index): \(result.stderr)")
            #expect(!result.stdout.contains("listening on"), "case \(index): \(result.stdout)")
        }
    }

    // MARK: SEC06 several stores, empty subjects

    @Test("SEC06 two stores on one file keep each other's pins; a pin in the file wins over a new first use")
    func twoStoresOneFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("known-clients.txt")
        let alice = Self.fingerprint("a")
        let bob = Self.fingerprint("b")
        let other = Self.fingerprint("e")
        let first = try TOFUStore(path: path)
        let second = try TOFUStore(path: path)
        #expect(try first.decide(subject: "CN=alice", fingerprint: alice) == .firstUse)
        #expect(try second.decide(subject: "CN=bob", fingerprint: bob) == .firstUse)
        // Neither store saw the other's pin in memory: the file decides.
        #expect(try second.decide(subject: "CN=alice", fingerprint: other) == .mismatch(expected: alice))
        #expect(try first.decide(subject: "CN=bob", fingerprint: other) == .mismatch(expected: bob))
        let third = try TOFUStore(path: path)
        #expect(third.count == 2)
        #expect(try third.decide(subject: "CN=alice", fingerprint: alice) == .known)
        #expect(try third.decide(subject: "CN=bob", fingerprint: bob) == .known)
        #expect(try Self.pinLines(path).sorted() == ["\(alice)\tCN=alice", "\(bob)\tCN=bob"])
        // Created private.
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
    }

    @Test("SEC06 two stores writing one file from many threads lose no pin")
    func concurrentStoresLoseNothing() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("known-clients.txt")
        let stores = [try TOFUStore(path: path), try TOFUStore(path: path)]
        let threads = 8
        let perThread = 20
        let failures = LockedBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let store = stores[thread % 2]
            for index in 0..<perThread {
                let subject = "CN=client-\(thread)-\(index)"
                let fingerprint = String(format: "%064x", thread * 1000 + index)
                do {
                    let decision = try store.decide(subject: subject, fingerprint: fingerprint)
                    if decision != .firstUse { failures.mutate { $0.append("\(subject): \(decision)") } }
                } catch {
                    failures.mutate { $0.append("\(subject): \(error)") }
                }
            }
        }
        #expect(failures.get().isEmpty, "\(failures.get())")
        let reloaded = try TOFUStore(path: path)
        #expect(reloaded.count == threads * perThread)
        let lines = try Self.pinLines(path)
        #expect(lines.count == threads * perThread)
        #expect(Set(lines).count == lines.count)
    }

    @Test("SEC06 a known subject is decided while a new one waits for another process's lock")
    func knownSubjectNotStalled() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("known-clients.txt")
        let store = try TOFUStore(path: path, lockTimeout: .seconds(10))
        #expect(try store.decide(subject: "CN=alice", fingerprint: Self.fingerprint("a")) == .firstUse)
        // Another process (here: another open file description) holds the file's lock.
        let holder = open(path, O_RDWR | O_CLOEXEC)
        try #require(holder >= 0)
        defer { close(holder) }
        try #require(flock(holder, LOCK_EX) == 0)
        let newSubject = LockedBox<Result<TOFUStore.Decision, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { try store.decide(subject: "CN=bob", fingerprint: Self.fingerprint("b")) }
            newSubject.set(result)
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.3)
        // The new subject waits for the lock…
        #expect(newSubject.get() == nil, "a new subject was written while another process held the lock")
        // …while a known one is decided at once.
        let start = ContinuousClock.now
        #expect(try store.decide(subject: "CN=alice", fingerprint: Self.fingerprint("a")) == .known)
        #expect(
            try store.decide(subject: "CN=alice", fingerprint: Self.fingerprint("f"))
                == .mismatch(expected: Self.fingerprint("a")))
        // A stalled decision would wait for the lock (up to the 10 s timeout).
        #expect(ContinuousClock.now - start < .seconds(1))
        // The other process pins bob meanwhile: its pin wins.
        let line = Array("\(Self.fingerprint("c"))\tCN=bob\n".utf8)
        _ = lseek(holder, 0, SEEK_END)
        #expect(line.withUnsafeBytes { write(holder, $0.baseAddress, $0.count) } == line.count)
        #expect(flock(holder, LOCK_UN) == 0)
        #expect(done.wait(timeout: .now() + 10) == .success)
        let decision = try #require(newSubject.get()).get()
        #expect(decision == .mismatch(expected: Self.fingerprint("c")))
    }

    @Test("SEC06 a lock held too long refuses the new subject instead of hanging")
    func lockTimeoutBounded() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("known-clients.txt", "# empty\n")
        let store = try TOFUStore(path: path, lockTimeout: .milliseconds(300))
        let holder = open(path, O_RDWR | O_CLOEXEC)
        try #require(holder >= 0)
        defer { close(holder) }
        try #require(flock(holder, LOCK_EX) == 0)
        let start = ContinuousClock.now
        #expect(throws: TOFUStore.Failure.self) { try store.decide(subject: "CN=bob", fingerprint: Self.fingerprint("b")) }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(store.count == 0)
        flock(holder, LOCK_UN)
        #expect(try store.decide(subject: "CN=bob", fingerprint: Self.fingerprint("b")) == .firstUse)
    }

    @Test("SEC06 certificates with an empty subject get keys that cannot collide")
    func emptySubjectKeys() throws {
        let one = try Self.makeIdentity(subject: []).certificate
        let two = try Self.makeIdentity(subject: []).certificate
        let named = try Self.makeIdentity(subject: [("CN", "alice")]).certificate
        let oneKey = TOFUStore.key(for: try one.subject, fingerprint: Self.hexString(try one.digest(.sha256)))
        let twoKey = TOFUStore.key(for: try two.subject, fingerprint: Self.hexString(try two.digest(.sha256)))
        let namedKey = TOFUStore.key(for: try named.subject, fingerprint: Self.hexString(try named.digest(.sha256)))
        #expect(namedKey == "CN=alice")  // unchanged for ordinary subjects: existing files keep working
        #expect(!oneKey.isEmpty && !twoKey.isEmpty)
        #expect(oneKey != twoKey)
        #expect(!oneKey.contains("=") && !twoKey.contains("="))  // no RFC 2253 subject can take them
        let store = TOFUStore()
        #expect(try store.decide(subject: oneKey, fingerprint: Self.hexString(try one.digest(.sha256))) == .firstUse)
        #expect(try store.decide(subject: twoKey, fingerprint: Self.hexString(try two.digest(.sha256))) == .firstUse)
        // Control characters are escaped, so a key never breaks the file's lines.
        let odd = try X509Name([("CN", "a\tb\nc\r")])
        let oddKey = TOFUStore.key(for: odd, fingerprint: Self.fingerprint("d"))
        #expect(!oddKey.unicodeScalars.contains { $0.value < 0x20 }, "\(oddKey.debugDescription)")
    }

    @Test("SEC06 serve --tofu accepts two clients with empty subjects, each its own identity")
    func emptySubjectsServe() throws {
        let directory = try TemporaryDirectory()
        let one = try Self.writeIdentity(directory, name: "one", subject: [])
        let two = try Self.writeIdentity(directory, name: "two", subject: [])
        let tofu = directory.path("known-clients.txt")
        let server = try ServeProcess(["--tofu", tofu, "--idle-timeout", "5"])
        defer { server.stop() }
        let target = "127.0.0.1:\(server.port)"
        for identity in [one, two, one] {
            let result = try OsslTool.run(
                ["connect", "--insecure", "--timeout", "10", "--cert", identity.cert, "--key", identity.key, target],
                timeout: 30)
            #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        }
        let log = server.logLines(waitingFor: 3)
        #expect(log.count == 3, "\(log) \(server.errorText)")
        if log.count == 3 {
            #expect(
                log[0].contains("decision=accept-first-use") && log[1].contains("decision=accept-first-use")
                    && log[2].contains("decision=accept-known"), "\(log)")
        }
        #expect(try Self.pinLines(tofu).count == 2)
    }

    // MARK: SEC07 deadlines in serve

    /// Sends a byte on `socket` every `interval` until the server ends the
    /// connection or `limit` passes; how long that took, or nil. The end is
    /// EOF or an error on reading — or, with `untilSendFails`, a failed send
    /// (the server's FIN may come early, while it still reads).
    private static func trickle(
        _ socket: TCPSocket, interval: Duration, limit: Duration,
        untilSendFails: Bool = false
    ) -> Duration? {
        let start = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 4096)
        var sawEOF = false
        while ContinuousClock.now - start < limit {
            if case .failure = Result(catching: { try [UInt8(0x01)].withUnsafeBytes { try socket.write($0) } }) {
                return ContinuousClock.now - start
            }
            if sawEOF {
                Thread.sleep(
                    forTimeInterval: Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
                continue
            }
            guard (try? socket.waitReadable(timeout: interval)) == true else { continue }
            let count = try? buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            if let count, count > 0 { continue }  // the server's alert, say
            if !untilSendFails { return ContinuousClock.now - start }
            sawEOF = true
        }
        return nil
    }

    @Test("SEC07 serve drops a client that trickles its handshake within the deadline, and serves the next")
    func handshakeDeadline() throws {
        let server = try ServeProcess(["--idle-timeout", "2"])
        defer { server.stop() }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        // A TLS record header announcing a 256-byte handshake message, then
        // its bytes one by one, each well within the 2 s per-read timeout.
        _ = try [UInt8]([0x16, 0x03, 0x01, 0x01, 0x00]).withUnsafeBytes { try socket.write($0) }
        let dropped = Self.trickle(socket, interval: .milliseconds(400), limit: .seconds(8))
        let elapsed = try #require(
            dropped, "the server kept a trickling client for 8 s; log: \(server.logLines(waitingFor: 1, timeout: 1))")
        #expect(elapsed < .milliseconds(4_500), "dropped after \(elapsed)")
        let echo = try OsslTool.run(
            ["connect", "--insecure", "--send", "next", "--read-timeout", "1", "127.0.0.1:\(server.port)"],
            timeout: 30)
        #expect(echo.status == 0, "\(echo.stdout) \(echo.stderr)")
        #expect(echo.stdout.hasSuffix("received 4 bytes:\nnext\n"), "\(echo.stdout)")
        let log = server.logLines(waitingFor: 2)
        #expect(
            log.first?.contains("decision=failed") == true && log.first?.contains("handshake not finished within 2 s") == true,
            "\(log)")
        #expect(log.last?.contains("decision=accept echoed=4") == true, "\(log)")
    }

    @Test("SEC07 after a failed handshake, closing a trickling client is bounded in time")
    func lingeringCloseBounded() throws {
        let server = try ServeProcess(["--idle-timeout", "5"])
        defer { server.stop() }
        let socket = try TCPSocket.connect(host: "127.0.0.1", port: server.port, timeout: .seconds(5))
        defer { socket.close() }
        // Not TLS: the handshake fails at once and the server lingers, reading
        // what the client still sends, before it closes.
        _ = try Array("GET / HTTP/1.0\r\n\r\n".utf8).withUnsafeBytes { try socket.write($0) }
        let closed = Self.trickle(socket, interval: .milliseconds(200), limit: .seconds(10), untilSendFails: true)
        let elapsed = try #require(closed, "the server lingered on a trickling client for 10 s")
        #expect(elapsed < .milliseconds(4_500), "closed after \(elapsed)")
        let log = server.logLines(waitingFor: 1)
        #expect(log.first?.contains("decision=failed") == true, "\(log)")
        let echo = try OsslTool.run(
            ["connect", "--insecure", "--send", "ok", "--read-timeout", "1", "127.0.0.1:\(server.port)"],
            timeout: 30)
        #expect(echo.status == 0, "\(echo.stdout) \(echo.stderr)")
    }

    // MARK: SEC13 the atomic writer's descriptors

    /// Descriptors of this process open on `directory` or anything inside it.
    private static func descriptors(under directory: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.compactMap { entry in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(entry)") else {
                return nil
            }
            return target == directory || target.hasPrefix(directory + "/") ? "\(entry) -> \(target)" : nil
        }
    }

    @Test("SEC13 a failing fsync closes the temporary file and removes it; the directory is synced after rename")
    func atomicWriteDescriptors() throws {
        let directory = try TemporaryDirectory()
        let root = directory.url.resolvingSymlinksInPath().path
        let target = root + "/out.txt"
        #expect(Self.descriptors(under: root).isEmpty)

        // fsync of the temporary file fails.
        #expect(throws: AtomicFile.Failure.self) {
            try AtomicFile.write(Array("new".utf8), to: target, mode: 0o600) { _ in
                errno = EIO
                return -1
            }
        }
        #expect(Self.descriptors(under: root).isEmpty, "leaked: \(Self.descriptors(under: root))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).isEmpty)

        // Happy path: the file, then the directory, are synced; nothing stays open.
        try directory.write("out.txt", "old")
        let synced = LockedBox<[String]>([])
        try AtomicFile.write(Array("new contents".utf8), to: target, mode: 0o600) { descriptor in
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)")) ?? "?"
            synced.mutate { $0.append(link) }
            return fsync(descriptor)
        }
        let calls = synced.get()
        #expect(calls.count == 2 && calls.first?.hasPrefix(root + "/.out.txt.tmp-") == true && calls.last == root, "\(calls)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new contents")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["out.txt"])
        #expect(Self.descriptors(under: root).isEmpty, "leaked: \(Self.descriptors(under: root))")

        // fsync of the directory fails: reported, and its descriptor closed too.
        let count = LockedBox(0)
        #expect(throws: AtomicFile.Failure.self) {
            try AtomicFile.write(Array("newer".utf8), to: target, mode: 0o600) { descriptor in
                count.mutate { $0 += 1 }
                let call = count.get()
                if call == 2 {
                    errno = EIO
                    return -1
                }
                return fsync(descriptor)
            }
        }
        #expect(Self.descriptors(under: root).isEmpty, "leaked: \(Self.descriptors(under: root))")

        // rename fails (the target is a non-empty directory): temporary file removed, nothing open.
        let blocker = root + "/blocker"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        try directory.write("blocker/inside", "x")
        #expect(throws: AtomicFile.Failure.self) { try AtomicFile.write(Array("x".utf8), to: blocker, mode: 0o644) }
        #expect(Self.descriptors(under: root).isEmpty, "leaked: \(Self.descriptors(under: root))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root).sorted() == ["blocker", "out.txt"])
    }
}
