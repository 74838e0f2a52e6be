import Testing
import Foundation
import COpenSSL
@testable import OpenSSL

/// The error model (CONFORMANCE I04): failures carry the drained queue, and
/// nothing is ever left on it.
@Suite("Errors")
struct ErrorQueueTests {
    @Test("I04 a failing call drains the queue into its error")
    func failureDrainsQueue() throws {
        // Leave noise on the queue first: the library must clear it before its own call.
        leaveNoiseOnQueue()
        let error = try #require(throws: OpenSSLError.self) { try X509(pem: "nothing") }
        #expect(error.entries.count == 1)
        #expect(error.entries[0].libraryCode == ERR_LIB_PEM)
        #expect(error.entries[0].reasonCode == PEM_R_NO_START_LINE)
        #expect(error.entries[0].reason == "no start line")
        #expect(error.entries[0].data == "Expecting: CERTIFICATE")
        #expect(error.entries[0].description.hasPrefix("error:"))
        #expect(error.entries[0].description.contains(":PEM routines::no start line"))
        #expect(ERR_peek_error() == 0)
    }

    @Test("I04 a successful call that OpenSSL leaves noise behind still leaves the queue empty")
    func successLeavesQueueEmpty() throws {
        // Reading a bundle ends with PEM's "no start line" on the queue inside OpenSSL.
        let pem = try Fixtures.bytes("ed25519.pem")
        _ = try X509.chain(pem: pem)
        expectErrorQueueEmpty()
        leaveNoiseOnQueue()
        _ = try X509(pem: pem)
        expectErrorQueueEmpty()
    }

    @Test("I04 the queue is per thread and empty after failures on many threads")
    func perThread() async throws {
        let results = await withTaskGroup(of: (Bool, UInt).self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let failed = (try? X509(der: [0x30, 0x01, 0x00])) == nil
                    return (failed, ERR_peek_error())
                }
            }
            var all: [(Bool, UInt)] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0.0 && $0.1 == 0 })
    }

    @Test("Descriptions name the operation and the reason, outermost first")
    func descriptions() {
        let error = OpenSSLError(operation: "do a thing", detail: "because")
        #expect(error.description == "do a thing: because")
        #expect(error.reason == "because")
        #expect(OpenSSLError(operation: "x").description == "x: failed, and OpenSSL gave no reason")
        #expect(PassphraseError.required(operation: "load").description.contains("no passphrase"))
        #expect(PassphraseError.empty(operation: "load").description.contains("empty"))
    }

    @Test("Version reports the runtime OpenSSL 3")
    func version() {
        #expect(Version.openSSL.hasPrefix("OpenSSL 3."))
        #expect(Version.openSSLNumber >> 28 == 3)
        #expect(Version.openSSLHeaders.hasPrefix("OpenSSL 3."))
    }
}

/// Puts entries on the thread's queue by calling OpenSSL directly with bad input.
func leaveNoiseOnQueue() {
    let bytes: [UInt8] = [0x30, 0x01, 0xff]
    bytes.withUnsafeBufferPointer { buffer in
        var cursor = buffer.baseAddress
        _ = d2i_X509(nil, &cursor, buffer.count)
    }
    #expect(ERR_peek_error() != 0)
}

@Suite("Errors from the system library")
struct SystemErrorTests {
    @Test("A system-library entry reads as strerror's text, not a bare number")
    func systemReasonText() throws {
        let store = try X509Store()
        let error = try #require(throws: OpenSSLError.self) { try store.loadFile("/nonexistent/swift-openssl/ca.pem") }
        let system = error.entries.first { $0.libraryCode == ERR_LIB_SYS }
        #expect(system?.reason == String(cString: strerror(ENOENT)), "\(error)")
        expectErrorQueueEmpty()
    }

    /// Queues one entry the way ERR_raise does (a macro Swift cannot call).
    static func raise(library: Int32, reason: Int32) {
        ERR_new()
        ERR_set_debug(#file, #line, "raise")
        withVaList([]) { ERR_vset_error(library, reason, nil, $0) }
    }

    @Test(
        "S10 SSL_ERROR_SYSCALL with only the failed system call queued (OpenSSL 3.5's record layer; 3.0 queues nothing) is sysCall with its errno"
    )
    func sysCallWithQueuedSystemEntry() throws {
        ERR_clear_error()
        Self.raise(library: ERR_LIB_SYS, reason: EPIPE)
        let fromQueue = SSLError.from(code: SSL_ERROR_SYSCALL, result: -1, errno: 0, operation: "write")
        guard case .sysCall(let code, let detail) = fromQueue else {
            Issue.record("expected sysCall, got \(fromQueue)")
            return
        }
        #expect(code == EPIPE)
        #expect(detail.entries.map(\.libraryCode) == [ERR_LIB_SYS])
        #expect(detail.entries.first?.reason == String(cString: strerror(EPIPE)))
        expectErrorQueueEmpty()

        // errno saved right after the call is the call's own: it wins.
        Self.raise(library: ERR_LIB_SYS, reason: EPIPE)
        let withErrno = SSLError.from(code: SSL_ERROR_SYSCALL, result: -1, errno: ECONNRESET, operation: "write")
        guard case .sysCall(ECONNRESET, _) = withErrno else {
            Issue.record("expected sysCall(ECONNRESET), got \(withErrno)")
            return
        }

        // A library's own entry among them: a protocol failure, not I/O.
        Self.raise(library: ERR_LIB_SYS, reason: EPIPE)
        Self.raise(library: ERR_LIB_SSL, reason: SSL_R_BAD_LENGTH)
        let mixed = SSLError.from(code: SSL_ERROR_SYSCALL, result: -1, errno: 0, operation: "write")
        guard case .ssl(let error) = mixed else {
            Issue.record("expected ssl, got \(mixed)")
            return
        }
        #expect(error.entries.map(\.libraryCode) == [ERR_LIB_SYS, ERR_LIB_SSL])
        expectErrorQueueEmpty()
    }
}
