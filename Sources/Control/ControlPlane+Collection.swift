import Master

/// The garbage collector: a dependent whose controller no longer exists (by uid) is deleted,
/// and so is a pod bound to a node whose Node object is gone for good.
extension ControlPlane {
    mutating func collect(_ key: String) {
        let work = Work.collect(key)
        if let pod = view.pods[key] {
            if let node = pod.nodeName, view.nodes[node] == nil {
                return write(.delete(key: key, expectedVersion: pod.meta.version), for: work, by: "garbagecollector")
            }
            guard let owner = pod.meta.controller, !view.ownerExists(owner.uid) else { return }
            deletePod(pod, for: work, by: "garbagecollector")
        } else if let rs = view.replicaSets[key], let owner = rs.meta.controller, !view.ownerExists(owner.uid) {
            write(.delete(key: key, expectedVersion: rs.meta.version), for: work, by: "garbagecollector")
        }
    }
}
