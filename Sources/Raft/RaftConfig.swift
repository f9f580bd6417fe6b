/// Tunables of one Raft node. Times are in logical ticks; the driver decides how long a tick is.
public struct RaftConfig: Sendable {
    /// Followers start an election after a random timeout in [electionTicks, 2·electionTicks).
    public var electionTicks: Int = 10
    /// A leader sends heartbeats every `heartbeatTicks`.
    public var heartbeatTicks: Int = 1
    /// Ask for pre-votes before incrementing the term (thesis §9.6), so a rejoining node cannot disrupt.
    public var preVote: Bool = true
    /// A leader steps down when it has not heard from a quorum for an election timeout, and
    /// followers that hear from a live leader ignore vote requests (thesis §6.2, §9.6).
    public var checkQuorum: Bool = true
    /// Upper bound on the entry bytes of one AppendEntries message (at least one entry is always sent).
    public var maxAppendBytes: Int = 64 * 1024
    /// How many AppendEntries a leader may have unacknowledged per follower in replicate state.
    public var maxInflightAppends: Int = 64
    /// Proposals are refused while the leader holds this many uncommitted payload bytes.
    public var maxUncommittedBytes: Int = 4 * 1024 * 1024
    /// Bytes of snapshot data per InstallSnapshot chunk.
    public var snapshotChunkBytes: Int = 512 * 1024
    /// Upper bound on entry bytes handed to the state machine in one `Ready`.
    public var maxApplyBytes: Int = 1024 * 1024
    /// Read requests that may wait at once, for the leader's first commit in its term or for a quorum
    /// to confirm its leadership; one more is refused with `tooManyPendingReads`.
    public var maxPendingReads: Int = 4096
    /// Deliberate protocol bugs, compiled in and off by default: the simulator's self-test.
    public var plantedBugs: PlantedBugs = []

    public init() {}
}

/// Known-wrong behaviours the simulator must catch. Never enable them outside a simulation. The
/// layers above the Raft core (the master core) read theirs from the node's configuration too, so
/// one list names every planted bug.
public struct PlantedBugs: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Commit an entry of an earlier term by counting replicas (violates Raft §5.4.2, Figure 8).
    public static let commitPreviousTerm = PlantedBugs(rawValue: 1 << 0)
    /// Send a granted vote before the vote is durable (violates Figure 2, "persistent state").
    public static let voteBeforePersist = PlantedBugs(rawValue: 1 << 1)
    /// Answer ReadIndex with the commit index without a quorum heartbeat round (violates thesis §6.4).
    public static let readIndexWithoutQuorum = PlantedBugs(rawValue: 1 << 2)
    /// Accept AppendEntries from a leader of an older term (violates Raft §5.1).
    public static let acceptStaleAppend = PlantedBugs(rawValue: 1 << 3)
    /// Truncate the log after an AppendEntries even when nothing conflicts (Figure 2, receiver rule 3).
    public static let truncateOnStaleAppend = PlantedBugs(rawValue: 1 << 4)
    /// Recovery accepts a record whose checksum does not match (a torn write). Honoured by the
    /// simulated disk's recovery.
    public static let acceptTornRecord = PlantedBugs(rawValue: 1 << 5)
    /// The master core serves a linearizable read on a follower from its own applied state,
    /// without forwarding it to the leader for ReadIndex (violates linearizability).
    public static let followerLocalRead = PlantedBugs(rawValue: 1 << 6)
    /// A follower's election timer ignores heartbeats (only appends reset it): an availability bug
    /// that no safety property sees, only quiet stability.
    public static let heartbeatKeepsTimerRunning = PlantedBugs(rawValue: 1 << 7)
    /// The master core resumes a watch from resourceVersion RV after RV+1, skipping one change.
    public static let watchResumesPastNext = PlantedBugs(rawValue: 1 << 8)
    /// The scheduler binds a pod without the compare-and-swap on the version it read.
    public static let bindWithoutCompareAndSwap = PlantedBugs(rawValue: 1 << 9)
    /// The scheduler ignores what the pods already bound to a node request.
    public static let schedulerIgnoresBoundPods = PlantedBugs(rawValue: 1 << 10)
    /// The controllers start as soon as a master becomes leader, before an entry of its term
    /// applied (its state may still miss committed writes).
    public static let controllersActBeforeTermApplied = PlantedBugs(rawValue: 1 << 11)
    /// A new leader does not restart the nodes' grace periods: it counts silence from before it led.
    public static let keepNodeGraceAcrossLeaders = PlantedBugs(rawValue: 1 << 12)
    /// The ReplicaSet controller counts pods being deleted as present.
    public static let replicaSetCountsTerminatingPods = PlantedBugs(rawValue: 1 << 13)
    /// A rolling update scales old ReplicaSets down without regard to `maxUnavailable`.
    public static let rolloutIgnoresMaxUnavailable = PlantedBugs(rawValue: 1 << 14)
    /// A node agent resumes its watch one past the last version it saw, skipping an event.
    public static let agentWatchResumesPastLastSeen = PlantedBugs(rawValue: 1 << 15)
    /// A node agent answers `410 Gone` by watching from version 0 instead of listing again.
    public static let agentNoRelistAfterGone = PlantedBugs(rawValue: 1 << 16)
    /// A node agent writes pod status without the resourceVersion it computed it from.
    public static let agentStatusWithoutCompareAndSwap = PlantedBugs(rawValue: 1 << 17)
    /// A node agent never leaves its first master.
    public static let agentSticksToFirstMaster = PlantedBugs(rawValue: 1 << 18)

    /// The master core ends a watch's start (sent in steps) without the changes applied while it
    /// was being sent: they are lost to that watch.
    public static let watchStartSkipsLiveChanges = PlantedBugs(rawValue: 1 << 19)

    /// The bugs planted in the scheduler and controllers.
    public static let controlPlane: PlantedBugs = [
        .bindWithoutCompareAndSwap, .schedulerIgnoresBoundPods, .controllersActBeforeTermApplied, .keepNodeGraceAcrossLeaders,
        .replicaSetCountsTerminatingPods, .rolloutIgnoresMaxUnavailable,
    ]

    /// The bugs planted in the node agent.
    public static let agent: PlantedBugs = [
        .agentWatchResumesPastLastSeen, .agentNoRelistAfterGone, .agentStatusWithoutCompareAndSwap, .agentSticksToFirstMaster,
    ]

    /// Every planted bug with its command-line name, in a fixed order.
    public static let named: [(name: String, bug: PlantedBugs, summary: String)] = [
        ("commit-previous-term", .commitPreviousTerm, "commit an earlier term's entry by counting replicas (Figure 8)"),
        ("vote-before-persist", .voteBeforePersist, "grant a vote before the vote is durable"),
        ("read-index-without-quorum", .readIndexWithoutQuorum, "answer ReadIndex without confirming leadership"),
        ("accept-stale-append", .acceptStaleAppend, "accept AppendEntries from a stale term"),
        ("truncate-on-stale-append", .truncateOnStaleAppend, "a follower truncates its log on a stale heartbeat/append"),
        ("accept-torn-record", .acceptTornRecord, "recovery accepts a torn (checksum-failing) record"),
        ("follower-local-read", .followerLocalRead, "a follower serves a linearizable read from its own state"),
        ("heartbeat-keeps-timer-running", .heartbeatKeepsTimerRunning, "a follower's election timer ignores heartbeats"),
        ("watch-resumes-past-next", .watchResumesPastNext, "a watch resumed from RV starts after RV+1"),
        ("watch-start-skips-live-changes", .watchStartSkipsLiveChanges, "a watch started in steps misses the changes made meanwhile"),
        ("bind-without-cas", .bindWithoutCompareAndSwap, "the scheduler binds without compare-and-swap"),
        ("scheduler-ignores-bound-pods", .schedulerIgnoresBoundPods, "the scheduler ignores what bound pods request"),
        ("controllers-act-before-term-applied", .controllersActBeforeTermApplied, "controllers start before the leader's term has an applied entry"),
        ("keep-node-grace-across-leaders", .keepNodeGraceAcrossLeaders, "a new leader does not restart node grace periods"),
        ("replicaset-counts-terminating-pods", .replicaSetCountsTerminatingPods, "the ReplicaSet controller counts terminating pods"),
        ("rollout-ignores-max-unavailable", .rolloutIgnoresMaxUnavailable, "a rollout ignores maxUnavailable"),
        ("agent-watch-resumes-past-last-seen", .agentWatchResumesPastLastSeen, "an agent resumes its watch at RV+1"),
        ("agent-no-relist-after-gone", .agentNoRelistAfterGone, "an agent does not list again after 410 Gone"),
        ("agent-status-without-cas", .agentStatusWithoutCompareAndSwap, "an agent writes pod status without compare-and-swap"),
        ("agent-sticks-to-first-master", .agentSticksToFirstMaster, "an agent never leaves its first master"),
    ]
}
