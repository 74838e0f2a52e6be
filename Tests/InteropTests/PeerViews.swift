import Foundation
@testable import OpenSSL
import TestSupport

/// What the peer itself reports about a connection, read from its output.
/// Each peer says it in its own words; these are the words.
extension CellRunner {
    /// The peer server saw (and accepted) the client certificate named `commonName`.
    static func peerSawClientCertificate(
        _ peer: PeerProcess, _ kind: PeerKind, commonName: String,
        scratch: TemporaryDirectory
    ) -> Bool {
        switch kind {
        case .openssl:
            return peer.waitForText("Peer certificate: CN = \(commonName)", timeout: 5)
        case .python:
            return peer.waitFor(timeout: 5) { _, stderr in
                Peers.pythonEvents(stderr).contains {
                    $0["event"] as? String == "handshake" && $0["peer_subject"] as? String == commonName
                }
            }
        case .gnutls:
            return peer.waitForText("CN=\(commonName)", timeout: 5)
        }
    }

    /// The peer server refused this library's client certificate.
    static func peerRefusedClientCertificate(_ peer: PeerProcess, _ kind: PeerKind, scratch: TemporaryDirectory) -> Bool {
        switch kind {
        case .openssl:
            return peer.waitForText("self-signed certificate", timeout: 5)
        case .python:
            return peer.waitFor(timeout: 5) { _, stderr in
                Peers.pythonEvents(stderr).contains { $0["event"] as? String == "error" && $0["verify_code"] as? Int == 18 }
            }
        case .gnutls:
            return peer.waitFor(timeout: 5) { out, err in
                let text = String(decoding: out, as: UTF8.self) + err
                // GnuTLS's GNUTLS_E_CERTIFICATE_ERROR, what --verify-client-cert gives for an untrusted certificate.
                return text.contains("Error in handshake: Error in the certificate")
            }
        }
    }

    /// The peer client refused this library's server certificate with `code`.
    static func peerRefusedServerCertificate(
        _ peer: PeerProcess, _ kind: PeerKind, _ code: X509VerificationError.Code,
        scratch: TemporaryDirectory
    ) -> Bool {
        let log = Peers.log(peer, kind, scratch: scratch)
        switch kind {
        case .openssl:
            return log.contains("verify error:num=\(code.rawValue):")
        case .python:
            return Peers.pythonEvents(peer).contains {
                $0["event"] as? String == "error" && $0["verify_code"] as? Int == Int(code.rawValue)
            }
        case .gnutls:
            return code == .hostnameMismatch
                ? log.contains("does not match the expected")
                : log.contains("issuer is unknown")
        }
    }

    /// The peer saw the connection end without close_notify.
    static func peerSawUncleanClose(_ peer: PeerProcess, _ kind: PeerKind, scratch: TemporaryDirectory) -> Bool {
        switch kind {
        case .python:
            return peer.waitForText("\"how\": \"eof\"", timeout: 5)
        case .openssl, .gnutls:
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline {
                let log = Peers.log(peer, kind, scratch: scratch)
                if log.contains("unexpected eof") || log.contains("non-properly terminated") { return true }
                usleep(20_000)
            }
            return false
        }
    }

    /// The peer saw the connection end with close_notify.
    static func peerSawCleanClose(_ peer: PeerProcess, _ kind: PeerKind, scratch: TemporaryDirectory) -> Bool {
        let log = Peers.log(peer, kind, scratch: scratch)
        switch kind {
        case .python:
            return log.contains("\"how\": \"close_notify\"")
        case .openssl:
            return peer.exit?.succeeded == true && !log.contains("unexpected eof")
        case .gnutls:
            return log.contains("Peer has closed the GnuTLS connection")
        }
    }
}
