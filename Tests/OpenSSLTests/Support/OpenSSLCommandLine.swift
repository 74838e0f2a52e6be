import Foundation

/// Runs the system `openssl` command in a child process, bounded in time,
/// for tests that check what this library makes against OpenSSL's own tool.
enum OpenSSLCommandLine {
    static let executable = URL(fileURLWithPath: "/usr/bin/openssl")

    struct Output {
        let status: Int32
        let standardOutput: String
        let standardError: String
        /// Both streams, as a terminal would show them (stdout first).
        var combined: String { standardOutput + standardError }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let arguments: [String]
        var description: String { "openssl \(arguments.joined(separator: " ")) did not finish in time" }
    }

    /// Runs `openssl arguments…` and waits at most `timeout` seconds
    /// (then kills it and throws `TimedOut`). Output goes to files, not
    /// pipes, so a chatty child can never block on a full pipe.
    static func run(_ arguments: [String], timeout: TimeInterval = 30) throws -> Output {
        try withTemporaryDirectory { directory in
            let outURL = directory.appendingPathComponent("stdout")
            let errURL = directory.appendingPathComponent("stderr")
            _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            let out = try FileHandle(forWritingTo: outURL)
            let err = try FileHandle(forWritingTo: errURL)
            defer { try? out.close(); try? err.close() }

            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = out
            process.standardError = err
            let finished = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in finished.signal() }
            try process.run()
            if finished.wait(timeout: .now() + timeout) == .timedOut {
                process.terminate()
                _ = finished.wait(timeout: .now() + 5)
                throw TimedOut(arguments: arguments)
            }
            return Output(
                status: process.terminationStatus,
                standardOutput: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
                standardError: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
            )
        }
    }

    /// Runs `body` with a fresh temporary directory, removed afterwards.
    static func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-openssl-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Writes `text` to `name` inside `directory` and returns the file's path.
    @discardableResult
    static func write(_ text: String, named name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    /// Writes `bytes` to `name` inside `directory` and returns the file's path.
    @discardableResult
    static func write(bytes: [UInt8], named name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}
