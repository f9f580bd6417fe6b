/// One batch of work for the driver (etcd-io/raft's `Ready`). Handle it in this order:
///
/// 1. send `messages` (they may go out while the batch is written: a leader's appends, thesis §10.2.1);
/// 2. write `snapshot` (dropping every log entry on disk), then `entries` (replacing any entries on
///    disk from `entries[0].index` on), then `hardState` — in that order, so a commit index never
///    reaches the disk ahead of the entries it covers; fsync when `mustSync`;
/// 3. only then send `messagesAfterPersist` (votes and acknowledgements, which promise durability);
/// 4. restore `snapshot` into the state machine, apply `committedEntries`, serve `readStates` once
///    applied through their index;
/// 5. call `advance(_:)` with this batch.
///
/// A node produces no new batch until the previous one is advanced.
public struct Ready: Sendable {
    /// Role and leader, when they changed.
    public var softState: SoftState?
    /// Term, vote and commit, when they changed.
    public var hardState: HardState?
    /// Entries to make durable; they replace any entries at or after the first one's index.
    public var entries: [Entry] = []
    /// A snapshot received from the leader, to persist and restore.
    public var snapshot: Snapshot?
    /// Committed, durable entries for the state machine, in order.
    public var committedEntries: [Entry] = []
    /// Linearizable reads whose index is now known.
    public var readStates: [ReadState] = []
    /// Messages that may be sent at once.
    public var messages: [Message] = []
    /// Messages that may be sent only after this batch is durable.
    public var messagesAfterPersist: [Message] = []

    /// Whether the write must be fsynced: true when term, vote, entries or a snapshot changed.
    /// A commit-only change may stay in the page cache: commit can be recovered from the quorum.
    public var mustSync: Bool {
        !entries.isEmpty || snapshot != nil || termOrVoteChanged
    }

    /// An empty batch; drivers' tests build batches by hand.
    public init() {}

    var termOrVoteChanged = false
    /// (term, index) of the last entry written by this batch: the completion the batch stands for.
    /// A completion whose entry has since been replaced in the log is stale and ignored.
    var persistMark: (term: Term, index: LogIndex)?
}
