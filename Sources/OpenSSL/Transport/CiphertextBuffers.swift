import Foundation
internal import COpenSSL

// The memory-BIO mode's I/O: one custom BIO over the connection's own two
// ciphertext buffers, instead of two BIO_s_mem and a copy between them.
//
// Why (measured in ../shared/PERFORMANCE.md and Benchmarks/results.md):
// `bioRead`/`bioWrite` copy straight between the caller's buffer and ours,
// with no BIO call, no error-queue work and no zero-fill (BIO_s_mem grows
// with BUF_MEM_grow_clean, which zeroes every byte it adds); OpenSSL's reads
// and writes are one memcpy each. Buffers start small, grow on demand to the
// largest burst seen (a 16 KiB record: 32 KiB) and are reused, so a
// connection in steady state allocates nothing.
//
// Lifetimes:
// - The BIO_METHOD is made once per process and never freed.
// - The `CiphertextBuffers` live in memory the BIO owns: allocated with the
//   BIO, freed by its destroy callback. The Connection holds its own
//   reference to the BIO (`BIO_up_ref`), so the buffers live at least as
//   long as the Connection, whatever happens to the SSL's BIOs.
// - The state is reached through a raw pointer, outside Swift's exclusivity
//   checks: it is touched only by the thread that drives the connection
//   (from Swift directly, and from OpenSSL through the callbacks below), one
//   call at a time.

/// A FIFO of bytes in one malloc'd block: bytes live in `start..<end`.
struct ByteQueue {
    /// The smallest allocation: the first one is the first burst rounded up
    /// to a power of two, at least this (a ClientHello fits); later ones
    /// double. Small, so that an idle connection holds little (issue 21).
    static let minimumCapacity = 512

    var base: UnsafeMutableRawPointer?
    var capacity = 0
    var start = 0
    var end = 0

    var count: Int { end &- start }
    var isEmpty: Bool { start == end }

    /// Appends `count` bytes; false when memory ran out (nothing appended).
    @inline(__always)
    mutating func append(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        if capacity &- end < count, !makeRoom(for: count) { return false }
        (base! + end).copyMemory(from: bytes, byteCount: count)
        end &+= count
        return true
    }

    /// Moves up to `limit` bytes into `destination`; returns how many.
    @inline(__always)
    mutating func take(into destination: UnsafeMutableRawPointer, limit: Int) -> Int {
        let taken = Swift.min(count, limit)
        guard taken > 0 else { return 0 }
        destination.copyMemory(from: base! + start, byteCount: taken)
        consume(taken)
        return taken
    }

    /// The live bytes, in place (valid until the queue next changes).
    @inline(__always)
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + start }, count: count)
    }

    /// Drops the first `taken` live bytes (0...count).
    @inline(__always)
    mutating func consume(_ taken: Int) {
        start &+= taken
        if start == end {
            // Empty: the next bytes go to the front, so no memmove is ever needed in steady state.
            start = 0
            end = 0
        }
    }

    /// Makes room for `extra` bytes after `end`: by moving the live bytes
    /// to the front when that is enough, else by growing.
    private mutating func makeRoom(for extra: Int) -> Bool {
        let live = count
        if let base, start > 0, capacity - live >= extra {
            base.copyMemory(from: base + start, byteCount: live)  // memmove: copyMemory allows overlap
            start = 0
            end = live
            return true
        }
        var newCapacity = Swift.max(capacity, ByteQueue.minimumCapacity)
        while newCapacity - live < extra {
            guard newCapacity <= Int.max / 2 else { return false }
            newCapacity *= 2
        }
        if let base, start > 0 {
            base.copyMemory(from: base + start, byteCount: live)
            start = 0
            end = live
        }
        guard let grown = realloc(base, newCapacity) else { return false }
        base = grown
        capacity = newCapacity
        return true
    }

    /// Releases the memory.
    mutating func release() {
        free(base)
        self = ByteQueue()
    }
}

/// Datagram boundaries inside a `ByteQueue` of ciphertext: the length of
/// each datagram, in order, as 4-byte entries of another `ByteQueue` (so,
/// like the bytes, they allocate nothing in steady state).
struct DatagramLengths {
    private var lengths = ByteQueue()

    /// The length of the first datagram still (partly) in the queue.
    @inline(__always)
    var first: Int? {
        let bytes = lengths.bytes
        guard bytes.count >= 4 else { return nil }
        return Int(bytes.loadUnaligned(as: UInt32.self))
    }

    /// Records one more datagram of `count` bytes; false when out of memory
    /// (or for a datagram longer than 4 GiB, which no transport carries).
    mutating func push(_ count: Int) -> Bool {
        guard let length = UInt32(exactly: count) else { return false }
        return withUnsafeBytes(of: length) { entry in
            guard let base = entry.baseAddress else { return false }
            return lengths.append(base, count: entry.count)
        }
    }

    /// Accounts for `taken` bytes taken from the front of the byte queue:
    /// they come from the first datagram, which is dropped once it is all gone.
    mutating func consume(_ taken: Int) {
        guard taken > 0, let size = first else { return }
        if taken >= size {
            lengths.consume(4)
        } else if let start = UnsafeMutableRawPointer(mutating: lengths.bytes.baseAddress) {
            start.storeBytes(of: UInt32(truncatingIfNeeded: size - taken), as: UInt32.self)
        }
    }

    mutating func release() {
        lengths.release()
    }
}

/// The two directions of a memory-BIO connection.
struct CiphertextBuffers {
    /// From the peer, for OpenSSL to read (filled by `bioWrite`).
    var incoming = ByteQueue()
    /// From OpenSSL, for the caller to take (drained by `bioRead`).
    var outgoing = ByteQueue()
    /// Set by `bioShutdown`: once `incoming` is empty, OpenSSL sees end of stream instead of "retry".
    var endOfInput = false
    /// DTLS: the buffers carry datagrams, not a byte stream. Each `bioWrite`
    /// is one datagram and each OpenSSL write is one; `bioRead` and
    /// OpenSSL's reads take exactly one datagram each.
    var isDatagram = false
    /// With `isDatagram`: the boundaries of the datagrams in `incoming` and `outgoing`.
    var incomingDatagrams = DatagramLengths()
    var outgoingDatagrams = DatagramLengths()
    /// Set when the connection asks OpenSSL to release its buffers while
    /// idle (`SSLModes.releaseBuffers`): a queue then gives its storage back
    /// as soon as it is drained, as OpenSSL does with its own record
    /// buffers; otherwise it keeps it, so steady-state I/O allocates nothing.
    var releaseWhenDrained = false

    /// Gives back the storage of the drained queues, in release-buffers mode
    /// (`incoming`'s once no lent bytes remain either: the end of the lending
    /// appends them to it).
    @inline(__always)
    mutating func releaseDrainedStorage() {
        guard releaseWhenDrained else { return }
        if hasNoInput && incoming.capacity > 0 {
            incoming.release()
            incomingDatagrams.release()
        }
        if outgoing.isEmpty && outgoing.capacity > 0 {
            outgoing.release()
            outgoingDatagrams.release()
        }
    }

    /// Ciphertext lent by `Connection.withIncomingCiphertext(_:_:)` for the
    /// length of one call: OpenSSL reads it after `incoming`, in place (see
    /// Connection+EventLoop.swift). Empty when nothing is lent.
    var borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Which lending `borrowed` belongs to (so a nested one can take over).
    var borrowGeneration: UInt = 0

    /// No ciphertext from the peer is waiting, queued or lent.
    var hasNoInput: Bool { incoming.isEmpty && borrowed.isEmpty }

    /// What the caller may take from `outgoing` now: all of it, or on DTLS
    /// the next datagram (what is left of it).
    @inline(__always)
    var pendingOutgoing: UnsafeRawBufferPointer {
        let bytes = outgoing.bytes
        guard isDatagram else { return bytes }
        return UnsafeRawBufferPointer(rebasing: bytes.prefix(outgoingDatagrams.first ?? 0))
    }

    /// Drops the first `taken` bytes of `pendingOutgoing` (the caller took
    /// them), then gives the storage back if that drained it (release mode).
    @inline(__always)
    mutating func consumeOutgoing(_ taken: Int) {
        outgoing.consume(taken)
        if isDatagram { outgoingDatagrams.consume(taken) }
        if outgoing.isEmpty { releaseDrainedStorage() }
    }

    /// Drops every byte from the peer not yet read by OpenSSL, queued or lent.
    mutating func discardIncoming() {
        incoming.consume(incoming.count)
        borrowed = UnsafeRawBufferPointer(start: nil, count: 0)
        if isDatagram { incomingDatagrams.release() }
        releaseDrainedStorage()
    }

    /// Drops every byte OpenSSL wrote that the caller has not taken.
    mutating func discardOutgoing() {
        outgoing.consume(outgoing.count)
        if isDatagram { outgoingDatagrams.release() }
        releaseDrainedStorage()
    }

    /// Appends one write to `incoming` (`bioWrite`) — on DTLS, one datagram;
    /// false, and nothing appended, when memory ran out.
    @inline(__always)
    mutating func appendIncoming(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        isDatagram
            ? Self.appendDatagram(bytes, count: count, to: &incoming, lengths: &incomingDatagrams)
            : incoming.append(bytes, count: count)
    }

    /// Appends one write to `outgoing` (OpenSSL's) — on DTLS, one datagram;
    /// false, and nothing appended, when memory ran out.
    @inline(__always)
    mutating func appendOutgoing(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        isDatagram
            ? Self.appendDatagram(bytes, count: count, to: &outgoing, lengths: &outgoingDatagrams)
            : outgoing.append(bytes, count: count)
    }

    /// Appends one datagram to `queue` and its length to `datagrams`; false
    /// (and nothing appended) when out of memory.
    private static func appendDatagram(
        _ bytes: UnsafeRawPointer, count: Int,
        to queue: inout ByteQueue, lengths datagrams: inout DatagramLengths
    ) -> Bool {
        guard queue.append(bytes, count: count) else { return false }
        guard datagrams.push(count) else {
            queue.end &-= count  // take the bytes back: they were the last appended
            return false
        }
        return true
    }

    /// Makes a BIO over a new, empty pair of buffers. The caller owns the
    /// BIO's one reference; `buffers` stays valid until the BIO is freed.
    static func makeBIO() throws(OpenSSLError) -> (bio: OpaquePointer, buffers: UnsafeMutablePointer<CiphertextBuffers>) {
        let method = try ciphertextMethod.get()
        let bio = try ErrorQueue.call("make the memory BIO") { BIO_new(method.raw) }
        let buffers = UnsafeMutablePointer<CiphertextBuffers>.allocate(capacity: 1)
        buffers.initialize(to: CiphertextBuffers())
        BIO_set_data(bio, buffers)
        BIO_set_init(bio, 1)
        return (bio, buffers)
    }
}

/// The process's one BIO_METHOD for memory-BIO connections (made on first use).
private let ciphertextMethod = BIOMethod.make(
    "swift-openssl ciphertext buffers", read: ciphertextRead, write: ciphertextWrite,
    control: ciphertextControl, create: ciphertextCreate, destroy: ciphertextDestroy)

// MARK: - The BIO_METHOD's callbacks

@inline(__always)
private func buffers(of bio: OpaquePointer) -> UnsafeMutablePointer<CiphertextBuffers>? {
    BIO_get_data(bio)?.assumingMemoryBound(to: CiphertextBuffers.self)
}

/// OpenSSL reads the peer's ciphertext: what `bioWrite` stored; "retry" when
/// there is none; end of stream after `bioShutdown`.
private func ciphertextRead(
    _ bio: OpaquePointer?, _ data: UnsafeMutablePointer<CChar>?, _ length: Int, _ readBytes: UnsafeMutablePointer<Int>?
) -> Int32 {
    readBytes?.pointee = 0
    guard let bio else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    guard let data, length > 0, let state = buffers(of: bio) else { return 0 }
    if state.pointee.isDatagram {
        return readDatagram(bio, state, data, length, readBytes)
    }
    var taken = state.pointee.incoming.take(into: data, limit: length)
    if taken < length, !state.pointee.borrowed.isEmpty {
        taken &+= state.pointee.takeBorrowed(into: data + taken, limit: length &- taken)
    }
    if state.pointee.incoming.isEmpty { state.pointee.releaseDrainedStorage() }
    if taken == 0 {
        // Like BIO_s_mem: "retry" unless the stream has ended.
        if !state.pointee.endOfInput { cossl_BIO_set_retry_read(bio) }
        return 0
    }
    readBytes?.pointee = taken
    return 1
}

/// DTLS reads one datagram per call, as from a UDP socket: a datagram longer
/// than OpenSSL's buffer loses its end (OpenSSL's buffer holds the largest
/// record, so that takes a peer sending more than DTLS allows).
private func readDatagram(
    _ bio: OpaquePointer, _ state: UnsafeMutablePointer<CiphertextBuffers>,
    _ data: UnsafeMutablePointer<CChar>, _ length: Int, _ readBytes: UnsafeMutablePointer<Int>?
) -> Int32 {
    guard let size = state.pointee.incomingDatagrams.first else {
        if !state.pointee.endOfInput { cossl_BIO_set_retry_read(bio) }
        return 0
    }
    let taken = state.pointee.incoming.take(into: data, limit: min(size, length))
    state.pointee.incoming.consume(size - taken)
    state.pointee.incomingDatagrams.consume(size)
    if state.pointee.incoming.isEmpty { state.pointee.releaseDrainedStorage() }
    readBytes?.pointee = taken
    return 1
}

/// OpenSSL writes ciphertext for the peer: always accepted (the buffer grows).
private func ciphertextWrite(
    _ bio: OpaquePointer?, _ data: UnsafePointer<CChar>?, _ length: Int, _ written: UnsafeMutablePointer<Int>?
) -> Int32 {
    written?.pointee = 0
    guard let bio else { return 0 }
    cossl_BIO_clear_retry_flags(bio)
    guard length > 0 else { return 1 }
    guard let data, let state = buffers(of: bio) else { return 0 }
    // Out of memory: no retry flag, so OpenSSL fails the call (SSL_ERROR_SYSCALL, errno ENOMEM from realloc).
    guard state.pointee.appendOutgoing(data, count: length) else { return 0 }
    written?.pointee = length
    return 1
}

private func ciphertextControl(
    _ bio: OpaquePointer?, _ command: Int32, _ argument: Int, _ pointer: UnsafeMutableRawPointer?
) -> Int {
    // libssl asks several questions per record (kTLS? flush?): answer the
    // ones that need no state first, the most frequent (kTLS, 73 and 76) at once.
    if command > BIO_CTRL_WPENDING { return 0 }
    switch command {
    case BIO_CTRL_FLUSH:
        // Every write is already in the buffer.
        return 1
    case BIO_CTRL_PENDING:
        // Bytes OpenSSL can read now (BIO_s_mem's answer for a read BIO);
        // for datagrams, the size of the next one.
        guard let bio, let state = buffers(of: bio) else { return 0 }
        if state.pointee.isDatagram { return state.pointee.incomingDatagrams.first ?? 0 }
        return state.pointee.incoming.count &+ state.pointee.borrowed.count
    case BIO_CTRL_EOF:
        guard let bio, let state = buffers(of: bio) else { return 0 }
        return state.pointee.hasNoInput && state.pointee.endOfInput ? 1 : 0
    default:
        // WPENDING: 0, like BIO_s_mem (nothing is "still to be written"; DTLS
        // subtracts it from its MTU). PUSH/POP: nothing to do. kTLS and
        // anything else: unsupported, which 0 says.
        return 0
    }
}

private func ciphertextCreate(_ bio: OpaquePointer?) -> Int32 {
    // The buffers are attached and the BIO marked initialised right after BIO_new.
    1
}

private func ciphertextDestroy(_ bio: OpaquePointer?) -> Int32 {
    guard let bio else { return 0 }
    if let state = buffers(of: bio) {
        BIO_set_data(bio, nil)
        BIO_set_init(bio, 0)
        state.pointee.incoming.release()
        state.pointee.outgoing.release()
        state.pointee.incomingDatagrams.release()
        state.pointee.outgoingDatagrams.release()
        state.deinitialize(count: 1)
        state.deallocate()
    }
    return 1
}
