import Agent
import CSystem
import Glibc
import Master

/// The agent's default container runtime: each container is a real process in a session (and so
/// a process group) of its own, started in its pod's directory under the data dir, its output
/// appended to a log file per run. What it starts is recorded in `containers/` so that a restarted
/// agent re-adopts what still runs; a record is checked against the live process's start time, so
/// a reused pid is never mistaken for the container.
///
/// Limits are not enforced by this runtime (it does not write cgroups); pods share the host's
/// network, so a pod's IP is the node's.
public final class ProcessRuntime: ContainerRuntime {
    /// A started container the runtime watches.
    struct Process {
        var run: ContainerRun
        var pid: pid_t
        /// Started by this agent process (reaped with waitpid) or re-adopted (watched through /proc).
        var child: Bool
        var startTicks: UInt64
    }

    let dataDir: String
    var processes: [ContainerKey: Process] = [:]
    /// Starts' outcomes not yet handed out by `events()`.
    var reported: [ContainerEvent] = []
    /// How big a running container's log may grow before it is rotated (kubelet's default, 10 MiB).
    var logMaxBytes = 10 << 20
    public let version = "process://"
    public let hasImages = false

    public init(dataDir: String) throws(IOFailure) {
        self.dataDir = dataDir
        for directory in [dataDir, "\(dataDir)/pods", "\(dataDir)/containers"] {
            if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw IOFailure(operation: "mkdir", path: directory, code: errno) }
        }
    }

    func podDirectory(_ uid: String) -> String { "\(dataDir)/pods/\(uid)" }
    func logPath(_ run: ContainerRun) -> String { "\(podDirectory(run.key.podUID))/\(run.key.container)-\(run.attempt).log" }
    func recordPath(_ key: ContainerKey) -> String { "\(dataDir)/containers/\(key.podUID)_\(key.container).json" }

    /// Starts a container; returns its id, or why it could not start.
    public func start(_ launch: ContainerLaunch) -> Result<String, SpawnFailure> {
        let directory = podDirectory(launch.run.key.podUID)
        _ = mkdir(directory, 0o755)
        var workingDir = directory
        if let dir = launch.workingDir, !dir.isEmpty { workingDir = dir.hasPrefix("/") ? dir : "\(directory)/\(dir)" }
        var environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=\(directory)", "HOSTNAME=\(launch.podName)"]
        environment += launch.environment.map { "\($0.name)=\($0.value)" }
        let command = launch.command + launch.args
        var argv = command.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: Int32 = 0
        let result = csystem_spawn(command[0], &argv, &envp, workingDir, logPath(launch.run), &pid)
        guard result == 0 else {
            let reason = result == ENOENT ? "executable file not found in $PATH" : String(cString: strerror(result))
            return .failure(SpawnFailure(message: "exec: \(JSON.quoted(command[0])): \(reason)"))
        }
        let ticks = Self.startTicks(of: pid) ?? 0
        processes[launch.run.key] = Process(run: launch.run, pid: pid, child: true, startTicks: ticks)
        let id = Self.containerID(pid: pid, ticks: ticks)
        let record: JSON = ["uid": .string(launch.run.key.podUID), "container": .string(launch.run.key.container), "attempt": .number(launch.run.attempt),
                            "pid": .number(Int(pid)), "startTicks": .string(String(ticks)), "startedAt": .number(Int(time(nil)))]
        try? FileIO.replace(recordPath(launch.run.key), with: Array(record.text.utf8))
        return .success(id)
    }

    public func launch(_ launch: ContainerLaunch) {
        switch start(launch) {
        case .success(let id): reported.append(.started(launch.run, id: id))
        case .failure(let failure): reported.append(.failedToStart(launch.run, message: failure.message))
        }
    }

    public func events() -> [ContainerEvent] {
        defer { reported = [] }
        return reported + reap().map { .exited($0.0, $0.1) }
    }

    public func log(_ run: ContainerRun, from offset: Int) -> [UInt8] { FileIO.read(logPath(run), from: offset) }

    public func maintain() { rotateLogs(maxBytes: logMaxBytes) }

    /// Pods share the host's network.
    public func address(of run: ContainerRun) -> String { "127.0.0.1" }

    /// A process's exec probe runs on the node, beside it.
    public func commandRunner(for run: ContainerRun) -> (@Sendable ([String], Int32) -> Bool)? { nil }

    /// Why a container could not be started.
    public struct SpawnFailure: Error {
        public var message: String
    }

    static func containerID(pid: pid_t, ticks: UInt64) -> String { "bosun://\(pid)-\(ticks)" }

    /// Sends a signal to the container's whole process group.
    public func signal(_ run: ContainerRun, _ signal: ContainerSignal) {
        guard let process = processes[run.key], process.run == run else { return }
        kill(-process.pid, signal == .kill ? SIGKILL : SIGTERM)
    }

    /// Forgets a container that will not run again: its record and its logs.
    public func remove(_ run: ContainerRun) {
        if processes[run.key]?.run == run { processes[run.key] = nil }
        unlink(recordPath(run.key))
        for attempt in 0...run.attempt {
            let path = logPath(ContainerRun(key: run.key, attempt: attempt))
            unlink(path)
            unlink(path + ".1")
        }
        rmdir(podDirectory(run.key.podUID))  // once its last container is gone
    }

    /// The containers whose process ended since the last call, with how.
    public func reap() -> [(ContainerRun, ContainerExit)] {
        var ended: [(ContainerRun, ContainerExit)] = []
        for key in processes.keys.sorted() {
            let process = processes[key]!
            if process.child {
                var status: Int32 = 0
                guard waitpid(process.pid, &status, WNOHANG) == process.pid else { continue }
                let signalled = status & 0x7f
                let code = signalled == 0 ? Int((status >> 8) & 0xff) : 128 + Int(signalled)
                ended.append((process.run, ContainerExit(code: code)))
            } else {
                guard Self.startTicks(of: process.pid) != process.startTicks else { continue }
                ended.append((process.run, ContainerExit(code: 137, unknown: true)))
            }
            processes[key] = nil
            unlink(recordPath(key))
        }
        return ended
    }

    /// What an earlier run of the agent left running, checked against the live processes; the
    /// records of processes that are gone are dropped (the pod's status tells what ran).
    public func adopt() -> [AdoptedContainer] {
        var adopted: [AdoptedContainer] = []
        for name in ((try? FileIO.list("\(dataDir)/containers")) ?? []).sorted() where name.hasSuffix(".json") {
            let path = "\(dataDir)/containers/\(name)"
            guard let bytes = try? FileIO.readAll(path), let record = try? JSONParser.parse(bytes),
                let uid = record["uid"]?.stringValue, let container = record["container"]?.stringValue, let attempt = record["attempt"]?.intValue,
                let pid = record["pid"]?.intValue.map({ pid_t($0) }), let ticks = record["startTicks"]?.stringValue.flatMap({ UInt64($0) }),
                Self.startTicks(of: pid) == ticks
            else {
                unlink(path)
                continue
            }
            let run = ContainerRun(key: ContainerKey(podUID: uid, container: container), attempt: attempt)
            processes[run.key] = Process(run: run, pid: pid, child: false, startTicks: ticks)
            adopted.append(AdoptedContainer(
                run: run, id: Self.containerID(pid: pid, ticks: ticks), startedAtWallSeconds: Int64(record["startedAt"]?.intValue ?? Int(time(nil)))))
        }
        return adopted
    }

    /// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or nil when
    /// it does not exist (or is a zombie: it has ended).
    static func startTicks(of pid: pid_t) -> UInt64? {
        guard let bytes = try? FileIO.readAll("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }

    /// Where a run's output goes.
    public func logFile(_ run: ContainerRun) -> String { logPath(run) }

    /// Caps the logs of running containers (kubelet's `containerLogMaxSize`): a log past
    /// `maxBytes` is copied to `NAME.1` (replacing the one before) and truncated in place. The
    /// process writes with `O_APPEND`, so it goes on at the new, empty end; what it writes during
    /// the copy may be lost, as with kubelet's copy-and-truncate.
    public func rotateLogs(maxBytes: Int) {
        for key in processes.keys.sorted() {
            let path = logPath(processes[key]!.run)
            var info = stat()
            guard stat(path, &info) == 0, Int(info.st_size) > maxBytes, let bytes = try? FileIO.readAll(path) else { continue }
            guard (try? FileIO.replace(path + ".1", with: bytes)) != nil else { continue }
            truncate(path, 0)
        }
    }
}
