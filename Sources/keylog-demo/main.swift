// keylog-demo: one TLS 1.3 exchange between a server and a client in this
// process, over TCP on 127.0.0.1, with both sides' secrets appended to the
// file $SSLKEYLOGFILE names (KeyLogFile, the NSS format Wireshark reads).
//
//   SSLKEYLOGFILE=/tmp/keys.log keylog-demo [message]
//
// It prints "PORT <n>" once listening, then waits for a line on standard
// input before the client connects (so a capture can start on that port),
// then prints what the client sent and what it got back.
// Scripts/keylog-decrypt.sh drives it.

import Foundation
import OpenSSL

/// Writes a line to standard output at once (unbuffered: the script waits for it).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("keylog-demo: \(message)\n".utf8))
    exit(1)
}

func run() throws {
    guard let keyLog = try KeyLogFile.fromEnvironment() else { fail("set SSLKEYLOGFILE to the key-log file to write") }
    let message = CommandLine.arguments.dropFirst().first ?? "hello through TLS 1.3"

    // A throwaway self-signed certificate for localhost.
    let key = try PKey.generate(.ec(.p256))
    var builder = X509Builder(
        subject: try X509Name([("CN", "localhost")]), publicKey: key,
        notBefore: Date() - 60, notAfter: Date() + 3600)
    try builder.addSubjectAlternativeNames([.dnsName("localhost")])
    let certificate = try builder.sign(with: key, digest: .sha256)

    let server = try Context.server(certificate: certificate, key: key)
    try server.setMinimumProtocolVersion(.tls1_3)
    try server.setKeylogFile(keyLog)
    let client = try Context.client(trusting: [certificate])
    try client.setKeylogFile(keyLog)

    let listener = try TCPSocket.listen(host: "127.0.0.1", port: 0)
    say("PORT \(listener.localPort)")
    _ = readLine()

    let served = DispatchSemaphore(value: 0)
    let serverError = ErrorBox()
    Thread.detachNewThread {
        defer { served.signal() }
        do {
            let socket = try listener.accept(timeout: .seconds(10))
            defer { socket.close() }
            let connection = try Connection(server, transport: socket)
            connection.setAcceptState()
            try connection.doHandshake()
            let request = try connection.read(max: 4096)
            try connection.writeAll(Array("echo: ".utf8) + request)
            _ = try connection.shutdown()
        } catch {
            serverError.set("\(error)")
        }
    }

    let socket = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(5))
    defer { socket.close() }
    try socket.setReadTimeout(.seconds(10))
    let connection = try Connection(client, transport: socket)
    connection.setConnectState()
    try connection.setServerName("localhost")
    try connection.doHandshake()
    try connection.writeAll(Array(message.utf8))
    var reply: [UInt8] = []
    reading: while true {
        switch Result(catching: { () throws(SSLError) in try connection.read(max: 4096) }) {
        case .success(let bytes): reply += bytes
        case .failure(.zeroReturn): break reading
        case .failure(let error): throw error
        }
    }
    _ = try? connection.shutdown()
    guard served.wait(timeout: .now() + 15) == .success else { fail("the server did not finish") }
    if let error = serverError.get() { fail("server: \(error)") }
    listener.close()
    say("SENT \(message)")
    say("RECEIVED \(String(decoding: reply, as: UTF8.self))")
    say("PROTOCOL \(connection.protocolVersionName ?? "?") \(connection.cipherName ?? "?")")
}

/// The server thread's error, handed to the main thread.
final class ErrorBox: @unchecked Sendable {  // every access holds `lock`
    private let lock = NSLock()
    private var text: String?
    func set(_ value: String) {
        lock.lock()
        text = value
        lock.unlock()
    }
    func get() -> String? {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}

do {
    try run()
} catch {
    fail("\(error)")
}
