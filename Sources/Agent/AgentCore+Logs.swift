/// Which run of a container a request for its logs reads (kubelet's `/containerLogs`).
extension AgentCore {
    /// The run whose log is read, and whether it is still running (a follower keeps reading).
    public struct LogSource: Equatable, Sendable {
        public var run: ContainerRun
        public var running: Bool
    }

    /// The current or last run of `container` of the pod `namespace/pod` bound here, or with
    /// `previous` the run before it; otherwise why there is none, in kubelet's words.
    public func logSource(namespace: String, pod name: String, container: String, previous: Bool) -> Result<LogSource, LogRefusal> {
        guard let pod = pods.values.first(where: { $0.namespace == namespace && $0.name == name && !$0.gone }) else {
            return .failure(LogRefusal(message: "pod \"\(name)\" is not on node \(config.nodeName)"))
        }
        guard let c = pod.containers.first(where: { $0.name == container }) else {
            return .failure(LogRefusal(message: "container \(container) is not valid for pod \(name)"))
        }
        let last = c.nextAttempt - 1
        if previous {
            guard last >= 1 else { return .failure(LogRefusal(message: "previous terminated container \"\(container)\" in pod \"\(name)\" not found")) }
            return .success(LogSource(run: ContainerRun(key: ContainerKey(podUID: pod.uid, container: container), attempt: last - 1), running: false))
        }
        guard last >= 0 else {
            let reason = c.waiting?.reason ?? "ContainerCreating"
            return .failure(LogRefusal(message: "container \"\(container)\" in pod \"\(name)\" is waiting to start: \(reason)"))
        }
        return .success(LogSource(run: ContainerRun(key: ContainerKey(podUID: pod.uid, container: container), attempt: last), running: c.attempt == last && c.isRunning))
    }

    /// Whether `run` is its container's current, running run.
    public func isRunning(_ run: ContainerRun) -> Bool {
        guard let c = pods[run.key.podUID]?.containers.first(where: { $0.name == run.key.container }) else { return false }
        return c.attempt == run.attempt && c.isRunning
    }
}

/// Why a container's logs cannot be read.
public struct LogRefusal: Error, Equatable, Sendable {
    public var message: String
}
