import Agent
import Glibc
@testable import Runtime
import Testing

/// The process runtime with real processes: exit codes, output, environment and directory; a
/// stop reaches every descendant; a second runtime on the same directory re-adopts what runs and
/// never mistakes another process for a container.
@Suite struct ProcessRuntimeTests {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/bosun-runtime-XXXXXX".utf8CString)
        return String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
    }

    static func launch(_ uid: String, _ argv: [String], attempt: Int = 0, env: [(name: String, value: String)] = []) -> ContainerLaunch {
        ContainerLaunch(
            run: ContainerRun(key: ContainerKey(podUID: uid, container: "main"), attempt: attempt), namespace: "default", podName: "pod-\(uid)",
            image: "busybox", command: argv, environment: env, workingDir: nil, memoryLimitBytes: nil, cpuLimitMillis: nil)
    }

    /// Reaps until `count` runs have ended or five seconds pass.
    static func reap(_ runtime: ProcessRuntime, count: Int) -> [(ContainerRun, ContainerExit)] {
        var ended: [(ContainerRun, ContainerExit)] = []
        for _ in 0..<500 where ended.count < count {
            ended += runtime.reap()
            usleep(10_000)
        }
        return ended
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        return String(decoding: bytes[0..<fread(&bytes, 1, bytes.count, file)], as: UTF8.self)
    }

    @Test func reportsExitCodesAndWritesOutputInThePodsDirectory() throws {
        let dir = Self.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let runtime = try ProcessRuntime(dataDir: dir)
        let launch = Self.launch("u1", ["/bin/sh", "-c", "echo \"$GREETING from $(pwd)\"; exit 7"], env: [("GREETING", "hello")])
        guard case .success(let id) = runtime.start(launch) else { Issue.record("did not start"); return }
        #expect(id.hasPrefix("bosun://"))
        let ended = Self.reap(runtime, count: 1)
        #expect(ended.map(\.0) == [launch.run])
        #expect(ended.first?.1 == ContainerExit(code: 7))
        #expect(Self.read(runtime.logFile(launch.run)) == "hello from \(dir)/pods/u1\n")
    }

    @Test func aMissingExecutableIsAClearFailure() throws {
        let dir = Self.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let runtime = try ProcessRuntime(dataDir: dir)
        guard case .failure(let failure) = runtime.start(Self.launch("u1", ["/no/such/program"])) else { Issue.record("started"); return }
        #expect(failure.message == #"exec: "/no/such/program": executable file not found in $PATH"#)
    }

    /// Whether `pid` runs (exists and is not a zombie).
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    @Test func aStopReachesEveryDescendant() throws {
        let dir = Self.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let runtime = try ProcessRuntime(dataDir: dir)
        let launch = Self.launch("u1", ["/bin/sh", "-c", "sleep 60 & echo $! > children; sleep 60 & echo $! >> children; wait"])
        guard case .success = runtime.start(launch) else { Issue.record("did not start"); return }
        var children: [Int32] = []
        for _ in 0..<100 where children.count < 2 {
            usleep(20_000)
            children = (Self.read("\(dir)/pods/u1/children") ?? "").split(separator: "\n").compactMap { Int32($0) }
        }
        #expect(children.count == 2 && children.allSatisfy(Self.alive))
        runtime.signal(launch.run, .terminate)
        let ended = Self.reap(runtime, count: 1)
        #expect(ended.first?.1.code == 128 + Int(SIGTERM))
        usleep(200_000)
        #expect(!children.contains(where: Self.alive), "the shell's children got the signal too")
    }

    @Test func aSecondRuntimeAdoptsWhatRunsAndDropsWhatDoesNot() throws {
        let dir = Self.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let first = try ProcessRuntime(dataDir: dir)
        let kept = Self.launch("u1", ["/bin/sleep", "30"], attempt: 2)
        let ended = Self.launch("u2", ["/bin/sh", "-c", "exit 0"])
        guard case .success(let keptID) = first.start(kept), case .success = first.start(ended) else { Issue.record("did not start"); return }
        usleep(300_000)
        // A record whose pid is alive but started at another time is not the container.
        let forged = #"{"uid":"u3","container":"main","attempt":0,"pid":1,"startTicks":"1","startedAt":0}"#
        #expect(system("printf '%s' '\(forged)' > '\(dir)/containers/u3_main.json'") == 0)

        let second = try ProcessRuntime(dataDir: dir)
        let adopted = second.adopt()
        #expect(adopted.map(\.run) == [kept.run])
        #expect(adopted.first?.id == keptID)
        #expect(access("\(dir)/containers/u3_main.json", F_OK) != 0, "the forged record is dropped")

        // The adopted process is watched through /proc: its end is noticed, its code unknown.
        second.signal(kept.run, .kill)
        _ = first.reap()  // the first runtime is its parent: the zombie goes
        let reaped = Self.reap(second, count: 1)
        #expect(reaped.map(\.0) == [kept.run])
        #expect(reaped.first?.1 == ContainerExit(code: 137, unknown: true))
    }
}

/// The tail of a log as `tailLines` cuts it.
@Suite struct LogTailTests {
    @Test(arguments: [
        ("a\nb\nc\n", 2, "b\nc\n"), ("a\nb\nc", 2, "b\nc"), ("a\nb\n", 5, "a\nb\n"), ("a\nb\n", 0, ""), ("", 3, ""), ("only\n", 1, "only\n"),
    ])
    func lastLines(text: String, count: Int, expected: String) {
        #expect(String(decoding: AgentServer.lastLines(Array(text.utf8), count), as: UTF8.self) == expected)
    }
}

/// Logs past their cap are copied aside and truncated; the process writes on into the emptied file.
@Suite struct LogRotationTests {
    @Test func aLogPastItsCapIsRotatedAndTheProcessWritesOn() throws {
        let dir = ProcessRuntimeTests.temporaryDirectory()
        defer { _ = system("rm -rf '\(dir)'") }
        let runtime = try ProcessRuntime(dataDir: dir)
        let launch = ProcessRuntimeTests.launch("u1", ["/bin/sh", "-c", "for i in $(seq 1 100); do echo line $i; done; sleep 1; echo after"])
        guard case .success = runtime.start(launch) else { Issue.record("did not start"); return }
        for _ in 0..<300 where ProcessRuntimeTests.read(runtime.logFile(launch.run))?.count != 792 { usleep(10_000) }
        runtime.rotateLogs(maxBytes: 10_000)
        #expect(ProcessRuntimeTests.read(runtime.logFile(launch.run))?.count == 792, "under the cap: untouched")
        runtime.rotateLogs(maxBytes: 500)
        #expect(ProcessRuntimeTests.read(runtime.logFile(launch.run)) == "")
        #expect(ProcessRuntimeTests.read(runtime.logFile(launch.run) + ".1")?.hasSuffix("line 100\n") == true)
        _ = ProcessRuntimeTests.reap(runtime, count: 1)
        #expect(ProcessRuntimeTests.read(runtime.logFile(launch.run)) == "after\n")
        runtime.remove(launch.run)
        #expect(access(runtime.logFile(launch.run) + ".1", F_OK) != 0, "removed with the container")
    }
}
