/// What a request path names. Kubernetes-shaped: objects under `/api/v1/...` and
/// `/apis/GROUP/VERSION/...` (`namespaces/NS/PLURAL[/NAME[/SUBRESOURCE]]`, or `PLURAL[/NAME...]`
/// for cluster-scoped types and for lists across namespaces), discovery (`/version`, `/api`,
/// `/apis`, `/api/v1`, `/apis/G/V`), `/openapi/v3[/...]`, and the cluster's own `/cluster/status`,
/// `/healthz`, `/readyz`, `/livez` and `/metrics`.
public enum APIRoute: Equatable, Sendable {
    case resource(ResourcePath)
    case version
    /// `/api`: the core group's versions.
    case coreVersions
    /// `/apis`: the named groups.
    case groups
    /// `/apis/GROUP`: one group.
    case group(String)
    /// `/api/v1` or `/apis/G/V`: the resources of one group-version.
    case resourceList(group: String, version: String)
    case openAPIRoot
    case openAPI(group: String, version: String)
    case clusterStatus
    case health
    case ready
    case metrics
    case notFound

    public init(path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch parts.first {
        case "version" where parts.count == 1: self = .version
        case "healthz" where parts.count == 1, "livez" where parts.count == 1: self = .health
        case "readyz" where parts.count == 1: self = .ready
        case "metrics" where parts.count == 1: self = .metrics
        case "cluster" where parts == ["cluster", "status"]: self = .clusterStatus
        case "openapi": self = APIRoute.openAPI(Array(parts.dropFirst()))
        case "api":
            if parts.count == 1 {
                self = .coreVersions
            } else if parts[1] == "v1" {
                self = parts.count == 2 ? .resourceList(group: "", version: "v1") : APIRoute.resource("", "v1", Array(parts.dropFirst(2)))
            } else {
                self = .notFound
            }
        case "apis":
            switch parts.count {
            case 1: self = .groups
            case 2: self = ResourceType.all.contains { $0.group == parts[1] } ? .group(parts[1]) : .notFound
            case 3: self = ResourceType.all.contains { $0.group == parts[1] && $0.version == parts[2] } ? .resourceList(group: parts[1], version: parts[2]) : .notFound
            default: self = APIRoute.resource(parts[1], parts[2], Array(parts.dropFirst(3)))
            }
        default: self = .notFound
        }
    }

    static func openAPI(_ parts: [String]) -> APIRoute {
        guard parts.first == "v3" else { return .notFound }
        switch parts.count {
        case 1: return .openAPIRoot
        case 3 where parts[1] == "api": return .openAPI(group: "", version: parts[2])
        case 4 where parts[1] == "apis": return .openAPI(group: parts[2], version: parts[3])
        default: return .notFound
        }
    }

    /// `rest` follows `/api/v1` or `/apis/G/V`.
    static func resource(_ group: String, _ version: String, _ rest: [String]) -> APIRoute {
        func type(_ plural: String) -> ResourceType? { ResourceType.served(group: group, version: version, plural: plural) }
        // namespaces/NS/PLURAL[/NAME[/SUB]] — unless it is a namespace's own subresource (namespaces/NS/status).
        if rest.count >= 3, rest[0] == "namespaces", let t = type(rest[2]), t.namespaced {
            guard rest.count <= 5 else { return .notFound }
            return .resource(ResourcePath(type: t, namespace: rest[1], name: rest.count > 3 ? rest[3] : nil, subresource: rest.count > 4 ? rest[4] : nil))
        }
        guard let t = type(rest[0]), rest.count <= 3 else { return .notFound }
        // A namespaced plural alone lists across namespaces; its objects need a namespace.
        if t.namespaced && rest.count > 1 { return .notFound }
        return .resource(ResourcePath(type: t, namespace: nil, name: rest.count > 1 ? rest[1] : nil, subresource: rest.count > 2 ? rest[2] : nil))
    }
}

/// The objects a resource path names: one object (`name`), possibly a subresource of it, or a
/// collection (in one namespace, or across all when `namespace` is nil for a namespaced type).
public struct ResourcePath: Equatable, Sendable {
    public var type: ResourceType
    public var namespace: String?
    public var name: String?
    public var subresource: String?

    public init(type: ResourceType, namespace: String?, name: String?, subresource: String?) {
        self.type = type
        self.namespace = namespace
        self.name = name
        self.subresource = subresource
    }

    public static func == (a: ResourcePath, b: ResourcePath) -> Bool {
        a.type.description == b.type.description && a.namespace == b.namespace && a.name == b.name && a.subresource == b.subresource
    }

    /// The store key of the named object.
    public var key: String? { name.map { type.key(namespace: namespace, name: $0) } }
}
