internal import COpenSSL

/// Versions of this library and of the OpenSSL it runs on.
public enum Version {
    /// This library's version.
    public static let library = "0.1.0"

    /// The OpenSSL library's version text at run time ("OpenSSL 3.0.19 27 Jan 2026").
    /// - SeeAlso: OpenSSL_version(3)
    public static var openSSL: String {
        String(cString: OpenSSL_version(OPENSSL_VERSION))
    }

    /// The OpenSSL version number at run time (0xMNN00PP0L).
    /// - SeeAlso: OpenSSL_version_num(3)
    public static var openSSLNumber: UInt {
        OpenSSL_version_num()
    }

    /// The OpenSSL version the library was compiled against.
    public static let openSSLHeaders: String = OPENSSL_VERSION_TEXT
}
