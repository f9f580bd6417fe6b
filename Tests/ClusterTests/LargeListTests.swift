import Foundation
import Glibc
import Master
import Testing

/// Lists and watch starts larger than one step of the leader's loop (`MasterCore.Options.stepObjects`)
/// on real masters: they arrive chunked, whole and consistent, through a follower too, while writes
/// are applied between their steps.
@Suite(.serialized)
struct LargeListTests {
    static let seeded = 600
    static let configMaps = WatchTests.configMaps

    @Test func largeListsAndWatchStartsComeWholeWhileWritesGoOn() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        let follower = [1, 2, 3].first { $0 != leader }!
        for k in 0..<Self.seeded {
            _ = try #require(WatchTests.write(cluster, ids: [leader], "POST", "s-\(k)", body: ClusterTests.configMap("s-\(k)")))
        }

        // A watch without a resourceVersion starts with every object as ADDED (served in steps);
        // creates and patches go through the follower meanwhile, the watch read between them.
        let watch = try #require(WatchStream(port: cluster.port(leader), path: "\(Self.configMaps)?watch=true"))
        var written: [WatchTests.Seen] = []
        var received: [WatchTests.Seen] = []
        for k in 0..<40 {
            let change = k % 2 == 0
                ? WatchTests.write(cluster, ids: [follower], "POST", "late-\(k)", body: ClusterTests.configMap("late-\(k)"))
                : WatchTests.write(cluster, ids: [follower], "PATCH", "s-\(k)", body: #"{"data":{"k":"changed"}}"#)
            written += try [#require(change)]
            received += watch.events(timeoutMs: 1).map(WatchTests.seen)
        }
        var last: [String: String] = [:]
        for event in received { last[event.name] = event.version }
        received += watch.events(timeoutMs: 10_000) { events in
            for event in events.map(WatchTests.seen) { last[event.name] = event.version }
            return written.allSatisfy { last[$0.name] == $0.version }
        }.map(WatchTests.seen)

        // Every object once in the start, no change twice, and each name ends at its last write.
        var seenChanges = Set<String>()
        for event in received { #expect(seenChanges.insert("\(event.name)@\(event.version)").inserted, "repeated \(event)") }
        let names = Set(received.map(\.name))
        #expect(names.isSuperset(of: (0..<Self.seeded).map { "s-\($0)" }), "\(names.count) names")
        for change in written { #expect(last[change.name] == change.version, "\(change) ended at \(last[change.name] ?? "nothing")") }

        // Whole lists from the leader and through the follower (which relays the chunked answer).
        for id in [leader, follower] {
            let reply = try #require(HTTPTestClient.request("GET", port: cluster.port(id), path: Self.configMaps, timeoutMs: 10_000))
            #expect(reply.status == 200)
            let list = try JSONParser.parse(reply.body)
            let items = list["items"]?.arrayValue ?? []
            #expect(items.count == Self.seeded + 20, "m\(id) listed \(items.count)")
            let listed = items.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
            #expect(listed == listed.sorted(), "m\(id): items out of order")
            #expect(list[path: ["metadata", "resourceVersion"]]?.stringValue != nil)
        }

        // kubectl pages with limit=500 and continue, and asks for tables.
        if let binary = KubectlTests.findOnPath("kubectl") {
            let cacheDir = NSTemporaryDirectory() + "bosun-kubectl-large-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: cacheDir) }
            let kubectl = KubectlTests.Kubectl(binary: binary, server: "http://127.0.0.1:\(cluster.port(follower))", cacheDir: cacheDir)
            let table = try kubectl.run(["get", "configmaps", "--no-headers"])
            #expect(table.status == 0, "\(table.output.prefix(500))")
            #expect(table.output.split(separator: "\n").count == Self.seeded + 20)
            let names = try kubectl.run(["get", "configmaps", "-o", "name"])
            #expect(Set(names.output.split(separator: "\n")).count == Self.seeded + 20)
        }
    }
}
