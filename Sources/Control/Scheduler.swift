import Master

/// kube-scheduler's default filters and scores over the `ClusterView`, for one pod at a time.
/// Pure: the same view, pod and start offset give the same decision.
public enum Scheduler {
    /// Where a pod goes, or why it cannot go anywhere.
    public enum Decision: Equatable, Sendable {
        case bind(node: String)
        /// No node fits; the message is kube-scheduler's ("0/3 nodes are available: ...").
        case unschedulable(message: String)
    }

    /// Filter weights of the scores, as kube-scheduler's defaults weigh them.
    static let taintWeight = 3, spreadWeight = 2, leastAllocatedWeight = 1, balancedWeight = 1

    /// How many feasible nodes to find before scoring (kube-scheduler's adaptive
    /// `percentageOfNodesToScore`: all of a small cluster, at least 100, 50 % falling to 5 %).
    public static func feasibleNodesToFind(_ total: Int) -> Int {
        if total < 100 { return total }
        let percent = max(5, 50 - total / 125)
        return max(100, total * percent / 100)
    }

    /// Decides for `pod`, looking at nodes from `start` on (rotated so that work spreads);
    /// `assumed` is what binds in flight add to nodes (the scheduler's assumed pods).
    static func decide(_ pod: PodFacts, view: ClusterView, start: Int, assumed: [String: NodeLoad],
                       ignoreBound: Bool = false) -> Decision {
        let nodeNames = view.nodeNames
        let total = nodeNames.count
        let wanted = feasibleNodesToFind(total)
        var feasible: [NodeFacts] = []
        var reasons: [String: Int] = [:]
        for step in 0..<total where feasible.count < wanted {
            let node = view.nodes[nodeNames[(start + step) % total]]!
            let bound = view.load[node.meta.name] ?? NodeLoad(), inFlight = assumed[node.meta.name] ?? NodeLoad()
            let used = ignoreBound ? Resources() : bound.requested + inFlight.requested
            if let why = filter(pod, node, used: used, ports: [bound.ports, inFlight.ports]) {
                for reason in why { reasons[reason, default: 0] += 1 }
            } else {
                feasible.append(node)
            }
        }
        guard !feasible.isEmpty else {
            let listed = reasons.map { "\($0.value) \($0.key)" }.sorted()
            let message = total == 0 ? "no nodes available to schedule pods" : "0/\(total) nodes are available: \(listed.joined(separator: ", "))."
            return .unschedulable(message: message)
        }
        // Spreading: how many pods of the same controller each feasible node has (or will have).
        let owner = pod.meta.controller?.uid
        let siblings = feasible.map { node in
            owner.map { (view.load[node.meta.name]?.byController[$0] ?? 0) + (assumed[node.meta.name]?.byController[$0] ?? 0) } ?? 0
        }
        let maxSiblings = siblings.max() ?? 0
        var best: (node: String, score: Int64)? = nil
        for (i, node) in feasible.enumerated() {
            let used = ignoreBound ? Resources() : (view.load[node.meta.name]?.requested ?? Resources()) + (assumed[node.meta.name]?.requested ?? Resources())
            let score = self.score(pod, node, used: used, siblings: siblings[i], maxSiblings: maxSiblings)
            if best == nil || score > best!.score { best = (node.meta.name, score) }
        }
        return .bind(node: best!.node)
    }

    /// Why `node` cannot take `pod` (kube-scheduler's reasons, first failing filter only), or nil.
    static func filter(_ pod: PodFacts, _ node: NodeFacts, used: Resources, ports: [[HostPort: Int]]) -> [String]? {
        if node.unschedulable, !pod.tolerations.contains(where: { $0.tolerates(Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")) }) {
            return ["node(s) were unschedulable"]
        }
        var taints = node.taints
        if node.readyStatus != "True" {
            // What the node lifecycle controller taints a node with while it is not ready.
            taints.append(Taint(key: node.readyStatus == "Unknown" ? Defaulting.unreachableTaint : Defaulting.notReadyTaint, effect: "NoSchedule"))
        }
        if let taint = taints.first(where: { taint in
            (taint.effect == "NoSchedule" || taint.effect == "NoExecute") && !pod.tolerations.contains { $0.tolerates(taint) }
        }) {
            return ["node(s) had untolerated taint \(taint.described)"]
        }
        let labels = node.meta.labels
        let selectorFits = pod.nodeSelector.allSatisfy { labels[$0.key] == $0.value }
        let affinityFits = pod.affinityTerms.isEmpty || pod.affinityTerms.contains { term in !term.isEmpty && term.allSatisfy { $0.matches(labels) } }
        if !selectorFits || !affinityFits { return ["node(s) didn't match Pod's node affinity/selector"] }
        if pod.hostPorts.contains(where: { port in ports.contains { $0[port] != nil } }) { return ["node(s) didn't have free ports for the requested pod ports"] }
        let short = (used + pod.requests).exceeding(node.allocatable)
        if !short.isEmpty { return short.map { $0 == "pods" ? "Too many pods" : "Insufficient \($0)" } }
        return nil
    }

    /// Higher is better: least allocated, balanced, spread across nodes, fewest untolerated
    /// `PreferNoSchedule` taints.
    static func score(_ pod: PodFacts, _ node: NodeFacts, used: Resources, siblings: Int, maxSiblings: Int) -> Int64 {
        // Pods that request nothing count as 100m and 200 MiB when scoring, as in kube-scheduler.
        let cpu = (pod.requests.cpuMilli == 0 ? 100 : pod.requests.cpuMilli) + used.cpuMilli
        let memory = (pod.requests.memoryMilli == 0 ? 200 * 1_048_576_000 : pod.requests.memoryMilli) + used.memoryMilli
        func free(_ requested: Int64, _ capacity: Int64) -> Int64 {
            capacity <= 0 || requested >= capacity ? 0 : (capacity - requested) * 100 / capacity
        }
        let least = (free(cpu, node.allocatable.cpuMilli) + free(memory, node.allocatable.memoryMilli)) / 2
        let balanced = 100 - abs(free(cpu, node.allocatable.cpuMilli) - free(memory, node.allocatable.memoryMilli)) / 2
        let spread = maxSiblings == 0 ? 100 : Int64(maxSiblings - siblings) * 100 / Int64(maxSiblings)
        let preferNot = node.taints.filter { taint in taint.effect == "PreferNoSchedule" && !pod.tolerations.contains { $0.tolerates(taint) } }.count
        let taintScore: Int64 = preferNot == 0 ? 100 : max(0, 100 - Int64(preferNot) * 25)
        return Int64(leastAllocatedWeight) * least + Int64(balancedWeight) * balanced + Int64(spreadWeight) * spread
            + Int64(taintWeight) * taintScore
    }
}
