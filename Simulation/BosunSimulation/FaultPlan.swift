import Raft

/// The fault mix of one seed, drawn swarm-style (Groce et al., "Swarm Testing", 2012): each fault
/// class is switched on or off per seed and its rates drawn, so some seeds hammer one fault hard
/// while others combine several mildly.
struct FaultPlan: CustomStringConvertible {
    var lossRate = 0.0
    var duplicateRate = 0.0
    var delayMinNs: UInt64 = 100_000
    var delayMeanNs: UInt64 = 1_000_000
    var longDelayRate = 0.0
    /// Messages sent long ago delivered again (from earlier terms): answers to old appends, old
    /// heartbeats, old votes and read confirmations.
    var replayRate = 0.0
    var longDelayMaxNs: UInt64 = 2_000_000_000
    /// Mean time between partitions (nil: none), and their mean length.
    var partitionIntervalNs: UInt64?
    var partitionDurationNs: UInt64 = 2_000_000_000
    var crashIntervalNs: UInt64?
    /// Probability that a crash hits the leader rather than a random node.
    var crashLeaderRate = 0.0
    /// Probability that a newly elected leader crashes within a few milliseconds (leader churn,
    /// which leaves short divergent log suffixes behind: the raw material of Figure 8).
    var crashNewLeaderRate = 0.0
    /// Probability that a leader crashes a few milliseconds after appending new entries: entries of
    /// many terms then sit uncommitted on a minority, the Figure 8 situation (§5.4.2).
    var crashAfterAppendRate = 0.0
    var restartDelayNs: UInt64 = 1_000_000_000
    /// Probability that a node crashes while a batch is being written (before the fsync completes,
    /// after the messages that may precede it went out).
    var crashBeforeSyncRate = 0.0
    /// Probability that a node crashes right after a batch is durable and before its messages go out.
    var crashAfterSyncRate = 0.0
    var tearProbability = 0.0
    var pauseIntervalNs: UInt64?
    /// How often the leader is asked to hand over to a follower (as on SIGTERM).
    var transferIntervalNs: UInt64?
    /// How often one follower of a healthy cluster is cut off for a while, then rejoins.
    var isolationIntervalNs: UInt64?
    var pauseDurationNs: UInt64 = 1_000_000_000
    /// Probability that a pause hits the leader rather than a random node.
    var pauseLeaderRate = 0.0
    /// Per-node tick period multipliers (clock rate skew).
    var clockRates: [Double]
    var fsyncMaxNs: UInt64 = 1_000_000
    var slowFsyncRate = 0.0
    var raft: RaftConfig
    var snapshotEveryEntries: UInt64 = 100
    var clients = 3
    var watchers = 1
    var keys = 3
    var thinkTimeMeanNs: UInt64 = 20_000_000
    /// The control-plane world: node agents, operators and their Deployments (none when off).
    var agents = 0
    var operators = 0
    var deployments = 1
    var operatorThinkNs: UInt64 = 1_000_000_000
    /// How often an agent stops (nil: never), and for how long at most.
    var agentStopIntervalNs: UInt64?
    var agentStopMaxMs: UInt64 = 10_000
    /// One agent stays down for good once the faults stop: its node must be marked unreachable
    /// and its pods evicted and replaced elsewhere.
    var agentDiesForGood = false
    /// How often an agent's request is held up for seconds (a stalled connection, a master
    /// paused with it in its socket buffer) and reaches the master after the agent gave up on it.
    var agentLateRate = 0.0
    var agentLateMaxNs: UInt64 = 6_000_000_000

    init(nodes: Int, bugs: PlantedBugs, rng: inout SplitMix64) {
        raft = RaftConfig()
        raft.electionTicks = 20
        raft.heartbeatTicks = 5
        raft.plantedBugs = bugs
        // Small limits make batching, flow control, chunking and compaction happen often.
        raft.maxAppendBytes = Int(rng.uniform(64...4096))
        raft.maxInflightAppends = Int(rng.uniform(1...16))
        raft.snapshotChunkBytes = Int(rng.uniform(64...1024))
        raft.maxUncommittedBytes = Int(rng.uniform(2048...65536))
        snapshotEveryEntries = rng.uniform(20...300)
        clients = Int(rng.uniform(2...8))
        keys = Int(rng.uniform(2...6))
        watchers = Int(rng.uniform(1...2))
        thinkTimeMeanNs = rng.uniform(1...40) * 1_000_000

        if rng.chance(0.6) { lossRate = rng.uniform(0.0...0.15) }
        if rng.chance(0.5) { duplicateRate = rng.uniform(0.0...0.1) }
        delayMinNs = rng.uniform(50_000...500_000)
        delayMeanNs = rng.uniform(200_000...10_000_000)
        if rng.chance(0.5) { longDelayRate = rng.uniform(0.0...0.03) }
        if rng.chance(0.4) { replayRate = rng.uniform(0.0...0.02) }
        if rng.chance(0.7) {
            partitionIntervalNs = rng.uniform(200...6_000) * 1_000_000
            partitionDurationNs = rng.uniform(50...4_000) * 1_000_000
        }
        if rng.chance(0.7) {
            crashIntervalNs = rng.uniform(200...8_000) * 1_000_000
            restartDelayNs = rng.uniform(20...3_000) * 1_000_000
            crashLeaderRate = rng.uniform(0.0...1.0)
            if rng.chance(0.4) { crashNewLeaderRate = rng.uniform(0.0...0.5) }
            if rng.chance(0.4) { crashAfterAppendRate = rng.uniform(0.0...0.1) }
            crashBeforeSyncRate = rng.chance(0.5) ? rng.uniform(0.0...0.05) : 0
            crashAfterSyncRate = rng.chance(0.5) ? rng.uniform(0.0...0.05) : 0
            tearProbability = rng.uniform(0.2...0.9)
        }
        if rng.chance(0.4) { transferIntervalNs = rng.uniform(300...5_000) * 1_000_000 }
        if rng.chance(0.4) { isolationIntervalNs = rng.uniform(1_000...6_000) * 1_000_000 }
        if rng.chance(0.5) {
            pauseIntervalNs = rng.uniform(500...10_000) * 1_000_000
            pauseDurationNs = rng.uniform(300...3_000) * 1_000_000
            pauseLeaderRate = rng.uniform(0.0...1.0)
        }
        let skew = rng.chance(0.5) ? rng.uniform(0.0...0.1) : 0
        clockRates = (0..<nodes).map { _ in 1 + rng.uniform(-skew...skew) }
        fsyncMaxNs = rng.uniform(50_000...3_000_000)
        if rng.chance(0.3) { slowFsyncRate = rng.uniform(0.0...0.05) }
    }

    /// Draws the control-plane world from its own generator, so the masters' faults of a seed
    /// are the same with it or without it.
    mutating func drawControlPlane(rng: inout SplitMix64) {
        // Pods and Deployments are kilobytes: a leader that holds only a couple uncommitted
        // refuses almost every write of a busy cluster.
        raft.maxUncommittedBytes = max(raft.maxUncommittedBytes, Int(rng.uniform(16_384...131_072)))
        agents = Int(rng.uniform(3...10))
        operators = Int(rng.uniform(1...2))
        deployments = Int(rng.uniform(1...2))
        operatorThinkNs = rng.uniform(300...4_000) * 1_000_000
        if rng.chance(0.6) {
            agentStopIntervalNs = rng.uniform(2_000...15_000) * 1_000_000
            agentStopMaxMs = rng.uniform(2_000...15_000)
        }
        agentDiesForGood = rng.chance(0.3)
        if rng.chance(0.5) { agentLateRate = rng.uniform(0.01...0.05) }
    }

    var description: String {
        func ms(_ ns: UInt64?) -> String { ns.map { "\($0 / 1_000_000)ms" } ?? "off" }
        func pct(_ p: Double) -> String { "\(Int(p * 1000 + 0.5) / 10)%" }
        return "loss=\(pct(lossRate)) dup=\(pct(duplicateRate)) delay=\(ms(delayMeanNs)) long=\(pct(longDelayRate)) replay=\(pct(replayRate)) "
            + "partitions=\(ms(partitionIntervalNs)) crashes=\(ms(crashIntervalNs)) crashBeforeSync=\(pct(crashBeforeSyncRate)) "
            + "crashAfterSync=\(pct(crashAfterSyncRate)) crashNewLeader=\(pct(crashNewLeaderRate)) crashAfterAppend=\(pct(crashAfterAppendRate)) "
            + "tear=\(pct(tearProbability)) pauses=\(ms(pauseIntervalNs)) transfers=\(ms(transferIntervalNs)) isolations=\(ms(isolationIntervalNs)) clients=\(clients) keys=\(keys) "
            + "appendBytes=\(raft.maxAppendBytes) inflight=\(raft.maxInflightAppends) snapshotEvery=\(snapshotEveryEntries)"
            + (agents == 0 ? "" : " agents=\(agents) operators=\(operators) deployments=\(deployments) agentStops=\(ms(agentStopIntervalNs)) deadAgent=\(agentDiesForGood) agentLate=\(pct(agentLateRate))")
    }
}
