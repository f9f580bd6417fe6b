import Master

/// Pod status as Kubernetes' kubelet derives and reports it, written back as a compare-and-swap
/// on the version it was computed from.
extension AgentCore {
    /// Writes the pod's status when it differs from what the API holds, unless a write is in
    /// flight or the last one conflicted at this very version (the newer version is on its way).
    mutating func writeStatusIfChanged(_ pod: inout PodState) {
        guard !pod.terminal || pod.object[path: ["status", "phase"]]?.stringValue.map({ $0 == "Succeeded" || $0 == "Failed" }) != true else { return }
        let status = podStatus(pod)
        guard status != pod.object["status"], pod.conflictAtVersion != pod.version, now.monotonicNs >= pod.statusRetryNs,
            inFlight.count < config.maxRequestsInFlight,
            !inFlight.values.contains(where: { if case .podStatus(pod.uid, _) = $0.purpose { true } else { false } })
        else { return }
        var body = pod.object
        body["status"] = status
        if config.plantedBugs.contains(.agentStatusWithoutCompareAndSwap) { body[path: ["metadata", "resourceVersion"]] = nil }
        send(.podStatus(uid: pod.uid, version: pod.version), Self.json("PUT", pod.path + "/status", body))
    }

    mutating func statusWritten(_ uid: String, version: UInt64, _ response: HTTPResponse) {
        guard var pod = pods[uid] else { return }
        defer { pods[uid] = pod }
        switch response.status {
        case 200:
            if let object = try? JSONParser.parse(response.body), let written = object[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ UInt64($0) }),
                written > pod.version
            {
                pod.object = object
                pod.version = written
            }
        case 409: pod.conflictAtVersion = version
        case 404: break  // deleted: the watch says so next
        default: pod.statusRetryNs = now.monotonicNs + Self.retryDelayNs
        }
    }

    /// The pod's status: what the API holds, with the parts the agent owns computed afresh
    /// (phase, conditions, addresses, start time, container statuses).
    func podStatus(_ pod: PodState) -> JSON {
        let existing = pod.object["status"] ?? [:]
        var status = existing
        let phase = podPhase(pod)
        status["phase"] = .string(phase)
        status["hostIP"] = .string(config.address)
        status["hostIPs"] = [["ip": .string(config.address)]]
        status["podIP"] = .string(config.address)
        status["podIPs"] = [["ip": .string(config.address)]]
        if status["startTime"] == nil { status["startTime"] = .string(Self.timestamp(now.wallNs)) }
        status["containerStatuses"] = .array(pod.containers.indices.map { containerStatus(pod, $0) })
        let unready = pod.containers.filter { !$0.ready }.map(\.name)
        let completed = phase == "Succeeded"
        func readiness(_ type: String) -> (String, String, String?, String?) {
            if completed { return (type, "False", "PodCompleted", nil) }
            if unready.isEmpty { return (type, "True", nil, nil) }
            return (type, "False", "ContainersNotReady", "containers with unready status: [\(unready.joined(separator: " "))]")
        }
        let owned: [(String, String, String?, String?)] = [
            ("Initialized", "True", nil, nil), readiness("Ready"), readiness("ContainersReady"), ("PodScheduled", "True", nil, nil),
        ]
        let before = existing["conditions"]?.arrayValue ?? []
        var conditions: [JSON] = owned.map { type, value, reason, message in
            let old = before.first { $0["type"]?.stringValue == type }
            var c: JSON = ["type": .string(type), "status": .string(value)]
            if let reason { c["reason"] = .string(reason) }
            if let message { c["message"] = .string(message) }
            let since = old?["status"]?.stringValue == value ? old?["lastTransitionTime"] : nil
            c["lastTransitionTime"] = since ?? .string(Self.timestamp(now.wallNs))
            return c
        }
        conditions += before.filter { c in !owned.contains { $0.0 == c["type"]?.stringValue } }
        status["conditions"] = .array(conditions)
        return status
    }

    /// Kubernetes' `getPhase`: Pending while a container has not run yet; Running while one runs
    /// or will run again; Succeeded or Failed once all have ended for good.
    func podPhase(_ pod: PodState) -> String {
        var pending = 0, running = 0, stopped = 0, succeeded = 0
        for c in pod.containers {
            if c.isRunning {
                running += 1
            } else if let t = c.lastTermination {
                stopped += 1
                if t.exitCode == 0 { succeeded += 1 }
            } else {
                pending += 1
            }
        }
        if pending > 0 { return "Pending" }
        if running > 0 { return "Running" }
        if stopped == 0 { return "Pending" }
        switch pod.restartPolicy {
        case "Never": return succeeded == stopped ? "Succeeded" : "Failed"
        case "OnFailure": return succeeded == stopped ? "Succeeded" : "Running"
        default: return "Running"
        }
    }

    func containerStatus(_ pod: PodState, _ i: Int) -> JSON {
        let c = pod.containers[i]
        var backoff: String? = nil
        if let restartAt = c.restartAtNs, restartAt > now.monotonicNs {
            backoff = "back-off \((restartAt - now.monotonicNs + 999_999_999) / 1_000_000_000)s restarting failed container=\(c.name) pod=\(pod.name)_\(pod.namespace)(\(pod.uid))"
        }
        let (state, last) = c.states(backoffMessage: backoff)
        var status: JSON = [
            "name": .string(c.name), "image": .string(pod.specs[i].image), "imageID": "", "ready": .bool(c.ready), "started": .bool(c.started),
            "restartCount": .number(c.restartCount), "state": state, "lastState": last,
        ]
        if case .running(_, let id, _, _) = c.process { status["containerID"] = .string(id) } else if let id = c.lastTermination?.containerID { status["containerID"] = .string(id) }
        return status
    }
}
