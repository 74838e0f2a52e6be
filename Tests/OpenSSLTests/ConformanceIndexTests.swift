import Foundation
import Testing

/// Keeps Docs/conformance.md and the tests in step: every id of the
/// conformance list (the project's copy of its id set is below) is in the
/// document's table, no other id is, and each one is carried by a test in
/// Tests/ (in its `@Test("…")` display name or its function name), in the
/// file the document names for it.
@Suite("Conformance index")
struct ConformanceIndexTests {
    /// The project's copy of CONFORMANCE's id set. Change it together with
    /// Docs/conformance.md when the conformance list changes.
    static let conformanceIDs: Set<String> = Set(
        (1...14).map { String(format: "S%02d", $0) } + (1...14).map { String(format: "V%02d", $0) }
            + (1...5).map { String(format: "P%02d", $0) } + (1...5).map { String(format: "C%02d", $0) }
            + (1...4).map { String(format: "R%02d", $0) } + (1...4).map { String(format: "I%02d", $0) }
            + (1...6).map { String(format: "X%02d", $0) } + (1...3).map { String(format: "T%02d", $0) }
            + (1...4).map { String(format: "W%02d", $0) } + (1...3).map { String(format: "G%02d", $0) }
            + (1...9).map { String(format: "N%02d", $0) } + (1...3).map { String(format: "B%02d", $0) })

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The rows of the id table in Docs/conformance.md: id → the test file named for it.
    static func documentedIDs() throws -> [String: String] {
        let text = try String(contentsOf: root.appendingPathComponent("Docs/conformance.md"), encoding: .utf8)
        var rows: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4, cells[1].wholeMatch(of: /[A-Z][0-9]{2}/) != nil else { continue }
            let file = cells[3].firstMatch(of: /`([A-Za-z0-9_+]+\.swift)`/).map { String($0.1) } ?? ""
            #expect(rows[cells[1]] == nil, "\(cells[1]) is listed twice in Docs/conformance.md")
            rows[cells[1]] = file
        }
        return rows
    }

    /// Every test in Tests/: file name → the ids its display names and function names carry.
    static func idsCarriedByTests() throws -> [String: Set<String>] {
        var carried: [String: Set<String>] = [:]
        let tests = root.appendingPathComponent("Tests")
        guard let walker = FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil) else { return [:] }
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            var ids = Set<String>()
            for match in text.matches(of: /@Test\(\s*"([^"]*)"/) {
                ids.formUnion(match.1.matches(of: /\b[A-Z][0-9]{2}\b/).map { String($0.0) })
            }
            for match in text.matches(of: /func\s+([A-Za-z0-9_]+)/) {
                ids.formUnion(match.1.matches(of: /[A-Z][0-9]{2}/).map { String($0.0) })
            }
            carried[url.lastPathComponent, default: []].formUnion(ids)
        }
        return carried
    }

    @Test("Docs/conformance.md lists exactly the conformance ids")
    func documentMatchesTheIDSet() throws {
        let documented = Set(try Self.documentedIDs().keys)
        let missing = Self.conformanceIDs.subtracting(documented).sorted()
        let unknown = documented.subtracting(Self.conformanceIDs).sorted()
        #expect(missing.isEmpty, "ids missing from Docs/conformance.md: \(missing)")
        #expect(unknown.isEmpty, "ids in Docs/conformance.md that are not conformance ids: \(unknown)")
    }

    @Test("every id in Docs/conformance.md is carried by a test, in the file the document names")
    func everyIDHasATest() throws {
        let documented = try Self.documentedIDs()
        let carried = try Self.idsCarriedByTests()
        let everywhere = carried.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        #expect(!documented.isEmpty)
        for (id, file) in documented.sorted(by: { $0.key < $1.key }) {
            #expect(everywhere.contains(id), "no test carries \(id)")
            #expect(
                carried[file]?.contains(id) == true, "Docs/conformance.md names \(file) for \(id), which has no test carrying it")
        }
    }
}
