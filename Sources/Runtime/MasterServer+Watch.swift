import Glibc
import Master
import Raft
import Store

/// One open watch: what it selects and the stream it writes events to, one JSON line each.
final class Watcher {
    let filter: ObjectFilter
    /// Only changes after this index are sent: the version the client asked to watch from (which
    /// this master may not have applied yet), or what it had applied when it listed the start.
    let after: UInt64
    let stream: HTTPStream
    /// Set when the client asked for `as=Table`: events carry one-row tables.
    var table: TableRenderer?
    let bookmarks: Bool
    var timer: UInt64?

    init(filter: ObjectFilter, after: UInt64, stream: HTTPStream, table: TableRenderer?, bookmarks: Bool) {
        self.filter = filter
        self.after = after
        self.stream = stream
        self.table = table
        self.bookmarks = bookmarks
    }

    func send(_ type: String, _ object: JSON) {
        var line = #"{"type":"\#(type)","object":"#
        if table != nil {
            table!.now = Int64(time(nil))  // AGE is relative to when the event is sent.
            table!.eventTable(object).write(into: &line)
        } else {
            object.write(into: &line)
        }
        line += "}\n"
        stream.send(Array(line.utf8))
    }
}

/// Watches, served by every master from what it applies: `?watch=true` streams one event per
/// line. Without a resourceVersion (or with `0`) the watch starts with an ADDED event for each
/// current match; with one, it replays the kept history after it (`410 Gone` when that is no
/// longer held), then follows live. Every master applies the same entries and keeps the same
/// history, so a client that loses its master resumes on another from its last resourceVersion.
extension MasterServer {
    func watch(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder) throws(APIError) {
        let filter = try ObjectFilter(path, labelSelector: request.queryValue("labelSelector"), fieldSelector: request.queryValue("fieldSelector"))
        let table = try tableRenderer(path.type, request)
        var timeoutNs: UInt64? = nil
        if let text = request.queryValue("timeoutSeconds"), !text.isEmpty {
            guard let seconds = UInt64(text) else { throw .badRequest("timeoutSeconds must be a non-negative integer") }
            timeoutNs = seconds * 1_000_000_000
        }
        let replay: [WatchEvent]
        var initial: [JSON] = []
        let after: UInt64
        switch request.queryValue("resourceVersion") ?? "" {
        case "", "0":
            let page = try ListPage(store: store, filter: filter, limit: nil, continueToken: nil)
            initial = page.items
            replay = []
            after = store.appliedIndex
        case let text:
            guard let version = UInt64(text) else { throw .badRequest("resourceVersion must be a decimal string, not \(JSON.quoted(text))") }
            guard let events = history.events(after: version) else {
                throw .gone("too old resource version: \(version) (\(history.firstIndex))")
            }
            replay = events
            after = version
        }
        guard let stream = respond.stream(status: 200, headers: [("Content-Type", "application/json")]) else { return }
        let watcher = Watcher(filter: filter, after: after, stream: stream, table: table, bookmarks: request.queryValue("allowWatchBookmarks") == "true")
        let id = nextWatcherID
        nextWatcherID += 1
        watchers[id] = watcher
        stream.onClose = { [unowned self] in self.forgetWatcher(id) }
        if let timeoutNs {
            watcher.timer = loop.schedule(afterNs: timeoutNs) { [unowned self] in
                self.watchers[id]?.timer = nil
                self.endWatcher(id)
            }
        }
        for object in initial { watcher.send("ADDED", object) }
        for event in replay { deliver(event, rendered: event.rendered(), to: watcher) }
    }

    func deliver(_ event: WatchEvent, rendered: (now: JSON, before: JSON?), to watcher: Watcher) {
        guard event.index > watcher.after, let kind = event.seen(by: watcher.filter, now: rendered.now, before: rendered.before) else { return }
        watcher.send(kind.rawValue, rendered.now)
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
        let concerned = watchers.values.filter { event.key.hasPrefix($0.filter.keyPrefix) }
        guard !concerned.isEmpty else { return }
        let rendered = event.rendered()
        for watcher in concerned { deliver(event, rendered: rendered, to: watcher) }
    }

    /// A BOOKMARK with the applied index to every watch that asked for them: everything up to it
    /// has been sent.
    func sendBookmarks() {
        for watcher in watchers.values where watcher.bookmarks {
            // Never behind where the watch started (a master may not have applied that far yet).
            let version = JSON.string(String(max(store.appliedIndex, watcher.after)))
            watcher.send("BOOKMARK", ["kind": .string(watcher.filter.type.kind), "apiVersion": .string(watcher.filter.type.apiVersion),
                                      "metadata": ["resourceVersion": version]])
        }
        loop.schedule(afterNs: options.bookmarkIntervalNs) { [unowned self] in self.sendBookmarks() }
    }

    func forgetWatcher(_ id: Int) {
        guard let watcher = watchers.removeValue(forKey: id) else { return }
        if let timer = watcher.timer { loop.cancel(timer) }
    }

    func endWatcher(_ id: Int) {
        guard let watcher = watchers[id] else { return }
        forgetWatcher(id)
        watcher.stream.end()
    }

    /// Ends every watch, first sending `error` as an ERROR event when given.
    func endWatches(_ error: APIError?) {
        for id in Array(watchers.keys) {
            if let error { watchers[id]?.send("ERROR", error.status) }
            endWatcher(id)
        }
    }
}
