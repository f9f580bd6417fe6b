import Raft

/// The replicated state machine in its first form (DESIGN §2): keys mapped to a value and a
/// resourceVersion, the Raft index of the entry that last wrote the key, so versions are the
/// same on every replica. Deterministic: the same entries give the same state and results.
public struct KVStore: Sendable {
    /// A stored value and the index that wrote it.
    public struct Item: Equatable, Sendable {
        public var value: String
        public var version: LogIndex

        public init(value: String, version: LogIndex) {
            self.value = value
            self.version = version
        }
    }

    /// The last request of one client and its result, so a retry returns it without re-applying.
    struct Session: Equatable, Sendable {
        var sequence: UInt64
        var result: KVResult
        /// The index at which the request took effect (its first application).
        var position: LogIndex
    }

    /// What applying one entry did.
    public struct Applied: Equatable, Sendable {
        /// The request the entry carried; nil for a no-op or an undecodable entry.
        public var request: KVRequest?
        public var result: KVResult
        /// Where the request took effect: this entry's index, or for a retried request the index
        /// of its first application. A client's answer names this position in the total order.
        public var position: LogIndex
        /// The item the request replaced or deleted, when it took effect here.
        public var previous: Item?
    }

    public private(set) var items = ItemTable()
    var sessions: [UInt64: Session] = [:]
    /// The index of the last entry applied.
    public private(set) var appliedIndex: LogIndex = 0

    public init() {}

    public func get(_ key: String) -> Item? { items[key] }

    /// Applies a committed entry. A request already applied (a client's retry) changes nothing and
    /// returns the first result; an older request of the same client returns `.stale`.
    @discardableResult
    public mutating func apply(_ entry: Entry) -> Applied {
        precondition(entry.index == appliedIndex + 1, "entries must be applied in order without gaps")
        appliedIndex = entry.index
        guard entry.kind == .normal else { return Applied(request: nil, result: .ok(version: entry.index), position: entry.index) }
        guard let request = try? KVRequest(decoding: entry.data) else {
            return Applied(request: nil, result: .invalid, position: entry.index)
        }
        if let session = sessions[request.client] {
            if request.sequence == session.sequence {
                return Applied(request: request, result: session.result, position: session.position)
            }
            if request.sequence < session.sequence {
                return Applied(request: request, result: .stale, position: entry.index)
            }
        }
        let previous = items[request.operation.key]
        let result = execute(request.operation, at: entry.index)
        sessions[request.client] = Session(sequence: request.sequence, result: result, position: entry.index)
        if sessions.count > Self.maxSessions { expireOldestSession() }
        return Applied(request: request, result: result, position: entry.index, previous: previous)
    }

    /// Client sessions kept at most. Each master process start opens one (its writes' session),
    /// so without a bound they would grow with every restart over the cluster's life.
    public static let maxSessions = 1024

    /// Forgets the session whose last request is the oldest, as every replica does at the same
    /// entry (the choice depends only on the log). A retry of that session's last request would
    /// apply again: after 1,024 newer sessions, no master still waits on it.
    mutating func expireOldestSession() {
        guard let oldest = sessions.min(by: { ($0.value.position, $0.key) < ($1.value.position, $1.key) })?.key else { return }
        sessions[oldest] = nil
    }

    /// How many client sessions the store holds.
    var sessionCount: Int { sessions.count }

    mutating func execute(_ operation: KVRequest.Operation, at index: LogIndex) -> KVResult {
        switch operation {
        case .create(let key, let value):
            if let existing = items[key] { return .alreadyExists(version: existing.version) }
            items[key] = Item(value: value, version: index)
            return .ok(version: index)
        case .update(let key, let value, let expected):
            guard let existing = items[key] else { return .notFound }
            if let expected, expected != existing.version { return .conflict(currentVersion: existing.version) }
            items[key] = Item(value: value, version: index)
            return .ok(version: index)
        case .delete(let key, let expected):
            guard let existing = items[key] else { return .notFound }
            if let expected, expected != existing.version { return .conflict(currentVersion: existing.version) }
            items[key] = nil
            return .ok(version: index)
        }
    }

    // MARK: Snapshots

    /// The whole state as bytes, keys and clients in sorted order: equal states give equal bytes.
    public func snapshot() -> [UInt8] {
        var w = BinaryWriter(capacity: 64 + items.count * 32)
        w.write(appliedIndex)
        w.write(UInt32(items.count))
        for key in items.keys.sorted() {
            let item = items[key]!
            w.writeString(key)
            w.writeString(item.value)
            w.write(item.version)
        }
        w.write(UInt32(sessions.count))
        for client in sessions.keys.sorted() {
            let session = sessions[client]!
            w.write(client)
            w.write(session.sequence)
            w.write(session.position)
            session.result.encode(into: &w)
        }
        return w.bytes
    }

    /// Rebuilds a store from `snapshot()` bytes.
    public init(restoring bytes: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(bytes)
        appliedIndex = try r.readUInt64("applied index")
        let itemCount = try r.readUInt32("item count")
        for _ in 0..<itemCount {
            let key = try r.readString("key")
            items[key] = Item(value: try r.readString("value"), version: try r.readUInt64("version"))
        }
        let sessionCount = try r.readUInt32("session count")
        for _ in 0..<sessionCount {
            let client = try r.readUInt64("client")
            let sequence = try r.readUInt64("sequence")
            let position = try r.readUInt64("position")
            sessions[client] = Session(sequence: sequence, result: try KVResult.decode(from: &r), position: position)
        }
        try r.expectEnd()
    }
}
