import Foundation
internal import COpenSSL

// What an event loop (SwiftNIO's handlers in OpenSSLNIO, or any other loop
// that owns its read buffers) needs from a memory-BIO connection beyond
// `bioWrite`/`withPendingCiphertext`: a way for OpenSSL to read the peer's
// ciphertext straight out of the loop's own buffer, with no copy into the
// connection first.
//
// How: for the length of one call the caller lends its buffer; the custom
// BIO (CiphertextBuffers.swift) serves OpenSSL's reads from the connection's
// queue first (bytes left over from earlier) and then from the lent bytes,
// in place. When the call ends, whatever OpenSSL did not read (a partial
// record) is copied into the queue, so nothing is lost and the caller's
// buffer is free again. In steady state a whole record arrives in one read
// and nothing is copied but by OpenSSL itself.

extension Connection {
    /// Runs `body` with `ciphertext` (bytes received from the peer) lent to
    /// OpenSSL: the handshake, reads and shutdowns that `body` drives read
    /// them in place, after any ciphertext already given with `bioWrite`.
    /// When `body` returns (or throws), the bytes OpenSSL has not read are
    /// copied into the connection, exactly as `bioWrite` would have kept
    /// them, so the caller may reuse its buffer at once.
    ///
    /// This is `bioWrite(ciphertext)` followed by `body()` without the copy
    /// in between. `body` may call out to other code, and that code may call
    /// `bioWrite` or lend more ciphertext (they come after these bytes).
    /// On a DTLS connection the datagram is handed over with `bioWrite`
    /// first (datagrams keep their boundaries; nothing is lent).
    ///
    /// - Parameters:
    ///   - ciphertext: the peer's bytes; valid for the whole call.
    ///   - body: the work that reads them (`doHandshake`, `read`, `shutdown`, …).
    /// - Returns: what `body` returned.
    /// - Throws: what `body` throws; `.usage` on a connection that is not
    ///   over memory BIOs; `.sysCall(errno: ENOMEM, …)` when the connection
    ///   cannot keep the unread bytes (they are lost then, and the
    ///   connection is failed).
    public func withIncomingCiphertext<R>(
        _ ciphertext: UnsafeRawBufferPointer,
        _ body: () throws(SSLError) -> R
    ) throws(SSLError) -> R {
        guard let buffers = memoryBuffers else {
            throw .usage("withIncomingCiphertext: this connection is not over memory BIOs")
        }
        guard ciphertext.count > 0, ciphertext.baseAddress != nil else { return try body() }
        if buffers.pointee.isDatagram {
            try bioWrite(ciphertext)
            return try body()
        }
        // An outer lending still active (body called out and came back here):
        // its unread bytes come first, so they move to the queue now.
        guard buffers.pointee.endBorrowing() else { throw lostLentCiphertext(buffers) }
        buffers.pointee.borrowGeneration &+= 1
        let generation = buffers.pointee.borrowGeneration
        buffers.pointee.borrowed = ciphertext
        let result = Result { () throws(SSLError) -> R in try body() }
        // Still ours (no bioWrite or nested lending took over): keep what is
        // left, usually nothing or part of one record. No room is reserved
        // for it beforehand: the queue then never grows to the size of the
        // lent buffers (an event loop's 64 KiB reads) just in case.
        if buffers.pointee.borrowGeneration == generation, !buffers.pointee.endBorrowing() {
            throw lostLentCiphertext(buffers)
        }
        return try result.get()
    }

    /// The unread lent bytes could not be kept (out of memory): they are
    /// dropped, never left pointing at the caller's buffer, and the
    /// connection, which has lost part of its byte stream, is failed.
    private func lostLentCiphertext(_ buffers: UnsafeMutablePointer<CiphertextBuffers>) -> SSLError {
        let lost = buffers.pointee.borrowed.count
        buffers.pointee.borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
        hasFailed = true
        return .sysCall(
            errno: ENOMEM,
            OpenSSLError(
                operation: "withIncomingCiphertext",
                detail: "out of memory keeping \(lost) unread bytes"))
    }

    /// Ciphertext from the peer not yet read by OpenSSL: queued by
    /// `bioWrite`, or lent by a `withIncomingCiphertext` call in progress.
    public var unreadCiphertext: Int {
        guard let buffers = memoryBuffers else { return 0 }
        return buffers.pointee.incoming.count + buffers.pointee.borrowed.count
    }
}

extension CiphertextBuffers {
    /// Moves up to `limit` lent bytes into `destination` (OpenSSL's read);
    /// returns how many.
    @inline(__always)
    mutating func takeBorrowed(into destination: UnsafeMutableRawPointer, limit: Int) -> Int {
        let taken = Swift.min(borrowed.count, limit)
        guard taken > 0, let base = borrowed.baseAddress else { return 0 }
        destination.copyMemory(from: base, byteCount: taken)
        borrowed = UnsafeRawBufferPointer(rebasing: borrowed[taken...])
        return taken
    }

    /// Ends the lending in progress, if any: the lent bytes OpenSSL has not
    /// read are appended to `incoming`. False when memory ran out (the
    /// bytes stay lent then).
    mutating func endBorrowing() -> Bool {
        guard !borrowed.isEmpty else {
            borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
            return true
        }
        guard let base = borrowed.baseAddress, incoming.append(base, count: borrowed.count) else { return false }
        borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
        return true
    }
}
