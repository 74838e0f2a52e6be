import Foundation
internal import COpenSSL

// The Swift side of the feature trampolines (FeatureTrampolines.swift): each
// runs one connection's closure, stores what it throws in `callbackError`
// and answers OpenSSL with that callback's failure value.

extension Connection {
    func runServerNameCallback(alert: UnsafeMutablePointer<Int32>?) -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.serverName else { return SSL_TLSEXT_ERR_NOACK }
        do {
            try callback(self)
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            alert?.pointee = SSL_AD_INTERNAL_ERROR
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runALPNSelect(
        out: UnsafeMutablePointer<UnsafePointer<UInt8>?>, outLength: UnsafeMutablePointer<UInt8>,
        offered: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.alpnSelect else { return SSL_TLSEXT_ERR_NOACK }
        let entries = ALPN.parse(offered)
        let names = entries.map { String(decoding: offered[$0], as: UTF8.self) }
        do {
            guard let choice = try callback(self, names) else { return SSL_TLSEXT_ERR_NOACK }
            guard let index = names.firstIndex(of: choice), let base = offered.baseAddress else {
                throw UsageError(
                    operation: "ALPN select",
                    reason: "the callback chose \"\(choice)\", which the client did not offer (\(names))")
            }
            // Point into the client's list: OpenSSL copies the choice before the buffer goes away.
            let range = entries[index]
            out.pointee = base + range.lowerBound
            outLength.pointee = UInt8(range.count)
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runOCSPServerCallback() -> Int32 {
        if callbackError != nil { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let callback = callbacks.ocspServer else { return SSL_TLSEXT_ERR_NOACK }
        do {
            guard let response = try callback(self), !response.isEmpty else { return SSL_TLSEXT_ERR_NOACK }
            // OpenSSL takes ownership of the copy and frees it with OPENSSL_free.
            guard let copy = CRYPTO_malloc(response.count, #fileID, #line) else {
                throw ErrorQueue.drain("staple OCSP response", detail: "out of memory")
            }
            response.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress { copy.copyMemory(from: base, byteCount: bytes.count) }
            }
            guard
                cossl_SSL_set_tlsext_status_ocsp_resp(
                    raw, copy.assumingMemoryBound(to: UInt8.self),
                    response.count) == 1
            else {
                cossl_OPENSSL_free(copy)
                throw ErrorQueue.drain("staple OCSP response")
            }
            return SSL_TLSEXT_ERR_OK
        } catch {
            callbackError = error
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
    }

    func runOCSPClientCallback() -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.ocspClient else { return 1 }
        do {
            return try callback(self, stapledOCSPResponse) ? 1 : 0
        } catch {
            callbackError = error
            return -1
        }
    }

    func runCookieGenerate(into cookie: UnsafeMutablePointer<UInt8>, length: UnsafeMutablePointer<UInt32>) -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.cookieGenerate else {
            callbackError = UsageError(operation: "DTLS cookie exchange", reason: "no cookie generate callback is set")
            return 0
        }
        do {
            let bytes = try callback(self)
            guard (1...Int(DTLS1_COOKIE_LENGTH)).contains(bytes.count) else {
                throw UsageError(
                    operation: "generate DTLS cookie",
                    reason: "a cookie is 1 to \(DTLS1_COOKIE_LENGTH) bytes; the callback made \(bytes.count)")
            }
            cookie.update(from: bytes, count: bytes.count)
            length.pointee = UInt32(bytes.count)
            return 1
        } catch {
            callbackError = error
            return 0
        }
    }

    func runCookieVerify(_ cookie: [UInt8]) -> Int32 {
        if callbackError != nil { return 0 }
        guard let callback = callbacks.cookieVerify else {
            callbackError = UsageError(operation: "DTLS cookie exchange", reason: "no cookie verify callback is set")
            return 0
        }
        do {
            return try callback(self, cookie) ? 1 : 0
        } catch {
            callbackError = error
            return 0
        }
    }
}
