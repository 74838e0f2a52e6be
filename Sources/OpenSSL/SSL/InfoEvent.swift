internal import COpenSSL

/// One call of the info callback: where the handshake is, and any alert.
/// - SeeAlso: SSL_CTX_set_info_callback(3)
public struct InfoEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened (OpenSSL's `where` bits, `SSL_CB_*`).
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The handshake state machine moved.
        public static let loop = Kind(rawValue: SSL_CB_LOOP)
        /// A handshake function returned (`value` is its result).
        public static let exit = Kind(rawValue: SSL_CB_EXIT)
        /// Reading (with `.alert`: an alert was received).
        public static let read = Kind(rawValue: SSL_CB_READ)
        /// Writing (with `.alert`: an alert was sent).
        public static let write = Kind(rawValue: SSL_CB_WRITE)
        /// An alert; `InfoEvent.alert` describes it.
        public static let alert = Kind(rawValue: SSL_CB_ALERT)
        /// This side is the client.
        public static let connect = Kind(rawValue: SSL_ST_CONNECT)
        /// This side is the server.
        public static let accept = Kind(rawValue: SSL_ST_ACCEPT)
        /// A handshake started.
        public static let handshakeStart = Kind(rawValue: SSL_CB_HANDSHAKE_START)
        /// A handshake finished.
        public static let handshakeDone = Kind(rawValue: SSL_CB_HANDSHAKE_DONE)
    }

    /// An alert sent or received.
    public struct Alert: Sendable, Hashable, CustomStringConvertible {
        /// True when this side sent it, false when it came from the peer.
        public let isSent: Bool
        /// True for a fatal alert, false for a warning (close_notify is a warning).
        public let isFatal: Bool
        /// The alert's number (0 close_notify, 40 handshake_failure, 42 bad_certificate, 80 internal_error, …).
        public let code: Int32
        /// OpenSSL's name for it ("close notify", "handshake failure", …).
        public let text: String

        public var description: String {
            "\(isSent ? "sent" : "received") \(isFatal ? "fatal" : "warning") alert \(code) (\(text))"
        }
    }

    /// The `where` bits.
    public let kind: Kind
    /// OpenSSL's `ret` value: for an alert, the level in the high byte and
    /// the code in the low byte; for `.exit`, the function's result.
    public let value: Int32
    /// The handshake state at the event, as `SSL_state_string_long` words it.
    public let state: String

    /// True for the event that starts a handshake.
    public var isHandshakeStart: Bool { kind.contains(.handshakeStart) }
    /// True for the event that ends a handshake.
    public var isHandshakeDone: Bool { kind.contains(.handshakeDone) }

    /// The alert, when this event is one.
    public var alert: Alert? {
        guard kind.contains(.alert) else { return nil }
        let text = SSL_alert_desc_string_long(value).map { String(cString: $0) } ?? "unknown"
        return Alert(
            isSent: kind.contains(.write), isFatal: (value >> 8) == SSL3_AL_FATAL,
            code: value & 0xFF, text: text)
    }

    public var description: String {
        if let alert { return alert.description }
        if isHandshakeStart { return "handshake start" }
        if isHandshakeDone { return "handshake done" }
        return state
    }
}
