internal import COpenSSL

/// One call of OpenSSL's per-certificate verify callback
/// (`X509_STORE_CTX_verify_cb`): what it is told about the certificate, and
/// how the Swift answer goes back to OpenSSL.
///
/// The one model behind both per-certificate callbacks:
/// `Context.VerifyCallback` (pyOpenSSL's shape, on a TLS connection, with
/// the connection) and `X509StoreContext.VerifyCallback` (a verification on
/// its own). Both see the same values, read here, and their answers mean
/// the same thing:
/// - true accepts the certificate: an error OpenSSL found is overridden
///   (the store context's error becomes `X509_V_OK`, as with pyOpenSSL);
/// - false refuses it: OpenSSL's error stays, or becomes
///   `applicationVerification` when OpenSSL had found none;
/// - a thrown error refuses it the same way, and is handed to `record` for
///   the call that drove the verification to throw.
enum PerCertificateVerification {
    /// The certificate OpenSSL is at, its depth and the error it found there.
    static func info(of store: OpaquePointer) -> X509StoreContext.VerifyInfo {
        let info = X509StoreContext.VerifyInfo(
            certificate: X509_STORE_CTX_get_current_cert(store).flatMap { try? X509(borrowing: $0) },
            depth: Int(X509_STORE_CTX_get_error_depth(store)),
            error: X509VerificationError.Code(rawValue: X509_STORE_CTX_get_error(store))
        )
        ErrorQueue.clear()
        return info
    }

    /// Runs `decide` on OpenSSL's verdict `ok` for the current certificate
    /// and returns what the C callback returns (1 go on, 0 stop).
    static func run(
        ok: Bool, store: OpaquePointer, decide: (X509StoreContext.VerifyInfo) throws -> Bool,
        record: (any Error) -> Void
    ) -> Int32 {
        let accepted: Bool
        do {
            accepted = try decide(info(of: store))
        } catch {
            record(error)
            accepted = false
        }
        if accepted {
            if !ok { X509_STORE_CTX_set_error(store, X509_V_OK) }
            return 1
        }
        if X509_STORE_CTX_get_error(store) == X509_V_OK {
            X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION)
        }
        return 0
    }
}
