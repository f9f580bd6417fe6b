import Agent
import Master

/// A node of the control-plane world: the production `AgentCore` (what `bosun agent` runs) over
/// a simulated container runtime, network and clock. Its containers are simulated processes that
/// start after a delay, run, may exit, may ignore SIGTERM; they outlive a crash of the agent,
/// whose next incarnation re-adopts them, as the process runtime does.
struct SimAgent {
    var name: String
    /// Allocatable CPU: most nodes are small, every third is big, so where pods go matters.
    var cpu: String
    var core: AgentCore
    var running = true
    /// Bumped at every crash, so answers and ticks of an earlier incarnation are ignored.
    var incarnation = 0
    /// A paused agent does nothing until then: its deliveries wait, in order, and are handed over
    /// when it resumes (so nothing may end a pause early).
    var pausedUntilNs: UInt64 = 0
    var inbox: [SimEvent] = []
    /// How far its wall clock is off the masters'.
    var skewNs: Int64
    /// Its link to each master, per direction (true: cut).
    var cutTo: [Bool]
    var cutFrom: [Bool]
    /// The simulated runtime's containers on this node.
    var containers: [ContainerKey: SimContainer] = [:]
    /// Chunks of one connection arrive in order: none is delivered before this time.
    var deliveredUpToNs: UInt64 = 0
    /// What its watch read: one segment per list (checked against the committed log).
    var segments: [WatchSegment] = []
    /// Since when a majority of masters has been reachable without faults between them (nil: not now).
    var reachableSinceNs: UInt64?
}

/// A simulated container process.
struct SimContainer {
    var run: ContainerRun
    var started = false
    var ignoresTerm: Bool
}

/// What the simulated runtime reports about a container.
enum SimContainerEvent {
    case started
    case failedToStart
    case exited(Int)
}

extension Simulation {
    static let agentTickNs: UInt64 = 100_000_000
    static let nodeGraceNs: UInt64 = 5_000_000_000

    func makeAgent(_ a: Int, name: String, cpu: String) -> SimAgent {
        SimAgent(
            name: name, cpu: cpu, core: AgentCore(config: agentConfig(name: name, cpu: cpu)), skewNs: Int64(clusterRng.uniform(0...2_000)) * 1_000_000 - 1_000_000_000,
            cutTo: Array(repeating: false, count: nodes.count), cutFrom: Array(repeating: false, count: nodes.count))
    }

    func agentConfig(name: String, cpu: String) -> AgentCore.Config {
        var config = AgentCore.Config(nodeName: name, masterCount: options.nodes, address: "10.0.0.\(name.split(separator: "-").last ?? "0")", port: 10250)
        config.capacity = ["cpu": cpu, "memory": "16Gi", "pods": "110"]
        config.labels = ["kubernetes.io/hostname": name]
        config.backoffBaseNs = 500_000_000
        config.backoffMaxNs = 4_000_000_000
        config.watchSeconds = 5
        config.plantedBugs = options.bugs.intersection(.agent)
        return config
    }

    func agentTime(_ a: Int) -> AgentCore.Time {
        AgentCore.Time(monotonicNs: nowNs, wallNs: UInt64(Int64(wallClockNs) + agents[a].skewNs))
    }

    /// A request id of the current incarnation, as the network carries it.
    func wireAttempt(_ a: Int, _ id: UInt64) -> UInt64 { UInt64(agents[a].incarnation) << 40 | id }

    /// Whether an event for the agent is for its current incarnation and may run now (a paused
    /// agent gets it when it resumes).
    func agentReady(_ a: Int, _ event: SimEvent, attempt: UInt64? = nil) -> Bool {
        guard agents[a].running, attempt.map({ $0 >> 40 == UInt64(agents[a].incarnation) }) ?? true else { return false }
        if nowNs < agents[a].pausedUntilNs {
            agents[a].inbox.append(event)
            return false
        }
        return true
    }

    /// A pause ran out (unless it was extended): what arrived meanwhile is handled, in order.
    func resumeAgent(_ a: Int) {
        guard nowNs >= agents[a].pausedUntilNs else { return }
        let held = agents[a].inbox
        agents[a].inbox = []
        for event in held { handle(event) }
    }

    func agentTick(_ a: Int, incarnation: Int) {
        guard agents[a].running, agents[a].incarnation == incarnation else { return }
        defer { schedule(after: Self.agentTickNs, .agentTick(agent: a, incarnation: incarnation)) }
        guard nowNs >= agents[a].pausedUntilNs else {
            agents[a].reachableSinceNs = nil
            return
        }
        checkLease(a)
        agentDo(a, agents[a].core.tick(at: agentTime(a)))
    }

    func agentReceived(_ a: Int, attempt: UInt64, _ response: HTTPResponse) {
        guard agentReady(a, .reply(.agent(a), attempt: attempt, response), attempt: attempt) else { return }
        let lists = agents[a].core.listCount
        agentDo(a, agents[a].core.received(attempt & (1 << 40 - 1), response, at: agentTime(a)))
        if agents[a].core.listCount > lists { agents[a].segments.append(WatchSegment(listedAt: agents[a].core.lastSeenVersion)) }
    }

    func agentChunk(_ a: Int, attempt: UInt64, _ bytes: [UInt8]) {
        guard agentReady(a, .agentChunk(agent: a, attempt: attempt, bytes), attempt: attempt) else { return }
        let id = attempt & (1 << 40 - 1)
        if bytes.isEmpty { return agentDo(a, agents[a].core.watchStarted(id, at: agentTime(a))) }
        if id == agents[a].core.watchStreamID, !agents[a].segments.isEmpty, let line = try? JSONParser.parse(bytes),
            let type = line["type"]?.stringValue, ["ADDED", "MODIFIED", "DELETED"].contains(type),
            let name = line[path: ["object", "metadata", "name"]]?.stringValue,
            let version = line[path: ["object", "metadata", "resourceVersion"]]?.stringValue.flatMap({ UInt64($0) })
        {
            agents[a].segments[agents[a].segments.count - 1].events.append(WatchedEvent(type: type, name: name, version: version, value: nil))
            stats.agentWatchEvents += 1
        }
        agentDo(a, agents[a].core.watchLine(id, bytes, at: agentTime(a)))
    }

    /// A process that is gone refuses connections (and resets those it had) at once: an agent
    /// learns it without waiting out a timeout. (A paused or cut-off master stays silent.)
    func refuse(_ asker: Asker, attempt: UInt64) {
        guard case .agent(let a) = asker, !networkRng.chance(lossRate) else { return }
        schedule(after: networkDelay(), .agentRequestFailed(agent: a, attempt: attempt))
    }

    func agentRequestFailed(_ a: Int, attempt: UInt64) {
        guard agentReady(a, .agentRequestFailed(agent: a, attempt: attempt), attempt: attempt) else { return }
        agentDo(a, agents[a].core.failed(attempt & (1 << 40 - 1), at: agentTime(a)))
    }

    func agentStreamEnded(_ a: Int, attempt: UInt64, broken: Bool) {
        guard agentReady(a, .agentStreamEnded(agent: a, attempt: attempt, broken: broken), attempt: attempt) else { return }
        agentDo(a, agents[a].core.watchEnded(attempt & (1 << 40 - 1), broken: broken, at: agentTime(a)))
    }

    /// Carries out the core's actions on the simulated network and runtime.
    func agentDo(_ a: Int, _ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case .send(let id, let master, let request), .watch(let id, let master, let request):
                guard !agents[a].cutTo[master], !networkRng.chance(lossRate) else { continue }
                var delay = networkDelay()
                if networkRng.chance(plan.agentLateRate) { delay += networkRng.uniform(plan.agentLateMaxNs / 3...plan.agentLateMaxNs) }
                schedule(after: delay, .request(node: master, .agent(a), attempt: wireAttempt(a, id), request))
            case .cancel:
                break  // the master's stream (if any) ends by its own timeout; late chunks are ignored
            case .startContainer(let launch):
                startContainer(a, launch.run)
            case .signalContainer(let run, let signal):
                guard let container = agents[a].containers[run.key], container.run == run else { continue }
                if signal == .kill {
                    schedule(after: clusterRng.uniform(1...50) * 1_000_000, .containerEvent(agent: a, run, .exited(137)))
                } else if !container.ignoresTerm {
                    schedule(after: clusterRng.uniform(1...300) * 1_000_000, .containerEvent(agent: a, run, .exited(143)))
                }
            case .removeContainer(let run):
                if agents[a].containers[run.key]?.run == run { agents[a].containers[run.key] = nil }
            case .probe(let probe, _, _):
                schedule(after: 10_000_000, .probeResult(agent: a, incarnation: agents[a].incarnation, probe))
            }
        }
    }

    /// A container starts after a delay (rarely it cannot); now and then one exits by itself.
    func startContainer(_ a: Int, _ run: ContainerRun) {
        for b in agents.indices where b != a && agents[b].containers.keys.contains(where: { $0.podUID == run.key.podUID }) {
            return fail(Violation(invariant: "a pod runs on one node", detail: "pod \(run.key.podUID) starts on \(agents[a].name) while running on \(agents[b].name)"))
        }
        agents[a].containers[run.key] = SimContainer(run: run, ignoresTerm: clusterRng.chance(0.2))
        let delay: UInt64 = clusterRng.uniform(10...500) * 1_000_000
        if !inLivenessPhase && clusterRng.chance(0.02) {
            return schedule(after: delay, .containerEvent(agent: a, run, .failedToStart))
        }
        schedule(after: delay, .containerEvent(agent: a, run, .started))
        if !inLivenessPhase && clusterRng.chance(0.05) {
            schedule(after: delay + clusterRng.uniform(100...5_000) * 1_000_000, .containerEvent(agent: a, run, .exited(Int(clusterRng.uniform(0...2)))))
        }
    }

    /// The runtime reports on a container: its state changes whether or not the agent is up to hear it.
    func containerEvent(_ a: Int, _ run: ContainerRun, _ event: SimContainerEvent) {
        guard let container = agents[a].containers[run.key], container.run == run else { return }
        switch event {
        case .started: agents[a].containers[run.key]!.started = true
        case .failedToStart, .exited: agents[a].containers[run.key] = nil
        }
        reportContainer(a, run, event)
    }

    /// The runtime tells the agent (later, if it is paused; never, if it is down: the next
    /// incarnation learns from what it re-adopts).
    func reportContainer(_ a: Int, _ run: ContainerRun, _ event: SimContainerEvent) {
        guard agentReady(a, .containerReport(agent: a, run, event)) else { return }
        let time = agentTime(a)
        switch event {
        case .started: agentDo(a, agents[a].core.containerStarted(run, id: "sim://\(agents[a].name)/\(run)", at: time))
        case .failedToStart: agentDo(a, agents[a].core.containerFailedToStart(run, message: "simulated start failure", at: time))
        case .exited(let code): agentDo(a, agents[a].core.containerExited(run, ContainerExit(code: code), at: time))
        }
    }

    func probeResult(_ a: Int, incarnation: Int, _ probe: ProbeID) {
        guard agents[a].incarnation == incarnation, agentReady(a, .probeResult(agent: a, incarnation: incarnation, probe)) else { return }
        agentDo(a, agents[a].core.probeResult(probe, success: true, at: agentTime(a)))
    }

    /// The oracle for renewals: an agent running unpaused that has reached a majority of live
    /// masters, with no partition between masters, for `leaseCheckWindowNs()` must have had a
    /// renewal committed in that window but its last `leaseSlackNs` (an agent stuck on a dead
    /// master fails this).
    func checkLease(_ a: Int) {
        let reachable = nodes.indices.filter { nodes[$0].up && !nodes[$0].paused && !agents[a].cutTo[$0] && !agents[a].cutFrom[$0] }.count
        let calm = reachable > nodes.count / 2 && !blocked.joined().contains(true)
        guard calm, agents[a].core.isRegistered else {
            agents[a].reachableSinceNs = nil
            return
        }
        let since = agents[a].reachableSinceNs ?? nowNs
        agents[a].reachableSinceNs = since
        let windowNs = leaseCheckWindowNs()
        guard nowNs >= since + windowNs, let last = controlChecker.renewalsNs[agents[a].name]?.last ?? Optional(since),
            nowNs > last + windowNs - Self.leaseSlackNs
        else { return }
        fail(Violation(
            invariant: "lease renewed while masters are reachable",
            detail: "\(agents[a].name) reached a majority of masters for \((nowNs - since) / 1_000_000) ms but its last renewal committed \((nowNs - last) / 1_000_000) ms ago"))
    }

    /// How long a reachable agent may go without a committed renewal. Every lost message (a
    /// forwarded request and its answer cross up to four hops) costs a request timeout and a retry
    /// delay; the window allows as many such failures in a row as the loss rate makes happen with
    /// a chance under one in a million, and never less than 15 s (a few stalled requests).
    func leaseCheckWindowNs() -> UInt64 {
        let lost = 1 - (1 - lossRate) * (1 - lossRate) * (1 - lossRate) * (1 - lossRate)
        var failuresInARow: UInt64 = 0
        var chance = 1.0
        while chance >= 1e-6 { chance *= lost; failuresInARow += 1 }
        let attemptNs = agentConfig(name: "", cpu: "1").requestTimeoutNs + 200_000_000
        return max(15_000_000_000, failuresInARow * attemptNs + Self.leaseSlackNs)
    }

    /// A renewal interval and the time a renewal takes to commit.
    static let leaseSlackNs: UInt64 = 3_000_000_000

    /// A fault stops an agent for a while: a crash (its state is lost; its containers run on and
    /// are re-adopted), a pause (it resumes where it was), or a cut from some masters.
    func disturbRandomAgent() {
        guard let interval = plan.agentStopIntervalNs else { return }
        if !inLivenessPhase, !agents.isEmpty {
            let a = clusterRng.index(agents.count)
            let lengthNs = clusterRng.uniform(500...plan.agentStopMaxMs) * 1_000_000
            switch clusterRng.index(3) {
            case 0 where agents[a].running:
                stats.agentStops += 1
                stopAgent(a)
                schedule(after: lengthNs, .agentStart(agent: a))
            case 1 where agents[a].running:
                stats.agentPauses += 1
                agents[a].pausedUntilNs = max(agents[a].pausedUntilNs, nowNs + lengthNs)
                schedule(after: lengthNs, .agentResume(agent: a))
            default:
                stats.agentCuts += 1
                let m = clusterRng.index(nodes.count)
                let both = clusterRng.chance(0.5), outbound = clusterRng.chance(0.5)
                if both || outbound { agents[a].cutTo[m] = true }
                if both || !outbound { agents[a].cutFrom[m] = true }
                schedule(after: lengthNs, .agentHeal(agent: a, master: m))
            }
        }
        schedule(after: clusterRng.exponential(meanNs: interval), .agentStop)
    }

    func healAgent(_ a: Int, master m: Int) {
        guard !inLivenessPhase else { return }
        agents[a].cutTo[m] = false
        agents[a].cutFrom[m] = false
    }

    /// The agent's process dies; its containers run on, except those it was still starting (as
    /// in the process runtime, whose start completes inside the agent's process).
    func stopAgent(_ a: Int) {
        agents[a].containers = agents[a].containers.filter { $0.value.started }
        agents[a].running = false
        agents[a].incarnation += 1
        agents[a].reachableSinceNs = nil
    }

    /// A new incarnation of the agent: a fresh core, handed what still runs.
    func startAgent(_ a: Int) {
        guard !agents[a].running, a != deadAgent else { return }
        agents[a].running = true
        agents[a].pausedUntilNs = 0
        agents[a].inbox = []
        agents[a].core = AgentCore(config: agents[a].core.config)
        let adopted = agents[a].containers.values.sorted { $0.run.key < $1.run.key }.map {
            AdoptedContainer(run: $0.run, id: "sim://\(agents[a].name)/\($0.run)", startedAtWallSeconds: Int64(wallClockNs / 1_000_000_000))
        }
        let incarnation = agents[a].incarnation
        agentDo(a, agents[a].core.start(at: agentTime(a), adopted: adopted))
        schedule(after: clusterRng.uniform(1...Self.agentTickNs), .agentTick(agent: a, incarnation: incarnation))
    }
}
