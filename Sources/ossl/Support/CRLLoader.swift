import Foundation
import OpenSSL

/// Adds the certificate revocation lists of a file to an `X509Store`:
/// every `X509 CRL` block of a PEM file, or one DER CRL.
enum CRLLoader {
    /// - Throws: `CLIFailure.input` naming the file: unreadable, no CRL in
    ///   it, or OpenSSL's reason for a damaged CRL.
    static func add(_ input: InputFile, to store: X509Store) throws {
        let bytes = try input.read()
        var crls: [CRL] = []
        if looksLikePEM(bytes) {
            let blocks = pemBlocks(in: String(decoding: bytes, as: UTF8.self), label: "X509 CRL")
            guard !blocks.isEmpty else { throw CLIFailure.input("\(input.name): no CRL found (BEGIN X509 CRL)") }
            for (index, block) in blocks.enumerated() {
                do {
                    crls.append(try CRL(pem: block))
                } catch {
                    throw CLIFailure.input("\(input.name): CRL \(index + 1): \(describe(error))")
                }
            }
        } else {
            do {
                crls.append(try CRL(der: bytes))
            } catch {
                throw CLIFailure.input("\(input.name): not PEM, and not a DER CRL: \(describe(error))")
            }
        }
        for crl in crls {
            do { try store.add(crl) } catch { throw CLIFailure.input(input.name, error) }
        }
    }

    /// The complete `-----BEGIN label-----` … `-----END label-----` blocks of `text`.
    static func pemBlocks(in text: String, label: String) -> [String] {
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        var blocks: [String] = []
        var rest = Substring(text)
        while let start = rest.range(of: begin) {
            guard let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) else {
                // A block that never ends: hand it to OpenSSL, which says what is wrong.
                blocks.append(String(rest[start.lowerBound...]))
                break
            }
            blocks.append(String(rest[start.lowerBound..<stop.upperBound]) + "\n")
            rest = rest[stop.upperBound...]
        }
        return blocks
    }
}
