import Master

/// A pod bound to this node, as the agent holds it: the latest object the watch delivered, its
/// containers, and the writes about it in flight.
struct PodState {
    let uid: String
    let namespace: String
    let name: String
    var object: JSON
    var version: UInt64
    let specs: [ContainerSpec]
    var containers: [ContainerState]
    let restartPolicy: String
    /// Removed from the API (a DELETED event, or missing from a list): its containers are stopped and forgotten.
    var gone = false
    /// Its phase is Succeeded or Failed: nothing runs again.
    var terminal: Bool
    var statusRetryNs: UInt64 = 0
    /// A status write conflicted at this version: the next waits for a newer one.
    var conflictAtVersion: UInt64?
    var deleteRetryNs: UInt64 = 0

    var path: String { "/api/v1/namespaces/\(namespace)/pods/\(name)" }
    var isStopping: Bool { gone || object[path: ["metadata", "deletionTimestamp"]] != nil }

    /// How long its containers get between TERM and KILL when it stops.
    var gracePeriodNs: UInt64 {
        let seconds = object[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue
            ?? object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30
        return UInt64(max(seconds, 0)) * 1_000_000_000
    }

    /// Whether a container that ended with `code` runs again, by the pod's restart policy.
    func restarts(afterExit code: Int) -> Bool {
        switch restartPolicy {
        case "Never": false
        case "OnFailure": code != 0
        default: true
        }
    }

    init(_ object: JSON, uid: String, version: UInt64) {
        self.uid = uid
        self.object = object
        self.version = version
        namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        specs = (object[path: ["spec", "containers"]]?.arrayValue ?? []).map(ContainerSpec.init)
        containers = specs.map { ContainerState(name: $0.name) }
        restartPolicy = object[path: ["spec", "restartPolicy"]]?.stringValue ?? "Always"
        let phase = object[path: ["status", "phase"]]?.stringValue
        terminal = phase == "Succeeded" || phase == "Failed"
    }
}

extension Termination {
    /// A termination as a status reported it.
    init?(_ json: JSON?) {
        guard let json, let code = json["exitCode"]?.intValue, let finishedAt = json["finishedAt"]?.stringValue else { return nil }
        self.init(
            exitCode: code, reason: json["reason"]?.stringValue ?? (code == 0 ? "Completed" : "Error"), message: json["message"]?.stringValue,
            startedAt: json["startedAt"]?.stringValue, finishedAt: finishedAt, containerID: json["containerID"]?.stringValue)
    }
}
