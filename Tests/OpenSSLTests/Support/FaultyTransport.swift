import Foundation
@testable import OpenSSL

/// Faults one end of a `MemoryTransportPair` injects into its own calls:
/// short reads and writes, would-block, end of stream, thrown errors.
/// Calls are counted from 1, reads and writes separately.
struct TransportFaults: Sendable {
    /// Which calls an injected error applies to.
    enum Calls: Sendable {
        case reads, writes, any
    }

    /// Each read returns at most this many bytes (1 for byte-by-byte reads).
    var maxBytesPerRead: Int?
    /// Each write accepts at most this many bytes (1 for byte-by-byte writes).
    var maxBytesPerWrite: Int?
    /// Every Nth read returns nil (would block) before looking at the queue.
    var wouldBlockEveryNthRead: Int?
    /// Every Nth write returns nil (would block) and queues nothing.
    var wouldBlockEveryNthWrite: Int?
    /// Reads see end of stream (0) once this many bytes have been read through this end.
    var endOfStreamAfterReading: Int?
    /// The connection is cut once this many bytes have been written through
    /// this end: the peer reads end of stream after them and its writes
    /// throw `POSIXError(.EPIPE)`; this end's further writes throw
    /// `POSIXError(.EPIPE)` and its reads return end of stream.
    var closeAfterWriting: Int?
    /// Throws `error` on call number `call` of the given kind (once).
    var error: (any Error & Sendable)?
    var errorOnCall = 1
    var errorOn: Calls = .any
    /// When set, a read with nothing queued waits up to this long for bytes
    /// or the peer's close before returning nil (for two threads, each
    /// driving one end as if it were a blocking socket).
    var readWait: Duration?
    /// Calls (reads and writes counted together, from 1) in this range throw
    /// `POSIXError(.EINTR)` before doing anything: a signal storm.
    var interruptedCalls: ClosedRange<Int>?
    /// Every Nth call (reads and writes counted together) throws `POSIXError(.EINTR)`.
    var interruptEveryNthCall: Int?
    /// Would-block storms: of every `period` calls (reads and writes counted
    /// together), the first `length` return nil without touching the queues.
    var wouldBlockStorm: (length: Int, period: Int)?

    init(
        maxBytesPerRead: Int? = nil, maxBytesPerWrite: Int? = nil,
        wouldBlockEveryNthRead: Int? = nil, wouldBlockEveryNthWrite: Int? = nil,
        endOfStreamAfterReading: Int? = nil, closeAfterWriting: Int? = nil,
        error: (any Error & Sendable)? = nil, errorOnCall: Int = 1, errorOn: Calls = .any,
        readWait: Duration? = nil, interruptedCalls: ClosedRange<Int>? = nil, interruptEveryNthCall: Int? = nil,
        wouldBlockStorm: (length: Int, period: Int)? = nil
    ) {
        self.maxBytesPerRead = maxBytesPerRead
        self.maxBytesPerWrite = maxBytesPerWrite
        self.wouldBlockEveryNthRead = wouldBlockEveryNthRead
        self.wouldBlockEveryNthWrite = wouldBlockEveryNthWrite
        self.endOfStreamAfterReading = endOfStreamAfterReading
        self.closeAfterWriting = closeAfterWriting
        self.error = error
        self.errorOnCall = errorOnCall
        self.errorOn = errorOn
        self.readWait = readWait
        self.interruptedCalls = interruptedCalls
        self.interruptEveryNthCall = interruptEveryNthCall
        self.wouldBlockStorm = wouldBlockStorm
    }
}

/// Two in-memory `Transport`s joined back to back: what `client` writes,
/// `server` reads, and the other way round. Thread-safe; each end may be
/// driven from its own thread.
///
/// Without faults, a read with nothing queued returns nil (would block) and
/// a read after the peer's `close()` returns 0 once the queue is drained.
/// `capacity` bounds each direction's queue, so writes would block
/// (return nil or fewer bytes) when the reader falls behind.
final class MemoryTransportPair: Sendable {
    let client: MemoryTransport
    let server: MemoryTransport

    init(
        client clientFaults: TransportFaults = .init(), server serverFaults: TransportFaults = .init(),
        capacity: Int? = nil
    ) {
        let state = PairState(capacity: capacity)
        client = MemoryTransport(state: state, side: 0, faults: clientFaults)
        server = MemoryTransport(state: state, side: 1, faults: serverFaults)
    }
}

/// The queues both ends share, under one lock.
final class PairState: @unchecked Sendable {  // every mutable field is read and written only while holding `condition`
    let condition = NSCondition()
    let capacity: Int?
    /// `inbox[i]`: bytes waiting for side i to read.
    var inbox = [ByteQueue(), ByteQueue()]
    /// `closed[i]`: side i was closed; its own calls throw EBADF.
    var closed = [false, false]
    /// `gone[i]`: side i was closed or cut; the other side reads EOF after
    /// draining and its writes throw EPIPE.
    var gone = [false, false]

    init(capacity: Int?) {
        self.capacity = capacity
    }

    func locked<R>(_ body: () throws -> R) rethrows -> R {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}

/// A FIFO of bytes that pops from the front without moving the rest each time.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    mutating func pop(into buffer: UnsafeMutableRawBufferPointer, limit: Int) -> Int {
        let n = min(limit, count, buffer.count)
        guard n > 0 else { return 0 }
        storage.withUnsafeBytes { source in
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[head..<head + n]))
        }
        head += n
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return n
    }
}

/// One end of a `MemoryTransportPair`.
final class MemoryTransport: Transport, @unchecked Sendable {  // every mutable field is guarded by the pair's lock
    private let state: PairState
    private let side: Int
    private var peer: Int { 1 - side }
    private var _faults: TransportFaults
    private var _readCalls = 0
    private var _writeCalls = 0
    private var _bytesRead = 0
    private var _bytesWritten = 0

    fileprivate init(state: PairState, side: Int, faults: TransportFaults) {
        self.state = state
        self.side = side
        _faults = faults
    }

    /// The faults in force; may be changed at any time.
    var faults: TransportFaults {
        get { state.locked { _faults } }
        set { state.locked { _faults = newValue } }
    }

    var readCalls: Int { state.locked { _readCalls } }
    var writeCalls: Int { state.locked { _writeCalls } }
    var bytesRead: Int { state.locked { _bytesRead } }
    var bytesWritten: Int { state.locked { _bytesWritten } }
    /// Bytes queued for this end to read.
    var pendingBytes: Int { state.locked { state.inbox[side].count } }
    var isClosed: Bool { state.locked { state.closed[side] } }

    /// Closes this end: the peer reads end of stream once it has drained
    /// what was written, and its writes throw `POSIXError(.EPIPE)`.
    func close() {
        state.locked {
            state.closed[side] = true
            state.gone[side] = true
            state.condition.broadcast()
        }
    }

    /// Takes every byte queued for this end (a test peeking at ciphertext).
    func drain() -> [UInt8] {
        state.locked {
            var bytes = [UInt8](repeating: 0, count: state.inbox[side].count)
            let n = bytes.withUnsafeMutableBytes { state.inbox[side].pop(into: $0, limit: $0.count) }
            return Array(bytes.prefix(n))
        }
    }

    /// The storm faults common to reads and writes: EINTR, then would-block.
    /// Returns true when the call would block.
    private func stormFault() throws -> Bool {
        let call = _readCalls + _writeCalls
        if let range = _faults.interruptedCalls, range.contains(call) { throw POSIXError(.EINTR) }
        if let n = _faults.interruptEveryNthCall, n > 0, call % n == 0 { throw POSIXError(.EINTR) }
        if let storm = _faults.wouldBlockStorm, storm.period > 0, (call - 1) % storm.period < storm.length { return true }
        return false
    }

    private func injectedError(isRead: Bool) -> (any Error)? {
        guard let error = _faults.error else { return nil }
        let call: Int
        switch _faults.errorOn {
        case .reads:
            guard isRead else { return nil }
            call = _readCalls
        case .writes:
            guard !isRead else { return nil }
            call = _writeCalls
        case .any:
            call = _readCalls + _writeCalls
        }
        return call == _faults.errorOnCall ? error : nil
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        try state.locked { () throws -> Int? in
            _readCalls += 1
            if let error = injectedError(isRead: true) { throw error }
            if try stormFault() { return nil }
            if let n = _faults.wouldBlockEveryNthRead, n > 0, _readCalls % n == 0 { return nil }
            if state.closed[side] { throw POSIXError(.EBADF) }
            if state.gone[side] { return 0 }
            guard buffer.count > 0 else { return 0 }
            var limit = buffer.count
            if let max = _faults.maxBytesPerRead { limit = Swift.min(limit, max) }
            if let end = _faults.endOfStreamAfterReading {
                let left = end - _bytesRead
                if left <= 0 { return 0 }
                limit = Swift.min(limit, left)
            }
            if state.inbox[side].count == 0, !state.gone[peer], let wait = _faults.readWait {
                let deadline = Date().addingTimeInterval(
                    Double(wait.components.seconds)
                        + Double(wait.components.attoseconds) / 1e18)
                while state.inbox[side].count == 0, !state.gone[peer], !state.gone[side] {
                    if !state.condition.wait(until: deadline) { break }
                }
            }
            if state.inbox[side].count == 0 {
                return state.gone[peer] ? 0 : nil
            }
            let n = state.inbox[side].pop(into: buffer, limit: limit)
            _bytesRead += n
            state.condition.broadcast()  // room for a writer waiting on capacity
            return n
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int? {
        try state.locked { () throws -> Int? in
            _writeCalls += 1
            if let error = injectedError(isRead: false) { throw error }
            if try stormFault() { return nil }
            if let n = _faults.wouldBlockEveryNthWrite, n > 0, _writeCalls % n == 0 { return nil }
            if state.closed[side] { throw POSIXError(.EBADF) }
            if state.gone[side] || state.gone[peer] { throw POSIXError(.EPIPE) }
            guard buffer.count > 0 else { return 0 }
            var limit = buffer.count
            if let max = _faults.maxBytesPerWrite { limit = Swift.min(limit, max) }
            if let cut = _faults.closeAfterWriting {
                if _bytesWritten >= cut {
                    state.gone[side] = true
                    state.condition.broadcast()
                    throw POSIXError(.EPIPE)
                }
                limit = Swift.min(limit, cut - _bytesWritten)
            }
            if let capacity = state.capacity {
                let room = capacity - state.inbox[peer].count
                if room <= 0 { return nil }
                limit = Swift.min(limit, room)
            }
            state.inbox[peer].append(UnsafeRawBufferPointer(rebasing: buffer.prefix(limit)))
            _bytesWritten += limit
            if let cut = _faults.closeAfterWriting, _bytesWritten >= cut {
                state.gone[side] = true
            }
            state.condition.broadcast()
            return limit
        }
    }
}
