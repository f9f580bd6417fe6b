/// The three PATCH formats Kubernetes clients send, by `Content-Type`:
/// - `application/merge-patch+json` (RFC 7386): objects merge, `null` deletes, lists replace.
/// - `application/json-patch+json` (RFC 6902): a list of operations on JSON pointers.
/// - `application/strategic-merge-patch+json`: a merge patch in which lists of objects with a
///   merge key (containers by `name`, ports by `containerPort`, ...) merge item by item, with the
///   directives `$patch: delete|replace|merge`, `$setElementOrder/<list>`, `$retainKeys` and
///   `$deleteFromPrimitiveList/<list>`. This is what `kubectl apply` and the Python client send.
public enum Patch {
    public enum Format: String, Sendable {
        case merge = "application/merge-patch+json"
        case json = "application/json-patch+json"
        case strategic = "application/strategic-merge-patch+json"

        /// The format a Content-Type names (parameters such as `; charset=utf-8` ignored).
        public init(contentType: String?) throws(APIError) {
            guard let format = Format(rawValue: Admission.mediaType(contentType)) else {
                throw APIError(code: 415, reason: "UnsupportedMediaType",
                               message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
            }
            self = format
        }
    }

    /// `target` with `patch` applied; `schema` gives strategic merges their list keys.
    public static func apply(_ format: Format, _ patch: JSON, to target: JSON, schema: Schema?) throws(APIError) -> JSON {
        let result: JSON
        switch format {
        case .merge:
            guard case .object = patch else { throw .badRequest("a merge patch must be a JSON object") }
            result = mergePatch(target, patch)
        case .json: result = try jsonPatch(target, patch)
        case .strategic:
            guard case .object = patch else { throw .badRequest("a strategic merge patch must be a JSON object") }
            result = try strategic(target, patch, schema: schema) ?? [:]
        }
        // Copies share storage, so a small patch can describe a huge result (each JSON patch
        // `copy` of the document into itself doubles it: 24 operations under 1 KB made gigabytes
        // to encode). Measure before anything encodes it, stopping at the limit.
        guard !result.encodedSizeExceeds(maxResultBytes) else {
            throw APIError(code: 422, reason: "Invalid", message: "the patched object would exceed \(maxResultBytes) bytes")
        }
        return result
    }

    /// The largest object a patch may produce: the largest request body the API takes.
    public static let maxResultBytes = 3 * 1024 * 1024
    /// The most operations one JSON patch may hold.
    public static let maxOperations = 10_000
    /// The most list items one JSON patch may shift: about 30 ms of moving memory (inserting
    /// 1,000 times at the front of a list of a million numbers took 4 s).
    public static let maxShiftedItems = 10_000_000
    /// The most values one JSON patch may copy, counted one by one: about 20 ms of counting.
    public static let maxCopiedValues = 500_000

    /// Whether the patch itself sets `metadata.resourceVersion` (a precondition: a conflict is
    /// then the client's to resolve, not retried by the server).
    public static func namesResourceVersion(_ format: Format, _ patch: JSON) -> Bool {
        switch format {
        case .merge, .strategic: return patch[path: ["metadata", "resourceVersion"]] != nil
        case .json: return (patch.arrayValue ?? []).contains { $0["path"] == "/metadata/resourceVersion" && $0["op"] != "test" }
        }
    }

    // MARK: RFC 7386

    static func mergePatch(_ target: JSON, _ patch: JSON) -> JSON {
        guard case .object(let fields) = patch else { return patch }
        var result: [String: JSON] = target.objectValue ?? [:]
        for (key, value) in fields {
            if value == .null {
                result[key] = nil
            } else {
                result[key] = mergePatch(result[key] ?? .null, value)
            }
        }
        return .object(result)
    }

    // MARK: RFC 6902

    static func jsonPatch(_ target: JSON, _ patch: JSON) throws(APIError) -> JSON {
        guard case .array(let operations) = patch else { throw .badRequest("a JSON patch must be an array of operations") }
        guard operations.count <= maxOperations else {
            throw APIError(code: 422, reason: "Invalid", message: "a JSON patch may hold at most \(maxOperations) operations, not \(operations.count)")
        }
        var document = target
        // What the operations cost beyond their own size: list items shifted by inserts and
        // removals, and values shared by `copy` (each copied later when the document changes
        // beneath them). Bounded, so that no patch holds the loop for long whatever its content.
        var shifted = 0
        var copied = 0
        for (i, operation) in operations.enumerated() {
            guard let op = operation["op"]?.stringValue else { throw .badRequest("JSON patch operation \(i) has no \"op\"") }
            guard let path = operation["path"]?.stringValue else { throw .badRequest("JSON patch operation \(i) has no \"path\"") }
            let pointer = try JSONPointer(path)
            func value() throws(APIError) -> JSON {
                guard let value = operation["value"] else { throw .badRequest("JSON patch operation \(i) (\(op)) has no \"value\"") }
                return value
            }
            func from() throws(APIError) -> JSONPointer {
                guard let from = operation["from"]?.stringValue else { throw .badRequest("JSON patch operation \(i) (\(op)) has no \"from\"") }
                return try JSONPointer(from)
            }
            switch op {
            case "add": try pointer.add(try value(), to: &document, shifted: &shifted)
            case "remove": _ = try pointer.remove(from: &document, shifted: &shifted)
            case "replace":
                _ = try pointer.remove(from: &document, shifted: &shifted)
                try pointer.add(try value(), to: &document, shifted: &shifted)
            case "move":
                let source = try from()
                let moved = try source.remove(from: &document, shifted: &shifted)
                try pointer.add(moved, to: &document, shifted: &shifted)
            case "copy":
                let value = try from().get(document)
                copied += value.valueCount(upTo: maxCopiedValues - copied)
                guard copied <= maxCopiedValues else {
                    throw APIError(code: 422, reason: "Invalid", message: "the JSON patch would copy more than \(maxCopiedValues) values (at operation \(i))")
                }
                try pointer.add(value, to: &document, shifted: &shifted)
            case "test":
                guard try pointer.get(document) == (try value()) else {
                    throw APIError(code: 422, reason: "Invalid", message: "JSON patch test operation \(i) failed at \(path)")
                }
            default: throw .badRequest("JSON patch operation \(i) has an unknown op \(JSON.quoted(op))")
            }
            guard shifted <= maxShiftedItems else {
                throw APIError(code: 422, reason: "Invalid", message: "the JSON patch would shift more than \(maxShiftedItems) list items (at operation \(i))")
            }
        }
        return document
    }

    // MARK: Strategic merge

    static func child(_ schema: Schema?, _ key: String) -> Schema? {
        switch schema {
        case .object(let o)?: o.fields[key]
        case .map(let item)?: item
        default: nil
        }
    }

    /// Nil means "delete this object" (`$patch: delete`).
    static func strategic(_ target: JSON?, _ patch: JSON, schema: Schema?) throws(APIError) -> JSON? {
        guard case .object(let fields) = patch else { return patch }
        switch fields["$patch"]?.stringValue {
        case "delete": return nil
        case "replace": return .object(fields.filter { !$0.key.hasPrefix("$") })
        case nil, "merge": break
        case let other?: throw .badRequest("unknown strategic merge patch directive $patch: \(JSON.quoted(other))")
        }
        var result: [String: JSON] = target?.objectValue ?? [:]
        if let retain = fields["$retainKeys"] {
            guard let keys = retain.arrayValue?.compactMap(\.stringValue) else { throw .badRequest("$retainKeys must be a list of strings") }
            let kept = Set(keys)
            result = result.filter { kept.contains($0.key) }
        }
        for key in fields.keys.sorted() where !key.hasPrefix("$") {
            let value = fields[key]!
            if value == .null {
                result[key] = nil
                continue
            }
            let fieldSchema = child(schema, key)
            switch (fieldSchema, value) {
            case (.list(let item, let mergeKey?)?, .array(let items)):
                result[key] = .array(try mergeList(result[key]?.arrayValue ?? [], items, key: mergeKey, schema: item))
            case (_, .object):
                result[key] = try strategic(result[key], value, schema: fieldSchema)
            default:
                result[key] = value
            }
        }
        for key in fields.keys.sorted() where key.hasPrefix("$deleteFromPrimitiveList/") {
            let list = String(key.dropFirst("$deleteFromPrimitiveList/".count))
            let remove = Set(fields[key]!.arrayValue ?? [])
            if let current = result[list]?.arrayValue { result[list] = .array(current.filter { !remove.contains($0) }) }
        }
        for key in fields.keys.sorted() where key.hasPrefix("$setElementOrder/") {
            let list = String(key.dropFirst("$setElementOrder/".count))
            guard let order = fields[key]!.arrayValue, let current = result[list]?.arrayValue else { continue }
            if case .list(_, let mergeKey?)? = child(schema, list) {
                result[list] = .array(reorder(current, by: order.map { $0[mergeKey] }, key: { $0[mergeKey] }))
            } else {
                result[list] = .array(reorder(current, by: order, key: { $0 }))
            }
        }
        return .object(result)
    }

    /// Items named in `order` first, in that order; the rest after, as they were. Linear: items
    /// are found by a table of their keys, not by a scan per name.
    static func reorder(_ items: [JSON], by order: [JSON?], key: (JSON) -> JSON?) -> [JSON] {
        var positions = KeyedPositions(items, key: key)
        var taken = [Bool](repeating: false, count: items.count)
        var ordered: [JSON] = []
        for wanted in order {
            guard let wanted, let i = positions.takeFirst(wanted) else { continue }
            taken[i] = true
            ordered.append(items[i])
        }
        return ordered + items.indices.filter { !taken[$0] }.map { items[$0] }
    }

    /// Merges `patch` into `current` item by item, matched on their `key` field. Linear in the
    /// sizes of both lists (a hostile patch of 20,000 items took 28 s when each was matched by a
    /// scan of the list).
    static func mergeList(_ current: [JSON], _ patch: [JSON], key: String, schema: Schema) throws(APIError) -> [JSON] {
        if patch.contains(where: { $0["$patch"] == "replace" }) {
            return patch.filter { $0["$patch"] != "replace" }
        }
        var slots: [JSON?] = current
        var positions = KeyedPositions(current, key: { $0[key] })
        for item in patch {
            guard case .object = item, let id = item[key] else {
                throw .badRequest("strategic merge patch: an item of a list merged by \(JSON.quoted(key)) has no \(JSON.quoted(key))")
            }
            if item["$patch"] == "delete" {
                for i in positions.takeAll(id) { slots[i] = nil }
            } else if let existing = positions.first(id) {
                slots[existing] = try strategic(slots[existing], item, schema: schema)
                if slots[existing] == nil { _ = positions.takeFirst(id) }
            } else if let added = try strategic(nil, item, schema: schema) {
                positions.append(id, at: slots.count)
                slots.append(added)
            }
        }
        return slots.compactMap { $0 }
    }
}

/// Where each key occurs in a list, in order: what makes merging and reordering lists by a merge
/// key linear.
struct KeyedPositions {
    private var table: [JSON: ArraySlice<Int>] = [:]

    init(_ items: [JSON], key: (JSON) -> JSON?) {
        for (i, item) in items.enumerated() {
            if let k = key(item) { table[k, default: []].append(i) }
        }
    }

    func first(_ key: JSON) -> Int? { table[key]?.first }

    mutating func takeFirst(_ key: JSON) -> Int? { table[key]?.popFirst() }

    mutating func takeAll(_ key: JSON) -> ArraySlice<Int> { table.removeValue(forKey: key) ?? [] }

    mutating func append(_ key: JSON, at position: Int) { table[key, default: []].append(position) }
}

/// An RFC 6901 pointer: `/spec/containers/0/image` (`~1` is '/', `~0` is '~', `-` past the end).
struct JSONPointer {
    var tokens: [String]

    init(_ text: String) throws(APIError) {
        guard text.isEmpty || text.hasPrefix("/") else { throw .badRequest("JSON pointer \(JSON.quoted(text)) must start with '/'") }
        tokens = text.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { token in
            // `replacing` is slow (a third of a 10,000-operation patch): only escaped tokens pay it.
            token.contains("~") ? String(token).replacing("~1", with: "/").replacing("~0", with: "~") : String(token)
        }
    }

    func missing() -> APIError {
        APIError(code: 422, reason: "Invalid", message: "JSON patch path /\(tokens.joined(separator: "/")) does not exist")
    }

    static func index(_ token: String, count: Int, allowEnd: Bool) -> Int? {
        if allowEnd, token == "-" { return count }
        guard let i = Int(token), i >= 0, i < count + (allowEnd ? 1 : 0), token == String(i) else { return nil }
        return i
    }

    func get(_ document: JSON) throws(APIError) -> JSON {
        var node = document
        for token in tokens {
            switch node {
            case .object(let fields):
                guard let next = fields[token] else { throw missing() }
                node = next
            case .array(let items):
                guard let i = JSONPointer.index(token, count: items.count, allowEnd: false) else { throw missing() }
                node = items[i]
            default: throw missing()
            }
        }
        return node
    }

    /// Adds `value`; `shifted` grows by the list items the insert moves.
    func add(_ value: JSON, to document: inout JSON, shifted: inout Int) throws(APIError) {
        try modify(&document, tokens[...]) { (parent: inout JSON, last: String) throws(APIError) in
            if try parent.withFields({ fields in fields[last] = value }) != nil { return }
            let inserted: Void? = try parent.withItems { (items) throws(APIError) in
                guard let i = JSONPointer.index(last, count: items.count, allowEnd: true) else { throw missing() }
                shifted += items.count - i
                items.insert(value, at: i)
            }
            guard inserted != nil else { throw missing() }
        } whole: { () throws(APIError) -> JSON in value }
    }

    /// Removes and returns the value; `shifted` grows by the list items the removal moves.
    func remove(from document: inout JSON, shifted: inout Int) throws(APIError) -> JSON {
        var removed: JSON?
        try modify(&document, tokens[...]) { (parent: inout JSON, last: String) throws(APIError) in
            if let fromObject = try parent.withFields({ fields in fields.removeValue(forKey: last) }) {
                removed = fromObject
            } else {
                removed = try parent.withItems { (items) throws(APIError) in
                    guard let i = JSONPointer.index(last, count: items.count, allowEnd: false) else { throw missing() }
                    shifted += items.count - i - 1
                    return items.remove(at: i)
                }
            }
        } whole: { () throws(APIError) -> JSON in throw APIError.badRequest("cannot remove the whole document") }
        guard let removed else { throw missing() }
        return removed
    }

    /// Walks to the parent of the last token and runs `body` on it. Each level is changed in
    /// place (its enclosing value set aside meanwhile): copying a large object at every operation
    /// made a 10,000-operation patch quadratic, 3.5 s on the event loop.
    private func modify(
        _ node: inout JSON, _ rest: ArraySlice<String>, _ body: (inout JSON, String) throws(APIError) -> Void,
        whole: () throws(APIError) -> JSON
    ) throws(APIError) {
        guard let first = rest.first else {
            node = try whole()
            return
        }
        if rest.count == 1 { return try body(&node, first) }
        var found = try node.withFields { (fields) throws(APIError) -> Bool in
            guard fields[first] != nil else { return false }
            try modify(&fields[first]!, rest.dropFirst(), body, whole: whole)
            return true
        }
        if found == nil {
            found = try node.withItems { (items) throws(APIError) -> Bool in
                guard let i = JSONPointer.index(first, count: items.count, allowEnd: false) else { return false }
                try modify(&items[i], rest.dropFirst(), body, whole: whole)
                return true
            }
        }
        guard found == true else { throw missing() }
    }
}
