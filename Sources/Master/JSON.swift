/// A JSON value (RFC 8259). Numbers keep their literal text, so a value read and written again is
/// unchanged, and nothing is lost to binary floating point. Objects encode with sorted keys: equal
/// values always give equal bytes, which is what every master must store.
public enum JSON: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, as validated by the parser (or written by `number(_:)`).
    case number(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Whether the encoded text would be longer than `limit` bytes (counting a string's escapes as
    /// the characters they stand for, so a lower bound of the text's length). Stops
    /// as soon as it knows: the work is bounded by `limit`, however large the value is.
    public func encodedSizeExceeds(_ limit: Int) -> Bool {
        var budget = limit
        func walk(_ value: JSON) -> Bool {
            switch value {
            case .null: budget -= 4
            case .bool(let b): budget -= b ? 4 : 5
            case .number(let text): budget -= text.utf8.count
            case .string(let text): budget -= text.utf8.count + 2
            case .array(let items):
                budget -= 2 + max(0, items.count - 1)
                for item in items where budget >= 0 { if walk(item) { return true } }
            case .object(let members):
                budget -= 2 + max(0, members.count - 1)
                for (key, item) in members where budget >= 0 {
                    budget -= key.utf8.count + 3
                    if walk(item) { return true }
                }
            }
            return budget < 0
        }
        return walk(self)
    }

    /// How many values this one holds, itself included, counting no further than `limit + 1`: the
    /// work is bounded by `limit`, however large the value is.
    public func valueCount(upTo limit: Int) -> Int {
        var count = 0
        func walk(_ value: JSON) {
            count += 1
            switch value {
            case .array(let items): for item in items where count <= limit { walk(item) }
            case .object(let members): for item in members.values where count <= limit { walk(item) }
            default: break
            }
        }
        walk(self)
        return count
    }

    /// An integer as a JSON number.
    public static func number(_ value: Int) -> JSON { .number(String(value)) }

    /// The value of a key of an object; nil for a missing key or a value that is not an object.
    /// Setting on a non-object makes it an object.
    public subscript(key: String) -> JSON? {
        get {
            guard case .object(let fields) = self else { return nil }
            return fields[key]
        }
        set {
            var fields: [String: JSON]
            if case .object(let existing) = self { fields = existing } else { fields = [:] }
            self = .null  // release the old storage so the write below does not copy it
            fields[key] = newValue
            self = .object(fields)
        }
    }

    /// The value at a path of object keys.
    public subscript(path path: [String]) -> JSON? {
        get { path.reduce(Optional(self)) { $0?[$1] } }
        set {
            guard let first = path.first else {
                self = newValue ?? .null
                return
            }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first] ?? .object([:])
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A number's value as an integer, when it is one.
    public var intValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// What kind of value this is, for error messages ("expected a string, found an array").
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// Literals, so documents read as JSON in code: `["kind": "Status", "code": 404]`.
extension JSON: ExpressibleByStringLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(Dictionary(elements) { _, last in last }) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
}

// MARK: Encoding

extension JSON {
    /// Compact JSON text with object keys in sorted order.
    public var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    public func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSON.writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(key, into: &out)
                out += ":"
                fields[key]!.write(into: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped; everything else
    /// (including non-ASCII) written as UTF-8. Appends to `out` in place (never through
    /// `out.unicodeScalars`, whose mutation copies the whole string).
    public static func writeString(_ s: String, into out: inout String) {
        out += "\""
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out += s
        } else {
            var escaped: [UInt8] = []
            escaped.reserveCapacity(s.utf8.count + 8)
            for byte in s.utf8 {
                switch byte {
                case 0x22: escaped += [0x5C, 0x22]
                case 0x5C: escaped += [0x5C, 0x5C]
                case 0x0A: escaped += [0x5C, UInt8(ascii: "n")]
                case 0x0D: escaped += [0x5C, UInt8(ascii: "r")]
                case 0x09: escaped += [0x5C, UInt8(ascii: "t")]
                case ..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    escaped += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: escaped.append(byte)
                }
            }
            out += String(decoding: escaped, as: UTF8.self)
        }
        out += "\""
    }

    /// A JSON string literal for `s`.
    public static func quoted(_ s: String) -> String {
        var out = ""
        writeString(s, into: &out)
        return out
    }
}

extension JSON {
    /// Runs `body` on an object's fields in place (nil when this is not an object). The value is
    /// set aside meanwhile so that the fields are referenced once and change without a copy: a
    /// `switch` binding would keep a second reference, and every change would copy them all.
    public mutating func withFields<R>(_ body: (inout [String: JSON]) throws(APIError) -> R) throws(APIError) -> R? {
        guard case .object(var fields) = self else { return nil }
        self = .null
        defer { self = .object(fields) }
        return try body(&fields)
    }

    /// The same for an array's items.
    public mutating func withItems<R>(_ body: (inout [JSON]) throws(APIError) -> R) throws(APIError) -> R? {
        guard case .array(var items) = self else { return nil }
        self = .null
        defer { self = .array(items) }
        return try body(&items)
    }
}
