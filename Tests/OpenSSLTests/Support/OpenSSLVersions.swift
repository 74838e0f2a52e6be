import COpenSSL
import OpenSSL

/// Where the OpenSSL the tests run on answers differently by version. The
/// suite runs on this machine's OpenSSL (Debian 12: 3.0) and on 3.5 in a
/// Debian 13 root (Scripts/matrix.sh); a test that meets one of these
/// differences expects each version's answer explicitly, keyed on the
/// version at run time (`Version.openSSLNumber`), never on "either".
enum RuntimeOpenSSL {
    /// The version at run time, 0xMNN00PP0.
    static let number = Version.openSSLNumber

    /// True on OpenSSL 3.5 or later.
    static let is3_5OrLater = number >= 0x3050_0000

    /// X25519MLKEM768's TLS group code point (draft-ietf-tls-ecdhe-mlkem).
    static let x25519MLKEM768CodePoint: Int32 = 0x11EC

    /// The group a TLS 1.3 handshake between two contexts with the default
    /// group list settles on: 3.5 puts the post-quantum hybrid
    /// X25519MLKEM768 first, 3.0 has X25519 first. (TLS 1.2 has no hybrid
    /// groups: X25519 on both.)
    static var defaultTLS13GroupName: String {
        is3_5OrLater ? "X25519MLKEM768" : "x25519"
    }

    /// `SSL_get_negotiated_group` for that group: X25519 has a NID; the hybrid
    /// has none, so OpenSSL reports `TLSEXT_nid_unknown | code point`.
    static var defaultTLS13GroupID: Int32 {
        is3_5OrLater ? Int32(TLSEXT_nid_unknown) | x25519MLKEM768CodePoint : NID_X25519
    }

    /// Whether a TLS 1.3 client with the default groups sees a peer
    /// temporary key: X25519's ephemeral key on 3.0; none on 3.5, where the
    /// hybrid KEM's server share is a ciphertext, not a key.
    static var defaultTLS13HasPeerTemporaryKey: Bool { !is3_5OrLater }

    /// `openssl x509/req/crl -text` arguments that print names the way
    /// `X509.text`, `X509Request.text` and `CRL.text` do (`CN = x`, bytes
    /// above 0x7F escaped). It is the tool's default up to 3.1; from 3.2 its
    /// default is `utf8` (`CN=x`, UTF-8 unescaped), so the tests name it.
    static let onelineNames = ["-nameopt", "oneline"]

    /// How the text of a subject alternative name prints a UPN otherName
    /// (`X509V3_EXT_print`): 3.0 puts a second colon after the type
    /// ("othername: UPN::a@b.c"), 3.5 does not ("othername: UPN:a@b.c").
    static func upnOtherName(_ value: String) -> String {
        is3_5OrLater ? "othername: UPN:\(value)" : "othername: UPN::\(value)"
    }

    /// How `openssl s_client` labels the server's ephemeral key: "Server
    /// Temp Key" on 3.0, "Peer Temp Key" on 3.5.
    static var sClientTemporaryKeyLabel: String { is3_5OrLater ? "Peer Temp Key" : "Server Temp Key" }

    /// The reason `Context.setGroups` gives for an unknown group name: 3.0
    /// queues "passed invalid argument"; 3.5 queues nothing, and the
    /// library says so itself.
    static var unknownGroupReason: String {
        is3_5OrLater ? "a group in the list is unknown or not supported" : "passed invalid argument"
    }
}
