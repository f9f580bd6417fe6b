import Master

/// A simulated node agent, speaking the API as `bosun agent` will: it registers its Node, renews
/// its Lease every second, lists the pods bound to it, reports each running and ready after a
/// start-up delay, and removes the pods marked for deletion. Faults stop it for a while (as a
/// crashed or cut-off node); a stopped agent does nothing at all.
struct SimAgent {
    var name: String
    var caller: SimCaller
    var running = true
    /// Bumped when it stops, so beats of an earlier run are ignored.
    var generation = 0
    var registered = false
    /// The Node's status needs posting (after registering, after a stop, and every few beats).
    var statusDue = true
    var beats = 0
    /// When each pod was first seen bound here (it becomes ready a while after).
    var firstSeenNs: [String: UInt64] = [:]
    var startDelayNs: UInt64
    /// Allocatable CPU: most nodes are small, every third is big, so where pods go matters.
    var cpu: String
}

extension Simulation {
    static let agentBeatNs: UInt64 = 1_000_000_000
    static let nodeGraceNs: UInt64 = 5_000_000_000

    func agentPath(_ a: Int) -> String { "/api/v1/nodes/\(agents[a].name)" }

    func agentBeat(_ a: Int, generation: Int) {
        guard agents[a].running, agents[a].generation == generation else { return }
        let agent = agents[a]
        defer {
            agents[a].beats += 1
            schedule(after: Self.agentBeatNs, .agentBeat(agent: a, generation: generation))
        }
        // Still busy with the last beat's requests (the masters are slow to answer): skip this one.
        guard agent.caller.queue.isEmpty else { return }
        if !agent.registered {
            let node: JSON = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(agent.name), "labels": ["kubernetes.io/hostname": .string(agent.name)]]]
            call(.agent(a), CallerRequest(request: CallerRequest.json("POST", "/api/v1/nodes", node), purpose: .registerNode))
        } else {
            if agent.statusDue || agent.beats % 10 == 0 {
                agents[a].statusDue = false
                let status: JSON = ["status": [
                    "capacity": ["cpu": .string(agent.cpu), "memory": "16Gi", "pods": "110"], "allocatable": ["cpu": .string(agent.cpu), "memory": "16Gi", "pods": "110"],
                    "conditions": [["type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"]],
                ]]
                call(.agent(a), CallerRequest(request: CallerRequest.mergePatch(agentPath(a) + "/status", status), purpose: .nodeStatus))
            }
            call(.agent(a), CallerRequest(request: CallerRequest.json("PUT", "\(Self.leasesPath)/\(agent.name)", leaseBody(a)), purpose: .renewLease))
            call(.agent(a), CallerRequest(request: HTTPRequest(method: "GET", target: "/api/v1/pods?fieldSelector=spec.nodeName%3D\(agent.name)"), purpose: .listPods))
        }
    }

    func agentReceived(_ a: Int, _ purpose: CallerRequest.Purpose, _ response: HTTPResponse) {
        guard agents[a].running else { return }
        switch (purpose, response.status) {
        case (.registerNode, 201), (.registerNode, 409):
            agents[a].registered = true
            agents[a].statusDue = true
        case (.renewLease, 404):
            call(.agent(a), CallerRequest(request: CallerRequest.json("POST", Self.leasesPath, leaseBody(a)), purpose: .createLease))
        case (.listPods, 200):
            guard let items = (try? JSONParser.parse(response.body))?["items"]?.arrayValue else { return }
            for pod in items { tend(a, pod) }
        default:
            break
        }
    }

    static let leasesPath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

    /// The agent's Lease, renewed now (the renew time in microseconds, so every renewal changes it).
    func leaseBody(_ a: Int) -> JSON {
        let micros = String(wallClockNs / 1_000 % 1_000_000)
        let renewTime = Timestamp.text(seconds: Int64(wallClockNs / 1_000_000_000)).dropLast() + "." + String(repeating: "0", count: 6 - micros.count) + micros + "Z"
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": .string(agents[a].name)],
                "spec": ["holderIdentity": .string(agents[a].name), "leaseDurationSeconds": 5, "renewTime": .string(String(renewTime))]]
    }

    /// What the agent does for one pod bound to it.
    func tend(_ a: Int, _ pod: JSON) {
        guard let namespace = pod[path: ["metadata", "namespace"]]?.stringValue, let name = pod[path: ["metadata", "name"]]?.stringValue else { return }
        let path = "/api/v1/namespaces/\(namespace)/pods/\(name)"
        let uid = pod[path: ["metadata", "uid"]]?.stringValue ?? ""
        if pod[path: ["metadata", "deletionTimestamp"]] != nil {
            agents[a].firstSeenNs[uid] = nil
            let options: JSON = ["gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]]
            return call(.agent(a), CallerRequest(request: CallerRequest.json("DELETE", path, options), purpose: .removePod))
        }
        guard pod[path: ["status", "phase"]] != "Running" else { return }
        let seen = agents[a].firstSeenNs[uid] ?? nowNs
        agents[a].firstSeenNs[uid] = seen
        guard nowNs >= seen + agents[a].startDelayNs else { return }
        let now = JSON.string(Timestamp.text(seconds: Int64(wallClockNs / 1_000_000_000)))
        let status: JSON = ["status": [
            "phase": "Running", "startTime": now,
            "conditions": [["type": "PodScheduled", "status": "True", "lastTransitionTime": now],
                           ["type": "Ready", "status": "True", "lastTransitionTime": now]],
        ]]
        call(.agent(a), CallerRequest(request: CallerRequest.mergePatch(path + "/status", status), purpose: .podStatus))
    }

    /// A fault stops an agent for a while: no renewals, no pod care, as a crashed node.
    func stopRandomAgent() {
        guard let interval = plan.agentStopIntervalNs else { return }
        if !inLivenessPhase, !agents.isEmpty {
            let a = clusterRng.index(agents.count)
            if agents[a].running {
                stats.agentStops += 1
                agents[a].running = false
                agents[a].generation += 1
                resetCaller(.agent(a))
                schedule(after: clusterRng.uniform(1_000...plan.agentStopMaxMs) * 1_000_000, .agentStart(agent: a))
            }
        }
        schedule(after: clusterRng.exponential(meanNs: interval), .agentStop)
    }

    func startAgent(_ a: Int) {
        guard !agents[a].running, a != deadAgent else { return }
        agents[a].running = true
        agents[a].statusDue = true
        schedule(after: clusterRng.uniform(0...Self.agentBeatNs), .agentBeat(agent: a, generation: agents[a].generation))
    }
}
