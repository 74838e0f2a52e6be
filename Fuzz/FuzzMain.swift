// The libFuzzer entry points. Scripts/fuzz.sh compiles this file with the
// library sources and Tests/OpenSSLTests/Fuzz/*.swift (the harness and the
// seeds) into one binary, `swiftc -sanitize=fuzzer,address`.
//
// Environment:
//   FUZZ_TARGET=<name>        which target to run (FuzzTarget's raw values)
//   FUZZ_WRITE_SEEDS=<dir>    write every target's seeds to <dir>/<target>/ and exit
import Foundation
import COpenSSL

/// The target this process fuzzes, set once in LLVMFuzzerInitialize before
/// any input runs; libFuzzer calls both entry points from one thread.
nonisolated(unsafe) private var selectedTarget: FuzzTarget = .x509PEM

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<Int32>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    if let directory = environment["FUZZ_WRITE_SEEDS"] {
        do {
            let seeds = try FuzzSeeds.make()
            for seed in seeds {
                let folder = URL(fileURLWithPath: directory).appendingPathComponent(seed.target.rawValue)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                try Data(seed.bytes).write(to: folder.appendingPathComponent(seed.name))
            }
            print("fuzz: wrote \(seeds.count) seeds to \(directory)")
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("fuzz: could not write seeds: \(error)\n".utf8))
            exit(2)
        }
    }
    guard let name = environment["FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("fuzz: set FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    selectedTarget = target
    // Build the TLS material now, not inside the first input.
    _ = FuzzHarness.material
    ERR_clear_error()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let outcome = FuzzHarness.run(selectedTarget, bytes)
    if outcome.leftOnQueue != 0 {
        // Not a crash, but a broken promise: report it as a finding.
        FileHandle.standardError.write(
            Data("fuzz: \(selectedTarget.rawValue) left an error on OpenSSL's queue:\n\(outcome.queueText)\n".utf8))
        abort()
    }
    return 0
}
