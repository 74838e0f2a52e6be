import Foundation
internal import COpenSSL

/// The blocks of a PEM file, read with OpenSSL's own PEM reader.
enum PEMBlocks {
    struct Block {
        let label: String
        let der: [UInt8]
    }

    /// The label of a certificate followed by its trust settings (`openssl x509 -trustout`).
    static let trustedCertificateLabel = "TRUSTED CERTIFICATE"

    /// The labels a certificate may carry. A `TRUSTED CERTIFICATE` block
    /// must be decoded with `d2i_X509_AUX` (`X509(trustedDER:)`): plain
    /// `d2i_X509` would stop before the trust settings.
    static let certificateLabels: Set<String> = ["CERTIFICATE", "X509 CERTIFICATE", trustedCertificateLabel]

    /// True when the bytes contain a PEM begin line.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        return (0...(bytes.count - marker.count)).contains { start in
            bytes[start..<(start + marker.count)].elementsEqual(marker)
        }
    }

    /// Every block in order. Text outside blocks is skipped.
    /// - Throws: `OpenSSLError` naming the block's position (from 0) when one is damaged.
    static func read(_ bytes: some ContiguousBytes) throws -> [Block] {
        try MemoryBIO.withReadOnly(bytes) { bio in
            var blocks: [Block] = []
            while true {
                var name: UnsafeMutablePointer<CChar>?
                var header: UnsafeMutablePointer<CChar>?
                var data: UnsafeMutablePointer<UInt8>?
                var length = 0
                ErrorQueue.clear()
                let ok = PEM_read_bio(bio, &name, &header, &data, &length)
                defer {
                    cossl_OPENSSL_free(name)
                    cossl_OPENSSL_free(header)
                    cossl_OPENSSL_free(data)
                }
                if ok != 1 {
                    let error = ErrorQueue.drain("read PEM block \(blocks.count)")
                    // "no start line" after the last block is the normal end of input.
                    if error.entries.count == 1, error.hasReason(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE) {
                        return blocks
                    }
                    throw error
                }
                let label = name.map { String(cString: $0) } ?? ""
                let der = data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
                blocks.append(Block(label: label, der: der))
            }
        }
    }
}
