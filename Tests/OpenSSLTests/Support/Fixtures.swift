import Foundation
import Testing
import COpenSSL

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
