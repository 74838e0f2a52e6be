import OpenSSL

/// An error of the handshake, fired through `errorCaught` and failing the
/// handshake result, around OpenSSL's own `SSLError`.
///
/// Every other TLS error reaches `errorCaught` as the `SSLError` itself: a
/// peer that ended the stream without close_notify after the handshake is
/// `SSLError.sysCall(errno: -1, …)` (`isUnexpectedEOF`, the "unclean
/// shutdown" that HTTP clients often ignore); a bad record is `.ssl(…)` with
/// OpenSSL's reason. The handshake gets this wrapper so the same end of
/// stream during the handshake, which is a failure to connect, is never
/// mistaken for (and ignored as) an unclean shutdown.
public enum OpenSSLHandshakeError: Error, Sendable, CustomStringConvertible {
    /// The handshake did not complete. The `SSLError` is OpenSSL's reason:
    /// `.ssl` with e.g. "certificate verify failed", `.sysCall(errno: -1, …)`
    /// when the peer ended the stream, `.callback` for an error your
    /// verification hook threw, `.usage` for a client handler without a
    /// server host name on a context that verifies host names.
    case failed(SSLError)
    /// The channel closed (or the handler was removed) before the handshake completed.
    case channelClosed

    /// The `SSLError` behind the failure, if any.
    public var sslError: SSLError? {
        if case .failed(let error) = self { return error }
        return nil
    }

    public var description: String {
        switch self {
        case .failed(let error): return "TLS handshake failed: \(error)"
        case .channelClosed: return "TLS handshake failed: the channel closed before it completed"
        }
    }
}
