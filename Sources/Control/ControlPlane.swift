import Master
import Raft

/// The scheduler and the controllers as one deterministic state machine (DESIGN §2), run by the
/// master core on the Raft leader only. Raft leadership *is* controller leadership: there is no
/// second election on top.
///
/// Inputs: every change the master applies (`observe`, on every master, so a new leader's view
/// is current at once), the start and end of leadership, the outcome of each write, and `now`.
/// Output: `ControlWrite`s, each conditional on the resourceVersion its decision read, so a write
/// based on stale state or made by a deposed leader fails and is decided again, never
/// overwrites. Work comes from changes (each change marks what it concerns) and a periodic
/// resync, so the work per change does not grow with the cluster.
public struct ControlPlane {
    /// Tunables.
    public struct Options: Sendable {
        /// A node whose Lease is not renewed for this long is marked unreachable.
        public var nodeGracePeriodNs: UInt64 = 5_000_000_000
        /// A leader that did not run for this long (its process stalled) heard nothing meanwhile:
        /// it starts the nodes' grace periods anew rather than blame them for its own deafness.
        public var stallNs: UInt64 = 1_000_000_000
        /// Everything is looked at again this often, whether or not it changed.
        public var resyncIntervalNs: UInt64 = 30_000_000_000
        /// Writes decided per round at most (more wait for the next round).
        public var maxWritesPerRound = 512
        /// Events kept at most: beyond it, the oldest are deleted.
        public var maxEvents = 2000
        /// Events about one object from one controller: at most this many at once, then one
        /// per `eventRefillNs` (Kubernetes' EventSourceObjectSpamFilter: 25, one per 5 minutes).
        public var eventBurst = 25
        public var eventRefillNs: UInt64 = 300_000_000_000
        /// The defaults admission fills in on the objects the controllers write (the master's API
        /// uses the same).
        public var defaults = Defaulting.Settings()
        public var plantedBugs: PlantedBugs = []

        public init() {}
    }

    /// The annotation that numbers a Deployment's ReplicaSets.
    public static let revisionAnnotation = "deployment.kubernetes.io/revision"

    public private(set) var view = ClusterView()
    /// Acting: this master leads and has applied an entry of its own term.
    public private(set) var leading = false
    let options: Options
    var nowNs: UInt64 = 0
    /// What to look at in the next round.
    var dirty: Set<Work> = []
    /// Writes in flight per work item: the item waits for them before it is decided again (the
    /// ReplicaSet controller's "expectations").
    var busy: [Work: Int] = [:]
    var inFlight: [UInt64: InFlight] = [:]
    /// What binds in flight add to each node (kube-scheduler's assumed pods).
    var assumed: [String: NodeLoad] = [:]
    /// Unschedulable pods, tried again when a node or a bound pod changes.
    var waitingForChange: Set<String> = []
    /// Work due at a time (availability after `minReadySeconds`, node grace periods, evictions).
    var timers: [(atNs: UInt64, work: Work)] = []
    /// When this leader last heard from each node (its Lease renewed), or first saw it.
    var lastHeardNs: [String: UInt64] = [:]
    var nextResyncNs: UInt64 = 0
    var nextWriteID: UInt64 = 1
    var scheduleStart = 0
    /// The writes of the round being decided.
    var round: [ControlWrite] = []
    /// Draws the uids and name suffixes of the objects the controllers create.
    var rng: SplitMix64
    /// Events whose writes applied, to record in the next round.
    var pendingEvents: [EventNote] = []
    /// What each object's events from each controller may still spend (the spam filter).
    var eventBuckets: [String: EventBucket] = [:]
    /// Correlations with an event write in flight: a repeat waits for it, so counts add up.
    var eventsInFlight: Set<String> = []

    struct InFlight {
        /// What is decided again if the write fails; nil for an event (best effort, not retried).
        var work: Work?
        var binding: (node: String, pod: PodFacts)?
        /// Recorded once the write applied.
        var event: EventNote?
        /// The correlation of the event this write records.
        var recording: String?
    }

    /// A control plane whose new objects' uids and names come from `seed`.
    public init(options: Options = Options(), seed: UInt64 = 0) {
        self.options = options
        rng = SplitMix64(seed: seed)
    }

    // MARK: Inputs

    /// The master applied a change to `key` (nil: deleted) at `version`.
    public mutating func observe(key: String, value: String?, version: UInt64) {
        guard ClusterView.reads(key) else { return }
        let object = value.flatMap { try? JSONParser.parse(Array($0.utf8)) }
        let previous = view.set(key, object, version: version)
        if leading { markChanged(key, previous) }
    }

    /// Replaces the view with a whole state (after a snapshot is restored).
    public mutating func rebuild(_ items: [(key: String, value: String, version: UInt64)]) {
        view = ClusterView()
        for item in items where ClusterView.reads(item.key) {
            view.set(item.key, try? JSONParser.parse(Array(item.value.utf8)), version: item.version)
        }
        view.orderEventsByAge()
        if leading { lead(nowNs: nowNs) }
    }

    /// Leadership is confirmed (an entry of this term applied): act from now on. Every node's
    /// grace period starts anew here, from this leader's own first observation.
    public mutating func lead(nowNs: UInt64) {
        stepDown()
        leading = true
        self.nowNs = nowNs
        nextResyncNs = nowNs + options.resyncIntervalNs
        let restartGrace = !options.plantedBugs.contains(.keepNodeGraceAcrossLeaders)
        for name in view.nodeNames { lastHeardNs[name] = restartGrace ? nowNs : 0 }
        markEverything()
    }

    /// Leadership is lost: pending work is dropped, not carried into a later term.
    public mutating func stepDown() {
        leading = false
        dirty = []
        busy = [:]
        inFlight = [:]
        assumed = [:]
        waitingForChange = []
        timers = []
        lastHeardNs = [:]
        pendingEvents = []
        eventBuckets = [:]
        eventsInFlight = []
    }

    /// A write ended: applied (`succeeded`), or refused, conflicted or timed out. Its work item is
    /// decided again when it failed; when it applied, the change itself marked what it concerns.
    public mutating func finished(_ id: UInt64, succeeded: Bool) {
        guard let write = inFlight.removeValue(forKey: id) else { return }
        if let work = write.work {
            busy[work, default: 1] -= 1
            if busy[work] == 0 { busy[work] = nil }
            if !succeeded { dirty.insert(work) }
        }
        if let binding = write.binding { assumed[binding.node]?.remove(binding.pod) }
        if let recording = write.recording { eventsInFlight.remove(recording) }
        if succeeded, let event = write.event, pendingEvents.count < options.maxEvents { pendingEvents.append(event) }
    }

    /// Decides what to write now.
    public mutating func reconcile(nowNs: UInt64) -> [ControlWrite] {
        guard leading else { return [] }
        if nowNs > self.nowNs + options.stallNs {
            lastHeardNs = lastHeardNs.mapValues { _ in nowNs }
        }
        self.nowNs = max(self.nowNs, nowNs)
        if self.nowNs >= nextResyncNs {
            nextResyncNs = self.nowNs + options.resyncIntervalNs
            markEverything()
        }
        while let first = timers.first, first.atNs <= self.nowNs {
            timers.removeFirst()
            dirty.insert(first.work)
        }
        guard !dirty.isEmpty || !pendingEvents.isEmpty else { return [] }
        round = []
        for work in dirty.sorted() where round.count < options.maxWritesPerRound && busy[work] == nil {
            dirty.remove(work)
            switch work {
            case .collect(let key): collect(key)
            case .deployment(let key): syncDeployment(key)
            case .replicaSet(let key): syncReplicaSet(key)
            case .schedule(let key): schedule(key)
            case .node(let name): syncNode(name)
            case .events: collectEvents()
            }
        }
        recordPendingEvents()
        defer { round = [] }
        return round
    }

    /// Writes in flight.
    public var writesInFlight: Int { inFlight.count }

    // MARK: Helpers for the controllers

    /// Queues a write decided for `work` (nil: an event's), recording `event` once it applied.
    mutating func write(_ operation: ControlWrite.Operation, for work: Work?,
                        binding: (node: String, pod: PodFacts)? = nil, event: EventNote? = nil, recording: String? = nil) {
        let id = nextWriteID
        nextWriteID += 1
        round.append(ControlWrite(id: id, operation: operation))
        inFlight[id] = InFlight(work: work, binding: binding, event: event, recording: recording)
        if let work { busy[work, default: 0] += 1 }
        if let binding { assumed[binding.node, default: NodeLoad()].add(binding.pod) }
    }

    mutating func stamp() -> WriteStamp { WriteStamp.make(using: &rng, nowSeconds: nowSeconds) }

    /// Looks at `work` again at `atNs` (once, however often it is asked).
    mutating func after(_ atNs: UInt64, _ work: Work) {
        let at = timers.partitioningIndex { $0.atNs > atNs }
        var same = at
        while same > 0, timers[same - 1].atNs == atNs {
            if timers[same - 1].work == work { return }
            same -= 1
        }
        timers.insert((atNs, work), at: at)
    }

    var nowSeconds: Int64 { Int64(nowNs / 1_000_000_000) }

    /// Everything, as after a restart or a resync.
    mutating func markEverything() {
        for (key, rs) in view.replicaSets { dirty.insert(rs.meta.deleting ? .collect(key) : .replicaSet(key)) }
        for (key, d) in view.deployments { dirty.insert(d.meta.deleting ? .collect(key) : .deployment(key)) }
        for name in view.nodeNames { dirty.insert(.node(name)) }
        for (key, pod) in view.pods {
            if pod.nodeName == nil { dirty.insert(.schedule(key)) }
            if let owner = pod.meta.controller, !view.ownerExists(owner.uid) { dirty.insert(.collect(key)) }
        }
        for (key, rs) in view.replicaSets {
            if let owner = rs.meta.controller, !view.ownerExists(owner.uid) { dirty.insert(.collect(key)) }
        }
        waitingForChange = []
        if view.events.count > options.maxEvents { dirty.insert(.events) }
    }

    /// Marks what a change concerns.
    mutating func markChanged(_ key: String, _ previous: ClusterView.Previous) {
        switch previous {
        case .pod(let old):
            let new = view.pods[key]
            for owner in [old?.meta.controller, new?.meta.controller].compactMap({ $0 }) {
                guard let ownerKey = view.ownerKeys[owner.uid] else { continue }
                if ownerKey.hasPrefix("replicasets/") { dirty.insert(.replicaSet(ownerKey)) }
                if view.replicaSets[ownerKey]?.meta.deleting == true { dirty.insert(.collect(ownerKey)) }
            }
            if let new {
                if new.nodeName == nil, !waitingForChange.contains(key) { dirty.insert(.schedule(key)) }
                if new.meta.controller == nil { markReplicaSetsSelecting(new) }
                if let owner = new.meta.controller, !view.ownerExists(owner.uid) { dirty.insert(.collect(key)) }
                if let node = new.nodeName, new.meta.deleting || new.isTerminal { dirty.insert(.node(node)) }
            }
            // Resources freed or a node's pods changed: unschedulable pods may fit now.
            if old?.nodeName != nil, new == nil || new!.nodeName == nil || !new!.holdsResources { retryUnschedulable() }
            if new == nil { waitingForChange.remove(key) }
        case .replicaSet(let old):
            let new = view.replicaSets[key]
            if new != nil { dirty.insert(.replicaSet(key)) }
            for owner in [old?.meta.controller, new?.meta.controller].compactMap({ $0 }) {
                guard let ownerKey = view.ownerKeys[owner.uid] else { continue }
                dirty.insert(.deployment(ownerKey))
                if view.deployments[ownerKey]?.meta.deleting == true { dirty.insert(.collect(ownerKey)) }
            }
            if new?.meta.deleting == true { dirty.insert(.collect(key)) }
            if new == nil, let old { markDependents(of: old.meta.uid) }
            if let owner = new?.meta.controller, !view.ownerExists(owner.uid) { dirty.insert(.collect(key)) }
        case .deployment(let old):
            if let new = view.deployments[key] {
                dirty.insert(.deployment(key))
                if new.meta.deleting { dirty.insert(.collect(key)) }
            } else if let old {
                markDependents(of: old.meta.uid)
            }
        case .node:
            let name = String(key.dropFirst("nodes//".count))
            if view.nodes[name] != nil {
                if lastHeardNs[name] == nil { lastHeardNs[name] = nowNs }
                dirty.insert(.node(name))
            } else {
                lastHeardNs[name] = nil
                for pod in view.pods(on: name) { dirty.insert(.collect(pod.meta.key)) }
            }
            retryUnschedulable()
        case .lease(let old):
            let name = String(key.dropFirst(ClusterView.leasePrefix.count))
            if let renewed = view.leaseRenewals[name], renewed != old {
                lastHeardNs[name] = nowNs
                dirty.insert(.node(name))
            }
        case .event:
            if view.events.count > options.maxEvents { dirty.insert(.events) }
        case .none: break
        }
    }

    mutating func markDependents(of uid: String) {
        for pod in view.pods(ownedBy: uid) { dirty.insert(.collect(pod.meta.key)) }
        for rs in view.replicaSets(ownedBy: uid) { dirty.insert(.collect(rs.meta.key)) }
    }

    /// An unowned pod changed: the ReplicaSets of its namespace that select it may adopt it.
    mutating func markReplicaSetsSelecting(_ pod: PodFacts) {
        for (key, rs) in view.replicaSets where rs.meta.namespace == pod.meta.namespace {
            if rs.selector?.matches(pod.meta.labels) == true { dirty.insert(.replicaSet(key)) }
        }
    }

    mutating func retryUnschedulable() {
        for key in waitingForChange { dirty.insert(.schedule(key)) }
        waitingForChange = []
    }
}
