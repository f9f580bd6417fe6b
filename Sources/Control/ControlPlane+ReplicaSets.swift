import Master

/// The ReplicaSet controller: as many active pods as `spec.replicas`, adopted and released by
/// selector, created from the template and deleted in Kubernetes' order; and the status.
extension ControlPlane {
    /// Pods created or deleted per ReplicaSet per round at most (Kubernetes' burst is 500).
    static let replicaSetBurst = 500

    mutating func syncReplicaSet(_ key: String) {
        guard let rs = view.replicaSets[key], let selector = rs.selector, !rs.meta.deleting else { return }
        let work = Work.replicaSet(key)
        var claimed = false
        var owned: [PodFacts] = []
        for pod in view.pods(ownedBy: rs.meta.uid).sorted(by: { $0.meta.key < $1.meta.key }) {
            if selector.matches(pod.meta.labels) {
                owned.append(pod)
            } else if !pod.meta.deleting {
                var object = pod.meta.object
                object[path: ["metadata", "ownerReferences"]] = .array((object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter {
                    $0["uid"] != .string(rs.meta.uid)
                })
                write(.update(key: pod.meta.key, object: object, expectedVersion: pod.meta.version), for: work)
                claimed = true
            }
        }
        for pod in view.orphans(in: rs.meta.namespace).sorted(by: { $0.meta.key < $1.meta.key })
        where pod.isActive && selector.matches(pod.meta.labels) {
            var object = pod.meta.object
            object[path: ["metadata", "ownerReferences"]] = .array((object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []) + [OwnerRef.reference(to: rs.meta.object)])
            write(.update(key: pod.meta.key, object: object, expectedVersion: pod.meta.version), for: work)
            claimed = true
        }
        if claimed { return }  // counted again once adoptions and releases applied

        let countsTerminating = options.plantedBugs.contains(.replicaSetCountsTerminatingPods)
        let active = owned.filter { countsTerminating ? !$0.isTerminal : $0.isActive }
        let difference = active.count - rs.replicas
        if difference < 0 {
            var body: JSON = ["metadata": ["generateName": .string(rs.meta.name + "-"), "ownerReferences": [OwnerRef.reference(to: rs.meta.object)]],
                              "spec": rs.template["spec"] ?? [:]]
            body[path: ["metadata", "labels"]] = rs.template[path: ["metadata", "labels"]]
            body[path: ["metadata", "annotations"]] = rs.template[path: ["metadata", "annotations"]]
            for _ in 0..<min(-difference, Self.replicaSetBurst) {
                create(.pods, in: rs.meta.namespace, body, for: work) { name in
                    EventNote(about: rs.meta, component: "replicaset-controller", reason: "SuccessfulCreate", message: "Created pod: \(name)")
                }
            }
        } else if difference > 0 {
            for pod in Self.deletionOrder(active).prefix(min(difference, Self.replicaSetBurst)) {
                deletePod(pod, for: work, event: EventNote(about: rs.meta, component: "replicaset-controller", reason: "SuccessfulDelete",
                                                           message: "Deleted pod: \(pod.meta.name)"))
            }
        }
        syncReplicaSetStatus(rs, active: active)
    }

    /// Which pods go first when scaling down (Kubernetes' `ActivePodsWithRanks`): unscheduled,
    /// then pending, unknown, running; not ready before ready; more siblings on the same node;
    /// ready for less time; more restarts; newer; then by name.
    static func deletionOrder(_ pods: [PodFacts]) -> [PodFacts] {
        func phaseRank(_ phase: String) -> Int { phase == "Pending" ? 0 : phase == "Unknown" ? 1 : 2 }
        var siblings: [String: Int] = [:]
        for pod in pods { if let node = pod.nodeName { siblings[node, default: 0] += 1 } }
        return pods.sorted { a, b in
            if (a.nodeName == nil) != (b.nodeName == nil) { return a.nodeName == nil }
            if phaseRank(a.phase) != phaseRank(b.phase) { return phaseRank(a.phase) < phaseRank(b.phase) }
            if a.ready != b.ready { return !a.ready }
            let sa = a.nodeName.map { siblings[$0] ?? 0 } ?? 0, sb = b.nodeName.map { siblings[$0] ?? 0 } ?? 0
            if sa != sb { return sa > sb }
            if a.ready, b.ready, a.readySinceSeconds != b.readySinceSeconds { return (a.readySinceSeconds ?? 0) > (b.readySinceSeconds ?? 0) }
            if a.restarts != b.restarts { return a.restarts > b.restarts }
            if a.meta.creationTimestamp != b.meta.creationTimestamp { return a.meta.creationTimestamp > b.meta.creationTimestamp }
            return a.meta.key > b.meta.key
        }
    }

    /// `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` (ready for
    /// `minReadySeconds`) and `observedGeneration`, written when they change.
    mutating func syncReplicaSetStatus(_ rs: ReplicaSetFacts, active: [PodFacts]) {
        let templateLabels = (rs.template[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        let fullyLabeled = active.filter { pod in templateLabels.allSatisfy { pod.meta.labels[$0.key] == $0.value } }.count
        let ready = active.filter(\.ready)
        let available = ready.filter { $0.isAvailable(minReadySeconds: rs.minReadySeconds, nowSeconds: nowSeconds) }.count
        if available < ready.count, let soonest = ready.compactMap(\.readySinceSeconds).filter({ $0 + Int64(rs.minReadySeconds) > nowSeconds }).min() {
            after(UInt64(soonest + Int64(rs.minReadySeconds)) * 1_000_000_000, .replicaSet(rs.meta.key))
        }
        var status = rs.status
        status["replicas"] = .number(active.count)
        status["fullyLabeledReplicas"] = .number(fullyLabeled)
        status["readyReplicas"] = .number(ready.count)
        status["availableReplicas"] = .number(available)
        status["observedGeneration"] = .number(rs.generation)
        guard status != rs.status else { return }
        var object = rs.meta.object
        object["status"] = status
        update(rs.meta, .replicaSets, status: true, to: object, for: .replicaSet(rs.meta.key))
    }
}
