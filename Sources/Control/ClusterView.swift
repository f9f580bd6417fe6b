import Master

/// The objects the control plane reads, parsed once per change, with the indexes that keep the
/// work per change independent of the cluster's size: pods by owner, by node and unowned by
/// namespace; ReplicaSets by owner; what each node's bound pods request.
///
/// Every master keeps one, fed with each change it applies, so a new leader has it at once.
public struct ClusterView: Sendable {
    public private(set) var pods: [String: PodFacts] = [:]
    /// Nodes by name.
    public private(set) var nodes: [String: NodeFacts] = [:]
    public private(set) var replicaSets: [String: ReplicaSetFacts] = [:]
    public private(set) var deployments: [String: DeploymentFacts] = [:]
    /// The renew time of each node's Lease in `kube-node-lease`, by node name.
    public private(set) var leaseRenewals: [String: String] = [:]

    /// Pod keys by the uid of their controller.
    private(set) var podsByOwner: [String: Set<String>] = [:]
    /// Pods without a controller, by namespace: what a ReplicaSet may adopt.
    private(set) var orphanPods: [String: Set<String>] = [:]
    /// Pods bound to each node.
    private(set) var podsByNode: [String: Set<String>] = [:]
    /// What the bound, unfinished pods of each node request, and the host ports they hold.
    private(set) var load: [String: NodeLoad] = [:]
    /// ReplicaSet keys by the uid of their controller.
    private(set) var replicaSetsByOwner: [String: Set<String>] = [:]
    /// Every owner kind's object key by uid: Deployments and ReplicaSets.
    private(set) var ownerKeys: [String: String] = [:]
    /// Node names in sorted order: the scheduler's deterministic walk.
    public private(set) var nodeNames: [String] = []
    public private(set) var events: [String: EventFacts] = [:]
    /// Event keys by `EventFacts.correlation`: where a repeat is counted.
    private(set) var eventsByCorrelation: [String: String] = [:]
    /// Event keys with the version that created them, oldest first from `eventQueueHead`. The
    /// entry of a deleted event stays until it reaches the head (or the queue is compacted).
    private var eventQueue: [(version: UInt64, key: String)] = []
    private var eventQueueHead = 0

    public init() {}

    /// The kinds the control plane reads, by store key prefix.
    static func reads(_ key: String) -> Bool {
        key.hasPrefix("pods/") || key.hasPrefix("nodes/") || key.hasPrefix("replicasets/") || key.hasPrefix("deployments/")
            || key.hasPrefix(Self.leasePrefix) || key.hasPrefix("events/")
    }

    static let leasePrefix = "leases/kube-node-lease/"

    /// Records the new state of `key` (nil: deleted) at `version`. Returns the state it replaced.
    @discardableResult
    mutating func set(_ key: String, _ object: JSON?, version: UInt64) -> Previous {
        if key.hasPrefix("pods/") {
            let old = pods[key]
            if let old { unindex(old) }
            let new = object.map { PodFacts(key: key, version: version, object: $0) }
            pods[key] = new
            if let new { index(new) }
            return .pod(old)
        } else if key.hasPrefix("nodes/") {
            let name = String(key.dropFirst("nodes//".count))
            nodes[name] = object.map { NodeFacts(key: key, version: version, object: $0) }
            let at = nodeNames.partitioningIndex { $0 >= name }
            let listed = at < nodeNames.count && nodeNames[at] == name
            if object == nil, listed { nodeNames.remove(at: at) }
            if object != nil, !listed { nodeNames.insert(name, at: at) }
            return .node
        } else if key.hasPrefix("replicasets/") {
            let old = replicaSets[key]
            if let old {
                ownerKeys[old.meta.uid] = nil
                if let owner = old.meta.controller { replicaSetsByOwner[owner.uid]?.remove(key) }
            }
            let new = object.map { ReplicaSetFacts(key: key, version: version, object: $0) }
            replicaSets[key] = new
            if let new {
                ownerKeys[new.meta.uid] = key
                if let owner = new.meta.controller { replicaSetsByOwner[owner.uid, default: []].insert(key) }
            }
            return .replicaSet(old)
        } else if key.hasPrefix("deployments/") {
            let old = deployments[key]
            if let old { ownerKeys[old.meta.uid] = nil }
            let new = object.map { DeploymentFacts(key: key, version: version, object: $0) }
            deployments[key] = new
            if let new { ownerKeys[new.meta.uid] = key }
            return .deployment(old)
        } else if key.hasPrefix(Self.leasePrefix) {
            let name = String(key.dropFirst(Self.leasePrefix.count))
            let old = leaseRenewals[name]
            leaseRenewals[name] = object.map { $0[path: ["spec", "renewTime"]]?.stringValue ?? "" }
            return .lease(old)
        } else if key.hasPrefix("events/") {
            setEvent(key, object, version: version)
            return .event
        }
        return .none
    }

    /// What a change replaced, for deciding what to look at again.
    enum Previous {
        case pod(PodFacts?)
        case node
        case replicaSet(ReplicaSetFacts?)
        case deployment(DeploymentFacts?)
        case lease(String?)
        case event
        case none
    }

    private mutating func setEvent(_ key: String, _ object: JSON?, version: UInt64) {
        let old = events[key]
        if let old, eventsByCorrelation[old.correlation] == key { eventsByCorrelation[old.correlation] = nil }
        let new = object.map { EventFacts(key: key, version: version, createdVersion: old?.createdVersion ?? version, object: $0) }
        events[key] = new
        if let new {
            eventsByCorrelation[new.correlation] = key
            if old == nil { eventQueue.append((version, key)) }
        }
        while eventQueueHead < eventQueue.count, !isCurrent(eventQueue[eventQueueHead]) { eventQueueHead += 1 }
        if eventQueue.count - events.count > events.count + 1024 {  // the entries of deleted events dominate
            eventQueue = eventQueue[eventQueueHead...].filter(isCurrent)
            eventQueueHead = 0
        }
    }

    /// Puts the events in the order they were created, after a whole state was loaded in key
    /// order (changes arrive in version order and keep it).
    mutating func orderEventsByAge() {
        eventQueue.sort { ($0.version, $0.key) < ($1.version, $1.key) }
        eventQueueHead = 0
    }

    private func isCurrent(_ entry: (version: UInt64, key: String)) -> Bool { events[entry.key]?.createdVersion == entry.version }

    /// The `count` oldest events.
    func oldestEvents(_ count: Int) -> [EventFacts] {
        var oldest: [EventFacts] = []
        var i = eventQueueHead
        while oldest.count < count, i < eventQueue.count {
            if isCurrent(eventQueue[i]), let event = events[eventQueue[i].key] { oldest.append(event) }
            i += 1
        }
        return oldest
    }

    private mutating func index(_ pod: PodFacts) {
        if let owner = pod.meta.controller {
            podsByOwner[owner.uid, default: []].insert(pod.meta.key)
        } else {
            orphanPods[pod.meta.namespace, default: []].insert(pod.meta.key)
        }
        if let node = pod.nodeName {
            podsByNode[node, default: []].insert(pod.meta.key)
            if pod.holdsResources { load[node, default: NodeLoad()].add(pod) }
        }
    }

    private mutating func unindex(_ pod: PodFacts) {
        if let owner = pod.meta.controller {
            podsByOwner[owner.uid]?.remove(pod.meta.key)
            if podsByOwner[owner.uid]?.isEmpty == true { podsByOwner[owner.uid] = nil }
        } else {
            orphanPods[pod.meta.namespace]?.remove(pod.meta.key)
        }
        if let node = pod.nodeName {
            podsByNode[node]?.remove(pod.meta.key)
            if pod.holdsResources { load[node]?.remove(pod) }
        }
    }

    /// The pods whose controller has `uid`.
    public func pods(ownedBy uid: String) -> [PodFacts] {
        (podsByOwner[uid] ?? []).compactMap { pods[$0] }
    }

    /// The pods of `namespace` that have no controller.
    func orphans(in namespace: String) -> [PodFacts] {
        (orphanPods[namespace] ?? []).compactMap { pods[$0] }
    }

    public func replicaSets(ownedBy uid: String) -> [ReplicaSetFacts] {
        (replicaSetsByOwner[uid] ?? []).compactMap { replicaSets[$0] }
    }

    func pods(on node: String) -> [PodFacts] {
        (podsByNode[node] ?? []).compactMap { pods[$0] }
    }

    /// Whether an object with this uid exists among the owner kinds.
    public func ownerExists(_ uid: String) -> Bool { ownerKeys[uid] != nil }

    /// The ReplicaSet with this uid.
    public func replicaSet(uid: String) -> ReplicaSetFacts? { ownerKeys[uid].flatMap { replicaSets[$0] } }

    /// The Deployment with this uid.
    public func deployment(uid: String) -> DeploymentFacts? { ownerKeys[uid].flatMap { deployments[$0] } }

    /// What the bound, unfinished pods of `node` request.
    public func requested(on node: String) -> Resources { load[node]?.requested ?? Resources() }
}

extension Array {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along
    /// the array (binary search).
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
