import Foundation
import Testing
import COpenSSL

/// Runs a command-line tool (usually `openssl`) as a child process, bounded
/// in time: the process is killed when it outlives `timeout`.
struct ExternalTool {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        let timedOut: Bool
    }

    /// Runs `executable` with `arguments`, feeding `input` on stdin.
    static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [],
                    timeout: TimeInterval = 30) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        let outBox = DataBox(), errBox = DataBox()
        let group = DispatchGroup()
        for (pipe, box) in [(stdout, outBox), (stderr, errBox)] {
            group.enter()
            DispatchQueue.global().async {
                box.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        if !input.isEmpty { stdin.fileHandleForWriting.write(Data(input)) }
        try? stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        group.wait()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outBox.get(), as: UTF8.self),
                      stderr: String(decoding: errBox.get(), as: UTF8.self),
                      timedOut: timedOut)
    }

    /// Runs `/usr/bin/openssl` and returns its standard output; records an
    /// issue and throws when it fails.
    @discardableResult
    static func openssl(_ arguments: [String], input: [UInt8] = []) throws -> String {
        let result = try run("/usr/bin/openssl", arguments, input: input)
        guard result.status == 0, !result.timedOut else {
            throw ToolFailure(command: "openssl " + arguments.joined(separator: " "),
                              status: result.status, stderr: result.stderr)
        }
        return result.stdout
    }

    struct ToolFailure: Error, CustomStringConvertible {
        let command: String
        let status: Int32
        let stderr: String
        var description: String { "\(command) exited \(status): \(stderr)" }
    }
}

private final class DataBox: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A temporary directory removed when the value is dropped.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-openssl-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `contents` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: some DataProtocol) throws -> String {
        let path = path(name)
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Committed fixture files (Tests/OpenSSLTests/Fixtures).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}

/// Records an issue when OpenSSL's error queue of the calling thread is not
/// empty (CONFORMANCE I04), and empties it so one failure is reported once.
func expectErrorQueueEmpty(sourceLocation: SourceLocation = #_sourceLocation) {
    let code = ERR_peek_error()
    #expect(code == 0, "OpenSSL error queue not empty: \(String(code, radix: 16))", sourceLocation: sourceLocation)
    ERR_clear_error()
}
