import Agent
import Dispatch
import Glibc
import Master
import Synchronization

/// Pods' containers as Docker containers, through the engine's API (`bosun agent --runtime
/// docker`). Engine calls run in order on a queue of their own, never on the agent's loop (a
/// pull can take minutes); what they find is handed out by `events()`.
///
/// Each run of a container is one Docker container named
/// `bosun_CONTAINER_POD_NAMESPACE_UID_ATTEMPT` and labelled with its node, pod uid, container
/// and attempt, so that a restarted agent re-adopts its own containers (and only its own: agents
/// may share an engine). The previous run is kept for `logs --previous`; older ones are removed.
/// Logs are the engine's (json-file, capped at 10 MiB). Containers join the Docker network
/// `network`; probes reach them at their address there.
public final class DockerRuntime: ContainerRuntime {
    let worker: Worker
    let queue = DispatchQueue(label: "bosun.docker-runtime")
    /// When the engine was last asked which containers ended (at most every `pollIntervalNs`).
    var lastPollNs: UInt64 = 0
    static let pollIntervalNs: UInt64 = 500_000_000
    public let version: String
    public let hasImages = true

    /// Asks the engine for its version: an agent told to use Docker fails at start, with the
    /// engine's address in the message, when none answers.
    public init(engine: DockerEngine, nodeName: String, network: String) throws(DockerEngine.Failure) {
        version = try engine.version()
        worker = Worker(engine: engine, nodeName: nodeName, network: network)
    }

    public func launch(_ launch: ContainerLaunch) {
        queue.async { [worker] in worker.launch(launch) }
    }

    public func signal(_ run: ContainerRun, _ signal: ContainerSignal) {
        queue.async { [worker] in
            guard let id = worker.id(of: run) else { return }
            try? worker.engine.kill(id, signal: signal == .kill ? "SIGKILL" : "SIGTERM")
        }
    }

    public func remove(_ run: ContainerRun) {
        queue.async { [worker] in worker.remove(run.key, upTo: run.attempt) }
    }

    public func events() -> [ContainerEvent] {
        let now = monotonicNs()
        if now - lastPollNs >= Self.pollIntervalNs {
            lastPollNs = now
            queue.async { [worker] in worker.pollExits() }
        }
        return worker.state.withLock { state in
            defer { state.events = [] }
            return state.events
        }
    }

    public func adopt() -> [AdoptedContainer] {
        queue.sync { worker.adopt() }
    }

    public func log(_ run: ContainerRun, from offset: Int) -> [UInt8] {
        guard let id = worker.id(of: run), let bytes = try? worker.engine.logs(id), bytes.count > offset else { return [] }
        return Array(bytes[offset...])
    }

    public func maintain() {}

    public func address(of run: ContainerRun) -> String {
        worker.state.withLock { $0.containers[run]?.ip } ?? "127.0.0.1"
    }

    /// An exec probe runs inside the container, through the engine (a command that cannot run,
    /// or does not end in time, fails the probe).
    public func commandRunner(for run: ContainerRun) -> (@Sendable ([String], Int32) -> Bool)? {
        guard let id = worker.id(of: run) else { return { _, _ in false } }
        let engine = worker.engine
        return { command, timeoutMs in (try? engine.exec(id, command, timeoutMs: timeoutMs)) == 0 }
    }

    /// The engine calls and what they learnt, shared between the queue and the loop.
    final class Worker: Sendable {
        let engine: DockerEngine
        let nodeName: String
        let network: String
        let state = Mutex(State())

        struct State {
            var containers: [ContainerRun: Tracked] = [:]
            var events: [ContainerEvent] = []
        }

        struct Tracked {
            var id: String
            var ip: String
            var running: Bool
        }

        init(engine: DockerEngine, nodeName: String, network: String) {
            self.engine = engine
            self.nodeName = nodeName
            self.network = network
        }

        func id(of run: ContainerRun) -> String? { state.withLock { $0.containers[run]?.id } }

        func report(_ event: ContainerEvent) { state.withLock { $0.events.append(event) } }

        func launch(_ launch: ContainerLaunch) {
            let run = launch.run
            do {
                try ensureImage(launch.image, policy: launch.imagePullPolicy)
            } catch {
                return report(.imagePullFailed(run, message: error.message))
            }
            if run.attempt >= 2 { remove(run.key, upTo: run.attempt - 2) }
            let name = "bosun_\(run.key.container)_\(launch.podName)_\(launch.namespace)_\(run.key.podUID)_\(run.attempt)"
            var id = ""
            do {
                id = try engine.create(name: name, config(launch))
                try engine.start(id)
                let ip = (try? engine.inspect(id).ip) ?? ""
                state.withLock { $0.containers[run] = Tracked(id: id, ip: ip.isEmpty ? "127.0.0.1" : ip, running: true) }
                report(.started(run, id: "docker://" + id))
            } catch {
                if !id.isEmpty { try? engine.remove(id) }
                report(.failedToStart(run, message: error.message))
            }
        }

        /// Kubernetes' pull policies: `Never` uses only a local image, `IfNotPresent` pulls a
        /// missing one, `Always` pulls every time.
        func ensureImage(_ image: String, policy: String) throws(DockerEngine.Failure) {
            switch policy {
            case "Never":
                guard try engine.imageExists(image) else {
                    throw DockerEngine.Failure(status: 0, message: "container image \(JSON.quoted(image)) is not present with pull policy of Never")
                }
            case "Always":
                try engine.pull(image)
            default:
                if try !engine.imageExists(image) { try engine.pull(image) }
            }
        }

        /// The engine's container config: `command` replaces the image's entrypoint (and then its
        /// cmd too), `args` its cmd, as Kubernetes combines them.
        func config(_ launch: ContainerLaunch) -> JSON {
            let run = launch.run
            var config: JSON = [
                "Image": .string(launch.image),
                "Hostname": .string(String(launch.podName.prefix(63))),
                "Env": .array(launch.environment.map { .string("\($0.name)=\($0.value)") }),
                "Labels": [
                    "io.bosun.node": .string(nodeName), "io.bosun.pod-uid": .string(run.key.podUID), "io.bosun.container": .string(run.key.container),
                    "io.bosun.attempt": .string(String(run.attempt)), "io.bosun.pod": .string("\(launch.namespace)/\(launch.podName)"),
                    "io.bosun.started": .string(String(time(nil))),
                ],
            ]
            if !launch.command.isEmpty {
                config["Entrypoint"] = .array(launch.command.map(JSON.string))
                config["Cmd"] = .array(launch.args.map(JSON.string))
            } else if !launch.args.isEmpty {
                config["Cmd"] = .array(launch.args.map(JSON.string))
            }
            if let dir = launch.workingDir, !dir.isEmpty { config["WorkingDir"] = .string(dir) }
            var host: JSON = [
                "NetworkMode": .string(network),
                "LogConfig": ["Type": "json-file", "Config": ["max-size": "10m", "max-file": "2"]],
            ]
            // MemorySwap equal to Memory: no swap beyond the limit, so exceeding it is an OOM kill.
            if let bytes = launch.memoryLimitBytes { host["Memory"] = .number(Int(bytes)); host["MemorySwap"] = .number(Int(bytes)) }
            if let millis = launch.cpuLimitMillis { host["NanoCpus"] = .number(Int(millis) * 1_000_000) }
            config["HostConfig"] = host
            return config
        }

        /// Removes the runs of `key` up to `attempt`.
        func remove(_ key: ContainerKey, upTo attempt: Int) {
            let runs = state.withLock { state in state.containers.keys.filter { $0.key == key && $0.attempt <= attempt } }
            for run in runs {
                guard let id = id(of: run) else { continue }
                try? engine.remove(id)
                state.withLock { $0.containers[run] = nil }
            }
        }

        /// Reports the runs that stopped since the last look, with their exit codes.
        func pollExits() {
            let watched = state.withLock { state in state.containers.filter { $0.value.running } }
            guard !watched.isEmpty, let listed = try? engine.list(label: "io.bosun.node=\(nodeName)") else { return }
            let running = Set(listed.filter { $0.state == "running" || $0.state == "restarting" }.map(\.id))
            for (run, tracked) in watched.sorted(by: { $0.key.description < $1.key.description }) where !running.contains(tracked.id) {
                let exit: ContainerExit
                if let found = try? engine.inspect(tracked.id) {
                    guard !found.running else { continue }
                    exit = ContainerExit(code: found.exitCode, oomKilled: found.oomKilled)
                } else {
                    exit = ContainerExit(code: 137, unknown: true)  // removed behind the agent's back
                }
                state.withLock { $0.containers[run]?.running = false }
                report(.exited(run, exit))
            }
        }

        /// The agent's running containers, from their labels; ended ones are removed (their pods'
        /// statuses tell what ran).
        func adopt() -> [AdoptedContainer] {
            guard let listed = try? engine.list(label: "io.bosun.node=\(nodeName)") else { return [] }
            var adopted: [AdoptedContainer] = []
            for container in listed.sorted(by: { $0.id < $1.id }) {
                guard container.state == "running", let uid = container.labels["io.bosun.pod-uid"], let name = container.labels["io.bosun.container"],
                    let attempt = container.labels["io.bosun.attempt"].flatMap({ Int($0) })
                else {
                    try? engine.remove(container.id)
                    continue
                }
                let run = ContainerRun(key: ContainerKey(podUID: uid, container: name), attempt: attempt)
                let ip = (try? engine.inspect(container.id).ip) ?? ""
                state.withLock { $0.containers[run] = Tracked(id: container.id, ip: ip.isEmpty ? "127.0.0.1" : ip, running: true) }
                let started = container.labels["io.bosun.started"].flatMap { Int64($0) } ?? Int64(time(nil))
                adopted.append(AdoptedContainer(run: run, id: "docker://" + container.id, startedAtWallSeconds: started))
            }
            return adopted
        }
    }
}
