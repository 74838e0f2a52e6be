import Foundation

/// A value guarded by a lock: what a `@Sendable` closure, a callback on
/// another thread or an event loop records, and the test reads.
package final class LockedBox<Value>: @unchecked Sendable {  // `value` is only touched under `lock`
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) { self.value = value }

    /// The value now (a copy).
    package func get() -> Value { lock.withLock { value } }

    /// Replaces the value.
    package func set(_ newValue: Value) { lock.withLock { value = newValue } }

    /// Changes the value in place under the lock; returns what `body` returns.
    @discardableResult
    package func mutate<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&value) } }
}
