import Testing

/// Scenario transcripts (see `Scenario`): elections under the four PreVote × CheckQuorum
/// combinations (thesis §9.6, etcd-io/etcd#8498), a partitioned leader stepping down, the
/// Figure 8 history, catching up by snapshot, and leadership transfer.
struct ScenarioTests {
    /// With both on, a node that was cut off and rejoins changes nobody's term or leader.
    @Test func preVoteOnCheckQuorumOn() {
        Scenario.run("""
            config prevote=on checkquorum=on
            nodes 1 2 3
            campaign 1
            deliver
            expect role 1 leader
            expect term 1 1
            isolate 3
            timeout 3
            deliver
            expect role 3 preCandidate
            expect term 3 1          # pre-votes never raise the term
            heal
            timeout 3                # its pre-votes reach nodes that hear from a leader: ignored
            deliver
            expect term 1 1
            expect role 1 leader
            tick 1
            deliver
            expect role 3 follower
            expect leader 3 1
            expect term 3 1
            """)
    }

    /// CheckQuorum alone: the cut-off node raises its term; on rejoining, its answer to the
    /// leader's heartbeat carries that term and deposes the leader.
    @Test func preVoteOffCheckQuorumOn() {
        Scenario.run("""
            config prevote=off checkquorum=on
            nodes 1 2 3
            campaign 1
            deliver
            expect role 1 leader
            isolate 3
            timeout 3
            deliver
            expect role 3 candidate
            heal
            tick 1
            deliver
            expect role 1 follower   # deposed by the higher term
            expect leaders 0
            timeout 3
            deliver
            expect leaders 1
            """)
    }

    /// PreVote alone: a rejoining node whose log fell behind cannot win pre-votes, so no term
    /// moves; the leader stays.
    @Test func preVoteOnCheckQuorumOff() {
        Scenario.run("""
            config prevote=on checkquorum=off
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            propose 1 x              # the majority moves on without 3
            deliver
            expect commit 1 2
            timeout 3
            deliver
            expect role 3 preCandidate
            expect term 3 1
            heal
            timeout 3
            deliver
            expect term 1 1
            expect role 1 leader
            expect delivered PreVoteResp(rejected)
            tick 1
            deliver
            expect role 3 follower
            expect commit 3 2
            """)
    }

    /// Neither: the rejoining node's election at a higher term disrupts the cluster.
    @Test func preVoteOffCheckQuorumOff() {
        Scenario.run("""
            config prevote=off checkquorum=off
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            timeout 3
            deliver
            expect role 3 candidate
            heal
            timeout 3
            deliver
            expect role 1 follower
            expect role 3 leader
            """)
    }

    /// A leader cut off from the majority steps down after two election timeouts of silence
    /// (CheckQuorum), and the majority elects another.
    @Test func partitionedLeaderStepsDown() {
        Scenario.run("""
            nodes 1 2 3
            campaign 1
            deliver
            expect role 1 leader
            isolate 1
            tick 1 20
            expect role 1 follower
            expect leader 1 none
            tick 3 10                # 3's lease on leader 1 runs out too
            timeout 2
            deliver
            expect role 2 leader
            expect term 2 2
            heal
            tick 2
            deliver
            expect leader 1 2
            expect term 1 2
            """)
    }

    /// Raft Figure 8: an entry of an earlier term stored on a majority is not committed by counting;
    /// it commits only with an entry of the leader's own term (§5.4.2). Without the rule (the
    /// planted bug) it would commit, and a later leader could overwrite it.
    @Test func figure8() {
        Scenario.run(Self.figure8Script(bug: false) + """
            expect commit 1 1        # index 2 (term 1) is on 1, 2, 3 but is not committed
            """)
        Scenario.run(Self.figure8Script(bug: true) + """
            expect commit 1 2        # the planted bug commits it by counting
            """)
    }

    static func figure8Script(bug: Bool) -> String {
        """
        config prevote=off checkquorum=off appendbytes=1 \(bug ? "bug=commit-previous-term" : "")
        nodes 1 2 3 4 5
        campaign 1
        deliver
        expect commit 1 1
        partition 1 2 | 3 4 5
        propose 1 a              # index 2, term 1: only on 1 and 2
        deliver
        expect log 2 1/1 1/2
        expect commit 1 1
        crash 1
        heal
        partition 2 | 1 3 4 5
        campaign 5               # 5 wins term 2 with 3 and 4 ...
        deliver 4
        deliver 2
        expect role 5 leader
        expect log 5 1/1 2/2     # ... and appends index 2 of term 2 locally only
        isolate 5
        drop
        crash 5
        heal
        restart 1
        partition 1 2 3 | 4 5
        campaign 1               # term 2: 3 already voted for 5
        deliver
        expect role 1 candidate
        campaign 1               # 1 wins term 3 with 2 and 3
        deliver 4
        deliver 2
        expect role 1 leader
        expect term 1 3
        deliver 4                # 3 rejects the no-op (it lacks index 2) and gets index 2 alone
        deliver 2
        deliver 2
        expect log 3 1/1 1/2

        """
    }

    /// A follower that missed entries the leader compacted away catches up by InstallSnapshot,
    /// sent in chunks, and then by ordinary appends.
    @Test func followerCatchesUpBySnapshot() {
        Scenario.run("""
            config chunkbytes=500
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            propose 1 a
            propose 1 b
            propose 1 c
            deliver
            expect commit 1 4
            compact 1
            propose 1 d
            deliver
            heal
            tick 1
            deliver
            expect delivered Snap(index=4,off=0,n=500/2048)
            expect delivered Snap(index=4,off=1500,n=500/2048)
            expect delivered Snap(index=4,off=2000,n=48/2048)
            tick 1
            deliver
            expect commit 3 5
            expect log 3 1/5
            """)
    }

    /// The leader's host does not compact past a follower it heard from lately: while one takes
    /// in a snapshot, a newer snapshot would restart the transfer, which under steady writes never
    /// finished (found by the simulator: seed 548 on 3 nodes, 75-byte chunks, a snapshot every 20
    /// entries); just after, compacting would leave it another snapshot to take (seed 797). The
    /// follower installs the snapshot it got and catches up from the log the leader kept.
    @Test func compactionWaitsForASnapshotInTransfer() {
        Scenario.run("""
            config chunkbytes=100 snapshotevery=2
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            propose 1 a
            propose 1 b
            propose 1 c
            deliver
            expect snapshot 1 0      # 3 was heard from lately and lacks them: compaction waits
            tick 1 10
            deliver
            tick 1 10
            deliver
            expect snapshot 1 4      # silent for an election timeout: no longer waited for
            heal
            tick 1
            deliver 8                # the transfer starts
            expect delivered Snap(index=4,off=0,n=100/1024)
            propose 1 d
            propose 1 e
            propose 1 f
            deliver 8
            expect commit 1 7
            expect snapshot 1 4      # three entries applied, two were due: held
            deliver
            expect notdelivered Snap(index=7
            expect delivered Snap(index=4,off=1000,n=24/1024)
            tick 1
            deliver
            expect commit 3 7        # by appends from the log the leader kept
            expect notdelivered Snap(
            expect snapshot 1 7      # the transfer is over: compaction goes on
            """)
    }

    /// A follower that goes silent in the middle of a transfer holds compaction back only for an
    /// election timeout.
    @Test func aSilentFollowerDoesNotHoldCompaction() {
        Scenario.run("""
            config chunkbytes=100 snapshotevery=2 checkquorum=off
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            propose 1 a
            propose 1 b
            propose 1 c
            deliver
            tick 1 20
            deliver
            heal
            tick 1
            deliver 8
            expect delivered Snap(index=4,off=0,n=100/1024)
            crash 3
            propose 1 d
            propose 1 e
            deliver
            expect snapshot 1 4
            tick 1 20
            expect snapshot 1 6
            """)
    }

    /// Leadership transfer: the leader brings the target up to date, sends TimeoutNow, and the
    /// target wins the next term at once; proposals are refused meanwhile.
    @Test func leadershipTransfer() {
        Scenario.run("""
            nodes 1 2 3
            campaign 1
            deliver
            isolate 3
            propose 1 a
            deliver
            heal
            transfer 1 3
            propose! 1 refused-during-transfer
            deliver
            expect delivered TimeoutNow
            expect role 3 leader
            expect term 3 2
            expect role 1 follower
            expect leader 1 3
            expect commit 3 3
            """)
    }
}
