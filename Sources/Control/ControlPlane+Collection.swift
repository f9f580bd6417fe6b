import Master

/// The garbage collector. A dependent whose controller no longer exists (by uid) is deleted
/// (Kubernetes' `Background` propagation), and so is a pod bound to a node whose Node object is
/// gone for good. An owner deleted with `propagationPolicy: Orphan` (the `orphan` finalizer) has
/// its dependents' ownerReferences removed first; with `Foreground` (the `foregroundDeletion`
/// finalizer) its dependents are deleted first; then the finalizer goes, and with it the owner.
extension ControlPlane {
    static let orphanFinalizer = "orphan"
    static let foregroundFinalizer = "foregroundDeletion"

    mutating func collect(_ key: String) {
        let work = Work.collect(key)
        if let owner = view.replicaSets[key]?.meta ?? view.deployments[key]?.meta, owner.deleting {
            return finishDeletion(of: owner, work: work)
        }
        if let pod = view.pods[key] {
            if let node = pod.nodeName, view.nodes[node] == nil {
                return write(.delete(key: key, expectedVersion: pod.meta.version), for: work)
            }
            guard let owner = pod.meta.controller, !view.ownerExists(owner.uid) else { return }
            deletePod(pod, for: work)
        } else if let rs = view.replicaSets[key], let owner = rs.meta.controller, !view.ownerExists(owner.uid) {
            write(.delete(key: key, expectedVersion: rs.meta.version), for: work)
        }
    }

    /// An owner marked for deletion with the `orphan` or `foregroundDeletion` finalizer.
    mutating func finishDeletion(of owner: ObjectMeta, work: Work) {
        let finalizers = (owner.object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue)
        let pods = view.pods(ownedBy: owner.uid).sorted { $0.meta.key < $1.meta.key }
        let replicaSets = view.replicaSets(ownedBy: owner.uid).sorted { $0.meta.key < $1.meta.key }
        let finalizer: String
        if finalizers.contains(Self.orphanFinalizer) {
            finalizer = Self.orphanFinalizer
            for dependent in pods.map(\.meta) + replicaSets.map(\.meta) {
                var object = dependent.object
                object[path: ["metadata", "ownerReferences"]] = .array((object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter {
                    $0["uid"] != .string(owner.uid)
                })
                write(.update(key: dependent.key, object: object, expectedVersion: dependent.version), for: work)
            }
        } else if finalizers.contains(Self.foregroundFinalizer) {
            finalizer = Self.foregroundFinalizer
            for pod in pods { deletePod(pod, for: work) }
            for rs in replicaSets where !rs.meta.deleting {
                write(.delete(key: rs.meta.key, expectedVersion: rs.meta.version), for: work)
            }
        } else {
            return
        }
        guard pods.isEmpty, replicaSets.isEmpty else { return }  // looked at again as they go
        let remaining = finalizers.filter { $0 != finalizer }
        if remaining.isEmpty {
            write(.delete(key: owner.key, expectedVersion: owner.version), for: work)
        } else {
            var object = owner.object
            object[path: ["metadata", "finalizers"]] = .array(remaining.map(JSON.string))
            write(.update(key: owner.key, object: object, expectedVersion: owner.version), for: work)
        }
    }
}
