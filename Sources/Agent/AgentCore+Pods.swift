import Master

/// Running the pods bound here: starts, restarts with back-off, probes, graceful stops, and the
/// final delete of a pod whose containers have all stopped.
extension AgentCore {
    /// A pod as the list or the watch gives it.
    mutating func upsert(_ object: JSON) {
        guard let uid = object[path: ["metadata", "uid"]]?.stringValue,
            let version = object[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ UInt64($0) })
        else { return }
        guard object[path: ["spec", "nodeName"]]?.stringValue == config.nodeName else { return podGone(uid) }
        if var pod = pods[uid] {
            guard version > pod.version else { return }
            pod.object = object
            pod.version = version
            let phase = object[path: ["status", "phase"]]?.stringValue
            if phase == "Succeeded" || phase == "Failed" { pod.terminal = true }
            pods[uid] = pod
            return
        }
        var pod = PodState(object, uid: uid, version: version)
        let reported = object[path: ["status", "containerStatuses"]]?.arrayValue ?? []
        for i in pod.containers.indices {
            let name = pod.containers[i].name
            let status = reported.first { $0["name"]?.stringValue == name }
            let key = ContainerKey(podUID: uid, container: name)
            restore(&pod.containers[i], of: pod, from: status, key: key)
            adopted[key] = nil  // the pod holds it now
        }
        pods[uid] = pod
    }

    /// Picks a container up where the status (written by an earlier run of this agent) left it:
    /// its restart count never goes back; a process the runtime still holds is kept running; one
    /// that died meanwhile is reported and restarted by the pod's policy.
    func restore(_ c: inout ContainerState, of pod: PodState, from status: JSON?, key: ContainerKey) {
        c.restartCount = status?["restartCount"]?.intValue ?? 0
        c.nextAttempt = status == nil ? 0 : c.restartCount + 1
        c.lastTermination = Termination(status?[path: ["lastState", "terminated"]])
        if let adopted = adopted[key] {
            c.process = .running(attempt: adopted.run.attempt, id: adopted.id, startedAt: Timestamp.text(seconds: adopted.startedAtWallSeconds), sinceNs: now.monotonicNs)
            c.nextAttempt = max(c.nextAttempt, adopted.run.attempt + 1)
            c.waiting = nil
            let spec = pod.specs.first { $0.name == c.name }
            c.startup = spec?.startup.map { ProbeState($0, runningSinceNs: now.monotonicNs) }
            c.liveness = spec?.liveness.map { ProbeState($0, runningSinceNs: now.monotonicNs) }
            c.readiness = spec?.readiness.map { ProbeState($0, runningSinceNs: now.monotonicNs) }
            return
        }
        if let running = status?[path: ["state", "running"]] {
            // It ran under an earlier agent and is gone now.
            c.waiting = nil
            c.previousTermination = c.lastTermination
            c.lastTermination = Termination(
                exitCode: 137, reason: "ContainerStatusUnknown", message: "The container could not be located when the agent restarted",
                startedAt: running["startedAt"]?.stringValue, finishedAt: Self.timestamp(now.wallNs))
            c.finished = pod.terminal || !pod.restarts(afterExit: 137)
        } else if let terminated = Termination(status?[path: ["state", "terminated"]]) {
            c.waiting = nil
            c.previousTermination = c.lastTermination
            c.lastTermination = terminated
            c.finished = pod.terminal || !pod.restarts(afterExit: terminated.exitCode)
        }
    }

    /// The pod is no longer bound here (deleted, or missing from a list).
    mutating func podGone(_ uid: String) {
        pods[uid]?.gone = true
    }

    mutating func tendPods() {
        for uid in pods.keys.sorted() { tendPod(uid) }
    }

    mutating func tendPod(_ uid: String) {
        guard var pod = pods[uid] else { return }
        defer { if pods[uid] != nil { pods[uid] = pod } }
        if pod.isStopping {
            guard stop(&pod) else { return }
            if pod.gone {
                for c in pod.containers where c.nextAttempt > 0 {
                    outbox.append(.removeContainer(ContainerRun(key: ContainerKey(podUID: uid, container: c.name), attempt: c.nextAttempt - 1)))
                }
                pods[uid] = nil
            } else if now.monotonicNs >= pod.deleteRetryNs, !inFlight.values.contains(where: { $0.purpose == .deletePod(uid: uid) }) {
                // Every container has stopped: the object goes (Kubernetes' kubelet does the same).
                pod.deleteRetryNs = now.monotonicNs + 5_000_000_000
                let options: JSON = ["apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]]
                send(.deletePod(uid: uid), Self.json("DELETE", pod.path, options))
            }
            return
        }
        if !pod.terminal {
            for i in pod.containers.indices {
                startIfDue(&pod, i)
                probeIfDue(&pod, i)
            }
        }
        writeStatusIfChanged(&pod)
    }

    /// Sends TERM to every container still running, KILL to those past the grace period; true
    /// once none is running.
    mutating func stop(_ pod: inout PodState) -> Bool {
        var stopped = true
        for i in pod.containers.indices {
            pod.containers[i].finished = true
            guard let attempt = pod.containers[i].attempt else { continue }
            stopped = false
            let run = ContainerRun(key: ContainerKey(podUID: pod.uid, container: pod.containers[i].name), attempt: attempt)
            if !pod.containers[i].terminateSent {
                pod.containers[i].terminateSent = true
                pod.containers[i].killAtNs = now.monotonicNs + pod.gracePeriodNs
                outbox.append(.signalContainer(run, pod.gracePeriodNs == 0 ? .kill : .terminate))
            } else if let killAt = pod.containers[i].killAtNs, now.monotonicNs >= killAt {
                pod.containers[i].killAtNs = nil
                outbox.append(.signalContainer(run, .kill))
            }
        }
        return stopped
    }

    /// Starts a container that should run and may now.
    mutating func startIfDue(_ pod: inout PodState, _ i: Int) {
        var c = pod.containers[i]
        defer { pod.containers[i] = c }
        guard c.process == .none, !c.finished, now.monotonicNs >= c.restartAtNs ?? 0 else { return }
        let spec = pod.specs[i]
        if spec.command.isEmpty && !config.runtimeHasImages {
            c.waiting = ("CreateContainerError", "container \(spec.name) has no command: the process runtime has no image entrypoint to fall back on")
            return
        }
        if let error = spec.probeError {
            c.waiting = ("CreateContainerConfigError", error.message)
            return
        }
        let environment: [(name: String, value: String)]
        switch resolveEnvironment(spec, of: pod) {
        case .fetching:
            return
        case .failed(let message):
            c.waiting = ("CreateContainerConfigError", message)
            return
        case .resolved(let values): environment = values
        }
        let run = ContainerRun(key: ContainerKey(podUID: pod.uid, container: c.name), attempt: c.nextAttempt)
        if c.lastTermination != nil { c.restartCount += 1 }
        c.nextAttempt += 1
        c.process = .starting(attempt: run.attempt)
        c.restartAtNs = nil
        outbox.append(.startContainer(ContainerLaunch(
            run: run, namespace: pod.namespace, podName: pod.name, image: spec.image, imagePullPolicy: spec.imagePullPolicy,
            command: spec.command, args: spec.args, environment: environment,
            workingDir: spec.workingDir, memoryLimitBytes: spec.memoryLimitBytes, cpuLimitMillis: spec.cpuLimitMillis)))
    }

    /// Runs the probes that are due; kills a container whose startup or liveness probe failed.
    mutating func probeIfDue(_ pod: inout PodState, _ i: Int) {
        var c = pod.containers[i]
        defer { pod.containers[i] = c }
        guard let attempt = c.attempt, c.isRunning else { return }
        let run = ContainerRun(key: ContainerKey(podUID: pod.uid, container: c.name), attempt: attempt)
        if (c.startup?.passing == false || c.liveness?.passing == false), !c.terminateSent {
            c.terminateSent = true
            return outbox.append(.signalContainer(run, .kill))
        }
        func due(_ probe: inout ProbeState?, _ kind: ProbeID.Kind) {
            guard var p = probe, !p.inFlight, now.monotonicNs >= p.dueNs else { return }
            p.inFlight = true
            p.dueNs = now.monotonicNs + p.spec.periodNs
            probe = p
            outbox.append(.probe(ProbeID(run: run, kind: kind), p.spec.action, timeoutNs: p.spec.timeoutNs))
        }
        if c.startup?.passing != true { due(&c.startup, .startup) }
        guard c.started else { return }
        due(&c.liveness, .liveness)
        due(&c.readiness, .readiness)
    }

    // MARK: Runtime events

    /// Applies `change` to the container of `run`, if it is still its current run.
    mutating func withContainer(_ run: ContainerRun, _ change: (inout PodState, Int) -> Void) {
        guard var pod = pods[run.key.podUID], let i = pod.containers.firstIndex(where: { $0.name == run.key.container }),
            pod.containers[i].attempt == run.attempt
        else { return }
        change(&pod, i)
        pods[run.key.podUID] = pod
    }

    mutating func runStarted(_ run: ContainerRun, id: String) {
        let time = now
        withContainer(run) { pod, i in pod.containers[i].started(id: id, at: time, spec: pod.specs[i]) }
    }

    /// A start that could not get its image waits out the back-off (10 s, doubling) and tries again.
    mutating func pullFailed(_ run: ContainerRun, message: String) {
        let config = config
        let nowNs = now.monotonicNs
        withContainer(run) { pod, i in
            var c = pod.containers[i]
            defer { pod.containers[i] = c }
            guard case .starting = c.process else { return }
            c.process = .none
            c.waiting = c.backoffNs == 0
                ? ("ErrImagePull", message)
                : ("ImagePullBackOff", "Back-off pulling image \(JSON.quoted(pod.specs[i].image)): \(message)")
            // Kubelet's image back-off starts at its base, not at once as a crashed container's does.
            let delayNs = max(c.backoffNs, config.backoffBaseNs)
            c.restartAtNs = nowNs + delayNs
            c.backoffNs = min(delayNs * 2, config.backoffMaxNs)
        }
    }

    /// A run ended (or never started): the restart policy decides what follows, with back-off.
    mutating func runEnded(_ run: ContainerRun, _ end: (inout ContainerState) -> UInt64?) {
        let config = config
        let nowNs = now.monotonicNs
        withContainer(run) { pod, i in
            guard let ranNs = end(&pod.containers[i]), let code = pod.containers[i].lastTermination?.exitCode else { return }
            var c = pod.containers[i]
            defer { pod.containers[i] = c }
            guard !pod.isStopping, !pod.terminal, pod.restarts(afterExit: code) else {
                c.finished = true
                return
            }
            if ranNs >= config.backoffResetNs { c.backoffNs = 0 }
            c.restartAtNs = nowNs + c.backoffNs
            c.backoffNs = c.backoffNs == 0 ? config.backoffBaseNs : min(c.backoffNs * 2, config.backoffMaxNs)
        }
    }

    mutating func probed(_ probe: ProbeID, success: Bool) {
        withContainer(probe.run) { pod, i in
            switch probe.kind {
            case .startup: pod.containers[i].startup?.record(success)
            case .liveness: pod.containers[i].liveness?.record(success)
            case .readiness: pod.containers[i].readiness?.record(success)
            }
        }
    }

    // MARK: The environment

    enum Environment {
        case resolved([(name: String, value: String)])
        case fetching
        case failed(String)
    }

    /// A container's environment with its references resolved; ConfigMaps are read (again) when
    /// their copy is older than `configMapMaxAgeNs`.
    mutating func resolveEnvironment(_ spec: ContainerSpec, of pod: PodState) -> Environment {
        var values: [(name: String, value: String)] = []
        for (name, value) in spec.env {
            switch value {
            case .literal(let text): values.append((name, text))
            case .field(let path):
                guard let text = fieldValue(path, of: pod) else { return .failed("unsupported fieldRef \(path) in variable \(name)") }
                values.append((name, text))
            case .configMapKey(let map, let key, let optional):
                let cacheKey = "\(pod.namespace)/\(map)"
                guard let cached = configMaps[cacheKey], now.monotonicNs < cached.fetchedNs + Self.configMapMaxAgeNs else {
                    if !isPending(.configMap(key: cacheKey)) {
                        send(.configMap(key: cacheKey), HTTPRequest(method: "GET", target: "/api/v1/namespaces/\(pod.namespace)/configmaps/\(map)"))
                    }
                    return .fetching
                }
                if let text = cached.value?[path: ["data", key]]?.stringValue {
                    values.append((name, text))
                } else if !optional {
                    return .failed(cached.value == nil ? "configmap \"\(map)\" not found" : "couldn't find key \(key) in ConfigMap \(cacheKey)")
                }
            }
        }
        return .resolved(values)
    }

    static let configMapMaxAgeNs: UInt64 = 10_000_000_000

    mutating func configMapFetched(_ key: String, _ response: HTTPResponse) {
        switch response.status {
        case 200: configMaps[key] = (try? JSONParser.parse(response.body)).map { (value: $0, fetchedNs: now.monotonicNs) }
        case 404: configMaps[key] = (value: nil, fetchedNs: now.monotonicNs)
        default: moveOn(from: target)
        }
    }

    func fieldValue(_ path: String, of pod: PodState) -> String? {
        switch path {
        case "metadata.name": return pod.name
        case "metadata.namespace": return pod.namespace
        case "metadata.uid": return pod.uid
        case "spec.nodeName": return config.nodeName
        case "spec.serviceAccountName": return pod.object[path: ["spec", "serviceAccountName"]]?.stringValue ?? "default"
        case "status.podIP", "status.hostIP": return config.address
        default:
            for (prefix, field) in [("metadata.labels['", "labels"), ("metadata.annotations['", "annotations")] where path.hasPrefix(prefix) && path.hasSuffix("']") {
                let key = String(path.dropFirst(prefix.count).dropLast(2))
                return pod.object[path: ["metadata", field, key]]?.stringValue ?? ""
            }
            return nil
        }
    }
}
