import Master

/// The controller reference of an object: its owner with `controller: true`.
public struct OwnerRef: Equatable, Sendable {
    public var kind: String
    public var name: String
    public var uid: String

    /// The controller among `metadata.ownerReferences`, if any.
    public static func controller(of object: JSON) -> OwnerRef? { OwnerRef(controllerOf: object) }

    init?(controllerOf object: JSON) {
        guard let refs = object[path: ["metadata", "ownerReferences"]]?.arrayValue,
            let ref = refs.first(where: { $0["controller"] == true }), let uid = ref["uid"]?.stringValue
        else { return nil }
        kind = ref["kind"]?.stringValue ?? ""
        name = ref["name"]?.stringValue ?? ""
        self.uid = uid
    }

    /// The ownerReference a controller writes into what it creates.
    static func reference(to owner: JSON) -> JSON {
        ["apiVersion": owner["apiVersion"] ?? "", "kind": owner["kind"] ?? "", "name": owner[path: ["metadata", "name"]] ?? "",
         "uid": owner[path: ["metadata", "uid"]] ?? "", "controller": true, "blockOwnerDeletion": true]
    }
}

/// What every object the control plane reads has: where it is stored, its version and its text.
public struct ObjectMeta: Sendable {
    public var key: String
    public var namespace: String
    public var name: String
    public var uid: String
    /// The resourceVersion: the Raft index of the write that stored this state.
    public var version: UInt64
    /// The object as stored (without `resourceVersion`), for writes built on it.
    public var object: JSON
    public var labels: [String: String]
    public var controller: OwnerRef?
    public var deleting: Bool
    public var creationTimestamp: String

    init(key: String, version: UInt64, object: JSON) {
        self.key = key
        self.version = version
        self.object = object
        namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
        name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
        labels = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        controller = OwnerRef(controllerOf: object)
        deleting = object[path: ["metadata", "deletionTimestamp"]] != nil
        creationTimestamp = object[path: ["metadata", "creationTimestamp"]]?.stringValue ?? ""
    }
}

/// A toleration of a pod (`spec.tolerations[]`).
public struct Toleration: Equatable, Sendable {
    public var key: String
    public var exists: Bool
    public var value: String
    public var effect: String
    public var seconds: Int?

    init(_ json: JSON) {
        key = json["key"]?.stringValue ?? ""
        exists = json["operator"]?.stringValue == "Exists"
        value = json["value"]?.stringValue ?? ""
        effect = json["effect"]?.stringValue ?? ""
        seconds = json["tolerationSeconds"]?.intValue
    }

    /// Whether this toleration tolerates `taint` (Kubernetes' `ToleratesTaint`).
    func tolerates(_ taint: Taint) -> Bool {
        guard effect.isEmpty || effect == taint.effect else { return false }
        if key.isEmpty { return exists }
        guard key == taint.key else { return false }
        return exists || value == taint.value
    }
}

/// A node taint (`spec.taints[]`).
public struct Taint: Equatable, Sendable {
    public var key: String
    public var value: String
    public var effect: String

    init(_ json: JSON) {
        key = json["key"]?.stringValue ?? ""
        value = json["value"]?.stringValue ?? ""
        effect = json["effect"]?.stringValue ?? ""
    }

    init(key: String, value: String = "", effect: String) {
        self.key = key
        self.value = value
        self.effect = effect
    }

    var json: JSON {
        var json: JSON = ["key": .string(key), "effect": .string(effect)]
        if !value.isEmpty { json["value"] = .string(value) }
        return json
    }

    /// As kube-scheduler writes it in a message: `{key: value}`.
    var described: String { "{\(key): \(value)}" }
}

/// One requirement of a node selector term (`matchExpressions[]` of required node affinity).
struct NodeRequirement: Equatable, Sendable {
    var key: String
    var op: String
    var values: [String]

    func matches(_ labels: [String: String]) -> Bool {
        let label = labels[key]
        switch op {
        case "In": return label.map(values.contains) ?? false
        case "NotIn": return !(label.map(values.contains) ?? false)
        case "Exists": return label != nil
        case "DoesNotExist": return label == nil
        case "Gt", "Lt":
            guard let label, let have = Int64(label), let bound = values.first.flatMap({ Int64($0) }) else { return false }
            return op == "Gt" ? have > bound : have < bound
        default: return false
        }
    }
}

/// A host port a container asks for.
struct HostPort: Hashable, Sendable {
    var port: Int
    var proto: String
}

/// A pod as the scheduler and controllers see it.
public struct PodFacts: Sendable {
    public var meta: ObjectMeta
    /// `spec.nodeName`; nil while unscheduled.
    public var nodeName: String?
    public var schedulerName: String
    public var requests: Resources
    var hostPorts: [HostPort]
    var nodeSelector: [String: String]
    /// Required node affinity: any term matches, all requirements of a term.
    var affinityTerms: [[NodeRequirement]]
    var tolerations: [Toleration]
    public var phase: String
    public var ready: Bool
    /// When the pod last became ready, seconds since the epoch.
    var readySinceSeconds: Int64?
    var restarts: Int
    /// The `PodScheduled` condition as stored: status, reason and message.
    var scheduledCondition: (status: String, reason: String, message: String)?

    init(key: String, version: UInt64, object: JSON) {
        meta = ObjectMeta(key: key, version: version, object: object)
        let spec = object["spec"] ?? [:]
        nodeName = spec["nodeName"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        schedulerName = spec["schedulerName"]?.stringValue ?? "default-scheduler"
        var requests = Resources(pods: 1)
        var ports: [HostPort] = []
        for container in spec["containers"]?.arrayValue ?? [] {
            requests = requests + Resources(container[path: ["resources", "requests"]] ?? container[path: ["resources", "limits"]])
            for port in container["ports"]?.arrayValue ?? [] {
                if let hostPort = port["hostPort"]?.intValue, hostPort > 0 {
                    ports.append(HostPort(port: hostPort, proto: port["protocol"]?.stringValue ?? "TCP"))
                }
            }
        }
        self.requests = requests
        hostPorts = ports
        nodeSelector = (spec["nodeSelector"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        affinityTerms = (spec[path: ["affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?.arrayValue ?? []).map { term in
            (term["matchExpressions"]?.arrayValue ?? []).map { e in
                NodeRequirement(key: e["key"]?.stringValue ?? "", op: e["operator"]?.stringValue ?? "",
                                values: (e["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            }
        }
        tolerations = (spec["tolerations"]?.arrayValue ?? []).map(Toleration.init)
        let status = object["status"] ?? [:]
        phase = status["phase"]?.stringValue ?? "Pending"
        let conditions = status["conditions"]?.arrayValue ?? []
        let readyCondition = conditions.first { $0["type"] == "Ready" }
        ready = readyCondition?["status"] == "True"
        readySinceSeconds = ready ? readyCondition?["lastTransitionTime"]?.stringValue.flatMap(Timestamp.seconds) : nil
        restarts = (status["containerStatuses"]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
        scheduledCondition = conditions.first { $0["type"] == "PodScheduled" }.map {
            ($0["status"]?.stringValue ?? "", $0["reason"]?.stringValue ?? "", $0["message"]?.stringValue ?? "")
        }
    }

    /// Counts for its controller: not being deleted and not finished (Kubernetes' `IsPodActive`).
    public var isActive: Bool { !meta.deleting && !isTerminal }
    public var isTerminal: Bool { phase == "Succeeded" || phase == "Failed" }
    /// Holds resources on its node: bound and not finished.
    var holdsResources: Bool { nodeName != nil && !isTerminal }

    /// Available: ready for at least `minReadySeconds` at `nowSeconds`.
    func isAvailable(minReadySeconds: Int, nowSeconds: Int64) -> Bool {
        guard ready else { return false }
        if minReadySeconds == 0 { return true }
        guard let since = readySinceSeconds else { return false }
        return nowSeconds - since >= Int64(minReadySeconds)
    }
}

/// A node as the scheduler and the node lifecycle controller see it.
public struct NodeFacts: Sendable {
    public var meta: ObjectMeta
    public var allocatable: Resources
    public var unschedulable: Bool
    var taints: [Taint]
    /// The `Ready` condition's status: "True", "False", "Unknown", or nil when not reported.
    public var readyStatus: String?

    init(key: String, version: UInt64, object: JSON) {
        meta = ObjectMeta(key: key, version: version, object: object)
        let status = object["status"] ?? [:]
        var allocatable = Resources(status["allocatable"] ?? status["capacity"])
        if (status["allocatable"] ?? status["capacity"])?["pods"] == nil { allocatable.pods = 110 }
        self.allocatable = allocatable
        unschedulable = object[path: ["spec", "unschedulable"]] == true
        taints = (object[path: ["spec", "taints"]]?.arrayValue ?? []).map(Taint.init)
        readyStatus = (status["conditions"]?.arrayValue ?? []).first { $0["type"] == "Ready" }?["status"]?.stringValue
    }
}

/// The `maxSurge`/`maxUnavailable` of a rolling update: a count or a percentage of replicas.
public enum IntOrPercent: Equatable, Sendable {
    case count(Int)
    case percent(Int)

    init(_ json: JSON?, default value: IntOrPercent) {
        switch json {
        case .number?: self = .count(json?.intValue ?? 0)
        case .string(let text)? where text.hasSuffix("%"): self = .percent(Int(text.dropLast()) ?? 0)
        case .string(let text)?: self = Int(text).map(IntOrPercent.count) ?? value
        default: self = value
        }
    }

    /// The value for `total` replicas, rounding a percentage up or down.
    func resolve(_ total: Int, roundUp: Bool) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p): return roundUp ? (p * total + 99) / 100 : p * total / 100
        }
    }
}

/// A ReplicaSet as its controller and the Deployment controller see it.
public struct ReplicaSetFacts: Sendable {
    public var meta: ObjectMeta
    public var generation: Int
    public var replicas: Int
    var selector: LabelSelector?
    public var template: JSON
    var minReadySeconds: Int
    public var status: JSON
    var revision: Int

    public init(key: String, version: UInt64, object: JSON) {
        meta = ObjectMeta(key: key, version: version, object: object)
        generation = object[path: ["metadata", "generation"]]?.intValue ?? 1
        replicas = object[path: ["spec", "replicas"]]?.intValue ?? 1
        selector = try? LabelSelector(object: object[path: ["spec", "selector"]] ?? [:])
        template = object[path: ["spec", "template"]] ?? [:]
        minReadySeconds = object[path: ["spec", "minReadySeconds"]]?.intValue ?? 0
        status = object["status"] ?? [:]
        revision = Int(object[path: ["metadata", "annotations", ControlPlane.revisionAnnotation]]?.stringValue ?? "") ?? 0
    }

    var statusReplicas: Int { status["replicas"]?.intValue ?? 0 }
    public var availableReplicas: Int { status["availableReplicas"]?.intValue ?? 0 }
    var readyReplicas: Int { status["readyReplicas"]?.intValue ?? 0 }
}

/// A Deployment as its controller sees it.
public struct DeploymentFacts: Sendable {
    public var meta: ObjectMeta
    public var generation: Int
    public var replicas: Int
    var selector: LabelSelector?
    public var template: JSON
    public var recreate: Bool
    var maxSurge: IntOrPercent
    var maxUnavailable: IntOrPercent
    var revisionHistoryLimit: Int
    var paused: Bool
    var minReadySeconds: Int
    var progressDeadlineSeconds: Int

    init(key: String, version: UInt64, object: JSON) {
        meta = ObjectMeta(key: key, version: version, object: object)
        let spec = object["spec"] ?? [:]
        generation = object[path: ["metadata", "generation"]]?.intValue ?? 1
        replicas = spec["replicas"]?.intValue ?? 1
        selector = try? LabelSelector(object: spec["selector"] ?? [:])
        template = spec["template"] ?? [:]
        recreate = spec[path: ["strategy", "type"]] == "Recreate"
        maxSurge = IntOrPercent(spec[path: ["strategy", "rollingUpdate", "maxSurge"]], default: .percent(25))
        maxUnavailable = IntOrPercent(spec[path: ["strategy", "rollingUpdate", "maxUnavailable"]], default: .percent(25))
        revisionHistoryLimit = spec["revisionHistoryLimit"]?.intValue ?? 10
        paused = spec["paused"] == true
        minReadySeconds = spec["minReadySeconds"]?.intValue ?? 0
        progressDeadlineSeconds = spec["progressDeadlineSeconds"]?.intValue ?? 600
    }

    /// `maxSurge` and `maxUnavailable` as counts (Kubernetes' `ResolveFenceposts`): surge rounds
    /// up, unavailable down, and both zero means one may be unavailable.
    public var fenceposts: (surge: Int, unavailable: Int) {
        if recreate { return (0, replicas) }
        let surge = maxSurge.resolve(replicas, roundUp: true)
        let unavailable = maxUnavailable.resolve(replicas, roundUp: false)
        return surge == 0 && unavailable == 0 ? (0, 1) : (surge, unavailable)
    }
}

/// An Event as the recorder and the event collector see it.
public struct EventFacts: Sendable {
    public var meta: ObjectMeta
    public var count: Int
    /// The version that created it: events are collected oldest first.
    var createdVersion: UInt64
    /// What makes a later event the same one (Kubernetes' EventCorrelator): the same source,
    /// involved object, type, reason and message. Recorded again, it counts up instead.
    var correlation: String

    init(key: String, version: UInt64, createdVersion: UInt64, object: JSON) {
        meta = ObjectMeta(key: key, version: version, object: object)
        count = object["count"]?.intValue ?? 1
        self.createdVersion = createdVersion
        correlation = Self.correlation(component: object[path: ["source", "component"]]?.stringValue ?? "",
                                       involvedUID: object[path: ["involvedObject", "uid"]]?.stringValue ?? "",
                                       type: object["type"]?.stringValue ?? "", reason: object["reason"]?.stringValue ?? "",
                                       message: object["message"]?.stringValue ?? "")
    }

    static func correlation(component: String, involvedUID: String, type: String, reason: String, message: String) -> String {
        [component, involvedUID, type, reason, message].joined(separator: "\n")
    }
}
