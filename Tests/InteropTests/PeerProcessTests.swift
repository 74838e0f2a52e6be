import Foundation
import Testing
import TestSupport

/// The harness's own promises: a peer never outlives its bound, `stop()`
/// ends it at once, and its listening port is found without guessing.
@Suite("Peer processes")
struct PeerProcessTests {
    @Test("a peer is killed when its lifetime ends, and stop() kills it at once")
    func bounded() throws {
        let outliving = try PeerProcess("/bin/sleep", ["30"], lifetime: 1)
        defer { outliving.stop() }
        let exit = outliving.waitForExit(timeout: 10)
        #expect(exit?.signal == SIGKILL || exit?.status == 137, "\(String(describing: exit))")

        let running = try PeerProcess("/bin/sleep", ["30"], lifetime: 30)
        #expect(running.exit == nil)
        let start = Date()
        running.stop()
        #expect(running.exit != nil)
        #expect(Date().timeIntervalSince(start) < 5)
        // SIGKILL is delivered asynchronously: allow the group's last process a moment to go.
        let deadline = Date().addingTimeInterval(3)
        while !PeerProcess.processes(inGroup: running.pid).isEmpty && Date() < deadline { usleep(10_000) }
        #expect(PeerProcess.processes(inGroup: running.pid).isEmpty, "no process of its group is left")
    }

    @Test("standard input reaches the peer, its output comes back, and its listening port is read from /proc")
    func inputOutputAndPort() throws {
        let cat = try PeerProcess("/bin/cat", [], lifetime: 10)
        defer { cat.stop() }
        cat.send(Array("echo me\n".utf8))
        cat.closeInput()
        #expect(cat.waitFor(timeout: 5) { out, _ in out == Array("echo me\n".utf8) })
        #expect(cat.waitForExit(timeout: 5)?.succeeded == true)

        let server = try PeerProcess(
            "/usr/bin/openssl",
            [
                "s_server", "-accept", "127.0.0.1:0", "-nocert", "-psk", "00",
                "-naccept", "1", "-quiet",
            ], lifetime: 10)
        defer { server.stop() }
        let port = server.listeningPort(timeout: 5)
        #expect(port != nil && port != 0)
        if let port {
            let client = try? TCPConnectProbe.connect(port: port)
            #expect(client == true, "something accepts on 127.0.0.1:\(port)")
        }
    }
}

/// A plain TCP connect, to show that a port found in /proc is the peer's.
enum TCPConnectProbe {
    static func connect(port: UInt16) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
