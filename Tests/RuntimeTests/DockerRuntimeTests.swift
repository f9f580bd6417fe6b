import Agent
import Foundation
import Glibc
import Master
@testable import Runtime
import Testing

/// The Docker runtime against a real engine. `scripts/compose-test.sh` (run by `.ci/run`) starts
/// one, makes the busybox image `POD_IMAGE` and runs these with `BOSUN_DOCKER_TESTS=1`; without
/// that they are skipped, since `swift test` runs where no engine may be.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["BOSUN_DOCKER_TESTS"] == "1"))
struct DockerRuntimeTests {
    static let image = ProcessInfo.processInfo.environment["POD_IMAGE"] ?? "bosun-test/busybox:1"
    let engine = DockerEngine()
    /// A node name of its own per test, so that re-adoption sees only this test's containers.
    let node = "test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    func launch(
        _ uid: String, _ command: [String], attempt: Int = 0, image: String = Self.image, policy: String = "Never",
        env: [(name: String, value: String)] = [], memory: Int64? = nil, cpuMillis: Int64? = nil
    ) -> ContainerLaunch {
        ContainerLaunch(
            run: ContainerRun(key: ContainerKey(podUID: uid, container: "main"), attempt: attempt), namespace: "default", podName: "pod-\(uid)",
            image: image, imagePullPolicy: policy, command: command, environment: env, workingDir: nil, memoryLimitBytes: memory, cpuLimitMillis: cpuMillis)
    }

    /// Collects events until `done` holds or `seconds` pass.
    static func events(_ runtime: DockerRuntime, seconds: Double = 20, until done: ([ContainerEvent]) -> Bool) -> [ContainerEvent] {
        var seen: [ContainerEvent] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            seen += runtime.events()
            if done(seen) { break }
            usleep(50_000)
        }
        return seen
    }

    static func exit(_ events: [ContainerEvent]) -> ContainerExit? {
        events.lazy.compactMap { if case .exited(_, let exit) = $0 { exit } else { nil } }.first
    }

    static func startedID(_ events: [ContainerEvent]) -> String? {
        events.lazy.compactMap { if case .started(_, let id) = $0 { id } else { nil } }.first
    }

    /// Removes what a test left on the engine.
    func cleanUp() {
        for container in (try? engine.list(label: "io.bosun.node=\(node)")) ?? [] { try? engine.remove(container.id) }
    }

    @Test func runsTheCommandWithItsEnvironmentLimitsAndLogsAndReportsTheExitCode() throws {
        defer { cleanUp() }
        let runtime = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        #expect(runtime.version.hasPrefix("docker://"))
        let l = launch("u1", ["sh", "-c", "echo hello $GREETING; sleep 0.2; echo oops >&2; exit 3"], env: [("GREETING", "world")], memory: 64 << 20, cpuMillis: 500)
        runtime.launch(l)
        let events = Self.events(runtime) { Self.exit($0) != nil }
        let id = try #require(Self.startedID(events))
        #expect(Self.exit(events) == ContainerExit(code: 3))
        #expect(String(decoding: runtime.log(l.run, from: 0), as: UTF8.self) == "hello world\noops\n")
        #expect(String(decoding: runtime.log(l.run, from: 6), as: UTF8.self) == "world\noops\n")
        let inspected = try engine.expect([200], "GET", "/containers/\(id.dropFirst("docker://".count))/json")
        #expect(inspected[path: ["HostConfig", "Memory"]]?.intValue == 64 << 20)
        #expect(inspected[path: ["HostConfig", "NanoCpus"]]?.intValue == 500_000_000)
        #expect(inspected[path: ["Config", "Labels", "io.bosun.pod-uid"]]?.stringValue == "u1")
        runtime.remove(l.run)
        _ = Self.events(runtime, seconds: 1) { _ in false }
        #expect(try engine.list(label: "io.bosun.node=\(node)").isEmpty, "removed with its run")
    }

    @Test func aMissingImageIsAPullFailureWithTheReason() throws {
        defer { cleanUp() }
        let runtime = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        runtime.launch(launch("u1", ["true"], image: "bosun-test/no-such-image:1", policy: "Never"))
        runtime.launch(launch("u2", ["true"], image: "bosun-test/no-such-image:1", policy: "IfNotPresent"))
        let events = Self.events(runtime) { $0.count >= 2 }
        let messages = events.compactMap { if case .imagePullFailed(let run, let message) = $0 { "\(run.key.podUID): \(message)" } else { nil } }
        #expect(messages.count == 2, "\(events)")
        #expect(messages.first { $0.hasPrefix("u1") }?.contains("is not present with pull policy of Never") == true)
        #expect(messages.contains { $0.hasPrefix("u2") }, "no registry here: the pull fails")
    }

    @Test func terminateIsDeliveredAndAnUnstartableCommandFailsToStart() throws {
        defer { cleanUp() }
        let runtime = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        let graceful = launch("u1", ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"])
        runtime.launch(graceful)
        runtime.launch(launch("u2", ["/no/such/program"]))
        var events = Self.events(runtime) { events in Self.startedID(events) != nil && events.contains { if case .failedToStart = $0 { true } else { false } } }
        #expect(events.contains { if case .failedToStart(let run, let message) = $0 { run.key.podUID == "u2" && message.contains("no such file") } else { false } }, "\(events)")
        for _ in 0..<100 where !String(decoding: runtime.log(graceful.run, from: 0), as: UTF8.self).contains("ready") { usleep(50_000) }
        runtime.signal(graceful.run, .terminate)
        events = Self.events(runtime) { Self.exit($0) != nil }
        #expect(Self.exit(events) == ContainerExit(code: 0))
        #expect(String(decoding: runtime.log(graceful.run, from: 0), as: UTF8.self).contains("got TERM"))
    }

    @Test func exceedingTheMemoryLimitIsReportedOOMKilled() throws {
        defer { cleanUp() }
        let runtime = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        runtime.launch(launch("u1", ["sh", "-c", "x=0123456789; while true; do x=$x$x; done"], memory: 16 << 20))
        let events = Self.events(runtime, seconds: 30) { Self.exit($0) != nil }
        let exit = try #require(Self.exit(events))
        #expect(exit.oomKilled, "\(exit)")
        #expect(exit.code == 137)
    }

    @Test func aNewRuntimeReadoptsItsOwnRunningContainersOnly() throws {
        defer { cleanUp() }
        let first = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        let l = launch("u1", ["sleep", "1000"], attempt: 2)
        first.launch(l)
        let id = try #require(Self.startedID(Self.events(first) { Self.startedID($0) != nil }))
        let other = try DockerRuntime(engine: engine, nodeName: node + "-other", network: "bridge")
        #expect(other.adopt().isEmpty, "another node's containers are not its own")
        let second = try DockerRuntime(engine: engine, nodeName: node, network: "bridge")
        let adopted = second.adopt()
        #expect(adopted.map(\.run) == [l.run])
        #expect(adopted.first?.id == id)
        #expect(second.address(of: l.run) != "127.0.0.1", "reached at its address on the bridge network")
        let probe = try #require(second.commandRunner(for: l.run))
        #expect(probe(["sh", "-c", "test -f /bin/busybox"], 5_000), "exec probes run inside the container")
        #expect(!probe(["sh", "-c", "exit 1"], 5_000))
        #expect(!probe(["/no/such/program"], 5_000))
        second.signal(l.run, .kill)
        #expect(Self.exit(Self.events(second) { Self.exit($0) != nil })?.code == 137)
    }
}
