import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A peer program (`openssl`, `gnutls-cli`, `python3` …) run as a child
/// process, bounded in time on every path:
///
/// - it runs under `timeout -s KILL <lifetime>`, which makes itself the
///   leader of a new process group: the peer dies at the end of its
///   lifetime even if this test process crashes or is killed;
/// - `stop()` (called from `defer` by every user) kills that whole process
///   group with SIGKILL and reaps it;
/// - its pipes are made close-on-exec, so no other child inherits them and
///   closing its standard input really is an end of file for it.
///
/// Its standard output and error are read as they come; `waitFor` waits for
/// a condition on them. Its standard input is fed by a writer thread, so a
/// peer that does not read cannot block the test.
///
/// This is the one way the tests start a program: a tool run to completion
/// (`ExternalTool.run`) and a server kept running (`openssl s_server`,
/// `ossl serve`) go through it too.
package final class PeerProcess: @unchecked Sendable {  // mutable state is guarded by `condition`
    /// How the process ended: its exit status, or the signal that ended it.
    package struct Exit: Equatable, Sendable, CustomStringConvertible {
        package let status: Int32?
        package let signal: Int32?
        package var succeeded: Bool { status == 0 }
        package var description: String { status.map { "exit \($0)" } ?? "signal \(signal ?? 0)" }
    }

    /// Thrown by `init` when the pipes or the process cannot be made.
    package struct SpawnFailure: Error, CustomStringConvertible {
        package let command: String
        package let errno: Int32
        package var description: String { "cannot start \(command): \(String(cString: strerror(errno)))" }
    }

    /// The command line, for messages.
    package let command: String
    /// The `timeout` wrapper's process id, which is also its process group.
    package let pid: pid_t
    private let condition = NSCondition()
    private var stdoutBytes: [UInt8] = []
    private var stderrBytes: [UInt8] = []
    private var openReaders = 2
    private var exitValue: Exit?
    private var inputQueue: [[UInt8]] = []
    private var inputClosed = false
    private var forwarding = false
    private var stopped = false
    private let stdinDescriptor: Int32

    /// Starts `executable` with `arguments`; it is killed after `lifetime` seconds at the latest.
    /// - Throws: `SpawnFailure` when the pipes or the process cannot be made.
    package init(_ executable: String, _ arguments: [String], lifetime: Int = 40) throws {
        command = ([executable] + arguments).joined(separator: " ")
        signal(SIGPIPE, SIG_IGN)
        // Pipes are made close-on-exec before any other spawn of ours can
        // start (Glibc's Swift module has no pipe2), so no other peer inherits them.
        spawnLock.lock()
        defer { spawnLock.unlock() }
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        var errors: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw SpawnFailure(command: command, errno: errno) }
        guard pipe(&output) == 0 else {
            Glibc.close(input[0])
            Glibc.close(input[1])
            throw SpawnFailure(command: command, errno: errno)
        }
        guard pipe(&errors) == 0 else {
            for fd in input + output { Glibc.close(fd) }
            throw SpawnFailure(command: command, errno: errno)
        }
        for fd in input + output + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto 0/1/2 gives the child copies without close-on-exec.
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        // Nothing else: the sockets of this process (servers under test that
        // run in process, without close-on-exec) must not be inherited, or a
        // peer would hold them open and `listeningPort` could find one of them.
        closeOtherDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ["/usr/bin/timeout", "-s", "KILL", String(lifetime), executable] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, "/usr/bin/timeout", &actions, &attributes, &cArguments, environ)
        Glibc.close(input[0])
        Glibc.close(output[1])
        Glibc.close(errors[1])
        guard result == 0 else {
            Glibc.close(input[1])
            Glibc.close(output[0])
            Glibc.close(errors[0])
            throw SpawnFailure(command: command, errno: result)
        }
        pid = child
        stdinDescriptor = input[1]
        startReader(output[0], isStdout: true)
        startReader(errors[0], isStdout: false)
        startWriter()
    }

    deinit { stop() }

    // MARK: Output

    /// What the peer has written to standard output so far.
    package var stdout: [UInt8] { condition.withLock { stdoutBytes } }
    /// What the peer has written to standard error so far, as text.
    package var stderr: String { condition.withLock { String(decoding: stderrBytes, as: UTF8.self) } }
    /// Standard output as text.
    package var stdoutText: String { String(decoding: stdout, as: UTF8.self) }

    /// Waits until `done(stdout, stderr)` holds, the peer has exited and
    /// closed its output, or `timeout` passes. Returns whether `done` held.
    /// `done` runs under the lock: it must use its arguments, not this object.
    @discardableResult
    package func waitFor(timeout: Double, _ done: (_ stdout: [UInt8], _ stderr: String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if done(stdoutBytes, String(decoding: stderrBytes, as: UTF8.self)) { return true }
            if openReaders == 0 || Date() >= deadline { return false }
            _ = condition.wait(until: min(deadline, Date().addingTimeInterval(0.05)))
        }
    }

    /// Waits until standard output or error contains `text`.
    @discardableResult
    package func waitForText(_ text: String, timeout: Double) -> Bool {
        waitFor(timeout: timeout) { out, err in
            String(decoding: out, as: UTF8.self).contains(text) || err.contains(text)
        }
    }

    /// Waits (at most `timeout` seconds) until standard output, or else
    /// standard error, matches the regular expression `pattern`; returns its
    /// first capture group (the whole match without one). Nil when the time
    /// passes or the process ends first.
    package func firstMatch(_ pattern: String, timeout: Double = 10) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        func search(_ text: String) -> String? {
            guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
            let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
            return Range(range, in: text).map { String(text[$0]) }
        }
        var found: String?
        waitFor(timeout: timeout) { out, err in
            found = search(String(decoding: out, as: UTF8.self)) ?? search(err)
            return found != nil
        }
        return found
    }

    private func startReader(_ fd: Int32, isStdout: Bool) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                let chunk = Array(buffer[..<count])
                condition.withLock {
                    if isStdout { stdoutBytes += chunk } else { stderrBytes += chunk }
                    if isStdout && forwarding { inputQueue.append(chunk) }
                    condition.broadcast()
                }
            }
            Glibc.close(fd)
            condition.withLock {
                openReaders -= 1
                condition.broadcast()
            }
        }
        thread.start()
    }

    // MARK: Input

    /// Queues `bytes` for the peer's standard input.
    package func send(_ bytes: [UInt8]) {
        condition.withLock {
            inputQueue.append(bytes)
            condition.broadcast()
        }
    }

    /// Closes the peer's standard input once everything queued is written.
    package func closeInput() {
        condition.withLock {
            inputClosed = true
            condition.broadcast()
        }
    }

    /// From now on, whatever the peer writes on standard output is fed back
    /// to its standard input: turns `openssl s_server` (which prints what it
    /// receives and sends what it reads) into an echo server.
    package func echoOutputToInput() {
        condition.withLock {
            forwarding = true
            if !stdoutBytes.isEmpty { inputQueue.append(stdoutBytes) }
        }
    }

    private func startWriter() {
        let fd = stdinDescriptor
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while inputQueue.isEmpty && !inputClosed && !stopped { condition.wait() }
                if inputQueue.isEmpty {
                    condition.unlock()
                    break
                }
                let chunk = inputQueue.removeFirst()
                condition.unlock()
                var offset = 0
                while offset < chunk.count {
                    let written = chunk[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                    if written < 0 && errno == EINTR { continue }
                    if written <= 0 { break }
                    offset += written
                }
                if offset < chunk.count {
                    break  // the peer closed its input (or died)
                }
            }
            Glibc.close(fd)
        }
        thread.start()
    }

    // MARK: Life

    /// The exit of the peer, once it has exited (reaped here).
    package var exit: Exit? {
        condition.withLock { exitValue } ?? reap(blocking: false)
    }

    /// Waits (bounded) for the peer to exit on its own, and then for its
    /// output readers to drain the pipes, so `stdout`/`stderr` hold
    /// everything it wrote (the process can be reaped before a reader thread
    /// has read its last lines).
    package func waitForExit(timeout: Double) -> Exit? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let exit {
                waitForReaders(until: Date().addingTimeInterval(2))
                return exit
            }
            usleep(5_000)
        }
        return exit
    }

    /// Waits until both output readers have seen end of file, or `deadline`.
    private func waitForReaders(until deadline: Date) {
        condition.lock()
        while openReaders > 0 && Date() < deadline {
            _ = condition.wait(until: deadline)
        }
        condition.unlock()
    }

    /// Kills the peer's whole process group (the `timeout` wrapper and the
    /// peer), reaps it and closes its input. Idempotent.
    package func stop() {
        let alreadyStopped = condition.withLock { () -> Bool in
            defer {
                stopped = true
                condition.broadcast()
            }
            return stopped
        }
        if alreadyStopped && exit != nil { return }
        if exit == nil {
            if kill(-pid, SIGKILL) != 0 { kill(pid, SIGKILL) }
            _ = reap(blocking: true)
        }
        // The readers end when every holder of the pipes has gone.
        _ = waitFor(timeout: 2) { _, _ in false }
    }

    /// Sends SIGKILL to the peer itself (not to the `timeout` wrapper): it
    /// vanishes without close_notify.
    package func killPeer() { signalPeer(SIGKILL) }

    /// Sends `signal` to the peer itself (not to the `timeout` wrapper), e.g.
    /// SIGTERM or SIGINT to ask it to stop as a user would.
    package func signalPeer(_ signal: Int32) {
        for child in Self.processes(inGroup: pid) where child != pid {
            kill(child, signal)
        }
    }

    private func reap(blocking: Bool) -> Exit? {
        var status: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
        } while result < 0 && errno == EINTR
        guard result == pid else { return condition.withLock { exitValue } }
        let signal = status & 0x7f
        let value = signal == 0 ? Exit(status: (status >> 8) & 0xff, signal: nil) : Exit(status: nil, signal: signal)
        condition.withLock { exitValue = value }
        return value
    }

    // MARK: Ports

    /// The TCP port the peer listens on (IPv4), found through /proc: the
    /// peer binds port 0 and the kernel chooses, so no port is guessed and
    /// no race is possible. Nil when none appeared within `timeout`.
    package func listeningPort(timeout: Double) -> UInt16? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let port = Self.listeningPorts(ofGroup: pid).first { return port }
            if exit != nil { return nil }
            usleep(10_000)
        } while Date() < deadline
        return nil
    }

    /// The live processes whose process group is `group`.
    package static func processes(inGroup group: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let candidate = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // Fields after "(comm)": state ppid pgrp …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, pid_t(fields[2]) == group else { return nil }
            // A killed process stays in /proc as a zombie until someone reaps it; it runs nothing.
            guard fields[0] != "Z", fields[0] != "X" else { return nil }
            return candidate
        }
    }

    /// The IPv4 TCP ports that processes of `group` listen on, found through /proc.
    package static func listeningPorts(ofGroup group: pid_t) -> [UInt16] {
        var inodes = Set<String>()
        for process in processes(inGroup: group) {
            let directory = "/proc/\(process)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(fd)"),
                    target.hasPrefix("socket:[")
                {
                    inodes.insert(String(target.dropFirst(8).dropLast()))
                }
            }
        }
        // A socket this process holds too is one of ours, inherited (a C library without closefrom).
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)"),
                target.hasPrefix("socket:[")
            {
                inodes.remove(String(target.dropFirst(8).dropLast()))
            }
        }
        guard !inodes.isEmpty, let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return [] }
        return table.split(separator: "\n").dropFirst().compactMap { line -> UInt16? in
            let fields = line.split(separator: " ")
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])) else { return nil }
            guard let colon = fields[1].lastIndex(of: ":") else { return nil }
            return UInt16(fields[1][fields[1].index(after: colon)...], radix: 16)
        }
    }
}

/// Adds glibc's `posix_spawn_file_actions_addclosefrom_np(actions, 3)` (2.34
/// and later; Swift's Glibc module does not declare it) when the C library has it.
private func closeOtherDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
}

/// Where a program is: the first of `candidates` that is executable, else
/// the first match on PATH.
package func locateProgram(_ name: String, preferring candidates: [String] = []) -> String? {
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Serialises making pipes and spawning (see `PeerProcess.init`).
private let spawnLock = NSLock()
