import Host
import Raft
import Store

/// The node side of the world: the simulated disk and network carry out what each master's
/// `RaftHost` asks, the way `RaftDriver` does for real — except that fsyncs and snapshot writes
/// complete later in simulated time, and the process may crash in between.
extension Simulation {
    /// Hands the node's ready work to disk and network.
    func drive(_ i: Int) {
        guard canRun(i) else { return }
        execute(i, nodes[i].host.process())
    }

    func canRun(_ i: Int) -> Bool { !failed && nodes[i].up && !nodes[i].paused }

    /// Carries out the host's outputs in order, and whatever finishing them makes ready.
    func execute(_ i: Int, _ outputs: [RaftHost<KVStore>.Output]) {
        var work = outputs
        var next = 0
        var becameLeader = false
        var observePending = false
        while next < work.count, canRun(i) {
            let output = work[next]
            next += 1
            switch output {
            case .softState(let ss):
                observePending = true
                if ss.role == .leader {
                    becameLeader = true
                    stats.elections += 1
                    if !inLivenessPhase && faultRng.chance(plan.crashNewLeaderRate) {
                        schedule(after: faultRng.uniform(0...20_000_000), .crashNode(node: i, incarnation: nodes[i].incarnation))
                    }
                } else {
                    nodes[i].pendingReads = [:]
                    nodes[i].pendingWrites = []
                }
                trace.mix(UInt64(i) << 32 | UInt64(ss.role.hashCode) << 16 | (ss.leader?.rawValue ?? 0))
            case .send(let messages):
                for m in messages { send(m) }
            case .persist(let batch):
                if let hs = batch.hardState { trace.mix(hs.term); trace.mix(hs.commit) }
                do {
                    if let snap = batch.snapshot {
                        try oracle.installed(i, snapshot: snap.metadata)
                        stats.snapshotsInstalled += 1
                    }
                    try oracle.appended(i, batch.entries)
                    try observe(i, becameLeader: becameLeader)
                } catch {
                    return fail(error)
                }
                becameLeader = false
                observePending = false
                nodes[i].disk.write(batch)
                if batch.mustSync {
                    var latency = diskRng.uniform(10_000...plan.fsyncMaxNs)
                    if diskRng.chance(plan.slowFsyncRate) { latency += diskRng.uniform(10_000_000...100_000_000) }
                    schedule(after: latency, .persisted(node: i, incarnation: nodes[i].incarnation, token: batch.token))
                } else {
                    work += nodes[i].host.persisted(batch.token)
                }
            case .restored:
                break
            case .applied(let entry, let applied):
                do { try oracle.applied(i, entry) } catch { return fail(error) }
                if let request = applied.request,
                    nodes[i].pendingWrites.remove(SimNode.WriteKey(client: request.client, sequence: request.sequence)) != nil
                {
                    reply(to: Int(request.client), sequence: request.sequence, .written(applied.result, position: applied.position))
                }
            case .readReady(let rs):
                if let read = nodes[i].pendingReads.removeValue(forKey: rs.context) {
                    reply(to: read.client, sequence: read.sequence, .read(nodes[i].store.get(read.key), position: nodes[i].store.appliedIndex))
                }
            case .captureSnapshot(let metadata, let encode):
                // Encoded now from the captured copy; the file is written while the node runs on.
                let latency = diskRng.uniform(100_000...plan.fsyncMaxNs * 4)
                schedule(after: latency, .snapshotWritten(node: i, incarnation: nodes[i].incarnation, metadata, encode()))
            case .adoptSnapshot(let snap):
                nodes[i].disk.saveSnapshot(snap, resetLog: false)
                stats.compactions += 1
            case .discardSnapshot:
                break
            case .fatal(let message):
                return fail(Violation(invariant: "fail-stop", detail: "n\(i + 1): \(message)"))
            }
        }
        guard observePending, !failed else { return }
        do { try observe(i, becameLeader: becameLeader) } catch { fail(error) }
    }

    /// The state oracles, on the node's state as its batch is handed out (before anything applies).
    func observe(_ i: Int, becameLeader: Bool) throws(Violation) {
        try oracle.observe(i, raft: nodes[i].raft, becameLeader: becameLeader, logs: { self.nodes.map(\.raft) })
    }

    /// The batch with `token` is on the platter — unless the process dies just before or just after.
    func persisted(_ i: Int, token: UInt64) {
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
        execute(i, nodes[i].host.persisted(token))
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
                _ = try nodes[i].host.propose(request.encoded())
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
                try nodes[i].host.readIndex(context: context)
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
        nodes[i].pendingWrites = []
        nodes[i].pendingReads = [:]
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
            do { try store.restore(snap) } catch {
                fail(Violation(invariant: "recovery", detail: "n\(i + 1): undecodable snapshot"))
                return
            }
        }
        nodes[i].host = makeHost(i, restoring: recovered, store: store)
        nodes[i].up = true
        do { try oracle.restarted(i, raft: nodes[i].raft) } catch {
            fail(error)
            return
        }
        schedule(after: tickNs, .tick(node: i, epoch: nodes[i].tickEpoch))
        drive(i)
    }

    /// The host a master runs after starting on what its disk holds.
    func makeHost(_ i: Int, restoring state: PersistentState = PersistentState(), store: KVStore = KVStore()) -> RaftHost<KVStore> {
        let raft = RaftNode(
            id: NodeID(UInt64(i + 1)), configuration: configuration, config: plan.raft, restoring: state,
            seed: nodeSeed(i, incarnation: nodes.indices.contains(i) ? nodes[i].incarnation : 0))
        var options = RaftHost<KVStore>.Options()
        options.snapshotEveryEntries = plan.snapshotEveryEntries
        return RaftHost(node: raft, machine: store, options: options)
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
