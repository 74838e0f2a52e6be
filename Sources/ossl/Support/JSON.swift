/// A JSON value whose objects keep their keys in the order they were built,
/// so `--json` output is byte-for-byte the same on every run and matches the
/// order Docs/cli.md documents.
enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    /// Keys in output order.
    case object([(String, JSON)])

    static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// `.string(value)`, or `.null` when `value` is nil.
    static func string(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }

    /// `.int(value)`, or `.null` when `value` is nil.
    static func int(_ value: Int?) -> JSON { value.map { .int($0) } ?? .null }

    /// The value as indented JSON text (two spaces), ending without a newline.
    /// An array or object of scalars that fits on a short line is written on one line.
    var text: String {
        var out = ""
        write(to: &out, indent: 0)
        return out
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    private func write(to out: inout String, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .string(let value): JSON.writeString(value, to: &out)
        case .array(let items):
            if items.isEmpty {
                out += "[]"
            } else if items.allSatisfy(\.isScalar), let inline = inlineArray(items), inline.count <= 100 {
                out += inline
            } else {
                out += "[\n"
                for (index, item) in items.enumerated() {
                    out += String(repeating: " ", count: indent + 2)
                    item.write(to: &out, indent: indent + 2)
                    out += index == items.count - 1 ? "\n" : ",\n"
                }
                out += String(repeating: " ", count: indent) + "]"
            }
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            if members.allSatisfy(\.1.isScalar), let inline = inlineObject(members), inline.count <= 100 {
                out += inline
                return
            }
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += String(repeating: " ", count: indent + 2)
                JSON.writeString(key, to: &out)
                out += ": "
                value.write(to: &out, indent: indent + 2)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }

    private func inlineArray(_ items: [JSON]) -> String? {
        var out = "["
        for (index, item) in items.enumerated() {
            if index > 0 { out += ", " }
            item.write(to: &out, indent: 0)
        }
        return out + "]"
    }

    private func inlineObject(_ members: [(String, JSON)]) -> String? {
        var out = "{"
        for (index, (key, value)) in members.enumerated() {
            if index > 0 { out += ", " }
            JSON.writeString(key, to: &out)
            out += ": "
            value.write(to: &out, indent: 0)
        }
        return out + "}"
    }

    /// A JSON string literal: quotes, backslashes and control characters
    /// escaped (a NUL inside a certificate name comes out as `\u0000`);
    /// everything else written as UTF-8.
    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
