/// The store's items, grouped by resource (the key's first `/`-separated segment) and, within a
/// resource, split into fixed shards by a stable hash of the key.
///
/// A snapshot captures the table by value (copy-on-write) and encodes it on another thread. The
/// next write on the loop then copies what it touches: with one dictionary that is the whole store
/// (about 100 ms for a million items, enough to delay heartbeats past an election timeout); with
/// shards it is one shard, 1/`shardCount` of a resource, per first write to that shard. Grouping by
/// resource lets a list read only its own resource's keys.
public struct ItemTable: Sendable {
    /// How many shards a resource has; a power of two.
    static let shardCount = 256

    private var resources: [String: [[String: KVStore.Item]]] = [:]
    /// How many items the table holds.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    static func resource(of key: String) -> Substring { key.prefix { $0 != "/" } }

    public subscript(key: String) -> KVStore.Item? {
        get { resources[String(Self.resource(of: key))]?[Self.shard(of: key)][key] }
        set {
            let resource = String(Self.resource(of: key))
            let shard = Self.shard(of: key)
            if let newValue {
                let empty = [[String: KVStore.Item]](repeating: [:], count: Self.shardCount)
                if resources[resource, default: empty][shard].updateValue(newValue, forKey: key) == nil { count += 1 }
            } else if resources[resource]?[shard].removeValue(forKey: key) != nil {
                count -= 1
            }
        }
    }

    /// Every key, in no particular order.
    public var keys: [String] {
        var all = [String]()
        all.reserveCapacity(count)
        for shards in resources.values {
            for shard in shards { all.append(contentsOf: shard.keys) }
        }
        return all
    }

    /// The keys that start with `prefix`, in no particular order; only the prefix's resource is
    /// read when the prefix names one (contains a `/`).
    public func keys(withPrefix prefix: String) -> [String] {
        guard prefix.contains("/") else { return keys.filter { $0.hasPrefix(prefix) } }
        var found = [String]()
        for shard in resources[String(Self.resource(of: prefix))] ?? [] {
            for key in shard.keys where key.hasPrefix(prefix) { found.append(key) }
        }
        return found
    }

    /// FNV-1a of the key's UTF-8 bytes: the same shard in every process (Swift's `Hasher` is
    /// seeded per process).
    static func shard(of key: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return Int(hash & UInt32(shardCount - 1))
    }
}
