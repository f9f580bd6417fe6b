/// A label selector as `kubectl -l` and `?labelSelector=` write it: comma-separated requirements,
/// all of which must hold: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists),
/// `!k` (does not exist).
public struct LabelSelector: Equatable, Sendable {
    public enum Requirement: Equatable, Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
    }

    public var requirements: [Requirement]

    public init(_ requirements: [Requirement] = []) { self.requirements = requirements }

    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .isIn(let k, let values): labels[k].map(values.contains) ?? false
            case .notIn(let k, let values): !(labels[k].map(values.contains) ?? false)
            case .exists(let k): labels[k] != nil
            case .doesNotExist(let k): labels[k] == nil
            }
        }
    }

    /// The most requirements one selector may hold: a list evaluates each on every object, on the
    /// event loop, so a request line of a thousand requirements over thousands of objects held it
    /// for most of a second. Real selectors hold a handful.
    public static let maxRequirements = 100

    /// Parses the text form; the error names what is wrong and where.
    public init(parsing text: String) throws(APIError) {
        var requirements: [Requirement] = []
        let clauses = try LabelSelector.splitClauses(text)
        guard clauses.count <= Self.maxRequirements else {
            throw .badRequest("a label selector may hold at most \(Self.maxRequirements) requirements, not \(clauses.count)")
        }
        for clause in clauses {
            requirements.append(try LabelSelector.requirement(clause, in: text))
        }
        self.requirements = requirements
    }

    /// Splits on commas outside parentheses.
    static func splitClauses(_ text: String) throws(APIError) -> [String] {
        var clauses: [String] = []
        var current = ""
        var depth = 0
        for c in text {
            switch c {
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth < 0 { throw bad(text, "unbalanced ')'") }
            case "," where depth == 0:
                clauses.append(current)
                current = ""
                continue
            default: break
            }
            current.append(c)
        }
        if depth != 0 { throw bad(text, "unbalanced '('") }
        clauses.append(current)
        let trimmed = clauses.map { $0.trimmingSpaces }
        if trimmed == [""] { return [] }
        if trimmed.contains("") { throw bad(text, "empty requirement") }
        return trimmed
    }

    static func requirement(_ clause: String, in text: String) throws(APIError) -> Requirement {
        if clause.hasPrefix("!") {
            let key = String(clause.dropFirst()).trimmingSpaces
            try checkKey(key, text)
            return .doesNotExist(key)
        }
        for (op, make) in [("!=", Requirement.notEquals), ("==", Requirement.equals), ("=", Requirement.equals)] {
            if let range = clause.firstRange(of: op) {
                let key = String(clause[..<range.lowerBound]).trimmingSpaces
                let value = String(clause[range.upperBound...]).trimmingSpaces
                try checkKey(key, text)
                try checkValue(value, text)
                return make(key, value)
            }
        }
        let words = clause.split(separator: " ", maxSplits: 1).map(String.init)
        if words.count == 2 {
            let rest = words[1].trimmingSpaces
            for (op, make) in [("notin", Requirement.notIn), ("in", Requirement.isIn)] where rest.hasPrefix(op) {
                let list = rest.dropFirst(op.count).trimmingSpaces
                guard list.hasPrefix("("), list.hasSuffix(")") else { throw bad(text, "expected '(' after '\(op)' in \"\(clause)\"") }
                let values = list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
                for value in values { try checkValue(value, text) }
                try checkKey(words[0], text)
                return make(words[0], Set(values))
            }
            throw bad(text, "unknown operator in \"\(clause)\"")
        }
        try checkKey(clause, text)
        return .exists(clause)
    }

    /// A label key: an optional DNS-subdomain prefix and '/', then a name of at most 63
    /// characters of alphanumerics, '-', '_' and '.', alphanumeric at both ends.
    public static func isValidKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return false }
        if parts.count == 2, !isDNSSubdomain(String(parts[0])) { return false }
        return isQualifiedName(String(parts.last!))
    }

    /// A label value: empty, or a qualified name.
    public static func isValidValue(_ value: String) -> Bool { value.isEmpty || isQualifiedName(value) }

    static func isQualifiedName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 63 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 65 && b <= 90) || (b >= 48 && b <= 57) }
        return alnum(bytes.first!) && alnum(bytes.last!) && bytes.allSatisfy { alnum($0) || $0 == 45 || $0 == 95 || $0 == 46 }
    }

    static func checkKey(_ key: String, _ text: String) throws(APIError) {
        guard isValidKey(key) else { throw bad(text, "invalid label key \"\(key)\"") }
    }

    static func checkValue(_ value: String, _ text: String) throws(APIError) {
        guard isValidValue(value) else { throw bad(text, "invalid label value \"\(value)\"") }
    }

    static func bad(_ text: String, _ why: String) -> APIError {
        .badRequest("unable to parse requirement: label selector \"\(text)\": \(why)")
    }

    /// The selector of a `LabelSelector` object (`matchLabels`, `matchExpressions`), as the
    /// workload controllers and `/scale` use it.
    public init(object: JSON) throws(APIError) {
        var requirements: [Requirement] = []
        for (key, value) in (object["matchLabels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            requirements.append(.equals(key, value.stringValue ?? ""))
        }
        for expression in object["matchExpressions"]?.arrayValue ?? [] {
            let key = expression["key"]?.stringValue ?? ""
            let values = Set((expression["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            switch expression["operator"]?.stringValue {
            case "In": requirements.append(.isIn(key, values))
            case "NotIn": requirements.append(.notIn(key, values))
            case "Exists": requirements.append(.exists(key))
            case "DoesNotExist": requirements.append(.doesNotExist(key))
            case let op: throw .badRequest("\"\(op ?? "")\" is not a valid label selector operator")
            }
        }
        self.requirements = requirements
    }

    /// The text form (`app=web,tier in (a,b)`), as `/scale` reports it.
    public var text: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let k, let v): "\(k)=\(v)"
            case .notEquals(let k, let v): "\(k)!=\(v)"
            case .isIn(let k, let values): "\(k) in (\(values.sorted().joined(separator: ",")))"
            case .notIn(let k, let values): "\(k) notin (\(values.sorted().joined(separator: ",")))"
            case .exists(let k): k
            case .doesNotExist(let k): "!\(k)"
            }
        }.joined(separator: ",")
    }
}

/// A field selector (`?fieldSelector=`): comma-separated `field=value`, `field==value` or
/// `field!=value` over the fields a type supports (`metadata.name` and `metadata.namespace` for
/// all; `spec.nodeName` and `status.phase` for pods; `involvedObject.*`, `reason` and `type` for
/// events).
public struct FieldSelector: Equatable, Sendable {
    public struct Requirement: Equatable, Sendable {
        public var path: [String]
        public var value: String
        public var equal: Bool
    }

    public var requirements: [Requirement]

    public init(parsing text: String, for type: ResourceType) throws(APIError) {
        var requirements: [Requirement] = []
        for clause in text.split(separator: ",", omittingEmptySubsequences: false).map({ String($0).trimmingSpaces }) where !(clause.isEmpty && text.trimmingSpaces.isEmpty) {
            let (field, value, equal): (String, String, Bool)
            if let r = clause.firstRange(of: "!=") {
                (field, value, equal) = (String(clause[..<r.lowerBound]), String(clause[r.upperBound...]), false)
            } else if let r = clause.firstRange(of: "==") ?? clause.firstRange(of: "=") {
                (field, value, equal) = (String(clause[..<r.lowerBound]), String(clause[r.upperBound...]), true)
            } else {
                throw .badRequest("invalid field selector \"\(text)\": \"\(clause)\" is not field=value or field!=value")
            }
            let name = field.trimmingSpaces
            guard FieldSelector.supported(type).contains(name) else {
                throw .badRequest("field label not supported: \(name)")
            }
            requirements.append(Requirement(path: name.split(separator: ".").map(String.init), value: value.trimmingSpaces, equal: equal))
        }
        self.requirements = requirements
    }

    static func supported(_ type: ResourceType) -> Set<String> {
        var fields: Set<String> = ["metadata.name", "metadata.namespace"]
        switch type.plural {
        case "pods": fields.formUnion(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase", "status.podIP", "status.nominatedNodeName"])
        case "events":
            fields.formUnion(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "source", "type"])
        case "nodes": fields.insert("spec.unschedulable")
        case "namespaces": fields.insert("status.phase")
        default: break
        }
        return fields
    }

    public var isEmpty: Bool { requirements.isEmpty }

    /// Whether the object matches; a missing field counts as the empty string, as in Kubernetes.
    public func matches(_ object: JSON) -> Bool {
        requirements.allSatisfy { requirement in
            let actual: String
            switch object[path: requirement.path] {
            case .string(let s)?: actual = s
            case .bool(let b)?: actual = b ? "true" : "false"
            case .number(let n)?: actual = n
            default: actual = ""
            }
            return (actual == requirement.value) == requirement.equal
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    public var trimmingSpaces: String {
        let text = String(self)
        guard let first = text.firstIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        let last = text.lastIndex(where: { $0 != " " && $0 != "\t" })!
        return String(text[first...last])
    }
}

/// RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253, alphanumeric at both ends.
public func isDNSSubdomain(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard !bytes.isEmpty, bytes.count <= 253 else { return false }
    func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
    return alnum(bytes.first!) && alnum(bytes.last!) && bytes.allSatisfy { alnum($0) || $0 == 45 || $0 == 46 }
}

/// RFC 1123 label: as a subdomain, without dots, at most 63 characters.
public func isDNSLabel(_ name: String) -> Bool {
    name.utf8.count <= 63 && !name.contains(".") && isDNSSubdomain(name)
}
