import Master

/// Writes the controllers share: conditions, pod deletion, object and status updates.
extension ControlPlane {
    /// Sets a condition in `conditions` (at `path` in `object`), keeping `lastTransitionTime`
    /// when the status does not change. Returns whether anything but times changed. `touch`
    /// sets `updateTimeField` to now even when nothing else changes.
    @discardableResult
    func setCondition(_ object: inout JSON, at path: [String], type: String, status: String, reason: String, message: String,
                      updateTimeField: String? = nil, touch: Bool = false) -> Bool {
        var conditions = object[path: path]?.arrayValue ?? []
        let now = JSON.string(Timestamp.text(seconds: nowSeconds))
        let index = conditions.firstIndex { $0["type"] == .string(type) }
        let old = index.map { conditions[$0] }
        if !touch, let old, old["status"] == .string(status), old["reason"]?.stringValue ?? "" == reason, old["message"]?.stringValue ?? "" == message {
            return false
        }
        var condition: JSON = ["type": .string(type), "status": .string(status)]
        if !reason.isEmpty { condition["reason"] = .string(reason) }
        if !message.isEmpty { condition["message"] = .string(message) }
        condition["lastTransitionTime"] = old?["status"] == .string(status) ? old?["lastTransitionTime"] ?? now : now
        if let field = updateTimeField { condition[field] = now }
        if let index { conditions[index] = condition } else { conditions.append(condition) }
        object[path: path] = .array(conditions)
        return true
    }

    /// Deletes a pod as Kubernetes does: a pod bound to a node is marked (`deletionTimestamp`,
    /// its grace period) and left for the node's agent to stop and remove; any other pod goes at
    /// once.
    mutating func deletePod(_ pod: PodFacts, for work: Work, event: EventNote? = nil) {
        guard !pod.meta.deleting else { return }
        guard pod.nodeName != nil, !pod.isTerminal else {
            return write(.delete(key: pod.meta.key, expectedVersion: pod.meta.version), for: work, event: event)
        }
        var object = pod.meta.object
        object[path: ["metadata", "deletionTimestamp"]] = .string(Timestamp.text(seconds: nowSeconds))
        object[path: ["metadata", "deletionGracePeriodSeconds"]] = .number(object[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30)
        write(.update(key: pod.meta.key, object: object, expectedVersion: pod.meta.version), for: work, event: event)
    }

    /// Replaces the object (`subresource` nil) or its status with `object`, through the API's
    /// own rules for updates (generation, kept fields), conditional on the version read.
    mutating func update(_ meta: ObjectMeta, _ type: ResourceType, status: Bool = false, to object: JSON, for work: Work,
                         event: EventNote? = nil) {
        let path = ResourcePath(type: type, namespace: type.namespaced ? meta.namespace : nil, name: meta.name, subresource: status ? "status" : nil)
        guard let updated = try? Admission.update(path, object, current: meta.object, strict: false, defaults: options.defaults) else { return }
        write(.update(key: meta.key, object: updated, expectedVersion: meta.version), for: work, event: event)
    }

    /// Creates an object of `type` in `namespace` from `body` (with `generateName` or a name);
    /// `event(name)` is recorded once it applied.
    mutating func create(_ type: ResourceType, in namespace: String, _ body: JSON, for work: Work?,
                         event: ((String) -> EventNote)? = nil, recording: String? = nil) {
        let path = ResourcePath(type: type, namespace: namespace, name: nil, subresource: nil)
        guard let object = try? Admission.create(path, body, strict: false, stamp: stamp(), defaults: options.defaults) else { return }
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        write(.create(key: type.key(namespace: namespace, name: name), object: object), for: work, event: event?(name), recording: recording)
    }
}
