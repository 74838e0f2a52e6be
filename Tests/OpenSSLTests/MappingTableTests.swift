import Testing
import Foundation

/// Docs/pyopenssl-mapping.md is the feature list: every public pyOpenSSL name
/// listed in Docs/pyopenssl-names.txt must have a row there.
@Suite("pyOpenSSL mapping table")
struct MappingTableTests {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Docs")

    /// The names of the list: whitespace-separated, `#` starts a comment line.
    static func names() throws -> [String] {
        let text = try String(contentsOf: docs.appendingPathComponent("pyopenssl-names.txt"), encoding: .utf8)
        return text.split(separator: "\n")
            .filter { !$0.hasPrefix("#") }
            .flatMap { $0.split(whereSeparator: \.isWhitespace) }
            .map(String.init)
    }

    @Test("Every pyOpenSSL name (crypto and SSL) has a row in the mapping table")
    func everyNameHasARow() throws {
        let names = try Self.names()
        #expect(names.count > 100)
        #expect(names.contains("Context.set_tlsext_servername_callback"))
        #expect(names.contains("crypto.X509"))
        let table = try String(contentsOf: Self.docs.appendingPathComponent("pyopenssl-mapping.md"), encoding: .utf8)
        let missing = names.filter { !table.contains("| `\($0)` |") }
        #expect(missing.isEmpty, "names without a row: \(missing)")
    }

    @Test("The table has no row for a name the list does not have, and no name twice")
    func noStrayRows() throws {
        let names = Set(try Self.names())
        let table = try String(contentsOf: Self.docs.appendingPathComponent("pyopenssl-mapping.md"), encoding: .utf8)
        let rows = table.split(separator: "\n").compactMap { line -> String? in
            guard let match = line.firstMatch(of: /^\| `([A-Za-z0-9_.]+)` \|/) else { return nil }
            return String(match.output.1)
        }
        #expect(rows.count == Set(rows).count, "duplicate rows")
        #expect(Set(rows).subtracting(names).isEmpty, "rows for unknown names: \(Set(rows).subtracting(names).sorted())")
    }
}
