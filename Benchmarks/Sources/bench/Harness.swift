import CBench
import Foundation
import MallocCounter

/// Monotonic time in seconds.
func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Every implementation's environment, made only when needed.
final class Environments {
    let pki: PKI
    let bundlePath = "/etc/ssl/certs/ca-certificates.crt"
    private var c: CEnvironment?
    private var library: LibraryEnvironment?
    private var nio: NIOEnvironment?
    private var bundleData: (bytes: [UInt8], count: Int)?

    init(pki: PKI) { self.pki = pki }

    func cEnvironment() throws -> CEnvironment {
        if let c { return c }
        let made = try CEnvironment(pki)
        c = made
        return made
    }

    func libraryEnvironment() throws -> LibraryEnvironment {
        if let library { return library }
        let made = try LibraryEnvironment(pki)
        library = made
        return made
    }

    func nioEnvironment() throws -> NIOEnvironment {
        if let nio { return nio }
        let made = try NIOEnvironment(pki)
        nio = made
        return made
    }

    /// The CA bundle and how many certificates the C reference finds in it.
    func bundle() throws -> (bytes: [UInt8], count: Int) {
        if let bundleData { return bundleData }
        guard let data = FileManager.default.contents(atPath: bundlePath) else { throw BenchError("cannot read \(bundlePath)") }
        let bytes = Array(data)
        let count = bytes.withUnsafeBytes { cb_parse_bundle($0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard count > 0 else { throw BenchError("C found no certificate in \(bundlePath)") }
        bundleData = (bytes, count)
        return (bytes, count)
    }

    /// The runner for one workload and implementation; nil where it does not apply.
    func runner(_ workload: Workload, _ implementation: Implementation) throws -> Runner? {
        switch implementation {
        case .c:
            let env = try cEnvironment()
            switch workload {
            case .w1: return CHandshakes(env, kind: Int32(CB_ECDSA13))
            case .w1b: return CHandshakes(env, kind: Int32(CB_RSA13))
            case .w1c: return CHandshakes(env, kind: Int32(CB_ECDSA12))
            case .w4: return CHandshakes(env, kind: Int32(CB_MTLS13))
            case .w2: return try CBulk(env)
            case .w3: return try CRoundTrips(env)
            case .w5:
                let b = try bundle()
                return CParse(bundle: b.bytes, expected: b.count)
            case .w6: return CTCP(env)
            case .w8: return try CVerify(pki)
            case .n1, .n2, .n3: return nil  // the handler's workloads compare Swift layers
            }
        case .swift:
            // BENCH_AA=1: W1's "this library" column runs the C reference too, an A/A check of the harness.
            if ProcessInfo.processInfo.environment["BENCH_AA"] == "1", workload == .w1 {
                return CHandshakes(try cEnvironment(), kind: Int32(CB_ECDSA13))
            }
            let env = try libraryEnvironment()
            switch workload {
            case .w1: return LibraryHandshakes(client: env.client, server: env.ecdsaServer)
            case .w1b: return LibraryHandshakes(client: env.client, server: env.rsaServer)
            case .w1c: return LibraryHandshakes(client: env.client, server: env.tls12Server)
            case .w4: return LibraryHandshakes(client: env.mutualClient, server: env.mutualServer)
            case .w2: return try LibraryBulk(env)
            case .w3: return try LibraryRoundTrips(env)
            case .w5:
                let b = try bundle()
                return LibraryParse(bundle: b.bytes, expected: b.count)
            case .w6: return try LibraryTCP(env)
            // The raw Connection pump under the handlers.
            case .n1: return LibraryHandshakesWithClose(client: env.client, server: env.ecdsaServer)
            case .n2: return try LibraryBulk(env)
            case .n3: return try LibraryRoundTrips(env)
            case .w8: return try LibraryVerify(pki, policy: .openSSL)
            }
        case .webPKI:
            return workload == .w8 ? try LibraryVerify(pki, policy: try .webPKI()) : nil
        case .nio:
            switch workload {
            case .w5, .w6, .w8: return nil  // no certificate-inspection or store API / not an in-memory workload
            default: break
            }
            let env = try nioEnvironment()
            switch workload {
            case .w1, .n1: return EmbeddedHandshakes { try .nioSSL(client: env.client, server: env.ecdsaServer) }
            case .w1b: return EmbeddedHandshakes { try .nioSSL(client: env.client, server: env.rsaServer) }
            case .w1c: return EmbeddedHandshakes { try .nioSSL(client: env.client, server: env.tls12Server) }
            case .w4: return EmbeddedHandshakes { try .nioSSL(client: env.mutualClient, server: env.mutualServer, mutual: true) }
            case .w2, .n2: return EmbeddedBulk(try .nioSSL(client: env.client, server: env.ecdsaServer))
            case .w3, .n3: return EmbeddedRoundTrips(try .nioSSL(client: env.client, server: env.ecdsaServer))
            case .w5, .w6, .w8: return nil
            }
        case .handler:
            let env = try libraryEnvironment()
            switch workload {
            case .n1: return EmbeddedHandshakes { try .openSSLNIO(client: env.client, server: env.ecdsaServer) }
            case .n2: return EmbeddedBulk(try .openSSLNIO(client: env.dataClient, server: env.dataServer))
            case .n3: return EmbeddedRoundTrips(try .openSSLNIO(client: env.dataClient, server: env.dataServer))
            default: return nil
            }
        }
    }
}

struct Row {
    let workload: Workload
    let count: Int
    var rates: [Implementation: [Double]] = [:]
    var ratios: [Implementation: [Double]] = [:]  // per round, against C
    var mallocs: [Implementation: Double] = [:]

    func medianRate(_ implementation: Implementation) -> Double? {
        rates[implementation].map(median)
    }

    /// The median over rounds of `implementation`'s rate divided by `reference`'s in the same round.
    func medianRatio(_ implementation: Implementation, to reference: Implementation) -> Double? {
        guard let mine = rates[implementation], let theirs = rates[reference], mine.count == theirs.count,
            !mine.isEmpty
        else { return nil }
        return median(zip(mine, theirs).map { $0 / $1 })
    }

    func medianRatio(_ implementation: Implementation) -> Double? {
        ratios[implementation].map(median)
    }
}

struct TimingOptions {
    var rounds = 7
    var batchSeconds = 0.4
    var bulkWrites = 16_384  // 256 MiB per batch
    var slices = 8
    var workloads = Workload.allCases
    var implementations = Implementation.allCases
}

func log(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Runs each workload's implementations alternately, round after round, in this process.
func measure(_ options: TimingOptions, environments: Environments) throws -> [Row] {
    var rows: [Row] = []
    for workload in options.workloads {
        var runners: [(Implementation, Runner)] = []
        for implementation in options.implementations {
            if let runner = try environments.runner(workload, implementation) { runners.append((implementation, runner)) }
        }
        guard let reference = runners.first(where: { $0.0 == .c })?.1 ?? runners.first?.1 else { continue }

        // One batch size for every implementation: calibrated on the C reference.
        var count: Int
        if workload == .w2 {
            count = options.bulkWrites
        } else {
            count = 1
            var elapsed = try timed { try reference.run(count) }
            while elapsed < options.batchSeconds / 8 {
                count *= 2
                elapsed = try timed { try reference.run(count) }
            }
            count = max(1, Int((Double(count) * options.batchSeconds / elapsed).rounded()))
        }
        let units = workload.unitsPerOperation(certificatesInBundle: workload == .w5 ? try environments.bundle().count : 0)
        log("\(workload.title): \(count) operations per batch in \(options.slices) slices, \(options.rounds) rounds")

        // Warm-up, then rounds: A B C, B C A, C A B, …
        for (_, runner) in runners { try runner.run(max(1, count / 4)) }
        var row = Row(workload: workload, count: count)
        // Each round's batch is cut into slices run in turn (A B C A B C …),
        // so the implementations share whatever the machine is doing.
        let slices = max(1, min(options.slices, count))
        let perSlice = count / slices
        let batch = perSlice * slices
        for round in 0..<options.rounds {
            var elapsed: [Implementation: Double] = [:]
            for slice in 0..<slices {
                for index in 0..<runners.count {
                    let (implementation, runner) = runners[(index + round + slice) % runners.count]
                    elapsed[implementation, default: 0] += try timed { try runner.run(perSlice) }
                }
            }
            var thisRound: [Implementation: Double] = [:]
            for (implementation, seconds) in elapsed {
                let rate = Double(batch) * units / seconds
                thisRound[implementation] = rate
                row.rates[implementation, default: []].append(rate)
            }
            if let c = thisRound[.c] {
                for (implementation, rate) in thisRound { row.ratios[implementation, default: []].append(rate / c) }
            }
        }

        // Allocations per operation, in steady state (after the rounds above).
        for (implementation, runner) in runners {
            let operations = workload.mallocOperations
            try runner.run(operations)
            mc_start()
            try runner.run(operations)
            row.mallocs[implementation] = Double(mc_stop()) / Double(operations)
        }
        rows.append(row)
        log(
            "  "
                + Implementation.allCases.compactMap { implementation in
                    row.medianRate(implementation).map { "\(implementation.rawValue) \(format($0))" }
                }.joined(separator: ", "))
    }
    return rows
}

func format(_ value: Double) -> String {
    if value.isNaN { return "—" }
    if value >= 100 {
        let rounded = Int(value.rounded())
        var digits = String(rounded)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        return digits + grouped
    }
    return String(format: value >= 10 ? "%.1f" : "%.2f", value)
}

func formatRatio(_ value: Double?) -> String {
    guard let value, !value.isNaN else { return "—" }
    return String(format: "%.2f", value)
}

func formatMallocs(_ value: Double?) -> String {
    guard let value else { return "—" }
    if value == value.rounded() { return String(Int(value)) }
    return String(format: value < 10 ? "%.2f" : "%.0f", value)
}

/// The NIO handler's table (N1-N3): the handlers beside NIOSSLHandler and the raw pump.
func handlerTable(_ rows: [Row]) -> String {
    var lines = [
        "| workload | unit | OpenSSLNIO handlers | NIOSSLHandler | raw Connection pump | handlers / NIOSSLHandler | handlers / pump | mallocs/op handlers | NIOSSLHandler | pump |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows {
        let cells = [
            row.workload.title, row.workload.unit,
            row.medianRate(.handler).map(format) ?? "—", row.medianRate(.nio).map(format) ?? "—",
            row.medianRate(.swift).map(format) ?? "—",
            formatRatio(row.medianRatio(.handler, to: .nio)), formatRatio(row.medianRatio(.handler, to: .swift)),
            formatMallocs(row.mallocs[.handler]), formatMallocs(row.mallocs[.nio]), formatMallocs(row.mallocs[.swift]),
        ]
        lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n")
}

/// W8's table: the two policies side by side, and the C reference.
/// "webPKI / openSSL" is the time of a `.webPKI` verification over an
/// `.openSSL` one (the median of the per-round ratios): 1.15 means the
/// policy adds 15 %.
func policyTable(_ rows: [Row]) -> String {
    var lines = [
        "| workload | unit | .openSSL | .webPKI | C (X509_verify_cert) | time .webPKI / .openSSL | time .openSSL / C | mallocs/op .openSSL | .webPKI | C |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows {
        let cells = [
            row.workload.title, row.workload.unit,
            row.medianRate(.swift).map(format) ?? "—", row.medianRate(.webPKI).map(format) ?? "—",
            row.medianRate(.c).map(format) ?? "—",
            formatRatio(row.medianRatio(.swift, to: .webPKI)), formatRatio(row.medianRatio(.c, to: .swift)),
            formatMallocs(row.mallocs[.swift]), formatMallocs(row.mallocs[.webPKI]), formatMallocs(row.mallocs[.c]),
        ]
        lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n")
}

/// The results table (Markdown).
func table(_ rows: [Row]) -> String {
    var lines = [
        "| workload | unit | this library | C (libssl) | swift-nio-ssl | library / C | nio / C | mallocs/op library | C | nio |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows {
        let cells = [
            row.workload.title, row.workload.unit,
            row.medianRate(.swift).map(format) ?? "—", row.medianRate(.c).map(format) ?? "—",
            row.medianRate(.nio).map(format) ?? "—",
            formatRatio(row.medianRatio(.swift)), formatRatio(row.medianRatio(.nio)),
            formatMallocs(row.mallocs[.swift]), formatMallocs(row.mallocs[.c]), formatMallocs(row.mallocs[.nio]),
        ]
        lines.append("| " + cells.joined(separator: " | ") + " |")
    }
    return lines.joined(separator: "\n")
}
