/// One kind of object the API serves: its Kubernetes group, version and names, whether it lives
/// in a namespace, its subresources, and the schema its objects are checked against.
public struct ResourceType: Sendable, CustomStringConvertible {
    /// The API group; empty for the core group (`/api/v1`).
    public let group: String
    public let version: String
    public let kind: String
    /// The resource name in paths and store keys: `pods`.
    public let plural: String
    public let singular: String
    public let shortNames: [String]
    public let namespaced: Bool
    public let categories: [String]
    /// Has a `/status` subresource: writes to the object keep its status, writes to `/status`
    /// change only the status.
    public let hasStatus: Bool
    /// Has a `/scale` subresource (`autoscaling/v1 Scale` over `spec.replicas`).
    public let hasScale: Bool
    public let schema: Schema

    /// `v1` or `group/version`, as in an object's `apiVersion`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `api/v1` or `apis/group/version`: where the type's paths start.
    public var groupVersionPath: String { group.isEmpty ? "api/\(version)" : "apis/\(group)/\(version)" }
    public var listKind: String { kind + "List" }
    /// `pods` or `deployments.apps`: how kubectl names a resource type.
    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The store key of one object: `resource/namespace/name` (namespace empty when cluster-scoped).
    public func key(namespace: String?, name: String) -> String {
        "\(plural)/\(namespace ?? "")/\(name)"
    }

    /// The key prefix of every object of this type (in one namespace, when given).
    public func keyPrefix(namespace: String?) -> String {
        namespace.map { "\(plural)/\($0)/" } ?? "\(plural)/"
    }

    /// The verbs discovery advertises.
    public var verbs: [String] { ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] }
}

extension ResourceType {
    public static let namespaces = ResourceType(
        group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace", shortNames: ["ns"],
        namespaced: false, categories: [], hasStatus: true, hasScale: false, schema: KindSchemas.namespace)
    public static let configMaps = ResourceType(
        group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", shortNames: ["cm"],
        namespaced: true, categories: [], hasStatus: false, hasScale: false, schema: KindSchemas.configMap)
    public static let pods = ResourceType(
        group: "", version: "v1", kind: "Pod", plural: "pods", singular: "pod", shortNames: ["po"],
        namespaced: true, categories: ["all"], hasStatus: true, hasScale: false, schema: KindSchemas.pod)
    public static let nodes = ResourceType(
        group: "", version: "v1", kind: "Node", plural: "nodes", singular: "node", shortNames: ["no"],
        namespaced: false, categories: [], hasStatus: true, hasScale: false, schema: KindSchemas.node)
    public static let events = ResourceType(
        group: "", version: "v1", kind: "Event", plural: "events", singular: "event", shortNames: ["ev"],
        namespaced: true, categories: [], hasStatus: false, hasScale: false, schema: KindSchemas.event)
    public static let deployments = ResourceType(
        group: "apps", version: "v1", kind: "Deployment", plural: "deployments", singular: "deployment", shortNames: ["deploy"],
        namespaced: true, categories: ["all"], hasStatus: true, hasScale: true, schema: KindSchemas.deployment)
    public static let replicaSets = ResourceType(
        group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", singular: "replicaset", shortNames: ["rs"],
        namespaced: true, categories: ["all"], hasStatus: true, hasScale: true, schema: KindSchemas.replicaSet)
    public static let leases = ResourceType(
        group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", singular: "lease", shortNames: [],
        namespaced: true, categories: [], hasStatus: false, hasScale: false, schema: KindSchemas.lease)

    /// Every type the API serves, in discovery order.
    public static let all: [ResourceType] = [namespaces, configMaps, pods, nodes, events, deployments, replicaSets, leases]

    /// The group-versions, in discovery order: `v1` first.
    public static var groupVersions: [(group: String, version: String)] {
        var seen: [(String, String)] = []
        for type in all where !seen.contains(where: { $0 == (type.group, type.version) }) { seen.append((type.group, type.version)) }
        return seen
    }

    /// The type served at `group/version/plural`.
    public static func served(group: String, version: String, plural: String) -> ResourceType? {
        all.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    /// The type a user means by `name`, as kubectl resolves it: a plural, a singular, a short name
    /// or a kind, case-insensitively, optionally qualified by its group (`deployments.apps`).
    public static func named(_ name: String) -> ResourceType? {
        let lower = name.lowercased()
        let parts = lower.split(separator: ".", maxSplits: 1).map(String.init)
        let (base, group) = (parts[0], parts.count > 1 ? parts[1] : nil)
        return all.first { type in
            (group == nil || group == type.group)
                && (type.plural == base || type.singular == base || type.kind.lowercased() == base || type.shortNames.contains(base))
        }
    }
}
