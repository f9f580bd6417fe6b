import Master

/// Amounts of the resources the scheduler accounts for, in thousandths of their unit (millicores,
/// milli-bytes), plus a count of pods.
public struct Resources: Equatable, Sendable {
    public var cpuMilli: Int64 = 0
    public var memoryMilli: Int64 = 0
    public var ephemeralStorageMilli: Int64 = 0
    public var pods: Int64 = 0

    public init(cpuMilli: Int64 = 0, memoryMilli: Int64 = 0, ephemeralStorageMilli: Int64 = 0, pods: Int64 = 0) {
        self.cpuMilli = cpuMilli
        self.memoryMilli = memoryMilli
        self.ephemeralStorageMilli = ephemeralStorageMilli
        self.pods = pods
    }

    /// Reads a `requests`/`allocatable` map (`{"cpu": "500m", "memory": "1Gi"}`).
    init(_ map: JSON?) {
        cpuMilli = Quantity.milliValue(map?["cpu"]) ?? 0
        memoryMilli = Quantity.milliValue(map?["memory"]) ?? 0
        ephemeralStorageMilli = Quantity.milliValue(map?["ephemeral-storage"]) ?? 0
        pods = (Quantity.milliValue(map?["pods"]) ?? 0) / 1000
    }

    public static func + (a: Resources, b: Resources) -> Resources {
        Resources(cpuMilli: a.cpuMilli &+ b.cpuMilli, memoryMilli: a.memoryMilli &+ b.memoryMilli,
                  ephemeralStorageMilli: a.ephemeralStorageMilli &+ b.ephemeralStorageMilli, pods: a.pods + b.pods)
    }

    public static func - (a: Resources, b: Resources) -> Resources {
        Resources(cpuMilli: a.cpuMilli &- b.cpuMilli, memoryMilli: a.memoryMilli &- b.memoryMilli,
                  ephemeralStorageMilli: a.ephemeralStorageMilli &- b.ephemeralStorageMilli, pods: a.pods - b.pods)
    }

    /// The resources of `self` that exceed `limit`, by their Kubernetes names.
    func exceeding(_ limit: Resources) -> [String] {
        var names: [String] = []
        if cpuMilli > limit.cpuMilli { names.append("cpu") }
        if memoryMilli > limit.memoryMilli { names.append("memory") }
        if ephemeralStorageMilli > limit.ephemeralStorageMilli { names.append("ephemeral-storage") }
        if pods > limit.pods { names.append("pods") }
        return names
    }
}

/// What the pods on one node hold: their requests and host ports, and how many of them each
/// controller has there (for spreading).
struct NodeLoad: Sendable {
    var requested = Resources()
    var ports: [HostPort: Int] = [:]
    var byController: [String: Int] = [:]

    mutating func add(_ pod: PodFacts) {
        requested = requested + pod.requests
        for port in pod.hostPorts { ports[port, default: 0] += 1 }
        if let uid = pod.meta.controller?.uid { byController[uid, default: 0] += 1 }
    }

    mutating func remove(_ pod: PodFacts) {
        requested = requested - pod.requests
        if let uid = pod.meta.controller?.uid {
            byController[uid, default: 1] -= 1
            if byController[uid] == 0 { byController[uid] = nil }
        }
        for port in pod.hostPorts {
            ports[port, default: 1] -= 1
            if ports[port] == 0 { ports[port] = nil }
        }
    }
}
