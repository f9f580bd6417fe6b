import Master

/// Where the agent's view of its pods stands: listed or not, the open watch, the last version.
struct WatchState {
    /// A list is needed (at the start, and after `410 Gone`) before watching again.
    var needsList = true
    var streamID: UInt64?
    var streamMaster = 0
    /// The open watch's stream has started.
    var streaming = false
    /// The last resourceVersion seen (from the list, an event or a bookmark): where a watch resumes.
    var lastVersion: UInt64 = 0
    /// The watch since the last list has been resumed at least once.
    var resumed = false
    var retryAtNs: UInt64 = 0
    /// A started stream that has not ended by then (its `timeoutSeconds` and a request timeout
    /// past its start) has a silent master: it is left.
    var silentAfterNs: UInt64 = 0
}

/// The pods bound to this node: listed, then watched from the list's version; resumed from the
/// last version seen on any master, listed again only after `410 Gone` (the informer's contract).
extension AgentCore {
    var podSelector: String { "fieldSelector=spec.nodeName%3D\(config.nodeName)" }

    mutating func tendWatch() {
        if let stream = watch.streamID, watch.streamMaster != target {
            // The agent moved to another master: its watch moves with it.
            outbox.append(.cancel(id: stream))
            inFlight[stream] = nil
            watch.streamID = nil
            watch.streaming = false
        }
        if watch.streaming, now.monotonicNs >= watch.silentAfterNs { abandonWatch() }
        guard now.monotonicNs >= watch.retryAtNs else { return }
        if watch.needsList {
            guard !isPending(.list) else { return }
            return send(.list, HTTPRequest(method: "GET", target: "/api/v1/pods?\(podSelector)"))
        }
        guard watch.streamID == nil else { return }
        var from = watch.lastVersion
        if watch.resumed && config.plantedBugs.contains(.agentWatchResumesPastLastSeen) { from += 1 }
        let target = "/api/v1/pods?watch=true&allowWatchBookmarks=true&\(podSelector)&resourceVersion=\(from)&timeoutSeconds=\(config.watchSeconds)"
        watch.streamID = nextRequestID
        watch.streamMaster = self.target
        watch.streaming = false
        watch.resumed = true
        send(.watch, HTTPRequest(method: "GET", target: target))
    }

    /// The list's answer: the pods bound here now, and the version to watch from.
    mutating func listed(_ response: HTTPResponse) {
        guard response.status == 200, let list = try? JSONParser.parse(response.body),
            let version = list[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ UInt64($0) })
        else {
            moveOn(from: target)
            watch.retryAtNs = now.monotonicNs + Self.retryDelayNs
            return
        }
        let items = list["items"]?.arrayValue ?? []
        var present: Set<String> = []
        for item in items {
            if let uid = item[path: ["metadata", "uid"]]?.stringValue { present.insert(uid) }
            upsert(item)
        }
        for uid in pods.keys.sorted() where !present.contains(uid) { podGone(uid) }
        watch.needsList = false
        listCount += 1
        watch.resumed = false
        watch.lastVersion = version
        // What an earlier run of the agent left for pods no longer here is stopped.
        for key in adopted.keys.sorted() where pods[key.podUID] == nil {
            let run = adopted.removeValue(forKey: key)!.run
            outbox.append(.signalContainer(run, .kill))
            outbox.append(.removeContainer(run))
        }
    }

    /// A watch answered without a stream: an error.
    mutating func watchAnswered(_ response: HTTPResponse) {
        watch.streamID = nil
        watch.streaming = false
        if response.status == 410 {
            goneRelist()
        } else {
            moveOn(from: target)
            watch.retryAtNs = now.monotonicNs + Self.retryDelayNs
        }
    }

    /// `410 Gone`: the version is no longer held; list again (never skip ahead).
    mutating func goneRelist() {
        if config.plantedBugs.contains(.agentNoRelistAfterGone) {
            watch.lastVersion = 0  // the defect: watch "from now" and miss what happened between
            watch.resumed = false
        } else {
            watch.needsList = true
        }
    }

    /// One line of the stream.
    mutating func watchEvent(_ line: [UInt8]) {
        guard !line.isEmpty else { return }
        guard let event = try? JSONParser.parse(line), let type = event["type"]?.stringValue, let object = event["object"] else {
            return abandonWatch()
        }
        if type == "ERROR" {
            abandonWatch(moving: false)
            if object["code"]?.intValue == 410 { goneRelist() }
            return
        }
        guard let version = object[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ UInt64($0) }) else { return abandonWatch() }
        switch type {
        case "ADDED", "MODIFIED": upsert(object)
        case "DELETED": if let uid = object[path: ["metadata", "uid"]]?.stringValue { podGone(uid) }
        default: break  // BOOKMARK: only the version moves
        }
        // Under the version-0 defect, a watch replays current objects first with older versions.
        watch.lastVersion = max(watch.lastVersion, version)
    }

    /// Closes the current watch; it is opened again (at the next master unless `moving` is false).
    mutating func abandonWatch(moving: Bool = true) {
        if let stream = watch.streamID {
            outbox.append(.cancel(id: stream))
            inFlight[stream] = nil
        }
        watch.streamID = nil
        watch.streaming = false
        if moving { moveOn(from: target) }
    }
}
