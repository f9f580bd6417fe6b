import Raft

/// The one `Ready` loop (DESIGN §2): a deterministic host that owns a `RaftNode` and the state
/// machine it replicates, and turns the core's batches into outputs for a driver to execute. The
/// real runtime (`RaftDriver`), the simulator's masters and the Raft rule tests all run this code;
/// they differ only in how they carry out the outputs (shaped like `SWIM.Instance`'s directives).
///
/// Each batch follows the `Ready` contract:
/// 1. `.send` the messages that may leave at once (a leader's appends, thesis §10.2.1);
/// 2. `.persist` the snapshot, entries and hard state, with a token; the driver reports
///    `persisted(token)` when the write is durable — at once, or later; a token that is not the
///    batch in flight (a completion from before a restart) is ignored;
/// 3. then `.send` the messages that promise durability (votes, acknowledgements);
/// 4. restore an installed snapshot (`.restored`), apply committed entries (`.applied`), release
///    linearizable reads whose index is applied (`.readReady`), and advance the core.
///
/// Every `snapshotEveryEntries` applied entries the host asks for a snapshot (`.captureSnapshot`):
/// the driver encodes and writes it (on another thread, or later in simulated time) and reports
/// `snapshotWritten`; the host then compacts the log and answers `.adoptSnapshot`, or drops a
/// capture that a newer snapshot from the leader overtook meanwhile (`.discardSnapshot`).
public struct RaftHost<Machine: ReplicatedStateMachine> {
    /// Tunables.
    public struct Options: Sendable {
        /// Take a snapshot (and compact the log) after this many applied entries; 0 never does.
        public var snapshotEveryEntries: UInt64 = 10_000

        public init() {}
    }

    /// Work for the driver, in the order given.
    public enum Output {
        /// Role or leader changed.
        case softState(SoftState)
        case send([Message])
        case persist(PersistBatch)
        /// The state machine now holds a snapshot installed from the leader.
        case restored(SnapshotMetadata)
        case applied(Entry, Machine.ApplyResult)
        /// A linearizable read whose index the state machine has reached: serve it now.
        case readReady(ReadState)
        /// Encode the state captured now and write it as a snapshot file; report `snapshotWritten`.
        case captureSnapshot(SnapshotMetadata, encode: @Sendable () -> [UInt8])
        /// The log is compacted through this snapshot: make the written file the snapshot on disk and
        /// drop what it covers from the log.
        case adoptSnapshot(Snapshot)
        /// A written snapshot that is older than the one the node holds now: delete the file.
        case discardSnapshot(SnapshotMetadata)
        /// The node must stop (corrupted storage or a bug): nothing more is done.
        case fatal(String)
    }

    let options: Options
    /// The Raft core. Read it freely; change it only through the host's inputs.
    public internal(set) var node: RaftNode
    /// The replicated state machine.
    public private(set) var machine: Machine
    /// Set once the host met a fatal condition; it then ignores every input.
    private(set) var fatalMessage: String?
    /// The batch being made durable.
    var inflight: (token: UInt64, ready: Ready)?
    /// A batch is being made durable: no other is handed out until it is.
    public var isPersisting: Bool { inflight != nil }
    var nextToken: UInt64 = 1
    /// Read states whose index the machine has not reached yet. Bounded by the core's limit on
    /// pending reads (`RaftConfig.maxPendingReads`): every one of them came out of it.
    var waitingReads: [ReadState] = []
    /// A snapshot capture handed to the driver and not yet reported written.
    private(set) var snapshotInProgress: SnapshotMetadata?

    /// A host over a node and a machine recovered from the same disk (the machine holding the
    /// recovered snapshot's state, the node the recovered log).
    public init(node: RaftNode, machine: Machine, options: Options = Options()) {
        precondition(machine.appliedIndex == node.snapshotIndex, "the machine must hold the node's snapshot")
        self.node = node
        self.machine = machine
        self.options = options
    }

    // MARK: Inputs (then call `process()`)

    public mutating func tick() { node.tick() }
    public mutating func step(_ message: Message) { node.step(message) }
    public mutating func transferLeadership(to target: NodeID) { node.transferLeadership(to: target) }

    public mutating func propose(_ data: [UInt8]) throws(RaftNode.ProposeError) -> LogIndex {
        try node.propose(data)
    }

    public mutating func readIndex(context: UInt64) throws(RaftNode.ReadIndexError) {
        try node.readIndex(context: context)
    }

    // MARK: The loop

    /// Hands out the next batch, if one is ready and none is in flight.
    public mutating func process() -> [Output] {
        var out: [Output] = []
        process(into: &out)
        return out
    }

    /// The write with `token` is durable: finish its batch and hand out the next.
    public mutating func persisted(_ token: UInt64) -> [Output] {
        var out: [Output] = []
        guard fatalMessage == nil, let (current, rd) = inflight, current == token else { return out }
        inflight = nil
        finish(rd, into: &out)
        process(into: &out)
        return out
    }

    /// A snapshot asked for by `.captureSnapshot` is written (its file not yet adopted).
    public mutating func snapshotWritten(_ metadata: SnapshotMetadata, data: [UInt8]) -> [Output] {
        guard snapshotInProgress == metadata else { return [] }
        snapshotInProgress = nil
        guard fatalMessage == nil else { return [] }
        guard metadata.index > node.snapshotIndex else { return [.discardSnapshot(metadata)] }
        node.compact(through: metadata.index, data: data)
        return [.adoptSnapshot(Snapshot(metadata: metadata, data: data))]
    }

    /// The driver could not carry out an output (a disk error): stop for good.
    public mutating func fail(_ message: String) -> [Output] {
        guard fatalMessage == nil else { return [] }
        fatalMessage = message
        return [.fatal(message)]
    }

    private mutating func process(into out: inout [Output]) {
        while fatalMessage == nil, inflight == nil, let rd = node.ready() {
            if let corruption = node.corruption {
                out += fail(corruption)
                return
            }
            if let soft = rd.softState { out.append(.softState(soft)) }
            if !rd.messages.isEmpty { out.append(.send(rd.messages)) }
            guard rd.snapshot != nil || !rd.entries.isEmpty || rd.hardState != nil else {
                finish(rd, into: &out)  // Nothing to write: durable already.
                continue
            }
            let token = nextToken
            nextToken += 1
            inflight = (token, rd)
            out.append(.persist(PersistBatch(snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState, mustSync: rd.mustSync, token: token)))
        }
    }

    /// Steps 3 and 4 of the contract for a durable batch.
    private mutating func finish(_ rd: Ready, into out: inout [Output]) {
        if !rd.messagesAfterPersist.isEmpty { out.append(.send(rd.messagesAfterPersist)) }
        if let snap = rd.snapshot {
            do {
                try machine.restore(snap)
            } catch {
                out += fail("snapshot at index \(snap.metadata.index) cannot be decoded: \(error)")
                return
            }
            out.append(.restored(snap.metadata))
        }
        for entry in rd.committedEntries {
            out.append(.applied(entry, machine.apply(entry)))
        }
        waitingReads += rd.readStates
        if !waitingReads.isEmpty {
            let applied = machine.appliedIndex
            for read in waitingReads where read.index <= applied { out.append(.readReady(read)) }
            waitingReads.removeAll { $0.index <= applied }
        }
        node.advance(rd)
        maybeCaptureSnapshot(into: &out)
    }

    /// How many snapshot intervals a leader's compaction waits for a live follower whose log is
    /// behind (as TiKV's log GC waits for the slowest live peer). Compacting past it would send
    /// it a whole snapshot for a few missing entries, and restart a snapshot it is taking in: one
    /// that takes longer than an interval then never finishes while writes go on. Waiting lets it
    /// install and catch up from the log the leader still holds; the wait is bounded, and so is
    /// the log.
    public static var followerHoldIntervals: UInt64 { 8 }

    private mutating func maybeCaptureSnapshot(into out: inout [Output]) {
        let applied = machine.appliedIndex, every = options.snapshotEveryEntries
        guard every > 0, snapshotInProgress == nil, applied >= node.snapshotIndex + every,
            !node.hasLiveFollower(behind: applied) || applied >= node.snapshotIndex + every * Self.followerHoldIntervals,
            let term = node.term(at: applied)
        else { return }
        let metadata = SnapshotMetadata(index: applied, term: term, configuration: node.configuration)
        snapshotInProgress = metadata
        out.append(.captureSnapshot(metadata, encode: machine.snapshotEncoder()))
    }
}

/// What one batch asks the driver to write, in this order: the snapshot (which replaces the
/// whole log: it came from the leader), the entries (replacing any on disk from the first
/// one's index on), the hard state. Fsync when `mustSync`.
public struct PersistBatch: Sendable {
    public var snapshot: Snapshot?
    public var entries: [Entry]
    public var hardState: HardState?
    public var mustSync: Bool
    /// Names this write in `persisted(_:)`.
    public var token: UInt64

    public init(snapshot: Snapshot? = nil, entries: [Entry] = [], hardState: HardState? = nil, mustSync: Bool = true, token: UInt64 = 0) {
        self.snapshot = snapshot
        self.entries = entries
        self.hardState = hardState
        self.mustSync = mustSync
        self.token = token
    }

    /// The log records to append: entries first, then the hard state, so a commit index never
    /// reaches the disk ahead of the entries it covers (found by the simulator, seed 216).
    public var records: [WALRecord] {
        var records: [WALRecord] = []
        if !entries.isEmpty { records.append(.entries(entries)) }
        if let hardState { records.append(.hardState(hardState)) }
        return records
    }
}
