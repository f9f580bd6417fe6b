import Agent
import CSystem
import Foundation
import Glibc
import Master
import Synchronization

/// One agent process: the clock, HTTP connections, threads and processes around an `AgentCore`,
/// which holds all of the agent's logic. A timer ticks the core ten times a second; each request
/// and watch runs on a helper thread with a blocking client and posts its answer back to the
/// loop; containers run in a `ContainerRuntime` (processes, or Docker containers); probes run on
/// helper threads; its own port serves the containers' logs.
public final class AgentServer {
    /// How to run.
    public struct Options: Sendable {
        public var core: AgentCore.Config
        public var masters: [PeerTransport.Address]
        public var dataDirectory: String
        public var tickNs: UInt64 = 100_000_000
        /// Which runtime runs the containers.
        public var runtime: RuntimeKind = .process

        /// The container runtimes an agent can use.
        public enum RuntimeKind: Sendable, Equatable {
            case process
            /// The Docker engine at a socket path; containers on the named Docker network.
            case docker(socket: String, network: String)
        }

        public init(core: AgentCore.Config, masters: [PeerTransport.Address], dataDirectory: String) {
            self.core = core
            self.masters = masters
            self.dataDirectory = dataDirectory
        }
    }

    let loop: EventLoop
    let options: Options
    var core: AgentCore
    let runtime: any ContainerRuntime
    var http: HTTPServer?
    /// Requests and watches the core gave up on: their threads stop at the next chance.
    let cancelled = CancelledRequests()
    var stopped = false
    var ticks: UInt64 = 0

    public init(loop: EventLoop, options: Options) throws(IOFailure) {
        precondition(options.masters.count == options.core.masterCount, "one address per master")
        self.loop = loop
        self.options = options
        switch options.runtime {
        case .process: runtime = try ProcessRuntime(dataDir: options.dataDirectory)
        case .docker(let socket, let network):
            do {
                runtime = try DockerRuntime(engine: DockerEngine(socketPath: socket), nodeName: options.core.nodeName, network: network)
            } catch {
                throw IOFailure(operation: "connect to the Docker engine (\(error))", path: socket, code: ECONNREFUSED)
            }
        }
        var config = options.core
        config.runtimeHasImages = runtime.hasImages
        config.nodeInfo["containerRuntimeVersion"] = runtime.version
        core = AgentCore(config: config)
        http = try HTTPServer(loop: loop, host: options.core.address, port: UInt16(options.core.port)) { [unowned self] request, respond in
            self.serve(request, respond)
        }
    }

    var now: AgentCore.Time { AgentCore.Time(monotonicNs: monotonicNs(), wallNs: wallClockNs()) }

    /// Re-adopts what an earlier run left, then starts ticking.
    public func start() {
        let adopted = runtime.adopt()
        execute(core.start(at: now, adopted: adopted))
        tick()
    }

    public func stop() {
        stopped = true
        http?.shutdown()
    }

    func tick() {
        guard !stopped else { return }
        ticks += 1
        if ticks % 50 == 0 { runtime.maintain() }
        deliverRuntimeEvents()
        execute(core.tick(at: now))
        loop.schedule(afterNs: options.tickNs) { [self] in tick() }
    }

    func execute(_ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case .send(let id, let master, let request): send(id, to: options.masters[master], request)
            case .watch(let id, let master, let request): watch(id, at: options.masters[master], request)
            case .cancel(let id): cancelled.insert(id)
            case .startContainer(let launch):
                runtime.launch(launch)
                deliverRuntimeEvents()
            case .signalContainer(let run, let signal): runtime.signal(run, signal)
            case .removeContainer(let run): runtime.remove(run)
            case .probe(let probe, let action, let timeoutNs): self.probe(probe, action, timeoutNs: timeoutNs)
            }
        }
    }

    /// Hands the core what the runtime reported.
    func deliverRuntimeEvents() {
        for event in runtime.events() {
            switch event {
            case .started(let run, let id): execute(core.containerStarted(run, id: id, at: now))
            case .failedToStart(let run, let message): execute(core.containerFailedToStart(run, message: message, at: now))
            case .imagePullFailed(let run, let message): execute(core.containerImagePullFailed(run, message: message, at: now))
            case .exited(let run, let exit): execute(core.containerExited(run, exit, at: now))
            }
        }
    }

    /// Runs `body` on a helper thread; what it returns is handed to `then` on the loop.
    func inBackground<T: Sendable>(_ body: @escaping @Sendable () -> T, then: @escaping (AgentServer, T) -> Void) {
        let handle = loop.handle
        let back = LoopBound(server: self, then)
        Thread.detachNewThread {
            let result = body()
            handle.execute { back.run(result) }
        }
    }

    func send(_ id: UInt64, to master: PeerTransport.Address, _ request: HTTPRequest) {
        let timeoutMs = Int32(options.core.requestTimeoutNs / 1_000_000) + 1_000
        inBackground({ () -> Result<HTTPResponse, HTTPClient.Failure> in
            Result { () throws(HTTPClient.Failure) in
                try HTTPClient.request(
                    host: master.host, port: master.port, method: request.method, target: request.target,
                    headers: request.headers.map { ($0.name, $0.value) }, body: request.body, timeoutMs: timeoutMs)
            }
        }, then: { server, result in
            switch result {
            case .success(let response): server.execute(server.core.received(id, response, at: server.now))
            case .failure: server.execute(server.core.failed(id, at: server.now))
            }
        })
    }

    /// A watch on a helper thread: its start, lines and end are posted to the loop as they come.
    func watch(_ id: UInt64, at master: PeerTransport.Address, _ request: HTTPRequest) {
        let handle = loop.handle
        let cancelled = cancelled
        let idleMs = Int32(options.core.watchSeconds + 10) * 1_000
        let post = LoopBound(server: self) { (server: AgentServer, event: WatchThreadEvent) in
            switch event {
            case .started: server.execute(server.core.watchStarted(id, at: server.now))
            case .line(let bytes): server.execute(server.core.watchLine(id, bytes, at: server.now))
            case .ended(let response): server.execute(server.core.received(id, response, at: server.now))
            case .broken: server.execute(server.core.watchEnded(id, broken: true, at: server.now))
            case .finished: server.execute(server.core.watchEnded(id, broken: false, at: server.now))
            }
        }
        Thread.detachNewThread {
            var streamed = false
            do {
                let head = try HTTPClient.stream(
                    host: master.host, port: master.port, target: request.target, idleTimeoutMs: idleMs,
                    started: {
                        streamed = true
                        handle.execute { post.run(.started) }
                    },
                    line: { text in
                        guard !cancelled.contains(id) else { return false }
                        let bytes = Array(text.utf8)
                        handle.execute { post.run(.line(bytes)) }
                        return true
                    })
                let event: WatchThreadEvent = streamed ? .finished : .ended(head)
                handle.execute { post.run(event) }
            } catch {
                handle.execute { post.run(.broken) }
            }
            cancelled.remove(id)
        }
    }

    enum WatchThreadEvent: Sendable {
        case started
        case line([UInt8])
        case ended(HTTPResponse)
        case broken
        case finished
    }

    func probe(_ probe: ProbeID, _ action: ProbeSpec.Action, timeoutNs: UInt64) {
        let timeoutMs = Int32(min(timeoutNs / 1_000_000, 60_000))
        let check: @Sendable () -> Bool
        if case .exec(let command) = action, let runner = runtime.commandRunner(for: probe.run) {
            check = { runner(command, timeoutMs) }
        } else {
            let host = runtime.address(of: probe.run)
            check = { Probes.run(action, host: host, timeoutMs: timeoutMs) }
        }
        inBackground(check, then: { server, success in
            server.execute(server.core.probeResult(probe, success: success, at: server.now))
        })
    }
}

/// A closure bound to an agent, carried through another thread and run back on the agent's loop.
final class LoopBound<T>: @unchecked Sendable {
    // Safe: created on the loop, and `run` is only called on the loop (via LoopHandle.execute).
    let server: AgentServer
    let body: (AgentServer, T) -> Void

    init(server: AgentServer, _ body: @escaping (AgentServer, T) -> Void) {
        self.server = server
        self.body = body
    }

    func run(_ value: T) {
        guard !server.stopped else { return }
        body(server, value)
    }
}

/// The ids of requests given up on, shared with the threads that carry them.
final class CancelledRequests: Sendable {
    private let ids = Mutex<Set<UInt64>>([])
    func insert(_ id: UInt64) { _ = ids.withLock { $0.insert(id) } }
    func remove(_ id: UInt64) { _ = ids.withLock { $0.remove(id) } }
    func contains(_ id: UInt64) -> Bool { ids.withLock { $0.contains(id) } }
}

/// Probes as the agent runs them: a command that exits 0, an HTTP answer from 200 to 399, a TCP
/// connection accepted — each within its timeout, at the container's address (127.0.0.1 for
/// processes, which share the host network). A command runs on the node, beside the process (a
/// runtime with containers runs it inside, through its `commandRunner`).
enum Probes {
    static func run(_ action: ProbeSpec.Action, host: String, timeoutMs: Int32) -> Bool {
        switch action {
        case .httpGet(let port, let path):
            guard let response = try? HTTPClient.request(host: host, port: UInt16(port), method: "GET", target: path, timeoutMs: timeoutMs) else { return false }
            return (200..<400).contains(response.status)
        case .tcpSocket(let port):
            return (try? HTTPClient.Connection(host: host, port: UInt16(port), timeoutMs: timeoutMs)).map { close($0.fd); return true } ?? false
        case .exec(let argv):
            var args = argv.map { strdup($0) } + [nil]
            var env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/local/bin:/usr/bin:/bin"), nil]
            defer {
                args.forEach { free($0) }
                env.forEach { free($0) }
            }
            var pid: Int32 = 0
            guard csystem_spawn(argv[0], &args, &env, nil, "/dev/null", &pid) == 0 else { return false }
            let deadline = monotonicNs() + UInt64(timeoutMs) * 1_000_000
            var status: Int32 = 0
            while waitpid(pid, &status, WNOHANG) == 0 {
                if monotonicNs() >= deadline {
                    kill(-pid, SIGKILL)
                    waitpid(pid, &status, 0)
                    return false
                }
                usleep(10_000)
            }
            return status == 0
        }
    }
}
