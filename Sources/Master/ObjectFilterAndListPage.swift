import Store

/// What a list or a watch selects: one type, one namespace or all, and label and field selectors
/// (`?labelSelector=`, `?fieldSelector=`).
public struct ObjectFilter: Sendable {
    public var type: ResourceType
    public var namespace: String?
    public var labels: LabelSelector
    public var fields: FieldSelector

    public init(_ path: ResourcePath, labelSelector: String?, fieldSelector: String?) throws(APIError) {
        type = path.type
        namespace = path.namespace
        labels = try LabelSelector(parsing: labelSelector ?? "")
        fields = try FieldSelector(parsing: fieldSelector ?? "", for: path.type)
    }

    public var keyPrefix: String { type.keyPrefix(namespace: namespace) }

    public func matches(_ object: JSON) -> Bool {
        if !labels.isEmpty {
            let objectLabels = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
            guard labels.matches(objectLabels) else { return false }
        }
        return fields.isEmpty || fields.matches(object)
    }
}

/// Stored objects as clients see them.
public enum StoredObject {
    /// The stored text with `metadata.resourceVersion` set to the index that wrote it.
    public static func render(_ text: String, version: UInt64) -> JSON {
        var object = (try? JSONParser.parse(text)) ?? [:]
        object[path: ["metadata", "resourceVersion"]] = .string(String(version))
        return object
    }
}

/// One page of a list (`?limit=` and `?continue=`), in key order. Pages after the first show the
/// store as it is when they are read (Bosun keeps no old versions); the token carries the first
/// page's resourceVersion, which the list reports, so a watch started from it misses nothing.
public struct ListPage: Sendable {
    public var items: [JSON]
    /// The list's resourceVersion.
    public var resourceVersion: UInt64
    /// The token for the next page; nil on the last.
    public var continueToken: String?

    public init(store: KVStore, filter: ObjectFilter, limit: Int?, continueToken token: String?) throws(APIError) {
        var after: String? = nil
        resourceVersion = store.appliedIndex
        if let token, !token.isEmpty {
            guard let (version, key) = ListPage.decodeToken(token), key.hasPrefix(filter.keyPrefix) else {
                throw APIError(code: 400, reason: "BadRequest", message: "continue key is not valid")
            }
            after = key
            resourceVersion = version
        }
        let prefix = filter.keyPrefix
        let keys = store.items.keys(withPrefix: prefix).filter { key in after.map { key > $0 } ?? true }.sorted()
        items = []
        continueToken = nil
        for (position, key) in keys.enumerated() {
            let item = store.items[key]!
            let object = StoredObject.render(item.value, version: item.version)
            guard filter.matches(object) else { continue }
            items.append(object)
            if let limit, items.count >= limit, position + 1 < keys.count {
                continueToken = ListPage.encodeToken(version: resourceVersion, key: key)
                break
            }
        }
    }

    /// `VERSION.HEX(KEY)`: opaque to clients, checked on the way back.
    static func encodeToken(version: UInt64, key: String) -> String {
        let hex = key.utf8.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
        return "\(version).\(hex)"
    }

    static func decodeToken(_ token: String) -> (UInt64, String)? {
        let parts = token.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let version = UInt64(parts[0]), parts[1].count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = parts[1].startIndex
        while index < parts[1].endIndex {
            let next = parts[1].index(index, offsetBy: 2)
            guard let byte = UInt8(parts[1][index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        guard let key = String(validating: bytes, as: UTF8.self) else { return nil }
        return (version, key)
    }

    /// The `KindList` document.
    public func list(of type: ResourceType) -> JSON {
        var metadata: JSON = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion), "metadata": metadata, "items": .array(items)]
    }
}
