import Foundation

/// A readers-writer lock: many readers at once, or one writer.
///
/// Used where OpenSSL objects may be read concurrently but not read while
/// they change (an `X509_STORE`'s lookups and verification parameters are
/// not locked by OpenSSL).
final class ReadWriteLock: @unchecked Sendable {
    // @unchecked Sendable: the pthread lock lives at a fixed heap address and is only touched through pthread calls.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared. A thread may nest read locks (a
    /// verify callback verifying against the same store): the lock keeps
    /// the default reader preference, so a waiting writer cannot block the
    /// nested reader. Not reentrant with `withWriteLock` on the same thread.
    @discardableResult
    func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock exclusively.
    @discardableResult
    func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
