/// The store's items, split into fixed shards by a stable hash of the key.
///
/// A snapshot captures the table by value (copy-on-write) and encodes it on another thread. The
/// next write on the loop then copies what it touches: with one dictionary that is the whole store
/// (about 100 ms for a million items, enough to delay heartbeats past an election timeout); with
/// shards it is one shard, 1/`shardCount` of the store, per first write to that shard.
public struct ItemTable: Sendable {
    /// How many shards; a power of two.
    static let shardCount = 256

    private var shards = [[String: KVStore.Item]](repeating: [:], count: shardCount)
    /// How many items the table holds.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public subscript(key: String) -> KVStore.Item? {
        get { shards[Self.shard(of: key)][key] }
        set {
            let shard = Self.shard(of: key)
            if let newValue {
                if shards[shard].updateValue(newValue, forKey: key) == nil { count += 1 }
            } else if shards[shard].removeValue(forKey: key) != nil {
                count -= 1
            }
        }
    }

    /// Every key, in no particular order.
    public var keys: [String] {
        var all = [String]()
        all.reserveCapacity(count)
        for shard in shards { all.append(contentsOf: shard.keys) }
        return all
    }

    /// FNV-1a of the key's UTF-8 bytes: the same shard in every process (Swift's `Hasher` is
    /// seeded per process).
    static func shard(of key: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return Int(hash & UInt32(shardCount - 1))
    }
}
