import Master
import Raft
import Store

/// Fault injection during the first phase, then the liveness phase and the end-of-seed checks.
extension Simulation {
    func startPartition() {
        guard !inLivenessPhase else { return }
        let n = nodes.count
        clearPartition()
        stats.partitions += 1
        var order = Array(0..<n)
        for k in stride(from: n - 1, to: 0, by: -1) { order.swapAt(k, faultRng.index(k + 1)) }
        switch faultRng.index(4) {
        case 0:  // Symmetric split.
            let side = Set(order.prefix(1 + faultRng.index(n - 1)))
            for a in 0..<n { for b in 0..<n where side.contains(a) != side.contains(b) { blocked[a][b] = true } }
        case 1:  // One-way: one side can send but not hear back.
            let side = Set(order.prefix(1 + faultRng.index(n - 1)))
            for a in 0..<n { for b in 0..<n where side.contains(a) && !side.contains(b) { blocked[a][b] = true } }
        case 2:  // Isolate the leader (or anyone, if none).
            let leader = nodes.firstIndex { $0.up && $0.raft.role == .leader } ?? order[0]
            for b in 0..<n where b != leader {
                blocked[leader][b] = true
                blocked[b][leader] = true
            }
        default:  // Bridge: order[0] reaches both halves of the rest, which cannot reach each other.
            let rest = order.dropFirst()
            let half = Set(rest.prefix(max(1, rest.count / 2)))
            for a in rest { for b in rest where half.contains(a) != half.contains(b) { blocked[a][b] = true } }
        }
        partitionGeneration += 1
        faultEpoch += 1
        schedule(after: faultRng.exponential(meanNs: plan.partitionDurationNs), .partitionEnd(generation: partitionGeneration))
    }

    func clearPartition() {
        faultEpoch += 1
        for a in blocked.indices { for b in blocked.indices { blocked[a][b] = false } }
    }

    /// The workload's leadership transfers, as a master's SIGTERM asks for one: the leader hands
    /// over to a random follower. Checked when the bound has passed (`checkTransfer`).
    func transferLeadership() {
        guard !inLivenessPhase, let interval = plan.transferIntervalNs else { return }
        if let leader = nodes.indices.first(where: { nodes[$0].up && !nodes[$0].paused && nodes[$0].raft.role == .leader }) {
            let others = nodes.indices.filter { $0 != leader }
            let target = others[faultRng.index(others.count)]
            let term = nodes[leader].raft.term
            stats.transfers += 1
            // Judged only from a healthy start: every node up and reachable in the leader's term,
            // the target as far along as the leader, no other transfer underway (a leader may
            // switch targets, but a TimeoutNow already sent cannot be called back).
            let healthy = nodes.allSatisfy { $0.up && !$0.paused && $0.raft.term == term } && nodes[leader].raft.transferTarget == nil
                && !blocked.joined().contains(true) && nodes[target].raft.lastIndex == nodes[leader].raft.lastIndex
            faultEpoch += 1  // A later transfer voids the check of this one.
            nodes[leader].core.transferLeadership(to: NodeID(UInt64(target + 1)))
            drive(leader)
            if healthy {
                let bound = 2 * UInt64(plan.raft.electionTicks) * tickNs + 200_000_000
                schedule(after: bound, .transferCheck(leader: leader, term: term, target: target, epoch: faultEpoch))
            }
        }
        schedule(after: faultRng.exponential(meanNs: interval), .transfer)
    }

    /// Isolates one follower of a healthy cluster for 2–4 election timeouts, then lets it rejoin
    /// (`rejoin`); it must come back without disrupting the leader (`checkRejoin`).
    func isolateFollower() {
        guard !inLivenessPhase, let interval = plan.isolationIntervalNs else { return }
        schedule(after: faultRng.exponential(meanNs: interval), .isolate)
        guard let leader = nodes.indices.first(where: { nodes[$0].up && !nodes[$0].paused && nodes[$0].raft.role == .leader }) else { return }
        let term = nodes[leader].raft.term
        guard nodes.allSatisfy({ $0.up && !$0.paused && $0.raft.term == term }), !blocked.joined().contains(true),
            nodes[leader].raft.transferTarget == nil
        else { return }
        let others = nodes.indices.filter { $0 != leader }
        let follower = others[faultRng.index(others.count)]
        for b in nodes.indices where b != follower {
            blocked[follower][b] = true
            blocked[b][follower] = true
        }
        faultEpoch += 1
        stats.isolations += 1
        let timeout = UInt64(plan.raft.electionTicks) * tickNs
        schedule(after: faultRng.uniform(2 * timeout...4 * timeout), .rejoin(follower: follower, leader: leader, term: term, epoch: faultEpoch))
    }

    func rejoin(follower: Int, leader: Int, term: Term, epoch: Int) {
        guard epoch == faultEpoch else { return }  // Another fault moved things meanwhile.
        clearPartition()
        let timeout = UInt64(plan.raft.electionTicks) * tickNs
        schedule(after: 2 * timeout, .rejoinCheck(follower: follower, leader: leader, term: term, epoch: faultEpoch))
    }

    /// No disruption on rejoin: with PreVote and the leader lease, a follower cut off for longer
    /// than an election timeout never raised its term, and once back it follows the same leader
    /// in the same term (judged when nothing else happened, on a seed without loss, long delays
    /// or replays).
    func checkRejoin(follower: Int, leader: Int, term: Term, epoch: Int) {
        guard epoch == faultEpoch, !inLivenessPhase, plan.lossRate == 0, plan.longDelayRate == 0, plan.replayRate == 0 else { return }
        let back = nodes[follower].raft
        let lead = nodes[leader].raft
        guard lead.role == .leader, lead.term == term, back.term == term, back.leader == lead.id else {
            return fail(Violation(
                invariant: "no disruption on rejoin",
                detail: "n\(follower + 1) rejoined n\(leader + 1)'s term \(term): now n\(leader + 1) is \(lead.role) in term \(lead.term), n\(follower + 1) is \(back.role) in term \(back.term) following \(back.leader.map { "\($0)" } ?? "nobody")"))
        }
    }

    /// A transfer from a healthy start with no fault in its way (no crash, restart, pause or
    /// partition since it began, on a seed without loss, long delays or replays) has, within two
    /// election timeouts,
    /// completed — the target leads a later term — or been abandoned: the leader still leads the
    /// same term and takes proposals again.
    func checkTransfer(leader: Int, term: Term, target: Int, epoch: Int) {
        guard epoch == faultEpoch, !inLivenessPhase, plan.lossRate == 0, plan.longDelayRate == 0, plan.replayRate == 0 else { return }
        let was = nodes[leader].raft
        let next = nodes[target].raft
        if next.role == .leader && next.term > term { return }
        if was.role == .leader && was.term == term && was.transferTarget == nil { return }
        fail(Violation(
            invariant: "leadership transfer",
            detail: "n\(leader + 1) began handing term \(term) to n\(target + 1); after the bound n\(leader + 1) is \(was.role) in term \(was.term) (transfer to \(was.transferTarget.map { "\($0)" } ?? "none")), n\(target + 1) is \(next.role) in term \(next.term)"))
    }

    func crashRandomNode() {
        guard !inLivenessPhase, let interval = plan.crashIntervalNs else { return }
        let candidates = nodes.indices.filter { nodes[$0].up }
        if !candidates.isEmpty {
            var i = candidates[faultRng.index(candidates.count)]
            if let leader = candidates.first(where: { nodes[$0].raft.role == .leader }), faultRng.chance(plan.crashLeaderRate) {
                i = leader
            }
            crash(i)
        }
        schedule(after: faultRng.exponential(meanNs: interval), .crash)
    }

    func pauseRandomNode() {
        guard !inLivenessPhase, let interval = plan.pauseIntervalNs else { return }
        let candidates = nodes.indices.filter { nodes[$0].up && !nodes[$0].paused }
        if !candidates.isEmpty {
            var i = candidates[faultRng.index(candidates.count)]
            if let leader = candidates.first(where: { nodes[$0].raft.role == .leader }), faultRng.chance(plan.pauseLeaderRate) {
                i = leader
            }
            nodes[i].paused = true
            faultEpoch += 1
            nodes[i].tickEpoch += 1
            stats.pauses += 1
            schedule(after: plan.pauseDurationNs, .resume(node: i, incarnation: nodes[i].incarnation))
        }
        schedule(after: faultRng.exponential(meanNs: interval), .pause)
    }

    /// TigerBeetle-style liveness mode: heal a majority core (all nodes, or a random majority whose
    /// other members stay down for good), stop every fault, and require convergence in time.
    func startLivenessPhase() {
        inLivenessPhase = true
        healedNs = nowNs
        clearPartition()
        lossRate = 0
        replayRate = 0
        duplicateRate = 0
        longDelayRate = 0
        let n = nodes.count
        if faultRng.chance(0.5) {
            var order = Array(0..<n)
            for k in stride(from: n - 1, to: 0, by: -1) { order.swapAt(k, faultRng.index(k + 1)) }
            let majority = Set(order.prefix(n / 2 + 1))
            core = (0..<n).map { majority.contains($0) }
        }
        for i in 0..<n {
            if !core[i] {
                if nodes[i].up { crash(i) }
            } else if !nodes[i].up {
                restart(i)
            } else if nodes[i].paused {
                resume(i)
            }
        }
        if plan.agentDiesForGood, !agents.isEmpty {
            // A small node: the others keep room for every pod.
            let small = agents.indices.filter { $0 % 3 != 2 }
            let a = small[clusterRng.index(small.count)]
            deadAgent = a
            if agents[a].running { stopAgent(a) }
        }
        for a in agents.indices {
            // A pause runs out by itself: what it holds back must arrive before anything newer.
            agents[a].cutTo = agents[a].cutTo.map { _ in false }
            agents[a].cutFrom = agents[a].cutFrom.map { _ in false }
            agents[a].reachableSinceNs = nil  // the lease oracle's window starts again without loss
            if !agents[a].running && a != deadAgent { startAgent(a) }
        }
        if let node = cordoned, !operators.isEmpty {
            cordoned = nil
            call(.operatorClient(0), uncordon(node))
        }
        // A node that died must first be found out (grace period) and its pods outlast their
        // toleration before they are replaced.
        let eviction = deadAgent == nil ? 0 : Self.nodeGraceNs + UInt64(Defaulting.Settings().tolerationSeconds) * 1_000_000_000
        livenessDeadlineNs = nowNs + options.livenessBoundNs + eviction + snapshotTransferAllowanceNs()
        schedule(after: 50_000_000, .livenessCheck)
    }

    func checkLiveness() {
        if let reason = unconverged() {
            if nowNs >= livenessDeadlineNs {
                fail(Violation(invariant: "liveness", detail: "not converged \((livenessDeadlineNs - healedNs) / 1_000_000_000)s after healing: \(reason)"))
            } else {
                schedule(after: 50_000_000, .livenessCheck)
            }
            return
        }
        // Converged: now a stretch of fault-free running in which nothing may disturb the leader.
        convergedTerms = nodes.indices.filter { core[$0] }.map { nodes[$0].raft.term }
        convergedCommit = nodes.indices.filter { core[$0] }.map { nodes[$0].raft.commitIndex }.max() ?? 0
        schedule(after: quietStretchNs, .quietCheck)
    }

    /// Quiet stability: after convergence, `quietStretchNs` of fault-free running (many election
    /// timeouts) passes with no term change anywhere in the core and the cluster still converged.
    /// A needless election here is an availability bug (a timer that misfires, a node that
    /// disrupts a healthy leader) that the safety oracles never see.
    func checkQuiet() {
        let terms = nodes.indices.filter { core[$0] }.map { nodes[$0].raft.term }
        if terms != convergedTerms {
            return fail(Violation(invariant: "quiet stability", detail: "terms went from \(convergedTerms) to \(terms) in \(quietStretchNs / 1_000_000) ms without faults"))
        }
        if draining {
            // The agents stopped: the replicas must come to rest, equal, for the final checks.
            if unconvergedReplicas() == nil { finished = true } else if nowNs >= drainDeadlineNs {
                fail(Violation(invariant: "quiet stability", detail: "the replicas did not come to rest: \(unconvergedReplicas()!)"))
            } else {
                schedule(after: 10_000_000, .quietCheck)
            }
            return
        }
        if let reason = agents.isEmpty ? unconverged() : behind() {
            return fail(Violation(invariant: "quiet stability", detail: "no longer converged without faults: \(reason)"))
        }
        guard !agents.isEmpty else { finished = true; return }
        draining = true
        drainDeadlineNs = nowNs + 2_000_000_000 + snapshotTransferAllowanceNs()
        for a in agents.indices where agents[a].running { stopAgent(a) }
        schedule(after: 10_000_000, .quietCheck)
    }

    /// A replica left behind by compaction catches up through a snapshot sent one chunk per round
    /// trip: with the plan's small chunks and long delays that alone can take seconds, so the
    /// liveness bound and the drain allow a round trip (four mean delays, to cover resends) for
    /// each chunk of the largest snapshot.
    func snapshotTransferAllowanceNs() -> UInt64 {
        let largest = nodes.map { $0.disk.snapshot?.data.count ?? 0 }.max() ?? 0
        let chunks = UInt64(largest / max(plan.raft.snapshotChunkBytes, 1) + 1)
        return chunks * 4 * plan.delayMeanNs
    }

    /// With node agents writing all the time the replicas are rarely equal at one instant: instead
    /// every core member must follow the one leader and have applied all that was committed at
    /// convergence.
    func behind() -> String? {
        let members = nodes.indices.filter { core[$0] }
        let leaders = members.filter { nodes[$0].raft.role == .leader }
        guard leaders.count == 1 else { return "\(leaders.count) leaders in the core" }
        for i in members where nodes[i].store.appliedIndex < convergedCommit || nodes[i].raft.leader != nodes[leaders[0]].id {
            return "\(nodes[i].id) applied \(nodes[i].store.appliedIndex) of \(convergedCommit), following \(nodes[i].raft.leader.map { "\($0)" } ?? "nobody")"
        }
        return nil
    }

    /// Why the core has not converged yet, or nil when it has.
    func unconverged() -> String? {
        let members = nodes.indices.filter { core[$0] }
        let leaders = members.filter { nodes[$0].raft.role == .leader }
        guard leaders.count == 1 else { return "\(leaders.count) leaders in the core" }
        let leader = nodes[leaders[0]]
        guard leader.raft.hasCommittedInTerm else { return "leader \(leader.id) has not committed in its term" }
        if let busy = clients.firstIndex(where: { $0.operation != nil }) { return "client \(busy) still waiting" }
        if let busy = operators.firstIndex(where: { $0.caller.inFlight != nil }) { return "operator \(busy) still waiting" }
        if let reason = unconvergedReplicas() { return reason }
        return agents.isEmpty ? nil : controlUnconverged(leader.core.control.view)
    }

    /// Why the core's replicas are not equal and at rest yet (one leader, every log, commit and
    /// store at the leader's last index), or nil.
    func unconvergedReplicas() -> String? {
        let members = nodes.indices.filter { core[$0] }
        let leaders = members.filter { nodes[$0].raft.role == .leader }
        guard leaders.count == 1 else { return "\(leaders.count) leaders in the core" }
        let leader = nodes[leaders[0]]
        for i in members {
            let raft = nodes[i].raft
            if i != leaders[0] && raft.leader != leader.id { return "\(raft.id) follows \(raft.leader.map { "\($0)" } ?? "nobody")" }
            if raft.lastIndex != leader.raft.lastIndex || raft.commitIndex != leader.raft.commitIndex
                || nodes[i].store.appliedIndex != leader.raft.commitIndex || nodes[i].core.host.isPersisting
            {
                return "\(raft.id) at last \(raft.lastIndex) commit \(raft.commitIndex) applied \(nodes[i].store.appliedIndex); leader at \(leader.raft.lastIndex)/\(leader.raft.commitIndex)"
            }
        }
        return nil
    }

    /// End of seed: converged replicas hold equal state, and the client history is linearizable
    /// by both checkers.
    func finalChecks() -> Violation? {
        let members = nodes.indices.filter { core[$0] }
        let reference = nodes[members[0]].store.snapshot()
        for i in members.dropFirst() where nodes[i].store.snapshot() != reference {
            return Violation(invariant: "replica convergence", detail: "n\(i + 1) and n\(members[0] + 1) applied the same log to different states")
        }
        if let v = CommittedWritesChecker.check(history, committed: oracle.committed) { return v }
        if let v = WatchChecker.check(watchers, committed: oracle.committed) { return v }
        if let v = WatchChecker.checkAgents(agents, committed: oracle.committed) { return v }
        if options.searchCheck {
            switch SearchChecker.check(history) {
            case .linearizable: break
            case .violation(let key):
                let ops = history.filter { $0.operation.key == key }.sorted { $0.invokeNs < $1.invokeNs }.map { op in
                    let end = op.completeNs == .max ? "…" : Simulation.formatTime(op.completeNs)
                    return "\n    \(Simulation.formatTime(op.invokeNs))-\(end) client \(op.client) #\(op.sequence) \(op.operation) -> \(op.reply)"
                }
                return Violation(invariant: "linearizability (search)", detail: "no linearization of the history of key \(key):" + ops.joined())
            case .unknown:
                stats.searchUndecided += 1
            }
        }
        return nil
    }
}
