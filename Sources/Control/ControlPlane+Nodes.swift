import Master

/// The node lifecycle controller: a node not heard from (its Lease not renewed) within the grace
/// period is marked `Ready=Unknown` and tainted `unreachable:NoExecute`; a node that reports not
/// ready is tainted `not-ready:NoExecute`; pods that do not tolerate a `NoExecute` taint are
/// evicted once their toleration runs out. The grace period runs from this leader's own
/// observations (`lastHeardNs`, reset by `lead`), so no failover makes a healthy node look lost.
extension ControlPlane {
    mutating func syncNode(_ name: String) {
        guard let node = view.nodes[name] else { return }
        let work = Work.node(name)
        let heard = lastHeardNs[name] ?? nowNs
        let silent = nowNs >= heard &+ options.nodeGracePeriodNs
        if !silent { after(heard + options.nodeGracePeriodNs, work) }

        var object = node.meta.object
        let now = JSON.string(Timestamp.text(seconds: nowSeconds))
        if silent, node.readyStatus != "Unknown" {
            // The status first, then (once it applied and the node is looked at again) the taint.
            setCondition(&object, at: ["status", "conditions"], type: "Ready", status: "Unknown", reason: "NodeStatusUnknown",
                         message: "Kubelet stopped posting node status.")
            return update(node.meta, .nodes, status: true, to: object, for: work,
                          event: EventNote(about: node.meta, component: "node-controller", reason: "NodeNotReady",
                                           message: "Node \(name) status is now: NodeNotReady"))
        }
        let wanted: String? = silent ? Defaulting.unreachableTaint : node.readyStatus == "True" ? nil : Defaulting.notReadyTaint
        let lifecycleTaints: Set<String> = [Defaulting.unreachableTaint, Defaulting.notReadyTaint]
        var taints = (object[path: ["spec", "taints"]]?.arrayValue ?? []).filter { taint in
            !(lifecycleTaints.contains(taint["key"]?.stringValue ?? "") && taint["effect"] == "NoExecute" && taint["key"]?.stringValue != wanted)
        }
        if let wanted, !taints.contains(where: { $0["key"] == .string(wanted) && $0["effect"] == "NoExecute" }) {
            taints.append(["key": .string(wanted), "effect": "NoExecute", "timeAdded": now])
        }
        object[path: ["spec", "taints"]] = taints.isEmpty ? nil : .array(taints)
        if object != node.meta.object {
            return update(node.meta, .nodes, to: object, for: work)
        }
        evict(from: node, work: work)
    }

    /// Deletes the pods of `node` that no longer tolerate its `NoExecute` taints; looks again
    /// when the next toleration runs out.
    mutating func evict(from node: NodeFacts, work: Work) {
        let taints = (node.meta.object[path: ["spec", "taints"]]?.arrayValue ?? []).filter { $0["effect"] == "NoExecute" }
        guard !taints.isEmpty else { return }
        for pod in view.pods(on: node.meta.name).sorted(by: { $0.meta.key < $1.meta.key }) where pod.isActive {
            var due: Int64? = nil  // when the pod must go, seconds since the epoch; nil: tolerated for ever
            for json in taints {
                let taint = Taint(json)
                let added = json["timeAdded"]?.stringValue.flatMap(Timestamp.seconds) ?? nowSeconds
                guard let toleration = pod.tolerations.first(where: { $0.tolerates(taint) }) else { due = min(due ?? added, added); continue }
                if let seconds = toleration.seconds { due = min(due ?? Int64.max, added + Int64(max(0, seconds))) }
            }
            guard let due else { continue }
            if due <= nowSeconds {
                deletePod(pod, for: work, event: EventNote(about: pod.meta, component: "taint-eviction-controller", reason: "TaintManagerEviction",
                                                           message: "Marking for deletion Pod \(pod.meta.namespace)/\(pod.meta.name)"))
            } else {
                after(UInt64(due) * 1_000_000_000, work)
            }
        }
    }
}
