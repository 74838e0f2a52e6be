import Foundation
internal import COpenSSL

/// A failure reported by OpenSSL: the thread's error queue, drained at the
/// moment the failing call returned.
///
/// Every call the library makes into OpenSSL that can fail clears the thread's
/// error queue first and drains it on failure, so an `OpenSSLError` holds the
/// entries of that call and of no other, and nothing is ever left on the queue
/// for the next caller.
///
/// `entries` is in the order OpenSSL queued them: the first is the innermost
/// cause, the last is what the outermost function reported.
public struct OpenSSLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One entry of OpenSSL's error queue (`ERR_get_error_all(3)`).
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// The packed error code (`ERR_PACK`): library and reason together.
        public let code: UInt
        /// The library number (`ERR_GET_LIB`), e.g. `ERR_LIB_PEM` = 9.
        public let libraryCode: Int32
        /// The reason number within its library (`ERR_GET_REASON`).
        public let reasonCode: Int32
        /// The library's name, as `ERR_lib_error_string(3)` gives it ("PEM routines").
        public let library: String?
        /// The reason's text, as `ERR_reason_error_string(3)` gives it ("no start line").
        public let reason: String?
        /// The OpenSSL function that queued the entry, when known.
        public let function: String?
        /// The OpenSSL source file that queued the entry.
        public let file: String?
        /// The line in `file`.
        public let line: Int32
        /// Extra text OpenSSL attached to the entry (`ERR_raise_data`), if any.
        public let data: String?

        /// The entry the way `ERR_error_string_n(3)` renders it.
        public var description: String {
            let hex = String(code, radix: 16, uppercase: true)
            var text = "error:" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex + ":"
            text += library ?? "lib(\(libraryCode))"
            text += "::"
            text += reason ?? "reason(\(reasonCode))"
            if let data, !data.isEmpty { text += ":" + data }
            return text
        }
    }

    /// What the library was doing when OpenSSL failed, e.g. `"read certificate (PEM)"`.
    public let operation: String
    /// The drained queue, innermost cause first. Empty when OpenSSL failed
    /// without saying why, or when the binding itself refused the input
    /// (then `detail` says why).
    public let entries: [Entry]
    /// An explanation from the binding when OpenSSL queued nothing useful.
    public let detail: String?

    /// Makes an error. The library creates these; it is public so callers and
    /// tests can build expected values and wrap their own failures.
    public init(operation: String, entries: [Entry] = [], detail: String? = nil) {
        self.operation = operation
        self.entries = entries
        self.detail = detail
    }

    /// The reason of the outermost entry (the one OpenSSL reported last), or
    /// `detail` when the queue was empty.
    public var reason: String? {
        entries.last?.reason ?? detail
    }

    /// True when any entry carries `reason` (compared case-insensitively with
    /// OpenSSL's reason text, e.g. `"bad decrypt"`).
    public func hasReason(_ reason: String) -> Bool {
        entries.contains { $0.reason?.lowercased() == reason.lowercased() }
    }

    /// True when any entry has this library and reason number.
    public func hasReason(library: Int32, reason: Int32) -> Bool {
        entries.contains { $0.libraryCode == library && $0.reasonCode == reason }
    }

    /// `operation: reason (library) <- cause …`, outermost first.
    public var description: String {
        var parts: [String] = []
        if let detail { parts.append(detail) }
        for entry in entries.reversed() {
            var text = entry.reason ?? "reason \(entry.reasonCode)"
            if let lib = entry.library { text += " (\(lib))" }
            if let data = entry.data, !data.isEmpty { text += " [\(data)]" }
            parts.append(text)
        }
        if parts.isEmpty { parts.append("failed, and OpenSSL gave no reason") }
        return operation + ": " + parts.joined(separator: "; ")
    }
}

/// The thread's OpenSSL error queue. Every OpenSSL call in the library goes
/// through `ErrorQueue.call`/`check` (or clears and drains by hand where the
/// failure value is unusual), so the queue is empty before and after it.
enum ErrorQueue {
    /// Pops every entry from the calling thread's queue, oldest first.
    static func drainEntries() -> [OpenSSLError.Entry] {
        var entries: [OpenSSLError.Entry] = []
        while true {
            var file: UnsafePointer<CChar>?
            var line: Int32 = 0
            var function: UnsafePointer<CChar>?
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(&file, &line, &function, &data, &flags)
            if code == 0 { break }
            let lib = cossl_ERR_GET_LIB(code)
            let reason = cossl_ERR_GET_REASON(code)
            entries.append(
                OpenSSLError.Entry(
                    code: code,
                    libraryCode: lib,
                    reasonCode: reason,
                    library: ERR_lib_error_string(code).map { String(cString: $0) },
                    // System-library entries carry an errno as their reason; OpenSSL 3.0 has no text for it.
                    reason: ERR_reason_error_string(code).map { String(cString: $0) }
                        ?? (lib == ERR_LIB_SYS ? String(cString: strerror(reason)) : nil),
                    function: function.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 },
                    file: file.map { String(cString: $0) },
                    line: line,
                    data: (flags & ERR_TXT_STRING) != 0 ? data.map { String(cString: $0) } : nil
                ))
        }
        return entries
    }

    /// Drains the queue into an error for `operation`.
    static func drain(_ operation: String, detail: String? = nil) -> OpenSSLError {
        OpenSSLError(operation: operation, entries: drainEntries(), detail: detail)
    }

    /// Discards whatever is on the queue (noise that some successful calls leave).
    ///
    /// Looks first and clears only a queue that holds something:
    /// `ERR_clear_error` resets all 16 slots of the thread's queue, freeing
    /// each one's data, which cost a third of this library's time on a small
    /// round trip when it ran before every call (Benchmarks/results.md).
    @inline(__always)
    static func clear() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// Runs an OpenSSL call that returns a pointer (or any optional): `nil`
    /// is failure. The queue is cleared before the call and is empty after it
    /// whatever happens; on failure its entries are thrown.
    @inline(__always)
    static func call<T>(_ operation: @autoclosure () -> String, _ body: () -> T?) throws(OpenSSLError) -> T {
        clear()
        guard let value = body() else { throw drain(operation()) }
        clear()
        return value
    }

    /// Runs an OpenSSL call that returns an `int` where 1 (or any positive
    /// value) is success and 0 or a negative value is failure.
    @inline(__always)
    @discardableResult
    static func check(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(OpenSSLError) -> Int32 {
        clear()
        let result = body()
        guard result > 0 else { throw drain(operation()) }
        clear()
        return result
    }
}
