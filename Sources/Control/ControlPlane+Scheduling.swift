import Master

/// The scheduler's loop: one pending pod at a time, bound by one conditional write.
extension ControlPlane {
    static let schedulerName = "default-scheduler"

    mutating func schedule(_ key: String) {
        guard let pod = view.pods[key], pod.nodeName == nil, pod.isActive, pod.schedulerName == Self.schedulerName else { return }
        let decision = Scheduler.decide(pod, view: view, start: scheduleStart, assumed: assumed,
                                        ignoreBound: options.plantedBugs.contains(.schedulerIgnoresBoundPods))
        if !view.nodeNames.isEmpty { scheduleStart = (scheduleStart + 1) % view.nodeNames.count }
        let work = Work.schedule(key)
        switch decision {
        case .bind(let node):
            var object = pod.meta.object
            object[path: ["spec", "nodeName"]] = .string(node)
            setCondition(&object, at: ["status", "conditions"], type: "PodScheduled", status: "True", reason: "", message: "")
            let expected = options.plantedBugs.contains(.bindWithoutCompareAndSwap) ? nil : pod.meta.version
            let event = EventNote(about: pod.meta, component: Self.schedulerName, reason: "Scheduled",
                                  message: "Successfully assigned \(pod.meta.namespace)/\(pod.meta.name) to \(node)")
            write(.update(key: key, object: object, expectedVersion: expected), for: work, binding: (node, pod), event: event)
        case .unschedulable(let message):
            waitingForChange.insert(key)
            var object = pod.meta.object
            if setCondition(&object, at: ["status", "conditions"], type: "PodScheduled", status: "False", reason: "Unschedulable", message: message) {
                let event = EventNote(about: pod.meta, component: Self.schedulerName, type: "Warning", reason: "FailedScheduling", message: message)
                write(.update(key: key, object: object, expectedVersion: pod.meta.version), for: work, event: event)
            }
        }
    }
}
