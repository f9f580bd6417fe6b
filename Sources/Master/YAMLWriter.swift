/// JSON as YAML the way `kubectl get -o yaml` prints it: sorted keys, two-space indentation,
/// sequences at their key's indentation, strings plain when that reads back as the same string
/// (also under YAML 1.1, so `"yes"` stays quoted), literal blocks for multi-line text.
public enum YAMLWriter {
    public static func text(_ value: JSON) -> String {
        var out = ""
        switch value {
        case .object(let fields) where !fields.isEmpty: writeObject(fields, indent: 0, into: &out)
        case .array(let items) where !items.isEmpty: writeArray(items, indent: 0, into: &out)
        default: out += scalar(value, indent: 0) + "\n"
        }
        return out
    }

    static func writeObject(_ fields: [String: JSON], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for key in fields.keys.sorted() {
            out += pad + (isPlainSafe(key) ? key : JSON.quoted(key)) + ":"
            writeValue(fields[key]!, indent: indent, nestedIndent: indent + 2, sequenceIndent: indent, into: &out)
        }
    }

    static func writeArray(_ items: [JSON], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            out += pad + "-"
            switch item {
            case .object(let fields) where !fields.isEmpty:
                // The first field shares the dash's line.
                var nested = ""
                writeObject(fields, indent: indent + 2, into: &nested)
                out += " " + nested.dropFirst(indent + 2)
            default:
                writeValue(item, indent: indent, nestedIndent: indent + 2, sequenceIndent: indent + 2, into: &out)
            }
        }
    }

    static func writeValue(_ value: JSON, indent: Int, nestedIndent: Int, sequenceIndent: Int, into out: inout String) {
        switch value {
        case .object(let fields) where !fields.isEmpty:
            out += "\n"
            writeObject(fields, indent: nestedIndent, into: &out)
        case .array(let items) where !items.isEmpty:
            out += "\n"
            writeArray(items, indent: sequenceIndent, into: &out)
        default:
            out += " " + scalar(value, indent: nestedIndent) + "\n"
        }
    }

    static func scalar(_ value: JSON, indent: Int) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .object: return "{}"
        case .array: return "[]"
        case .string(let s):
            if isPlainSafe(s) { return s }
            if s.contains("\n"), !s.contains(where: { $0 != "\n" && ($0.asciiValue.map { $0 < 32 && $0 != 9 } ?? false) }),
                s.first != " ", s.first != "\n"
            {
                let pad = String(repeating: " ", count: indent)
                let body = s.hasSuffix("\n") ? String(s.dropLast()) : s
                let header = s.hasSuffix("\n\n") ? "|+" : s.hasSuffix("\n") ? "|" : "|-"
                return header + body.split(separator: "\n", omittingEmptySubsequences: false).map { "\n" + ($0.isEmpty ? "" : pad + $0) }.joined()
            }
            return JSON.quoted(s)
        }
    }

    static let yaml11Words: Set<String> = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]

    static func isPlainSafe(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, first != " ", last != " " else { return false }
        if "?:,[]{}#&*!|>'\"%@`".contains(first) { return false }
        if first == "-", s.count == 1 || s.dropFirst().first == " " { return false }
        if s.contains(": ") || s.contains(" #") || s.hasSuffix(":") || s.contains(where: { $0.isNewline || $0 == "\t" }) { return false }
        if s.unicodeScalars.contains(where: { $0.value < 32 || $0.value == 0x7F }) { return false }
        if yaml11Words.contains(s) { return false }
        return YAMLParser.resolvePlain(s) == .string(s)
    }
}

extension JSON {
    /// Indented JSON text, as `kubectl get -o json` prints it (four spaces, keys sorted).
    public var prettyText: String {
        var out = ""
        writePretty(into: &out, indent: 0)
        return out
    }

    func writePretty(into out: inout String, indent: Int) {
        let pad = String(repeating: " ", count: indent + 4)
        switch self {
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.writePretty(into: &out, indent: indent + 4)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let fields) where !fields.isEmpty:
            out += "{\n"
            for (i, key) in fields.keys.sorted().enumerated() {
                out += pad
                JSON.writeString(key, into: &out)
                out += ": "
                fields[key]!.writePretty(into: &out, indent: indent + 4)
                out += i + 1 < fields.count ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        default:
            write(into: &out)
        }
    }
}
