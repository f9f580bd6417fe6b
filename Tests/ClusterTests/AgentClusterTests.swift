import Foundation
import Glibc
import Master
import Testing

/// `bosun agent` for real: three masters and two agents as processes, a Deployment whose pods
/// become real processes; kill -9 of the leader and of an agent leave them running untouched (and
/// a scale-up right after the leader's death is acted on); a scale-down stops them; a crashing container is restarted with back-off; logs are read through
/// any master, as `kubectl logs` reads them.
@Suite(.serialized)
struct AgentClusterTests {
    /// Two `bosun agent` processes beside a cluster's masters.
    final class Agents {
        let cluster: ClusterProcess
        var pids: [Int: pid_t] = [:]

        init(cluster: ClusterProcess) { self.cluster = cluster }

        deinit { for pid in pids.values { kill(pid, SIGKILL); waitpid(pid, nil, 0) } }

        func start(_ n: Int) {
            let masters = cluster.apiPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",")
            pids[n] = ClusterProcess.spawn(
                [cluster.binary, "agent", "--name", "node-\(n)", "--masters", masters, "--data-dir", "\(cluster.root)/a\(n)",
                 "--port", "\(cluster.apiPorts[0] + 5 + UInt16(n))", "--backoff-seconds", "1", "--capacity", "cpu=4,memory=8Gi,pods=20"],
                log: "\(cluster.root)/a\(n).log")
        }

        func kill9(_ n: Int) {
            guard let pid = pids.removeValue(forKey: n) else { return }
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
        }
    }

    /// Three masters (with `extra` flags) and `count` agents, started.
    static func start(extra: [String] = [], agents count: Int) throws -> (ClusterProcess, Agents) {
        let cluster = ClusterProcess(binary: try #require(ClusterProcess.findBinary(), "build bosun first"), count: 3, extra: extra)
        cluster.startAll()
        let agents = Agents(cluster: cluster)
        for n in 1...count { agents.start(n) }
        return (cluster, agents)
    }

    /// A sleep duration no other process on the machine uses: it finds the test's containers.
    static func marker() -> String { "1000.\(UInt32.random(in: 1000...999_999))" }

    /// Processes whose command line holds `marker`, by pid.
    static func processes(_ marker: String) -> [pid_t] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var found: [pid_t] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), let fd = fopen("/proc/\(pid)/cmdline", "r") else { continue }
            var bytes = [UInt8](repeating: 0, count: 4096)
            let n = fread(&bytes, 1, bytes.count, fd)
            fclose(fd)
            if String(decoding: bytes[0..<n].map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker) { found.append(pid) }
        }
        return found.sorted()
    }

    /// A JSON answer from the first master that gives one (not 503), of `ports` if given.
    static func get(_ cluster: ClusterProcess, _ path: String, ports: [UInt16]? = nil) -> JSON? {
        for port in ports ?? cluster.apiPorts {
            if let reply = HTTPTestClient.request("GET", port: port, path: path), reply.status == 200 { return try? JSONParser.parse(reply.body) }
        }
        return nil
    }

    static func send(_ cluster: ClusterProcess, _ method: String, _ path: String, _ body: String, type: String = "application/json") -> Int? {
        for port in cluster.apiPorts {
            if let reply = HTTPTestClient.request(method, port: port, path: path, body: body, contentType: type), reply.status != 503 { return reply.status }
        }
        return nil
    }

    /// Waits up to `seconds` for `condition`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        for _ in 0..<Int(seconds * 10) {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }

    static func pods(_ cluster: ClusterProcess, _ selector: String) -> [JSON] {
        get(cluster, "/api/v1/namespaces/default/pods?labelSelector=\(selector)")?["items"]?.arrayValue ?? []
    }

    static func runningAndReady(_ pod: JSON) -> Bool {
        pod[path: ["status", "phase"]]?.stringValue == "Running"
            && pod[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" } == true
    }

    static func restarts(_ pod: JSON) -> Int { pod[path: ["status", "containerStatuses"]]?.arrayValue?.first?["restartCount"]?.intValue ?? -1 }

    @Test func deploymentRunsAsProcessesThatOutliveMasterAndAgentCrashes() throws {
        let (cluster, agents) = try Self.start(agents: 2)
        let marker = Self.marker()
        defer { for pid in Self.processes(marker) { kill(pid, SIGKILL) } }

        #expect(Self.eventually(20) {
            let nodes = Self.get(cluster, "/api/v1/nodes")?["items"]?.arrayValue ?? []
            return nodes.count == 2 && nodes.allSatisfy { node in
                node[path: ["status", "conditions"]]?.arrayValue?.contains { $0["type"]?.stringValue == "Ready" && $0["status"]?.stringValue == "True" } == true
            }
        }, "both agents register Ready nodes")

        let deployment = #"""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"sleepers"},
             "spec":{"replicas":4,"selector":{"matchLabels":{"app":"sleepers"}},
                     "template":{"metadata":{"labels":{"app":"sleepers"}},
                                 "spec":{"terminationGracePeriodSeconds":2,
                                         "containers":[{"name":"main","image":"busybox","command":["/bin/sh","-c","echo up $POD; exec sleep \#(marker)"],
                                                        "env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}}}}
            """#
        #expect(Self.send(cluster, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment) == 201)
        #expect(Self.eventually(30) {
            let pods = Self.pods(cluster, "app%3Dsleepers")
            return pods.count == 4 && pods.allSatisfy(Self.runningAndReady)
        }, "four pods Running and Ready")
        let nodes = Set(Self.pods(cluster, "app%3Dsleepers").compactMap { $0[path: ["spec", "nodeName"]]?.stringValue })
        #expect(nodes == ["node-1", "node-2"], "the pods are spread over both nodes")
        var processes = Self.processes(marker)
        #expect(processes.count == 4)
        // Each pod's output, through a master other than the first, and through `bosun logs`.
        let names = Self.pods(cluster, "app%3Dsleepers").compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        for name in names {
            let reply = HTTPTestClient.request("GET", port: cluster.port(2), path: "/api/v1/namespaces/default/pods/\(name)/log")
            #expect(reply?.status == 200 && reply?.body == "up \(name)\n", "\(String(describing: reply))")
        }
        let cli = try CommandLineTests.run(["logs", names[0], "--masters", cluster.apiPorts.map { "http://127.0.0.1:\($0)" }.joined(separator: ",")])
        #expect(cli.status == 0 && cli.output == "up \(names[0])\n", "\(cli.output)")
        let kubectl = KubectlTests.Kubectl(
            binary: try #require(KubectlTests.findOnPath("kubectl")), server: "http://127.0.0.1:\(cluster.port(3))", cacheDir: "\(cluster.root)/kube")
        let viaKubectl = try kubectl.run(["logs", names[1]])
        #expect(viaKubectl.status == 0 && viaKubectl.output == "up \(names[1])\n", "\(viaKubectl.output)")
        // The controllers' events, as `kubectl describe` shows them.
        let describedDeployment = try kubectl.run(["describe", "deployment", "sleepers"])
        #expect(describedDeployment.output.contains("ScalingReplicaSet") && describedDeployment.output.contains("Scaled up replica set sleepers-"),
                "\(describedDeployment.output)")
        let describedPod = try kubectl.run(["describe", "pod", names[0]])
        #expect(describedPod.output.contains("Scheduled") && describedPod.output.contains("Successfully assigned default/\(names[0]) to node-"),
                "\(describedPod.output)")

        // kill -9 of the leader: the pods keep their processes, nodes stay Ready, renewals go on,
        // and a scale-up sent at once is acted on by the new leader.
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        let renewed = Self.get(cluster, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1")?[path: ["spec", "renewTime"]]
        cluster.signal(leader, SIGKILL)
        let killedAtMs = EventClock.nowMs()
        #expect(Self.eventually(5) {
            Self.send(cluster, "PATCH", "/apis/apps/v1/namespaces/default/deployments/sleepers", #"{"spec":{"replicas":6}}"#, type: "application/merge-patch+json") == 200
        })
        #expect(Self.eventually(10) { Self.processes(marker).count == 6 }, "the scale-up runs")
        print("6 processes running \(EventClock.nowMs() - killedAtMs) ms after kill -9 of the leader")
        #expect(Self.eventually(10) {
            let now = Self.get(cluster, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1")?[path: ["spec", "renewTime"]]
            return now != nil && now != renewed
        }, "node-1 renews its Lease through the other masters")
        #expect(Set(processes).isSubset(of: Self.processes(marker)), "the first four run on untouched")
        processes = Self.processes(marker)
        #expect(Self.eventually(10) {
            let pods = Self.pods(cluster, "app%3Dsleepers")
            return pods.count == 6 && pods.allSatisfy { Self.runningAndReady($0) && Self.restarts($0) == 0 }
        })
        #expect(Self.readyStatus(cluster, "node-1") == "True" && Self.readyStatus(cluster, "node-2") == "True")

        // kill -9 of an agent, then a new one on the same data dir: its containers are re-adopted.
        agents.kill9(1)
        usleep(500_000)
        #expect(Self.processes(marker) == processes, "containers outlive their agent")
        agents.start(1)
        usleep(3_000_000)
        #expect(Self.processes(marker) == processes, "the new agent keeps them")
        let afterRestart = Self.pods(cluster, "app%3Dsleepers")
        #expect(afterRestart.count == 6 && afterRestart.allSatisfy { Self.runningAndReady($0) && Self.restarts($0) == 0 })

        // A scale-down to zero stops every process and removes every pod.
        #expect(Self.send(cluster, "PATCH", "/apis/apps/v1/namespaces/default/deployments/sleepers", #"{"spec":{"replicas":0}}"#, type: "application/merge-patch+json") == 200)
        #expect(Self.eventually(15) { Self.processes(marker).isEmpty && Self.pods(cluster, "app%3Dsleepers").isEmpty }, "scaled to zero")
    }

    @Test func aCrashingContainerIsRestartedWithBackOff() throws {
        let (cluster, agents) = try Self.start(agents: 1)
        defer { withExtendedLifetime(agents) {} }
        let pod = #"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"crasher","labels":{"app":"crasher"}},
             "spec":{"containers":[{"name":"main","image":"busybox","command":["/bin/sh","-c","echo started $$; sleep 0.5; echo done; exit 3"]}]}}
            """#
        #expect(Self.eventually(20) { Self.send(cluster, "POST", "/api/v1/namespaces/default/pods", pod) == 201 })
        var seenBackOff = false
        #expect(Self.eventually(30) {
            guard let pod = Self.get(cluster, "/api/v1/namespaces/default/pods/crasher") else { return false }
            let status = pod[path: ["status", "containerStatuses"]]?.arrayValue?.first
            if status?[path: ["state", "waiting", "reason"]]?.stringValue == "CrashLoopBackOff" { seenBackOff = true }
            return seenBackOff && Self.restarts(pod) >= 2 && status?[path: ["lastState", "terminated", "exitCode"]]?.intValue == 3
        }, "restarted at least twice, CrashLoopBackOff between runs, exit code 3 reported")
        let logPath = "/api/v1/namespaces/default/pods/crasher/log"
        let current = HTTPTestClient.request("GET", port: cluster.port(3), path: logPath)
        let previous = HTTPTestClient.request("GET", port: cluster.port(3), path: logPath + "?previous=true")
        #expect(current?.status == 200 && previous?.status == 200)
        #expect(previous?.body.hasPrefix("started ") == true && previous?.body.hasSuffix("\ndone\n") == true, "\(String(describing: previous))")
        let firstLine = { (body: String?) in body?.split(separator: "\n").first.map(String.init) }
        #expect(firstLine(current?.body)?.hasPrefix("started ") == true && firstLine(current?.body) != firstLine(previous?.body), "two runs, two outputs")
        #expect(HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?previous=true&tailLines=1")?.body == "done\n")
        #expect(HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?previous=true&limitBytes=8")?.body == "started ")
        #expect(HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?previous=true&tailLines=1&limitBytes=3")?.body == "don")
        #expect(HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?limitBytes=0")?.status == 400)
        // Followed: the stream carries the run's lines as they come and ends with the run.
        #expect(Self.eventually(10) {
            Self.get(cluster, "/api/v1/namespaces/default/pods/crasher")?[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "running"]] != nil
        })
        let followed = HTTPTestClient.request("GET", port: cluster.port(2), path: logPath + "?follow=true", timeoutMs: 5000)
        #expect(followed?.status == 200 && followed?.body.contains("done\n") == true, "\(String(describing: followed))")
        let limited = HTTPTestClient.request("GET", port: cluster.port(2), path: logPath + "?follow=true&limitBytes=8", timeoutMs: 5000)
        #expect(limited?.status == 200 && limited?.body == "started ", "\(String(describing: limited))")
        // Refusals in Kubernetes' words.
        let wrong = HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?container=nope")
        #expect(wrong?.status == 400 && wrong?.body.contains("container nope is not valid for pod crasher") == true)
        // The agent's refusal of a followed log reaches the reader with its message.
        let refused = HTTPTestClient.request("GET", port: cluster.port(1), path: logPath + "?follow=true&limitBytes=-1")
        #expect(refused?.status == 400 && refused?.body.contains("limitBytes must be a positive number of bytes") == true, "\(String(describing: refused))")
        #expect(HTTPTestClient.request("GET", port: cluster.port(1), path: "/api/v1/namespaces/default/pods/nosuch/log")?.status == 404)
    }

    static func readyStatus(_ cluster: ClusterProcess, _ node: String) -> String? {
        get(cluster, "/api/v1/nodes/\(node)")?[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }?["status"]?.stringValue
    }

    /// A node's Lease renewal time as masters 2 and 3 know it (master 1 may be stopped).
    static func renewTime(_ cluster: ClusterProcess, _ node: String) -> JSON? {
        get(cluster, "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/\(node)", ports: Array(cluster.apiPorts.dropFirst()))?[path: ["spec", "renewTime"]]
    }

    /// A master the agents talk to is stopped (SIGSTOP: its connections stay open, it answers
    /// nothing) and they renew through another; an agent killed for good has its node marked and
    /// its pods replaced after their toleration, while its containers run on (it may be cut off,
    /// not dead); started again, it stops them and the pods marked for deletion go. The pods
    /// tolerate the dead node for the cluster's `--toleration-seconds`.
    @Test func silentMastersAreLeftAndADeadNodesPodsAreReplaced() throws {
        let (cluster, agents) = try Self.start(extra: ["--node-grace-seconds", "2", "--toleration-seconds", "1"], agents: 2)
        let marker = Self.marker()
        defer { for pid in Self.processes(marker) { kill(pid, SIGKILL) } }
        #expect(Self.eventually(20) { Self.readyStatus(cluster, "node-1") == "True" && Self.readyStatus(cluster, "node-2") == "True" })

        // Master 1, the first every agent talks to, goes silent.
        let pid = try #require(cluster.pids[1])
        kill(pid, SIGSTOP)
        let before = [Self.renewTime(cluster, "node-1"), Self.renewTime(cluster, "node-2")]
        let stoppedAtMs = EventClock.nowMs()
        #expect(Self.eventually(8) {
            let now = [Self.renewTime(cluster, "node-1"), Self.renewTime(cluster, "node-2")]
            return now[0] != nil && now[1] != nil && now[0] != before[0] && now[1] != before[1]
        }, "both agents renew through another master")
        print("agents renewed \(EventClock.nowMs() - stoppedAtMs) ms after their master was stopped")
        kill(pid, SIGCONT)
        #expect(Self.readyStatus(cluster, "node-1") == "True" && Self.readyStatus(cluster, "node-2") == "True")

        let deployment = #"""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"movers"},
             "spec":{"replicas":4,"selector":{"matchLabels":{"app":"movers"}},
                     "template":{"metadata":{"labels":{"app":"movers"}},
                                 "spec":{"terminationGracePeriodSeconds":1,
                                         "containers":[{"name":"main","image":"busybox","command":["/bin/sleep","\#(marker)"]}]}}}}
            """#
        #expect(Self.send(cluster, "POST", "/apis/apps/v1/namespaces/default/deployments", deployment) == 201)
        #expect(Self.eventually(30) {
            let pods = Self.pods(cluster, "app%3Dmovers")
            return pods.count == 4 && pods.allSatisfy(Self.runningAndReady)
        })
        let onNode2 = Set(Self.pods(cluster, "app%3Dmovers").filter { $0[path: ["spec", "nodeName"]]?.stringValue == "node-2" }.compactMap { $0[path: ["metadata", "uid"]]?.stringValue })
        #expect(!onNode2.isEmpty, "the pods are spread")
        let tolerated = Self.pods(cluster, "app%3Dmovers").first?[path: ["spec", "tolerations"]]?.arrayValue ?? []
        #expect(tolerated.count == 2 && tolerated.allSatisfy { $0["tolerationSeconds"] == 1 }, "the cluster's default toleration: \(tolerated)")

        agents.kill9(2)
        #expect(Self.eventually(10) { Self.readyStatus(cluster, "node-2") == "Unknown" }, "the silent node is marked")
        #expect(Self.eventually(20) {
            let live = Self.pods(cluster, "app%3Dmovers").filter { $0[path: ["metadata", "deletionTimestamp"]] == nil }
            return live.count == 4 && live.allSatisfy { Self.runningAndReady($0) && $0[path: ["spec", "nodeName"]]?.stringValue == "node-1" }
        }, "its pods are replaced on node-1")
        #expect(Self.processes(marker).count == 4 + onNode2.count, "the cut-off node's containers run on meanwhile")

        agents.start(2)
        #expect(Self.eventually(15) {
            let uids = Set(Self.pods(cluster, "app%3Dmovers").compactMap { $0[path: ["metadata", "uid"]]?.stringValue })
            return Self.readyStatus(cluster, "node-2") == "True" && uids.isDisjoint(with: onNode2) && Self.processes(marker).count == 4
        }, "back, it stops what it ran for the evicted pods and they go")
    }

    static func podReady(_ cluster: ClusterProcess, _ name: String) -> String? {
        get(cluster, "/api/v1/namespaces/default/pods/\(name)")?[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }?["status"]?.stringValue
    }

    /// A readiness probe drives the pod's Ready condition both ways; a container that ignores
    /// SIGTERM is killed when the grace period ends, and only then is the pod gone.
    @Test func readinessFollowsTheProbeAndAStubbornContainerIsKilledAfterItsGrace() throws {
        let (cluster, agents) = try Self.start(agents: 1)
        defer { withExtendedLifetime(agents) {} }
        let marker = Self.marker()
        defer { for pid in Self.processes(marker) { kill(pid, SIGKILL) } }
        let flag = "\(cluster.root)/ready-flag"
        let pod = #"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"probed"},
             "spec":{"terminationGracePeriodSeconds":2,
                     "containers":[{"name":"main","image":"busybox","command":["/bin/sh","-c","trap '' TERM; exec sleep \#(marker)"],
                                    "readinessProbe":{"exec":{"command":["/bin/test","-f","\#(flag)"]},"periodSeconds":1}}]}}
            """#
        #expect(Self.eventually(20) { Self.send(cluster, "POST", "/api/v1/namespaces/default/pods", pod) == 201 })
        #expect(Self.eventually(20) { Self.get(cluster, "/api/v1/namespaces/default/pods/probed")?[path: ["status", "phase"]]?.stringValue == "Running" })
        usleep(1_500_000)
        #expect(Self.podReady(cluster, "probed") == "False", "not ready while the probe fails")
        #expect(FileManager.default.createFile(atPath: flag, contents: Data()))
        #expect(Self.eventually(5) { Self.podReady(cluster, "probed") == "True" }, "ready once it passes")
        try FileManager.default.removeItem(atPath: flag)
        #expect(Self.eventually(8) { Self.podReady(cluster, "probed") == "False" }, "unready again after three failures")

        let process = try #require(Self.processes(marker).first)
        #expect(Self.send(cluster, "DELETE", "/api/v1/namespaces/default/pods/probed", "") == 200)
        let deletedAtMs = EventClock.nowMs()
        usleep(1_000_000)
        #expect(kill(process, 0) == 0, "SIGTERM is ignored")
        #expect(Self.get(cluster, "/api/v1/namespaces/default/pods/probed")?[path: ["metadata", "deletionTimestamp"]] != nil, "Terminating meanwhile")
        #expect(Self.eventually(8) { Self.processes(marker).isEmpty && Self.get(cluster, "/api/v1/namespaces/default/pods/probed") == nil })
        #expect(EventClock.nowMs() - deletedAtMs >= 2_000, "killed when the grace period ended, not before")
    }
}
