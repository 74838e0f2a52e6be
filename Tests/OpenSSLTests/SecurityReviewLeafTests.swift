import Testing
import Foundation
import COpenSSL
@testable import OpenSSL
import TestSupport

/// Security review, issue 12: trusted-certificate PEM (SEC08), TCPSocket
/// bounds (SEC09), PKCS#12 passphrase length (SEC11), and cache calls made
/// from the remove-session callback (SEC12).
@Suite("Security review (issue 12): PEM, sockets, PKCS#12, session cache")
struct SecurityReviewLeafTests {
    static var pki: TestPKI { TestPKI.shared }

    // MARK: SEC08 TRUSTED CERTIFICATE

    /// `openssl x509 -trustout` output for `certificate`, with the given extra arguments.
    static func trustedPEM(_ certificate: X509, _ arguments: [String]) throws -> String {
        let directory = try TemporaryDirectory()
        let input = try directory.write("cert.pem", try certificate.pem)
        return try ExternalTool.openssl(["x509", "-in", input, "-trustout"] + arguments)
    }

    @Test("SEC08 a TRUSTED CERTIFICATE from openssl x509 -trustout loads through X509(pem:) with its trust settings")
    func trustedCertificateSingle() throws {
        let root = Self.pki.root
        let pem = try Self.trustedPEM(
            root,
            [
                "-addtrust", "serverAuth", "-addreject", "clientAuth",
                "-setalias", "Test Root (trusted)",
            ])
        #expect(pem.hasPrefix("-----BEGIN TRUSTED CERTIFICATE-----"))

        let loaded = try X509(pem: pem)
        #expect(loaded == root)
        #expect(try loaded.der == root.der, "der is the certificate alone")
        #expect(try loaded.pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let settings = try #require(loaded.trustSettings)
        #expect(settings.trustedUses == [.serverAuth])
        #expect(settings.trustedUses.first?.shortName == "serverAuth")
        #expect(settings.rejectedUses == [.clientAuth])
        #expect(settings.alias == "Test Root (trusted)")
        #expect(settings.aliasBytes == Array("Test Root (trusted)".utf8))

        // A plain certificate carries none.
        #expect(root.trustSettings == nil)
        #expect(try X509(pem: try root.pem).trustSettings == nil)
        // pemOrDER goes the same way.
        #expect(try X509(pemOrDER: Array(pem.utf8)).trustSettings == settings)
        expectErrorQueueEmpty()
    }

    @Test("SEC08 X509.chain(pem:) reads TRUSTED CERTIFICATE blocks among plain ones, keeping their trust settings")
    func trustedCertificateChain() throws {
        let trustedRoot = try Self.trustedPEM(Self.pki.root, ["-addtrust", "serverAuth"])
        let bundle = try Self.pki.server.pem + Self.pki.intermediate.pem + trustedRoot
        let chain = try X509.chain(pem: bundle)
        #expect(chain == [Self.pki.server, Self.pki.intermediate, Self.pki.root])
        #expect(chain[0].trustSettings == nil)
        #expect(chain[2].trustSettings?.trustedUses == [.serverAuth])
        #expect(chain[2].trustSettings?.rejectedUses == [])
        #expect(chain[2].trustSettings?.alias == nil)

        // -trustout alone writes the label with no settings after the certificate.
        let bare = try Self.trustedPEM(Self.pki.root, [])
        #expect(bare.hasPrefix("-----BEGIN TRUSTED CERTIFICATE-----"))
        #expect(try X509.chain(pem: bare) == [Self.pki.root])
        #expect(try X509(pem: bare) == Self.pki.root)

        // Bytes after the trust settings are still refused, naming the block.
        var der = try Self.pki.root.der
        der += [0x30, 0x00, 0xFF]
        let junk =
            "-----BEGIN TRUSTED CERTIFICATE-----\n"
            + Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END TRUSTED CERTIFICATE-----\n"
        let error = try #require(throws: OpenSSLError.self) { try X509.chain(pem: junk) }
        #expect(error.operation.contains("certificate 0"))
        expectErrorQueueEmpty()
    }

    @Test("SEC08 trusted certificates as anchors: a store and a CA file apply their trusted and rejected uses")
    func trustedCertificateAnchors() throws {
        let directory = try TemporaryDirectory()
        for (arguments, shouldVerify) in [
            (["-addtrust", "serverAuth"], true),
            (["-addreject", "serverAuth"], false),
            (["-addtrust", "clientAuth"], false),
        ] {
            let pem = try Self.trustedPEM(Self.pki.root, arguments)
            let viaChain = try X509Store()
            try viaChain.add(try #require(X509.chain(pem: pem).first))
            let viaFile = try X509Store()
            try viaFile.loadFile(try directory.write("anchor.pem", pem))
            for store in [viaChain, viaFile] {
                try store.setPurpose(.tlsServer)
                let outcome = Result { try store.verify(Self.pki.server, untrusted: [Self.pki.intermediate]) }
                if shouldVerify {
                    #expect(try outcome.get().count == 3, "\(arguments)")
                } else {
                    #expect(throws: X509VerificationError.self, "\(arguments)") { try outcome.get() }
                }
            }
        }
        expectErrorQueueEmpty()
    }

    // MARK: SEC09 TCPSocket bounds

    @Test("SEC09 threads accepting on one listener: those that lose the one connection time out by their deadline")
    func acceptRaceLoserTimesOut() throws {
        // Each round: several threads wait in accept(timeout:) on one
        // listener and one connection arrives. poll wakes them all; with a
        // blocking accept after it, every loser that got past poll before the
        // winner took the connection waited for the next one, past its
        // deadline. Whether a loser gets past poll in time is up to the
        // scheduler, so the race is run for several rounds.
        let listener = try TCPSocket.listen()
        let acceptors = 4
        let timeout = Duration.milliseconds(250)
        var hungRounds = 0
        for _ in 0..<24 {
            let outcomes = LockedBox<[(succeeded: Bool, errno: Int32?, elapsed: Duration)]>([])
            let finished = DispatchSemaphore(value: 0)
            let ready = DispatchSemaphore(value: 0)
            for _ in 0..<acceptors {
                Thread.detachNewThread {
                    ready.signal()
                    let start = ContinuousClock.now
                    let outcome: (Bool, Int32?)
                    do {
                        let accepted = try listener.accept(timeout: timeout)
                        accepted.close()
                        outcome = (true, nil)
                    } catch let error as SocketError {
                        outcome = (false, error.errno)
                    } catch {
                        outcome = (false, -1)
                    }
                    let elapsed = ContinuousClock.now - start
                    outcomes.mutate { $0.append((outcome.0, outcome.1, elapsed)) }
                    finished.signal()
                }
            }
            for _ in 0..<acceptors { ready.wait() }
            // Let every thread reach poll, then offer one connection.
            Thread.sleep(forTimeInterval: 0.05)
            let client = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(2))
            defer { client.close() }

            var returned = 0
            let bound = DispatchTime.now() + 2
            for _ in 0..<acceptors where finished.wait(timeout: bound) == .success { returned += 1 }
            if returned < acceptors {
                hungRounds += 1
                // Release the hung threads so they do not outlive the test.
                let extra = (returned..<acceptors).compactMap { _ in
                    try? TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(2))
                }
                for _ in returned..<acceptors { _ = finished.wait(timeout: .now() + 5) }
                extra.forEach { $0.close() }
                continue
            }
            let results = outcomes.get()
            #expect(results.filter(\.succeeded).count == 1)
            for loser in results where !loser.succeeded {
                #expect(loser.errno == ETIMEDOUT)
                #expect(loser.elapsed < timeout + .seconds(1))
            }
        }
        #expect(hungRounds == 0, "in \(hungRounds) of 24 rounds an accept(timeout: 250 ms) was still blocked 2 s later")
        #expect(listener.isBlocking, "the listener's mode is restored")
    }

    /// Guards the SEC09 fix: the O_NONBLOCK that accept(timeout:) sets for a moment must not leak into a concurrent blocking accept.
    @Test("A blocking accept without a timeout keeps waiting while other threads run accept(timeout:) on the listener")
    func blockingAcceptBesideTimedAccept() throws {
        let listener = try TCPSocket.listen()
        let blockingResult = LockedBox<Int32?>(nil)
        let blockingDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do {
                try listener.accept().close()
                blockingResult.set(0)
            } catch let error as SocketError {
                blockingResult.set(error.errno)
            } catch {
                blockingResult.set(-1)
            }
            blockingDone.signal()
        }
        // Timed accepts toggle O_NONBLOCK on the listener many times meanwhile.
        for _ in 0..<20 {
            #expect(throws: SocketError.self) { try listener.accept(timeout: .milliseconds(10)) }
            #expect(listener.isBlocking)
        }
        #expect(
            blockingDone.wait(timeout: .now() + 0.2) == .timedOut,
            "the blocking accept returned early: \(String(describing: blockingResult.get()))")
        let client = try TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .seconds(2))
        defer { client.close() }
        #expect(blockingDone.wait(timeout: .now() + 5) == .success)
        #expect(blockingResult.get() == 0)
    }

    /// A listener whose accept queue is full, so the kernel drops further
    /// SYNs: a connection attempt to it ends with the kernel's ETIMEDOUT.
    static func unansweringListener() throws -> (TCPSocket, [TCPSocket]) {
        let listener = try TCPSocket.listen(backlog: 0)
        var fillers: [TCPSocket] = []
        for _ in 0..<2 {
            if let filler = try? TCPSocket.connect(host: "127.0.0.1", port: listener.localPort, timeout: .milliseconds(300)) {
                fillers.append(filler)
            }
        }
        return (listener, fillers)
    }

    @Test(
        "SEC09 an address the kernel times out (ETIMEDOUT) is followed by the next address",
        arguments: [nil, Duration.seconds(30)])
    func kernelTimeoutTriesNextAddress(timeout: Duration?) throws {
        let (silent, fillers) = try Self.unansweringListener()
        defer { fillers.forEach { $0.close() } }
        #expect(!fillers.isEmpty)
        let good = try TCPSocket.listen()
        let addresses =
            try TCPSocket.resolve(host: "127.0.0.1", port: silent.localPort, passive: false, operation: "test")
            + TCPSocket.resolve(host: "127.0.0.1", port: good.localPort, passive: false, operation: "test")
        let seams = TCPSocket.ConnectSeams(
            resolve: { _, _, _ in addresses },
            // One SYN retransmission: the kernel gives up after about 3 s instead of 2 minutes.
            prepare: { fd in
                var count: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_SYNCNT, &count, socklen_t(MemoryLayout<Int32>.size))
            })
        // The first address alone: the kernel's own timeout.
        let alone = TCPSocket.ConnectSeams(resolve: { _, _, _ in Array(addresses.prefix(1)) }, prepare: seams.prepare)
        let error = try #require(throws: SocketError.self) {
            try TCPSocket.connect(host: "two.example", port: 1, timeout: timeout, seams: alone)
        }
        #expect(error.errno == ETIMEDOUT)

        let start = ContinuousClock.now
        let socket = try TCPSocket.connect(host: "two.example", port: 1, timeout: timeout, seams: seams)
        defer { socket.close() }
        #expect(socket.remoteAddress == "127.0.0.1:\(good.localPort)")
        #expect(ContinuousClock.now - start >= .seconds(2), "the first address was really tried")
        try good.accept(timeout: .seconds(2)).close()
    }

    @Test("SEC09 connect(timeout:) gives up on a name resolution that outlasts the timeout; the lookup finishes alone")
    func resolutionIsBounded() throws {
        let listener = try TCPSocket.listen()
        let port = listener.localPort
        let lookupFinished = DispatchSemaphore(value: 0)
        let slow = TCPSocket.ConnectSeams(resolve: { _, _, operation throws(SocketError) in
            defer { lookupFinished.signal() }
            Thread.sleep(forTimeInterval: 2)  // a resolver waiting on a DNS server that does not answer
            return try TCPSocket.resolve(host: "127.0.0.1", port: port, passive: false, operation: operation)
        })
        let start = ContinuousClock.now
        let error = try #require(throws: SocketError.self) {
            try TCPSocket.connect(host: "slow.example", port: port, timeout: .milliseconds(300), seams: slow)
        }
        let elapsed = ContinuousClock.now - start
        #expect(error.errno == ETIMEDOUT)
        #expect(error.message.contains("name resolution"))
        #expect(elapsed < .seconds(1), "waited \(elapsed) for a 300 ms timeout")
        // The abandoned lookup still runs to its end on its own thread.
        #expect(lookupFinished.wait(timeout: .now() + 5) == .success)

        // A lookup that answers in time is used (through the thread), and the
        // system resolver works that way too.
        let fast = TCPSocket.ConnectSeams(resolve: { _, _, operation throws(SocketError) in
            try TCPSocket.resolve(host: "127.0.0.1", port: port, passive: false, operation: operation)
        })
        try TCPSocket.connect(host: "fast.example", port: port, timeout: .seconds(5), seams: fast).close()
        try listener.accept(timeout: .seconds(2)).close()
        try TCPSocket.connect(host: "localhost", port: port, timeout: .seconds(5)).close()
        try listener.accept(timeout: .seconds(2)).close()
        // The resolver's own failure comes back from the thread unchanged.
        let failing = TCPSocket.ConnectSeams(resolve: { _, _, operation throws(SocketError) in
            throw SocketError(operation: operation, errno: 0, message: "Name or service not known", resolverCode: EAI_NONAME)
        })
        let unknown = try #require(throws: SocketError.self) {
            try TCPSocket.connect(host: "unknown.example", port: port, timeout: .seconds(5), seams: failing)
        }
        #expect(unknown.resolverCode == EAI_NONAME)
        #expect(TCPSocket.isNumericAddress("::1") && TCPSocket.isNumericAddress("127.0.0.1") && TCPSocket.isNumericAddress(""))
        #expect(!TCPSocket.isNumericAddress("localhost"))
    }

    // MARK: SEC11 PKCS#12 passphrase length

    static func passphrase(_ length: Int) -> [UInt8] {
        (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
    }

    @Test("SEC11 a PKCS#12 passphrase over 1,024 bytes is refused (PassphraseError.tooLong) on export, not cut")
    func pkcs12ExportPassphraseLength() throws {
        #expect(PKCS12.maximumPassphraseLength == 1024)
        let bundle = PKCS12(privateKey: Self.pki.serverKey, certificate: Self.pki.server, friendlyName: "long")
        let tooLong = Self.passphrase(1025)

        // Export: refused, rather than a bundle protected by the first 1,024 bytes only.
        #expect(throws: PassphraseError.tooLong(operation: "write PKCS#12", length: 1025, maximum: 1024)) {
            try bundle.der(passphrase: Passphrase(bytes: tooLong), iterations: 1000)
        }
        #expect(throws: PassphraseError.tooLong(operation: "write PKCS#12", length: 1025, maximum: 1024)) {
            try bundle.der(passphrase: .callback { _ in tooLong }, iterations: 1000)
        }
        expectErrorQueueEmpty()
    }

    @Test("SEC11 a PKCS#12 passphrase over 1,024 bytes is refused (PassphraseError.tooLong) on import; 1,024 bytes open a bundle")
    func pkcs12ImportPassphraseLength() throws {
        let bundle = PKCS12(privateKey: Self.pki.serverKey, certificate: Self.pki.server, friendlyName: "long")
        let longest = Self.passphrase(1024)
        let tooLong = Self.passphrase(1025)  // the 1,024 bytes above and one more

        // 1,024 bytes work both ways.
        let der = try bundle.der(passphrase: Passphrase(bytes: longest), iterations: 1000)
        let opened = try PKCS12(der: der, passphrase: Passphrase(bytes: longest))
        #expect(opened.certificate == Self.pki.server)
        #expect(opened.friendlyName == "long")
        let offered = LockedBox<Int>(0)
        let viaCallback = try PKCS12(
            der: der,
            passphrase: .callback { maxLength in
                offered.set(maxLength)
                return longest
            })
        #expect(viaCallback.certificate == Self.pki.server)
        #expect(offered.get() == 1024)

        // Import: the 1,025-byte passphrase does not open the bundle made
        // with its first 1,024 bytes (it used to, being cut to them).
        let tooLongError = PassphraseError.tooLong(operation: "read PKCS#12", length: 1025, maximum: 1024)
        #expect(throws: tooLongError) { try PKCS12(der: der, passphrase: Passphrase(bytes: tooLong)) }
        #expect(throws: tooLongError) { try PKCS12(der: der, passphrase: .callback { _ in tooLong }) }
        // A shorter one (its first 1,023 bytes) is just a wrong passphrase.
        #expect(throws: PassphraseError.self) { try PKCS12(der: der, passphrase: Passphrase(bytes: Self.passphrase(1023))) }
        expectErrorQueueEmpty()
    }

    // MARK: SEC12 cache calls from the remove-session callback

    /// What a remove-session callback saw and did.
    final class RemovalLog: @unchecked Sendable {  // guarded by lock
        private let lock = NSLock()
        private var removedIDs: [[UInt8]] = []
        private var results: [Bool] = []
        private var targets: [String: Session] = [:]

        func record(_ session: Session) -> Int {
            lock.lock()
            defer { lock.unlock() }
            removedIDs.append(session.id)
            return removedIDs.filter { $0 == session.id }.count
        }
        func recordResult(_ result: Bool) {
            lock.lock()
            results.append(result)
            lock.unlock()
        }
        func setTarget(_ name: String, _ session: Session) {
            lock.lock()
            targets[name] = session
            lock.unlock()
        }
        func target(_ name: String) -> Session? {
            lock.lock()
            defer { lock.unlock() }
            return targets[name]
        }
        var ids: [[UInt8]] {
            lock.lock()
            defer { lock.unlock() }
            return removedIDs
        }
        var removeResults: [Bool] {
            lock.lock()
            defer { lock.unlock() }
            return results
        }
    }

    /// A TLS 1.2 server keeping stateful sessions (no tickets) in its cache for 60 s.
    static func cachingServer(cacheSize: Int? = nil) throws -> Context {
        let server = try VersionedContexts.server(.tls1_2)
        try server.setOptions(.noTicket)
        try server.setTimeout(60)
        if let cacheSize { try server.setSessionCacheSize(cacheSize) }
        return server
    }

    /// One full handshake with `server`, ended cleanly: its session stays cached.
    static func cachedSession(_ server: Context) throws -> Session {
        let pair = try TLSPair(client: try TestContexts.client(), server: server)
        try pair.handshake()
        let session = try #require(pair.server.session)
        _ = try pair.server.shutdown()
        return session
    }

    /// Makes `session` look made 1,000 s ago, so a flush now finds it expired.
    static func age(_ session: Session) {
        session.withUnsafeOpenSSLPointer { _ = SSL_SESSION_set_time($0, Int(Date().timeIntervalSince1970) - 1000) }
    }

    @Test("SEC12 removeSession called from the remove callback during flushSessions takes effect once the flush returns")
    func removeSessionFromFlushCallback() throws {
        let server = try Self.cachingServer()
        let log = RemovalLog()
        try server.setRemoveSessionCallback { context, session in
            // When the first expired session goes, drop the fresh one too.
            if log.record(session) == 1, let old = log.target("old"), session.id == old.id, let fresh = log.target("fresh") {
                log.recordResult(context.removeSession(fresh))
            }
        }
        let old = try Self.cachedSession(server)
        let older = try Self.cachedSession(server)
        let fresh = try Self.cachedSession(server)
        log.setTarget("old", old)
        log.setTarget("fresh", fresh)
        Self.age(old)
        Self.age(older)
        #expect(server.cachedSessionCount == 3)

        server.flushSessions()  // expires `old` and `older`; the callback asks for `fresh` too
        #expect(server.cachedSessionCount == 0, "the removal asked for inside the callback was dropped")
        #expect(Set(log.ids) == Set([old.id, older.id, fresh.id]))
        #expect(log.removeResults == [false], "deferred: documented to return false")
        #expect(!fresh.isResumable)
        expectErrorQueueEmpty()
    }

    @Test("SEC12 flushSessions called from the remove callback during flushSessions takes effect once the outer flush returns")
    func flushFromFlushCallback() throws {
        let server = try Self.cachingServer()
        let log = RemovalLog()
        try server.setRemoveSessionCallback { context, session in
            if log.record(session) == 1, let old = log.target("old"), session.id == old.id {
                context.flushSessions(expiredAt: Date() + 1000)  // everything
            }
        }
        let old = try Self.cachedSession(server)
        let fresh = try Self.cachedSession(server)
        let fresher = try Self.cachedSession(server)
        log.setTarget("old", old)
        Self.age(old)

        server.flushSessions()
        #expect(server.cachedSessionCount == 0, "the flush asked for inside the callback was dropped")
        #expect(Set(log.ids) == Set([old.id, fresh.id, fresher.id]))
        #expect(log.ids.count == 3, "each session is reported once")
        expectErrorQueueEmpty()
    }

    @Test("SEC12 removeSession from the remove callback of a handshake's cache eviction runs once OpenSSL lets go of the cache")
    func removeSessionFromEvictionCallback() throws {
        // OpenSSL evicts when the count reaches the size, the new session included: 3 holds two.
        let server = try Self.cachingServer(cacheSize: 3)
        let log = RemovalLog()
        try server.setRemoveSessionCallback { context, session in
            // The oldest session is evicted when a third arrives: drop the second as well.
            if log.record(session) == 1, let first = log.target("first"), session.id == first.id,
                let second = log.target("second")
            {
                log.recordResult(context.removeSession(second))
            }
        }
        let first = try Self.cachedSession(server)
        let second = try Self.cachedSession(server)
        log.setTarget("first", first)
        log.setTarget("second", second)
        #expect(server.cachedSessionCount == 2)

        let third = try Self.cachedSession(server)  // evicts `first` inside the handshake
        // The deferred removal runs on another thread as soon as the handshake has released the cache.
        let deadline = ContinuousClock.now + .seconds(5)
        while server.cachedSessionCount != 1 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(server.cachedSessionCount == 1, "the removal asked for inside the callback was dropped")
        #expect(Set(log.ids) == Set([first.id, second.id]))
        #expect(log.removeResults == [false])
        #expect(!second.isResumable)
        #expect(third.isResumable)
        expectErrorQueueEmpty()
    }

    @Test(
        "SEC12 a remove callback that removes the session it is given (or another) from inside removeSession ends, each session reported once"
    )
    func removeSessionFromRemoveCallback() throws {
        let server = try Self.cachingServer()
        let log = RemovalLog()
        try server.setRemoveSessionCallback { context, session in
            guard log.record(session) == 1 else { return }
            // Naive clean-up code: remove what we are told about (it used to
            // recurse without end, OpenSSL calling back for a session no longer
            // cached), and the partner session as well.
            log.recordResult(context.removeSession(session))
            if let partner = log.target("partner"), partner.id != session.id {
                log.recordResult(context.removeSession(partner))
            }
        }
        let first = try Self.cachedSession(server)
        let partner = try Self.cachedSession(server)
        let other = try Self.cachedSession(server)
        log.setTarget("partner", partner)

        #expect(server.removeSession(first))
        #expect(server.cachedSessionCount == 1)
        #expect(log.ids == [first.id, partner.id], "each session reported once")
        #expect(log.removeResults.allSatisfy { !$0 })
        #expect(!partner.isResumable)
        #expect(other.isResumable)
        expectErrorQueueEmpty()
    }
}
