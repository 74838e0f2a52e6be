import Foundation
import Testing
@testable import OpenSSL
import TestSupport

/// An error a test's callback throws, recognisable when it comes back out.
struct TaggedError: Error, Equatable, CustomStringConvertible {
    let tag: String
    init(_ tag: String) { self.tag = tag }
    var description: String { "TaggedError(\(tag))" }
}

extension TLSPair.Failure {
    /// The error a callback threw, when the failure is `.callback`.
    var callbackError: (any Error)? {
        if case .callback(let error) = error { return error }
        return nil
    }
}

extension SSLError {
    /// The error a callback threw, when this is `.callback`.
    var callbackError: (any Error)? {
        if case .callback(let error) = self { return error }
        return nil
    }
}

/// Runs a handshake expected to fail; returns the failure (recording an issue when it succeeded).
func expectHandshakeFailure(_ pair: TLSPair, sourceLocation: SourceLocation = #_sourceLocation) -> TLSPair.Failure? {
    do {
        try pair.handshake()
        Issue.record("the handshake succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let failure as TLSPair.Failure {
        return failure
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Lower-case hex.
func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Contexts pinned to one TLS version.
enum VersionedContexts {
    static func server(_ version: ProtocolVersion) throws -> Context {
        let context = try TestContexts.server()
        try context.setMaximumProtocolVersion(version)
        return context
    }

    static func client(_ version: ProtocolVersion) throws -> Context {
        let context = try TestContexts.client()
        try context.setMaximumProtocolVersion(version)
        return context
    }
}

/// Both TLS versions, for tests that run on each.
let bothTLSVersions: [ProtocolVersion] = [.tls1_2, .tls1_3]
