import Control
import Master
import Testing

struct SchedulerTests {
    static let podRequesting = #"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"1500m","memory":"1Gi"}}}]}}"#

    /// A pod that fits nowhere gets kube-scheduler's message, one reason per node, sorted; it is
    /// bound once a node that fits appears.
    @Test func unschedulableMessageThenBoundWhenANodeFits() {
        var h = ControlHarness()
        h.addNode("small", cpu: "1")
        h.addNode("cordoned", spec: #"{"unschedulable":true}"#)
        h.addNode("tainted", spec: #"{"taints":[{"key":"gpu","value":"yes","effect":"NoSchedule"}]}"#)
        h.plane.lead(nowNs: h.nowNs)
        h.create(.pods, "default", Self.podRequesting)
        h.settle()
        let pod = h.pods[0]
        #expect(pod[path: ["spec", "nodeName"]] == nil)
        let condition = pod[path: ["status", "conditions"]]!.arrayValue!.first { $0["type"] == "PodScheduled" }!
        #expect(condition["status"] == "False" && condition["reason"] == "Unschedulable")
        #expect(condition["message"] == "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {gpu: yes}, 1 node(s) were unschedulable.")
        let writes = h.log.count
        h.settle()
        #expect(h.log.count == writes, "an unschedulable pod is not rewritten while nothing changes")
        h.addNode("big", cpu: "8")
        h.settle()
        #expect(h.pods[0][path: ["spec", "nodeName"]] == "big")
        #expect(h.pods[0][path: ["status", "conditions"]]!.arrayValue!.contains { $0["type"] == "PodScheduled" && $0["status"] == "True" })
    }

    /// Node selectors, required node affinity (In, NotIn, Gt), tolerations and host ports.
    @Test func filters() {
        var h = ControlHarness()
        h.addNode("a", labels: #"{"zone":"x","gen":"3"}"#)
        h.addNode("b", labels: #"{"zone":"y","gen":"5"}"#, spec: #"{"taints":[{"key":"dedicated","value":"db","effect":"NoExecute"}]}"#)
        h.plane.lead(nowNs: h.nowNs)
        h.create(.pods, "default", #"{"metadata":{"name":"sel"},"spec":{"nodeSelector":{"zone":"y"},"tolerations":[{"key":"dedicated","operator":"Equal","value":"db"}],"containers":[{"name":"c","image":"i"}]}}"#)
        h.create(.pods, "default", #"{"metadata":{"name":"aff"},"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"gen","operator":"Gt","values":["4"]},{"key":"zone","operator":"NotIn","values":["x"]}]}]}}},"containers":[{"name":"c","image":"i"}]}}"#)
        h.create(.pods, "default", #"{"metadata":{"name":"port1"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80,"hostPort":8080}]}]}}"#)
        h.create(.pods, "default", #"{"metadata":{"name":"port2"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80,"hostPort":8080}]}]}}"#)
        h.settle()
        let byName = Dictionary(uniqueKeysWithValues: h.pods.map { ($0[path: ["metadata", "name"]]!.stringValue!, $0) })
        #expect(byName["sel"]![path: ["spec", "nodeName"]] == "b")
        // `aff` needs gen > 4 and zone not x: only b, whose taint it does not tolerate.
        #expect(byName["aff"]![path: ["spec", "nodeName"]] == nil)
        #expect(byName["aff"]![path: ["status", "conditions"]]!.arrayValue![0]["message"]
            == "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: db}.")
        // Only `a` is untainted: the second pod asking for host port 8080 has nowhere to go.
        #expect([byName["port1"]!, byName["port2"]!].filter { $0[path: ["spec", "nodeName"]] == "a" }.count == 1)
    }

    /// Thirty pods of one ReplicaSet on ten nodes that take three each: all bound, three per
    /// node, none over a node's allocatable (what is already bound counts, and so do binds in
    /// flight in the same round).
    @Test func fillsAndSpreads() {
        var h = ControlHarness()
        for i in 0..<10 { h.addNode("n\(i)", cpu: "1") }
        h.plane.lead(nowNs: h.nowNs)
        h.create(.replicaSets, "default", #"{"metadata":{"name":"rs"},"spec":{"replicas":31,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"300m"}}}]}}}}"#)
        h.settle()
        let pods = h.pods
        #expect(pods.count == 31)
        var perNode: [String: Int] = [:]
        for pod in pods { if let node = pod[path: ["spec", "nodeName"]]?.stringValue { perNode[node, default: 0] += 1 } }
        #expect(perNode.count == 10 && perNode.values.allSatisfy { $0 == 3 })
        let pending = pods.filter { $0[path: ["spec", "nodeName"]] == nil }
        #expect(pending.count == 1)
        #expect(pending[0][path: ["status", "conditions"]]!.arrayValue![0]["message"] == "0/10 nodes are available: 10 Insufficient cpu.")
    }

    /// The same view and pod give the same decision, and the walk over nodes starts where asked.
    @Test func feasibleNodesToFindFollowsKubeScheduler() {
        #expect(Scheduler.feasibleNodesToFind(50) == 50)
        #expect(Scheduler.feasibleNodesToFind(1000) == 420)
        #expect(Scheduler.feasibleNodesToFind(5000) == 500)
        #expect(Scheduler.feasibleNodesToFind(100_000) == 5000)
    }
}
