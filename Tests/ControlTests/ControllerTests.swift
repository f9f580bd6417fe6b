@testable import Control
import Master
import Testing

struct ControllerTests {
    static func deployment(replicas: Int, image: String, strategy: String = #"{"rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}"#) -> String {
        #"{"metadata":{"name":"web"},"spec":{"replicas":\#(replicas),"strategy":\#(strategy),"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"\#(image)","resources":{"requests":{"cpu":"100m"}}}]}}}}"#
    }

    static func replicaSets(_ h: ControlHarness) -> [JSON] { h.objects("replicasets/") }

    /// Sum of the ReplicaSets' `spec.replicas`, and how many pods are ready and not being deleted.
    static func counts(_ h: ControlHarness) -> (specified: Int, available: Int) {
        let specified = replicaSets(h).reduce(0) { $0 + ($1[path: ["spec", "replicas"]]?.intValue ?? 0) }
        let available = h.pods.filter { pod in
            pod[path: ["metadata", "deletionTimestamp"]] == nil
                && (pod[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" }
        }.count
        return (specified, available)
    }

    mutating func rolledOut(_ h: inout ControlHarness, replicas: Int) {
        let d = h.objects("deployments/")[0]
        #expect(d[path: ["status", "observedGeneration"]] == d[path: ["metadata", "generation"]])
        #expect(d[path: ["status", "updatedReplicas"]] == .number(replicas) && d[path: ["status", "availableReplicas"]] == .number(replicas))
        #expect(d[path: ["status", "replicas"]] == .number(replicas))
    }

    /// A rolling update with maxSurge 1 and maxUnavailable 0: at no state are fewer than 10 pods
    /// available once the first rollout finished, or more than 11 pods specified; it ends with
    /// 10 pods of the new template and both ReplicaSets kept (revisions 1 and 2). Rolling back
    /// makes the first ReplicaSet revision 3 again, without a third ReplicaSet.
    @Test mutating func rollingUpdateKeepsItsBounds() {
        var h = ControlHarness()
        for i in 0..<4 { h.addNode("n\(i)") }
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 10, image: "v1"))
        h.settle()
        rolledOut(&h, replicas: 10)
        #expect(h.pods.count == 10)
        var d = h.objects("deployments/")[0]
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "c", "image": "v2", "resources": ["requests": ["cpu": "100m"]]]]
        h.update(.deployments, d)
        var worst = (specified: 0, available: Int.max)
        h.settle { h in
            let now = Self.counts(h)
            worst = (max(worst.specified, now.specified), min(worst.available, now.available))
        }
        #expect(worst.specified <= 11 && worst.available >= 10)
        rolledOut(&h, replicas: 10)
        #expect(h.pods.count == 10 && h.pods.allSatisfy { $0[path: ["spec", "containers"]]!.arrayValue![0]["image"] == "v2" })
        let revisions = Self.replicaSets(h).map { ($0[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]!.stringValue!, $0[path: ["spec", "replicas"]]!) }
        #expect(revisions.sorted { $0.0 < $1.0 }.map(\.1) == [0, 10])

        d = h.objects("deployments/")[0]
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "c", "image": "v1", "resources": ["requests": ["cpu": "100m"]]]]
        h.update(.deployments, d)
        h.settle()
        #expect(Self.replicaSets(h).count == 2)
        #expect(h.pods.allSatisfy { $0[path: ["spec", "containers"]]!.arrayValue![0]["image"] == "v1" } && h.pods.count == 10)
        let v1 = Self.replicaSets(h).first { $0[path: ["spec", "template", "spec", "containers"]]!.arrayValue![0]["image"] == "v1" }!
        #expect(v1[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] == "3")
    }

    /// Recreate: every old pod is gone before a new one is created.
    @Test mutating func recreateStopsEverythingFirst() {
        var h = ControlHarness()
        h.addNode("n0")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 3, image: "v1", strategy: #"{"type":"Recreate"}"#))
        h.settle()
        var d = h.objects("deployments/")[0]
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "c", "image": "v2"]]
        h.update(.deployments, d)
        var mixed = false
        h.settle { h in
            let images = Set(h.pods.map { $0[path: ["spec", "containers"]]!.arrayValue![0]["image"]!.stringValue! })
            if images.count > 1 { mixed = true }
        }
        #expect(!mixed)
        #expect(h.pods.count == 3 && h.pods.allSatisfy { $0[path: ["spec", "containers"]]!.arrayValue![0]["image"] == "v2" })
    }

    /// Scaling 10 → 3 → 12: scale-down removes pods in Kubernetes' order (unscheduled first).
    @Test mutating func scaleDownAndUp() {
        var h = ControlHarness()
        h.addNode("n0", cpu: "1")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 12, image: "v1"))
        h.settle()
        #expect(h.pods.filter { $0[path: ["spec", "nodeName"]] == nil }.count == 2)  // 1 cpu holds 10 pods of 100m
        var d = h.objects("deployments/")[0]
        d[path: ["spec", "replicas"]] = 10
        h.update(.deployments, d)
        h.settle()
        #expect(h.pods.count == 10 && h.pods.allSatisfy { $0[path: ["spec", "nodeName"]] != nil })
        d = h.objects("deployments/")[0]
        d[path: ["spec", "replicas"]] = 3
        h.update(.deployments, d)
        h.settle()
        #expect(h.pods.count == 3)
        rolledOut(&h, replicas: 3)
    }

    /// Deleting a Deployment deletes its ReplicaSet, whose pods then go too.
    @Test func garbageCollection() {
        var h = ControlHarness()
        h.addNode("n0")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 3, image: "v1"))
        h.settle()
        #expect(h.pods.count == 3)
        h.put("deployments/default/web", nil)
        h.settle()
        #expect(h.objects("replicasets/").isEmpty && h.pods.isEmpty)
    }

    /// A bare pod matching a ReplicaSet's selector is adopted and counts; one whose labels change
    /// is released and replaced.
    @Test func adoptionAndRelease() {
        var h = ControlHarness()
        h.addNode("n0")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.pods, "default", #"{"metadata":{"name":"bare","labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#)
        h.create(.replicaSets, "default", #"{"metadata":{"name":"rs"},"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
        h.settle()
        #expect(h.pods.count == 2)
        var bare = h.items["pods/default/bare"]!.object
        #expect(bare[path: ["metadata", "ownerReferences"]]!.arrayValue![0]["name"] == "rs")
        bare[path: ["metadata", "labels"]] = ["a": "other"]
        h.put("pods/default/bare", bare)
        h.settle()
        #expect(h.pods.count == 3)
        #expect(h.items["pods/default/bare"]!.object[path: ["metadata", "ownerReferences"]] == [])
    }

    /// Scale-down order: unscheduled, then pending, then not ready, then ready; newer first.
    @Test func deletionOrder() {
        func pod(_ name: String, node: String?, phase: String, ready: Bool, created: String) -> PodFacts {
            var object = ControlHarness.json(#"{"metadata":{"name":"\#(name)","namespace":"d","creationTimestamp":"\#(created)"},"spec":{"containers":[]}}"#)
            object[path: ["spec", "nodeName"]] = node.map(JSON.string)
            object[path: ["status", "phase"]] = .string(phase)
            if ready { object[path: ["status", "conditions"]] = [["type": "Ready", "status": "True"]] }
            return PodFacts(key: "pods/d/\(name)", version: 1, object: object)
        }
        let pods = [
            pod("ready-old", node: "n", phase: "Running", ready: true, created: "2026-01-01T00:00:00Z"),
            pod("ready-new", node: "n", phase: "Running", ready: true, created: "2026-01-02T00:00:00Z"),
            pod("unready", node: "n", phase: "Running", ready: false, created: "2026-01-01T00:00:00Z"),
            pod("pending", node: "n", phase: "Pending", ready: false, created: "2026-01-01T00:00:00Z"),
            pod("unbound", node: nil, phase: "Pending", ready: false, created: "2026-01-01T00:00:00Z"),
        ]
        #expect(ControlPlane.deletionOrder(pods).map(\.meta.name) == ["unbound", "pending", "unready", "ready-new", "ready-old"])
    }

    /// Percentages: surge rounds up, unavailable down; both zero allow one unavailable.
    @Test func fenceposts() {
        var h = ControlHarness()
        h.create(.deployments, "default", Self.deployment(replicas: 10, image: "v1", strategy: #"{"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}"#))
        #expect(h.plane.view.deployments["deployments/default/web"]!.fenceposts == (3, 2))
        h.create(.deployments, "other", Self.deployment(replicas: 10, image: "v1", strategy: #"{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}}"#))
        #expect(h.plane.view.deployments["deployments/other/web"]!.fenceposts == (0, 1))
    }
}

extension ControllerTests {
    /// The planted bug that ignores maxUnavailable drops availability at the first step of a
    /// rollout (the check in `rollingUpdateKeepsItsBounds` can fail).
    @Test mutating func plantedRolloutBugDropsAvailability() {
        var options = ControlPlane.Options()
        options.plantedBugs = .rolloutIgnoresMaxUnavailable
        var h = ControlHarness(options: options)
        for i in 0..<4 { h.addNode("n\(i)") }
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 10, image: "v1"))
        h.settle()
        var d = h.objects("deployments/")[0]
        d[path: ["spec", "template", "spec", "containers"]] = [["name": "c", "image": "v2", "resources": ["requests": ["cpu": "100m"]]]]
        h.update(.deployments, d)
        var worst = Int.max
        h.settle { h in worst = min(worst, Self.counts(h).available) }
        #expect(worst < 10)
    }
}

extension ControllerTests {
    /// Deleting a Deployment as the API does with `propagationPolicy` (its finalizer and
    /// deletionTimestamp): `Orphan` keeps the ReplicaSet and its pods without the owner;
    /// `Foreground` deletes the ReplicaSet (and so its pods) before the Deployment goes.
    @Test(arguments: ["orphan", "foregroundDeletion"])
    func propagation(finalizer: String) {
        var h = ControlHarness()
        h.addNode("n0")
        h.plane.lead(nowNs: h.nowNs)
        h.create(.deployments, "default", Self.deployment(replicas: 2, image: "v1"))
        h.settle()
        var d = h.objects("deployments/")[0]
        d[path: ["metadata", "finalizers"]] = [.string(finalizer)]
        d[path: ["metadata", "deletionTimestamp"]] = "2027-01-15T08:00:00Z"
        h.put("deployments/default/web", d)
        h.settle()
        #expect(h.objects("deployments/").isEmpty)
        if finalizer == "orphan" {
            let rs = h.objects("replicasets/")
            #expect(rs.count == 1 && rs[0][path: ["metadata", "ownerReferences"]] == [])
            #expect(h.pods.count == 2)
        } else {
            #expect(h.objects("replicasets/").isEmpty && h.pods.isEmpty)
        }
    }

    /// A rollout that makes no progress for `progressDeadlineSeconds` is reported as
    /// `ProgressDeadlineExceeded` (what `kubectl rollout status` fails on); progress again, and it
    /// completes.
    @Test func progressDeadlineExceeded() {
        var h = ControlHarness()
        h.addNode("n1", cpu: "100m")  // room for one pod of three
        h.plane.lead(nowNs: h.nowNs)
        var body = Self.deployment(replicas: 3, image: "v1")
        body = body.replacing(#""replicas":3,"#, with: #""replicas":3,"progressDeadlineSeconds":10,"#)
        h.create(.deployments, "default", body)
        h.settle()
        func progressing() -> JSON? {
            h.objects("deployments/")[0][path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }
        }
        #expect(progressing()?["reason"] == "ReplicaSetUpdated")
        h.advance(seconds: 6, renewing: ["n1"])
        // Room for a second pod at 6 s: progress, which renews the deadline (the condition's
        // reason and message stay the same).
        h.addNode("n2", cpu: "100m")
        h.advance(seconds: 6, renewing: ["n1", "n2"])
        #expect(progressing()?["status"] == "True" && progressing()?["reason"] == "ReplicaSetUpdated", "12 s after the start, 6 s after progress")
        h.advance(seconds: 5, renewing: ["n1", "n2"])
        let rs = h.objects("replicasets/")[0][path: ["metadata", "name"]]!.stringValue!
        #expect(progressing()?["status"] == "False" && progressing()?["reason"] == "ProgressDeadlineExceeded")
        #expect(progressing()?["message"] == .string("ReplicaSet \"\(rs)\" has timed out progressing."))
        h.addNode("n3")
        h.settle()
        #expect(progressing()?["status"] == "True" && progressing()?["reason"] == "NewReplicaSetAvailable")
    }
}
