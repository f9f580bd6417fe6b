@testable import Raft
import Testing

/// Log replication, the commit rule and flow control (Raft §5.3, §5.4; etcd-io/raft progress).
struct ReplicationTests {
    static func elected(_ ids: [UInt64] = [1, 2, 3], config: RaftConfig = RaftConfig()) -> TestCluster {
        var c = TestCluster(ids, config: config)
        c.campaign(ids[0])
        c.deliver()
        return c
    }

    /// §5.4.2, §8: a new leader appends an empty entry of its own term at once.
    @Test func newLeaderAppendsNoop() {
        let c = Self.elected()
        #expect(c[1].entries == [Entry(term: 1, index: 1, kind: .noop)])
        #expect(c[1].commitIndex == 1 && c[2].commitIndex == 1)
    }

    /// §5.3: many entries travel in one AppendEntries (batching), within maxAppendBytes.
    @Test func entriesAreBatched() throws {
        var c = Self.elected()
        c.isolate(3)
        for k in 0..<20 { try c.propose(1, "entry \(k)") }
        c.deliver()
        c.heal()
        c.tick(1)
        c.deliver()
        let appendsTo3 = c.lastDelivered.filter { $0.hasPrefix("n1->n3") && $0.contains("App(") && !$0.contains("n=0") }
        #expect(appendsTo3.count == 1)
        #expect(appendsTo3.first?.contains("n=20") == true)
        #expect(c[3].lastIndex == 21)
    }

    /// Flow control: in replicate state at most maxInflightAppends appends are unacknowledged.
    @Test func inflightAppendsAreBounded() throws {
        var config = RaftConfig()
        config.maxInflightAppends = 3
        config.maxAppendBytes = 1
        var c = Self.elected(config: config)
        c.queue = []
        for k in 0..<10 { try c.propose(1, "e\(k)") }
        let toTwo = c.queue.filter { $0.to == NodeID(2) }
        #expect(toTwo.count == 3)
        #expect(c[1].progress[NodeID(2)]?.state == .replicate)
        c.deliver()
        #expect(c[2].lastIndex == 11)
    }

    /// Probe state: one append at a time until the follower's log end is found.
    @Test func probeSendsOneAppendAtATime() throws {
        var c = Self.elected()
        c.isolate(3)
        try c.propose(1, "a")
        c.deliver()
        c.heal()
        c.with(1) { $0.progress[NodeID(3)]!.becomeProbe() }
        c.queue = []
        try c.propose(1, "b")
        try c.propose(1, "c")
        #expect(c.queue.filter { $0.to == NodeID(3) }.count == 1)
    }

    /// §5.3 (end): a rejection carries the follower's last index whose term could agree, so the
    /// leader skips a whole conflicting term in one round trip instead of one entry per round.
    @Test func fastBacktrackingSkipsAConflictingTerm() throws {
        var c = TestCluster([1, 2, 3], config: TestCluster.paperConfig)
        c.campaign(1)
        c.deliver()
        // Node 3 leads term 2 alone and writes 30 entries nobody else gets.
        c.isolate(3)
        c.with(3) { node in
            node.campaign()
            node.becomeLeader()
            for k in 0..<30 { _ = try? node.propose(Array("stale \(k)".utf8)) }
        }
        c.dropAll()
        c.crash(3)
        // Node 1 leads term 3 with node 2 and writes 30 entries of its own.
        c.with(1) { $0.becomeFollower(term: 2, leader: nil) }
        c.campaign(1)
        c.deliver()
        #expect(c[1].term == 3 && c[1].role == .leader)
        for k in 0..<30 { try c.propose(1, "new \(k)") }
        c.deliver()
        c.heal()
        c.restart(3)
        c.with(1) { $0.progress[NodeID(3)] = Progress(next: $0.lastIndex + 1) }
        c.tick(1)
        c.deliver()
        let rejections = c.lastDelivered.filter { $0.hasPrefix("n3->n1") && $0.contains("reject") }
        #expect(rejections.count == 1)
        #expect(c.logWords(3) == c.logWords(1))
    }

    /// §5.4.2: the leader commits by counting replicas only entries of its own term.
    @Test func onlyCurrentTermEntriesCommitByCounting() {
        var c = Self.elected()
        c.with(1) { node in
            // Pretend an entry of an older term sits at index 2 on a quorum.
            node.term = 2
            node.progress[NodeID(2)]!.match = 1
            node.progress[NodeID(1)]!.match = 1
            let committed = node.maybeCommit()
            #expect(!committed)  // index 1 is of term 1, the leader is in term 2
            #expect(node.commitIndex == 1)
        }
    }

    /// §5.3: a follower never keeps entries that conflict with the leader's; it truncates them
    /// only from the first conflict, and never below its commit index.
    @Test func followerTruncatesOnlyFromTheFirstConflict() {
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2)]), config: RaftConfig(), seed: 1)
        let append = { (prevIndex: LogIndex, prevTerm: Term, entries: [Entry], term: Term) in
            Message(from: NodeID(1), to: NodeID(2), term: term, kind: .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: 0))
        }
        node.step(append(0, 0, [Entry(term: 1, index: 1), Entry(term: 1, index: 2), Entry(term: 1, index: 3)], 1))
        // A stale, shorter copy of the same append must not truncate anything (willemt/raft#37).
        node.step(append(0, 0, [Entry(term: 1, index: 1)], 1))
        #expect(node.lastIndex == 3)
        node.step(append(1, 1, [Entry(term: 2, index: 2)], 2))
        #expect(node.entries.map(\.term) == [1, 2])
    }

    /// The planted truncation bug does what the rule above forbids.
    @Test func plantedTruncationBugTruncates() {
        var config = RaftConfig()
        config.plantedBugs = .truncateOnStaleAppend
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2)]), config: config, seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: [Entry(term: 1, index: 1), Entry(term: 1, index: 2)], commit: 0)))
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: [Entry(term: 1, index: 1)], commit: 0)))
        #expect(node.lastIndex == 1)
    }

    /// Committed entries are never replaced: an append that conflicts below the commit index is
    /// answered with the commit index and changes nothing; a malformed append is dropped.
    @Test func committedEntriesAreNeverReplaced() {
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2)]), config: RaftConfig(), seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: [Entry(term: 1, index: 1), Entry(term: 1, index: 2)], commit: 2)))
        #expect(node.commitIndex == 2)
        _ = node.ready()
        node.step(Message(from: NodeID(3), to: NodeID(2), term: 3, kind: .append(prevIndex: 1, prevTerm: 1, entries: [Entry(term: 3, index: 2)], commit: 2)))
        #expect(node.entries.map(\.term) == [1, 1])
        #expect(node.messagesAfterPersist.last?.kind == .appendResponse(.accepted(matchIndex: 2)))
        node.step(Message(from: NodeID(3), to: NodeID(2), term: 3, kind: .append(prevIndex: 2, prevTerm: 1, entries: [Entry(term: 3, index: 2)], commit: 2)))
        #expect(node.entries.map(\.term) == [1, 1])
        #expect(node.corruption == nil)
    }

    /// Thesis §10.2.1: a leader's appends go out before its own write is durable; a follower's
    /// acknowledgement waits for its write.
    @Test func leaderSendsWhileWritingFollowerAcksAfter() throws {
        var c = Self.elected()
        var leader = c[1]
        _ = try leader.propose(Array("x".utf8))
        let rd = leader.ready()!
        #expect(rd.entries.count == 1 && !rd.messages.isEmpty && rd.messagesAfterPersist.isEmpty)
        var follower = c[2]
        follower.step(rd.messages.first { $0.to == NodeID(2) }!)
        let frd = follower.ready()!
        #expect(frd.entries.count == 1 && frd.messages.isEmpty && frd.messagesAfterPersist.count == 1)
        c.queue = []
    }

    /// A storage completion for entries that were replaced meanwhile is stale and ignored
    /// (etcd-io/etcd#1690, cockroachdb/cockroach#124440).
    @Test func staleStorageCompletionIsIgnored() {
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)]), config: RaftConfig(), seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .append(prevIndex: 0, prevTerm: 0, entries: [Entry(term: 1, index: 1), Entry(term: 1, index: 2)], commit: 0)))
        let first = node.ready()!
        // Before the write completes, a new leader replaces entry 2.
        node.step(Message(from: NodeID(3), to: NodeID(2), term: 2, kind: .append(prevIndex: 1, prevTerm: 1, entries: [Entry(term: 2, index: 2)], commit: 0)))
        node.advance(first)
        #expect(node.persistedIndex == 0)
        let second = node.ready()!
        #expect(second.entries == [Entry(term: 2, index: 2)])
        node.advance(second)
        #expect(node.persistedIndex == 2)
    }

    /// Proposals are refused with a clear error while too many uncommitted bytes wait.
    @Test func uncommittedBytesAreBounded() throws {
        var config = RaftConfig()
        config.maxUncommittedBytes = 1000
        var c = Self.elected(config: config)
        c.partition([[1], [2, 3]])
        var refused: RaftNode.ProposeError?
        for _ in 0..<100 {
            do { try c.propose(1, String(repeating: "x", count: 100)) } catch {
                refused = error
                break
            }
        }
        guard case .tooManyUncommittedBytes(let pending, let limit)? = refused else {
            Issue.record("no refusal: \(String(describing: refused))")
            return
        }
        #expect(limit == 1000 && pending <= 1000)
        c.heal()
        c.tick(1)
        c.deliver()
        try c.propose(1, "fits again")
    }

    /// Followers refuse proposals and name the leader.
    @Test func followerRefusesProposals() {
        var node = Self.elected()[2]
        #expect(throws: RaftNode.ProposeError.notLeader(leader: NodeID(1))) { _ = try node.propose([1]) }
    }
}
