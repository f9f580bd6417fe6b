import Raft
@testable import Store
import Testing

struct KVStoreTests {
    static func entry(_ index: LogIndex, _ client: UInt64, _ sequence: UInt64, _ op: KVRequest.Operation) -> Entry {
        Entry(term: 1, index: index, data: KVRequest(client: client, sequence: sequence, operation: op).encoded())
    }

    /// The resourceVersion of a key is the index of the entry that last wrote it.
    @Test func versionsAreRaftIndexes() {
        var store = KVStore()
        #expect(store.apply(Self.entry(1, 1, 1, .create(key: "a", value: "x"))).result == .ok(version: 1))
        #expect(store.apply(Self.entry(2, 1, 2, .create(key: "a", value: "y"))).result == .alreadyExists(version: 1))
        #expect(store.apply(Self.entry(3, 1, 3, .update(key: "a", value: "z", expectedVersion: 2))).result == .conflict(currentVersion: 1))
        #expect(store.apply(Self.entry(4, 1, 4, .update(key: "a", value: "z", expectedVersion: 1))).result == .ok(version: 4))
        #expect(store.get("a") == KVStore.Item(value: "z", version: 4))
        #expect(store.apply(Self.entry(5, 1, 5, .delete(key: "a", expectedVersion: nil))).result == .ok(version: 5))
        #expect(store.get("a") == nil)
        #expect(store.apply(Self.entry(6, 1, 6, .update(key: "a", value: "q", expectedVersion: nil))).result == .notFound)
    }

    /// A retried request applies once and returns its first result and position (thesis §6.3).
    @Test func retriesApplyAtMostOnce() {
        var store = KVStore()
        let first = store.apply(Self.entry(1, 7, 1, .create(key: "k", value: "v")))
        let retry = store.apply(Self.entry(2, 7, 1, .create(key: "k", value: "v")))
        #expect(first.result == .ok(version: 1) && first.position == 1)
        #expect(retry.result == .ok(version: 1) && retry.position == 1)
        store.apply(Self.entry(3, 7, 2, .update(key: "k", value: "w", expectedVersion: nil)))
        #expect(store.apply(Self.entry(4, 7, 1, .create(key: "k", value: "v"))).result == .stale)
        #expect(store.get("k")?.value == "w")
    }

    /// No-ops and undecodable entries change nothing.
    /// Sessions are bounded: past `maxSessions`, the session whose last request is oldest goes,
    /// on every replica alike, and the snapshot carries the bounded set.
    @Test func sessionsAreBoundedOldestFirst() throws {
        var store = KVStore()
        let clients = UInt64(KVStore.maxSessions) + 10
        for client in 1...clients { store.apply(Self.entry(client, client, 1, .create(key: "k\(client)", value: "v"))) }
        #expect(store.sessionCount == KVStore.maxSessions)
        // The ten oldest clients were forgotten: their retry applies again (here: already exists).
        let forgotten = store.apply(Self.entry(clients + 1, 1, 1, .create(key: "k1", value: "v")))
        #expect(forgotten.result == .alreadyExists(version: 1) && forgotten.position == clients + 1)
        // A kept client's retry still returns its first result.
        let kept = store.apply(Self.entry(clients + 2, clients, 1, .create(key: "k\(clients)", value: "v")))
        #expect(kept.result == .ok(version: clients) && kept.position == clients)
        let restored = try KVStore(restoring: store.snapshot())
        #expect(restored.sessionCount == KVStore.maxSessions && restored.snapshot() == store.snapshot())
    }

    @Test func noopsAndGarbageChangeNothing() {
        var store = KVStore()
        store.apply(Entry(term: 1, index: 1, kind: .noop))
        #expect(store.apply(Entry(term: 1, index: 2, data: [0, 1, 2])).result == .invalid)
        #expect(store.items.isEmpty && store.appliedIndex == 2)
    }

    /// Snapshots round-trip, and equal states give equal bytes.
    @Test func snapshotRoundTrip() throws {
        var a = KVStore()
        var b = KVStore()
        let ops: [KVRequest.Operation] = [.create(key: "x", value: "1"), .create(key: "y", value: "2"), .update(key: "x", value: "3", expectedVersion: 1)]
        for (k, op) in ops.enumerated() {
            a.apply(Self.entry(LogIndex(k + 1), UInt64(k % 2), UInt64(k + 1), op))
            b.apply(Self.entry(LogIndex(k + 1), UInt64(k % 2), UInt64(k + 1), op))
        }
        #expect(a.snapshot() == b.snapshot())
        var restored = try KVStore(restoring: a.snapshot())
        #expect(restored.snapshot() == a.snapshot())
        // The client sessions survive the snapshot: a retry of client 0's last request is recognised.
        let retry = restored.apply(Self.entry(4, 0, 3, .update(key: "x", value: "3", expectedVersion: 1)))
        #expect(retry.result == .ok(version: 3) && retry.position == 3)
    }

    /// Truncated or trailing-garbage snapshots and commands are refused with the offset.
    @Test func malformedInputIsRefused() {
        let snapshot = KVStore().snapshot()
        #expect(throws: DecodeError.self) { try KVStore(restoring: Array(snapshot.dropLast())) }
        #expect(throws: DecodeError.self) { try KVStore(restoring: snapshot + [0]) }
        let request = KVRequest(client: 1, sequence: 1, operation: .create(key: "k", value: "v")).encoded()
        for cut in 0..<request.count {
            #expect(throws: DecodeError.self) { try KVRequest(decoding: Array(request.prefix(cut))) }
        }
        var bad = request
        bad[16] = 9
        #expect(throws: DecodeError(offset: 16, reason: "unknown operation 9")) { try KVRequest(decoding: bad) }
    }
}

struct CodecTests {
    /// The standard CRC-32C check value (RFC 3720, appendix B.4).
    @Test func crc32cCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Array("56789".utf8), seed: CRC32C.checksum(Array("1234".utf8))) == 0xE306_9283)
    }

    @Test func binaryRoundTripAndErrors() throws {
        var w = BinaryWriter()
        w.write(UInt8(7))
        w.write(UInt32(0xDEAD_BEEF))
        w.write(UInt64.max)
        w.write(true)
        w.writeString("héllo")
        var r = BinaryReader(w.bytes)
        #expect(try r.readUInt8() == 7)
        #expect(try r.readUInt32() == 0xDEAD_BEEF)
        #expect(try r.readUInt64() == .max)
        #expect(try r.readBool() == true)
        #expect(try r.readString() == "héllo")
        try r.expectEnd()
        var bad = BinaryReader([2])
        #expect(throws: DecodeError(offset: 0, reason: "bool is 2, not 0 or 1")) { try bad.readBool() }
        var short = BinaryReader([255, 255, 255, 255])
        #expect(throws: DecodeError.self) { try short.readBytes() }
        var notUTF8 = BinaryReader([1, 0, 0, 0, 0xFF])
        #expect(throws: DecodeError(offset: 0, reason: "string is not UTF-8")) { try notUTF8.readString() }
    }
}

/// The sharded item table behaves as one dictionary, and its shards do not depend on the process.
struct ItemTableTests {
    @Test func behavesAsADictionary() {
        var table = ItemTable()
        for i in 0..<1_000 { table["k\(i)"] = KVStore.Item(value: "v\(i)", version: LogIndex(i)) }
        table["k7"] = KVStore.Item(value: "again", version: 9)
        table["k8"] = nil
        table["absent"] = nil
        #expect(table.count == 999)
        #expect(table["k7"]?.value == "again" && table["k8"] == nil && table["k9"]?.version == 9)
        #expect(Set(table.keys).count == 999 && !table.keys.contains("k8"))
    }

    /// A prefix that names a resource reads only that resource's keys; any prefix finds its keys.
    @Test func keysByPrefix() {
        var table = ItemTable()
        for key in ["pods/a/x", "pods/a/y", "pods/b/z", "podsx/a/q", "configmaps/a/x", "plain"] {
            table[key] = KVStore.Item(value: "", version: 1)
        }
        #expect(Set(table.keys(withPrefix: "pods/a/")) == ["pods/a/x", "pods/a/y"])
        #expect(Set(table.keys(withPrefix: "pods/")) == ["pods/a/x", "pods/a/y", "pods/b/z"])
        #expect(Set(table.keys(withPrefix: "pod")) == ["pods/a/x", "pods/a/y", "pods/b/z", "podsx/a/q"])
        #expect(table.keys(withPrefix: "nodes/").isEmpty)
        table["pods/a/x"] = nil
        #expect(Set(table.keys(withPrefix: "pods/a/")) == ["pods/a/y"] && table.count == 5)
    }

    /// A copy shares storage until written; writing one key leaves the copy untouched.
    @Test func copiesAreIndependent() {
        var table = ItemTable()
        table["a"] = KVStore.Item(value: "1", version: 1)
        let captured = table
        table["a"] = KVStore.Item(value: "2", version: 2)
        #expect(captured["a"]?.value == "1" && table["a"]?.value == "2")
    }

    /// FNV-1a, fixed values: a per-process seeded hash would change these between runs.
    @Test func shardsAreStable() {
        #expect(ItemTable.shard(of: "") == 0xC5)
        #expect(ItemTable.shard(of: "configmaps/default/a") == ItemTable.shard(of: "configmaps/default/a"))
        #expect(ItemTable.shard(of: "a") == 0x2C)
    }
}
