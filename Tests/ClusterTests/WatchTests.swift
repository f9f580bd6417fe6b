import Glibc
import Master
import Testing

/// Watches on real masters: a client that loses its master to `kill -9` resumes on another from
/// the last resourceVersion it received and misses nothing, repeats nothing.
@Suite(.serialized)
struct WatchTests {
    typealias Seen = (type: String, name: String, version: String)

    static func seen(_ event: JSON) -> Seen {
        (event["type"]?.stringValue ?? "", event[path: ["object", "metadata", "name"]]?.stringValue ?? "",
         event[path: ["object", "metadata", "resourceVersion"]]?.stringValue ?? "")
    }

    static let configMaps = "/api/v1/namespaces/default/configmaps"

    /// One write through any of `ids`, retried until it is answered (a master may be down or
    /// the cluster electing). Returns the event it must cause, or nil for a delete of nothing.
    static func write(_ cluster: ClusterProcess, ids: [Int], _ method: String, _ name: String, body: String? = nil) -> Seen? {
        let path = method == "POST" ? configMaps : "\(configMaps)/\(name)"
        for attempt in 0..<200 {
            let id = ids[attempt % ids.count]
            guard let reply = HTTPTestClient.request(method, port: cluster.port(id), path: path, body: body,
                                                     contentType: method == "PATCH" ? "application/merge-patch+json" : nil, timeoutMs: 2000)
            else {
                usleep(50_000)
                continue
            }
            switch (method, reply.status) {
            case ("POST", 201), ("PATCH", 200):
                let object = try? JSONParser.parse(reply.body)
                return (method == "POST" ? "ADDED" : "MODIFIED", name, object?[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
            case ("DELETE", 200): return ("DELETED", name, "")
            case (_, 503), (_, 504), (_, 502):
                usleep(50_000)
            default:
                Issue.record("\(method) \(name): \(reply.status) \(reply.body)")
                return nil
            }
        }
        Issue.record("\(method) \(name) never answered")
        return nil
    }

    @Test func watchResumesOnAnotherMasterAfterKill() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [1, 2, 3], name: "seed") != nil)
        let list = try #require(HTTPTestClient.request("GET", port: cluster.port(leader), path: Self.configMaps))
        let start = try #require(try JSONParser.parse(list.body)[path: ["metadata", "resourceVersion"]]?.stringValue)

        // Watch on the leader; write through the others: creates, merge patches and deletes.
        let first = try #require(WatchStream(port: cluster.port(leader), path: "\(Self.configMaps)?watch=true&resourceVersion=\(start)"))
        let others = [1, 2, 3].filter { $0 != leader }
        var acknowledged: [Seen] = []
        func round(_ k: Int) {
            let name = "w-\(k)"
            if let e = Self.write(cluster, ids: others, "POST", name, body: ClusterTests.configMap(name)) { acknowledged.append(e) }
            if k % 2 == 0, let e = Self.write(cluster, ids: others, "PATCH", name, body: #"{"data":{"k":"changed"}}"#) { acknowledged.append(e) }
            if k % 3 == 0, let e = Self.write(cluster, ids: others, "DELETE", name) { acknowledged.append(e) }
        }
        for k in 0..<12 { round(k) }
        var received = first.events(timeoutMs: 5000) { $0.count >= acknowledged.count }.map(Self.seen)
        #expect(received.count == acknowledged.count)

        cluster.signal(leader, SIGKILL)
        for k in 12..<24 { round(k) }
        let resumeFrom = received.last?.version ?? start
        let second = try #require(WatchStream(port: cluster.port(others[0]), path: "\(Self.configMaps)?watch=true&resourceVersion=\(resumeFrom)"))
        received += second.events(timeoutMs: 10_000) { received.count + $0.count >= acknowledged.count }.map(Self.seen)

        // Nothing repeated, in order, every acknowledged change there.
        let versions = received.compactMap { UInt64($0.version) }
        #expect(versions == versions.sorted() && Set(versions).count == versions.count, "\(versions)")
        for event in acknowledged {
            #expect(received.contains { $0.type == event.type && $0.name == event.name && (event.version.isEmpty || $0.version == event.version) },
                    "missing \(event)")
        }
        // And exactly the committed history, as another master replays it from the start.
        let replay = try #require(WatchStream(port: cluster.port(others[1]), path: "\(Self.configMaps)?watch=true&resourceVersion=\(start)&timeoutSeconds=3"))
        let history = replay.events(timeoutMs: 6000).map(Self.seen)
        #expect(history.map { "\($0.type) \($0.name) \($0.version)" } == received.map { "\($0.type) \($0.name) \($0.version)" })
    }

    /// Without a resourceVersion a watch starts with the current objects; a too-old one is 410
    /// Gone; `timeoutSeconds` ends the stream; selectors apply to watches.
    @Test func watchSemantics() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3, extra: ["--watch-history", "5"])
        cluster.startAll()
        _ = try #require(cluster.leader(among: [1, 2, 3]))
        for k in 0..<8 { _ = Self.write(cluster, ids: [1, 2, 3], "POST", "c-\(k)", body: #"{"metadata":{"name":"c-\#(k)","labels":{"even":"\#(k % 2 == 0)"}}}"#) }
        let stream = try #require(WatchStream(port: cluster.port(1), path: "\(Self.configMaps)?watch=1&labelSelector=even%3Dtrue&timeoutSeconds=1"))
        let initial = stream.events(timeoutMs: 3000).map(Self.seen)
        #expect(initial.map(\.name) == ["c-0", "c-2", "c-4", "c-6"] && initial.allSatisfy { $0.type == "ADDED" })
        #expect(stream.closed, "timeoutSeconds=1 did not end the watch")
        let gone = try #require(HTTPTestClient.request("GET", port: cluster.port(2), path: "\(Self.configMaps)?watch=true&resourceVersion=1"))
        #expect(gone.status == 410 && gone.body.contains(#""reason":"Expired""#))
        let bad = try #require(HTTPTestClient.request("GET", port: cluster.port(2), path: "\(Self.configMaps)?watch=true&labelSelector=a%20in"))
        #expect(bad.status == 400)
    }

    /// A watch from a resourceVersion the master has not applied yet (a lagging follower, as when
    /// kubectl lists through the leader and watches a follower) gets only the changes after it,
    /// never the ones up to it as the master catches up.
    @Test func watchFromAVersionNotYetAppliedSkipsWhatItAsked() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3, extra: ["--bookmark-seconds", "1"])
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [leader], name: "ready") != nil)
        let status = try #require(cluster.status(leader))
        let ahead = try #require(UInt64(status["appliedIndex"] ?? "")) + 3
        let watch = try #require(WatchStream(port: cluster.port(leader), path: "\(Self.configMaps)?watch=true&allowWatchBookmarks=true&resourceVersion=\(ahead)"))
        // Bookmarks meanwhile name the start, not the master's (earlier) applied index, and come
        // once a second (--bookmark-seconds 1), not once per timer chain started.
        let bookmarks = watch.events(timeoutMs: 2500)
        #expect((1...3).contains(bookmarks.count), "\(bookmarks.count) bookmarks in 2.5 s")
        #expect(bookmarks.allSatisfy { $0["type"] == "BOOKMARK" && $0[path: ["object", "metadata", "resourceVersion"]] == .string(String(ahead)) },
                "\(bookmarks.map(\.text))")
        var written: [Seen] = []
        for k in 0..<6 {
            if let e = Self.write(cluster, ids: [leader], "POST", "ahead-\(k)", body: ClusterTests.configMap("ahead-\(k)")) { written.append(e) }
        }
        let expected = written.filter { (UInt64($0.version) ?? 0) > ahead }
        let events = watch.events(timeoutMs: 3000) { $0.filter { $0["type"] != "BOOKMARK" }.count >= expected.count && !expected.isEmpty }
            .filter { $0["type"] != "BOOKMARK" }.map(Self.seen)
        #expect(!expected.isEmpty && events.map(\.version) == expected.map(\.version), "\(events) after \(ahead)")
    }
}
