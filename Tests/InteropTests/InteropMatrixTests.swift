import Foundation
import Synchronization
import Testing
@testable import OpenSSL

/// The interop matrix (Docs/conformance.md): every case against every
/// peer × role, each cell a test case. Scripts/conformance.sh runs this
/// suite alone and prints the table from the report it writes.
///
/// Environment:
/// - `INTEROP_REPORT`: a file to append one line per cell to (tab-separated:
///   row index, case, column, passed/failed/skipped, seconds, note), and to
///   write the list of all cells to (`<file>.cells`);
/// - `INTEROP_JOBS`: cells run at once (default 4; cells mostly wait on
///   their peer process, so more than the core count pays);
/// - `INTEROP_REQUIRE_PEERS=1`: a missing peer program fails its cells
///   instead of skipping them (conformance.sh sets it).
@Suite("Interop matrix")
struct InteropMatrixTests {
    @Test("the matrix has at least 150 cells, six columns, and every case in each column")
    func matrixShape() throws {
        let cells = Cell.all
        #expect(cells.count >= 150)
        #expect(Set(cells.map(\.column)).count == 6)
        #expect(Set(cells.map(\.description)).count == cells.count, "cell names are unique")
        if let report = Report.path {
            let rows = Case.all
            let lines = Cell.selected.map { cell in
                let index = rows.firstIndex(of: cell.row) ?? 0
                return "\(index)\t\(cell.row.name)\t\(cell.column)"
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: report + ".cells", atomically: true, encoding: .utf8)
        }
    }

    @Test("interop cell", arguments: Cell.selected)
    func cell(_ cell: Cell) async throws {
        let outcome = await CellGate.shared.run(timedOut: .failed("the cell did not finish in 90 s", 90)) { () -> CellOutcome in
            let start = ContinuousClock.now
            func seconds() -> Double {
                let elapsed = ContinuousClock.now - start
                return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            }
            do {
                let note = try CellRunner.run(cell)
                return .passed(note, seconds())
            } catch let skip as CellSkip {
                if Report.requirePeers && skip.reason.contains("not installed") {
                    return .failed(skip.reason, seconds())
                }
                return .skipped(skip.reason)
            } catch {
                return .failed("\(error)", seconds())
            }
        }
        Report.record(cell, outcome)
        switch outcome {
        case .passed, .skipped:
            break
        case .failed(let message, _):
            Issue.record("\(cell): \(message)")
        }
    }
}

enum CellOutcome: Sendable {
    case passed(String, Double)
    case failed(String, Double)
    case skipped(String)
}

/// Lets at most `INTEROP_JOBS` cells run at once, each on a thread of its
/// own (a cell blocks on sockets and child processes; Swift's cooperative
/// pool must not be).
actor CellGate {
    static let shared = CellGate(limit: Int(ProcessInfo.processInfo.environment["INTEROP_JOBS"] ?? "") ?? 4)

    private var available: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { available = max(1, limit) }

    private func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            available += 1
        } else {
            waiting.removeFirst().resume()
        }
    }

    /// Runs `body` on a thread of its own once a slot is free. A body still
    /// running after `limit` seconds gives `timedOut` instead (its thread is
    /// abandoned; its peers die by their own `timeout` wrapper), so one stuck
    /// cell cannot stall the run.
    nonisolated func run<T: Sendable>(
        limit: Double = 90, timedOut: T,
        _ body: @escaping @Sendable () -> T
    ) async -> T {
        await acquire()
        let once = Mutex(false)
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            let finish: @Sendable (T) -> Void = { value in
                let first = once.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: value) }
            }
            Thread.detachNewThread { finish(body()) }
            DispatchQueue.global().asyncAfter(deadline: .now() + limit) { finish(timedOut) }
        }
        await release()
        return result
    }
}

/// The per-cell report Scripts/conformance.sh turns into the table.
enum Report {
    static let path = ProcessInfo.processInfo.environment["INTEROP_REPORT"].flatMap { $0.isEmpty ? nil : $0 }
    static let requirePeers = ProcessInfo.processInfo.environment["INTEROP_REQUIRE_PEERS"] == "1"

    static func record(_ cell: Cell, _ outcome: CellOutcome) {
        guard let path else { return }
        let index = Case.all.firstIndex(of: cell.row) ?? 0
        let (status, seconds, note): (String, Double, String)
        switch outcome {
        case .passed(let text, let time): (status, seconds, note) = ("passed", time, text)
        case .failed(let text, let time): (status, seconds, note) = ("failed", time, text)
        case .skipped(let text): (status, seconds, note) = ("skipped", 0, text)
        }
        let flat = note.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " | ")
        let line = "\(index)\t\(cell.row.name)\t\(cell.column)\t\(status)\t\(String(format: "%.2f", seconds))\t\(flat)\n"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // One write per line: O_APPEND keeps concurrent lines whole.
        _ = Array(line.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
