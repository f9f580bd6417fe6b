/// The documents clients read before anything else: `/version`, the API groups and resources
/// (legacy discovery, which `kubectl` and the Python dynamic client both accept), and OpenAPI v3
/// with one small document per group-version, enough for `kubectl apply`, `create` and `replace`
/// to leave validation to the server (`fieldValidation=Strict`).
public enum Discovery {
    /// Minor 32: the `kubectl` dispatcher picks its client by the server's minor version.
    public static let version: JSON = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-bosun", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z", "goVersion": "", "compiler": "swiftc", "platform": "linux/amd64",
    ]

    /// `/api`.
    public static let coreVersions: JSON = [
        "kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"],
        "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": ""]],
    ]

    static func group(_ name: String) -> JSON {
        let versions = ResourceType.groupVersions.filter { $0.group == name }.map { gv -> JSON in
            ["groupVersion": .string("\(name)/\(gv.version)"), "version": .string(gv.version)]
        }
        return ["name": .string(name), "versions": .array(versions), "preferredVersion": versions.first ?? [:]]
    }

    /// `/apis`.
    public static var groups: JSON {
        let names = ResourceType.groupVersions.map(\.group).filter { !$0.isEmpty }
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(unique.map(group))]
    }

    /// `/apis/GROUP`.
    public static func groupDocument(_ name: String) -> JSON {
        var document = group(name)
        document["kind"] = "APIGroup"
        document["apiVersion"] = "v1"
        return document
    }

    /// `/api/v1` or `/apis/G/V`: each resource with its verbs, short names and categories, and
    /// its subresources.
    public static func resourceList(group: String, version: String) -> JSON {
        var resources: [JSON] = []
        for type in ResourceType.all where type.group == group && type.version == version {
            var resource: JSON = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(type.verbs.map(JSON.string)),
            ]
            if !type.shortNames.isEmpty { resource["shortNames"] = .array(type.shortNames.map(JSON.string)) }
            if !type.categories.isEmpty { resource["categories"] = .array(type.categories.map(JSON.string)) }
            resources.append(resource)
            let subresourceVerbs: JSON = ["get", "patch", "update"]
            if type.hasStatus {
                resources.append(["name": .string(type.plural + "/status"), "singularName": "", "namespaced": .bool(type.namespaced),
                                  "kind": .string(type.kind), "verbs": subresourceVerbs])
            }
            if type.hasScale {
                resources.append(["name": .string(type.plural + "/scale"), "singularName": "", "namespaced": .bool(type.namespaced),
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": subresourceVerbs])
            }
        }
        let groupVersion = group.isEmpty ? version : "\(group)/\(version)"
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion), "resources": .array(resources)]
    }

    /// `/openapi/v3`: where each group-version's document is.
    public static var openAPIRoot: JSON {
        var paths: [String: JSON] = [:]
        for gv in ResourceType.groupVersions {
            let path = gv.group.isEmpty ? "api/\(gv.version)" : "apis/\(gv.group)/\(gv.version)"
            paths[path] = ["serverRelativeURL": .string("/openapi/v3/\(path)")]
        }
        return ["paths": .object(paths)]
    }

    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/G/V`: the paths of every resource, each
    /// operation tagged with its group-version-kind and accepting `fieldValidation`. Nil for an
    /// unknown group-version.
    public static func openAPI(group: String, version: String) -> JSON? {
        let types = ResourceType.all.filter { $0.group == group && $0.version == version }
        guard !types.isEmpty else { return nil }
        var paths: [String: JSON] = [:]
        for type in types {
            let gvk: JSON = ["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)]
            func operation(_ action: String, validated: Bool) -> JSON {
                var parameters: [JSON] = []
                if validated {
                    parameters.append(["name": "fieldValidation", "in": "query", "schema": ["type": "string", "uniqueItems": true]])
                    parameters.append(["name": "fieldManager", "in": "query", "schema": ["type": "string", "uniqueItems": true]])
                    parameters.append(["name": "dryRun", "in": "query", "schema": ["type": "string", "uniqueItems": true]])
                }
                return ["operationId": .string("\(action)\(type.kind)"), "x-kubernetes-action": .string(action),
                        "x-kubernetes-group-version-kind": gvk, "parameters": .array(parameters),
                        "responses": ["200": ["description": "OK"]]]
            }
            let base = "/" + type.groupVersionPath + (type.namespaced ? "/namespaces/{namespace}/" : "/") + type.plural
            paths[base] = ["get": operation("list", validated: false), "post": operation("post", validated: true)]
            paths[base + "/{name}"] = ["get": operation("get", validated: false), "put": operation("put", validated: true),
                                       "patch": operation("patch", validated: true), "delete": operation("delete", validated: false)]
        }
        return ["openapi": "3.0.0", "info": ["title": "Bosun", "version": "v1.32.0"], "paths": .object(paths)]
    }
}
