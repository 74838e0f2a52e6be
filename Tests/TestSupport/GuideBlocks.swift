import Foundation

/// A guide in Docs/ whose Swift blocks a test file holds verbatim, so that
/// every example of the guide is compiled (and usually run) by the tests.
package struct GuideBlocks {
    /// The ```swift blocks of the guide, in order, without their fences.
    package let blocks: [String]
    /// Those of `blocks` that the test file does not contain character for character.
    package let missing: [String]

    /// Reads `Docs/<guide>` and the test file at `testFile` (pass `#filePath`).
    /// - Throws: the file system's error when either cannot be read.
    package init(guide: String, testFile: String) throws {
        let root = URL(fileURLWithPath: testFile)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Docs").appendingPathComponent(guide), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: testFile), encoding: .utf8)
        blocks = text.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        missing = blocks.filter { !source.contains($0) }
    }
}
