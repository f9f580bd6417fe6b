import Glibc
import Master
import Testing

/// Server-side object rules on real masters: finalizers hold a deletion until removed, `/status`
/// writes only the status, `generateName`, `dryRun`, bookmarks, and watches ended with `410` when
/// a snapshot replaces a master's state.
@Suite(.serialized)
struct ObjectLifecycleTests {
    static let cm = "/api/v1/namespaces/default/configmaps"

    static func json(_ reply: (status: Int, body: String)?) -> JSON { (try? JSONParser.parse(reply?.body ?? "")) ?? .null }

    @Test func finalizersStatusGenerateNameAndDryRun() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3, extra: ["--bookmark-seconds", "1"])
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [leader], name: "ready") != nil)
        let port = cluster.port(leader)
        let watch = try #require(WatchStream(port: port, path: "\(Self.cm)?watch=true&resourceVersion=0&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dheld"))

        // A finalizer holds the object after DELETE; removing it deletes the object.
        let created = HTTPTestClient.request("POST", port: port, path: Self.cm, body: #"{"metadata":{"name":"held","finalizers":["example.com/keep"]}}"#)
        #expect(created?.status == 201)
        let deleting = HTTPTestClient.request("DELETE", port: port, path: Self.cm + "/held")
        #expect(deleting?.status == 200 && Self.json(deleting)[path: ["metadata", "deletionTimestamp"]] != nil, "\(String(describing: deleting))")
        #expect(HTTPTestClient.request("GET", port: port, path: Self.cm + "/held")?.status == 200)
        let released = HTTPTestClient.request("PATCH", port: port, path: Self.cm + "/held", body: #"{"metadata":{"finalizers":null}}"#,
                                              contentType: "application/merge-patch+json")
        #expect(released?.status == 200)
        #expect(HTTPTestClient.request("GET", port: port, path: Self.cm + "/held")?.status == 404)
        let events = watch.events(timeoutMs: 2500) { $0.contains { $0["type"] == "BOOKMARK" } }
        #expect(events.map { $0["type"]?.stringValue ?? "" }.prefix(3) == ["ADDED", "MODIFIED", "DELETED"], "\(events.map(\.text))")
        #expect(events.contains { $0["type"] == "BOOKMARK" && $0[path: ["object", "metadata", "resourceVersion"]] != nil }, "no bookmark in 2.5 s")

        // /status changes only the status; the object's own writes keep it.
        let pod = #"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#
        #expect(HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/pods", body: pod)?.status == 201)
        let status = HTTPTestClient.request("PATCH", port: port, path: "/api/v1/namespaces/default/pods/p/status",
                                            body: #"{"status":{"phase":"Running","podIP":"10.0.0.9"},"spec":{"nodeName":"sneaky"}}"#,
                                            contentType: "application/merge-patch+json")
        #expect(Self.json(status)[path: ["status", "phase"]] == "Running" && Self.json(status)[path: ["spec", "nodeName"]] == nil)
        let relabelled = HTTPTestClient.request("PATCH", port: port, path: "/api/v1/namespaces/default/pods/p",
                                                body: #"{"metadata":{"labels":{"a":"b"}},"status":{"phase":"Failed"}}"#,
                                                contentType: "application/merge-patch+json")
        #expect(Self.json(relabelled)[path: ["status", "phase"]] == "Running" && Self.json(relabelled)[path: ["metadata", "labels", "a"]] == "b")

        // An outside scheduler binds through pods/NAME/binding (a pod naming another scheduler,
        // so ours leaves it alone), once.
        let other = #"{"metadata":{"name":"q"},"spec":{"schedulerName":"mine","containers":[{"name":"c","image":"i"}]}}"#
        #expect(HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/pods", body: other)?.status == 201)
        let binding = #"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"q"},"target":{"kind":"Node","name":"n7"}}"#
        #expect(HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/pods/q/binding", body: binding)?.status == 201)
        let bound = Self.json(HTTPTestClient.request("GET", port: port, path: "/api/v1/namespaces/default/pods/q"))
        #expect(bound[path: ["spec", "nodeName"]] == "n7")
        #expect((bound[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "PodScheduled" && $0["status"] == "True" })
        let again = HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/pods/q/binding", body: binding)
        #expect(again?.status == 409 && (again?.body ?? "").contains("is already assigned to node \\\"n7\\\""), "\(String(describing: again))")
        #expect(HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/pods/q/binding", body: #"{"target":{}}"#)?.status == 400)

        // Deleting a bound pod is graceful: marked, it stays (through a status write too) until
        // a delete with grace 0 (its agent's, or `--force`); an unbound pod goes at once.
        let q = "/api/v1/namespaces/default/pods/q"
        let marked = Self.json(HTTPTestClient.request("DELETE", port: port, path: q))
        #expect(marked[path: ["metadata", "deletionTimestamp"]] != nil && marked[path: ["metadata", "deletionGracePeriodSeconds"]] == 30, "\(marked.text)")
        #expect(HTTPTestClient.request("PATCH", port: port, path: q + "/status", body: #"{"status":{"phase":"Running"}}"#,
                                       contentType: "application/merge-patch+json")?.status == 200)
        #expect(HTTPTestClient.request("GET", port: port, path: q)?.status == 200)
        #expect(HTTPTestClient.request("DELETE", port: port, path: q, body: #"{"gracePeriodSeconds":0}"#)?.status == 200)
        #expect(HTTPTestClient.request("GET", port: port, path: q)?.status == 404)
        #expect(HTTPTestClient.request("DELETE", port: port, path: "/api/v1/namespaces/default/pods/p")?.status == 200)
        #expect(HTTPTestClient.request("GET", port: port, path: "/api/v1/namespaces/default/pods/p")?.status == 404)

        // generateName and dryRun.
        let generated = Self.json(HTTPTestClient.request("POST", port: port, path: Self.cm, body: #"{"metadata":{"generateName":"gen-"}}"#))
        let name = generated[path: ["metadata", "name"]]?.stringValue ?? ""
        #expect(name.hasPrefix("gen-") && name.count == 9, "\(generated.text)")
        let dry = HTTPTestClient.request("POST", port: port, path: Self.cm + "?dryRun=All", body: #"{"metadata":{"name":"dry"}}"#)
        #expect(dry?.status == 201)
        #expect(HTTPTestClient.request("GET", port: port, path: Self.cm + "/dry")?.status == 404)
    }

    /// A follower that falls behind the leader's compacted log installs a snapshot: its open
    /// watches end with an ERROR event (410), since changes between them are unknown to it.
    @Test func snapshotInstallEndsWatchesWithGone() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3, extra: ["--snapshot-entries", "10"])
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [leader], name: "ready") != nil)
        let follower = [1, 2, 3].first { $0 != leader }!
        let watch = try #require(WatchStream(port: cluster.port(follower), path: "\(Self.cm)?watch=true&resourceVersion=0"))
        _ = watch.events(timeoutMs: 300)
        cluster.signal(follower, SIGSTOP)
        // More entries than the leader sends unacknowledged (64 appends), so it must compact past the follower.
        for k in 0..<300 { _ = HTTPTestClient.request("POST", port: cluster.port(leader), path: Self.cm, body: ClusterTests.configMap("s\(k)")) }
        cluster.signal(follower, SIGCONT)
        let events = watch.events(timeoutMs: 5000) { $0.contains { $0["type"] == "ERROR" } }
        let error = events.first { $0["type"] == "ERROR" }
        #expect(error?[path: ["object", "code"]] == 410 && error?[path: ["object", "reason"]] == "Expired", "\(events.map(\.text))")
        #expect(watch.events(timeoutMs: 1000).isEmpty && watch.closed, "the watch stayed open after the ERROR")
    }
}
