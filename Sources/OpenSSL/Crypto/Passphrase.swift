import Foundation
internal import COpenSSL

/// The passphrase for an encrypted private key (or PKCS#12 file): fixed
/// text or bytes, or a closure asked when OpenSSL needs it.
///
/// A closure receives the maximum length OpenSSL accepts (and, in its
/// two-argument form, whether the passphrase is wanted to write, that is to
/// encrypt, so it can ask twice). A longer passphrase, given or answered, is
/// refused with `PassphraseError.tooLong`, never cut; an empty answer is
/// refused with `PassphraseError.empty`; an error it throws comes out of the
/// call unchanged.
public struct Passphrase: Sendable, ExpressibleByStringLiteral {
    enum Source: Sendable {
        case bytes([UInt8])
        case callback(@Sendable (_ maxLength: Int, _ isWriting: Bool) throws -> [UInt8])
    }

    let source: Source

    /// A passphrase given as text (its UTF-8 bytes are used).
    public init(_ text: String) {
        source = .bytes(Array(text.utf8))
    }

    /// A passphrase given as raw bytes.
    public init(bytes: [UInt8]) {
        source = .bytes(bytes)
    }

    /// A passphrase given as text.
    public init(stringLiteral value: String) {
        self.init(value)
    }

    /// A passphrase computed when needed. `maxLength` is the most bytes OpenSSL takes.
    public static func callback(_ body: @escaping @Sendable (_ maxLength: Int) throws -> [UInt8]) -> Passphrase {
        Passphrase(source: .callback { maxLength, _ in try body(maxLength) })
    }

    /// A passphrase computed when needed, told what it is for: `isWriting`
    /// is true when it will encrypt (a key or a PKCS#12 bundle being
    /// written), false when it will decrypt (pyOpenSSL's callback flag, so
    /// a prompt can ask twice before encrypting). `maxLength` is the most
    /// bytes OpenSSL takes.
    public static func callback(_ body: @escaping @Sendable (_ maxLength: Int, _ isWriting: Bool) throws -> [UInt8]) -> Passphrase
    {
        Passphrase(source: .callback(body))
    }

    private init(source: Source) {
        self.source = source
    }

    func answer(maxLength: Int, isWriting: Bool) throws -> [UInt8] {
        switch source {
        case .bytes(let bytes): return bytes
        case .callback(let body): return try body(maxLength, isWriting)
        }
    }
}

/// Why an encrypted key could not be opened.
public enum PassphraseError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The key is encrypted and no passphrase was given.
    case required(operation: String)
    /// A passphrase was given, and it did not decrypt the key. Carries OpenSSL's reason.
    case incorrect(OpenSSLError)
    /// The passphrase (or what its callback returned) was empty.
    case empty(operation: String)
    /// The passphrase (or what its callback returned) is longer than OpenSSL
    /// takes there (`maximum` bytes): refused, as cutting it would decrypt
    /// or encrypt with a passphrase other than the one given.
    case tooLong(operation: String, length: Int, maximum: Int)

    public var description: String {
        switch self {
        case .required(let operation): return "\(operation): the key is encrypted and no passphrase was given"
        case .incorrect(let error): return "\(error.operation): wrong passphrase (\(error.reason ?? "decryption failed"))"
        case .empty(let operation): return "\(operation): the passphrase is empty"
        case .tooLong(let operation, let length, let maximum):
            return "\(operation): the passphrase is \(length) bytes long; at most \(maximum) are taken"
        }
    }
}

/// One passphrase request in flight: what the C callback reads and records.
/// Passed to OpenSSL as the callback's user-data pointer for the duration of one call.
final class PassphraseRequest {
    let passphrase: Passphrase?
    private(set) var calls = 0
    private(set) var lastMaxLength = 0
    private(set) var answered = false
    private(set) var wasEmpty = false
    /// The length of an answer longer than OpenSSL's buffer, refused.
    private(set) var tooLongLength: Int?
    private(set) var thrown: (any Error)?

    init(_ passphrase: Passphrase?) {
        self.passphrase = passphrase
    }

    /// Runs `body` with the user-data pointer for `passphraseTrampoline`, then turns
    /// a failure into the most precise error: the callback's own error, a
    /// missing, empty or wrong passphrase, or OpenSSL's error.
    static func run<R>(
        _ passphrase: Passphrase?,
        operation: @autoclosure () -> String,
        _ body: (_ userData: UnsafeMutableRawPointer) -> R?
    ) throws -> R {
        let request = PassphraseRequest(passphrase)
        ErrorQueue.clear()
        let result = withExtendedLifetime(request) {
            body(Unmanaged.passUnretained(request).toOpaque())
        }
        if let result {
            ErrorQueue.clear()
            return result
        }
        let error = ErrorQueue.drain(operation())
        if let thrown = request.thrown { throw thrown }
        if request.wasEmpty { throw PassphraseError.empty(operation: operation()) }
        if let length = request.tooLongLength {
            throw PassphraseError.tooLong(operation: operation(), length: length, maximum: request.lastMaxLength)
        }
        if request.calls > 0 && !request.answered { throw PassphraseError.required(operation: operation()) }
        if request.answered { throw PassphraseError.incorrect(error) }
        throw error
    }

    /// Called from C: fills `buffer` with at most `size` bytes and returns the count, or -1.
    fileprivate func fill(_ buffer: UnsafeMutablePointer<CChar>, size: Int, isWriting: Bool) -> Int32 {
        calls += 1
        lastMaxLength = size
        guard let passphrase else { return -1 }
        let bytes: [UInt8]
        do {
            bytes = try passphrase.answer(maxLength: size, isWriting: isWriting)
        } catch {
            thrown = error
            return -1
        }
        guard !bytes.isEmpty else {
            wasEmpty = true
            return -1
        }
        guard bytes.count <= size else {
            tooLongLength = bytes.count
            return -1
        }
        let count = bytes.count
        bytes.withUnsafeBytes { source in
            guard let base = source.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: count)
        }
        answered = true
        return Int32(count)
    }
}

/// The `pem_password_cb` every key load and store passes to OpenSSL. It never
/// lets a Swift error cross into C: a thrown error is recorded and -1 returned.
func passphraseTrampoline(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32, _ userData: UnsafeMutableRawPointer?
) -> Int32 {
    guard let buffer, let userData, size > 0 else { return -1 }
    let request = Unmanaged<PassphraseRequest>.fromOpaque(userData).takeUnretainedValue()
    return request.fill(buffer, size: Int(size), isWriting: writing != 0)
}
