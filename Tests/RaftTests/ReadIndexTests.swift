@testable import Raft
import Testing

/// ReadIndex (thesis §6.4) and leadership transfer (thesis §3.10).
struct ReadIndexTests {
    /// A read is released only after a quorum answers a heartbeat sent after it arrived.
    @Test func readWaitsForAQuorumRound() throws {
        var c = ReplicationTests.elected()
        c.with(1) { try? $0.readIndex(context: 42) }
        #expect(c.readStates[NodeID(1)] ?? [] == [])
        c.deliver()
        #expect(c.readStates[NodeID(1)] == [ReadState(context: 42, index: 1)])
    }

    /// A leader cut off from the majority never answers (no stale read from a deposed leader:
    /// etcd-io/etcd#741).
    @Test func isolatedLeaderNeverAnswers() {
        var c = ReplicationTests.elected()
        c.isolate(1)
        c.with(1) { try? $0.readIndex(context: 7) }
        c.deliver()
        #expect(c.readStates[NodeID(1)] ?? [] == [])
    }

    /// Reads waiting for a quorum are bounded as well as those waiting for the term's first commit:
    /// a leader whose heartbeats go unanswered refuses the read past the limit, and takes reads
    /// again once a round confirms the waiting ones.
    @Test func readsWaitingForAQuorumAreBounded() throws {
        var config = RaftConfig()
        config.maxPendingReads = 3
        var c = ReplicationTests.elected(config: config)
        c.isolate(1)
        for context in 1...3 as ClosedRange<UInt64> {
            c.with(1) { node in #expect(throws: Never.self) { try node.readIndex(context: context) } }
        }
        c.with(1) { node in #expect(throws: RaftNode.ReadIndexError.tooManyPendingReads) { try node.readIndex(context: 4) } }
        c.heal()
        c.dropAll()
        c.tick(1, times: config.heartbeatTicks)  // a heartbeat round confirms all three
        c.deliver()
        #expect(c.readStates[NodeID(1)]?.map(\.context) == [1, 2, 3])
        c.with(1) { node in #expect(throws: Never.self) { try node.readIndex(context: 5) } }
    }

    /// The planted bug answers at once, without the heartbeat round.
    @Test func plantedBugAnswersWithoutQuorum() {
        var config = RaftConfig()
        config.plantedBugs = .readIndexWithoutQuorum
        var c = ReplicationTests.elected(config: config)
        c.isolate(1)
        c.with(1) { try? $0.readIndex(context: 7) }
        #expect(c.readStates[NodeID(1)] == [ReadState(context: 7, index: 1)])
    }

    /// A new leader serves reads only once its own term has an entry committed: until then its
    /// commit index may lag the previous leader's (etcd-io/etcd#7331).
    @Test func newLeaderWaitsForItsFirstCommit() {
        var c = TestCluster([1, 2, 3])
        c.campaign(1)
        c.deliver(limit: 4)  // pre-votes and votes; 1 becomes leader with the no-op unacknowledged
        c.deliver(limit: 4)
        #expect(c[1].role == .leader)
        #expect(!c[1].hasCommittedInTerm)
        c.with(1) { try? $0.readIndex(context: 9) }
        #expect(c[1].reads.waitingForTermCommit == [9])
        c.deliver()
        #expect(c[1].hasCommittedInTerm)
        #expect(c.readStates[NodeID(1)] == [ReadState(context: 9, index: 1)])
    }

    /// Each read gets its own id; an answer to an older round does not confirm a newer read.
    @Test func answersToOlderRoundsDoNotConfirmNewerReads() {
        var c = ReplicationTests.elected()
        c.with(1) { try? $0.readIndex(context: 1) }
        let firstRound = c.queue
        c.queue = []
        c.with(1) { try? $0.readIndex(context: 2) }
        c.queue = firstRound
        c.deliver()
        #expect(c.readStates[NodeID(1)] == [ReadState(context: 1, index: 1)])
        #expect(c[1].reads.pending.map(\.context) == [2])
    }

    /// Followers refuse and name the leader.
    @Test func followerRefusesReads() {
        var node = ReplicationTests.elected()[2]
        #expect(throws: RaftNode.ReadIndexError.notLeader(leader: NodeID(1))) { try node.readIndex(context: 1) }
    }

    /// Thesis §3.10: the transfer is abandoned if it has not finished within an election timeout,
    /// and proposals are accepted again.
    @Test func transferIsAbandonedAfterAnElectionTimeout() throws {
        var c = ReplicationTests.elected()
        c.isolate(3)
        c.with(1) { $0.transferLeadership(to: NodeID(3)) }
        #expect(c[1].transferTarget == NodeID(3))
        #expect(throws: RaftNode.ProposeError.transferInProgress) { try c.propose(1, "x") }
        c.tick(1, times: 10)
        c.deliver()
        #expect(c[1].transferTarget == nil)
        try c.propose(1, "accepted again")
    }
}

/// Snapshots and compaction (Raft §7).
struct SnapshotTests {
    /// Compaction keeps the snapshot and drops the log up to it.
    @Test func compactionDropsTheLogBelowTheSnapshot() throws {
        var c = ReplicationTests.elected()
        for k in 0..<5 { try c.propose(1, "e\(k)") }
        c.deliver()
        c.with(1) { $0.compact(through: 4, data: [1, 2, 3]) }
        #expect(c[1].snapshotIndex == 4)
        #expect(c[1].entries.map(\.index) == [5, 6])
        #expect(c[1].latestSnapshot?.metadata == SnapshotMetadata(index: 4, term: 1, configuration: c.configuration))
    }

    /// Hashicorp/raft#704: after installing a snapshot, a follower keeps its log suffix only when
    /// its entry at the snapshot's last index has the snapshot's term.
    @Test func installKeepsTheSuffixOnlyWhenTermsMatch() {
        var log = RaftLog()
        log.append((1...5).map { Entry(term: 1, index: $0) })
        var matching = log
        matching.restore(SnapshotMetadata(index: 3, term: 1, configuration: Configuration(voters: [])))
        #expect(matching.entries.map(\.index) == [4, 5])
        var conflicting = log
        conflicting.restore(SnapshotMetadata(index: 3, term: 2, configuration: Configuration(voters: [])))
        #expect(conflicting.entries.isEmpty)
        #expect(conflicting.lastIndex == 3 && conflicting.lastTerm == 2)
    }

    /// A duplicated first chunk does not reset a transfer in progress (seed 2470, 5 nodes).
    @Test func duplicateFirstChunkKeepsTheTransfer() {
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2)]), seed: 1)
        let meta = SnapshotMetadata(index: 5, term: 1, configuration: Configuration(voters: [NodeID(1), NodeID(2)]))
        func chunk(_ offset: Int) -> Message {
            Message(from: NodeID(1), to: NodeID(2), term: 1,
                kind: .snapshotChunk(.init(metadata: meta, totalBytes: 30, offset: offset, data: Array(repeating: 7, count: 10))))
        }
        node.step(chunk(0))
        node.step(chunk(10))
        node.step(chunk(0))
        #expect(node.messagesAfterPersist.last?.kind == .snapshotAck(index: 5, receivedBytes: 20))
        node.step(chunk(20))
        #expect(node.snapshotIndex == 5)
    }

    /// A snapshot installed over a log whose suffix was not yet handed out still writes that
    /// suffix (seed 2317, 5 nodes): the next batch carries the snapshot and every kept entry.
    @Test func installWritesTheKeptSuffix() {
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2)]), seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1,
            kind: .append(prevIndex: 0, prevTerm: 0, entries: (1...10).map { Entry(term: 1, index: $0) }, commit: 0)))
        let meta = SnapshotMetadata(index: 7, term: 1, configuration: Configuration(voters: [NodeID(1), NodeID(2)]))
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1,
            kind: .snapshotChunk(.init(metadata: meta, totalBytes: 1, offset: 0, data: [1]))))
        let rd = node.ready()!
        #expect(rd.snapshot?.metadata == meta)
        #expect(rd.entries.map(\.index) == [8, 9, 10])
    }

    /// A node restarts from its snapshot plus the log after it.
    @Test func restartFromSnapshotPlusLog() {
        let snap = Snapshot(metadata: SnapshotMetadata(index: 10, term: 2, configuration: Configuration(voters: [NodeID(1)])), data: [9])
        let node = RaftNode(
            id: NodeID(1), configuration: Configuration(voters: [NodeID(1)]),
            restoring: PersistentState(hardState: HardState(term: 3, vote: NodeID(1), commit: 11), snapshot: snap,
                entries: [Entry(term: 3, index: 11), Entry(term: 3, index: 12)]), seed: 1)
        #expect(node.snapshotIndex == 10 && node.lastIndex == 12 && node.commitIndex == 11 && node.appliedIndex == 10)
        #expect(node.term == 3 && node.vote == NodeID(1))
    }
}
