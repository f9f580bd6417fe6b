import Host
import Master
import Raft
import Store

/// One open watch: what it selects and where its stream starts.
struct Watcher {
    let filter: ObjectFilter
    /// Only changes after this index are sent: the version the client asked to watch from (which
    /// this master may not have applied yet), or what it had applied when it listed the start.
    let after: UInt64
    /// Set when the client asked for `as=Table`: events carry one-row tables.
    var table: TableRenderer?
    let bookmarks: Bool
    /// When the watch ends (`timeoutSeconds`), if it asked for an end.
    let deadlineNs: UInt64?
    /// Set while the watch sends its start, in steps: the objects that match now, then the changes
    /// kept in the history since (live changes wait there meanwhile, so they follow in order).
    var catchUp: CatchUp?
    /// The last index whose change the catch-up has looked at.
    var seenUpTo: UInt64

    enum CatchUp {
        case objects(ListScan)
        case events([WatchEvent], next: Int)
    }
}

/// Watches, served by every master from what it applies: `?watch=true` streams one event per
/// line. Without a resourceVersion (or with `0`) the watch starts with an ADDED event for each
/// current match; with one, it replays the kept history after it (`410 Gone` when that is no
/// longer held), then follows live. Every master applies the same entries and keeps the same
/// history, so a client that loses its master resumes on another from its last resourceVersion.
extension MasterCore {
    func watch(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest) throws(APIError) {
        let filter = try ObjectFilter(path, labelSelector: request.queryValue("labelSelector"), fieldSelector: request.queryValue("fieldSelector"))
        let table = try tableRenderer(path.type, request)
        var deadlineNs: UInt64? = nil
        if let text = request.queryValue("timeoutSeconds"), !text.isEmpty {
            guard let seconds = UInt64(text), seconds <= 1 << 32 else { throw .badRequest("timeoutSeconds must be a non-negative integer") }
            deadlineNs = nowNs + seconds * 1_000_000_000
        }
        let after: UInt64
        let catchUp: Watcher.CatchUp
        switch request.queryValue("resourceVersion") ?? "" {
        case "", "0":
            catchUp = .objects(try ListScan(store: store, filter: filter, limit: nil, continueToken: nil))
            after = store.appliedIndex
        case let text:
            guard let version = UInt64(text) else { throw .badRequest("resourceVersion must be a decimal string, not \(JSON.quoted(text))") }
            // Only the events of the watched resource are parsed (the history holds every kind):
            // a resumed watch of pods must not cost a parse of every Lease renewal since its
            // version (with 50 agents resuming at once after a failover, that starved the loops).
            guard let events = history.events(after: version, under: filter.keyPrefix) else {
                throw .gone("too old resource version: \(version) (\(history.firstIndex))")
            }
            catchUp = .events(events, next: 0)
            after = host.node.config.plantedBugs.contains(.watchResumesPastNext) ? version + 1 : version
        }
        outbox.append(.startStream(id, HTTPResponse(status: 200, headers: [("Content-Type", "application/json")])))
        watchers[id] = Watcher(
            filter: filter, after: after, table: table, bookmarks: request.queryValue("allowWatchBookmarks") == "true",
            deadlineNs: deadlineNs, catchUp: catchUp, seenUpTo: min(after, store.appliedIndex))
        catchingUp.insert(id)
        stepCatchUp(id, maxObjects: options.stepObjects, maxBytes: options.stepBytes)
    }

    /// Sends the next part of a watch's start; once the history holds nothing newer than what
    /// it sent, the watch follows live changes.
    func stepCatchUp(_ id: RequestID, maxObjects: Int, maxBytes: Int) {
        guard let catchUp = watchers[id]?.catchUp else {
            catchingUp.remove(id)
            return
        }
        switch catchUp {
        case .objects(var scan):
            for object in scan.next(maxKeys: maxObjects, maxBytes: maxBytes) { send(id, "ADDED", object) }
            if !scan.isDone { return watchers[id]!.catchUp = .objects(scan) }
        case .events(let events, var next):
            let end = min(events.count, next + max(1, maxObjects))
            while next < end {
                let event = events[next]
                next += 1
                deliver(event, rendered: event.rendered(), to: id)
                watchers[id]?.seenUpTo = event.index
            }
            if next < events.count { return watchers[id]!.catchUp = .events(events, next: next) }
        }
        guard let seen = watchers[id]?.seenUpTo, let filter = watchers[id]?.filter else { return }
        if host.node.config.plantedBugs.contains(.watchStartSkipsLiveChanges) {
            watchers[id]!.catchUp = nil
            catchingUp.remove(id)
            return
        }
        guard let newer = history.events(after: seen, under: filter.keyPrefix) else {
            send(id, "ERROR", APIError.gone("the watch fell behind the kept history; list again").status)
            return endWatch(id)
        }
        if newer.isEmpty {
            watchers[id]!.catchUp = nil
            catchingUp.remove(id)
        } else {
            watchers[id]!.catchUp = .events(newer, next: 0)
        }
    }

    /// Writes one event line to the watch's stream.
    func send(_ id: RequestID, _ type: String, _ object: JSON) {
        guard var watcher = watchers[id] else { return }
        var line = #"{"type":"\#(type)","object":"#
        if watcher.table != nil {
            watcher.table!.now = nowSeconds  // AGE is relative to when the event is sent.
            watcher.table!.eventTable(object).write(into: &line)
            watchers[id] = watcher
        } else {
            object.write(into: &line)
        }
        line += "}\n"
        outbox.append(.streamChunk(id, Array(line.utf8)))
    }

    func deliver(_ event: WatchEvent, rendered: (now: JSON, before: JSON?), to id: RequestID) {
        guard let watcher = watchers[id], event.index > watcher.after,
            let kind = event.seen(by: watcher.filter, now: rendered.now, before: rendered.before)
        else { return }
        send(id, kind.rawValue, rendered.now)
    }

    /// Records an applied change in the history and sends it to the watches it concerns. A
    /// retried request that changed nothing, a failed one or a no-op records nothing.
    func recordChange(at index: LogIndex, _ applied: KVStore.Applied) {
        guard applied.position == index, case .ok = applied.result, let request = applied.request else { return }
        let event: WatchEvent
        switch request.operation {
        case .create(let key, let value): event = WatchEvent(kind: .added, index: index, key: key, object: value, previous: nil)
        case .update(let key, let value, _): event = WatchEvent(kind: .modified, index: index, key: key, object: value, previous: applied.previous?.value)
        case .delete(let key, _): event = WatchEvent(kind: .deleted, index: index, key: key, object: applied.previous?.value ?? "{}", previous: nil)
        }
        history.append(event)
        // A watch still catching up finds this change in the history when it gets there.
        let concerned = watchers.keys.filter { watchers[$0]!.catchUp == nil && event.key.hasPrefix(watchers[$0]!.filter.keyPrefix) }.sorted()
        guard !concerned.isEmpty else { return }
        let rendered = event.rendered()
        for id in concerned { deliver(event, rendered: rendered, to: id) }
    }

    /// A BOOKMARK with the applied index to every watch that asked for them: everything up to it
    /// has been sent.
    func sendBookmarks() {
        for id in watchers.keys.sorted() {
            // A watch still catching up has not been sent everything up to the applied index.
            guard let watcher = watchers[id], watcher.bookmarks, watcher.catchUp == nil else { continue }
            // Never behind where the watch started (a master may not have applied that far yet).
            let version = JSON.string(String(max(store.appliedIndex, watcher.after)))
            send(id, "BOOKMARK", ["kind": .string(watcher.filter.type.kind), "apiVersion": .string(watcher.filter.type.apiVersion),
                                  "metadata": ["resourceVersion": version]])
        }
    }

    /// Ends the watches whose `timeoutSeconds` ran out (looked for ten times a second).
    func expireWatches() {
        guard nowNs >= nextWatchExpiryNs else { return }
        nextWatchExpiryNs = nowNs + 100_000_000
        for id in watchers.keys.sorted() {
            if let deadline = watchers[id]?.deadlineNs, deadline <= nowNs { endWatch(id) }
        }
    }

    func endWatch(_ id: RequestID) {
        catchingUp.remove(id)
        guard watchers.removeValue(forKey: id) != nil else { return }
        outbox.append(.endStream(id))
    }

    /// Ends every watch, first sending `error` as an ERROR event when given.
    public func endWatches(_ error: APIError?) {
        for id in watchers.keys.sorted() {
            if let error { send(id, "ERROR", error.status) }
            endWatch(id)
        }
    }
}
