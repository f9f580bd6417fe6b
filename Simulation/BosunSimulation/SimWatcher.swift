import Master
import Raft
import Store

/// A client that follows the ConfigMaps in `default` the way an informer does: it lists, then
/// watches from the list's resourceVersion at one master; when the stream ends or breaks (the
/// master's `timeoutSeconds`, a crash) it resumes at the next master from the last version it
/// saw; on `410 Gone` it lists again. What it receives is checked at the end against the
/// committed log (`WatchChecker`).
struct SimWatcher {
    var target: Int
    /// Bumped on every request, so stale answers, chunks and timeouts are ignored.
    var attempt: UInt64 = 0
    /// The stream of the current attempt has started.
    var streaming = false
    /// A list is needed (at the start, and after 410) before watching again.
    var listing = true
    /// The last resourceVersion seen: where a resumed watch starts.
    var lastVersion: LogIndex = 0
    /// What was received, one segment per list: the list's version, then the events after it.
    var segments: [WatchSegment] = []
    /// Chunks of one connection arrive in order: none is delivered before this time.
    var deliveredUpToNs: UInt64 = 0
}

/// One list and the watch events that followed it, across resumes on other masters.
struct WatchSegment {
    var listedAt: LogIndex
    var events: [WatchedEvent] = []
}

/// A watch event as the watcher read it.
struct WatchedEvent: Equatable, CustomStringConvertible {
    var type: String
    var name: String
    var version: LogIndex
    var value: String?

    var description: String { "\(type) \(name)=\(value ?? "-")@\(version)" }
}

extension Simulation {
    func list(_ w: Int) {
        if !watchers[w].segments.isEmpty && !watchers[w].listing { stats.watchRelists += 1 }
        watchers[w].attempt += 1
        watchers[w].streaming = false
        watchers[w].listing = true
        let attempt = watchers[w].attempt
        let request = HTTPRequest(method: "GET", target: Self.configMapsPath)
        if !networkRng.chance(lossRate) {
            schedule(after: networkDelay(), .request(node: watchers[w].target, .watcher(w), attempt: attempt, request))
        }
        schedule(after: clientTimeoutNs, .watcherTimeout(watcher: w, attempt: attempt))
    }

    /// Watches from `lastVersion` at the target master; the master ends the stream after a few
    /// seconds, so resumes happen often.
    func openWatch(_ w: Int) {
        watchers[w].attempt += 1
        watchers[w].streaming = false
        let attempt = watchers[w].attempt
        let seconds: UInt64 = workloadRng.uniform(1...6)
        let target = "\(Self.configMapsPath)?watch=true&resourceVersion=\(watchers[w].lastVersion)&timeoutSeconds=\(seconds)"
        if !networkRng.chance(lossRate) {
            schedule(after: networkDelay(), .request(node: watchers[w].target, .watcher(w), attempt: attempt, HTTPRequest(method: "GET", target: target)))
        }
        schedule(after: clientTimeoutNs, .watcherTimeout(watcher: w, attempt: attempt))
    }

    /// No answer (or no stream) in time: the same step again at the next master.
    func watcherTimedOut(_ w: Int, attempt: UInt64) {
        guard watchers[w].attempt == attempt, !watchers[w].streaming else { return }
        watchers[w].target = (watchers[w].target + 1) % nodes.count
        if watchers[w].listing { list(w) } else { openWatch(w) }
    }

    func watcherReceived(_ w: Int, attempt: UInt64, _ response: HTTPResponse) {
        guard watchers[w].attempt == attempt else { return }
        switch response.status {
        case 200 where watchers[w].listing:
            guard let text = (try? JSONParser.parse(response.body))?[path: ["metadata", "resourceVersion"]]?.stringValue,
                let version = LogIndex(text)
            else { return fail(Violation(invariant: "API answer", detail: "watcher \(w): a list without a resourceVersion")) }
            watchers[w].segments.append(WatchSegment(listedAt: version))
            watchers[w].lastVersion = version
            watchers[w].listing = false
            openWatch(w)
        case 410:
            list(w)  // The version is no longer held: list again, as an informer does.
        case 503, 429, 504:
            watchers[w].target = (watchers[w].target + 1) % nodes.count
            watchers[w].attempt += 1
            let again = watchers[w].attempt
            schedule(after: 10_000_000, .watcherTimeout(watcher: w, attempt: again))
        default:
            fail(Violation(invariant: "API answer", detail: "watcher \(w) got \(response.status): \(String(decoding: response.body, as: UTF8.self))"))
        }
    }

    func watchChunk(_ w: Int, attempt: UInt64, _ bytes: [UInt8]) {
        guard watchers[w].attempt == attempt else { return }
        watchers[w].streaming = true
        guard !bytes.isEmpty else { return }
        guard let line = try? JSONParser.parse(bytes), let type = line["type"]?.stringValue, let object = line["object"] else {
            return fail(Violation(invariant: "watch stream", detail: "watcher \(w) read an undecodable event: \(String(decoding: bytes, as: UTF8.self))"))
        }
        if type == "ERROR" {
            return list(w)  // 410 after a snapshot replaced the master's state: list again.
        }
        guard let name = object[path: ["metadata", "name"]]?.stringValue,
            let version = object[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap({ LogIndex($0) }),
            !watchers[w].segments.isEmpty
        else {
            return fail(Violation(invariant: "watch stream", detail: "watcher \(w) read an event without name or version: \(String(decoding: bytes, as: UTF8.self))"))
        }
        let event = WatchedEvent(type: type, name: name, version: version, value: object[path: ["data", "v"]]?.stringValue)
        watchers[w].segments[watchers[w].segments.count - 1].events.append(event)
        stats.watchEvents += 1
        watchers[w].lastVersion = version
    }

    /// The stream ended (or broke): resume from the last version at the next master.
    func watchEnded(_ w: Int, attempt: UInt64) {
        guard watchers[w].attempt == attempt else { return }
        watchers[w].target = (watchers[w].target + 1) % nodes.count
        stats.watchResumes += 1
        openWatch(w)
    }
}

/// Checks what the watchers received against the committed log: after each list at version L,
/// the events are exactly the committed changes to the ConfigMaps in `default` after L, in order,
/// none missing, none repeated — across resumes on other masters, failovers and snapshot
/// installs (a watch that cannot continue must end with 410, never skip).
enum WatchChecker {
    static func check(_ watchers: [SimWatcher], committed: [Entry]) -> Violation? {
        var store = KVStore()
        var changes: [WatchedEvent] = []
        let prefix = ResourceType.configMaps.keyPrefix(namespace: "default")
        for e in committed {
            let applied = store.apply(e)
            guard applied.position == e.index, case .ok = applied.result, let request = applied.request,
                request.operation.key.hasPrefix(prefix)
            else { continue }
            let name = String(request.operation.key.dropFirst(prefix.count))
            func value(_ text: String?) -> String? { text.flatMap { (try? JSONParser.parse($0))?[path: ["data", "v"]]?.stringValue } }
            switch request.operation {
            case .create(_, let text): changes.append(WatchedEvent(type: "ADDED", name: name, version: e.index, value: value(text)))
            case .update(_, let text, _): changes.append(WatchedEvent(type: "MODIFIED", name: name, version: e.index, value: value(text)))
            case .delete: changes.append(WatchedEvent(type: "DELETED", name: name, version: e.index, value: value(applied.previous?.value)))
            }
        }
        for (w, watcher) in watchers.enumerated() {
            if let v = compare(watcher.segments, with: changes, reader: "watcher \(w)") { return v }
        }
        return nil
    }

    /// After each list at version L, the events read are exactly the `changes` after L, up to the
    /// last one read.
    static func compare(_ segments: [WatchSegment], with changes: [WatchedEvent], reader: String) -> Violation? {
        for segment in segments {
            guard let last = segment.events.last?.version else { continue }
            let expected = changes.filter { $0.version > segment.listedAt && $0.version <= last }
            if segment.events != expected {
                let k = Array(zip(segment.events, expected)).firstIndex { $0.0 != $0.1 } ?? min(segment.events.count, expected.count)
                return Violation(
                    invariant: "watch delivers every change once, in order",
                    detail: "\(reader) listed at \(segment.listedAt); event \(k + 1) was \(k < segment.events.count ? "\(segment.events[k])" : "missing"), the log gives \(k < expected.count ? "\(expected[k])" : "nothing")")
            }
        }
        return nil
    }

    /// The agents' watches of the pods bound to their nodes (`spec.nodeName=NODE`): a pod
    /// appears (ADDED) when bound there, changes (MODIFIED) while bound there, and goes (DELETED)
    /// when deleted — per agent, every one once, in order, across failovers and restarts.
    static func checkAgents(_ agents: [SimAgent], committed: [Entry]) -> Violation? {
        var store = KVStore()
        var changes: [String: [WatchedEvent]] = [:]
        func node(_ text: String?) -> String? { text.flatMap { (try? JSONParser.parse($0))?[path: ["spec", "nodeName"]]?.stringValue } }
        for e in committed {
            let applied = store.apply(e)
            guard applied.position == e.index, case .ok = applied.result, let request = applied.request,
                request.operation.key.hasPrefix("pods/")
            else { continue }
            let name = String(request.operation.key.split(separator: "/").last ?? "")
            let before = node(applied.previous?.value)
            switch request.operation {
            case .create(_, let text), .update(_, let text, _):
                let after = node(text)
                if let before, before == after {
                    changes[before, default: []].append(WatchedEvent(type: "MODIFIED", name: name, version: e.index, value: nil))
                } else {
                    if let before { changes[before, default: []].append(WatchedEvent(type: "DELETED", name: name, version: e.index, value: nil)) }
                    if let after { changes[after, default: []].append(WatchedEvent(type: "ADDED", name: name, version: e.index, value: nil)) }
                }
            case .delete:
                if let before { changes[before, default: []].append(WatchedEvent(type: "DELETED", name: name, version: e.index, value: nil)) }
            }
        }
        for agent in agents {
            if let v = compare(agent.segments, with: changes[agent.name] ?? [], reader: agent.name) { return v }
        }
        return nil
    }
}
