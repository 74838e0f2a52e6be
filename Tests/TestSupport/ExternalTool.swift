import Foundation

/// Runs a command-line tool (`openssl`, `curl`, the built `ossl` …) to
/// completion as a `PeerProcess`, bounded in time: it is killed when it
/// outlives `timeout`.
package enum ExternalTool {
    /// What the tool did.
    package struct Result: Sendable {
        /// Its exit status; the number of the signal that ended it when one did.
        package let status: Int32
        package let stdout: String
        package let stderr: String
        /// Whether it was killed for outliving its time.
        package let timedOut: Bool
    }

    /// Runs `executable` with `arguments`, feeding `input` on stdin and then
    /// closing it, and waits at most `timeout` seconds for it to exit.
    /// - Throws: `PeerProcess.SpawnFailure` when it cannot be started.
    package static func run(
        _ executable: String, _ arguments: [String], input: [UInt8] = [],
        timeout: TimeInterval = 30
    ) throws -> Result {
        // The lifetime is the backstop should this process die first.
        let process = try PeerProcess(executable, arguments, lifetime: Int(timeout.rounded(.up)) + 10)
        defer { process.stop() }
        if !input.isEmpty { process.send(input) }
        process.closeInput()
        let exit = process.waitForExit(timeout: timeout)
        process.stop()
        let ended = exit ?? process.exit
        return Result(
            status: ended.map { $0.status ?? $0.signal ?? -1 } ?? -1,
            stdout: process.stdoutText, stderr: process.stderr, timedOut: exit == nil)
    }

    /// Runs `/usr/bin/openssl` and returns its standard output.
    /// - Throws: `ToolFailure` when it fails or times out; `PeerProcess.SpawnFailure` when it cannot be started.
    @discardableResult
    package static func openssl(_ arguments: [String], input: [UInt8] = []) throws -> String {
        let result = try run("/usr/bin/openssl", arguments, input: input)
        guard result.status == 0, !result.timedOut else {
            throw ToolFailure(
                command: "openssl " + arguments.joined(separator: " "),
                status: result.status, stderr: result.stderr)
        }
        return result.stdout
    }

    /// A tool that exited with a failure.
    package struct ToolFailure: Error, CustomStringConvertible {
        package let command: String
        package let status: Int32
        package let stderr: String
        package var description: String { "\(command) exited \(status): \(stderr)" }
    }
}
