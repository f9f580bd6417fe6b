/// The rules of each kind beyond field types, in Kubernetes' words (`Required value`,
/// `Invalid value: ...`), each naming its field.
enum Validation {
    static func check(_ type: ResourceType, _ object: JSON) -> [FieldError] {
        var errors = metadata(type, object)
        switch type.plural {
        case "configmaps": errors += configMap(object)
        case "pods": errors += podSpec(object["spec"] ?? [:], at: "spec")
        case "deployments", "replicasets": errors += workload(type, object)
        case "leases":
            if let seconds = object[path: ["spec", "leaseDurationSeconds"]]?.intValue, seconds <= 0 {
                errors.append(FieldError(path: "spec.leaseDurationSeconds", message: "Invalid value: \(seconds): must be greater than 0"))
            }
        default: break
        }
        return errors
    }

    static func invalid(_ path: String, _ value: String, _ why: String) -> FieldError {
        FieldError(path: path, message: "Invalid value: \(JSON.quoted(value)): \(why)")
    }

    static func metadata(_ type: ResourceType, _ object: JSON) -> [FieldError] {
        var errors: [FieldError] = []
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        if name.isEmpty {
            errors.append(FieldError(path: "metadata.name", message: "Required value: name or generateName is required"))
        } else if type.plural == "namespaces" ? !isDNSLabel(name) : !isDNSSubdomain(name) {
            let rule = type.plural == "namespaces"
                ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
                : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            errors.append(invalid("metadata.name", name, rule))
        }
        for (key, value) in (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !LabelSelector.isValidKey(key) {
                errors.append(invalid("metadata.labels", key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
            }
            if let text = value.stringValue, !LabelSelector.isValidValue(text) {
                errors.append(invalid("metadata.labels", text, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
            }
        }
        for key in (object[path: ["metadata", "annotations"]]?.objectValue ?? [:]).keys.sorted() where !LabelSelector.isValidKey(key) {
            errors.append(invalid("metadata.annotations", key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
        }
        return errors
    }

    static func configMap(_ object: JSON) -> [FieldError] {
        var errors: [FieldError] = []
        let valid: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        for field in ["data", "binaryData"] {
            for key in (object[field]?.objectValue ?? [:]).keys.sorted() where key.isEmpty || !key.allSatisfy(valid) {
                errors.append(invalid("\(field)[\(key)]", key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            }
        }
        return errors
    }

    static func podSpec(_ spec: JSON, at path: String) -> [FieldError] {
        var errors: [FieldError] = []
        let containers = spec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(FieldError(path: "\(path).containers", message: "Required value")) }
        var names: Set<String> = []
        for (list, items) in [("initContainers", spec["initContainers"]?.arrayValue ?? []), ("containers", containers)] {
            for (i, container) in items.enumerated() {
                let at = "\(path).\(list)[\(i)]"
                let name = container["name"]?.stringValue ?? ""
                if name.isEmpty {
                    errors.append(FieldError(path: "\(at).name", message: "Required value"))
                } else if !isDNSLabel(name) {
                    errors.append(invalid("\(at).name", name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"))
                } else if !names.insert(name).inserted {
                    errors.append(FieldError(path: "\(at).name", message: "Duplicate value: \(JSON.quoted(name))"))
                }
                if (container["image"]?.stringValue ?? "").isEmpty {
                    errors.append(FieldError(path: "\(at).image", message: "Required value"))
                }
            }
        }
        if let policy = spec["restartPolicy"]?.stringValue, !["Always", "OnFailure", "Never"].contains(policy) {
            errors.append(FieldError(path: "\(path).restartPolicy", message: "Unsupported value: \(JSON.quoted(policy)): supported values: \"Always\", \"OnFailure\", \"Never\""))
        }
        return errors
    }

    /// Deployments and ReplicaSets: replicas not negative, a non-empty selector that selects the
    /// template's labels, and a valid pod template.
    static func workload(_ type: ResourceType, _ object: JSON) -> [FieldError] {
        var errors: [FieldError] = []
        if let replicas = object[path: ["spec", "replicas"]]?.intValue, replicas < 0 {
            errors.append(FieldError(path: "spec.replicas", message: "Invalid value: \(replicas): must be greater than or equal to 0"))
        }
        let selectorObject = object[path: ["spec", "selector"]] ?? [:]
        let labels = (object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        do {
            let selector = try LabelSelector(object: selectorObject)
            if selector.isEmpty {
                errors.append(FieldError(path: "spec.selector", message: "Invalid value: empty selector is invalid for \(type.kind.lowercased())"))
            } else if object[path: ["spec", "template"]] != nil, !selector.matches(labels) {
                errors.append(FieldError(path: "spec.template.metadata.labels", message: "Invalid value: \(JSON.object(labels.mapValues(JSON.string)).text): `selector` does not match template `labels`"))
            }
        } catch {
            errors.append(FieldError(path: "spec.selector", message: "Invalid value: \(error.message)"))
        }
        if let template = object[path: ["spec", "template"]] {
            errors += podSpec(template["spec"] ?? [:], at: "spec.template.spec")
        } else if type.plural == "deployments" {
            errors.append(FieldError(path: "spec.template", message: "Required value"))
        }
        return errors
    }
}
