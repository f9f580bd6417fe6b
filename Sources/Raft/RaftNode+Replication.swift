/// Log replication (Raft §5.3) and the commit rule (§5.4.2).
extension RaftNode {
    mutating func tickLeader() {
        heartbeatElapsed += 1
        for peer in progress.keys { progress[peer]?.idleTicks += 1 }
        electionElapsed += 1
        if electionElapsed >= config.electionTicks {
            electionElapsed = 0
            if config.checkQuorum {
                // CheckQuorum (thesis §6.2): without a quorum heard from in an election timeout,
                // step down so clients look elsewhere instead of waiting on a leader that cannot commit.
                let active = configuration.voters.filter { $0 == id || progress[$0]?.recentActive == true }
                for peer in configuration.voters where peer != id {
                    progress[peer]?.recentActive = false
                }
                if active.count < configuration.quorum {
                    becomeFollower(term: term, leader: nil)
                    return
                }
            }
            // A transfer that has not finished within an election timeout is abandoned.
            leadTransferee = nil
        }
        if heartbeatElapsed >= config.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(readID: reads.latestID)
        }
    }

    mutating func appendAsLeader(_ newEntries: [Entry]) {
        log.append(newEntries)
        // The leader counts itself only once its own write is durable (see `advance`).
        broadcastAppend()
    }

    mutating func broadcastAppend() {
        for peer in configuration.voters where peer != id {
            sendAppend(to: peer, allowEmpty: true)
        }
    }

    mutating func broadcastHeartbeat(readID: UInt64) {
        for peer in configuration.voters where peer != id {
            // Never tell a follower to commit past what it is known to hold.
            let commit = min(progress[peer]?.match ?? 0, log.committed)
            send(to: peer, .heartbeat(commit: commit, readID: readID))
        }
    }

    /// Sends the next AppendEntries to `peer` if its progress allows; a snapshot when the entries it
    /// needs are compacted. Returns whether something was sent.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, allowEmpty: Bool) -> Bool {
        guard var pr = progress[peer], !pr.isPaused(maxInflight: config.maxInflightAppends) else { return false }
        let prevIndex = pr.next - 1
        guard let prevTerm = log.term(at: prevIndex),
            let batch = log.entries(from: pr.next, through: log.lastIndex, maxBytes: config.maxAppendBytes)
        else {
            return sendSnapshot(to: peer)
        }
        if batch.isEmpty && !allowEmpty { return false }
        if let last = batch.last {
            switch pr.state {
            case .replicate:
                pr.next = last.index + 1
                pr.inflights.append(last.index)
            case .probe:
                pr.probeSent = true
            case .snapshot:
                preconditionFailure("append while sending a snapshot")
            }
        } else if pr.state == .probe {
            pr.probeSent = true
        }
        progress[peer] = pr
        send(to: peer, .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: batch, commit: log.committed))
        return true
    }

    /// The commit rule (Raft §5.4.2): the highest index stored on a quorum, but only if that entry
    /// is of the current term. Entries of earlier terms commit indirectly, through a later one —
    /// counting replicas of an old entry is unsafe (Figure 8). Returns whether commit advanced.
    mutating func maybeCommit() -> Bool {
        var matches = configuration.voters.map { progress[$0]?.match ?? 0 }
        matches.sort(by: >)
        let candidate = matches[configuration.quorum - 1]
        guard candidate > log.committed else { return false }
        if log.term(at: candidate) != term && !config.plantedBugs.contains(.commitPreviousTerm) {
            return false
        }
        let previous = log.committed
        log.commit(to: candidate)
        releaseUncommittedBytes(after: previous)
        if previous < candidate && log.term(at: previous) != term {
            // The first commit of this term: reads that waited for it may proceed (thesis §6.4).
            releaseReadsWaitingForTermCommit()
        }
        return true
    }

    mutating func releaseUncommittedBytes(after previous: LogIndex) {
        guard uncommittedBytes > 0 else { return }
        var freed = 0
        var index = previous + 1
        while index <= log.committed, let entry = log.entry(at: index) {
            if entry.term == term && entry.kind == .normal { freed += entry.sizeBytes }
            index += 1
        }
        uncommittedBytes = max(0, uncommittedBytes - freed)
    }

    mutating func stepLeader(_ m: Message) {
        guard progress[m.from] != nil else { return }
        progress[m.from]?.recentActive = true
        progress[m.from]?.idleTicks = 0
        switch m.kind {
        case .appendResponse(.accepted(let matchIndex)):
            handleAppendAccepted(from: m.from, matchIndex: matchIndex)
        case .appendResponse(.rejected(let rejected, let hintIndex, let hintTerm)):
            // Skip past a whole conflicting term at once (fast backtracking, Raft §5.3 end).
            let agree = log.lastAgreeable(atOrBelow: hintIndex, term: hintTerm).index
            if progress[m.from]?.backOff(rejected: rejected, hint: agree) == true {
                if progress[m.from]?.state == .replicate {
                    progress[m.from]?.becomeProbe()
                }
                sendAppend(to: m.from, allowEmpty: true)
            }
        case .heartbeatResponse(let readID):
            if var pr = progress[m.from] {
                if pr.state == .replicate && pr.inflights.count >= config.maxInflightAppends {
                    // An ack may have been lost: make room for one more append so we find out.
                    pr.inflights.removeFirst()
                }
                pr.probeSent = false
                progress[m.from] = pr
                if pr.state == .snapshot {
                    resendSnapshotChunk(to: m.from)
                } else if pr.match < log.lastIndex {
                    sendAppend(to: m.from, allowEmpty: true)
                }
            }
            if readID != 0 {
                confirmRead(readID: readID, from: m.from)
            }
        case .snapshotAck(let index, let receivedBytes):
            handleSnapshotAck(from: m.from, index: index, receivedBytes: receivedBytes)
        default:
            break
        }
    }

    mutating func handleAppendAccepted(from peer: NodeID, matchIndex: LogIndex) {
        guard var pr = progress[peer] else { return }
        let wasPaused = pr.isPaused(maxInflight: config.maxInflightAppends)
        guard pr.acknowledge(matchIndex) else {
            progress[peer] = pr
            return
        }
        switch pr.state {
        case .probe:
            pr.becomeReplicate()
        case .snapshot where pr.match >= pr.snapshotIndex:
            pr.becomeProbe()
            pr.becomeReplicate()
        default:
            break
        }
        progress[peer] = pr
        if maybeCommit() {
            broadcastAppend()
        } else if wasPaused {
            sendAppend(to: peer, allowEmpty: false)
        }
        while sendAppend(to: peer, allowEmpty: false) {}
        if peer == leadTransferee && progress[peer]?.match == log.lastIndex {
            send(to: peer, .timeoutNow)
        }
    }

    /// The follower side of AppendEntries (Raft Figure 2, receiver rules).
    /// `replyTerm` is the current term, except under the planted `acceptStaleAppend` bug.
    mutating func handleAppend(_ m: Message, replyTerm: Term) {
        guard case .append(let prevIndex, let prevTerm, let incoming, let commit) = m.kind else { return }
        // A malformed append (entries not contiguous after prevIndex) is dropped, never half-applied.
        for (k, e) in incoming.enumerated() where e.index != prevIndex + 1 + LogIndex(k) {
            return
        }
        if prevIndex < log.committed {
            // Everything up to our commit index already matches any leader's log (§5.4);
            // report it so the leader moves on.
            reply(.accepted(matchIndex: log.committed))
            return
        }
        guard log.matchTerm(prevIndex, prevTerm) else {
            let hint = log.lastAgreeable(atOrBelow: prevIndex, term: prevTerm)
            reply(.rejected(rejectedIndex: prevIndex, hintIndex: hint.index, hintTerm: hint.term))
            return
        }
        let lastNew = prevIndex + LogIndex(incoming.count)
        if let conflict = log.firstConflict(in: incoming) {
            guard conflict.index > log.committed else {
                failStop("leader \(m.from) term \(m.term) overwrites committed entry \(conflict.index) (commit \(log.committed))")
                return
            }
            log.append(Array(incoming[Int(conflict.index - prevIndex - 1)...]))
        }
        if config.plantedBugs.contains(.truncateOnStaleAppend) && lastNew >= log.committed {
            log.truncate(after: lastNew)
        }
        log.commit(to: min(commit, lastNew))
        reply(.accepted(matchIndex: lastNew))

        func reply(_ result: Message.AppendResult) {
            send(Message(from: id, to: m.from, term: replyTerm, kind: .appendResponse(result)))
        }
    }
}
