import Master

/// The Deployment controller: one ReplicaSet per pod template (`NAME-<pod-template-hash>`),
/// rolled from old to new within `maxSurge` and `maxUnavailable` (or all at once for
/// `Recreate`), numbered by revision, old ones kept up to `revisionHistoryLimit`; and the status
/// `kubectl rollout status` reads.
extension ControlPlane {
    static let hashLabel = "pod-template-hash"
    /// The Deployment's replicas, and replicas plus surge, as the last scaling decision read them.
    public static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    public static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"

    mutating func syncDeployment(_ key: String) {
        guard let d = view.deployments[key], d.selector != nil, !d.meta.deleting else { return }
        let work = Work.deployment(key)
        let owned = view.replicaSets(ownedBy: d.meta.uid).sorted { ($0.meta.creationTimestamp, $0.meta.key) < ($1.meta.creationTimestamp, $1.meta.key) }
        let newRS = owned.last { Self.withoutHash($0.template) == d.template }
        let olds = owned.filter { $0.meta.key != newRS?.meta.key }
        let maxRevision = owned.map(\.revision).max() ?? 0
        defer { syncDeploymentStatus(d, newRS: newRS, all: owned) }
        if d.paused { return }
        guard let newRS else {
            return createReplicaSet(for: d, olds: olds, revision: maxRevision + 1, work: work)
        }
        if olds.contains(where: { $0.revision > newRS.revision }) {
            // Rolled back to an older template: it becomes the newest revision again.
            var object = newRS.meta.object
            object[path: ["metadata", "annotations", Self.revisionAnnotation]] = .string(String(maxRevision + 1))
            return update(newRS.meta, .replicaSets, to: object, for: work)
        }
        // Wait until every ReplicaSet's status counts what its spec asks: availability is then current.
        let settled = owned.allSatisfy { $0.status["observedGeneration"]?.intValue ?? 0 >= $0.generation && $0.statusReplicas == $0.replicas }
        if d.recreate {
            if let old = olds.first(where: { $0.replicas > 0 }) { return scale(old, to: 0, for: d, work: work) }
            if olds.contains(where: { rs in view.pods(ownedBy: rs.meta.uid).contains(where: \.isActive) }) { return }
            if newRS.replicas != d.replicas { scale(newRS, to: d.replicas, for: d, work: work) }
            return cleanUp(d, olds: olds, work: work)
        }
        let (surge, unavailable) = d.fenceposts
        let total = owned.reduce(0) { $0 + $1.replicas }
        if newRS.replicas > d.replicas { return scale(newRS, to: d.replicas, for: d, work: work) }
        if newRS.replicas < d.replicas, total < d.replicas + surge {
            return scale(newRS, to: newRS.replicas + min(d.replicas + surge - total, d.replicas - newRS.replicas), for: d, work: work)
        }
        let oldReplicas = olds.reduce(0) { $0 + $1.replicas }
        if oldReplicas > 0, settled {
            let minAvailable = options.plantedBugs.contains(.rolloutIgnoresMaxUnavailable) ? 0 : d.replicas - unavailable
            scaleDownOld(olds, newRS: newRS, total: total, minAvailable: minAvailable, for: d, work: work)
            return
        }
        if oldReplicas == 0 { cleanUp(d, olds: olds, work: work) }
    }

    /// Kubernetes' `reconcileOldReplicaSets`: first the old pods that are not available anyway,
    /// then available ones down to `minAvailable`, oldest ReplicaSets first.
    mutating func scaleDownOld(_ olds: [ReplicaSetFacts], newRS: ReplicaSetFacts, total: Int, minAvailable: Int, for d: DeploymentFacts, work: Work) {
        let newUnavailable = max(0, newRS.replicas - newRS.availableReplicas)
        var budget = total - minAvailable - newUnavailable
        guard budget > 0 else { return }
        var targets: [String: Int] = [:]
        for rs in olds where rs.replicas > rs.availableReplicas && budget > 0 {
            let down = min(budget, rs.replicas - rs.availableReplicas)
            targets[rs.meta.key] = rs.replicas - down
            budget -= down
        }
        let available = olds.reduce(newRS.availableReplicas) { $0 + $1.availableReplicas }
        var more = available - minAvailable
        for rs in olds where more > 0 {
            let current = targets[rs.meta.key] ?? rs.replicas
            let down = min(current, more, rs.availableReplicas)
            if down > 0 { targets[rs.meta.key] = current - down }
            more -= down
        }
        for rs in olds { if let target = targets[rs.meta.key], target != rs.replicas { scale(rs, to: target, for: d, work: work) } }
    }

    mutating func createReplicaSet(for d: DeploymentFacts, olds: [ReplicaSetFacts], revision: Int, work: Work) {
        let hash = Self.templateHash(d.template)
        var template = d.template
        template[path: ["metadata", "labels", Self.hashLabel]] = .string(hash)
        var selector = d.meta.object[path: ["spec", "selector"]] ?? [:]
        selector[path: ["matchLabels", Self.hashLabel]] = .string(hash)
        let (surge, _) = d.fenceposts
        let total = olds.reduce(0) { $0 + $1.replicas }
        let oldPodsRun = olds.contains { rs in rs.replicas > 0 || view.pods(ownedBy: rs.meta.uid).contains(where: \.isActive) }
        let replicas = d.recreate ? (oldPodsRun ? 0 : d.replicas) : max(0, min(d.replicas, d.replicas + surge - total))
        var labels = d.template[path: ["metadata", "labels"]] ?? [:]
        labels[Self.hashLabel] = .string(hash)
        let body: JSON = [
            "metadata": [
                "name": .string("\(d.meta.name)-\(hash)"), "labels": labels,
                "annotations": [Self.revisionAnnotation: .string(String(revision)), Self.desiredReplicasAnnotation: .string(String(d.replicas)),
                                Self.maxReplicasAnnotation: .string(String(d.replicas + surge))],
                "ownerReferences": [OwnerRef.reference(to: d.meta.object)],
            ],
            "spec": ["replicas": .number(replicas), "minReadySeconds": .number(d.minReadySeconds), "selector": selector, "template": template],
        ]
        create(.replicaSets, in: d.meta.namespace, body, for: work) { name in
            Self.scalingEvent(d, name, from: 0, to: replicas)
        }
    }

    /// `ScalingReplicaSet`, as the Deployment controller words it.
    static func scalingEvent(_ d: DeploymentFacts, _ replicaSet: String, from old: Int, to new: Int) -> EventNote {
        EventNote(about: d.meta, component: "deployment-controller", reason: "ScalingReplicaSet",
                  message: "Scaled \(new > old ? "up" : "down") replica set \(replicaSet) from \(old) to \(new)")
    }

    /// Sets `rs`'s replicas, recording what the decision read of `d`.
    mutating func scale(_ rs: ReplicaSetFacts, to replicas: Int, for d: DeploymentFacts, work: Work) {
        var object = rs.meta.object
        object[path: ["spec", "replicas"]] = .number(replicas)
        object[path: ["metadata", "annotations", Self.desiredReplicasAnnotation]] = .string(String(d.replicas))
        object[path: ["metadata", "annotations", Self.maxReplicasAnnotation]] = .string(String(d.replicas + d.fenceposts.surge))
        let event = replicas == rs.replicas ? nil : Self.scalingEvent(d, rs.meta.name, from: rs.replicas, to: replicas)
        update(rs.meta, .replicaSets, to: object, for: work, event: event)
    }

    /// Deletes old ReplicaSets scaled to zero beyond `revisionHistoryLimit`, oldest revision first.
    mutating func cleanUp(_ d: DeploymentFacts, olds: [ReplicaSetFacts], work: Work) {
        let idle = olds.filter { $0.replicas == 0 && $0.statusReplicas == 0 && !$0.meta.deleting }.sorted { ($0.revision, $0.meta.key) < ($1.revision, $1.meta.key) }
        for rs in idle.prefix(max(0, idle.count - d.revisionHistoryLimit)) {
            write(.delete(key: rs.meta.key, expectedVersion: rs.meta.version), for: work)
        }
    }

    mutating func syncDeploymentStatus(_ d: DeploymentFacts, newRS: ReplicaSetFacts?, all: [ReplicaSetFacts]) {
        let replicas = all.reduce(0) { $0 + $1.statusReplicas }
        let updated = newRS?.statusReplicas ?? 0
        let ready = all.reduce(0) { $0 + $1.readyReplicas }
        let available = all.reduce(0) { $0 + $1.availableReplicas }
        let (_, unavailable) = d.fenceposts
        var object = d.meta.object
        var status = object["status"] ?? [:]
        status["observedGeneration"] = .number(d.generation)
        status["replicas"] = .number(replicas)
        status["updatedReplicas"] = .number(updated)
        status["readyReplicas"] = .number(ready)
        status["availableReplicas"] = .number(available)
        status["unavailableReplicas"] = .number(max(0, all.reduce(0) { $0 + $1.replicas } - available))
        object["status"] = status
        if available >= d.replicas - unavailable {
            setCondition(&object, at: ["status", "conditions"], type: "Available", status: "True", reason: "MinimumReplicasAvailable",
                         message: "Deployment has minimum availability.", updateTimeField: "lastUpdateTime")
        } else {
            setCondition(&object, at: ["status", "conditions"], type: "Available", status: "False", reason: "MinimumReplicasUnavailable",
                         message: "Deployment does not have minimum availability.", updateTimeField: "lastUpdateTime")
        }
        if let newRS {
            let name = JSON.quoted(newRS.meta.name)
            let complete = updated == d.replicas && replicas == d.replicas && available == d.replicas && newRS.replicas == d.replicas
            if d.paused {
                setCondition(&object, at: ["status", "conditions"], type: "Progressing", status: "Unknown", reason: "DeploymentPaused",
                             message: "Deployment is paused", updateTimeField: "lastUpdateTime")
            } else if complete {
                setCondition(&object, at: ["status", "conditions"], type: "Progressing", status: "True", reason: "NewReplicaSetAvailable",
                             message: "ReplicaSet \(name) has successfully progressed.", updateTimeField: "lastUpdateTime")
            } else {
                progressing(d, newRS: name, status: status, object: &object)
            }
        }
        guard object != d.meta.object else { return }
        update(d.meta, .deployments, status: true, to: object, for: .deployment(d.meta.key))
    }

    /// The `Progressing` condition of a rollout under way (Kubernetes' `DeploymentProgressing` and
    /// `DeploymentTimedOut`): `ReplicaSetUpdated`, its `lastUpdateTime` renewed whenever more
    /// pods are updated, ready or available or fewer old ones remain; `ProgressDeadlineExceeded`
    /// (False) once `progressDeadlineSeconds` pass without progress.
    mutating func progressing(_ d: DeploymentFacts, newRS name: String, status: JSON, object: inout JSON) {
        let before = d.meta.object["status"] ?? [:]
        func count(_ status: JSON, _ field: String) -> Int { status[field]?.intValue ?? 0 }
        let progressed = count(status, "updatedReplicas") > count(before, "updatedReplicas")
            || count(status, "readyReplicas") > count(before, "readyReplicas")
            || count(status, "availableReplicas") > count(before, "availableReplicas")
            || count(status, "replicas") - count(status, "updatedReplicas") < count(before, "replicas") - count(before, "updatedReplicas")
        let previous = (before["conditions"]?.arrayValue ?? []).first { $0["type"] == "Progressing" }
        let lastUpdate = previous?["lastUpdateTime"]?.stringValue.flatMap(Timestamp.seconds)
        let running = (previous?["reason"] == "ReplicaSetUpdated" || previous?["reason"] == "ProgressDeadlineExceeded")
            && previous?["message"]?.stringValue?.contains(name) == true  // this ReplicaSet's rollout, not an earlier one's
        if !progressed, running, let lastUpdate {
            let deadline = lastUpdate + Int64(d.progressDeadlineSeconds)
            if deadline <= nowSeconds || previous?["reason"] == "ProgressDeadlineExceeded" {
                setCondition(&object, at: ["status", "conditions"], type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded",
                             message: "ReplicaSet \(name) has timed out progressing.", updateTimeField: "lastUpdateTime")
                return
            }
            after(UInt64(deadline) * 1_000_000_000, .deployment(d.meta.key))
        }
        setCondition(&object, at: ["status", "conditions"], type: "Progressing", status: "True", reason: "ReplicaSetUpdated",
                     message: "ReplicaSet \(name) is progressing.", updateTimeField: "lastUpdateTime", touch: progressed)
        if progressed || !running { after(UInt64(nowSeconds + Int64(d.progressDeadlineSeconds)) * 1_000_000_000, .deployment(d.meta.key)) }
    }

    /// A ReplicaSet's template without the `pod-template-hash` label, to compare with the
    /// Deployment's.
    public static func withoutHash(_ template: JSON) -> JSON {
        var template = template
        template[path: ["metadata", "labels", hashLabel]] = nil
        if template[path: ["metadata", "labels"]] == .object([:]) { template[path: ["metadata", "labels"]] = nil }
        return template
    }

    /// Kubernetes' pod-template-hash: FNV-32a of the template, its decimal digits encoded with
    /// the alphabet of generated names (`SafeEncodeString`).
    static func templateHash(_ template: JSON) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in template.text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(hash).unicodeScalars.map { alphabet[Int($0.value) % alphabet.count] })
    }
}
