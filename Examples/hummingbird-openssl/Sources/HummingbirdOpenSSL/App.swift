import Foundation
import Hummingbird
import NIOCore
import OpenSSL
import OpenSSLNIO

/// `HummingbirdOpenSSL --cert chain.pem --key key.pem [--host 127.0.0.1] [--port 8443]`
///
/// Serves `GET /` over HTTPS with swift-openssl's handler and prints
/// "listening on https://HOST:PORT/" once it accepts connections (port 0
/// lets the system choose).
@main
struct HummingbirdOpenSSLApp {
    static func main() async {
        do {
            var options: [String: String] = ["--host": "127.0.0.1", "--port": "8443"]
            var arguments = Array(CommandLine.arguments.dropFirst())[...]
            while let name = arguments.popFirst() {
                guard ["--cert", "--key", "--host", "--port"].contains(name), let value = arguments.popFirst() else {
                    throw UsageError(
                        description: "usage: HummingbirdOpenSSL --cert chain.pem --key key.pem [--host H] [--port P]")
                }
                options[name] = value
            }
            guard let chainFile = options["--cert"], let keyFile = options["--key"],
                let host = options["--host"], let port = options["--port"].flatMap(Int.init)
            else {
                throw UsageError(description: "--cert and --key are required; --port takes a number")
            }
            let chain = try X509.chain(pem: Array(try Data(contentsOf: URL(fileURLWithPath: chainFile))))
            guard let certificate = chain.first else { throw UsageError(description: "\(chainFile) holds no certificate") }
            let key = try PKey(privateKeyPEM: Array(try Data(contentsOf: URL(fileURLWithPath: keyFile))))
            let context = try Context.server(certificate: certificate, key: key, chain: Array(chain.dropFirst()))
            try context.setALPNSelection(preferring: ["http/1.1"])

            let router = Router(context: TLSRequestContext.self)
            router.get("/") { _, context -> String in
                let tls = try await context.channel.openSSLHandshakeResult().get()
                return "Hello from Hummingbird over \(OpenSSL.Version.openSSL): "
                    + "\(tls.protocolVersion.map { "\($0)" } ?? "?") \(tls.cipherName ?? "?")\n"
            }
            let app = Application(
                router: router,
                server: .openSSLHTTP1(context: context),
                configuration: .init(address: .hostname(host, port: port), serverName: "hummingbird-openssl"),
                onServerRunning: { channel in
                    FileHandle.standardOutput.write(
                        Data("listening on https://\(host):\(channel.localAddress?.port ?? port)/\n".utf8))
                })
            try await app.runService()
        } catch {
            FileHandle.standardError.write(Data("HummingbirdOpenSSL: \(error)\n".utf8))
            exit(1)
        }
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }
}
