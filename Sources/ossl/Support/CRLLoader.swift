import Foundation
import OpenSSL

/// Adds certificate revocation lists from a file to an `X509Store`.
///
/// Only the `X509 CRL` blocks of a PEM file are used (copied to a private
/// temporary file that `X509Store.loadFile` reads), so a certificate that
/// happens to sit in the same file never becomes a trust anchor.
enum CRLLoader {
    /// - Throws: `CLIFailure.input` naming the file: unreadable, no CRL in
    ///   it, DER (not supported here), or OpenSSL's reason for a damaged CRL.
    static func add(_ input: InputFile, to store: X509Store) throws {
        let bytes = try input.read()
        guard looksLikePEM(bytes) else {
            throw CLIFailure.input("\(input.name): not a PEM CRL (BEGIN X509 CRL); convert a DER CRL with `openssl crl -inform DER`")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let blocks = pemBlocks(in: text, label: "X509 CRL")
        guard !blocks.isEmpty else { throw CLIFailure.input("\(input.name): no CRL found (BEGIN X509 CRL)") }
        let directory = FileManager.default.temporaryDirectory.path
        let path = directory + "/ossl-crl-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pem"
        do {
            try AtomicFile.write(Array(blocks.joined().utf8), to: path, mode: 0o600)
        } catch {
            throw CLIFailure.input(input.name, error)
        }
        defer { unlink(path) }
        do {
            try store.loadFile(path)
        } catch let error as OpenSSLError {
            throw CLIFailure.input("\(input.name): \(oneLine(error.entries.reversed().compactMap(\.reason).joined(separator: "; ")))")
        } catch {
            throw CLIFailure.input(input.name, error)
        }
    }

    /// The complete `-----BEGIN label-----` … `-----END label-----` blocks of `text`, each with a final newline.
    static func pemBlocks(in text: String, label: String) -> [String] {
        let begin = "-----BEGIN \(label)-----", end = "-----END \(label)-----"
        var blocks: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: begin) {
            guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else { break }
            blocks.append(String(rest[start.lowerBound..<stop.upperBound]) + "\n")
            rest = rest[stop.upperBound...]
        }
        return blocks
    }
}
