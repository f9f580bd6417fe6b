import Foundation
import Glibc
import Master
import Synchronization
import Testing

/// The scheduler and controllers on three real masters, with the test playing ten node agents
/// through the API (Leases renewed, pods reported running and ready, pods marked for deletion
/// removed): a Deployment of 30 is scheduled and spread; a rolling update keeps its bounds while
/// the leader is killed in the middle of it; no renewing node is ever marked; a silent node's
/// pods are evicted and replaced.
@Suite(.serialized)
struct ControlPlaneClusterTests {
    /// Ten fake node agents in a background thread.
    final class FakeAgents: @unchecked Sendable {
        let ports: [UInt16]
        let nodes: [String]
        let lock = Mutex<State>(State())
        var thread: Thread?

        struct State {
            var running = true
            /// Nodes that stopped renewing.
            var silent: Set<String> = []
            /// Renewing nodes ever seen marked unreachable or not ready.
            var wronglyMarked: Set<String> = []
            /// Each pod's node once bound, by uid; pods seen moved.
            var boundTo: [String: String] = [:]
            var moved: [String] = []
        }

        init(ports: [UInt16], nodes: [String]) {
            self.ports = ports
            self.nodes = nodes
        }

        /// A request to whichever master answers (not 503).
        func call(_ method: String, _ path: String, _ body: String? = nil, type: String? = nil) -> (status: Int, body: String)? {
            for port in ports {
                if let reply = HTTPTestClient.request(method, port: port, path: path, body: body, contentType: type, timeoutMs: 2000), reply.status != 503 {
                    return reply
                }
            }
            return nil
        }

        func start() {
            let thread = Thread { [self] in
                while lock.withLock({ $0.running }) {
                    beat()
                    usleep(300_000)
                }
            }
            self.thread = thread
            thread.start()
        }

        func stop() { lock.withLock { $0.running = false } }

        func beat() {
            let silent = lock.withLock { $0.silent }
            let now = Date().timeIntervalSince1970
            let renewTime = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: now)).dropLast() + String(format: ".%06dZ", Int(now.truncatingRemainder(dividingBy: 1) * 1e6))
            for node in nodes where !silent.contains(node) {
                let lease = #"{"metadata":{"name":"\#(node)"},"spec":{"holderIdentity":"\#(node)","leaseDurationSeconds":3,"renewTime":"\#(renewTime)"}}"#
                _ = call("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/\(node)", lease)
            }
            if let reply = call("GET", "/api/v1/nodes"), let items = (try? JSONParser.parse(reply.body))?["items"]?.arrayValue {
                for node in items {
                    let name = node[path: ["metadata", "name"]]?.stringValue ?? ""
                    let ready = (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }?["status"]
                    if !silent.contains(name), ready != "True" { lock.withLock { _ = $0.wronglyMarked.insert(name) } }
                }
            }
            guard let reply = call("GET", "/api/v1/pods"), let pods = (try? JSONParser.parse(reply.body))?["items"]?.arrayValue else { return }
            for pod in pods {
                guard let node = pod[path: ["spec", "nodeName"]]?.stringValue, !silent.contains(node) else { continue }
                let name = pod[path: ["metadata", "name"]]?.stringValue ?? ""
                let uid = pod[path: ["metadata", "uid"]]?.stringValue ?? ""
                lock.withLock { state in
                    if let was = state.boundTo[uid], was != node { state.moved.append(name) }
                    state.boundTo[uid] = node
                }
                let path = "/api/v1/namespaces/default/pods/\(name)"
                if pod[path: ["metadata", "deletionTimestamp"]] != nil {
                    _ = call("DELETE", path, #"{"gracePeriodSeconds":0}"#)
                } else if pod[path: ["status", "phase"]] != "Running" {
                    let at = ISO8601DateFormatter().string(from: Date())
                    let status = #"{"status":{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True","lastTransitionTime":"\#(at)"}]}}"#
                    _ = call("PATCH", path + "/status", status, type: "application/merge-patch+json")
                }
            }
        }
    }

    static func json(_ reply: (status: Int, body: String)?) -> JSON { (try? JSONParser.parse(reply?.body ?? "")) ?? .null }

    static func deployment(image: String, replicas: Int) -> String {
        #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":\#(replicas),"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}},"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":3}],"containers":[{"name":"c","image":"\#(image)","resources":{"requests":{"cpu":"500m"}}}]}}}}"#
    }

    /// Pods: (not being deleted, of them ready, per node) right now.
    static func census(_ agents: FakeAgents) -> (live: Int, ready: Int, perNode: [String: Int], images: Set<String>)? {
        guard let reply = agents.call("GET", "/api/v1/pods"), reply.status == 200, let pods = json(reply)["items"]?.arrayValue else { return nil }
        let live = pods.filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
        let ready = live.filter { ($0[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "True" } }
        var perNode: [String: Int] = [:]
        for pod in pods { if let node = pod[path: ["spec", "nodeName"]]?.stringValue { perNode[node, default: 0] += 1 } }
        let images = Set(live.compactMap { $0[path: ["spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue })
        return (live.count, ready.count, perNode, images)
    }

    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    static func controlWrites(_ port: UInt16) -> Int {
        guard let reply = HTTPTestClient.request("GET", port: port, path: "/metrics", timeoutMs: 500) else { return 0 }
        let line = reply.body.split(separator: "\n").first { $0.hasPrefix("bosun_control_writes_total ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test func deploymentRollsOutAcrossALeaderKill() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3, extra: ["--node-grace-seconds", "3"])
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        let nodes = (1...10).map { "node-\($0)" }
        let agents = FakeAgents(ports: [1, 2, 3].map(cluster.port), nodes: nodes)
        defer { agents.stop() }
        #expect(Self.waitFor(seconds: 10) { agents.call("GET", "/api/v1/namespaces/kube-node-lease")?.status == 200 })
        for node in nodes {
            #expect(agents.call("POST", "/api/v1/nodes", #"{"metadata":{"name":"\#(node)"}}"#)?.status == 201)
            let status = #"{"status":{"allocatable":{"cpu":"2","memory":"8Gi","pods":"110"},"capacity":{"cpu":"2","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}"#
            #expect(agents.call("PATCH", "/api/v1/nodes/\(node)/status", status, type: "application/merge-patch+json")?.status == 200)
            let lease = #"{"metadata":{"name":"\#(node)"},"spec":{"holderIdentity":"\#(node)"}}"#
            #expect(agents.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)?.status == 201)
        }
        agents.start()

        // 30 pods of 500m on ten nodes of 2 cpu: bound, ready, spread, none over allocatable.
        #expect(agents.call("POST", "/apis/apps/v1/namespaces/default/deployments", Self.deployment(image: "app:v1", replicas: 30))?.status == 201)
        #expect(Self.waitFor(seconds: 30) { Self.census(agents).map { $0.ready == 30 } ?? false })
        let placed = try #require(Self.census(agents))
        #expect(placed.perNode.count == 10 && placed.perNode.values.allSatisfy { $0 <= 4 }, "\(placed.perNode)")

        // A rolling update with maxSurge 1, maxUnavailable 0; kill -9 the leader a third of the way.
        #expect(agents.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", #"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"app:v2","resources":{"requests":{"cpu":"500m"}}}]}}}}"#,
                            type: "application/merge-patch+json")?.status == 200)
        var fewestReady = Int.max, mostLive = 0, killed = false
        var firstWriteMs: Int?
        let survivors = [1, 2, 3].filter { $0 != leader }
        let done = Self.waitFor(seconds: 90) {
            guard let now = Self.census(agents) else { return false }
            fewestReady = min(fewestReady, now.ready)
            mostLive = max(mostLive, now.live)
            if !killed, now.images.contains("app:v2"), let updated = Self.json(agents.call("GET", "/apis/apps/v1/namespaces/default/deployments/web"))[path: ["status", "updatedReplicas"]]?.intValue, updated >= 10 {
                killed = true
                cluster.signal(leader, SIGKILL)
                let start = EventClock.nowMs()
                while EventClock.nowMs() - start < 10_000 {
                    if survivors.contains(where: { Self.controlWrites(cluster.port($0)) > 0 }) {
                        firstWriteMs = EventClock.nowMs() - start
                        break
                    }
                    usleep(10_000)
                }
            }
            let d = Self.json(agents.call("GET", "/apis/apps/v1/namespaces/default/deployments/web"))
            return now.images == ["app:v2"] && now.ready == 30 && d[path: ["status", "updatedReplicas"]] == 30 && d[path: ["status", "replicas"]] == 30
        }
        #expect(done && killed)
        #expect(fewestReady >= 30 && mostLive <= 31, "ready fell to \(fewestReady), live pods rose to \(mostLive)")
        let writeMs = try #require(firstWriteMs)
        #expect(writeMs < 3000, "the new leader's first controller write came \(writeMs) ms after the kill")
        print("controllers acted \(writeMs) ms after kill -9 of the leader")
        let state = agents.lock.withLock { $0 }
        #expect(state.wronglyMarked.isEmpty, "renewing nodes marked: \(state.wronglyMarked)")
        #expect(state.moved.isEmpty, "pods moved between nodes: \(state.moved)")

        // A node that stops renewing is marked unreachable and its pods replaced elsewhere.
        agents.lock.withLock { _ = $0.silent.insert("node-10") }
        #expect(Self.waitFor(seconds: 30) {
            guard let now = Self.census(agents) else { return false }
            let node = Self.json(agents.call("GET", "/api/v1/nodes/node-10"))
            let unknown = (node[path: ["status", "conditions"]]?.arrayValue ?? []).contains { $0["type"] == "Ready" && $0["status"] == "Unknown" }
            let taints = node[path: ["spec", "taints"]]?.arrayValue ?? []
            return unknown && taints.contains { $0["key"] == "node.kubernetes.io/unreachable" } && now.ready == 30
        })
        #expect(agents.lock.withLock { $0.wronglyMarked.isEmpty })
    }

    /// Deleting a Deployment in the three propagation modes, through the API as kubectl's
    /// `--cascade=background|orphan|foreground` sends them (no nodes: the pods stay pending).
    @Test func garbageCollectionInThreeModes() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        let agents = FakeAgents(ports: [1, 2, 3].map(cluster.port), nodes: [])
        let deployments = "/apis/apps/v1/namespaces/default/deployments"
        func objects(_ path: String) -> [JSON] { Self.json(agents.call("GET", path))["items"]?.arrayValue ?? [] }
        func owned(_ uid: String) -> (replicaSets: [JSON], pods: [JSON]) {
            let owns: (JSON) -> Bool = { ($0[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { $0["uid"] == .string(uid) } }
            let replicaSets = objects("/apis/apps/v1/namespaces/default/replicasets").filter(owns)
            let rsUIDs = Set(replicaSets.compactMap { $0[path: ["metadata", "uid"]]?.stringValue })
            let pods = objects("/api/v1/namespaces/default/pods").filter { pod in
                (pod[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).contains { rsUIDs.contains($0["uid"]?.stringValue ?? "") }
            }
            return (replicaSets, pods)
        }
        #expect(Self.waitFor(seconds: 10) { agents.call("GET", deployments)?.status == 200 })
        for (policy, name) in [("Background", "bg"), ("Orphan", "orphan"), ("Foreground", "fg")] {
            let body = Self.deployment(image: "app:v1", replicas: 2).replacingOccurrences(of: #""name":"web""#, with: #""name":"\#(name)""#)
            #expect(agents.call("POST", deployments, body)?.status == 201)
            let uid = try #require(Self.json(agents.call("GET", "\(deployments)/\(name)"))[path: ["metadata", "uid"]]?.stringValue)
            #expect(Self.waitFor(seconds: 10) { owned(uid).pods.count == 2 }, "\(policy): no pods")
            let rsUID = try #require(owned(uid).replicaSets.first?[path: ["metadata", "uid"]]?.stringValue)
            #expect(agents.call("DELETE", "\(deployments)/\(name)", #"{"propagationPolicy":"\#(policy)"}"#)?.status == 200)
            #expect(Self.waitFor(seconds: 10) { agents.call("GET", "\(deployments)/\(name)")?.status == 404 }, "\(policy): the Deployment stays")
            let left = objects("/apis/apps/v1/namespaces/default/replicasets").filter { $0[path: ["metadata", "uid"]] == .string(rsUID) }
            if policy == "Orphan" {
                #expect(left.count == 1 && (left.first?[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).isEmpty)
            } else {
                #expect(Self.waitFor(seconds: 10) { objects("/apis/apps/v1/namespaces/default/replicasets").allSatisfy { $0[path: ["metadata", "uid"]] != .string(rsUID) } },
                        "\(policy): the ReplicaSet stays")
            }
        }
        #expect(agents.call("POST", deployments, Self.deployment(image: "app:v1", replicas: 0))?.status == 201)
        let bad = agents.call("DELETE", "\(deployments)/web", #"{"propagationPolicy":"Sideways"}"#)
        #expect(bad?.status == 422 && (bad?.body ?? "").contains("Unsupported value"), "\(String(describing: bad))")
        #expect(agents.call("GET", "\(deployments)/web")?.status == 200)
    }
}
