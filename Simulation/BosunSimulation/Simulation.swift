import Control
import Master
import MasterCore
import Raft
import Store

/// How to run one seed.
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    /// 3 or 5 masters.
    public var nodes: Int
    public var bugs: PlantedBugs
    /// Length of the fault phase in simulated nanoseconds.
    public var faultDurationNs: UInt64 = 30_000_000_000
    /// After the faults stop, the healed majority must converge within this much simulated time.
    public var livenessBoundNs: UInt64 = 30_000_000_000
    /// Also run the search-based linearizability checker (independent of the log).
    public var searchCheck = true
    /// Print every event as it happens (for reading a failure in full).
    public var printEvents = false
    /// A seed that needs more events than this is stuck in a livelock.
    public var maxEvents = 2_000_000
    /// Run the control-plane world too: node agents, operators, and the scheduler's and
    /// controllers' oracles.
    public var controlPlane = true

    public init(seed: UInt64, nodes: Int = 3, bugs: PlantedBugs = [], controlPlane: Bool = true) {
        self.seed = seed
        self.nodes = nodes
        self.bugs = bugs
        self.controlPlane = controlPlane
    }
}

/// What one seed did and whether every invariant held.
public struct SeedReport: Sendable {
    public var seed: UInt64
    public var nodes: Int
    public var violation: Violation?
    /// A hash over every event delivered and every state transition: equal for equal seeds.
    public var traceHash: String
    public var simulatedNs: UInt64
    public var events: Int
    /// The last events before the end (or before the violation), oldest first.
    public var recentEvents: [String]
    public var faults: String
    public var stats: Stats

    public var passed: Bool { violation == nil }

    /// Counters that show what a seed exercised.
    public struct Stats: Sendable {
        public var elections = 0
        public var committedEntries: LogIndex = 0
        public var clientOperations = 0
        public var crashes = 0
        public var crashesBeforeSync = 0
        public var crashesAfterSync = 0
        public var partitions = 0
        public var pauses = 0
        public var snapshotsInstalled = 0
        public var compactions = 0
        public var tornTails = 0
        /// Keys whose search-based check gave up within its budget.
        public var searchUndecided = 0
        /// Watch events the watchers read, watches they resumed from a version, lists after 410.
        public var watchEvents = 0
        public var watchResumes = 0
        public var watchRelists = 0
        public var transfers = 0
        public var isolations = 0
        /// Agent crashes, pauses and cuts from masters; pod events the agents' watches read.
        public var agentStops = 0
        public var agentPauses = 0
        public var agentCuts = 0
        public var agentWatchEvents = 0
        /// Pods bound in the committed history.
        public var podsBound = 0
    }
}

/// The deterministic world: masters running the real Raft core and store over a simulated
/// network, disk and clock; clients with a random workload; faults drawn from the seed; oracles
/// after every step. One instance runs one seed.
public final class Simulation {
    let options: SimulationOptions
    let plan: FaultPlan
    let tickNs: UInt64 = 10_000_000
    let clientTimeoutNs: UInt64 = 400_000_000
    var nowNs: UInt64 = 0
    var queue = EventQueue<SimEvent>()
    var nodes: [SimNode] = []
    /// Each node's role and leader as last seen, and how far its applied entries were checked.
    var lastSoftState: [SoftState]
    var lastApplied: [LogIndex]
    var clients: [SimClient] = []
    var watchers: [SimWatcher] = []
    var agents: [SimAgent] = []
    var operators: [SimOperator] = []
    /// The node an operator cordoned, if any (one at a time).
    var cordoned: String?
    var controlChecker = ControlChecker(nodeGraceNs: Simulation.nodeGraceNs)
    var clusterRng: SplitMix64
    var history: [CompletedOperation] = []
    var oracle: Oracle
    var networkRng: SplitMix64
    var diskRng: SplitMix64
    var faultRng: SplitMix64
    var workloadRng: SplitMix64
    let nodeSeedRng: SplitMix64
    /// `blocked[a][b]`: messages from a to b are dropped.
    var blocked: [[Bool]]
    var partitionGeneration = 0
    /// Bumped by every crash, restart, pause, resume, partition change and transfer: a check that
    /// needs a fault-free stretch compares it.
    var faultEpoch = 0
    var inLivenessPhase = false
    var healedNs: UInt64 = 0
    /// The agent that stays down for good in the liveness phase, if any.
    var deadAgent: Int?
    var core: [Bool]
    var livenessDeadlineNs: UInt64 = 0
    /// How long the converged cluster must then run without a term change.
    let quietStretchNs: UInt64 = 2_000_000_000
    var convergedTerms: [Term] = []
    /// The commit index when the core converged: the quiet stretch must have applied it everywhere.
    var convergedCommit: LogIndex = 0
    /// After the quiet stretch the agents stop, and the replicas must come to rest by this time.
    var draining = false
    var drainDeadlineNs: UInt64 = 0
    var finished = false
    var violation: Violation?
    /// Set with `violation`; cheap to test on every event.
    var failed = false
    var trace = TraceHash()
    var recent: [(timeNs: UInt64, event: SimEvent)] = []
    var recentNext = 0
    var eventCount = 0
    var stats = SeedReport.Stats()
    var lossRate: Double
    var replayRate: Double
    /// A sample of the messages sent so far, some of which the network delivers again later.
    var pastMessages: [Message] = []
    var duplicateRate: Double
    var longDelayRate: Double

    public init(_ options: SimulationOptions) {
        precondition(options.nodes >= 1)
        self.options = options
        let root = SplitMix64(seed: options.seed)
        networkRng = root.derived(1)
        diskRng = root.derived(2)
        faultRng = root.derived(3)
        workloadRng = root.derived(4)
        nodeSeedRng = root.derived(5)
        var planRng = root.derived(6)
        var plan = FaultPlan(nodes: options.nodes, bugs: options.bugs, rng: &planRng)
        clusterRng = root.derived(7)
        if options.controlPlane {
            var controlPlanRng = root.derived(8)
            plan.drawControlPlane(rng: &controlPlanRng)
        }
        self.plan = plan
        oracle = Oracle(nodes: options.nodes)
        blocked = Array(repeating: Array(repeating: false, count: options.nodes), count: options.nodes)
        core = Array(repeating: true, count: options.nodes)
        lastSoftState = []
        lastApplied = Array(repeating: 0, count: options.nodes)
        lossRate = plan.lossRate
        replayRate = plan.replayRate
        duplicateRate = plan.duplicateRate
        longDelayRate = plan.longDelayRate
        for i in 0..<options.nodes {
            nodes.append(SimNode(index: i, core: makeCore(i)))
            lastSoftState.append(nodes[i].raft.softState)
        }
        for c in 0..<plan.clients {
            clients.append(SimClient(target: c % options.nodes))
        }
        for w in 0..<plan.watchers {
            watchers.append(SimWatcher(target: (w + 1) % options.nodes))
        }
        for a in 0..<plan.agents {
            agents.append(makeAgent(a, name: "node-\(a + 1)", cpu: a % 3 == 2 ? "8" : "1"))
        }
        for o in 0..<plan.operators {
            operators.append(SimOperator(caller: SimCaller(target: (o + 2) % options.nodes)))
        }
    }

    var configuration: Configuration { Configuration(voters: (1...options.nodes).map { NodeID(UInt64($0)) }) }

    func nodeSeed(_ node: Int, incarnation: Int) -> UInt64 {
        nodeSeedRng.derived(UInt64(node * 1_000_003 + incarnation)).seedValue
    }

    func schedule(after delayNs: UInt64, _ event: SimEvent) {
        queue.schedule(at: nowNs + delayNs, event)
    }

    /// Runs the seed to the end: the fault phase, then the liveness phase, then the history checks.
    public func run() -> SeedReport {
        for i in nodes.indices {
            schedule(after: workloadRng.uniform(0...tickNs), .tick(node: i, epoch: 0))
        }
        for c in clients.indices {
            schedule(after: workloadRng.uniform(0...100_000_000), .clientStart(client: c))
        }
        for w in watchers.indices {
            schedule(after: workloadRng.uniform(0...500_000_000), .watcherStart(watcher: w))
        }
        for a in agents.indices {
            agents[a].running = false
            startAgent(a)
        }
        for o in operators.indices {
            schedule(after: clusterRng.uniform(0...1_000_000_000), .operatorStart(operatorClient: o))
        }
        if let interval = plan.agentStopIntervalNs { schedule(after: clusterRng.exponential(meanNs: interval), .agentStop) }
        if let interval = plan.partitionIntervalNs { schedule(after: faultRng.exponential(meanNs: interval), .partitionStart) }
        if let interval = plan.crashIntervalNs { schedule(after: faultRng.exponential(meanNs: interval), .crash) }
        if let interval = plan.pauseIntervalNs { schedule(after: faultRng.exponential(meanNs: interval), .pause) }
        if let interval = plan.transferIntervalNs { schedule(after: faultRng.exponential(meanNs: interval), .transfer) }
        if let interval = plan.isolationIntervalNs { schedule(after: faultRng.exponential(meanNs: interval), .isolate) }
        schedule(after: options.faultDurationNs, .heal)

        while !failed && !finished, let item = queue.popFirst() {
            if eventCount >= options.maxEvents {
                fail(Violation(invariant: "liveness", detail: "no end after \(eventCount) events (livelock)"))
                break
            }
            nowNs = item.timeNs
            eventCount += 1
            remember(item.payload)
            if options.printEvents { print("\(Simulation.formatTime(nowNs)) \(describe(item.payload))") }
            trace.mix(nowNs)
            trace.mix(item.payload.tag)
            handle(item.payload)
        }
        if violation == nil && !finished {
            violation = Violation(invariant: "liveness", detail: "the event queue ran dry")
        }
        if violation == nil {
            violation = finalChecks()
        }
        stats.committedEntries = oracle.committedIndex
        stats.podsBound = controlChecker.podsBound
        return SeedReport(
            seed: options.seed, nodes: options.nodes, violation: violation, traceHash: trace.hex,
            simulatedNs: nowNs, events: eventCount, recentEvents: recentDescriptions(), faults: plan.description, stats: stats)
    }

    func fail(_ v: Violation) {
        if !failed {
            violation = v
            failed = true
        }
    }

    func handle(_ event: SimEvent) {
        switch event {
        case .tick(let i, let epoch):
            guard nodes[i].up, nodes[i].tickEpoch == epoch, !nodes[i].paused else { return }
            nodes[i].core.tick(nowNs: wallClockNs)
            drive(i)
            let period = UInt64(Double(tickNs) * plan.clockRates[i])
            schedule(after: period, .tick(node: i, epoch: epoch))
        case .deliver(let m):
            let from = Int(m.from.rawValue - 1)
            let to = Int(m.to.rawValue - 1)
            trace.mix(m.traceWord)
            guard !blocked[from][to], nodes[to].up else { return }
            if nodes[to].paused { nodes[to].inbox.append(event); return }
            nodes[to].core.step(m)
            drive(to)
        case .persisted(let i, let incarnation, let token):
            guard nodes[i].up, nodes[i].incarnation == incarnation else { return }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            persisted(i, token: token)
        case .snapshotWritten(let i, let incarnation, let metadata, let data):
            guard nodes[i].up, nodes[i].incarnation == incarnation else { return }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            execute(i, nodes[i].core.snapshotWritten(metadata, data: data))
        case .continueWork(let i, let incarnation):
            guard nodes[i].up, nodes[i].incarnation == incarnation else { return }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            nodes[i].workScheduled = false
            drive(i)
        case .request(let i, let asker, let attempt, let request):
            guard nodes[i].up else { return refuse(asker, attempt: attempt) }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            receive(i, request, route: .direct(asker, attempt: attempt))
        case .forwarded(let i, let from, let incarnation, let asker, let attempt, let request):
            guard nodes[i].up, !blocked[from][i] else { return }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            receive(i, request, route: .forwarded(from: from, incarnation: incarnation, asker, attempt: attempt))
        case .relay(let i, let incarnation, let asker, let attempt, let response):
            guard nodes[i].up, nodes[i].incarnation == incarnation else { return }
            if nodes[i].paused { nodes[i].inbox.append(event); return }
            guard !networkRng.chance(lossRate), reaches(from: i, asker) else { return }
            schedule(after: networkDelay(), .reply(asker, attempt: attempt, response))
        case .reply(.client(let c), let attempt, let response):
            clientReceived(c, attempt: attempt, response)
        case .reply(.watcher(let w), let attempt, let response):
            watcherReceived(w, attempt: attempt, response)
        case .reply(.caller(let id), let attempt, let response):
            callerReceived(id, attempt: attempt, response)
        case .reply(.agent(let a), let attempt, let response):
            agentReceived(a, attempt: attempt, response)
        case .callerTimeout(let id, let attempt):
            retryCall(id, attempt: attempt)
        case .callerResend(let id, let attempt):
            resendCall(id, attempt: attempt)
        case .agentTick(let a, let incarnation):
            agentTick(a, incarnation: incarnation)
        case .agentChunk(let a, let attempt, let bytes):
            agentChunk(a, attempt: attempt, bytes)
        case .agentStreamEnded(let a, let attempt, let broken):
            agentStreamEnded(a, attempt: attempt, broken: broken)
        case .containerEvent(let a, let run, let event):
            containerEvent(a, run, event)
        case .containerReport(let a, let run, let event):
            reportContainer(a, run, event)
        case .probeResult(let a, let incarnation, let probe):
            probeResult(a, incarnation: incarnation, probe)
        case .agentHeal(let a, let m):
            healAgent(a, master: m)
        case .agentResume(let a):
            resumeAgent(a)
        case .agentRequestFailed(let a, let attempt):
            agentRequestFailed(a, attempt: attempt)
        case .agentStop:
            disturbRandomAgent()
        case .agentStart(let a):
            startAgent(a)
        case .operatorStart(let o):
            operatorStep(o)
        case .watchChunk(let w, let attempt, let bytes):
            watchChunk(w, attempt: attempt, bytes)
        case .watchEnded(let w, let attempt):
            watchEnded(w, attempt: attempt)
        case .watcherStart(let w):
            list(w)
        case .watcherTimeout(let w, let attempt):
            watcherTimedOut(w, attempt: attempt)
        case .clientTimeout(let c, let attempt):
            guard clients[c].attempt == attempt, clients[c].operation != nil else { return }
            clientTimedOut(c)
        case .clientSend(let c, let attempt):
            guard clients[c].attempt == attempt, clients[c].operation != nil else { return }
            sendRequest(c)
        case .clientStart(let c):
            startOperation(c)
        case .partitionStart:
            startPartition()
        case .partitionEnd(let generation):
            guard generation == partitionGeneration, !inLivenessPhase else { return }
            clearPartition()
            if let interval = plan.partitionIntervalNs {
                schedule(after: faultRng.exponential(meanNs: interval), .partitionStart)
            }
        case .crash:
            crashRandomNode()
        case .crashNode(let i, let incarnation):
            guard nodes[i].up, nodes[i].incarnation == incarnation, !inLivenessPhase else { return }
            crash(i)
        case .restart(let i):
            guard !nodes[i].up, !inLivenessPhase || core[i] else { return }
            restart(i)
        case .pause:
            pauseRandomNode()
        case .resume(let i, let incarnation):
            guard nodes[i].incarnation == incarnation else { return }
            resume(i)
        case .heal:
            startLivenessPhase()
        case .livenessCheck:
            checkLiveness()
        case .quietCheck:
            checkQuiet()
        case .transfer:
            transferLeadership()
        case .isolate:
            isolateFollower()
        case .rejoin(let follower, let leader, let term, let epoch):
            rejoin(follower: follower, leader: leader, term: term, epoch: epoch)
        case .rejoinCheck(let follower, let leader, let term, let epoch):
            checkRejoin(follower: follower, leader: leader, term: term, epoch: epoch)
        case .transferCheck(let leader, let term, let target, let epoch):
            checkTransfer(leader: leader, term: term, target: target, epoch: epoch)
        }
    }

    // MARK: Trace

    func remember(_ event: SimEvent) {
        let keep = 48
        if recent.count < keep {
            recent.append((nowNs, event))
        } else {
            recent[recentNext] = (nowNs, event)
        }
        recentNext = (recentNext + 1) % keep
    }

    func recentDescriptions() -> [String] {
        let ordered = recent.count < 48 ? recent : Array(recent[recentNext...] + recent[..<recentNext])
        return ordered.map { "\(Simulation.formatTime($0.timeNs)) \(describe($0.event))" }
    }

    static func formatTime(_ ns: UInt64) -> String {
        let ms = ns / 1_000_000
        let frac = (ns / 1_000) % 1_000
        let padded = String(repeating: "0", count: 3 - String(frac).count) + String(frac)
        return "\(ms / 1000).\(String(repeating: "0", count: 3 - String(ms % 1000).count))\(ms % 1000)\(padded)s"
    }

    func describe(_ event: SimEvent) -> String {
        switch event {
        case .tick(let i, _): return "tick n\(i + 1)"
        case .deliver(let m): return "deliver \(m)"
        case .persisted(let i, _, _): return "fsync done n\(i + 1)"
        case .snapshotWritten(let i, _, let metadata, _): return "snapshot \(metadata.index) written n\(i + 1)"
        case .continueWork(let i, _): return "n\(i + 1) continues its lists and watch starts"
        case .request(let i, let a, _, let r): return "\(a) -> n\(i + 1): \(r.method) \(r.target)"
        case .forwarded(let i, let from, _, let a, _, let r): return "n\(from + 1) forwards \(a)'s \(r.method) \(r.target) to n\(i + 1)"
        case .relay(let i, _, let a, _, let r): return "n\(i + 1) relays \(r.status) to \(a)"
        case .reply(let a, _, let r): return "reply to \(a): \(r.status) \(String(decoding: r.body.prefix(120), as: UTF8.self))"
        case .watchChunk(let w, _, let bytes): return "watcher \(w) reads \(bytes.isEmpty ? "the stream's start" : String(decoding: bytes.prefix(100), as: UTF8.self))"
        case .watchEnded(let w, _): return "watcher \(w)'s stream ends"
        case .watcherStart(let w): return "watcher \(w) lists"
        case .watcherTimeout(let w, _): return "watcher \(w) timeout"
        case .clientTimeout(let c, _): return "client \(c) timeout"
        case .clientSend(let c, _): return "client \(c) retry"
        case .clientStart(let c): return "client \(c) next operation"
        case .partitionStart: return "partition"
        case .partitionEnd: return "partition healed"
        case .crash: return "crash"
        case .crashNode(let i, _): return "crash n\(i + 1)"
        case .restart(let i): return "restart n\(i + 1)"
        case .pause: return "pause"
        case .resume(let i, _): return "resume n\(i + 1)"
        case .heal: return "heal: liveness phase"
        case .livenessCheck: return "liveness check"
        case .quietCheck: return "quiet check"
        case .transfer: return "leadership transfer"
        case .isolate: return "isolate a follower"
        case .rejoin(let f, _, _, _): return "n\(f + 1) rejoins"
        case .rejoinCheck(let f, _, _, _): return "check n\(f + 1)'s rejoin"
        case .transferCheck(let l, _, let t, _): return "check the transfer n\(l + 1) -> n\(t + 1)"
        case .callerTimeout(let id, _): return "\(id) timeout"
        case .callerResend(let id, _): return "\(id) retry"
        case .agentTick(let a, _): return "agent \(a) tick"
        case .agentChunk(let a, _, let bytes): return "agent \(a) reads \(bytes.isEmpty ? "the stream's start" : String(decoding: bytes.prefix(100), as: UTF8.self))"
        case .agentStreamEnded(let a, _, let broken): return "agent \(a)'s stream \(broken ? "breaks" : "ends")"
        case .containerEvent(let a, let run, let event): return "agent \(a) container \(run): \(event)"
        case .containerReport(let a, let run, let event): return "agent \(a) hears of container \(run): \(event)"
        case .probeResult(let a, _, let probe): return "agent \(a) probe \(probe.run) \(probe.kind)"
        case .agentHeal(let a, let m): return "agent \(a) reaches n\(m + 1) again"
        case .agentResume(let a): return "agent \(a) resumes"
        case .agentRequestFailed(let a, _): return "agent \(a)'s connection is refused or reset"
        case .agentStop: return "disturb an agent"
        case .agentStart(let a): return "agent \(a) starts"
        case .operatorStart(let o): return "operator \(o) next operation"
        }
    }
}

extension SplitMix64 {
    /// A fresh seed drawn from this generator's current state, without advancing it.
    var seedValue: UInt64 {
        var copy = self
        return copy.next()
    }
}

extension Message {
    /// A compact fingerprint of the message for the trace hash.
    var traceWord: UInt64 {
        var h = TraceHash()
        h.mix(from.rawValue << 8 | to.rawValue)
        h.mix(term)
        switch kind {
        case .preVote(let i, let t), .vote(let i, let t, _): h.mix(1); h.mix(i); h.mix(t)
        case .preVoteResponse(let g), .voteResponse(let g): h.mix(g ? 2 : 3)
        case .append(let pi, let pt, let es, let c): h.mix(4); h.mix(pi); h.mix(pt); h.mix(UInt64(es.count)); h.mix(c)
        case .appendResponse(.accepted(let m)): h.mix(5); h.mix(m)
        case .appendResponse(.rejected(let r, let hi, let ht)): h.mix(6); h.mix(r); h.mix(hi); h.mix(ht)
        case .heartbeat(let c, let r): h.mix(7); h.mix(c); h.mix(r)
        case .heartbeatResponse(let r): h.mix(8); h.mix(r)
        case .snapshotChunk(let chunk): h.mix(9); h.mix(chunk.metadata.index); h.mix(UInt64(chunk.offset))
        case .snapshotAck(let i, let n): h.mix(10); h.mix(i); h.mix(UInt64(n))
        case .timeoutNow: h.mix(11)
        }
        return h.value
    }
}
