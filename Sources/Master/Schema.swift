/// The shape of an object's fields, as far as Bosun knows them. One schema serves three needs:
/// type checks on writes (422 naming the field), `fieldValidation=Strict` (unknown fields refused
/// in closed objects), and strategic merge patches (a list's merge key).
public indirect enum Schema: Sendable {
    case string
    case integer
    case boolean
    /// Any JSON number.
    case number
    /// A resource quantity: `"500m"`, `"1Gi"` or a plain number.
    case quantity
    /// An integer or a string such as `"25%"`.
    case intOrString
    /// Anything, kept verbatim and never checked.
    case any
    /// String keys to values of one schema.
    case map(Schema)
    /// A list; `mergeKey` names the field that identifies an item in a strategic merge patch
    /// (nil: the list is replaced as a whole).
    case list(Schema, mergeKey: String?)
    case object(ObjectSchema)

    /// An object with these fields. `open` objects accept (and keep) fields not listed even under
    /// strict validation: Bosun does not know every field of every Kubernetes type.
    public static func object(_ fields: [String: Schema], required: [String] = [], open: Bool = false) -> Schema {
        .object(ObjectSchema(fields: fields, required: required, open: open))
    }

    public static func list(_ item: Schema) -> Schema { .list(item, mergeKey: nil) }

    /// The schema of a field of an object (nil when the field is unknown or this is no object).
    public func field(_ name: String) -> Schema? {
        if case .object(let o) = self { return o.fields[name] }
        return nil
    }
}

/// The fields of an object schema.
public struct ObjectSchema: Sendable {
    public var fields: [String: Schema]
    public var required: [String]
    public var open: Bool
}

/// One thing wrong with one field, named by its path (`spec.containers[0].image`).
public struct FieldError: Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}

extension Schema {
    /// Checks `value` against the schema. Type mismatches and missing required fields go to
    /// `errors`; fields unknown to a closed object go to `unknown` (an error only under strict
    /// validation).
    public func check(_ value: JSON, at path: String, errors: inout [FieldError], unknown: inout [String]) {
        func mismatch(_ expected: String) {
            errors.append(FieldError(path: path, message: "Invalid value: \(value.typeName): expected \(expected)"))
        }
        switch (self, value) {
        case (.any, _), (_, .null): return
        case (.string, .string), (.integer, .number), (.boolean, .bool), (.number, .number): 
            if case .integer = self, value.intValue == nil { mismatch("an integer") }
        case (.quantity, .string(let text)):
            if !Quantity.isValid(text) {
                errors.append(FieldError(path: path, message: "Invalid value: \(JSON.quoted(text)): quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
            }
        case (.quantity, .number), (.intOrString, .string): return
        case (.intOrString, .number): if value.intValue == nil { mismatch("an integer or a string") }
        case (.map(let item), .object(let fields)):
            for key in fields.keys.sorted() { item.check(fields[key]!, at: "\(path)[\(key)]", errors: &errors, unknown: &unknown) }
        case (.list(let item, _), .array(let items)):
            for (i, element) in items.enumerated() { item.check(element, at: "\(path)[\(i)]", errors: &errors, unknown: &unknown) }
        case (.object(let schema), .object(let fields)):
            let prefix = path.isEmpty ? "" : path + "."
            for name in schema.required where fields[name] == nil || fields[name] == .null {
                errors.append(FieldError(path: prefix + name, message: "Required value"))
            }
            for name in fields.keys.sorted() {
                if let field = schema.fields[name] {
                    field.check(fields[name]!, at: prefix + name, errors: &errors, unknown: &unknown)
                } else if !schema.open {
                    unknown.append(prefix + name)
                }
            }
        case (.string, _): mismatch("a string")
        case (.integer, _): mismatch("an integer")
        case (.boolean, _): mismatch("a boolean")
        case (.number, _): mismatch("a number")
        case (.quantity, _): mismatch("a quantity")
        case (.intOrString, _): mismatch("an integer or a string")
        case (.map, _), (.object, _): mismatch("an object")
        case (.list, _): mismatch("an array")
        }
    }
}

/// Resource quantities (`"100m"`, `"1.5Gi"`, `"2e3"`), as Kubernetes writes them.
public enum Quantity {
    static let suffixes: Set<String> = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]

    public static func isValid(_ text: String) -> Bool {
        var rest = Substring(text)
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != "." else { return false }
        let suffix = String(rest.dropFirst(number.count))
        if suffixes.contains(suffix) { return true }
        // Decimal exponent: e or E, optional sign, digits.
        guard let first = suffix.first, first == "e" || first == "E" else { return false }
        var exponent = suffix.dropFirst()
        if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
        return !exponent.isEmpty && exponent.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

extension Quantity {
    /// The quantity in thousandths of its unit (`"100m"` → 100, `"1Gi"` → 1,073,741,824,000), rounded
    /// up as Kubernetes rounds requests; nil when the text is not a quantity. Saturates at `Int64.max`.
    public static func milliValue(_ json: JSON?) -> Int64? {
        switch json {
        case .string(let text)?: return milliValue(text)
        case .number(let text)?: return milliValue(text)
        default: return nil
        }
    }

    /// See `milliValue(_: JSON?)`.
    public static func milliValue(_ text: String) -> Int64? {
        guard isValid(text) else { return nil }
        var rest = Substring(text)
        let negative = rest.first == "-"
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        let suffix = rest.dropFirst(number.count)
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        // The digits as an integer and a power of ten: 1.5 = 15 × 10^-1; then thousandths.
        var digits = Array(parts[0]) + (parts.count > 1 ? Array(parts[1]) : [])
        var exponent = 3 - (parts.count > 1 ? parts[1].count : 0)
        var binary: Int64 = 1
        switch suffix {
        case "": break
        case "n": exponent -= 9
        case "u": exponent -= 6
        case "m": exponent -= 3
        case "k": exponent += 3
        case "M": exponent += 6
        case "G": exponent += 9
        case "T": exponent += 12
        case "P": exponent += 15
        case "E": exponent += 18
        case "Ki": binary = 1 << 10
        case "Mi": binary = 1 << 20
        case "Gi": binary = 1 << 30
        case "Ti": binary = 1 << 40
        case "Pi": binary = 1 << 50
        case "Ei": binary = 1 << 60
        default: exponent += Int(suffix.dropFirst()) ?? 0  // e/E exponent, checked by isValid
        }
        while digits.first == "0", digits.count > 1 { digits.removeFirst() }
        var value: Int64 = 0
        for digit in digits {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = shifted.addingReportingOverflow(Int64(digit.wholeNumberValue!))
            if overflow1 || overflow2 { return negative ? Int64.min : Int64.max }
            value = added
        }
        let (scaled, overflow) = value.multipliedReportingOverflow(by: binary)
        if overflow { return negative ? Int64.min : Int64.max }
        value = scaled
        while exponent > 0 {
            let (next, overflow) = value.multipliedReportingOverflow(by: 10)
            if overflow { return negative ? Int64.min : Int64.max }
            value = next
            exponent -= 1
        }
        var roundUp = false
        while exponent < 0 {
            if value % 10 != 0 { roundUp = true }
            value /= 10
            exponent += 1
        }
        if roundUp { value += 1 }
        return negative ? -value : value
    }
}
