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

/// One page of a list (`?limit=` and `?continue=`), in key order, read in steps so that a list of
/// any length never holds the event loop for long: the scan keeps its own copy of the items
/// (copy-on-write: the store's later writes copy what they touch, the scan sees the state it
/// started from) and hands out a bounded number of objects per call. Pages after the first show
/// the store as it is when they are read (Bosun keeps no old versions); the token carries the
/// first page's resourceVersion, which the list reports, so a watch started from it misses
/// nothing.
public struct ListScan: Sendable {
    private let items: ItemTable
    private let keys: [String]
    private var next = 0
    public let filter: ObjectFilter
    public let limit: Int?
    /// The list's resourceVersion.
    public let resourceVersion: UInt64
    /// How many objects matched so far.
    public private(set) var matched = 0
    /// The token for the next page once the scan is done; nil on the last page.
    public private(set) var continueToken: String?
    /// Whether every object of the page has been handed out.
    public private(set) var isDone = false

    public init(store: KVStore, filter: ObjectFilter, limit: Int?, continueToken token: String?) throws(APIError) {
        var after: String? = nil
        var version = store.appliedIndex
        if let token, !token.isEmpty {
            guard let (tokenVersion, key) = ListScan.decodeToken(token), key.hasPrefix(filter.keyPrefix) else {
                throw APIError(code: 400, reason: "BadRequest", message: "continue key is not valid")
            }
            after = key
            version = tokenVersion
        }
        resourceVersion = version
        self.filter = filter
        self.limit = limit
        items = store.items
        keys = store.items.keys(withPrefix: filter.keyPrefix).filter { key in after.map { key > $0 } ?? true }.sorted()
        isDone = keys.isEmpty
    }

    /// The next matching objects, reading at most `maxKeys` stored objects and about `maxBytes` of
    /// their text (always at least one).
    public mutating func next(maxKeys: Int, maxBytes: Int) -> [JSON] {
        var found: [JSON] = []
        var read = 0
        var bytes = 0
        while !isDone, read < max(1, maxKeys), read == 0 || bytes < maxBytes {
            let key = keys[next]
            next += 1
            read += 1
            isDone = next == keys.count
            let item = items[key]!
            bytes += item.value.utf8.count
            let object = StoredObject.render(item.value, version: item.version)
            guard filter.matches(object) else { continue }
            found.append(object)
            matched += 1
            if let limit, matched >= limit, !isDone {
                continueToken = ListScan.encodeToken(version: resourceVersion, key: key)
                isDone = true
            }
        }
        return found
    }

    /// The whole page at once (for small stores and tests).
    public mutating func all() -> [JSON] {
        var found: [JSON] = []
        while !isDone { found += next(maxKeys: .max, maxBytes: .max) }
        return found
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
}
