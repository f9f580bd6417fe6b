import Master
import Raft
import Store
import Testing

struct WatchAndListTests {
    static func configMap(_ name: String, _ labels: [String: String] = [:]) -> String {
        JSON.object(["metadata": ["name": .string(name), "namespace": "default", "labels": .object(labels.mapValues(JSON.string))]]).text
    }

    /// The history holds the newest events; a resume from before them is refused (410).
    @Test func historyIsBoundedAndSearchable() {
        var history = WatchHistory(capacity: 3, startingAfter: 10)
        #expect(history.events(after: 10)?.count == 0)
        #expect(history.events(after: 9) == nil)
        for index in [12, 13, 15, 18] as [UInt64] {
            history.append(WatchEvent(kind: .added, index: index, key: "configmaps/default/c\(index)", object: "{}", previous: nil))
        }
        #expect(history.firstIndex == 12)
        #expect(history.events(after: 11) == nil)
        #expect(history.events(after: 12)?.map(\.index) == [13, 15, 18])
        #expect(history.events(after: 14)?.map(\.index) == [15, 18])
        #expect(history.events(after: 18)?.map(\.index) == [])
        #expect(history.events(after: 99)?.map(\.index) == [])
    }

    /// A watch's replay holds only its resource's events: a pod watch resumed after a failover
    /// does not parse every Lease renewal since its version (that starved the masters' loops with
    /// 50 agents resuming at once).
    @Test func replayHoldsOnlyTheWatchedResource() {
        var history = WatchHistory(capacity: 100, startingAfter: 0)
        for index in 1...60 as ClosedRange<UInt64> {
            let key = index % 20 == 0 ? "pods/default/p\(index)" : "leases/kube-node-lease/node-\(index % 7)"
            history.append(WatchEvent(kind: .modified, index: index, key: key, object: "{}", previous: "{}"))
        }
        #expect(history.events(after: 10, under: "pods/")?.map(\.index) == [20, 40, 60])
        #expect(history.events(after: 10, under: "pods/default/")?.map(\.index) == [20, 40, 60])
        #expect(history.events(after: 10, under: "leases/")?.count == 47)
        #expect(history.events(after: 10)?.count == 50)
    }

    /// An object entering a watcher's selector is ADDED, leaving it is DELETED.
    @Test func selectorTransitions() throws {
        let filter = try ObjectFilter(ResourcePath(type: .configMaps, namespace: "default", name: nil, subresource: nil), labelSelector: "app=web", fieldSelector: nil)
        func seen(_ before: [String: String], _ after: [String: String]) -> WatchEvent.Kind? {
            let event = WatchEvent(kind: .modified, index: 5, key: "configmaps/default/a", object: Self.configMap("a", after), previous: Self.configMap("a", before))
            let rendered = event.rendered()
            return event.seen(by: filter, now: rendered.now, before: rendered.before)
        }
        #expect(seen(["app": "web"], ["app": "web", "x": "1"]) == .modified)
        #expect(seen([:], ["app": "web"]) == .added)
        #expect(seen(["app": "web"], [:]) == .deleted)
        #expect(seen([:], ["app": "db"]) == nil)
        let other = WatchEvent(kind: .added, index: 6, key: "configmaps/kube/a", object: Self.configMap("a", ["app": "web"]), previous: nil)
        let rendered = other.rendered()
        #expect(other.seen(by: filter, now: rendered.now, before: nil) == nil)
    }

    /// Pages follow key order; every object appears once across pages, however few keys each
    /// step reads; a bad token is refused; the document written in parts parses whole.
    @Test func pagination() throws {
        var store = KVStore()
        for i in 1...25 {
            let name = "cm-\(i < 10 ? "0" : "")\(i)"
            let request = KVRequest(client: 1, sequence: UInt64(i), operation: .create(key: "configmaps/default/\(name)", value: Self.configMap(name, ["odd": i % 2 == 1 ? "yes" : "no"])))
            store.apply(Entry(term: 1, index: UInt64(i), data: request.encoded()))
        }
        let filter = try ObjectFilter(ResourcePath(type: .configMaps, namespace: "default", name: nil, subresource: nil), labelSelector: "odd=yes", fieldSelector: nil)
        for keysPerStep in [1, 2, 7, 100] {
            var names: [String] = []
            var token: String? = nil
            var pages = 0
            repeat {
                var scan = try ListScan(store: store, filter: filter, limit: 5, continueToken: token)
                #expect(scan.resourceVersion == 25)
                while !scan.isDone { names += scan.next(maxKeys: keysPerStep, maxBytes: .max).compactMap { $0[path: ["metadata", "name"]]?.stringValue } }
                token = scan.continueToken
                pages += 1
            } while token != nil
            #expect(pages == 3)
            #expect(names == (1...25).filter { $0 % 2 == 1 }.map { "cm-\($0 < 10 ? "0" : "")\($0)" })
        }
        #expect(throws: APIError.self) { try ListScan(store: store, filter: filter, limit: 5, continueToken: "garbage") }
        #expect(throws: APIError.self) { try ListScan(store: store, filter: filter, limit: 5, continueToken: "3.7a7a") }
        for table in [nil, TableRenderer(type: .configMaps, now: 0, include: .metadata)] {
            var scan = try ListScan(store: store, filter: filter, limit: nil, continueToken: nil)
            var document = ListDocument(of: .configMaps, table: table)
            var text = document.opening()
            for object in scan.all() { document.append(object, to: &text) }
            text += document.closing(resourceVersion: scan.resourceVersion, continueToken: scan.continueToken)
            let list = try JSONParser.parse(text)
            #expect(list["kind"] == (table == nil ? "ConfigMapList" : "Table"))
            #expect(list[path: ["metadata", "resourceVersion"]] == "25" && list[path: ["metadata", "continue"]] == nil)
            #expect(list[table == nil ? "items" : "rows"]?.arrayValue?.count == 13)
        }
    }

    /// Ages as kubectl prints them; timestamps both ways.
    @Test func agesAndTimestamps() {
        let cases: [(Int64, String)] = [(5, "5s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (7_500, "125m"), (12_000, "3h20m"),
                                        (90_000, "25h"), (200_000, "2d7h"), (1_000_000, "11d"), (100_000_000, "3y62d"), (-3, "<invalid>")]
        for (seconds, text) in cases { #expect(TableRenderer.humanDuration(seconds: seconds) == text) }
        #expect(Timestamp.seconds("2026-11-25T20:05:00Z") == 1_795_637_100)
        #expect(Timestamp.text(seconds: 1_795_637_100) == "2026-11-25T20:05:00Z")
        #expect(Timestamp.seconds("2026-11-25T21:05:00.123+01:00") == 1_795_637_100)
        #expect(Timestamp.seconds("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.seconds("2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.seconds("yesterday") == nil)
    }

    /// A table carries the columns kubectl prints, the row's metadata and the list's version;
    /// READY counts, as kubectl does, the containers that are ready and running.
    @Test func podTable() throws {
        let pod = try JSONParser.parse(#"""
        {"metadata":{"name":"web","namespace":"default","creationTimestamp":"2026-11-25T20:00:00Z","resourceVersion":"9"},
         "spec":{"containers":[{"name":"a"},{"name":"b"}],"nodeName":"n1"},
         "status":{"phase":"Running","podIP":"10.0.0.5","containerStatuses":[{"name":"a","ready":true,"restartCount":2,"state":{"running":{}}},{"name":"b","ready":false,"restartCount":1,"state":{"running":{}}}]}}
        """#)
        let table = TableRenderer(type: .pods, now: Timestamp.seconds("2026-11-25T20:05:00Z")!, include: .metadata).table([pod], resourceVersion: 11)
        #expect(table["kind"] == "Table" && table[path: ["metadata", "resourceVersion"]] == "11")
        let names = table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"])
        let row = table["rows"]?.arrayValue?.first
        #expect(row?["cells"] == ["web", "1/2", "Running", "3", "5m", "10.0.0.5", "n1", "<none>", "<none>"])
        #expect(row?[path: ["object", "metadata", "name"]] == "web" && row?[path: ["object", "kind"]] == "PartialObjectMetadata")
    }
}
