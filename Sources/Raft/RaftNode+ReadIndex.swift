/// Linearizable reads without writing to the log (thesis §6.4, "ReadIndex").
///
/// The leader records its commit index as the read's index, then confirms with a round of
/// heartbeats that it was still leader after the read arrived; once a quorum answers, the read
/// may be served when the state machine has applied the index. Each request gets a fresh id, so
/// an answer to an earlier round never confirms a later read (etcd-io/etcd#20418).
struct ReadQueue: Sendable {
    struct PendingRead: Sendable {
        var id: UInt64
        var context: UInt64
        var index: LogIndex
        var acks: Set<NodeID>
    }

    /// Reads waiting for a quorum of heartbeat answers, oldest first.
    var pending: [PendingRead] = []
    /// Reads that arrived before this leader committed an entry of its term.
    var waitingForTermCommit: [UInt64] = []
    var nextID: UInt64 = 1

    var latestID: UInt64 { pending.last?.id ?? 0 }
}

extension RaftNode {
    /// Why a read request was refused.
    public enum ReadIndexError: Error, Equatable, Sendable {
        /// Reads are served by the leader; `leader` is the one this node knows, if any.
        case notLeader(leader: NodeID?)
        /// `RaftConfig.maxPendingReads` reads are already waiting for the leader's first commit or
        /// for a quorum to confirm its leadership.
        case tooManyPendingReads
    }

    /// Asks for a linearizable read. `context` comes back in a `ReadState` whose index the state
    /// machine must reach before the read is served.
    public mutating func readIndex(context: UInt64) throws(ReadIndexError) {
        guard role == .leader, corruption == nil else { throw .notLeader(leader: leader) }
        guard reads.waitingForTermCommit.count + reads.pending.count < config.maxPendingReads else { throw .tooManyPendingReads }
        guard hasCommittedInTerm else {
            // A new leader's commit index may lag behind its predecessor's (etcd-io/etcd#7331):
            // wait until the no-op of this term commits.
            reads.waitingForTermCommit.append(context)
            return
        }
        startRead(context: context)
    }

    mutating func startRead(context: UInt64) {
        if configuration.quorum <= 1 || config.plantedBugs.contains(.readIndexWithoutQuorum) {
            readStates.append(ReadState(context: context, index: log.committed))
            return
        }
        let read = ReadQueue.PendingRead(id: reads.nextID, context: context, index: log.committed, acks: [id])
        reads.nextID += 1
        reads.pending.append(read)
        broadcastHeartbeat(readID: read.id)
    }

    mutating func releaseReadsWaitingForTermCommit() {
        let waiting = reads.waitingForTermCommit
        reads.waitingForTermCommit = []
        for context in waiting {
            startRead(context: context)
        }
    }

    /// A heartbeat answer for round `readID`: the peer accepted us as leader after every read up to
    /// that round arrived. Once a quorum has, those reads are released.
    mutating func confirmRead(readID: UInt64, from peer: NodeID) {
        guard let position = reads.pending.firstIndex(where: { $0.id == readID }) else { return }
        reads.pending[position].acks.insert(peer)
        guard reads.pending[position].acks.count >= configuration.quorum else { return }
        for read in reads.pending[...position] {
            readStates.append(ReadState(context: read.context, index: read.index))
        }
        reads.pending.removeFirst(position + 1)
    }
}
