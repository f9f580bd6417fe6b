import Raft
import Store

/// The node side of the world: what the real runtime will do with each `Ready`, done against the
/// simulated disk and network.
extension Simulation {
    /// Hands out batches until the node must wait for its disk.
    func drive(_ i: Int) {
        while !failed, nodes[i].up, !nodes[i].paused, nodes[i].inflight == nil,
            let rd = nodes[i].raft.ready()
        {
            if let corruption = nodes[i].raft.corruption {
                fail(Violation(invariant: "fail-stop", detail: corruption))
                return
            }
            let becameLeader = rd.softState?.role == .leader
            if becameLeader {
                stats.elections += 1
                if !inLivenessPhase && faultRng.chance(plan.crashNewLeaderRate) {
                    schedule(after: faultRng.uniform(0...20_000_000), .crashNode(node: i, incarnation: nodes[i].incarnation))
                }
            }
            if rd.softState?.role != nil && rd.softState?.role != .leader {
                nodes[i].pendingReads = [:]
                nodes[i].pendingWrites = []
            }
            if let ss = rd.softState { trace.mix(UInt64(i) << 32 | UInt64(ss.role.hashCode) << 16 | (ss.leader?.rawValue ?? 0)) }
            if let hs = rd.hardState { trace.mix(hs.term); trace.mix(hs.commit) }
            do {
                if let snap = rd.snapshot {
                    try oracle.installed(i, snapshot: snap.metadata)
                    stats.snapshotsInstalled += 1
                }
                try oracle.appended(i, rd.entries)
                try oracle.observe(i, raft: nodes[i].raft, becameLeader: becameLeader, logs: { self.nodes.map(\.raft) })
            } catch {
                fail(error)
                return
            }
            for m in rd.messages { send(m) }
            nodes[i].disk.write(rd)
            nodes[i].inflight = rd
            if rd.mustSync {
                var latency = diskRng.uniform(10_000...plan.fsyncMaxNs)
                if diskRng.chance(plan.slowFsyncRate) { latency += diskRng.uniform(10_000_000...100_000_000) }
                schedule(after: latency, .persisted(node: i, incarnation: nodes[i].incarnation))
                return
            }
            finishReady(i)
            return
        }
    }

    /// The batch is durable: release the messages that waited for it, apply, serve, advance.
    func finishReady(_ i: Int) {
        guard let rd = nodes[i].inflight else { return }
        nodes[i].inflight = nil
        if rd.mustSync {
            if !inLivenessPhase && faultRng.chance(plan.crashBeforeSyncRate) {
                // The process dies while the write is in the page cache.
                stats.crashesBeforeSync += 1
                crash(i)
                return
            }
            nodes[i].disk.sync()
            if !inLivenessPhase && faultRng.chance(plan.crashAfterSyncRate) {
                // Durable, but the acknowledgements never leave.
                stats.crashesAfterSync += 1
                crash(i)
                return
            }
        }
        for m in rd.messagesAfterPersist { send(m) }
        if let snap = rd.snapshot {
            guard let restored = try? KVStore(restoring: snap.data) else {
                fail(Violation(invariant: "snapshot", detail: "n\(i + 1) received an undecodable snapshot"))
                return
            }
            nodes[i].store = restored
        }
        for e in rd.committedEntries {
            do { try oracle.applied(i, e) } catch {
                fail(error)
                return
            }
            let applied = nodes[i].store.apply(e)
            if let request = applied.request,
                nodes[i].pendingWrites.remove(SimNode.WriteKey(client: request.client, sequence: request.sequence)) != nil
            {
                reply(to: Int(request.client), sequence: request.sequence, .written(applied.result, position: applied.position))
            }
        }
        for rs in rd.readStates {
            if let read = nodes[i].pendingReads.removeValue(forKey: rs.context) {
                nodes[i].readyReads.append((rs.index, read.client, read.sequence, read.key))
            }
        }
        serveReads(i)
        nodes[i].raft.advance(rd)
        maybeCompact(i)
        drive(i)
    }

    func serveReads(_ i: Int) {
        let applied = nodes[i].store.appliedIndex
        var waiting: [(index: LogIndex, client: Int, sequence: UInt64, key: String)] = []
        for read in nodes[i].readyReads {
            if read.index <= applied {
                reply(to: read.client, sequence: read.sequence, .read(nodes[i].store.get(read.key), position: applied))
            } else {
                waiting.append(read)
            }
        }
        nodes[i].readyReads = waiting
    }

    func maybeCompact(_ i: Int) {
        let applied = nodes[i].store.appliedIndex
        guard applied >= nodes[i].raft.snapshotIndex + plan.snapshotEveryEntries else { return }
        nodes[i].raft.compact(through: applied, data: nodes[i].store.snapshot())
        if let snap = nodes[i].raft.latestSnapshot {
            nodes[i].disk.saveSnapshot(snap, resetLog: false)
            stats.compactions += 1
        }
    }

    func handleRequest(_ i: Int, client: Int, sequence: UInt64, _ operation: ClientOperation) {
        let raft = nodes[i].raft
        guard raft.role == .leader else {
            reply(to: client, sequence: sequence, .notLeader(leader: raft.leader.map { Int($0.rawValue - 1) }))
            return
        }
        switch operation {
        case .write(let op):
            let request = KVRequest(client: UInt64(client), sequence: sequence, operation: op)
            do throws(RaftNode.ProposeError) {
                _ = try nodes[i].raft.propose(request.encoded())
                nodes[i].pendingWrites.insert(SimNode.WriteKey(client: UInt64(client), sequence: sequence))
            } catch {
                switch error {
                case .notLeader(let leader):
                    reply(to: client, sequence: sequence, .notLeader(leader: leader.map { Int($0.rawValue - 1) }))
                case .tooManyUncommittedBytes, .transferInProgress:
                    reply(to: client, sequence: sequence, .busy)
                }
            }
        case .read(let key):
            let context = nodes[i].nextReadContext
            nodes[i].nextReadContext += 1
            do throws(RaftNode.ReadIndexError) {
                try nodes[i].raft.readIndex(context: context)
                nodes[i].pendingReads[context] = (client, sequence, key)
            } catch {
                switch error {
                case .notLeader(let leader):
                    reply(to: client, sequence: sequence, .notLeader(leader: leader.map { Int($0.rawValue - 1) }))
                case .tooManyPendingReads:
                    reply(to: client, sequence: sequence, .busy)
                }
            }
        }
        drive(i)
    }

    // MARK: Network

    /// Puts a Raft message on the simulated network: maybe lost, maybe duplicated, delayed.
    func send(_ m: Message) {
        do { try oracle.voteSent(m) } catch {
            fail(error)
            return
        }
        let from = Int(m.from.rawValue - 1)
        let to = Int(m.to.rawValue - 1)
        guard !blocked[from][to], !networkRng.chance(lossRate) else { return }
        let copies = networkRng.chance(duplicateRate) ? 2 : 1
        for _ in 0..<copies {
            schedule(after: networkDelay(), .deliver(m))
        }
    }

    func networkDelay() -> UInt64 {
        var delay = plan.delayMinNs + networkRng.exponential(meanNs: plan.delayMeanNs)
        if networkRng.chance(longDelayRate) {
            delay += networkRng.uniform(0...plan.longDelayMaxNs)
        }
        return delay
    }

    func reply(to client: Int, sequence: UInt64, _ reply: ClientReply) {
        guard !networkRng.chance(lossRate) else { return }
        schedule(after: networkDelay(), .reply(client: client, sequence: sequence, reply))
    }

    // MARK: Crashes, restarts, pauses

    func crash(_ i: Int) {
        stats.crashes += 1
        nodes[i].up = false
        nodes[i].paused = false
        nodes[i].incarnation += 1
        nodes[i].tickEpoch += 1
        nodes[i].inbox = []
        nodes[i].inflight = nil
        nodes[i].pendingWrites = []
        nodes[i].pendingReads = [:]
        nodes[i].readyReads = []
        nodes[i].disk.crash(using: &diskRng, tearProbability: plan.tearProbability)
        if !inLivenessPhase {
            schedule(after: faultRng.exponential(meanNs: plan.restartDelayNs), .restart(node: i))
        }
    }

    func restart(_ i: Int) {
        let framesBefore = nodes[i].disk.frames.count
        let recovered: PersistentState
        do {
            recovered = try nodes[i].disk.recover(acceptTorn: plan.raft.plantedBugs.contains(.acceptTornRecord))
        } catch {
            fail(Violation(invariant: "recovery", detail: "n\(i + 1): \(error)"))
            return
        }
        if nodes[i].disk.frames.count < framesBefore { stats.tornTails += 1 }
        if let first = recovered.entries.first, first.index != (recovered.snapshot?.metadata.index ?? 0) + 1 {
            fail(Violation(invariant: "recovery", detail: "n\(i + 1): log starts at \(first.index) after snapshot \(recovered.snapshot?.metadata.index ?? 0)"))
            return
        }
        var store = KVStore()
        if let snap = recovered.snapshot {
            guard let restored = try? KVStore(restoring: snap.data) else {
                fail(Violation(invariant: "recovery", detail: "n\(i + 1): undecodable snapshot"))
                return
            }
            store = restored
        }
        nodes[i].raft = RaftNode(
            id: NodeID(UInt64(i + 1)), configuration: configuration, config: plan.raft, restoring: recovered,
            seed: nodeSeed(i, incarnation: nodes[i].incarnation))
        nodes[i].store = store
        nodes[i].up = true
        do { try oracle.restarted(i, raft: nodes[i].raft) } catch {
            fail(error)
            return
        }
        schedule(after: tickNs, .tick(node: i, epoch: nodes[i].tickEpoch))
        drive(i)
    }

    func resume(_ i: Int) {
        guard nodes[i].up, nodes[i].paused else { return }
        nodes[i].paused = false
        let inbox = nodes[i].inbox
        nodes[i].inbox = []
        for event in inbox where !failed {
            handle(event)
        }
        schedule(after: tickNs, .tick(node: i, epoch: nodes[i].tickEpoch))
        drive(i)
    }
}

extension Role {
    /// A stable small number for the trace hash (Swift's hashValue changes per process).
    var hashCode: UInt8 {
        switch self {
        case .follower: 0
        case .preCandidate: 1
        case .candidate: 2
        case .leader: 3
        }
    }
}
