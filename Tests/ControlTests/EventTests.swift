@testable import Control
import Master
import Testing

struct EventTests {
    static func events(_ h: ControlHarness, reason: String? = nil) -> [JSON] {
        h.objects("events/").filter { reason == nil || $0["reason"] == .string(reason!) }
    }

    static func messages(_ h: ControlHarness, reason: String) -> [String] {
        events(h, reason: reason).map { $0["message"]!.stringValue! }.sorted()
    }

    /// A Deployment's rollout leaves Kubernetes' events: the Deployment scaled its new
    /// ReplicaSet, the ReplicaSet created each pod, the scheduler assigned each pod, each on the
    /// object it concerns and in the object's namespace.
    @Test func rolloutRecordsWhatEachControllerDid() {
        var h = ControlHarness()
        h.addNode("n1")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", ControllerTests.deployment(replicas: 3, image: "v1"))
        h.settle()
        let rs = h.objects("replicasets/")[0][path: ["metadata", "name"]]!.stringValue!
        #expect(Self.messages(h, reason: "ScalingReplicaSet") == ["Scaled up replica set \(rs) from 0 to 3"])
        let pods = h.pods.map { $0[path: ["metadata", "name"]]!.stringValue! }.sorted()
        #expect(Self.messages(h, reason: "SuccessfulCreate") == pods.map { "Created pod: \($0)" })
        #expect(Self.messages(h, reason: "Scheduled") == pods.map { "Successfully assigned default/\($0) to n1" })
        let scaled = Self.events(h, reason: "ScalingReplicaSet")[0]
        #expect(scaled[path: ["involvedObject", "kind"]] == "Deployment" && scaled[path: ["involvedObject", "name"]] == "web")
        #expect(scaled[path: ["involvedObject", "uid"]] == h.objects("deployments/")[0][path: ["metadata", "uid"]])
        #expect(scaled[path: ["metadata", "namespace"]] == "default" && scaled["type"] == "Normal" && scaled["count"] == 1)
        #expect(scaled[path: ["source", "component"]] == "deployment-controller")
        #expect(scaled[path: ["metadata", "name"]]!.stringValue!.hasPrefix("web."))

        var d = h.objects("deployments/")[0]
        d[path: ["spec", "replicas"]] = 1
        h.update(.deployments, d)
        h.settle()
        #expect(Self.messages(h, reason: "ScalingReplicaSet").contains("Scaled down replica set \(rs) from 3 to 1"))
        #expect(Self.events(h, reason: "SuccessfulDelete").count == 2)
    }

    /// An unschedulable pod gets one FailedScheduling Warning per message, not one per retry; the
    /// same message again, once the condition was cleared, counts up on the stored event.
    @Test func oneFailedSchedulingPerMessageAndRepeatsCountUp() {
        var h = ControlHarness()
        h.addNode("small", cpu: "1")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.pods, "default", SchedulerTests.podRequesting)
        h.settle()
        h.addNode("other", cpu: "1")  // retried: still no room, a new message
        h.settle()
        h.addNode("other", cpu: "1")  // retried again: the same message, nothing written
        h.settle()
        var failed = Self.events(h, reason: "FailedScheduling")
        #expect(Set(failed.map { $0["message"]!.stringValue! }) == ["0/1 nodes are available: 1 Insufficient cpu.", "0/2 nodes are available: 2 Insufficient cpu."])
        #expect(failed.allSatisfy { $0["type"] == "Warning" && $0["count"] == 1 && $0[path: ["source", "component"]] == "default-scheduler" })

        var pod = h.pods[0]
        pod[path: ["status", "conditions"]] = nil
        h.put("pods/default/p", pod)
        h.addNode("other", cpu: "1")
        h.settle()
        failed = Self.events(h, reason: "FailedScheduling")
        #expect(failed.count == 2)
        #expect(failed.first { $0["message"] == "0/2 nodes are available: 2 Insufficient cpu." }?["count"] == 2)
    }

    /// Each object's events from one controller are limited to a burst, then one per refill
    /// interval; beyond the limit the oldest events are deleted.
    @Test func burstsAreLimitedAndOldestEventsGo() {
        var options = ControlPlane.Options()
        options.eventBurst = 3
        options.eventRefillNs = 10_000_000_000
        options.maxEvents = 8
        var h = ControlHarness(options: options)
        h.agentsRun = false
        h.plane.lead(nowNs: h.nowNs)
        h.create(.replicaSets, "default", #"{"metadata":{"name":"rs"},"spec":{"replicas":5,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
        h.settle()
        #expect(h.pods.count == 5)
        #expect(Self.events(h, reason: "SuccessfulCreate").count == 3, "a burst of 3")
        #expect(Self.events(h, reason: "FailedScheduling").count == 5, "each pod's events are limited apart")
        let byAge = h.items.filter { $0.key.hasPrefix("events/") }.sorted { $0.value.version < $1.value.version }.map(\.key)
        #expect(byAge.count == 8)

        // Ten seconds later one more is allowed; the collector keeps 8, deleting the oldest two.
        h.nowNs += 10_000_000_000
        h.put("pods/default/\(h.pods[0][path: ["metadata", "name"]]!.stringValue!)", nil)
        h.settle()
        let created = h.log.filter { entry in
            if case .create(let key, let object) = entry.write.operation { key.hasPrefix("events/") && object["reason"] == "SuccessfulCreate" } else { false }
        }
        #expect(created.count == 4)
        #expect(h.objects("events/").count == 8)
        #expect(byAge.prefix(2).allSatisfy { h.items[$0] == nil } && byAge.dropFirst(2).allSatisfy { h.items[$0] != nil })
    }

    /// A node marked unknown gets NodeNotReady, its pods TaintManagerEviction when they go.
    @Test func nodeLifecycleEvents() {
        var h = ControlHarness()
        h.addNode("quiet")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.pods, "default", #"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#)
        h.settle()
        h.agentsRun = false
        h.advance(seconds: 40)
        #expect(Self.messages(h, reason: "NodeNotReady") == ["Node quiet status is now: NodeNotReady"])
        let node = Self.events(h, reason: "NodeNotReady")[0]
        #expect(node[path: ["metadata", "namespace"]] == "default" && node[path: ["involvedObject", "namespace"]] == nil)
        #expect(Self.messages(h, reason: "TaintManagerEviction") == ["Marking for deletion Pod default/p"])
    }

    /// Stored events are anyone's input: a repeat of one whose count is already the largest
    /// integer keeps it (no trap), and an object whose name is as long as names go still gets its
    /// events (the generated event name is cut to fit).
    @Test func hostileStoredEventsAndLongNames() {
        var h = ControlHarness()
        h.addNode("small", cpu: "1")
        h.plane.lead(nowNs: h.nowNs)
        let long = String(repeating: "p", count: 253)
        h.create(.pods, "default", SchedulerTests.podRequesting.replacing(#""name":"p""#, with: #""name":"\#(long)""#))
        h.settle()
        let failed = Self.events(h, reason: "FailedScheduling")
        #expect(failed.count == 1 && failed[0][path: ["metadata", "name"]]!.stringValue!.count == 63)

        let key = h.items.keys.first { $0.hasPrefix("events/") }!
        var event = h.items[key]!.object
        event["count"] = .number(Int.max)
        h.put(key, event)
        var pod = h.items["pods/default/\(long)"]!.object
        pod[path: ["status", "conditions"]] = nil
        h.put("pods/default/\(long)", pod)
        h.addNode("small", cpu: "1")
        h.settle()
        #expect(h.items[key]!.object["count"] == .number(Int.max))
        #expect(Self.events(h, reason: "FailedScheduling").count == 1)
    }

    /// The spam filter's table stays bounded however many objects record events.
    @Test func bucketTableIsBounded() {
        var options = ControlPlane.Options()
        options.maxEvents = 4
        var h = ControlHarness(options: options)
        h.agentsRun = false
        h.plane.lead(nowNs: h.nowNs)
        for i in 0..<40 {
            h.create(.pods, "default", #"{"metadata":{"name":"p\#(i)"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#)
            h.settle()
            #expect(h.plane.eventBuckets.count <= 4 * options.maxEvents)
        }
        #expect(h.objects("events/").count == 4)
    }
}
