/// The Raft consensus state machine of one member (Ongaro & Ousterhout, "In Search of an
/// Understandable Consensus Algorithm", 2014; Ongaro's thesis, 2014).
///
/// A synchronous value with no clock, thread, I/O or unseeded randomness: the driver feeds it
/// `tick()`, `step(_:)`, `propose(_:)`, `readIndex(context:)` and `transferLeadership(to:)`, takes
/// its output with `ready()`, makes the batch durable, and calls `advance(_:)`. The same code runs
/// under the real runtime and under the simulator.
public struct RaftNode: Sendable {
    public let id: NodeID
    public let config: RaftConfig
    public internal(set) var configuration: Configuration

    public internal(set) var term: Term = 0
    public internal(set) var vote: NodeID?
    public internal(set) var role: Role = .follower
    public internal(set) var leader: NodeID?

    /// Set when the node meets a state that only a bug or corrupted storage can produce; the node
    /// then ignores every input (fail-stop) and the driver must stop with this message.
    public internal(set) var corruption: String?

    var log: RaftLog
    var rng: SplitMix64
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    var votes: [NodeID: Bool] = [:]
    var progress: [NodeID: Progress] = [:]
    var leadTransferee: NodeID?
    var uncommittedBytes = 0
    var reads = ReadQueue()
    /// The latest snapshot this node holds (taken locally or installed), to send to laggards.
    var snapshot: Snapshot?
    /// A received snapshot waiting to be handed to the driver.
    var snapshotToInstall: Snapshot?
    /// A snapshot being received in chunks.
    var incomingSnapshot: (metadata: SnapshotMetadata, total: Int, data: [UInt8])?

    var messages: [Message] = []
    var messagesAfterPersist: [Message] = []
    var readStates: [ReadState] = []
    var lastHardState: HardState
    var lastSoftState: SoftState
    /// A batch has been handed out and not yet advanced.
    var readyOutstanding = false

    /// Creates a node; `restoring` is what the node finds on its disk (empty on first start).
    /// `seed` drives its randomized election timeouts.
    public init(
        id: NodeID, configuration: Configuration, config: RaftConfig = RaftConfig(),
        restoring state: PersistentState = PersistentState(), seed: UInt64
    ) {
        precondition(config.electionTicks > config.heartbeatTicks && config.heartbeatTicks > 0)
        self.id = id
        self.config = config
        self.configuration = state.snapshot?.metadata.configuration ?? configuration
        self.rng = SplitMix64(seed: seed)
        self.log = RaftLog(recovering: state)
        self.term = state.hardState.term
        self.vote = state.hardState.vote
        self.snapshot = state.snapshot
        self.lastHardState = HardState(term: term, vote: vote, commit: log.committed)
        self.lastSoftState = SoftState(role: .follower, leader: nil)
        resetRandomizedElectionTimeout()
    }

    // MARK: Observation

    public var softState: SoftState { SoftState(role: role, leader: leader) }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var lastIndex: LogIndex { log.lastIndex }
    public var lastTerm: Term { log.lastTerm }
    public var persistedIndex: LogIndex { log.persisted }
    /// Index and term of the latest snapshot (0 when none).
    public var snapshotIndex: LogIndex { log.snapshotIndex }
    /// The log entries held in memory (after the snapshot).
    public var entries: [Entry] { log.entries }
    public func term(at index: LogIndex) -> Term? { log.term(at: index) }
    public func entry(at index: LogIndex) -> Entry? { log.entry(at: index) }
    /// The leader is transferring leadership to this member.
    public var transferTarget: NodeID? { leadTransferee }
    /// The leader has committed an entry of its own term (required before serving reads, thesis §6.4).
    public var hasCommittedInTerm: Bool { log.term(at: log.committed) == term }

    // MARK: Inputs

    /// Advances logical time by one tick: election timeouts for followers and candidates,
    /// heartbeats and CheckQuorum for leaders.
    public mutating func tick() {
        guard corruption == nil else { return }
        if role == .leader {
            tickLeader()
        } else {
            electionElapsed += 1
            if configuration.contains(id) && electionElapsed >= randomizedElectionTimeout {
                electionElapsed = 0
                campaign()
            }
        }
    }

    /// Starts an election now (with a pre-vote round when enabled).
    public mutating func campaign() {
        guard corruption == nil, role != .leader, configuration.contains(id) else { return }
        if config.preVote {
            becomePreCandidate()
        } else {
            becomeCandidate(transfer: false)
        }
    }

    /// Why a proposal was refused.
    public enum ProposeError: Error, Equatable, Sendable {
        /// Only the leader accepts proposals; `leader` is the one this node knows, if any.
        case notLeader(leader: NodeID?)
        /// Leadership is moving; retry at the new leader.
        case transferInProgress
        /// The leader cannot commit fast enough: `uncommittedBytes` are waiting (limit `limitBytes`).
        case tooManyUncommittedBytes(uncommittedBytes: Int, limitBytes: Int)
    }

    /// Appends a command to the leader's log and returns its index. It is committed once a quorum
    /// stores it; the driver learns that from `committedEntries`.
    public mutating func propose(_ data: [UInt8]) throws(ProposeError) -> LogIndex {
        guard role == .leader, corruption == nil else { throw .notLeader(leader: leader) }
        guard leadTransferee == nil else { throw .transferInProgress }
        let size = data.count + 24
        if uncommittedBytes > 0 && uncommittedBytes + size > config.maxUncommittedBytes {
            throw .tooManyUncommittedBytes(uncommittedBytes: uncommittedBytes, limitBytes: config.maxUncommittedBytes)
        }
        uncommittedBytes += size
        let index = log.lastIndex + 1
        appendAsLeader([Entry(term: term, index: index, kind: .normal, data: data)])
        return index
    }

    /// Delivers a message from a peer.
    public mutating func step(_ m: Message) {
        guard corruption == nil, m.to == id else { return }
        if m.term > term {
            if isVoteRequest(m) {
                let transfer = if case .vote(_, _, true) = m.kind { true } else { false }
                // CheckQuorum lease (thesis §9.6): a follower that hears from a live leader ignores
                // vote requests, so a partitioned node cannot disrupt it.
                let inLease = config.checkQuorum && leader != nil && electionElapsed < config.electionTicks
                if inLease && !transfer { return }
            }
            switch m.kind {
            case .preVote:
                break  // A pre-vote request never changes our term.
            case .preVoteResponse(granted: true):
                break  // It carries the term we would campaign in, not a newer real term.
            case .append, .heartbeat, .snapshotChunk:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: nil)
            }
        } else if m.term < term {
            if config.plantedBugs.contains(.acceptStaleAppend), case .append = m.kind {
                // Planted bug: serve the stale leader as if its term were current.
                handleAppend(m, replyTerm: m.term)
                return
            }
            switch m.kind {
            case .append, .heartbeat, .snapshotChunk:
                // Tell the stale leader about the newer term so it steps down. Without this a leader
                // cut off by a partition, once healed, could wait forever (etcd-io/etcd#5451).
                if config.checkQuorum || config.preVote {
                    send(to: m.from, .appendResponse(.accepted(matchIndex: 0)))
                }
            case .preVote:
                send(to: m.from, .preVoteResponse(granted: false))
            default:
                break
            }
            return
        }

        switch m.kind {
        case .preVote(let lastIndex, let lastTerm), .vote(let lastIndex, let lastTerm, _):
            handleVoteRequest(m, lastIndex: lastIndex, lastTerm: lastTerm)
        default:
            switch role {
            case .leader: stepLeader(m)
            case .candidate, .preCandidate: stepCandidate(m)
            case .follower: stepFollower(m)
            }
        }
    }

    // MARK: Output

    /// Whether `ready()` has anything to hand out.
    public var hasReady: Bool {
        guard !readyOutstanding else { return false }
        return softState != lastSoftState || hardState != lastHardState || log.lastIndex > log.emitted
            || snapshotToInstall != nil || log.hasApplicable || !readStates.isEmpty
            || !messages.isEmpty || !messagesAfterPersist.isEmpty
    }

    /// Hands out the next batch of work, or nil when there is none or a batch awaits `advance`.
    public mutating func ready() -> Ready? {
        guard hasReady else { return nil }
        var rd = Ready()
        if softState != lastSoftState {
            rd.softState = softState
            lastSoftState = softState
        }
        if hardState != lastHardState {
            rd.hardState = hardState
            rd.termOrVoteChanged = hardState.term != lastHardState.term || hardState.vote != lastHardState.vote
            lastHardState = hardState
        }
        if let snap = snapshotToInstall {
            rd.snapshot = snap
            snapshotToInstall = nil
        }
        if log.lastIndex > log.emitted {
            rd.entries = log.entries(from: log.emitted + 1, through: log.lastIndex, maxBytes: .max) ?? []
            log.emitted = log.lastIndex
        }
        if let last = rd.entries.last {
            rd.persistMark = (last.term, last.index)
        } else if let snap = rd.snapshot {
            rd.persistMark = (snap.metadata.term, snap.metadata.index)
        }
        rd.committedEntries = log.applicable(maxBytes: config.maxApplyBytes)
        if let last = rd.committedEntries.last {
            log.applied = last.index
        }
        rd.readStates = readStates
        rd.messages = messages
        rd.messagesAfterPersist = messagesAfterPersist
        readStates = []
        messages = []
        messagesAfterPersist = []
        readyOutstanding = true
        return rd
    }

    /// Reports that `rd` is durable (and its messages sent). A completion for entries that have
    /// since been replaced in the log is stale: it no longer vouches for anything and is ignored.
    public mutating func advance(_ rd: Ready) {
        readyOutstanding = false
        guard corruption == nil, let mark = rd.persistMark else { return }
        if log.matchTerm(mark.index, mark.term) && mark.index > log.persisted {
            log.persisted = mark.index
        }
        if role == .leader {
            if progress[id]?.acknowledge(log.persisted) == true, maybeCommit() {
                broadcastAppend()
            }
        }
    }

    /// The state machine captured everything through `index` (≤ applied) in `data`: keep it as the
    /// latest snapshot and drop the log below it (Raft §7). The driver persists the snapshot itself.
    public mutating func compact(through index: LogIndex, data: [UInt8]) {
        precondition(index <= log.applied, "snapshot beyond the applied index")
        guard index > log.snapshotIndex, let t = log.term(at: index) else { return }
        snapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: t, configuration: configuration), data: data)
        log.compact(through: index)
    }

    /// The latest snapshot this node holds, if any.
    public var latestSnapshot: Snapshot? { snapshot }

    // MARK: Role changes

    mutating func reset(term newTerm: Term) {
        if newTerm != term {
            term = newTerm
            vote = nil
        }
        leader = nil
        electionElapsed = 0
        heartbeatElapsed = 0
        resetRandomizedElectionTimeout()
        votes = [:]
        progress = [:]
        leadTransferee = nil
        uncommittedBytes = 0
        reads = ReadQueue()
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    mutating func becomePreCandidate() {
        // Like etcd-io/raft: keep term and vote, forget the leader (hashicorp/raft#606 lesson).
        votes = [:]
        leader = nil
        role = .preCandidate
        electionElapsed = 0
        resetRandomizedElectionTimeout()
        requestVotes(preVote: true, transfer: false)
    }

    mutating func becomeCandidate(transfer: Bool) {
        reset(term: term + 1)
        vote = id
        role = .candidate
        requestVotes(preVote: false, transfer: transfer)
    }

    mutating func becomeLeader() {
        reset(term: term)
        role = .leader
        leader = id
        for peer in configuration.voters {
            var pr = Progress(next: log.lastIndex + 1)
            pr.recentActive = true
            progress[peer] = pr
        }
        progress[id]?.match = log.persisted
        // A new leader commits its term with an empty entry (Raft §5.4.2, §8): entries of earlier
        // terms become committed only through it, and reads wait for it.
        appendAsLeader([Entry(term: term, index: log.lastIndex + 1, kind: .noop)])
    }

    mutating func resetRandomizedElectionTimeout() {
        randomizedElectionTimeout = config.electionTicks + Int(rng.next() % UInt64(config.electionTicks))
    }

    // MARK: Elections (Raft §5.2, thesis §9.6)

    mutating func requestVotes(preVote: Bool, transfer: Bool) {
        let campaignTerm = preVote ? term + 1 : term
        votes[id] = true
        if configuration.quorum <= 1 {
            if preVote { becomeCandidate(transfer: transfer) } else { becomeLeader() }
            return
        }
        for peer in configuration.voters where peer != id {
            let kind: Message.Kind =
                preVote
                ? .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)
                : .vote(lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: transfer)
            // Vote requests wait for our own term and vote to be durable.
            send(Message(from: id, to: peer, term: campaignTerm, kind: kind))
        }
    }

    func isVoteRequest(_ m: Message) -> Bool {
        switch m.kind {
        case .preVote, .vote: return true
        default: return false
        }
    }

    mutating func handleVoteRequest(_ m: Message, lastIndex: LogIndex, lastTerm: Term) {
        let isPreVote = if case .preVote = m.kind { true } else { false }
        let canVote =
            vote == m.from
            || (vote == nil && leader == nil)
            || (isPreVote && m.term > term)
        if canVote && log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm) {
            if isPreVote {
                send(Message(from: id, to: m.from, term: m.term, kind: .preVoteResponse(granted: true)))
            } else {
                // Reset the timer only when granting (a rejected candidate must not suppress elections).
                electionElapsed = 0
                vote = m.from
                let response = Message(from: id, to: m.from, term: term, kind: .voteResponse(granted: true))
                if config.plantedBugs.contains(.voteBeforePersist) {
                    messages.append(response)
                } else {
                    messagesAfterPersist.append(response)
                }
            }
        } else {
            send(to: m.from, isPreVote ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
        }
    }

    mutating func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append, .heartbeat, .snapshotChunk:
            becomeFollower(term: m.term, leader: m.from)
            stepFollower(m)
        case .preVoteResponse(let granted):
            guard role == .preCandidate else { return }
            tally(m.from, granted)
        case .voteResponse(let granted):
            guard role == .candidate else { return }
            tally(m.from, granted)
        default:
            break
        }
    }

    mutating func tally(_ voter: NodeID, _ granted: Bool) {
        guard configuration.contains(voter), votes[voter] == nil else { return }
        votes[voter] = granted
        let yes = votes.values.filter { $0 }.count
        let no = votes.count - yes
        if yes >= configuration.quorum {
            if role == .preCandidate {
                becomeCandidate(transfer: false)
            } else {
                becomeLeader()
            }
        } else if no >= configuration.voters.count - configuration.quorum + 1 {
            becomeFollower(term: term, leader: nil)
        }
    }

    mutating func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m, replyTerm: term)
        case .heartbeat(let commit, let readID):
            if !config.plantedBugs.contains(.heartbeatKeepsTimerRunning) { electionElapsed = 0 }
            leader = m.from
            log.commit(to: min(commit, log.lastIndex))
            send(to: m.from, .heartbeatResponse(readID: readID))
        case .snapshotChunk(let chunk):
            electionElapsed = 0
            leader = m.from
            handleSnapshotChunk(from: m.from, chunk)
        case .timeoutNow:
            // Leadership transfer (thesis §3.10): campaign at once, skipping the pre-vote.
            if configuration.contains(id) {
                becomeCandidate(transfer: true)
            }
        default:
            break
        }
    }

    // MARK: Sending

    /// Queues a message. A leader's messages may leave at once; everything a follower or candidate
    /// says (acknowledgements, votes, vote requests) may promise durable state and waits for it.
    mutating func send(_ m: Message) {
        if role == .leader {
            messages.append(m)
        } else {
            messagesAfterPersist.append(m)
        }
    }

    mutating func send(to peer: NodeID, _ kind: Message.Kind) {
        send(Message(from: id, to: peer, term: term, kind: kind))
    }

    /// Stops the node for good: something impossible happened.
    mutating func failStop(_ reason: String) {
        if corruption == nil {
            corruption = "\(id): \(reason)"
        }
    }
}
