import Foundation
import Testing

/// The built `ossl` executable, run as a child process by the CLI tests.
///
/// It sits in the same build products directory as the test bundle
/// (`.build/<triple>/debug/`): `swift build --build-tests` and `swift test`
/// build it with the tests, since it is a product of the package.
enum OsslTool {
    /// The executable's path, or nil when it was not built.
    static let path: String? = {
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
        }
        directories.append(Bundle.main.bundleURL.deletingLastPathComponent())
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directories.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent("ossl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Runs `ossl arguments…`, feeding `input` on stdin, killed after `timeout` seconds.
    static func run(_ arguments: [String], input: [UInt8] = [], timeout: TimeInterval = 60,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> ExternalTool.Result {
        let executable = try #require(path, "the ossl executable was not built next to the tests", sourceLocation: sourceLocation)
        let result = try ExternalTool.run(executable, arguments, input: input, timeout: timeout)
        #expect(!result.timedOut, "ossl \(arguments.joined(separator: " ")) timed out", sourceLocation: sourceLocation)
        return result
    }

    /// The lines of `text`, without the empty last one.
    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }
}

/// `ossl serve` running in a child process: started, read line by line, and
/// always stopped (SIGTERM, then SIGKILL) — by `stop()` or when dropped.
final class ServeProcess {
    let process = Process()
    /// The port it listens on, from its first line.
    private(set) var port: UInt16 = 0
    /// Its first line: `listening on 127.0.0.1:PORT (certificate sha256 …)`.
    private(set) var banner = ""
    private let stdout = LineBuffer()
    private let stderr = LineBuffer()

    /// Starts `ossl serve arguments…` and waits (at most `timeout` seconds) for its banner.
    init(_ arguments: [String], timeout: TimeInterval = 30) throws {
        let executable = try #require(OsslTool.path, "the ossl executable was not built next to the tests")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve"] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        stdout.follow(out.fileHandleForReading)
        stderr.follow(err.fileHandleForReading)
        guard let first = stdout.waitForLines(1, timeout: timeout).first else {
            stop()
            throw ServeFailure(message: "ossl serve printed no banner; stderr: \(stderr.text)")
        }
        banner = first
        guard let range = first.range(of: #":([0-9]+) "#, options: .regularExpression),
              let port = UInt16(first[range].dropFirst().dropLast()) else {
            stop()
            throw ServeFailure(message: "no port in '\(first)'")
        }
        self.port = port
    }

    /// The log lines after the banner, waiting (bounded) until there are `count`.
    func logLines(waitingFor count: Int, timeout: TimeInterval = 20) -> [String] {
        Array(stdout.waitForLines(count + 1, timeout: timeout).dropFirst())
    }

    /// Everything written to stderr so far.
    var errorText: String { stderr.text }

    /// Waits up to `timeout` seconds for the server to exit on its own; its status, or nil.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Sends SIGTERM, waits up to 10 seconds, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 10) == nil {
                kill(process.processIdentifier, SIGKILL)
            }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { stop() }

    struct ServeFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

/// Text read from a pipe by a background thread, as it comes.
private final class LineBuffer: @unchecked Sendable {  // guarded by condition
    private let condition = NSCondition()
    private var data = Data()

    func follow(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                condition.lock()
                data.append(chunk)
                condition.broadcast()
                condition.unlock()
                if chunk.isEmpty { return }
            }
        }
    }

    var text: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// The complete lines so far, once there are `count` (or `timeout` passed).
    func waitForLines(_ count: Int, timeout: TimeInterval) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let lines = completeLines()
            if lines.count >= count || Date() >= deadline { return lines }
            _ = condition.wait(until: min(deadline, Date().addingTimeInterval(0.1)))
        }
    }

    private func completeLines() -> [String] {
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // the part after the last newline is not a complete line
        return lines
    }
}
