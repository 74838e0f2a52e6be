import Foundation
internal import COpenSSL

// The C functions OpenSSL calls while it verifies a TLS peer. Each finds the
// `Connection` through the store context's SSL ex data, then its app data.

/// The SSL object a verification belongs to, found through the store
/// context's ex data (OpenSSL sets it for every TLS verification).
private func connection(of store: OpaquePointer) -> (OpaquePointer, Connection)? {
    let index = SSL_get_ex_data_X509_STORE_CTX_idx()
    guard index >= 0, let pointer = X509_STORE_CTX_get_ex_data(store, index) else { return nil }
    let ssl = OpaquePointer(pointer)
    guard let connection = Connection.from(ssl) else { return nil }
    return (ssl, connection)
}

/// `SSL_verify_cb` for the per-certificate callback. Never lets a Swift error cross into C.
func perCertificateVerifyTrampoline(_ ok: Int32, _ store: OpaquePointer?) -> Int32 {
    guard let store, let (_, connection) = connection(of: store) else { return ok }
    return connection.runPerCertificateCallback(ok: ok == 1, store: store)
}

/// The `SSL_CTX_set_cert_verify_callback` function installed on every context.
func chainVerifyTrampoline(_ store: OpaquePointer?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let store else { return 0 }
    guard let (ssl, connection) = connection(of: store) else {
        // Not one of ours (cannot happen for SSL made by Connection): OpenSSL's own verdict.
        return X509_verify_cert(store)
    }
    return connection.runPeerVerification(ssl: ssl, store: store)
}
