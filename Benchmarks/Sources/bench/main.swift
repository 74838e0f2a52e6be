// bench: runs the workloads of issue 8 for this library, the C reference
// and swift-nio-ssl, alternately in one process. Scripts/bench.sh drives it.
//
//   bench run [--quick] [--rounds N] [--seconds S] [--slices K] [--workloads w1,w3] [--impls swift,c,nio]
//             [--pki DIR] [--markdown FILE]
//   bench one --workload W --impl I --count N --pki DIR    (for callgrind: N operations, nothing else)
//   bench pki --out DIR                                     (write the certificates and keys)
//   bench allocs [--pki DIR]                                (allocations of the library's own layer)
//   bench idle --impl I --count N [--release] [--pki DIR]   (W7: KiB per idle pair, this process)
//   bench idle-table [--counts 1000,3000]                   (W7: every implementation and mode, a process each)
//   bench stime [--seconds 5] [--rounds 3] [--cases ecdsa-new,rsa-new,ecdsa-reuse] [--servers handler,nio,s_server]
//               [--pki DIR] [--markdown FILE]           (openssl s_time against NIO servers and s_server, real sockets)
//
// W8 (chain verification) runs under `run` with --impls c,swift,webpki: "swift" is
// X509Store under .openSSL, "webpki" under .webPKI(), "c" plain X509_verify_cert.
import Foundation

func value(_ name: String, in arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func loadPKI(_ arguments: [String]) throws -> PKI {
    if let directory = value("--pki", in: arguments) { return try PKI.load(from: directory) }
    return try PKI.generate()
}

func main() throws {
    let arguments = Array(CommandLine.arguments.dropFirst())
    switch arguments.first {
    case "pki":
        guard let directory = value("--out", in: arguments) else { throw BenchError("pki needs --out DIR") }
        try PKI.generate().write(to: directory)
    case "one":
        guard let workload = value("--workload", in: arguments).flatMap(Workload.init(rawValue:)),
            let implementation = value("--impl", in: arguments).flatMap(Implementation.init(rawValue:)),
            let count = value("--count", in: arguments).flatMap(Int.init)
        else {
            throw BenchError("one needs --workload W --impl swift|c|nio --count N")
        }
        let environments = Environments(pki: try loadPKI(arguments))
        guard let runner = try environments.runner(workload, implementation) else {
            throw BenchError("\(implementation.title) does not run \(workload.rawValue)")
        }
        try runner.run(count)
    case "allocs":
        let environments = Environments(pki: try loadPKI(arguments))
        for (name, perCall) in try libraryLayerAllocations(try environments.libraryEnvironment()) {
            print("| \(name) | \(formatMallocs(perCall)) |")
        }
    case "idle":
        guard let implementation = value("--impl", in: arguments).flatMap(Implementation.init(rawValue:)),
            let count = value("--count", in: arguments).flatMap(Int.init), count > 0
        else {
            throw BenchError("idle needs --impl swift|c|nio --count N")
        }
        let perPair = try IdleConnections.measure(
            implementation, count: count,
            release: arguments.contains("--release"), pki: try loadPKI(arguments))
        print(String(format: "%.2f", perPair))
    case "idle-table":
        let counts = try (value("--counts", in: arguments) ?? "1000,3000").split(separator: ",").map {
            guard let count = Int($0), count > 0 else { throw BenchError("bad count \($0)") }
            return count
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-idle-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try loadPKI(arguments).write(to: directory)
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        print(try IdleConnections.table(counts: counts, executable: executable, pkiDirectory: directory))
    case "stime":
        var options = STimeOptions()
        if let seconds = value("--seconds", in: arguments).flatMap(Int.init) { options.seconds = max(1, seconds) }
        if let rounds = value("--rounds", in: arguments).flatMap(Int.init) { options.rounds = max(1, rounds) }
        if let list = value("--cases", in: arguments) {
            options.cases = try list.split(separator: ",").map { name in
                guard let found = STimeCase.all.first(where: { $0.name == name }) else {
                    throw BenchError("unknown case \(name)")
                }
                return found
            }
        }
        if let list = value("--servers", in: arguments) {
            options.servers = try list.split(separator: ",").map {
                guard let kind = STimeServerKind(rawValue: String($0)) else { throw BenchError("unknown server \($0)") }
                return kind
            }
        }
        let text = sTimeTables(try measureSTime(options, pki: try loadPKI(arguments)))
        print(text)
        if let path = value("--markdown", in: arguments) {
            try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    case "run", nil:
        var options = TimingOptions()
        if arguments.contains("--quick") {
            options.rounds = 5
            options.batchSeconds = 0.08
            options.slices = 4
            options.bulkWrites = 2_048  // 32 MiB per batch
        }
        if let rounds = value("--rounds", in: arguments).flatMap(Int.init) { options.rounds = max(1, rounds) }
        if let seconds = value("--seconds", in: arguments).flatMap(Double.init) { options.batchSeconds = seconds }
        if let slices = value("--slices", in: arguments).flatMap(Int.init) { options.slices = max(1, slices) }
        if let list = value("--workloads", in: arguments) {
            options.workloads = try list.split(separator: ",").map {
                guard let workload = Workload(rawValue: String($0)) else { throw BenchError("unknown workload \($0)") }
                return workload
            }
        }
        if let list = value("--impls", in: arguments) {
            options.implementations = try list.split(separator: ",").map {
                guard let implementation = Implementation(rawValue: String($0)) else {
                    throw BenchError("unknown implementation \($0)")
                }
                return implementation
            }
        }
        let environments = Environments(pki: try loadPKI(arguments))
        let rows = try measure(options, environments: environments)
        let libraryRows = rows.filter { !$0.workload.isNIOHandlerWorkload && !$0.workload.isPolicyWorkload }
        let handlerRows = rows.filter { $0.workload.isNIOHandlerWorkload }
        let policyRows = rows.filter { $0.workload.isPolicyWorkload }
        let text = [
            libraryRows.isEmpty ? nil : table(libraryRows), handlerRows.isEmpty ? nil : handlerTable(handlerRows),
            policyRows.isEmpty ? nil : policyTable(policyRows),
        ]
        .compactMap { $0 }.joined(separator: "\n\n")
        print(text)
        if let path = value("--markdown", in: arguments) {
            try (text + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    default:
        throw BenchError("unknown command \(arguments[0]) (run, one, pki, allocs, idle, idle-table, stime)")
    }
}

do {
    try main()
} catch {
    log("bench: \(error)")
    exit(1)
}
