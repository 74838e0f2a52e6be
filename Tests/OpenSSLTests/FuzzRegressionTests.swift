import Foundation
import Testing
import COpenSSL
@testable import OpenSSL

/// Replays what the fuzzer found (Tests/OpenSSLTests/Fixtures/fuzz-regressions/<target>/*)
/// through the same harness Scripts/fuzz.sh runs, and checks the harness
/// reaches the getters with its own seeds.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let directory = Fixtures.directory.appendingPathComponent("fuzz-regressions")

    /// Every saved input, as (target, file name).
    static var savedInputs: [(FuzzTarget, String)] {
        var inputs: [(FuzzTarget, String)] = []
        for target in FuzzTarget.allCases {
            let folder = directory.appendingPathComponent(target.rawValue)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            inputs += names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { (target, $0) }
        }
        return inputs
    }

    @Test("the regression folders are named after fuzz targets")
    func foldersNameTargets() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
            .filter { !$0.hasPrefix(".") && $0 != "README.md" }
        #expect(!folders.isEmpty)
        for folder in folders {
            #expect(FuzzTarget(rawValue: folder) != nil, "\(folder) is not a fuzz target")
        }
        #expect(!Self.savedInputs.isEmpty)
    }

    @Test(
        "each saved finding is handled in bounded time: no crash, no hang, nothing left on the error queue",
        .timeLimit(.minutes(2)))
    func replay() throws {
        for (target, name) in Self.savedInputs {
            let bytes = try Fixtures.bytes("fuzz-regressions/\(target.rawValue)/\(name)")
            let started = ContinuousClock.now
            let outcome = FuzzHarness.run(target, bytes)
            let took = ContinuousClock.now - started
            #expect(outcome.leftOnQueue == 0, "\(target.rawValue)/\(name) left: \(outcome.queueText)")
            #expect(took < .seconds(5), "\(target.rawValue)/\(name) took \(took)")
        }
        expectErrorQueueEmpty()
    }

    @Test(
        "each target accepts its seeds, so the fuzzer starts from inputs that reach every getter",
        arguments: FuzzTarget.allCases)
    func seedsAreAccepted(target: FuzzTarget) throws {
        let seeds = try FuzzSeeds.make().filter { $0.target == target }
        #expect(!seeds.isEmpty)
        for seed in seeds {
            let outcome = FuzzHarness.run(target, seed.bytes)
            #expect(outcome.accepted, "\(target.rawValue) refused its seed \(seed.name)")
            #expect(outcome.leftOnQueue == 0, "\(target.rawValue)/\(seed.name) left: \(outcome.queueText)")
        }
    }

    @Test("the harness refuses garbage for every target and leaves the error queue empty", arguments: FuzzTarget.allCases)
    func garbageIsRefused(target: FuzzTarget) {
        for garbage: [UInt8] in [
            [], [0], Array("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".utf8),
            [0x30, 0x82, 0xff, 0xff], [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00],
        ] {
            let outcome = FuzzHarness.run(target, garbage)
            #expect(!outcome.accepted, "\(target.rawValue) accepted \(garbage)")
            #expect(outcome.leftOnQueue == 0, "\(target.rawValue) left: \(outcome.queueText)")
        }
    }
}
