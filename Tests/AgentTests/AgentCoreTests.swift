@testable import Agent
import Master
import Testing

/// The agent core step by step: registration and renewals, failover between masters, the
/// informer's list/watch contract, and running pods by their restart policy.
@Suite struct AgentCoreTests {
    static let leasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

    @Test func registersItsNodeRenewsItsLeaseAndReportsReady() throws {
        var h = AgentHarness { $0.labels = ["zone": "a"] }
        h.answersNode = false
        h.start()
        let nodeAnswer = AgentHarness.body(h.answer("POST", "/api/v1/nodes", 201))
        let node = try #require(nodeAnswer)
        #expect(node[path: ["metadata", "labels", "kubernetes.io/hostname"]]?.stringValue == "node-1")
        #expect(node[path: ["metadata", "labels", "zone"]]?.stringValue == "a")
        let leaseAnswer = AgentHarness.body(h.answer("PUT", Self.leasePath + "/node-1", 200))
        let lease = try #require(leaseAnswer)
        #expect(lease[path: ["spec", "holderIdentity"]]?.stringValue == "node-1")
        let statusAnswer = AgentHarness.body(h.answer("PATCH", "/api/v1/nodes/node-1/status", 200))
        let status = try #require(statusAnswer)
        let ready = status[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
        #expect(ready?["status"]?.stringValue == "True")
        #expect(ready?["reason"]?.stringValue == "KubeletReady")
        #expect(status[path: ["status", "addresses"]]?.arrayValue?.first?["address"]?.stringValue == "10.0.0.1")
        // One renewal a second; each carries a later renewTime.
        h.advance(ms: 1_000)
        let nextAnswer = AgentHarness.body(h.answer("PUT", Self.leasePath + "/node-1", 200))
        let next = try #require(nextAnswer)
        #expect(next[path: ["spec", "renewTime"]] != lease[path: ["spec", "renewTime"]])
        // The status is not posted again while nothing changed.
        #expect(h.find("PATCH", "/api/v1/nodes/node-1/status") == nil)
    }

    @Test func aMissingLeaseIsCreatedAndAnExistingOneRenewed() throws {
        var h = AgentHarness()
        h.registered()
        h.answersNode = false
        h.advance(ms: 1_000)
        h.answer("PUT", Self.leasePath + "/node-1", 404)
        #expect(h.find("POST", Self.leasePath) != nil)
        // The create's answer was lost but it happened: the retry finds the Lease there and renews it.
        h.fail("POST", Self.leasePath)
        h.advance(ms: 300)
        h.answer("POST", Self.leasePath, 409)
        #expect(h.find("PUT", Self.leasePath + "/node-1") != nil)
    }

    @Test func leavesAMasterThatFailsOrStaysSilent() throws {
        var h = AgentHarness()
        h.registered()
        h.listed([], version: 5)
        h.answersNode = false
        h.advance(ms: 1_000)
        #expect(h.find("PUT", Self.leasePath)?.master == 0)
        h.answer("PUT", Self.leasePath, 503)
        // The watch moves along with the agent, resumed where it was.
        let watchAnswer = h.find("GET", "/api/v1/pods?watch=true")
        let watch = try #require(watchAnswer)
        #expect(watch.master == 1)
        #expect(watch.request.target.contains("resourceVersion=5"))
        h.advance(ms: 300)
        #expect(h.find("PUT", Self.leasePath)?.master == 1)
        // Master 1 never answers: it is left when the request times out.
        h.advance(ms: 2_100)
        #expect(h.core.target == 2)
        #expect(h.requests.allSatisfy { $0.master == 2 })
        h.fail("PUT", Self.leasePath)
        #expect(h.core.target == 0)
    }

    @Test func watchResumesFromTheLastVersionSeenAndListsAgainOnlyOnGone() throws {
        var h = AgentHarness()
        h.registered()
        let streamAnswer = h.listed([], version: 10)
        let stream = try #require(streamAnswer)
        #expect(h.find("GET", "/api/v1/pods?watch=true")?.request.target.contains("resourceVersion=10") == true)
        h.event(stream, "ADDED", AgentHarness.pod("web", uid: "u1", version: 12))
        h.event(stream, "BOOKMARK", ["kind": "Pod", "metadata": ["resourceVersion": "14"]])
        // A clean end (the watch's timeout) resumes at the same master from the last version.
        h.requests.removeAll { $0.id == stream }
        h.take(h.core.watchEnded(stream, broken: false, at: h.time))
        let resumedAnswer = h.find("GET", "/api/v1/pods?watch=true")
        let resumed = try #require(resumedAnswer)
        #expect(resumed.master == 0)
        #expect(resumed.request.target.contains("resourceVersion=14"))
        #expect(h.core.listCount == 1)
        // 410: the version is gone; the agent lists again instead of skipping ahead.
        h.answer("GET", "/api/v1/pods?watch=true", 410, #"{"kind":"Status","code":410,"reason":"Expired"}"#)
        h.advance(ms: 300)
        #expect(h.find("GET", "/api/v1/pods?fieldSelector") != nil)
        h.listed([], version: 30)
        #expect(h.core.listCount == 2)
        #expect(h.find("GET", "/api/v1/pods?watch=true")?.request.target.contains("resourceVersion=30") == true)
        // The pod missing from the new list is stopped.
        #expect(h.runtimeActions().contains { if case .signalContainer(let run, _) = $0 { run.key.podUID == "u1" } else { false } })
    }

    @Test func runsABoundPodAndReportsItRunningWithACompareAndSwap() throws {
        var h = AgentHarness()
        h.registered()
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7)], version: 7)
        let launchAnswer = h.launches().first
        let launch = try #require(launchAnswer)
        #expect(launch.command + launch.args == ["/bin/sleep", "100"])
        #expect(launch.environment.map(\.name) == ["POD"])
        #expect(launch.environment.map(\.value) == ["web"])
        #expect(launch.run.attempt == 0)
        // Pending, ContainerCreating first, written on the version the agent saw.
        let pending = try #require(h.statusWrites.last)
        #expect(pending[path: ["metadata", "resourceVersion"]]?.stringValue == "7")
        #expect(pending[path: ["status", "phase"]]?.stringValue == "Pending")
        #expect(pending[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting", "reason"]]?.stringValue == "ContainerCreating")
        h.take(h.core.containerStarted(launch.run, id: "process://41", at: h.time))
        let running = try #require(h.statusWrites.last)
        #expect(running[path: ["metadata", "resourceVersion"]]?.stringValue == "101")
        #expect(running[path: ["status", "phase"]]?.stringValue == "Running")
        let container = running[path: ["status", "containerStatuses"]]?.arrayValue?.first
        #expect(container?[path: ["state", "running", "startedAt"]] != nil)
        #expect(container?["containerID"]?.stringValue == "process://41")
        #expect(container?["ready"] == .bool(true))
        #expect(h.statusWrites.count == 2)
    }

    @Test func aConflictingStatusWriteWaitsForTheNewerVersion() throws {
        var h = AgentHarness()
        h.acceptsStatus = false
        h.registered()
        let streamAnswer = h.listed([AgentHarness.pod("web", uid: "u1", version: 7)], version: 7)
        let stream = try #require(streamAnswer)
        let launchAnswer = h.launches().first
        let launch = try #require(launchAnswer)
        h.answer("PUT", "/api/v1/namespaces/default/pods/web/status", 409)
        h.take(h.core.containerStarted(launch.run, id: "process://41", at: h.time))
        h.advance(ms: 1_000)
        #expect(h.find("PUT", "/api/v1/namespaces/default/pods/web/status") == nil)
        var newer = AgentHarness.pod("web", uid: "u1", version: 9)
        newer[path: ["metadata", "labels"]] = ["changed": "by-someone"]
        h.event(stream, "MODIFIED", newer)
        let writeAnswer = AgentHarness.body(h.answer("PUT", "/api/v1/namespaces/default/pods/web/status", 200))
        let write = try #require(writeAnswer)
        #expect(write[path: ["metadata", "resourceVersion"]]?.stringValue == "9")
        #expect(write[path: ["metadata", "labels", "changed"]]?.stringValue == "by-someone")
        #expect(write[path: ["status", "phase"]]?.stringValue == "Running")
    }

    @Test func restartsWithKubernetesBackOffAndShowsCrashLoopBackOff() throws {
        var h = AgentHarness()
        h.registered()
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7)], version: 7)
        let runAnswer = h.launches().first
        var run = try #require(runAnswer).run
        h.take(h.core.containerStarted(run, id: "p0", at: h.time))
        h.take(h.core.containerExited(run, ContainerExit(code: 1), at: h.time))
        // The first restart is immediate.
        run = try h.nextRun()
        #expect(run.attempt == 1)
        h.take(h.core.containerStarted(run, id: "p1", at: h.time))
        h.take(h.core.containerExited(run, ContainerExit(code: 1), at: h.time))
        #expect(h.launches().isEmpty)
        let status = h.statusWrites.last?[path: ["status", "containerStatuses"]]?.arrayValue?.first
        #expect(status?[path: ["state", "waiting", "reason"]]?.stringValue == "CrashLoopBackOff")
        #expect(status?[path: ["lastState", "terminated", "exitCode"]]?.intValue == 1)
        #expect(status?["restartCount"]?.intValue == 1)
        // Then 10 s, 20 s, …
        h.advance(ms: 9_800)
        #expect(h.launches().isEmpty)
        h.advance(ms: 200)
        run = try h.nextRun()
        #expect(run.attempt == 2)
        h.take(h.core.containerExited(run, ContainerExit(code: 2), at: h.time))
        h.advance(ms: 19_800)
        #expect(h.launches().isEmpty)
        h.advance(ms: 300)
        #expect(h.launches().first?.run.attempt == 3)
    }

    @Test func restartPolicyNeverEndsThePodFailed() throws {
        var h = AgentHarness()
        h.registered()
        h.listed([AgentHarness.pod("job", uid: "u1", version: 7, restartPolicy: "Never")], version: 7)
        let run = try h.nextRun()
        h.take(h.core.containerStarted(run, id: "p0", at: h.time))
        h.take(h.core.containerExited(run, ContainerExit(code: 3), at: h.time))
        h.advance(ms: 30_000)
        #expect(h.launches().isEmpty)
        let last = h.statusWrites.last
        #expect(last?[path: ["status", "phase"]]?.stringValue == "Failed")
        #expect(last?[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "terminated", "exitCode"]]?.intValue == 3)
    }

    @Test func aContainerWithoutCommandWaitsWithAClearReason() throws {
        var h = AgentHarness()
        h.registered()
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7, command: "[]")], version: 7)
        #expect(h.launches().isEmpty)
        let write = try #require(h.statusWrites.last)
        let waiting = write[path: ["status", "containerStatuses"]]?.arrayValue?.first?[path: ["state", "waiting"]]
        #expect(waiting?["reason"]?.stringValue == "CreateContainerError")
        #expect(waiting?["message"]?.stringValue?.contains("has no command") == true)
    }

    /// With a runtime that reads images, a container without `command` runs the image's
    /// entrypoint; an image that cannot be had is ErrImagePull, then ImagePullBackOff, retried
    /// after the back-off without counting as a restart.
    @Test func imagePullFailuresBackOffWithoutCountingRestarts() throws {
        var h = AgentHarness { $0.runtimeHasImages = true }
        h.registered()
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7, command: "[]")], version: 7)
        let first = try #require(h.launches().first)
        #expect(first.command.isEmpty && first.image == "busybox")
        func waiting() -> JSON? { h.statusWrites.last?[path: ["status", "containerStatuses"]]?.arrayValue?.first }
        h.take(h.core.containerImagePullFailed(first.run, message: "pull access denied", at: h.time))
        #expect(waiting()?[path: ["state", "waiting", "reason"]]?.stringValue == "ErrImagePull")
        #expect(waiting()?[path: ["state", "waiting", "message"]]?.stringValue == "pull access denied")
        // Retried after 10 s, then 20 s.
        h.advance(ms: 9_500)
        #expect(h.launches().isEmpty, "waits out the back-off")
        h.advance(ms: 1_000)
        let second = try #require(h.launches().first)
        #expect(second.run.attempt == 1)
        h.take(h.core.containerImagePullFailed(second.run, message: "pull access denied", at: h.time))
        #expect(waiting()?[path: ["state", "waiting", "reason"]]?.stringValue == "ImagePullBackOff")
        #expect(waiting()?[path: ["state", "waiting", "message"]]?.stringValue == #"Back-off pulling image "busybox": pull access denied"#)
        h.advance(ms: 19_000)
        #expect(h.launches().isEmpty, "waits out the back-off")
        h.advance(ms: 1_500)
        let third = try #require(h.launches().first)
        h.take(h.core.containerStarted(third.run, id: "docker://c3", at: h.time))
        #expect(waiting()?["restartCount"]?.intValue == 0)
        #expect(waiting()?[path: ["state", "running"]] != nil)
    }

    @Test func aDeletedPodStopsGracefullyAndIsThenRemoved() throws {
        var h = AgentHarness()
        h.registered()
        let streamAnswer = h.listed([AgentHarness.pod("web", uid: "u1", version: 7, grace: 2)], version: 7)
        let stream = try #require(streamAnswer)
        let run = try h.nextRun()
        h.take(h.core.containerStarted(run, id: "p0", at: h.time))
        h.event(stream, "MODIFIED", AgentHarness.pod("web", uid: "u1", version: 200, grace: 2, deleting: true))
        #expect(h.runtimeActions() == [.signalContainer(run, .terminate)])
        h.advance(ms: 1_900)
        #expect(h.runtimeActions().isEmpty)
        h.advance(ms: 200)
        #expect(h.runtimeActions() == [.signalContainer(run, .kill)])
        #expect(h.find("DELETE", "/api/v1/namespaces/default/pods/web") == nil)
        h.take(h.core.containerExited(run, ContainerExit(code: 137), at: h.time))
        let deleteAnswer = AgentHarness.body(h.answer("DELETE", "/api/v1/namespaces/default/pods/web", 200))
        let delete = try #require(deleteAnswer)
        #expect(delete["gracePeriodSeconds"]?.intValue == 0)
        #expect(delete[path: ["preconditions", "uid"]]?.stringValue == "u1")
        h.event(stream, "DELETED", AgentHarness.pod("web", uid: "u1", version: 201, grace: 2, deleting: true))
        h.advance(ms: 100)
        #expect(h.runtimeActions() == [.removeContainer(run)])
        #expect(h.core.podCount == 0)
    }

    @Test func keepsTheContainersItFindsForItsPodsAndStopsTheRest() throws {
        var h = AgentHarness()
        let kept = ContainerRun(key: ContainerKey(podUID: "u1", container: "main"), attempt: 2)
        let stray = ContainerRun(key: ContainerKey(podUID: "u-gone", container: "main"), attempt: 0)
        h.start(adopted: [
            AdoptedContainer(run: kept, id: "process://7", startedAtWallSeconds: 1_800_000_000),
            AdoptedContainer(run: stray, id: "process://8", startedAtWallSeconds: 1_800_000_000),
        ])
        h.answer("POST", "/api/v1/nodes", 409)
        let reported = #"{"phase":"Running","containerStatuses":[{"name":"main","restartCount":2,"state":{"running":{"startedAt":"2027-01-15T08:00:00Z"}}}]}"#
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7, status: reported)], version: 7)
        #expect(h.runtimeActions() == [.signalContainer(stray, .kill), .removeContainer(stray)])
        h.advance(ms: 100)
        #expect(h.launches().isEmpty)
        // Its exit is the run the agent now holds: it restarts as attempt 3, restart count 3.
        h.take(h.core.containerExited(kept, ContainerExit(code: 1), at: h.time))
        #expect(h.launches().first?.run.attempt == 3)
        let write = h.statusWrites.last
        #expect(write?[path: ["status", "containerStatuses"]]?.arrayValue?.first?["restartCount"]?.intValue == 3)
    }

    @Test func aContainerGoneWhileTheAgentWasDownIsReportedAndRestarted() throws {
        var h = AgentHarness()
        h.registered()
        let reported = #"{"phase":"Running","containerStatuses":[{"name":"main","restartCount":0,"state":{"running":{"startedAt":"2027-01-15T08:00:00Z"}}}]}"#
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7, status: reported)], version: 7)
        #expect(h.launches().first?.run.attempt == 1)
        let write = try #require(h.statusWrites.last)
        let status = write[path: ["status", "containerStatuses"]]?.arrayValue?.first
        #expect(status?[path: ["lastState", "terminated", "reason"]]?.stringValue == "ContainerStatusUnknown")
        #expect(status?["restartCount"]?.intValue == 1)
    }
}

/// Which run a request for logs reads, and the refusals in kubelet's words.
@Suite struct AgentLogSourceTests {
    @Test func readsTheCurrentOrLastRunAndThePreviousOne() throws {
        var h = AgentHarness()
        h.registered()
        let waiting = AgentHarness.pod("web", uid: "u1", version: 7)
        h.listed([waiting], version: 7)
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "main", previous: false)
            == .success(AgentCore.LogSource(run: ContainerRun(key: ContainerKey(podUID: "u1", container: "main"), attempt: 0), running: false)))
        let first = try h.nextRun()
        h.take(h.core.containerStarted(first, id: "p0", at: h.time))
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "main", previous: false) == .success(AgentCore.LogSource(run: first, running: true)))
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "main", previous: true)
            == .failure(LogRefusal(message: "previous terminated container \"main\" in pod \"web\" not found")))
        h.take(h.core.containerExited(first, ContainerExit(code: 1), at: h.time))
        let second = try h.nextRun()
        h.take(h.core.containerStarted(second, id: "p1", at: h.time))
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "main", previous: true) == .success(AgentCore.LogSource(run: first, running: false)))
        #expect(h.core.isRunning(second) && !h.core.isRunning(first))
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "side", previous: false)
            == .failure(LogRefusal(message: "container side is not valid for pod web")))
        #expect(h.core.logSource(namespace: "other", pod: "web", container: "main", previous: false)
            == .failure(LogRefusal(message: "pod \"web\" is not on node node-1")))
    }

    @Test func aContainerThatNeverStartedSaysWhy() {
        var h = AgentHarness()
        h.registered()
        h.listed([AgentHarness.pod("web", uid: "u1", version: 7, command: "[]")], version: 7)
        #expect(h.core.logSource(namespace: "default", pod: "web", container: "main", previous: false)
            == .failure(LogRefusal(message: "container \"main\" in pod \"web\" is waiting to start: CreateContainerError")))
    }
}
