import Master
import Raft

/// The node agent's logic (Bosun's kubelet) as a deterministic state machine, shaped like the
/// Raft core: inputs are API answers and watch lines, container runtime events, probe results and
/// the time; outputs are `AgentAction`s for a shell to carry out (HTTP requests to a master,
/// container starts and signals, probes). The runtime's shell does real HTTP, processes and
/// clocks; the simulator's does simulated ones. Nothing here reads a clock or does I/O.
///
/// What it does:
/// - registers its Node, renews its Lease every `leaseRenewNs`, and posts the Node's status on
///   change and every `nodeStatusIntervalNs`;
/// - lists the pods bound to it, then watches them from the list's resourceVersion; a watch that
///   ends resumes from the last version seen, and only `410 Gone` makes it list again;
/// - talks to one master at a time and moves to the next on any connection failure, timeout,
///   `503`, `429` or `504`, moving its watch along (resumed from where it was): a master that
///   stops answering is left within `requestTimeoutNs` of the next renewal;
/// - runs each bound pod's containers, restarts them by `restartPolicy` with Kubernetes' back-off,
///   probes them, stops them gracefully (TERM, then KILL after the grace period) when the pod is
///   deleted, and deletes the pod object (grace 0, uid precondition) once they have stopped;
/// - writes each pod's status as a compare-and-swap on the resourceVersion it last saw; a conflict
///   waits for the newer version to arrive and is computed again, so nothing is overwritten blindly.
public struct AgentCore {
    /// What the agent is and how it paces itself.
    public struct Config: Sendable {
        public var nodeName: String
        public var masterCount: Int
        /// The node's address: reported as its InternalIP, and every pod's IP (pods share the host network).
        public var address: String
        /// The agent's own port (`daemonEndpoints.kubeletEndpoint.Port`), where masters fetch logs.
        public var port: Int
        public var capacity: [String: String] = ["cpu": "2", "memory": "4Gi", "pods": "110"]
        public var labels: [String: String] = [:]
        public var taints: [JSON] = []
        /// `nodeInfo` of the Node's status (OS, architecture, versions), from the shell.
        public var nodeInfo: [String: String] = [:]
        public var leaseRenewNs: UInt64 = 1_000_000_000
        public var leaseDurationSeconds = 5
        /// The Node's status is posted on change and this often (kubelet's nodeStatusUpdateFrequency).
        public var nodeStatusIntervalNs: UInt64 = 10_000_000_000
        /// A request not answered in this time is given up and its master left.
        public var requestTimeoutNs: UInt64 = 2_000_000_000
        /// The watch's own `timeoutSeconds`: the master ends it and it is resumed, which also
        /// proves the master alive.
        public var watchSeconds = 30
        /// Kubernetes' container back-off: the first restart is immediate, then base, doubling up to
        /// max; reset after a run of `backoffResetNs`.
        public var backoffBaseNs: UInt64 = 10_000_000_000
        public var backoffMaxNs: UInt64 = 300_000_000_000
        public var backoffResetNs: UInt64 = 600_000_000_000
        /// Requests in flight at most (status writes wait for a free place).
        public var maxRequestsInFlight = 16
        /// Whether the container runtime reads images (their entrypoint and cmd): without, a
        /// container needs a `command` (the process runtime).
        public var runtimeHasImages = false
        /// Defects planted for the simulator to catch (`PlantedBugs.agent`); never outside it.
        public var plantedBugs: PlantedBugs = []

        public init(nodeName: String, masterCount: Int, address: String, port: Int) {
            self.nodeName = nodeName
            self.masterCount = masterCount
            self.address = address
            self.port = port
        }
    }

    /// The time as the shell read it: a monotonic clock for deadlines, the wall clock for timestamps.
    public struct Time: Sendable {
        public var monotonicNs: UInt64
        public var wallNs: UInt64
        public init(monotonicNs: UInt64, wallNs: UInt64) {
            self.monotonicNs = monotonicNs
            self.wallNs = wallNs
        }
    }

    public let config: Config
    var now = Time(monotonicNs: 0, wallNs: 0)
    /// When `start` was called, on the wall clock: the Node's conditions hold since then.
    var startWallNs: UInt64 = 0
    /// The master talked to; moves on failure.
    public internal(set) var target = 0
    var nextRequestID: UInt64 = 1
    var inFlight: [UInt64: PendingRequest] = [:]
    var outbox: [AgentAction] = []

    // The Node and its Lease.
    var registered = false
    var leaseExists = true
    var nextRenewalNs: UInt64 = 0
    /// When a renewal last succeeded.
    var lastRenewedNs: UInt64?
    var nextNodeStatusNs: UInt64 = 0
    var postedNodeStatus: JSON?

    // The pods bound here, as the watch tells them.
    var watch = WatchState()
    var pods: [String: PodState] = [:]
    /// Values of ConfigMaps that environment variables refer to, fetched when a container starts.
    var configMaps: [String: (value: JSON?, fetchedNs: UInt64)] = [:]

    // Containers the runtime reports that belong to no known pod yet (re-adopted after a restart).
    var adopted: [ContainerKey: AdoptedContainer] = [:]

    public init(config: Config) {
        precondition(config.masterCount >= 1, "an agent needs at least one master")
        self.config = config
    }

    /// Pods this agent holds (for tests and the shell's status page).
    public var podCount: Int { pods.count }
    /// The last resourceVersion the watch saw.
    public var lastSeenVersion: UInt64 { watch.lastVersion }
    /// Lists completed so far (each starts the watch afresh from its version).
    public internal(set) var listCount = 0
    /// The watch whose lines the agent follows now.
    public var watchStreamID: UInt64? { watch.streamID }
    /// Its Node is registered.
    public var isRegistered: Bool { registered }

    // MARK: Inputs

    /// Starts the agent. `adopted` are containers a previous run of the agent left running (the
    /// shell checked each is still the process it started): they are kept if their pod is still
    /// bound here, stopped otherwise.
    public mutating func start(at time: Time, adopted containers: [AdoptedContainer] = []) -> [AgentAction] {
        now = time
        startWallNs = time.wallNs
        for container in containers { adopted[container.run.key] = container }
        return step()
    }

    /// Time passed: renewals, deadlines, back-offs and probes fall due.
    public mutating func tick(at time: Time) -> [AgentAction] {
        now = time
        expireRequests()
        return step()
    }

    /// A complete answer to a request (for a watch: an answer that is not a stream, an error).
    public mutating func received(_ id: UInt64, _ response: HTTPResponse, at time: Time) -> [AgentAction] {
        now = time
        guard let request = inFlight.removeValue(forKey: id) else { return [] }
        if [429, 503, 504].contains(response.status) {
            failed(request)
        } else {
            handle(request, response)
        }
        return step()
    }

    /// A request got no answer (no connection, a broken one, the shell's own timeout).
    public mutating func failed(_ id: UInt64, at time: Time) -> [AgentAction] {
        now = time
        guard let request = inFlight.removeValue(forKey: id) else { return [] }
        failed(request)
        return step()
    }

    /// A watch's stream started (its `200` head arrived).
    public mutating func watchStarted(_ id: UInt64, at time: Time) -> [AgentAction] {
        now = time
        guard watch.streamID == id else { return [] }
        inFlight[id] = nil
        watch.streaming = true
        watch.silentAfterNs = time.monotonicNs + UInt64(config.watchSeconds) * 1_000_000_000 + config.requestTimeoutNs
        return step()
    }

    /// One line of a watch's stream.
    public mutating func watchLine(_ id: UInt64, _ line: [UInt8], at time: Time) -> [AgentAction] {
        now = time
        guard watch.streamID == id else { return [] }
        watchEvent(line)
        return step()
    }

    /// A watch's stream ended (cleanly or not): it resumes from the last version seen.
    public mutating func watchEnded(_ id: UInt64, broken: Bool, at time: Time) -> [AgentAction] {
        now = time
        guard watch.streamID == id else { return [] }
        inFlight[id] = nil
        watch.streamID = nil
        watch.streaming = false
        if broken { moveOn(from: target) }
        return step()
    }

    /// The runtime started a container.
    public mutating func containerStarted(_ run: ContainerRun, id: String, at time: Time) -> [AgentAction] {
        now = time
        runStarted(run, id: id)
        return step()
    }

    /// The runtime could not start a container (the command does not exist, …).
    public mutating func containerFailedToStart(_ run: ContainerRun, message: String, at time: Time) -> [AgentAction] {
        now = time
        runEnded(run) { $0.failedToStart(message: message, at: time) }
        return step()
    }

    /// The runtime could not get a container's image: `ErrImagePull`, tried again after the
    /// container back-off (`ImagePullBackOff` from the second failure on). Not a run: no
    /// termination is recorded and the restart count stays.
    public mutating func containerImagePullFailed(_ run: ContainerRun, message: String, at time: Time) -> [AgentAction] {
        now = time
        pullFailed(run, message: message)
        return step()
    }

    /// A container's process ended.
    public mutating func containerExited(_ run: ContainerRun, _ exit: ContainerExit, at time: Time) -> [AgentAction] {
        now = time
        if adopted[run.key]?.run == run {
            adopted[run.key] = nil
            return step()
        }
        runEnded(run) { $0.exited(exit, at: time) }
        return step()
    }

    /// A probe's answer.
    public mutating func probeResult(_ probe: ProbeID, success: Bool, at time: Time) -> [AgentAction] {
        now = time
        probed(probe, success: success)
        return step()
    }

    // MARK: The step

    /// Everything that is due now, in a fixed order.
    mutating func step() -> [AgentAction] {
        tendNode()
        tendWatch()
        tendPods()
        defer { outbox = [] }
        return outbox
    }
}

/// What the shell is asked to do.
public enum AgentAction: Equatable, Sendable {
    /// Send a request to a master and report its answer (`received`) or failure (`failed`).
    case send(id: UInt64, master: Int, HTTPRequest)
    /// Open a watch: report the stream's start, each line, its end; or its answer if not a stream.
    case watch(id: UInt64, master: Int, HTTPRequest)
    /// Forget a request or watch (close its connection); nothing more is expected of it.
    case cancel(id: UInt64)
    case startContainer(ContainerLaunch)
    case signalContainer(ContainerRun, ContainerSignal)
    /// The container will not run again: the runtime may release what it holds for it.
    case removeContainer(ContainerRun)
    case probe(ProbeID, ProbeSpec.Action, timeoutNs: UInt64)
}

/// The signals a stop sends.
public enum ContainerSignal: Sendable, Equatable {
    case terminate
    case kill
}

/// How a container's process ended.
public struct ContainerExit: Equatable, Sendable {
    public var code: Int
    /// Killed for exceeding its memory limit.
    public var oomKilled: Bool
    /// The runtime lost track of it (re-adopted, then gone): its code is unknown.
    public var unknown: Bool

    public init(code: Int, oomKilled: Bool = false, unknown: Bool = false) {
        self.code = code
        self.oomKilled = oomKilled
        self.unknown = unknown
    }
}

/// A container left running by an earlier run of the agent, handed back at start.
public struct AdoptedContainer: Equatable, Sendable {
    public var run: ContainerRun
    public var id: String
    public var startedAtWallSeconds: Int64

    public init(run: ContainerRun, id: String, startedAtWallSeconds: Int64) {
        self.run = run
        self.id = id
        self.startedAtWallSeconds = startedAtWallSeconds
    }
}

/// Names one probe of one container run.
public struct ProbeID: Hashable, Sendable {
    public enum Kind: String, Sendable { case readiness, liveness, startup }
    public var run: ContainerRun
    public var kind: Kind
}
