#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import OpenSSL

/// What `ossl` prints about one certificate: the readable summary, the
/// `--json` object (the schema in Docs/cli.md), and the one-line form used
/// in chains.
struct CertificateReport {
    let certificate: X509

    init(_ certificate: X509) { self.certificate = certificate }

    // MARK: Field errors

    /// A field that could not be read, and OpenSSL's reason.
    struct FieldError: Sendable, Equatable {
        let field: String
        let reason: String
    }

    /// Collects the field errors of one report while its fields are read.
    final class FieldErrors {
        private(set) var list: [FieldError] = []

        /// `body`'s value, or nil (with the error remembered) when it throws.
        func read<T>(_ field: String, _ body: () throws -> T) -> T? {
            do {
                return try body()
            } catch {
                list.append(FieldError(field: field, reason: describe(error)))
                return nil
            }
        }

        /// `{"error": reason}` for the last error remembered.
        var lastJSON: JSON {
            .object([("error", .string(list.last?.reason ?? "unreadable"))])
        }
    }

    // MARK: JSON

    /// The certificate as the `--json` object: the keys Docs/cli.md lists,
    /// in that order. A field that cannot be read is `{"error": reason}`
    /// (a time that does not parse: `"raw:<as encoded>"`), and is listed in
    /// the returned errors; every other field is still read.
    func json() -> (object: JSON, errors: [FieldError]) {
        let certificate = self.certificate
        let errors = FieldErrors()
        func field(_ name: String, _ body: () throws -> JSON) -> (String, JSON) {
            (name, errors.read(name, body) ?? errors.lastJSON)
        }
        func time(_ name: String, _ read: () throws -> Date, encoded: String) -> (String, JSON) {
            (name, errors.read(name) { .string(isoTime(try read())) } ?? .string("raw:" + encoded))
        }
        var members: [(String, JSON)] = [
            field("subject") { Self.nameJSON(try certificate.subject) },
            field("issuer") { Self.nameJSON(try certificate.issuer) },
            ("serial", .string(certificate.serialNumber.hexString)),
            ("version", .int(certificate.version)),
            time("notBefore", { try certificate.notBefore }, encoded: certificate.encodedNotBefore),
            time("notAfter", { try certificate.notAfter }, encoded: certificate.encodedNotAfter),
            ("signatureAlgorithm", .string(certificate.signatureAlgorithm)),
        ]
        let outer = certificate.outerSignatureAlgorithm
        if outer != certificate.signatureAlgorithm {
            members.append(("outerSignatureAlgorithm", .string(outer)))
        }
        members += [
            ("publicKey", publicKeyJSON()),
            field("fingerprints") {
                .object([
                    ("sha1", .string(hex(try certificate.digest(.sha1)))),
                    ("sha256", .string(hex(try certificate.digest(.sha256)))),
                ])
            },
            field("subjectAltNames") {
                .array(
                    (try certificate.subjectAlternativeNames ?? []).map { name in
                        .object([("type", .string(name.typeName)), ("value", .string(name.valueString))])
                    })
            },
            field("basicConstraints") {
                try certificate.basicConstraints.map { constraints in
                    .object([("ca", .bool(constraints.isCA)), ("pathLength", .int(constraints.pathLength))])
                } ?? .null
            },
            field("keyUsage") { try certificate.keyUsage.map { usage in .array(usage.names.map { .string($0) }) } ?? .null },
            field("extendedKeyUsage") {
                try certificate.extendedKeyUsage.map { purposes in
                    .array(
                        purposes.map { purpose in
                            .object([("oid", .string(purpose.oid)), ("name", .string(purpose.name))])
                        })
                } ?? .null
            },
            (
                "extensions",
                .array(
                    certificate.extensions.map { ext in
                        .object([
                            ("oid", .string(ext.oid)), ("name", .string(ext.shortName)), ("critical", .bool(ext.isCritical)),
                        ])
                    })
            ),
            ("selfSigned", .bool(certificate.isSelfSigned)),
            field("pem") { .string(try certificate.pem) },
        ]
        return (.object(members), errors.list)
    }

    /// `[[shortName, value], …]` in certificate order: OpenSSL's short name,
    /// or the dotted OID for an attribute it does not know.
    static func nameJSON(_ name: X509Name) -> JSON {
        .array(
            name.components.map { component in
                .array([.string(component.name), .string(componentValue(component))])
            })
    }

    /// A name component's value, faithfully: text as text (valid UTF-8 as
    /// such whatever the string type, each byte of an invalid sequence as
    /// `\xNN`), a value that is not text (a BIT STRING…) as `hex:` and its DER.
    static func componentValue(_ component: X509Name.Component) -> String {
        component.displayValue
    }

    /// `{"type", "bits", "curve"}`; a key OpenSSL cannot decode is `"type": "unknown", "bits": 0`.
    private func publicKeyJSON() -> JSON {
        guard let key = try? certificate.publicKey else {
            return .object([("type", .string("unknown")), ("bits", .int(0)), ("curve", .null)])
        }
        return .object([("type", .string(key.typeName)), ("bits", .int(key.bits)), ("curve", .string(key.curveName))])
    }

    // MARK: Summary

    /// The readable summary `ossl x509` prints by default: one `label: value`
    /// line per field; a field that cannot be read says `error: reason` (a
    /// time: its encoding, `raw:…`) and is listed in the returned errors.
    /// - Parameter now: the moment "days left" is counted from.
    func summary(now: Date = Date()) -> (text: String, errors: [FieldError]) {
        let certificate = self.certificate
        let errors = FieldErrors()
        func line(_ field: String, _ body: () throws -> String) -> String {
            errors.read(field, body) ?? "error: \(errors.list.last?.reason ?? "unreadable")"
        }
        var lines: [(String, String)] = []
        lines.append(("subject", line("subject") { try certificate.subject.oneLineString }))
        lines.append(("issuer", line("issuer") { try certificate.issuer.oneLineString }))
        lines.append(("serial", certificate.serialNumber.hexString))
        let notBefore = errors.read("notBefore") { try certificate.notBefore }
        let notAfter = errors.read("notAfter") { try certificate.notAfter }
        var validity =
            "\(notBefore.map(isoTime) ?? "raw:" + certificate.encodedNotBefore) to "
            + (notAfter.map(isoTime) ?? "raw:" + certificate.encodedNotAfter)
        if let notBefore, let notAfter { validity += " (\(validityNote(notBefore, notAfter, now: now)))" }
        lines.append(("valid", validity))
        lines.append(
            (
                "alt names",
                line("subjectAltNames") {
                    (try certificate.subjectAlternativeNames).map {
                        $0.isEmpty ? "(empty)" : $0.map(\.description).joined(separator: ", ")
                    } ?? "(none)"
                }
            ))
        lines.append(("public key", keyDescription()))
        var signature = certificate.signatureAlgorithm
        let outer = certificate.outerSignatureAlgorithm
        if outer != signature { signature += " (outside the signed part: \(outer))" }
        lines.append(("signature", signature))
        lines.append(("SHA-256", line("fingerprints") { try certificate.fingerprint(.sha256) }))
        lines.append(("CA", line("basicConstraints") { caDescription(try certificate.basicConstraints) }))
        lines.append(
            (
                "key usage",
                line("keyUsage") {
                    (try certificate.keyUsage).map { $0.names.isEmpty ? "(empty)" : $0.description } ?? "(none)"
                }
            ))
        lines.append(
            (
                "extended usage",
                line("extendedKeyUsage") {
                    (try certificate.extendedKeyUsage).map { purposes in
                        purposes.map { $0.name ?? $0.oid }.joined(separator: ", ")
                    } ?? "(none)"
                }
            ))
        lines.append(("self-signed", certificate.isSelfSigned ? "yes" : "no"))
        let width = lines.map(\.0.count).max() ?? 0
        let text = lines.map { label, value in
            label + ":" + String(repeating: " ", count: width - label.count + 1) + printable(value)
        }.joined(separator: "\n")
        return (text, errors.list)
    }

    private func keyDescription() -> String {
        guard let key = try? certificate.publicKey else { return "unknown (OpenSSL cannot decode it)" }
        var text = "\(key.typeName) \(key.bits) bits"
        if let curve = key.curveName { text += " (\(curve))" }
        return text
    }

    private func caDescription(_ constraints: BasicConstraints?) -> String {
        guard let constraints else { return "no (no basicConstraints)" }
        guard constraints.isCA else { return "no" }
        return constraints.pathLength.map { "yes (path length \($0))" } ?? "yes"
    }

    /// "N days left", "expired N days ago" or "not valid for another N days".
    private func validityNote(_ notBefore: Date, _ notAfter: Date, now: Date) -> String {
        func days(_ interval: TimeInterval) -> String {
            let count = Int((interval / 86_400).rounded(.down))
            return count == 1 ? "1 day" : "\(count) days"
        }
        if now < notBefore { return "not valid for another \(days(notBefore.timeIntervalSince(now)))" }
        if now > notAfter { return "expired \(days(now.timeIntervalSince(notAfter))) ago" }
        return "\(days(notAfter.timeIntervalSince(now))) left"
    }

    // MARK: One line

    /// One line for a chain listing: depth, subject, issuer, end of validity
    /// and SHA-256 fingerprint.
    func chainLine(depth: Int) -> String {
        let subject = (try? certificate.subject.oneLineString) ?? "?"
        let issuer = (try? certificate.issuer.oneLineString) ?? "?"
        let until = (try? certificate.notAfter).map(isoTime) ?? "?"
        let fingerprint = (try? certificate.digest(.sha256)).map(hex) ?? "?"
        return printable("\(depth): \"\(subject)\" issued by \"\(issuer)\", until \(until), sha256 \(fingerprint)")
    }

    /// The chain entry of `verify --json` and `connect --json`.
    func chainJSON(depth: Int) -> JSON {
        .object([
            ("depth", .int(depth)),
            ("subject", .string((try? certificate.subject.rfc2253String) ?? "")),
            ("issuer", .string((try? certificate.issuer.rfc2253String) ?? "")),
            ("notAfter", .string((try? certificate.notAfter).map(isoTime))),
            ("sha256", .string((try? certificate.digest(.sha256)).map(hex))),
        ])
    }
}

/// `text` with control characters (a NUL inside a certificate name, an
/// escape sequence) shown as `\xNN`, so that what a certificate holds can
/// neither hide part of a line nor drive the terminal.
func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.value < 0x20 || scalar.value == 0x7f {
            out += String(format: "\\x%02x", scalar.value)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// `date` in ISO 8601 UTC, whole seconds: `2026-01-01T00:00:00Z`.
func isoTime(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    guard gmtime_r(&seconds, &parts) != nil else { return ISO8601DateFormatter().string(from: date) }
    return String(
        format: "%04d-%02d-%02dT%02d:%02d:%02dZ",
        Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
        Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
}

/// Parses an ISO 8601 time given on the command line: `2026-01-01T00:00:00Z`,
/// with an offset (`+02:00`) or fractional seconds, or a date alone (midnight UTC).
func parseISOTime(_ text: String) -> Date? {
    let formats: [ISO8601DateFormatter.Options] = [
        [.withInternetDateTime],
        [.withInternetDateTime, .withFractionalSeconds],
        [.withFullDate],
    ]
    for options in formats {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = options
        formatter.timeZone = TimeZone(identifier: "UTC")
        if let date = formatter.date(from: text) { return date }
    }
    return nil
}

/// Lowercase hex, no separators.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
