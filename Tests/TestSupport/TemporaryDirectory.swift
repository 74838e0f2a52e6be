import Foundation

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when the value goes away.
package final class TemporaryDirectory: Sendable {
    /// The directory itself.
    package let url: URL

    /// Creates the directory.
    /// - Throws: the file system's error when it cannot be created.
    package init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-openssl-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    package func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Writes `contents` to `name` and returns its path.
    /// - Throws: the file system's error when it cannot be written.
    @discardableResult
    package func write(_ name: String, _ contents: some DataProtocol) throws -> String {
        let path = path(name)
        try Data(contents).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Writes `text` (UTF-8) to `name` and returns its path.
    /// - Throws: the file system's error when it cannot be written.
    @discardableResult
    package func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}
