import Foundation
import Testing
import TestSupport

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
    static func run(
        _ arguments: [String], input: [UInt8] = [], timeout: TimeInterval = 60,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ExternalTool.Result {
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

/// `ossl serve` running as a `PeerProcess`: started, read line by line, and
/// always stopped (SIGTERM, then SIGKILL) — by `stop()` or when dropped.
final class ServeProcess {
    /// The process (the `timeout` wrapper and `ossl serve` under it).
    let peer: PeerProcess
    /// The port it listens on, from its first line.
    private(set) var port: UInt16 = 0
    /// Its first line: `listening on 127.0.0.1:PORT (certificate sha256 …)`.
    private(set) var banner = ""

    /// Starts `ossl serve arguments…` and waits (at most `timeout` seconds) for its banner.
    init(_ arguments: [String], timeout: TimeInterval = 30) throws {
        let executable = try #require(OsslTool.path, "the ossl executable was not built next to the tests")
        // The lifetime only bounds a server that outlives its test.
        peer = try PeerProcess(executable, ["serve"] + arguments, lifetime: 600)
        peer.closeInput()
        guard let first = lines(atLeast: 1, timeout: timeout).first else {
            stop()
            throw ServeFailure(message: "ossl serve printed no banner; stderr: \(peer.stderr)")
        }
        banner = first
        guard let range = first.range(of: #":([0-9]+) "#, options: .regularExpression),
            let port = UInt16(first[range].dropFirst().dropLast())
        else {
            stop()
            throw ServeFailure(message: "no port in '\(first)'")
        }
        self.port = port
    }

    /// The complete lines of standard output so far, once there are `count` (or `timeout` passed).
    private func lines(atLeast count: Int, timeout: TimeInterval) -> [String] {
        var lines: [String] = []
        peer.waitFor(timeout: timeout) { out, _ in
            lines = String(decoding: out, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines.removeLast()  // the part after the last newline is not a complete line
            return lines.count >= count
        }
        return lines
    }

    /// The log lines after the banner, waiting (bounded) until there are `count`.
    func logLines(waitingFor count: Int, timeout: TimeInterval = 20) -> [String] {
        Array(lines(atLeast: count + 1, timeout: timeout).dropFirst())
    }

    /// Everything written to stderr so far.
    var errorText: String { peer.stderr }

    /// Sends `signal` to `ossl serve` itself.
    func signal(_ signal: Int32) { peer.signalPeer(signal) }

    /// Waits up to `timeout` seconds for the server to exit on its own; its
    /// status (the signal's number when one ended it), or nil.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        peer.waitForExit(timeout: timeout).map { $0.status ?? $0.signal ?? -1 }
    }

    /// Sends SIGTERM, waits up to 10 seconds, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if peer.exit == nil {
            peer.signalPeer(SIGTERM)
            _ = waitForExit(timeout: 10)
        }
        peer.stop()
        return peer.exit.map { $0.status ?? $0.signal ?? -1 } ?? -1
    }

    deinit { stop() }

    struct ServeFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
