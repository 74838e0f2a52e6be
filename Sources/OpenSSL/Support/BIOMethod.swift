internal import COpenSSL

/// A custom `BIO_METHOD`, made once per kind of BIO and never freed (OpenSSL
/// only reads it): the one piece of code that registers the callbacks for
/// both the memory-BIO buffers and the Swift-transport bridge.
struct BIOMethod: @unchecked Sendable {  // immutable after creation and never freed; OpenSSL only reads it
    typealias Read = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32
    typealias Write = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32
    typealias Control = @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int
    typealias Lifecycle = @convention(c) (OpaquePointer?) -> Int32

    let raw: OpaquePointer

    /// Registers a source/sink BIO type called `name` with these callbacks.
    /// Meant for a global's initialiser (run once, lazily, thread-safely).
    /// `flags` are OpenSSL's type flags (`BIO_TYPE_DESCRIPTOR` lets
    /// `SSL_get_fd` find a descriptor BIO).
    static func make(
        _ name: String, flags: Int32 = BIO_TYPE_SOURCE_SINK, read: Read, write: Write, control: Control,
        create: Lifecycle, destroy: Lifecycle
    ) -> Result<BIOMethod, OpenSSLError> {
        Result { () throws(OpenSSLError) -> BIOMethod in
            ErrorQueue.clear()
            let index = BIO_get_new_index()
            guard index > 0 else { throw ErrorQueue.drain("allocate a BIO type for \(name)") }
            // BIO_meth_new copies the name.
            let method = try ErrorQueue.call("make the \(name) BIO_METHOD") {
                BIO_meth_new(index | flags, name)
            }
            do throws(OpenSSLError) {
                try ErrorQueue.check("set the \(name) BIO's read") { BIO_meth_set_read_ex(method, read) }
                try ErrorQueue.check("set the \(name) BIO's write") { BIO_meth_set_write_ex(method, write) }
                try ErrorQueue.check("set the \(name) BIO's ctrl") { BIO_meth_set_ctrl(method, control) }
                try ErrorQueue.check("set the \(name) BIO's create") { BIO_meth_set_create(method, create) }
                try ErrorQueue.check("set the \(name) BIO's destroy") { BIO_meth_set_destroy(method, destroy) }
            } catch {
                BIO_meth_free(method)
                throw error
            }
            return BIOMethod(raw: method)
        }
    }
}

extension BIOMethod {
    /// The `ctrl` answers of a stream BIO that buffers nothing itself (the
    /// transport bridge and the socket BIO): a flush succeeds at once, EOF
    /// is the flag a read of 0 bytes set, and anything else (PUSH/POP,
    /// PENDING/WPENDING, kTLS, …) is unsupported or nothing, which 0 says.
    static func unbufferedStreamControl(_ bio: OpaquePointer?, _ command: Int32) -> Int {
        switch command {
        case BIO_CTRL_FLUSH:
            return 1
        case BIO_CTRL_EOF:
            guard let bio else { return 0 }
            return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0
        default:
            return 0
        }
    }
}
