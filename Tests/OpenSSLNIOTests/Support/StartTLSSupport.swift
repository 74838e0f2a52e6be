import Foundation
import NIOCore
import NIOTLS
import Testing
import OpenSSL
import OpenSSLNIO
import TestSupport

// A small SMTP dialogue (RFC 3207's STARTTLS) for the N08 tests: a server
// and a client application handler that talk plaintext, then add this
// library's TLS handler to their live pipeline and go on over TLS.

/// Splits a byte stream into lines ended by LF (a CR before it is dropped).
struct LineBuffer {
    private var pending: [UInt8] = []

    mutating func append(_ buffer: inout ByteBuffer) {
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    mutating func nextLine() -> String? {
        guard let end = pending.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var line = Array(pending[..<end])
        pending.removeSubrange(...end)
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        return String(decoding: line, as: UTF8.self)
    }

    /// Whatever is left after the last complete line (removed).
    mutating func takeRest() -> [UInt8] {
        defer { pending = [] }
        return pending
    }
}

/// What one side of a STARTTLS dialogue saw, across event-loop threads.
final class DialogueLog: Sendable {
    /// Lines received before TLS started.
    let plaintextLines = LockedBox<[String]>([])
    /// Lines received after TLS started (decrypted by the handler).
    let tlsLines = LockedBox<[String]>([])
    /// Bytes that came after the STARTTLS line in plaintext, discarded (RFC 3207, section 5).
    let discarded = LockedBox<[UInt8]>([])
    let handshake = LockedBox<TLSHandshakeResult?>(nil)
    /// What `addOpenSSLHandler` returned when TLS started.
    let handshakeFuture = LockedBox<EventLoopFuture<TLSHandshakeResult>?>(nil)
    let handshakeEvents = LockedBox<Int>(0)
    let errors = LockedBox<[String]>([])
    /// The dialogue reached its end (the client got 221 to QUIT; the server sent it).
    let finished = LockedBox<Bool>(false)

    var summary: String {
        "plaintext \(plaintextLines.get()), tls \(tlsLines.get()), handshake events \(handshakeEvents.get()), errors \(errors.get())"
    }

    /// Waits (bounded) until the dialogue finished or failed.
    func waitUntilFinished(timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !finished.get() && errors.get().isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The server end of the dialogue: greets, answers EHLO (offering
/// STARTTLS), answers STARTTLS with 220 and then puts an
/// `OpenSSLServerHandler` in front of itself; over TLS, answers EHLO
/// without STARTTLS, NOOP, and QUIT (221, then a TLS close).
final class SMTPServerApplication: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let makeTLSHandler: () throws -> OpenSSLServerHandler
    private let log: DialogueLog
    private var lines = LineBuffer()
    private var secured = false

    init(log: DialogueLog, makeTLSHandler: @escaping () throws -> OpenSSLServerHandler) {
        self.log = log
        self.makeTLSHandler = makeTLSHandler
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context, "220 localhost ESMTP swift-openssl test server")
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        lines.append(&buffer)
        while let line = lines.nextLine() {
            let wasSecured = secured
            answer(line, context: context)
            if secured && !wasSecured {
                // Plaintext after STARTTLS is not TLS-protected: never act on it (RFC 3207, section 5).
                let rest = lines.takeRest()
                log.discarded.mutate { $0 += rest }
                return
            }
        }
    }

    private func answer(_ line: String, context: ChannelHandlerContext) {
        (secured ? log.tlsLines : log.plaintextLines).mutate { $0.append(line) }
        let words = line.split(separator: " ", maxSplits: 1)
        let verb = words.first.map { $0.uppercased() } ?? ""
        let argument = words.count > 1 ? String(words[1]) : ""
        switch verb {
        case "EHLO":
            if secured {
                send(context, "250-localhost greets \(argument) over TLS\r\n250 AUTH PLAIN")
            } else {
                send(context, "250-localhost greets \(argument)\r\n250-PIPELINING\r\n250 STARTTLS")
            }
        case "STARTTLS" where !secured:
            // The 220 leaves in plaintext (written and flushed before the
            // handler is there); everything after it goes through TLS.
            send(context, "220 2.0.0 Ready to start TLS")
            do {
                let handshake = try context.pipeline.syncOperations.addOpenSSLHandler(try makeTLSHandler(), position: .first)
                log.handshakeFuture.mutate { $0 = handshake }
                secured = true
            } catch {
                log.errors.mutate { $0.append("adding the TLS handler: \(error)") }
                context.close(promise: nil)
            }
        case "STARTTLS":
            send(context, "454 4.7.0 TLS is already active")
        case "NOOP":
            send(context, "250 2.0.0 OK")
        case "QUIT":
            send(context, "221 2.0.0 Bye")
            log.finished.mutate { $0 = true }
            context.close(promise: nil)
        default:
            send(context, "500 5.5.2 unrecognized command")
        }
    }

    private func send(_ context: ChannelHandlerContext, _ text: String) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            log.handshakeEvents.mutate { $0 += 1 }
            if let handler = try? context.pipeline.syncOperations.openSSLHandler() {
                log.handshake.mutate { $0 = handler.handshakeResult }
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        log.errors.mutate { $0.append("\(error)") }
        context.close(promise: nil)
    }
}

/// The client end: EHLO, STARTTLS once the server offers it, then on 220
/// puts an `OpenSSLClientHandler` in front of itself and at once (before
/// the handshake has completed) writes EHLO again, then QUIT.
final class SMTPClientApplication: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Step { case greeting, ehlo, startTLS, secureEhlo, quit, done }

    private let makeTLSHandler: () throws -> OpenSSLClientHandler
    private let log: DialogueLog
    private var lines = LineBuffer()
    private var step = Step.greeting
    private var offered = false
    private var secured = false
    /// The server's reply to the EHLO sent over TLS, line by line.
    private(set) var secureReply: [String] = []

    init(log: DialogueLog, makeTLSHandler: @escaping () throws -> OpenSSLClientHandler) {
        self.log = log
        self.makeTLSHandler = makeTLSHandler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        lines.append(&buffer)
        while let line = lines.nextLine() {
            let wasSecured = secured
            answer(line, context: context)
            if secured && !wasSecured {
                // A server has nothing to say between its 220 and our ClientHello.
                let rest = lines.takeRest()
                log.discarded.mutate { $0 += rest }
                return
            }
        }
    }

    private func answer(_ line: String, context: ChannelHandlerContext) {
        (secured ? log.tlsLines : log.plaintextLines).mutate { $0.append(line) }
        // Multi-line replies: "250-…" continues, "250 …" ends.
        let isLast = line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] == " "
        switch step {
        case .greeting where line.hasPrefix("220") && isLast:
            send(context, "EHLO client.test")
            step = .ehlo
        case .ehlo:
            if line.uppercased().contains("STARTTLS") { offered = true }
            if isLast {
                guard offered, line.hasPrefix("250") else { return fail(context, "no STARTTLS offered: \(line)") }
                send(context, "STARTTLS")
                step = .startTLS
            }
        case .startTLS where line.hasPrefix("220"):
            do {
                let handshake = try context.pipeline.syncOperations.addOpenSSLHandler(try makeTLSHandler(), position: .first)
                log.handshakeFuture.mutate { $0 = handshake }
                secured = true
            } catch {
                return fail(context, "adding the TLS handler: \(error)")
            }
            // Written before the handshake has completed: the handler keeps it until then.
            send(context, "EHLO secure.test")
            step = .secureEhlo
        case .secureEhlo:
            secureReply.append(line)
            if isLast {
                send(context, "QUIT")
                step = .quit
            }
        case .quit where line.hasPrefix("221"):
            step = .done
            log.finished.mutate { $0 = true }
        default:
            fail(context, "unexpected reply in step \(step): \(line)")
        }
    }

    private func fail(_ context: ChannelHandlerContext, _ message: String) {
        log.errors.mutate { $0.append(message) }
        context.close(promise: nil)
    }

    private func send(_ context: ChannelHandlerContext, _ text: String) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            log.handshakeEvents.mutate { $0 += 1 }
            if let handler = try? context.pipeline.syncOperations.openSSLHandler() {
                log.handshake.mutate { $0 = handler.handshakeResult }
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        log.errors.mutate { $0.append("\(error)") }
        context.close(promise: nil)
    }
}

/// A Python asyncio server speaking the same dialogue, switching to TLS with
/// `StreamWriter.start_tls` (Python 3.11+). Prints what it sees.
enum PythonStartTLSServer {
    static let script = #"""
        import asyncio, ssl, sys

        if not hasattr(asyncio.StreamWriter, "start_tls"):
            print("NO-START-TLS python", sys.version, flush=True)
            sys.exit(3)

        cert, key, maximum = sys.argv[1], sys.argv[2], sys.argv[3]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[maximum]

        async def reply(writer, text):
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        async def handle(reader, writer):
            try:
                await reply(writer, "220 python ESMTP")
                line = await reader.readline()
                print("PLAIN", line.decode().strip(), flush=True)
                await reply(writer, "250-python greets you\r\n250 STARTTLS")
                line = await reader.readline()
                print("PLAIN", line.decode().strip(), flush=True)
                if line.strip().upper() != b"STARTTLS":
                    await reply(writer, "503 expected STARTTLS")
                    return
                await reply(writer, "220 2.0.0 Ready to start TLS")
                await writer.start_tls(context)
                tls = writer.get_extra_info("ssl_object")
                print("TLS", tls.version(), flush=True)
                while True:
                    line = await reader.readline()
                    if not line:
                        print("EOF", flush=True)
                        break
                    text = line.decode().strip()
                    print("SECURE", text, flush=True)
                    if text.upper().startswith("EHLO"):
                        await reply(writer, "250-python greets " + text[5:] + " over " + tls.version() + "\r\n250 AUTH PLAIN")
                    elif text.upper() == "QUIT":
                        await reply(writer, "221 2.0.0 Bye")
                        break
                    else:
                        await reply(writer, "500 unrecognized")
            except Exception as error:
                print("ERROR", repr(error), flush=True)
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except Exception as error:
                    print("CLOSE-FAILED", repr(error), flush=True)
                print("CLOSED", flush=True)

        async def main():
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            print("LISTENING", server.sockets[0].getsockname()[1], flush=True)
            async with server:
                await server.serve_forever()

        asyncio.run(main())
        """#
}

/// Runs a blocking wait (on a peer process) on a thread of its own, so it
/// never holds one of the few threads that run the test suite's async tasks
/// (a server under test may need them meanwhile).
func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.start()
    }
}
