import Foundation

/// A long-running child process (an `openssl s_server`), whose output is
/// collected as it comes. It is always stopped: by `stop()`, or when the
/// value goes away (SIGTERM, then SIGKILL after a second).
final class ChildProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let collected = LockedBox<Data>(Data())
    private let reader: Thread

    /// Starts `executable` with `arguments`; stdout and stderr are collected together.
    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        let handle = output.fileHandleForReading
        let collected = self.collected
        reader = Thread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                collected.mutate { $0.append(chunk) }
            }
        }
        try process.run()
        reader.start()
    }

    /// Everything the process has written so far.
    var text: String { String(decoding: collected.get(), as: UTF8.self) }

    /// Waits (at most `timeout` seconds) until the output matches `pattern`;
    /// returns the first capture group (or the whole match), nil on timeout or exit.
    func waitFor(_ pattern: String, timeout: TimeInterval = 10) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        let deadline = Date() + timeout
        while Date() < deadline {
            let current = text
            if let match = regex.firstMatch(in: current, range: NSRange(current.startIndex..., in: current)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return Range(range, in: current).map { String(current[$0]) }
            }
            if !process.isRunning { return nil }
            usleep(10_000)
        }
        return nil
    }

    /// Stops the process (SIGTERM, then SIGKILL) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date() + 1
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
    }

    deinit { stop() }
}
