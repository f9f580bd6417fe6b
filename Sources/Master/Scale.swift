/// The `/scale` subresource: an `autoscaling/v1 Scale` view of a workload's `spec.replicas`, as
/// `kubectl scale` reads and patches it.
public enum Scale {
    /// The Scale of a workload (rendered, with its resourceVersion).
    public static func of(_ object: JSON) -> JSON {
        var metadata: JSON = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            metadata[field] = object[path: ["metadata", field]]
        }
        let selector = (try? LabelSelector(object: object[path: ["spec", "selector"]] ?? [:]))?.text ?? ""
        return [
            "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata,
            "spec": ["replicas": .number(object[path: ["spec", "replicas"]]?.intValue ?? 1)],
            "status": ["replicas": .number(object[path: ["status", "replicas"]]?.intValue ?? 0), "selector": .string(selector)],
        ]
    }

    /// The workload with the replicas a Scale asks for; the Scale's resourceVersion, if any,
    /// becomes the workload's (for compare-and-swap).
    public static func applying(_ scale: JSON, to object: JSON) throws(APIError) -> JSON {
        guard case .object = scale else { throw .badRequest("the request body must be a Scale object") }
        if let kind = scale["kind"], kind != "Scale" { throw .badRequest("expected kind Scale, got \(kind.stringValue ?? kind.typeName)") }
        guard let replicas = scale[path: ["spec", "replicas"]]?.intValue else {
            throw APIError(code: 422, reason: "Invalid", message: "Scale is invalid: spec.replicas: Required value")
        }
        guard replicas >= 0 else {
            throw APIError(code: 422, reason: "Invalid", message: "Scale is invalid: spec.replicas: Invalid value: \(replicas): must be greater than or equal to 0")
        }
        var result = object
        result[path: ["spec", "replicas"]] = .number(replicas)
        result[path: ["metadata", "resourceVersion"]] = scale[path: ["metadata", "resourceVersion"]]
        return result
    }
}
