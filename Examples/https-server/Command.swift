import Foundation

/// `https-example --cert chain.pem --key key.pem --client-ca ca.pem --known client.pem [--known …] [--port 8443] [--host 127.0.0.1]`
///
/// A mutual-TLS HTTPS server: `curl --cacert ca.pem --cert client.pem --key client-key.pem https://127.0.0.1:8443/`
/// gets 200 and its certificate's subject when the certificate is one of
/// the `--known` ones; any other client is refused.
@main
struct HTTPSExampleCommand {
    static func main() async {
        do {
            let configuration = try parse(Array(CommandLine.arguments.dropFirst()))
            let server = try await HTTPSServer.start(configuration)
            FileHandle.standardOutput.write(
                Data("https-example: listening on https://\(configuration.host):\(server.port)/\n".utf8))
            try await server.run()
        } catch {
            FileHandle.standardError.write(Data("https-example: \(error)\n".utf8))
            exit(1)
        }
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ arguments: [String]) throws -> HTTPSServerConfiguration {
        var values: [String: [String]] = [:]
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            guard ["--cert", "--key", "--client-ca", "--known", "--port", "--host"].contains(name),
                index + 1 < arguments.count
            else {
                throw UsageError(
                    description: "usage: https-example --cert chain.pem --key key.pem --client-ca ca.pem "
                        + "--known client.pem [--known …] [--port 8443] [--host 127.0.0.1] (at \(name))")
            }
            values[name, default: []].append(arguments[index + 1])
            index += 2
        }
        func one(_ name: String) throws -> String {
            guard let value = values[name]?.last else { throw UsageError(description: "\(name) is required") }
            return value
        }
        var configuration = HTTPSServerConfiguration(
            certificateChainFile: try one("--cert"), privateKeyFile: try one("--key"),
            clientCAFile: try one("--client-ca"), knownClientFiles: values["--known"] ?? [])
        if let host = values["--host"]?.last { configuration.host = host }
        if let port = values["--port"]?.last {
            guard let number = Int(port), (0...65_535).contains(number) else {
                throw UsageError(description: "--port \(port) is not a port number")
            }
            configuration.port = number
        }
        return configuration
    }
}
