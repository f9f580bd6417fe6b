/// What a request to the API asks for, parsed from method and path. Kubernetes-shaped:
/// `/api/v1/namespaces[/{ns}]`, `/api/v1/namespaces/{ns}/configmaps[/{name}]`, plus the cluster's
/// own `/cluster/status`, `/healthz` and `/readyz`.
public enum APIRoute: Equatable, Sendable {
    case create(ResourceKind, namespace: String?)
    case get(ResourceKind, namespace: String?, name: String)
    case list(ResourceKind, namespace: String?)
    case replace(ResourceKind, namespace: String?, name: String)
    case delete(ResourceKind, namespace: String?, name: String)
    case clusterStatus
    case health
    case ready
    /// No such path (404) or a path without that method (405).
    case notFound
    case methodNotAllowed

    public init(method: String, path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts == ["cluster", "status"] || parts == ["healthz"] || parts == ["readyz"] {
            guard method == "GET" else {
                self = .methodNotAllowed
                return
            }
            self = parts == ["healthz"] ? .health : parts == ["readyz"] ? .ready : .clusterStatus
            return
        }
        guard parts.count >= 3, parts[0] == "api", parts[1] == "v1" else {
            self = .notFound
            return
        }
        let rest = Array(parts.dropFirst(2))
        switch rest.count {
        case 1 where rest[0] == "namespaces":
            self = APIRoute.collection(method, .namespaces, namespace: nil)
        case 1 where rest[0] == "configmaps":
            self = method == "GET" ? .list(.configmaps, namespace: nil) : .methodNotAllowed
        case 2 where rest[0] == "namespaces":
            self = APIRoute.item(method, .namespaces, namespace: nil, name: rest[1])
        case 3 where rest[0] == "namespaces" && rest[2] == "configmaps":
            self = APIRoute.collection(method, .configmaps, namespace: rest[1])
        case 4 where rest[0] == "namespaces" && rest[2] == "configmaps":
            self = APIRoute.item(method, .configmaps, namespace: rest[1], name: rest[3])
        default:
            self = .notFound
        }
    }

    static func collection(_ method: String, _ kind: ResourceKind, namespace: String?) -> APIRoute {
        switch method {
        case "GET": .list(kind, namespace: namespace)
        case "POST": .create(kind, namespace: namespace)
        default: .methodNotAllowed
        }
    }

    static func item(_ method: String, _ kind: ResourceKind, namespace: String?, name: String) -> APIRoute {
        switch method {
        case "GET": .get(kind, namespace: namespace, name: name)
        case "PUT": .replace(kind, namespace: namespace, name: name)
        case "DELETE": .delete(kind, namespace: namespace, name: name)
        default: .methodNotAllowed
        }
    }
}

/// The kinds of object the API serves so far.
public enum ResourceKind: String, Sendable, CaseIterable {
    case namespaces
    case configmaps

    public var kind: String {
        switch self {
        case .namespaces: "Namespace"
        case .configmaps: "ConfigMap"
        }
    }

    public var isNamespaced: Bool { self != .namespaces }

    /// The store key of one object: `resource/namespace/name` (namespace empty when cluster-scoped).
    public func key(namespace: String?, name: String) -> String {
        "\(rawValue)/\(namespace ?? "")/\(name)"
    }

    /// The key prefix of every object of this kind (in one namespace, when given).
    public func prefix(namespace: String?) -> String {
        namespace.map { "\(rawValue)/\($0)/" } ?? "\(rawValue)/"
    }
}
