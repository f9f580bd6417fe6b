import Master

/// The scheduler's loop: one pending pod at a time, bound by one conditional write.
extension ControlPlane {
    mutating func schedule(_ key: String) {
        guard let pod = view.pods[key], pod.nodeName == nil, pod.isActive, pod.schedulerName == "default-scheduler" else { return }
        let names = view.nodeNames
        let decision = Scheduler.decide(pod, view: view, nodeNames: names, start: scheduleStart, assumed: assumed,
                                        ignoreBound: options.plantedBugs.contains(.schedulerIgnoresBoundPods))
        if !names.isEmpty { scheduleStart = (scheduleStart + 1) % names.count }
        let work = Work.schedule(key)
        switch decision {
        case .bind(let node):
            var object = pod.meta.object
            object[path: ["spec", "nodeName"]] = .string(node)
            setCondition(&object, at: ["status", "conditions"], type: "PodScheduled", status: "True", reason: "", message: "")
            let expected = options.plantedBugs.contains(.bindWithoutCompareAndSwap) ? nil : pod.meta.version
            write(.update(key: key, object: object, expectedVersion: expected), for: work, by: "scheduler", binding: (node, pod))
        case .unschedulable(let message):
            waitingForChange.insert(key)
            var object = pod.meta.object
            if setCondition(&object, at: ["status", "conditions"], type: "PodScheduled", status: "False", reason: "Unschedulable", message: message) {
                write(.update(key: key, object: object, expectedVersion: pod.meta.version), for: work, by: "scheduler")
            }
        }
    }
}
