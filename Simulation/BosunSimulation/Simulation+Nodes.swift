import Host
import Master
import MasterCore
import Raft
import Store

/// The node side of the world: the simulated disk and network carry out what each master's core
/// asks, the way `RaftDriver` and `MasterServer` do for real — except that fsyncs and snapshot
/// writes complete later in simulated time, and the process may crash in between.
extension Simulation {
    /// Hands the node's ready work to disk and network.
    func drive(_ i: Int) {
        guard canRun(i) else { return }
        execute(i, nodes[i].core.process())
    }

    func canRun(_ i: Int) -> Bool { !failed && nodes[i].up && !nodes[i].paused }

    /// Carries out the host's outputs in order, and whatever finishing them makes ready.
    func execute(_ i: Int, _ outputs: [MasterCore.Output]) {
        var work = outputs
        var next = 0
        while next < work.count, canRun(i) {
            let output = work[next]
            next += 1
            let io: RaftHost<KVStore>.Output
            switch output {
            case .raft(let raft): io = raft
            case .respond(let id, let response): answer(i, id, response); continue
            case .forward(let id, let request, let api): forward(i, id, request, api: api); continue
            case .startStream, .streamChunk, .endStream: stream(i, output); continue
            }
            switch io {
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
                    try observe(i)
                } catch {
                    return fail(error)
                }
                nodes[i].disk.write(batch)
                if !batch.entries.isEmpty, nodes[i].raft.role == .leader, !inLivenessPhase, faultRng.chance(plan.crashAfterAppendRate) {
                    schedule(after: faultRng.uniform(0...3_000_000), .crashNode(node: i, incarnation: nodes[i].incarnation))
                }
                if batch.mustSync {
                    var latency = diskRng.uniform(10_000...plan.fsyncMaxNs)
                    if diskRng.chance(plan.slowFsyncRate) { latency += diskRng.uniform(10_000_000...100_000_000) }
                    schedule(after: latency, .persisted(node: i, incarnation: nodes[i].incarnation, token: batch.token))
                } else {
                    work += nodes[i].core.persisted(batch.token)
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
            case .softState, .restored, .applied, .readReady:
                preconditionFailure("the master core keeps these")
            }
        }
        guard !failed else { return }
        if nodes[i].core.hasPendingWork, !nodes[i].workScheduled {
            nodes[i].workScheduled = true
            schedule(after: 500_000, .continueWork(node: i, incarnation: nodes[i].incarnation))
        }
        do { try checkApplied(i) } catch { fail(error) }
        if !agents.isEmpty, let v = controlChecker.advance(oracle.committed, nowNs: nowNs) { fail(v) }
    }

    /// State machine safety for what the node applied since the last look: each entry is the
    /// committed one (entries restored from a snapshot were checked when the snapshot was).
    func checkApplied(_ i: Int) throws(Violation) {
        let applied = nodes[i].store.appliedIndex
        guard applied > lastApplied[i] else { return }
        for index in lastApplied[i] + 1...applied {
            if let entry = nodes[i].raft.entry(at: index) { try oracle.applied(i, entry) }
        }
        lastApplied[i] = applied
    }

    /// The state oracles, on the node's state as a batch is handed out, before anything applies
    /// (the oracle's view of the node's log moves with the batches it is told of). A role change
    /// shows at the next batch; becoming leader always writes one (the term's no-op entry).
    func observe(_ i: Int) throws(Violation) {
        try oracle.observe(i, raft: nodes[i].raft, becameLeader: roleChange(i) == .leader, logs: { self.nodes.map(\.raft) })
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
        execute(i, nodes[i].core.persisted(token))
    }

    /// The node's role, when it changed since the last look (the master core keeps the host's
    /// soft state to itself; the world watches the node instead).
    func roleChange(_ i: Int) -> Role? {
        let soft = nodes[i].raft.softState
        guard soft != lastSoftState[i] else { return nil }
        lastSoftState[i] = soft
        if soft.role == .leader {
            stats.elections += 1
            if !inLivenessPhase && faultRng.chance(plan.crashNewLeaderRate) {
                schedule(after: faultRng.uniform(0...20_000_000), .crashNode(node: i, incarnation: nodes[i].incarnation))
            }
        }
        trace.mix(UInt64(i) << 32 | UInt64(soft.role.hashCode) << 16 | (soft.leader?.rawValue ?? 0))
        return soft.role
    }

    // MARK: API traffic

    /// The wall clock the masters see (simulated time from a fixed date).
    var wallClockNs: UInt64 { Self.wallEpochNs + nowNs }
    /// The wall-clock time at which simulated time starts.
    static let wallEpochNs: UInt64 = 1_780_000_000_000_000_000

    /// A request reaches master `i`, from a client or forwarded by a follower.
    func receive(_ i: Int, _ request: HTTPRequest, route: SimNode.Route) {
        let id = nodes[i].nextRequestID
        nodes[i].nextRequestID += 1
        nodes[i].routes[id] = route
        if request.isWatch { nodes[i].watchRequests.insert(id) }
        nodes[i].core.request(id, request, nowNs: wallClockNs)
        drive(i)
    }

    /// The core answered a request: back to whoever asked, or to the follower that forwarded it.
    func answer(_ i: Int, _ id: MasterCore.RequestID, _ response: HTTPResponse) {
        guard let route = nodes[i].routes.removeValue(forKey: id), !networkRng.chance(lossRate) else { return }
        switch route {
        case .direct(let asker, let attempt):
            guard reaches(from: i, asker) else { return }
            schedule(after: networkDelay(), .reply(asker, attempt: attempt, response))
        case .forwarded(let from, let incarnation, let asker, let attempt):
            schedule(after: networkDelay(), .relay(node: from, incarnation: incarnation, asker, attempt: attempt, response))
        case .stream:
            break
        }
    }

    /// A follower forwards a request to the leader, as `HTTPForwarder` does (once: marked).
    func forward(_ i: Int, _ id: MasterCore.RequestID, _ request: HTTPRequest, api: String) {
        guard case .direct(let asker, let attempt)? = nodes[i].routes.removeValue(forKey: id),
            let leader = Int(api.dropFirst()).map({ $0 - 1 }), nodes.indices.contains(leader)
        else { return }
        var forwarded = request
        forwarded.headers.append(("X-Bosun-Forwarded", "n\(i + 1)"))
        guard !blocked[i][leader], !networkRng.chance(lossRate) else { return }
        schedule(after: networkDelay(), .forwarded(node: leader, from: i, incarnation: nodes[i].incarnation, asker, attempt: attempt, forwarded))
    }

    /// The core streams a watch: chunks reach the watcher in order (one TCP connection). Any
    /// other stream is a list read in steps: collected, then answered whole.
    func stream(_ i: Int, _ output: MasterCore.Output) {
        switch output {
        case .startStream(let id, let head) where !nodes[i].watchRequests.contains(id):
            nodes[i].collecting[id] = head
        case .streamChunk(let id, let bytes) where nodes[i].collecting[id] != nil:
            nodes[i].collecting[id]!.body += bytes
        case .endStream(let id) where nodes[i].collecting[id] != nil:
            answer(i, id, nodes[i].collecting.removeValue(forKey: id)!)
        case .startStream(let id, _):
            guard case .direct(let asker, let attempt)? = nodes[i].routes[id] else {
                nodes[i].routes[id] = nil
                return
            }
            nodes[i].routes[id] = .stream(asker, attempt: attempt)
            if !streamEvent(from: i, asker, attempt: attempt, chunk: []) { nodes[i].routes[id] = nil }
        case .streamChunk(let id, let bytes):
            guard case .stream(let asker, let attempt)? = nodes[i].routes[id] else { return }
            // A chunk that cannot get through stalls the connection for good: nothing after it
            // arrives either (TCP never skips bytes); the reader notices by its own deadlines.
            if !streamEvent(from: i, asker, attempt: attempt, chunk: bytes) { nodes[i].routes[id] = nil }
        case .endStream(let id):
            nodes[i].watchRequests.remove(id)
            guard case .stream(let asker, let attempt)? = nodes[i].routes.removeValue(forKey: id) else { return }
            streamEvent(from: i, asker, attempt: attempt, chunk: nil)
        default:
            preconditionFailure("not a stream output")
        }
    }

    /// A chunk of a stream (nil: its end, or its break) on its way to the reader, in order; false
    /// when the reader is cut off from the master.
    @discardableResult
    func streamEvent(from i: Int, _ asker: Asker, attempt: UInt64, chunk: [UInt8]?, broken: Bool = false) -> Bool {
        switch asker {
        case .watcher(let w):
            let at = max(watchers[w].deliveredUpToNs, nowNs + networkDelay())
            watchers[w].deliveredUpToNs = at
            queue.schedule(at: at, chunk.map { .watchChunk(watcher: w, attempt: attempt, $0) } ?? .watchEnded(watcher: w, attempt: attempt))
        case .agent(let a):
            guard reaches(from: i, asker) else { return false }
            let at = max(agents[a].deliveredUpToNs, nowNs + networkDelay())
            agents[a].deliveredUpToNs = at
            queue.schedule(at: at, chunk.map { .agentChunk(agent: a, attempt: attempt, $0) } ?? .agentStreamEnded(agent: a, attempt: attempt, broken: broken))
        case .client, .caller:
            preconditionFailure("\(asker) does not watch")
        }
        return true
    }

    /// Whether what master `i` sends reaches the asker (an agent may be cut off from it).
    func reaches(from i: Int, _ asker: Asker) -> Bool {
        guard case .agent(let a) = asker else { return true }
        return !agents[a].cutFrom[i]
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
        if pastMessages.count < 256 {
            pastMessages.append(m)
        } else {
            pastMessages[networkRng.index(pastMessages.count)] = m
        }
        if networkRng.chance(replayRate) {
            // A stale message from the past arrives again (often from an earlier term).
            schedule(after: networkDelay(), .deliver(pastMessages[networkRng.index(pastMessages.count)]))
        }
    }

    func networkDelay() -> UInt64 {
        var delay = plan.delayMinNs + networkRng.exponential(meanNs: plan.delayMeanNs)
        if networkRng.chance(longDelayRate) {
            delay += networkRng.uniform(0...plan.longDelayMaxNs)
        }
        return delay
    }

    // MARK: Crashes, restarts, pauses

    func crash(_ i: Int) {
        stats.crashes += 1
        faultEpoch += 1
        nodes[i].up = false
        nodes[i].paused = false
        nodes[i].incarnation += 1
        nodes[i].tickEpoch += 1
        nodes[i].inbox = []
        for id in nodes[i].routes.keys.sorted() {
            // The watchers' connections break; they notice after a moment.
            switch nodes[i].routes[id]! {
            case .stream(let asker, let attempt): streamEvent(from: i, asker, attempt: attempt, chunk: nil, broken: true)
            case .direct(let asker, let attempt): refuse(asker, attempt: attempt)
            case .forwarded: break
            }
        }
        nodes[i].routes = [:]
        nodes[i].watchRequests = []
        nodes[i].collecting = [:]
        nodes[i].workScheduled = false
        nodes[i].disk.crash(using: &diskRng, tearProbability: plan.tearProbability)
        if !inLivenessPhase {
            schedule(after: faultRng.exponential(meanNs: plan.restartDelayNs), .restart(node: i))
        }
    }

    func restart(_ i: Int) {
        faultEpoch += 1
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
        nodes[i].core = makeCore(i, restoring: recovered, store: store)
        lastSoftState[i] = nodes[i].raft.softState
        lastApplied[i] = store.appliedIndex
        nodes[i].up = true
        do { try oracle.restarted(i, raft: nodes[i].raft) } catch {
            fail(error)
            return
        }
        schedule(after: tickNs, .tick(node: i, epoch: nodes[i].tickEpoch))
        drive(i)
    }

    /// The master core a node runs after starting on what its disk holds.
    func makeCore(_ i: Int, restoring state: PersistentState = PersistentState(), store: KVStore = KVStore()) -> MasterCore {
        let seed = nodeSeed(i, incarnation: nodes.indices.contains(i) ? nodes[i].incarnation : 0)
        let raft = RaftNode(id: NodeID(UInt64(i + 1)), configuration: configuration, config: plan.raft, restoring: state, seed: seed)
        var hostOptions = RaftHost<KVStore>.Options()
        hostOptions.snapshotEveryEntries = plan.snapshotEveryEntries
        let members = (0..<options.nodes).map { MasterCore.Member(id: NodeID(UInt64($0 + 1)), api: "n\($0 + 1)") }
        var coreOptions = MasterCore.Options(id: NodeID(UInt64(i + 1)), members: members)
        // One object per step: lists and watch starts span several steps, with writes applied
        // and watch events recorded in between.
        coreOptions.stepObjects = 1
        return MasterCore(
            options: coreOptions,
            host: RaftHost(node: raft, machine: store, options: hostOptions), seed: seed ^ 0x9E37_79B9_7F4A_7C15, nowNs: wallClockNs)
    }

    func resume(_ i: Int) {
        faultEpoch += 1
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
