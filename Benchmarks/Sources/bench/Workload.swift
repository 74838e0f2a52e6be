import Foundation

/// BENCH_GROUPS ("X25519:P-256", …): the key-exchange groups of every
/// context, in all three implementations; nil: each one's defaults (OpenSSL
/// 3.0: X25519 first; OpenSSL 3.5 and swift-nio-ssl 2.37: the X25519MLKEM768
/// hybrid first). Keep P-256 in the list: TLS 1.2 (W1c) offers an ECDSA P-256
/// certificate only to a client that lists P-256; TLS 1.3 clients send a key
/// share for the first group only, so "X25519:P-256" means X25519.
let benchGroups: [String]? = {
    guard let text = ProcessInfo.processInfo.environment["BENCH_GROUPS"] else { return nil }
    let groups = text.split(separator: ":").map(String.init)
    return groups.isEmpty ? nil : groups
}()

/// The workloads of issue 8. Both endpoints run in one process over memory
/// BIOs unless said otherwise.
enum Workload: String, CaseIterable, Sendable {
    case w1, w1b, w1c, w2, w3, w4, w5, w6
    /// The NIO handler's workloads (EmbeddedChannel pairs; the raw pump for reference).
    case n1, n2, n3
    /// Chain verification under the two verification policies (issue 16).
    case w8

    var isNIOHandlerWorkload: Bool { self == .n1 || self == .n2 || self == .n3 }
    var isPolicyWorkload: Bool { self == .w8 }

    var title: String {
        switch self {
        case .w1:
            return "W1 TLS 1.3 handshake, ECDSA P-256, "
                + (benchGroups.map { "groups " + $0.joined(separator: ":") } ?? "default groups")
        case .w1b: return "W1b TLS 1.3 handshake, RSA-2048"
        case .w1c: return "W1c TLS 1.2 handshake, ECDHE-ECDSA-AES128-GCM-SHA256"
        case .w2: return "W2 bulk, 16 KiB writes, TLS 1.3 AES-128-GCM"
        case .w3: return "W3 64-byte request + 64-byte response"
        case .w4: return "W4 mutual TLS, whole-chain hook + SHA-256 fingerprint"
        case .w5: return "W5 parse ca-certificates.crt: subject, SANs, SHA-256"
        case .w6: return "W6 W1 over TCP on 127.0.0.1 (two threads)"
        case .n1: return "N1 handshake + close_notify both ways, TLS 1.3 ECDSA"
        case .n2: return "N2 bulk, 16 KiB writes, TLS 1.3 AES-128-GCM"
        case .n3: return "N3 64-byte request + 64-byte response"
        case .w8: return "W8 verify root → intermediate → leaf (P-256), X509Store, host checked"
        }
    }

    /// What one operation is, for the table's unit.
    var unit: String {
        switch self {
        case .w1, .w1b, .w1c, .w4, .w6, .n1: return "handshakes/s"
        case .w2, .n2: return "MB/s"
        case .w3, .n3: return "round trips/s"
        case .w5: return "certificates/s"
        case .w8: return "verifications/s"
        }
    }

    /// An operation's size in the unit: W2's operation is one 16 KiB write
    /// (reported in MB/s), W5's one pass over the bundle (reported per certificate).
    func unitsPerOperation(certificatesInBundle: Int) -> Double {
        switch self {
        case .w2, .n2: return 16_384 / 1e6
        case .w5: return Double(certificatesInBundle)
        default: return 1
        }
    }

    /// Operations run once, untimed, before the malloc count, and then counted.
    var mallocOperations: Int {
        switch self {
        case .w1, .w1b, .w1c, .w4, .w6, .n1: return 20
        case .w2, .n2: return 512
        case .w3, .n3: return 2_000
        case .w5: return 1
        case .w8: return 200
        }
    }
}

/// Who runs a workload.
enum Implementation: String, CaseIterable, Sendable {
    case swift, c, nio
    /// This library's OpenSSLNIO handlers (N workloads only).
    case handler
    /// This library under `VerificationPolicy.webPKI()` (W8 only; "swift" is `.openSSL` there).
    case webPKI = "webpki"

    var title: String {
        switch self {
        case .swift: return "this library"
        case .c: return "C (libssl)"
        case .nio: return "swift-nio-ssl"
        case .handler: return "OpenSSLNIO handlers"
        case .webPKI: return "this library, .webPKI"
        }
    }
}

/// Runs `count` operations of one workload.
protocol Runner: AnyObject {
    func run(_ count: Int) throws
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
