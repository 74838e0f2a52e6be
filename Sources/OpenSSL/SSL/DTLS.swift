#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
internal import COpenSSL

// DTLS: listen with a cookie exchange, retransmission timers, MTU, SRTP.
//
// A DTLS connection runs over memory BIOs (`Connection(context)`: move each
// datagram with bioRead/bioWrite) or over a datagram socket
// (`Connection(context, transport: UDPSocket)`: a datagram BIO on its
// descriptor).

extension Connection {
    /// DTLS server: waits for a ClientHello carrying a valid cookie. A
    /// ClientHello without one is answered with a HelloVerifyRequest (its
    /// cookie from the context's generate callback) and the call throws
    /// `.wantRead`; call again when the next datagram has arrived. When it
    /// returns, go on with `doHandshake()`.
    /// - Throws: `.wantRead` while the exchange goes on; `.callback` with an
    ///   error your cookie callbacks threw (or a `UsageError` for a missing
    ///   callback or a cookie longer than 255 bytes); `.ssl` otherwise.
    /// - SeeAlso: DTLSv1_listen(3)
    public func dtlsListen() throws(SSLError) {
        guard context.isDTLS else { throw .usage("dtlsListen: the connection is not DTLS") }
        guard let address = BIO_ADDR_new() else { throw .ssl(ErrorQueue.drain("DTLS listen")) }
        defer { BIO_ADDR_free(address) }
        // DTLSv1_listen answers 1 (a ClientHello with a valid cookie), 0 (go
        // on: nothing to read, or a HelloVerifyRequest sent) or -1, and sets
        // no SSL_get_error state: `drive`'s mapping does not fit, so this
        // loop does the same work (stale errors, callbacks, transport, EINTR).
        while true {
            ErrorQueue.clear()
            callbackError = nil
            if let transportBridge { _ = transportBridge.takeError() }
            errno = 0
            let result = DTLSv1_listen(raw, address)
            let callErrno = errno
            if result > 0 {
                ErrorQueue.clear()
                return
            }
            if let error = callbackError {
                callbackError = nil
                ErrorQueue.clear()
                throw .callback(error)
            }
            if let transportBridge, let error = transportBridge.takeError() {
                ErrorQueue.clear()
                throw .transport(error)
            }
            if result == 0 {
                // A blocking socket interrupted by a signal: wait again, as a
                // blocking call does; otherwise no ClientHello with a valid
                // cookie yet (a HelloVerifyRequest may have gone out).
                if callErrno == EINTR, case .descriptor(let transport) = io, transport.isBlockingDescriptor { continue }
                ErrorQueue.clear()
                throw .wantRead
            }
            let queue = ErrorQueue.drain("DTLS listen")
            if queue.entries.isEmpty, callErrno != 0 {
                throw .sysCall(errno: callErrno, queue)
            }
            throw .ssl(queue)
        }
    }

    /// The time left until the DTLS retransmission timer expires; nil when
    /// no timer runs (no flight is waiting for an answer).
    /// - SeeAlso: DTLSv1_get_timeout(3)
    public var dtlsTimeout: Duration? {
        var left = timeval()
        guard cossl_DTLSv1_get_timeout(raw, &left) == 1 else { return nil }
        return .seconds(Int64(left.tv_sec)) + .microseconds(Int64(left.tv_usec))
    }

    /// Handles an expired DTLS retransmission timer: retransmits the last
    /// flight. Returns true when it retransmitted, false when no timer had
    /// expired.
    /// - Throws: `SSLError` when retransmitting fails (too many retries,
    ///   I/O errors).
    /// - SeeAlso: DTLSv1_handle_timeout(3)
    @discardableResult
    public func handleDTLSTimeout() throws(SSLError) -> Bool {
        try drive("handle DTLS timeout", success: { $0 >= 0 }) { cossl_DTLSv1_handle_timeout(raw) } == 1
    }

    /// Sets the first DTLS retransmission timeout (OpenSSL's default is
    /// 1 s); later ones double, up to 60 s. Shorter suits a LAN or a test.
    /// - Throws: `UsageError` on a TLS connection, or for a duration below
    ///   1 ms or above 60 s.
    /// - SeeAlso: DTLS_set_timer_cb(3)
    public func setRetransmissionTimeout(initial: Duration) throws {
        guard context.isDTLS else {
            throw UsageError(operation: "set retransmission timeout", reason: "the connection is not DTLS")
        }
        guard initial >= .milliseconds(1), initial <= .seconds(60) else {
            throw UsageError(operation: "set retransmission timeout", reason: "it must be between 1 ms and 60 s")
        }
        let (seconds, attoseconds) = initial.components
        dtlsInitialTimeoutMicroseconds = UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        DTLS_set_timer_cb(raw, dtlsTimerTrampoline)
    }

    /// Sets the largest datagram (UDP payload, without IP and UDP headers)
    /// DTLS may send; handshake messages are fragmented to fit. Needed over
    /// memory BIOs, which cannot report a path MTU.
    /// - Throws: `UsageError` on a TLS connection; `OpenSSLError` for an MTU
    ///   below DTLS's minimum.
    /// - SeeAlso: SSL_set_mtu(3), SSL_OP_NO_QUERY_MTU
    public func setCiphertextMTU(_ mtu: Int) throws {
        guard context.isDTLS else {
            throw UsageError(operation: "set ciphertext MTU", reason: "the connection is not DTLS")
        }
        // Keep OpenSSL from replacing the value with one it queries from the BIO.
        SSL_set_options(raw, SSLOptions.noQueryMTU.rawValue)
        ErrorQueue.clear()
        guard cossl_SSL_set_mtu(raw, mtu) > 0 else {
            throw ErrorQueue.drain("set ciphertext MTU", detail: "\(mtu) is below the DTLS minimum")
        }
    }

    /// The most application data one DTLS record can carry within the MTU,
    /// given the negotiated cipher's overhead; nil before the handshake or on TLS.
    /// - SeeAlso: DTLS_get_data_mtu(3)
    public var cleartextMTU: Int? {
        guard context.isDTLS else { return nil }
        let mtu = DTLS_get_data_mtu(raw)
        ErrorQueue.clear()
        return mtu > 0 ? mtu : nil
    }

    /// The SRTP protection profile negotiated ("SRTP_AES128_CM_SHA1_80"), if any.
    /// - SeeAlso: SSL_get_selected_srtp_profile(3)
    public var selectedSRTPProfile: String? {
        SSL_get_selected_srtp_profile(raw).flatMap { $0.pointee.name }.map { String(cString: $0) }
    }
}

extension Context {
    /// Sets the SRTP protection profiles offered (client) or accepted
    /// (server) with the use_srtp extension, e.g.
    /// `["SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM"]`.
    /// - Throws: `UsageError` when the context is in use; `OpenSSLError` for
    ///   an empty list or an unknown profile.
    /// - SeeAlso: SSL_CTX_set_tlsext_use_srtp(3)
    public func setSRTPProfiles(_ profiles: [String]) throws {
        try ensureConfigurable("set SRTP profiles")
        guard !profiles.isEmpty else {
            throw OpenSSLError(operation: "set SRTP profiles", detail: "the profile list is empty")
        }
        let list = profiles.joined(separator: ":")
        ErrorQueue.clear()
        // 0 is success here.
        guard SSL_CTX_set_tlsext_use_srtp(raw, list) == 0 else {
            throw ErrorQueue.drain("set SRTP profiles '\(list)'")
        }
    }
}

/// The datagram BIO for a DTLS connection over a socket descriptor.
enum DatagramBIO {
    /// A datagram BIO on `descriptor` (which it does not close). When the
    /// socket is connected, the BIO is told its peer, so it sends with
    /// `send` to that peer.
    static func make(descriptor: Int32) throws -> OpaquePointer {
        let bio = try ErrorQueue.call("make datagram BIO") { BIO_new_dgram(descriptor, BIO_NOCLOSE) }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let connected =
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
            } == 0
        guard connected else { return bio }
        guard let peer = BIO_ADDR_new() else {
            BIO_free(bio)
            throw ErrorQueue.drain("make datagram BIO")
        }
        defer { BIO_ADDR_free(peer) }
        let family = Int32(storage.ss_family)
        let made: Int32 = withUnsafePointer(to: storage) { pointer in
            switch family {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var ip = address.pointee.sin_addr
                    return BIO_ADDR_rawmake(peer, AF_INET, &ip, MemoryLayout<in_addr>.size, address.pointee.sin_port)
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var ip = address.pointee.sin6_addr
                    return BIO_ADDR_rawmake(peer, AF_INET6, &ip, MemoryLayout<in6_addr>.size, address.pointee.sin6_port)
                }
            default:
                return 0
            }
        }
        guard made == 1 else {
            BIO_free(bio)
            throw ErrorQueue.drain("make datagram BIO", detail: "the socket's peer is not an IPv4 or IPv6 address")
        }
        _ = cossl_BIO_ctrl_set_connected(bio, peer)
        ErrorQueue.clear()
        return bio
    }
}
