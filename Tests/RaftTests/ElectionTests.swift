@testable import Raft
import Testing

/// Leader election rules (Raft §5.2, thesis §9.6).
struct ElectionTests {
    /// §5.2: election timeouts are drawn from [E, 2E) by the injected seeded generator: the same
    /// seed gives the same timeouts, different seeds spread them.
    @Test func randomizedTimeoutsComeFromTheSeed() {
        let config = RaftConfig()
        let configuration = Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)])
        var seen = Set<Int>()
        for seed in 0..<50 as Range<UInt64> {
            let a = RaftNode(id: NodeID(1), configuration: configuration, config: config, seed: seed)
            let b = RaftNode(id: NodeID(1), configuration: configuration, config: config, seed: seed)
            #expect(a.randomizedElectionTimeout == b.randomizedElectionTimeout)
            #expect((config.electionTicks..<2 * config.electionTicks).contains(a.randomizedElectionTimeout))
            seen.insert(a.randomizedElectionTimeout)
        }
        #expect(seen.count > 3)
    }

    /// §5.2: a follower that hears nothing for its election timeout campaigns, and one leader wins.
    @Test func followerTimesOutAndALeaderIsElected() {
        var c = TestCluster([1, 2, 3])
        c.timeOut(2)
        c.deliver()
        #expect(c.leaders() == [2])
        #expect(c[1].leader == NodeID(2) && c[3].leader == NodeID(2))
        #expect(c[2].term == 1)
    }

    /// §5.4.1: a voter refuses a candidate whose log is less up-to-date than its own.
    @Test func voteRefusedToCandidateWithStaleLog() throws {
        var c = TestCluster([1, 2, 3], config: TestCluster.paperConfig)
        c.campaign(1)
        c.deliver()
        c.isolate(3)
        try c.propose(1, "x")
        c.deliver()
        c.heal()
        c.crash(1)
        c.campaign(3)
        c.deliver()
        #expect(c[3].role != .leader)
        #expect(c.lastDelivered.contains { $0.contains("n2->n3") && $0.contains("VoteResp(rejected)") })
    }

    /// Figure 2: term and vote are persisted together before the vote leaves the node: the
    /// response waits in `messagesAfterPersist` of the batch that carries the new hard state.
    @Test func voteIsDurableBeforeItIsSent() {
        var config = RaftConfig()
        config.preVote = false
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)]), config: config, seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .vote(lastIndex: 0, lastTerm: 0, transfer: false)))
        let rd = node.ready()!
        #expect(rd.hardState == HardState(term: 1, vote: NodeID(1), commit: 0))
        #expect(rd.mustSync)
        #expect(rd.messages.isEmpty)
        #expect(rd.messagesAfterPersist == [Message(from: NodeID(2), to: NodeID(1), term: 1, kind: .voteResponse(granted: true))])
    }

    /// The planted bug sends the vote before it is durable, which the test above would catch.
    @Test func plantedVoteBeforePersistSendsEarly() {
        var config = RaftConfig()
        config.preVote = false
        config.plantedBugs = .voteBeforePersist
        var node = RaftNode(id: NodeID(2), configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)]), config: config, seed: 1)
        node.step(Message(from: NodeID(1), to: NodeID(2), term: 1, kind: .vote(lastIndex: 0, lastTerm: 0, transfer: false)))
        #expect(node.ready()!.messages.count == 1)
    }

    /// Figure 2: one vote per term, also after a restart from the persisted hard state.
    @Test func oneVotePerTermAcrossRestart() {
        var config = RaftConfig()
        config.preVote = false
        var c = TestCluster([1, 2, 3], config: config)
        c.with(2) { $0.step(Message(from: NodeID(1), to: NodeID(2), term: 5, kind: .vote(lastIndex: 0, lastTerm: 0, transfer: false))) }
        c.crash(2)
        c.restart(2)
        #expect(c[2].term == 5 && c[2].vote == NodeID(1))
        c.queue = []
        c.with(2) { $0.step(Message(from: NodeID(3), to: NodeID(2), term: 5, kind: .vote(lastIndex: 0, lastTerm: 0, transfer: false))) }
        #expect(c.queue == [Message(from: NodeID(2), to: NodeID(3), term: 5, kind: .voteResponse(granted: false))])
    }

    /// Thesis §9.6: a pre-candidate asks for votes in term+1 without changing its own term, and a
    /// node that hears from a live leader ignores the request (CheckQuorum lease).
    @Test func preVoteDoesNotRaiseTermsAndLeaseIgnoresIt() {
        var c = TestCluster([1, 2, 3])
        c.campaign(1)
        c.deliver()
        c.campaign(3)
        #expect(c[3].role == .preCandidate && c[3].term == 1)
        c.deliver()
        #expect(c[1].term == 1 && c[2].term == 1)
        #expect(c.leaders() == [1])
        #expect(!c.lastDelivered.contains { $0.contains("PreVoteResp") })
    }

    /// §5.1: a message from an older term is answered with the newer term (so a stale leader
    /// learns it), and never obeyed.
    @Test func staleLeaderIsToldTheNewTerm() {
        var c = TestCluster([1, 2, 3])
        c.campaign(1)
        c.deliver()
        c.with(2) { $0.step(Message(from: NodeID(3), to: NodeID(2), term: 0, kind: .append(prevIndex: 0, prevTerm: 0, entries: [Entry(term: 0, index: 1)], commit: 1))) }
        #expect(c.queue.last == Message(from: NodeID(2), to: NodeID(3), term: 1, kind: .appendResponse(.accepted(matchIndex: 0))))
        #expect(c[2].entries.first?.term == 1)
    }

    /// A single-node cluster elects itself and commits alone.
    @Test func singleNodeCommitsAlone() throws {
        var c = TestCluster([1])
        c.timeOut(1)
        #expect(c.leaders() == [1])
        try c.propose(1, "solo")
        #expect(c[1].commitIndex == 2)
        #expect(c.applied[NodeID(1)]?.last?.data == Array("solo".utf8))
    }
}
