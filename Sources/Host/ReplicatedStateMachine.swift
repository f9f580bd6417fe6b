import Raft
import Store

/// What a `RaftHost` replicates: a deterministic state machine fed committed entries in order.
public protocol ReplicatedStateMachine {
    /// What applying one entry did, handed back to the host's driver.
    associatedtype ApplyResult

    /// The index of the last entry applied (or of the snapshot restored).
    var appliedIndex: LogIndex { get }

    /// Applies the next committed entry (`entry.index == appliedIndex + 1`).
    mutating func apply(_ entry: Entry) -> ApplyResult

    /// Replaces the whole state with a snapshot's; throws when its bytes cannot be decoded.
    mutating func restore(_ snapshot: Snapshot) throws

    /// Captures the state now, cheaply (a value copy), and returns the work that encodes it. The
    /// work may run on another thread while the machine goes on applying entries.
    func snapshotEncoder() -> @Sendable () -> [UInt8]
}

extension KVStore: ReplicatedStateMachine {
    public mutating func restore(_ snapshot: Snapshot) throws {
        self = try KVStore(restoring: snapshot.data)
    }

    public func snapshotEncoder() -> @Sendable () -> [UInt8] {
        let copy = self
        return { copy.snapshot() }
    }
}
