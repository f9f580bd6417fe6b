import Control
import Master
import Raft
import Store

/// The control plane's oracles, on the committed history as it grows: a replica of the store and
/// of the control plane's view, fed every committed entry in order, and the invariants checked
/// at each change.
///
/// - Every update and delete that applies is a compare-and-swap (every writer — API and
///   controllers — names the version its decision read).
/// - A pod is bound at most once: `spec.nodeName`, once set, never changes.
/// - What the pods bound to a node request never exceeds its allocatable.
/// - A node that kept renewing its Lease is never marked unreachable: no marking decided (as the
///   second it stamps says) after a renewal committed, within that renewal's grace period.
/// - A ReplicaSet's controller never creates a pod for a shortfall it already made up: no pod
///   creation leaves a ReplicaSet with more active pods than the most replicas it asked for since
///   it last had no more pods than asked, for a decision's time, with those replicas (creations
///   decided before a scale-down may still commit). Creations an old leader decided and a new
///   one committed are not judged: they were decided before the state they commit into.
/// - A rolling update never specifies more than `replicas + maxSurge` pods (as the scaling
///   decision read them: its `max-replicas` annotation), and never scales an old ReplicaSet down
///   below `replicas − maxUnavailable` available (counted from the ReplicaSets' statuses, as the
///   Deployment controller counts). Scale-downs an old leader decided are not judged: they are
///   compare-and-swaps on the ReplicaSet, made against the Deployment as it was then.
/// - An event reports what happened: a `Scheduled` event names the node its pod is bound to (when
///   the pod still exists).
struct ControlChecker {
    var store = KVStore()
    var view = ControlPlane()
    var checked = 0
    /// When each node's recent Lease renewals committed.
    var renewalsNs: [String: [UInt64]] = [:]
    let nodeGraceNs: UInt64
    /// When the availability a Deployment's ReplicaSets report, or its own spec, last changed.
    var availabilityChangedNs: [String: UInt64] = [:]
    /// How long a decision may take to commit after it read the state.
    static let decisionWindowNs: UInt64 = 300_000_000
    /// Masters read the clock once per tick: a renewal's time there may be a tick early.
    static let tickSlackNs: UInt64 = 50_000_000
    var podsBound = 0
    /// Per ReplicaSet uid: the most replicas it asked for since it last had no more active pods,
    /// and when its replicas last changed.
    var allowance: [String: Int] = [:]
    var replicasChangedNs: [String: UInt64] = [:]

    init(nodeGraceNs: UInt64) {
        self.nodeGraceNs = nodeGraceNs
    }

    /// Checks the entries committed since the last call (`nowNs`: about when they committed).
    mutating func advance(_ committed: [Entry], nowNs: UInt64) -> Violation? {
        while checked < committed.count {
            let entry = committed[checked]
            checked += 1
            let applied = store.apply(entry)
            guard applied.position == entry.index, case .ok = applied.result, let request = applied.request else { continue }
            let key = request.operation.key
            let value: String?
            switch request.operation {
            case .create(_, let v): value = v
            case .update(_, let v, let expected):
                guard expected != nil else { return Violation(invariant: "compare-and-swap", detail: "entry \(entry.index) updated \(key) without naming the version it read") }
                value = v
            case .delete(_, let expected):
                guard expected != nil else { return Violation(invariant: "compare-and-swap", detail: "entry \(entry.index) deleted \(key) without naming the version it read") }
                value = nil
            }
            let old = applied.previous.flatMap { try? JSONParser.parse(Array($0.value.utf8)) }
            let new = value.flatMap { try? JSONParser.parse(Array($0.utf8)) }
            let before = view.view
            view.observe(key: key, value: value, version: entry.index)
            // An entry of an older term than the newest committed one was decided by an earlier leader.
            let late = entry.term < committed[committed.count - 1].term
            if let v = check(key, old: old, new: new, before: before, at: entry.index, late: late, nowNs: nowNs) { return v }
        }
        return nil
    }

    /// A pod's status as agents write it never goes back: a terminal phase is final, and each
    /// container's progress only grows (see `progress(of:)`), so a late write of an older status
    /// cannot undo a newer one.
    func statusMovesForward(_ key: String, old: JSON?, new: JSON?, at index: LogIndex) -> Violation? {
        guard let old, let new else { return nil }
        let was = old[path: ["status", "phase"]]?.stringValue, now = new[path: ["status", "phase"]]?.stringValue
        if was == "Succeeded" || was == "Failed", now != was {
            return Violation(invariant: "pod status moves forward", detail: "entry \(index) took \(key) from \(was!) back to \(now ?? "no phase")")
        }
        let before = old[path: ["status", "containerStatuses"]]?.arrayValue ?? []
        for status in new[path: ["status", "containerStatuses"]]?.arrayValue ?? [] {
            guard let name = status["name"], let earlier = before.first(where: { $0["name"] == name }),
                let from = Self.progress(of: earlier), let to = Self.progress(of: status), to < from
            else { continue }
            return Violation(invariant: "pod status moves forward", detail: "entry \(index) took \(key)'s container \(name.stringValue ?? "") back from \(from) to \(to) (restarts, stage)")
        }
        return nil
    }

    /// How far a container has come, as its status tells: its restart count, then the stage of
    /// its current run (0 before it runs, 1 running, 2 ended: terminated, or waiting to start
    /// again after a run).
    static func progress(of status: JSON) -> Progress? {
        guard let restarts = status["restartCount"]?.intValue, let state = status["state"] else { return nil }
        let stage: Int
        if state["running"] != nil {
            stage = 1
        } else if state["terminated"] != nil {
            stage = 2
        } else {
            let reason = state[path: ["waiting", "reason"]]?.stringValue
            stage = reason != "ContainerCreating" && status[path: ["lastState", "terminated"]] != nil ? 2 : 0
        }
        return Progress(restarts: restarts, stage: stage)
    }

    /// A container's progress, ordered by restarts and then stage.
    struct Progress: Comparable, CustomStringConvertible {
        var restarts: Int
        var stage: Int
        static func < (a: Progress, b: Progress) -> Bool { (a.restarts, a.stage) < (b.restarts, b.stage) }
        var description: String { "(\(restarts), \(stage))" }
    }

    /// The earliest the controller can have decided to mark `node` unreachable: the second it
    /// stamped on the marking (the `Ready=Unknown` condition's transition, the unreachable taint's
    /// `timeAdded`). A decision commits as fast as the log moves, which under loss and pauses can
    /// take far longer than a fixed window; the stamp says when the state was read.
    static func markingDecidedNs(_ node: JSON, nowNs: UInt64) -> UInt64 {
        let ready = (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" && $0["status"] == "Unknown" }
        let taint = (node[path: ["spec", "taints"]]?.arrayValue ?? []).first { $0["key"] == .string(Defaulting.unreachableTaint) }
        let stamps = [ready?["lastTransitionTime"], taint?["timeAdded"]].compactMap { $0?.stringValue.flatMap(Timestamp.seconds) }
        guard let seconds = stamps.max(), seconds >= 0, UInt64(seconds) * 1_000_000_000 >= Simulation.wallEpochNs else {
            return nowNs &- decisionWindowNs
        }
        return min(UInt64(seconds) * 1_000_000_000 - Simulation.wallEpochNs, nowNs)
    }

    mutating func check(_ key: String, old: JSON?, new: JSON?, before: ClusterView, at index: LogIndex, late: Bool, nowNs: UInt64) -> Violation? {
        if key.hasPrefix("pods/") {
            let was = old?[path: ["spec", "nodeName"]]?.stringValue, now = new?[path: ["spec", "nodeName"]]?.stringValue
            if let was, new != nil, now != was {
                return Violation(invariant: "bound once", detail: "entry \(index) moved \(key) from node \(was) to \(now ?? "none")")
            }
            if let v = statusMovesForward(key, old: old, new: new, at: index) { return v }
            if let owner = OwnerRef.controller(of: new ?? old ?? [:]), let rs = view.view.replicaSet(uid: owner.uid) {
                let active = view.view.pods(ownedBy: owner.uid).filter(\.isActive).count
                if old == nil, new != nil, !late, active > (allowance[owner.uid] ?? rs.replicas) {
                    return Violation(invariant: "created once", detail: "entry \(index) created \(key): \(rs.meta.name) has \(active) active pods for at most \(allowance[owner.uid] ?? rs.replicas) asked")
                }
                if active <= rs.replicas, nowNs >= (replicasChangedNs[owner.uid] ?? 0) + Self.decisionWindowNs { allowance[owner.uid] = rs.replicas }
            }
            if was == nil, let node = now {
                podsBound += 1
                if let facts = view.view.nodes[node] {
                    let requested = view.view.requested(on: node)
                    if requested.cpuMilli > facts.allocatable.cpuMilli || requested.memoryMilli > facts.allocatable.memoryMilli || requested.pods > facts.allocatable.pods {
                        return Violation(invariant: "allocatable", detail: "entry \(index) bound \(key) to \(node): its pods request \(requested), more than its allocatable \(facts.allocatable)")
                    }
                }
            }
        } else if key.hasPrefix("nodes//"), let new {
            let name = String(key.dropFirst("nodes//".count))
            func unreachable(_ node: JSON?) -> Bool {
                (node?[path: ["spec", "taints"]]?.arrayValue ?? []).contains { $0["key"] == .string(Defaulting.unreachableTaint) }
                    || (node?[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "Unknown" }
            }
            if unreachable(new), !unreachable(old) {
                let decidedNs = Self.markingDecidedNs(new, nowNs: nowNs)
                let renewed = (renewalsNs[name] ?? []).filter { $0 + nodeGraceNs > nowNs + Self.tickSlackNs && $0 + Self.tickSlackNs < decidedNs }
                if let last = renewed.last {
                    return Violation(invariant: "healthy node kept", detail: "entry \(index) marked \(name) unreachable, decided \((decidedNs - last) / 1_000_000) ms or more after its Lease renewal committed")
                }
            }
        } else if key.hasPrefix("leases/kube-node-lease/"), let renewTime = new?[path: ["spec", "renewTime"]], renewTime != old?[path: ["spec", "renewTime"]] {
            let name = String(key.dropFirst("leases/kube-node-lease/".count))
            renewalsNs[name] = (renewalsNs[name] ?? []).filter { $0 + nodeGraceNs > nowNs } + [nowNs]
        } else if key.hasPrefix("events/"), old == nil, let event = new, event["reason"] == "Scheduled" {
            let namespace = event[path: ["involvedObject", "namespace"]]?.stringValue ?? "", name = event[path: ["involvedObject", "name"]]?.stringValue ?? ""
            if let pod = view.view.pods["pods/\(namespace)/\(name)"], pod.meta.uid == event[path: ["involvedObject", "uid"]]?.stringValue,
               event["message"] != .string("Successfully assigned \(namespace)/\(name) to \(pod.nodeName ?? "")") {
                return Violation(invariant: "events are true", detail: "entry \(index) reports \(event["message"]?.stringValue ?? ""), but \(name) is bound to \(pod.nodeName ?? "no node")")
            }
        } else if key.hasPrefix("deployments/") {
            if old?["spec"] != new?["spec"] { availabilityChangedNs[key] = nowNs }
        } else if key.hasPrefix("replicasets/") {
            let rs = (new ?? old).map { ReplicaSetFacts(key: key, version: index, object: $0) }
            if let rs, new != nil {
                if old?[path: ["spec", "replicas"]] != new?[path: ["spec", "replicas"]] { replicasChangedNs[rs.meta.uid] = nowNs }
                allowance[rs.meta.uid] = max(allowance[rs.meta.uid] ?? rs.replicas, rs.replicas)
            }
            guard let owner = rs?.meta.controller, let d = view.view.deployment(uid: owner.uid) else { return nil }
            let owned = view.view.replicaSets(ownedBy: owner.uid)
            let total = owned.reduce(0) { $0 + $1.replicas }
            let oldReplicas = old?[path: ["spec", "replicas"]]?.intValue ?? 0, newReplicas = new?[path: ["spec", "replicas"]]?.intValue ?? 0
            let availability = owned.reduce(0) { $0 + min($1.availableReplicas, $1.replicas) }
            let beforeAvailability = before.replicaSets(ownedBy: owner.uid).reduce(0) { $0 + min($1.availableReplicas, $1.replicas) }
            // Availability the ReplicaSets report, or the Deployment's spec, changed lately: a
            // decision may have read the old.
            let settled = nowNs >= (availabilityChangedNs[d.meta.key] ?? 0) + Self.decisionWindowNs
            if old?["status"]?["availableReplicas"] != new?["status"]?["availableReplicas"] { availabilityChangedNs[d.meta.key] = nowNs }
            if d.recreate { return nil }
            if newReplicas > oldReplicas {
                // The decision's reading of the Deployment travels with it, as in Kubernetes: the
                // `max-replicas` annotation (a decision may commit long after it was made, when a
                // new leader commits an old leader's entry).
                guard let allowed = new?[path: ["metadata", "annotations", ControlPlane.maxReplicasAnnotation]]?.stringValue.flatMap({ Int($0) }) else {
                    return Violation(invariant: "rollout surge", detail: "entry \(index) scaled \(key) up without the max-replicas annotation")
                }
                if total > allowed {
                    return Violation(invariant: "rollout surge", detail: "entry \(index) scaled \(key) to \(newReplicas): \(total) pods specified for \(d.meta.name), over replicas + maxSurge = \(allowed)")
                }
            } else if newReplicas < oldReplicas, new != nil, ControlPlane.withoutHash(rs!.template) != d.template,
                      settled, !late {
                // Pods that are not available may go (Kubernetes cleans them up first); available
                // ones only down to the minimum.
                let minimum = d.replicas - d.fenceposts.unavailable
                if availability < minimum, availability < beforeAvailability {
                    return Violation(invariant: "rollout availability", detail: "entry \(index) scaled old \(key) down to \(newReplicas): \(availability) available for \(d.meta.name), under replicas − maxUnavailable = \(minimum)")
                }
            }
        }
        return nil
    }
}

extension Simulation {
    /// Why the control plane has not yet reached what it was asked for, on the leader's view, or
    /// nil: every Deployment runs its replicas with its current template and reports so, no old
    /// ReplicaSet keeps a pod, every pod is bound and running, no dependent outlives its owner,
    /// and no node is marked unreachable or not ready.
    func controlUnconverged(_ view: ClusterView) -> String? {
        for key in view.deployments.keys.sorted() {
            let d = view.deployments[key]!
            guard !d.meta.deleting else { continue }
            let owned = view.replicaSets(ownedBy: d.meta.uid)
            let current = owned.filter { ControlPlane.withoutHash($0.template) == d.template }
            guard current.count == 1, let rs = current.first else { return "\(key) has \(current.count) ReplicaSets of its template" }
            if rs.replicas != d.replicas || rs.availableReplicas != d.replicas {
                return "\(key): its ReplicaSet asks \(rs.replicas) and has \(rs.availableReplicas) available of \(d.replicas)"
            }
            for old in owned where old.meta.key != rs.meta.key {
                if old.replicas != 0 || view.pods(ownedBy: old.meta.uid).contains(where: \.isActive) { return "\(key): old \(old.meta.key) still runs" }
            }
            let status = d.meta.object["status"] ?? [:]
            if status["observedGeneration"]?.intValue != d.generation || status["availableReplicas"]?.intValue != d.replicas
                || status["updatedReplicas"]?.intValue != d.replicas {
                return "\(key): status \(status.text) for generation \(d.generation), \(d.replicas) replicas"
            }
        }
        let dead = deadAgent.map { agents[$0].name }
        for key in view.pods.keys.sorted() {
            let pod = view.pods[key]!
            if pod.nodeName != nil, pod.nodeName == dead {
                // Its agent is gone: the pod must have been evicted; it stays Terminating, as in Kubernetes.
                if !pod.meta.deleting { return "\(key) was not evicted from the dead \(dead!)" }
                continue
            }
            if pod.meta.deleting { return "\(key) is still being deleted" }
            if pod.nodeName == nil || pod.phase != "Running" { return "\(key) is \(pod.phase) on \(pod.nodeName ?? "no node")" }
            if let owner = pod.meta.controller, !view.ownerExists(owner.uid) { return "\(key) outlives its owner \(owner.name)" }
        }
        for key in view.replicaSets.keys.sorted() {
            if let owner = view.replicaSets[key]!.meta.controller, !view.ownerExists(owner.uid) { return "\(key) outlives its owner \(owner.name)" }
        }
        for agent in agents {
            guard let node = view.nodes[agent.name] else {
                if agent.name == dead { continue }  // it died before it registered
                return "\(agent.name) is not registered"
            }
            if agent.name == dead {
                if node.readyStatus != "Unknown" { return "the dead \(agent.name) is \(node.readyStatus ?? "not reported"), not Unknown" }
                continue
            }
            if node.readyStatus != "True" { return "\(agent.name) is \(node.readyStatus ?? "not reported")" }
            if !(node.meta.object[path: ["spec", "taints"]]?.arrayValue ?? []).isEmpty { return "\(agent.name) is still tainted" }
        }
        // Every container still running on a live node belongs to a pod bound there.
        var boundTo: [String: String] = [:]
        for pod in view.pods.values { if let node = pod.nodeName { boundTo[pod.meta.uid] = node } }
        for (a, agent) in agents.enumerated() where a != deadAgent {
            for key in agent.containers.keys.sorted() where boundTo[key.podUID] != agent.name {
                return "\(agent.name) still runs \(key), of a pod \(boundTo[key.podUID].map { "bound to \($0)" } ?? "that no longer exists")"
            }
        }
        return nil
    }
}
