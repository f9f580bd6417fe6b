/// The defaults the Kubernetes API server fills in on create and update, so that the scheduler,
/// the controllers, the agents and `kubectl describe` all see complete objects. Idempotent: a
/// defaulted object defaults to itself (a Deployment's template hash must not move).
public enum Defaulting {
    /// What a cluster chooses about its defaults (`bosun master` flags).
    public struct Settings: Sendable, Equatable {
        /// How long pods tolerate the `not-ready` and `unreachable` taints before eviction
        /// (Kubernetes uses 300 s; a small cluster wants its pods back sooner).
        public var tolerationSeconds = 30

        public init() {}
    }

    /// The node taints the node lifecycle controller sets, which every pod tolerates for a while.
    public static let notReadyTaint = "node.kubernetes.io/not-ready"
    public static let unreachableTaint = "node.kubernetes.io/unreachable"

    /// Fills in the defaults of `object`, of type `type`.
    static func apply(_ type: ResourceType, _ object: inout JSON, settings: Settings) {
        switch type.plural {
        case "pods":
            if var spec = object["spec"] {
                podSpec(&spec)
                defaultTolerations(&spec, seconds: settings.tolerationSeconds)
                object["spec"] = spec
            }
        case "deployments", "replicasets":
            var spec = object["spec"] ?? [:]
            if spec["replicas"] == nil || spec["replicas"] == .null { spec["replicas"] = 1 }
            if type.plural == "deployments" {
                var strategy = spec["strategy"] ?? [:]
                if strategy["type"]?.stringValue == nil { strategy["type"] = "RollingUpdate" }
                if strategy["type"] == "RollingUpdate" {
                    var rolling = strategy["rollingUpdate"] ?? [:]
                    if rolling["maxSurge"] == nil { rolling["maxSurge"] = "25%" }
                    if rolling["maxUnavailable"] == nil { rolling["maxUnavailable"] = "25%" }
                    strategy["rollingUpdate"] = rolling
                }
                spec["strategy"] = strategy
                if spec["revisionHistoryLimit"] == nil { spec["revisionHistoryLimit"] = 10 }
                if spec["progressDeadlineSeconds"] == nil { spec["progressDeadlineSeconds"] = 600 }
            }
            if var podSpec = spec[path: ["template", "spec"]] {
                Self.podSpec(&podSpec)
                spec[path: ["template", "spec"]] = podSpec
            }
            object["spec"] = spec
        default: break
        }
    }

    static func podSpec(_ spec: inout JSON) {
        let defaults: [(String, JSON)] = [
            ("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30), ("dnsPolicy", "ClusterFirst"),
            ("schedulerName", "default-scheduler"), ("enableServiceLinks", true), ("securityContext", [:]),
        ]
        for (field, value) in defaults where spec[field] == nil || spec[field] == .null { spec[field] = value }
        for list in ["initContainers", "containers"] {
            guard let containers = spec[list]?.arrayValue else { continue }
            spec[list] = .array(containers.map(container))
        }
    }

    static func container(_ container: JSON) -> JSON {
        var container = container
        if container["imagePullPolicy"]?.stringValue == nil {
            container["imagePullPolicy"] = .string(pullsAlways(container["image"]?.stringValue ?? "") ? "Always" : "IfNotPresent")
        }
        if container["terminationMessagePath"]?.stringValue == nil { container["terminationMessagePath"] = "/dev/termination-log" }
        if container["terminationMessagePolicy"]?.stringValue == nil { container["terminationMessagePolicy"] = "File" }
        if container["resources"] == nil { container["resources"] = [:] }
        if let ports = container["ports"]?.arrayValue {
            container["ports"] = .array(ports.map { port in
                var port = port
                if port["protocol"]?.stringValue == nil { port["protocol"] = "TCP" }
                return port
            })
        }
        return container
    }

    /// Whether an image reference has no tag, or the tag `latest` (a digest pins it).
    static func pullsAlways(_ image: String) -> Bool {
        if image.contains("@") { return false }
        let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = lastComponent.lastIndex(of: ":") else { return true }
        return lastComponent[lastComponent.index(after: colon)...] == "latest"
    }

    /// Kubernetes' DefaultTolerationSeconds admission: a pod that does not tolerate the
    /// not-ready and unreachable taints tolerates them for `seconds`.
    static func defaultTolerations(_ spec: inout JSON, seconds: Int) {
        var tolerations = spec["tolerations"]?.arrayValue ?? []
        for key in [notReadyTaint, unreachableTaint] {
            let tolerated = tolerations.contains { t in
                let effect = t["effect"]?.stringValue ?? ""
                let matchesKey = t["key"]?.stringValue == key || (t["key"]?.stringValue ?? "").isEmpty && t["operator"] == "Exists"
                return matchesKey && (effect.isEmpty || effect == "NoExecute")
            }
            if !tolerated {
                tolerations.append(["key": .string(key), "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": .number(seconds)])
            }
        }
        spec["tolerations"] = .array(tolerations)
    }
}
