import Foundation
internal import COpenSSL

// A Swift `Transport` under OpenSSL, through one custom BIO_METHOD.
//
// Lifetimes, because they are the whole point of this file:
// - The BIO_METHOD is created once per process, on first use, and never freed
//   (OpenSSL keeps a pointer to it in every BIO made from it).
// - Each `TransportBridge` makes one BIO and stores itself in the BIO's data
//   pointer with a +1 retain (`Unmanaged.passRetained`). The BIO's destroy
//   callback, which runs when the BIO's last reference is freed, releases
//   it. So the bridge lives exactly as long as its BIO, even after
//   `SSL_set_bio` has taken the BIO and the creator has let go of both.
// - The bridge does not own a reference to the BIO (`bio` is a plain
//   pointer): that would be a cycle. Whoever created the bridge owns the
//   BIO's one reference and must either give it away (`SSL_set_bio`, which
//   consumes one reference even when the same BIO is passed as both rbio and
//   wbio) or `BIO_free` it. The transport must not hold its own bridge.

/// The process's one BIO_METHOD for Swift transports, or why it could not be made.
/// A global's initialiser runs once, lazily and thread-safely.
private let transportMethod = BIOMethod.make(
    "Swift Transport", read: transportRead, write: transportWrite,
    control: transportControl, create: transportCreate, destroy: transportDestroy)

/// An error the bridge reports when a `Transport` breaks its contract (a
/// count outside the buffer); it reaches the caller as the transport's error.
struct TransportContractViolation: Error, Sendable, CustomStringConvertible {
    let description: String
}

/// Connects one `Transport` to OpenSSL: `bio` is a BIO whose reads and
/// writes call the transport. See the lifetime notes at the top of this file.
///
/// Not thread-safe: the connection that uses the BIO drives it from one
/// thread at a time, and `pendingError` is read on that thread.
final class TransportBridge {
    /// How many `POSIXError(.EINTR)` in a row one BIO call retries before it
    /// gives up and reports the error (a transport that is always
    /// interrupted would otherwise spin forever).
    static let maximumInterruptions = 64

    /// The transport the BIO reads from and writes to.
    let transport: any Transport
    /// The BIO. Its one reference belongs to whoever made the bridge (see above).
    let bio: OpaquePointer
    /// The first error the transport threw (or its contract violation) since
    /// the last `takeError()`. A Swift error never crosses into C: the BIO
    /// call reports failure and the error waits here for the Swift caller.
    ///
    /// How a caller should rank it: when `SSL_get_error` says
    /// `SSL_ERROR_SYSCALL`, this error is the cause. When it says
    /// `SSL_ERROR_SSL`, OpenSSL failed on its own first (an unexpected EOF, a
    /// bad record) and this is at most the failure of the alert it then
    /// tried to send. Take (clear) it after every failed call either way, so
    /// a stale error never answers for a later one.
    var pendingError: (any Error)?

    /// Makes a BIO over `transport`.
    ///
    /// - Throws: `OpenSSLError` when OpenSSL cannot make the BIO_METHOD or the BIO.
    /// - SeeAlso: BIO_new(3), BIO_set_data(3)
    init(_ transport: any Transport) throws {
        let method = try transportMethod.get()
        let bio = try ErrorQueue.call("make a transport BIO") { BIO_new(method.raw) }
        self.transport = transport
        self.bio = bio
        // The BIO's +1 on the bridge, released by transportDestroy.
        BIO_set_data(bio, Unmanaged.passRetained(self).toOpaque())
        BIO_set_init(bio, 1)
    }

    /// Returns the pending error and clears it.
    func takeError() -> (any Error)? {
        defer { pendingError = nil }
        return pendingError
    }

    private func record(_ error: any Error) {
        if pendingError == nil { pendingError = error }
    }

    /// `read_ex`: 1 with `count` set when bytes were read; 0 with the retry
    /// flags set when the transport would block; 0 with the EOF flag at end
    /// of stream; 0 with `pendingError` set when the transport threw.
    fileprivate func read(_ bio: OpaquePointer, into buffer: UnsafeMutableRawBufferPointer, count: inout Int) -> Int32 {
        var interruptions = 0
        while true {
            let result: Int?
            do {
                result = try transport.read(into: buffer)
            } catch let error as POSIXError where error.code == .EINTR && interruptions < Self.maximumInterruptions {
                interruptions += 1
                continue
            } catch {
                record(error)
                return 0
            }
            guard let read = result else {
                cossl_BIO_set_retry_read(bio)
                return 0
            }
            guard read >= 0, read <= buffer.count else {
                record(
                    TransportContractViolation(
                        description: "\(type(of: transport)).read(into:) returned \(read) for a buffer of \(buffer.count) bytes"))
                return 0
            }
            if read == 0 {
                // What the socket BIO does: BIO_eof then answers true, which
                // OpenSSL needs to report "unexpected eof" rather than a bare
                // syscall failure.
                BIO_set_flags(bio, BIO_FLAGS_IN_EOF)
                return 0
            }
            count = read
            return 1
        }
    }

    /// `write_ex`: 1 with `count` set to what the transport accepted (OpenSSL
    /// writes the rest later); 0 with the retry flags set when it accepted
    /// nothing; 0 with `pendingError` set when it threw.
    fileprivate func write(_ bio: OpaquePointer, _ buffer: UnsafeRawBufferPointer, count: inout Int) -> Int32 {
        var interruptions = 0
        while true {
            let result: Int?
            do {
                result = try transport.write(buffer)
            } catch let error as POSIXError where error.code == .EINTR && interruptions < Self.maximumInterruptions {
                interruptions += 1
                continue
            } catch {
                record(error)
                return 0
            }
            guard let written = result, written != 0 else {
                cossl_BIO_set_retry_write(bio)
                return 0
            }
            guard written > 0, written <= buffer.count else {
                record(
                    TransportContractViolation(
                        description: "\(type(of: transport)).write(_:) returned \(written) for a buffer of \(buffer.count) bytes")
                )
                return 0
            }
            count = written
            return 1
        }
    }
}

// MARK: - The BIO_METHOD's callbacks (non-capturing, so they are C function pointers)

/// The bridge stored in `bio`'s data pointer, without retaining it (the BIO holds it).
private func bridge(of bio: OpaquePointer) -> TransportBridge? {
    guard let data = BIO_get_data(bio) else { return nil }
    return Unmanaged<TransportBridge>.fromOpaque(data).takeUnretainedValue()
}

private func transportRead(
    _ bio: OpaquePointer?, _ data: UnsafeMutablePointer<CChar>?, _ length: Int, _ readBytes: UnsafeMutablePointer<Int>?
) -> Int32 {
    readBytes?.pointee = 0
    guard let bio else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    guard length > 0 else { return 1 }
    guard let data, let bridge = bridge(of: bio) else { return 0 }
    var count = 0
    let result = bridge.read(bio, into: UnsafeMutableRawBufferPointer(start: data, count: length), count: &count)
    readBytes?.pointee = count
    return result
}

private func transportWrite(
    _ bio: OpaquePointer?, _ data: UnsafePointer<CChar>?, _ length: Int, _ written: UnsafeMutablePointer<Int>?
) -> Int32 {
    written?.pointee = 0
    guard let bio else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    guard length > 0 else { return 1 }
    guard let data, let bridge = bridge(of: bio) else { return 0 }
    var count = 0
    let result = bridge.write(bio, UnsafeRawBufferPointer(start: data, count: length), count: &count)
    written?.pointee = count
    return result
}

private func transportControl(
    _ bio: OpaquePointer?, _ command: Int32, _ argument: Int, _ pointer: UnsafeMutableRawPointer?
) -> Int {
    // Nothing is buffered here: every write goes straight to the transport.
    BIOMethod.unbufferedStreamControl(bio, command)
}

private func transportCreate(_ bio: OpaquePointer?) -> Int32 {
    // The bridge stores itself and marks the BIO initialised right after BIO_new.
    1
}

private func transportDestroy(_ bio: OpaquePointer?) -> Int32 {
    guard let bio else { return 0 }
    if let data = BIO_get_data(bio) {
        BIO_set_data(bio, nil)
        BIO_set_init(bio, 0)
        Unmanaged<TransportBridge>.fromOpaque(data).release()
    }
    return 1
}
