import Raft

/// A broken invariant: what the simulator reports for a failing seed.
public struct Violation: Error, Equatable, Sendable, CustomStringConvertible {
    public var invariant: String
    public var detail: String

    public var description: String { "\(invariant): \(detail)" }
}

/// Ghost state that outlives every node's crashes, and the Raft safety properties checked against
/// it after every batch a node hands out (Raft §5.2–5.4, Figure 3):
/// election safety, log matching, leader completeness, state machine safety, committed entries
/// never changing, monotonic term and commit, no double vote.
struct Oracle {
    struct IndexTerm: Hashable {
        var index: LogIndex
        var term: Term
    }

    struct VoteKey: Hashable {
        var voter: NodeID
        var term: Term
    }

    /// One node's view of its log as a hash chain: chain(i) covers every entry up to i, so equal
    /// chains at an index mean equal logs up to it (log matching, checked in O(1)).
    struct NodeChain {
        var base: LogIndex = 0
        var baseValue: UInt64 = 0
        var values: [UInt64] = []

        func value(at index: LogIndex) -> UInt64? {
            if index == base { return baseValue }
            guard index > base, index - base <= LogIndex(values.count) else { return nil }
            return values[Int(index - base - 1)]
        }
    }

    private(set) var leaders: [Term: NodeID] = [:]
    private var votes: [VoteKey: NodeID] = [:]
    private var chainOf: [IndexTerm: UInt64] = [:]
    /// The committed log as every node must agree on it: entries and chain values, index i at i-1.
    private(set) var committed: [Entry] = []
    private var committedChain: [UInt64] = []
    /// The term in which each committed entry was first reported committed (by its leader).
    private var commitTerm: [Term] = []
    private var chains: [NodeChain]
    private var lastTerm: [Term]
    private var lastCommit: [LogIndex]

    init(nodes: Int) {
        chains = Array(repeating: NodeChain(), count: nodes)
        lastTerm = Array(repeating: 0, count: nodes)
        lastCommit = Array(repeating: 0, count: nodes)
    }

    static func hash(_ e: Entry) -> UInt64 {
        var h = TraceHash()
        h.mix(e.term)
        h.mix(UInt64(e.kind.rawValue))
        h.mix(e.data)
        return h.value
    }

    static func link(_ previous: UInt64, _ e: Entry) -> UInt64 {
        var h = TraceHash()
        h.mix(previous)
        h.mix(e.index)
        h.mix(hash(e))
        return h.value
    }

    var committedIndex: LogIndex { LogIndex(committed.count) }

    func committedChain(at index: LogIndex) -> UInt64? {
        if index == 0 { return 0 }
        guard index <= committedIndex else { return nil }
        return committedChain[Int(index - 1)]
    }

    /// A node (re)starts with the log it recovered; its term and commit may legitimately be lower
    /// than before the crash only where they were never durable.
    mutating func restarted(_ node: Int, raft: RaftNode) throws(Violation) {
        let base = raft.snapshotIndex
        guard let baseValue = committedChain(at: base) else {
            throw Violation(invariant: "snapshot safety", detail: "n\(node + 1) recovered a snapshot at \(base) beyond the committed log")
        }
        chains[node] = NodeChain(base: base, baseValue: baseValue, values: [])
        lastTerm[node] = raft.term
        lastCommit[node] = raft.commitIndex
        try appended(node, raft.entries)
    }

    /// A node installed a snapshot from its leader.
    mutating func installed(_ node: Int, snapshot: SnapshotMetadata) throws(Violation) {
        guard let baseValue = committedChain(at: snapshot.index) else {
            throw Violation(invariant: "snapshot safety", detail: "n\(node + 1) installed a snapshot at \(snapshot.index) beyond the committed log \(committedIndex)")
        }
        chains[node] = NodeChain(base: snapshot.index, baseValue: baseValue, values: [])
    }

    /// Entries a node wrote to its log (replacing its suffix from the first one's index).
    mutating func appended(_ node: Int, _ entries: [Entry]) throws(Violation) {
        guard let first = entries.first else { return }
        var chain = chains[node]
        guard first.index > chain.base, first.index - chain.base - 1 <= LogIndex(chain.values.count) else {
            throw Violation(invariant: "log continuity", detail: "n\(node + 1) wrote entries from \(first.index) onto a log ending at \(chain.base + LogIndex(chain.values.count))")
        }
        chain.values.removeLast(chain.values.count - Int(first.index - chain.base - 1))
        var previous = chain.value(at: first.index - 1)!
        for e in entries {
            let value = Oracle.link(previous, e)
            let key = IndexTerm(index: e.index, term: e.term)
            if let seen = chainOf[key], seen != value {
                throw Violation(
                    invariant: "log matching",
                    detail: "n\(node + 1) holds entry \(e.index) of term \(e.term) with a different history than another node")
            }
            chainOf[key] = value
            chain.values.append(value)
            previous = value
        }
        chains[node] = chain
    }

    /// A node's term, vote, commit and role after a batch.
    mutating func observe(_ node: Int, raft: RaftNode, becameLeader: Bool, logs: () -> [RaftNode]) throws(Violation) {
        let id = NodeID(UInt64(node + 1))
        if raft.term < lastTerm[node] {
            throw Violation(invariant: "term monotonic", detail: "n\(node + 1) went from term \(lastTerm[node]) to \(raft.term)")
        }
        lastTerm[node] = raft.term
        if raft.commitIndex < lastCommit[node] {
            throw Violation(invariant: "commit monotonic", detail: "n\(node + 1) commit went from \(lastCommit[node]) to \(raft.commitIndex)")
        }
        lastCommit[node] = raft.commitIndex
        if raft.role == .leader {
            if let other = leaders[raft.term], other != id {
                throw Violation(invariant: "election safety", detail: "\(other) and \(id) both led term \(raft.term)")
            }
            leaders[raft.term] = id
        }
        if becameLeader {
            // Leader completeness (Raft §5.4): the leader of a term holds every entry committed in
            // an earlier term. (A leader of an old term may appear late, after a pause, without
            // entries committed in later terms.)
            var c = committedIndex
            while c > 0 && commitTerm[Int(c - 1)] >= raft.term { c -= 1 }
            if c > chains[node].base && chains[node].value(at: c) != committedChain(at: c) {
                throw Violation(
                    invariant: "leader completeness",
                    detail: "\(id) became leader of term \(raft.term) without committed entry \(c) (its log ends at \(raft.lastIndex))")
            }
        }
        try extendCommitted(node, raft: raft, logs: logs)
    }

    /// Records what a node reports committed; anything already recorded must not change.
    ///
    /// When the committed log grows to `c`, no log anywhere (`logs`, crashed nodes included) may
    /// hold an entry at an index up to `c` that differs from the committed one and has a higher
    /// term than the entry at `c`. Such an entry's owner could still win an election and overwrite
    /// the committed prefix (Raft Figure 8); in correct Raft it cannot exist, because every leader
    /// of a later term already holds the entry at `c` (leader completeness, §5.4.3).
    mutating func extendCommitted(_ node: Int, raft: RaftNode, logs: () -> [RaftNode]) throws(Violation) {
        let c = raft.commitIndex
        let previous = committedIndex
        while committedIndex < c {
            let next = committedIndex + 1
            guard let e = raft.entry(at: next), let value = chains[node].value(at: next) else {
                throw Violation(invariant: "commit continuity", detail: "n\(node + 1) committed \(c) but lacks entry \(next)")
            }
            committed.append(e)
            committedChain.append(value)
            commitTerm.append(raft.term)
        }
        if c > chains[node].base, let value = chains[node].value(at: c), value != committedChain(at: c) {
            throw Violation(
                invariant: "committed entries never change",
                detail: "n\(node + 1) has a different committed log at \(c) than the cluster committed")
        }
        guard c > previous else { return }
        let termAtCommit = committed[Int(c - 1)].term
        for other in logs() {
            var i = max(previous + 1, other.snapshotIndex + 1)
            while i <= min(c, other.lastIndex) {
                let t = other.term(at: i)!
                if t > termAtCommit && t != committed[Int(i - 1)].term {
                    throw Violation(
                        invariant: "committed entries never change",
                        detail: "entry \(c) of term \(termAtCommit) was committed while \(other.id) holds a conflicting entry \(i) of later term \(t), which could overwrite it (Figure 8)")
                }
                i += 1
            }
        }
    }

    /// State machine safety: whatever a node applies at an index is the committed entry there.
    func applied(_ node: Int, _ e: Entry) throws(Violation) {
        guard e.index <= committedIndex else {
            throw Violation(invariant: "state machine safety", detail: "n\(node + 1) applied entry \(e.index) beyond the committed log \(committedIndex)")
        }
        if Oracle.hash(committed[Int(e.index - 1)]) != Oracle.hash(e) {
            throw Violation(invariant: "state machine safety", detail: "n\(node + 1) applied a different entry at \(e.index) than the committed one")
        }
    }

    /// A vote leaves a node: one vote per term, across crashes (Raft §5.2).
    mutating func voteSent(_ m: Message) throws(Violation) {
        guard case .voteResponse(granted: true) = m.kind else { return }
        let key = VoteKey(voter: m.from, term: m.term)
        if let earlier = votes[key], earlier != m.to {
            throw Violation(invariant: "one vote per term", detail: "\(m.from) voted for \(earlier) and \(m.to) in term \(m.term)")
        }
        votes[key] = m.to
    }
}
