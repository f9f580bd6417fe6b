import Raft

/// A write to the store, as proposed to Raft. `client` and `sequence` identify the request so a
/// retried proposal applies at most once (thesis §6.3, client sessions).
public struct KVRequest: Equatable, Sendable {
    public var client: UInt64
    /// Increases by one per new request of `client`; a retry carries the same number.
    public var sequence: UInt64
    public var operation: Operation

    /// What the request does to one key.
    public enum Operation: Equatable, Sendable {
        /// Create `key`; fails if it exists.
        case create(key: String, value: String)
        /// Replace the value; with `expectedVersion`, only if the key's version still matches.
        case update(key: String, value: String, expectedVersion: LogIndex?)
        /// Remove the key; with `expectedVersion`, only if it still matches.
        case delete(key: String, expectedVersion: LogIndex?)

        public var key: String {
            switch self {
            case .create(let key, _), .update(let key, _, _), .delete(let key, _): return key
            }
        }
    }

    public init(client: UInt64, sequence: UInt64, operation: Operation) {
        self.client = client
        self.sequence = sequence
        self.operation = operation
    }

    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.write(client)
        w.write(sequence)
        switch operation {
        case .create(let key, let value):
            w.write(UInt8(1))
            w.writeString(key)
            w.writeString(value)
        case .update(let key, let value, let expected):
            w.write(UInt8(2))
            w.writeString(key)
            w.writeString(value)
            w.write(expected ?? 0)
        case .delete(let key, let expected):
            w.write(UInt8(3))
            w.writeString(key)
            w.write(expected ?? 0)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(bytes)
        client = try r.readUInt64("client")
        sequence = try r.readUInt64("sequence")
        let tagOffset = r.offset
        switch try r.readUInt8("operation") {
        case 1:
            operation = .create(key: try r.readString("key"), value: try r.readString("value"))
        case 2:
            let key = try r.readString("key")
            let value = try r.readString("value")
            let expected = try r.readUInt64("expected version")
            operation = .update(key: key, value: value, expectedVersion: expected == 0 ? nil : expected)
        case 3:
            let key = try r.readString("key")
            let expected = try r.readUInt64("expected version")
            operation = .delete(key: key, expectedVersion: expected == 0 ? nil : expected)
        case let tag:
            throw DecodeError(offset: tagOffset, reason: "unknown operation \(tag)")
        }
        try r.expectEnd()
    }
}

/// The outcome of a write, identical on every replica because it depends only on the log.
public enum KVResult: Equatable, Sendable {
    /// Done; `version` is the Raft index of the entry that did it (the new resourceVersion).
    case ok(version: LogIndex)
    /// Create of a key that exists (with its version).
    case alreadyExists(version: LogIndex)
    /// Update or delete of a key that does not exist.
    case notFound
    /// The expected version did not match the key's current one.
    case conflict(currentVersion: LogIndex)
    /// The request was superseded by a newer one from the same client and was not applied.
    case stale
    /// The entry could not be decoded; it changed nothing.
    case invalid

    func encode(into w: inout BinaryWriter) {
        switch self {
        case .ok(let v): w.write(UInt8(1)); w.write(v)
        case .alreadyExists(let v): w.write(UInt8(2)); w.write(v)
        case .notFound: w.write(UInt8(3))
        case .conflict(let v): w.write(UInt8(4)); w.write(v)
        case .stale: w.write(UInt8(5))
        case .invalid: w.write(UInt8(6))
        }
    }

    static func decode(from r: inout BinaryReader) throws(DecodeError) -> KVResult {
        let at = r.offset
        switch try r.readUInt8("result") {
        case 1: return .ok(version: try r.readUInt64())
        case 2: return .alreadyExists(version: try r.readUInt64())
        case 3: return .notFound
        case 4: return .conflict(currentVersion: try r.readUInt64())
        case 5: return .stale
        case 6: return .invalid
        case let tag: throw DecodeError(offset: at, reason: "unknown result \(tag)")
        }
    }
}
