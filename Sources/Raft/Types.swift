/// A Raft term number (Raft §5.1). Terms only grow.
public typealias Term = UInt64

/// A position in the replicated log; the first entry has index 1, 0 means "none".
public typealias LogIndex = UInt64

/// The identity of one Raft member. Never reused for another machine (IDs outlive addresses).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "n\(rawValue)" }
}

/// One replicated log entry.
public struct Entry: Equatable, Sendable {
    /// What the entry carries.
    public enum Kind: UInt8, Sendable {
        /// A command for the state machine, proposed by a client.
        case normal = 0
        /// The empty entry a new leader appends to commit its term (Raft §5.4.2, §8).
        case noop = 1
    }

    public var term: Term
    public var index: LogIndex
    public var kind: Kind
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, kind: Kind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// Bytes this entry counts for in size limits (payload plus a fixed header).
    public var sizeBytes: Int { data.count + 24 }
}

/// The state that must be durable before a node answers anyone (Raft Figure 2, "persistent state"):
/// term and vote are written together, in one atomic record, so a crash can never separate them.
public struct HardState: Equatable, Sendable {
    public var term: Term
    public var vote: NodeID?
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID? = nil, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// A node's role in its current term.
public enum Role: String, Sendable {
    case follower
    /// Probing with PreVote (thesis §9.6) before disturbing anyone's term.
    case preCandidate
    case candidate
    case leader
}

/// Volatile state worth reporting: who this node is and who it thinks leads.
public struct SoftState: Equatable, Sendable {
    public var role: Role
    public var leader: NodeID?
}

/// The voting members of the cluster. The core owns this value so that membership change can be
/// added without changing the API; today it is fixed at start.
public struct Configuration: Equatable, Sendable {
    /// Voters in ascending order: iteration order never depends on hashing.
    public private(set) var voters: [NodeID]

    public init(voters: [NodeID]) {
        self.voters = Array(Set(voters)).sorted()
    }

    /// The number of votes that make a majority.
    public var quorum: Int { voters.count / 2 + 1 }

    public func contains(_ id: NodeID) -> Bool { voters.contains(id) }
}

/// Describes the state a snapshot captures: everything up to and including `index`.
public struct SnapshotMetadata: Equatable, Sendable {
    public var index: LogIndex
    public var term: Term
    public var configuration: Configuration

    public init(index: LogIndex, term: Term, configuration: Configuration) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}

/// A state machine snapshot: opaque bytes produced by the application at an applied index.
public struct Snapshot: Equatable, Sendable {
    public var metadata: SnapshotMetadata
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }
}

/// A linearizable read that may be served once the local state machine has applied `index`
/// (thesis §6.4, ReadIndex).
public struct ReadState: Equatable, Sendable {
    /// The caller's token, from `readIndex(context:)`.
    public var context: UInt64
    public var index: LogIndex
}

/// Everything a restarting node recovers from its disk.
public struct PersistentState: Sendable {
    public var hardState: HardState
    public var snapshot: Snapshot?
    /// Entries after the snapshot, contiguous.
    public var entries: [Entry]

    public init(hardState: HardState = HardState(), snapshot: Snapshot? = nil, entries: [Entry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }

    /// Keeps only the entries that continue the snapshot: those after it, and only if the log
    /// either holds the snapshot's last entry with the same term or starts right after it. A log
    /// left over from before a snapshot installed from the leader (a crash between writing the
    /// snapshot and deleting the old log) may conflict with it and goes entirely (Raft §7).
    public mutating func dropEntriesNotContinuingSnapshot() {
        guard let meta = snapshot?.metadata else { return }
        let continues =
            entries.contains { $0.index == meta.index && $0.term == meta.term }
            || entries.first?.index == meta.index + 1
        entries = continues ? entries.filter { $0.index > meta.index } : []
    }
}
