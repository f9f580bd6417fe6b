import Agent
import Master

/// Drives an `AgentCore` the way a shell does, with the test playing the masters and the
/// container runtime: every action the core asks for is kept, requests wait for the test to
/// answer them, and time moves only when the test says so.
struct AgentHarness {
    var core: AgentCore
    var nowNs: UInt64 = 1_000_000_000
    /// Requests sent and not yet answered or cancelled, in order.
    var requests: [(id: UInt64, master: Int, request: HTTPRequest, isWatch: Bool)] = []
    /// Every action other than requests, in order.
    var runtime: [AgentAction] = []
    /// The masters answer renewals and the Node's status writes by themselves (200).
    var answersNode = true
    /// The masters accept every pod status write by themselves, as a new version.
    var acceptsStatus = true
    /// The pod status writes accepted so far, as the agent sent them.
    var statusWrites: [JSON] = []
    var version: UInt64 = 100

    static let wallBaseNs: UInt64 = 1_800_000_000_000_000_000

    init(masters: Int = 3, configure: (inout AgentCore.Config) -> Void = { _ in }) {
        var config = AgentCore.Config(nodeName: "node-1", masterCount: masters, address: "10.0.0.1", port: 10250)
        config.backoffBaseNs = 10_000_000_000
        configure(&config)
        core = AgentCore(config: config)
    }

    var time: AgentCore.Time { AgentCore.Time(monotonicNs: nowNs, wallNs: Self.wallBaseNs + nowNs) }

    /// Records the core's actions, then lets the masters answer what they answer by themselves.
    mutating func take(_ actions: [AgentAction]) {
        record(actions)
        settle()
    }

    mutating func record(_ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case .send(let id, let master, let request): requests.append((id, master, request, false))
            case .watch(let id, let master, let request): requests.append((id, master, request, true))
            case .cancel(let id): requests.removeAll { $0.id == id }
            default: runtime.append(action)
            }
        }
    }

    mutating func start(adopted: [AdoptedContainer] = []) { take(core.start(at: time, adopted: adopted)) }

    mutating func advance(ms: UInt64) {
        let end = nowNs + ms * 1_000_000
        while nowNs < end {
            nowNs = min(end, nowNs + 100_000_000)
            take(core.tick(at: time))
        }
    }

    /// Answers what the masters answer by themselves (see `answersNode`, `acceptsStatus`) until
    /// nothing of that kind is open.
    mutating func settle() {
        while let open = requests.first(where: { routine($0.request) }) {
            requests.removeAll { $0.id == open.id }
            var response = HTTPResponse(status: 200)
            if open.request.target.hasSuffix("/status"), open.request.method == "PUT", var pod = Self.body(open.request) {
                statusWrites.append(pod)
                version += 1
                pod[path: ["metadata", "resourceVersion"]] = .string(String(version))
                response = HTTPResponse(status: 200, body: Array(pod.text.utf8))
            }
            record(core.received(open.id, response, at: time))
        }
    }

    func routine(_ request: HTTPRequest) -> Bool {
        if request.target.hasPrefix("/api/v1/namespaces/") && request.target.hasSuffix("/status") { return acceptsStatus }
        return answersNode && (request.target.hasPrefix(AgentCoreTests.leasePath + "/") || request.target.hasSuffix("/nodes/node-1/status"))
    }

    /// The oldest open request whose method and target start as given.
    func find(_ method: String, _ prefix: String) -> (id: UInt64, master: Int, request: HTTPRequest, isWatch: Bool)? {
        requests.first { $0.request.method == method && $0.request.target.hasPrefix(prefix) }
    }

    /// Answers the oldest open request matching `method` and `prefix`; returns the request.
    @discardableResult
    mutating func answer(_ method: String, _ prefix: String, _ status: Int, _ body: String = "{}") -> HTTPRequest? {
        guard let open = find(method, prefix) else { return nil }
        requests.removeAll { $0.id == open.id }
        take(core.received(open.id, HTTPResponse(status: status, body: Array(body.utf8)), at: time))
        return open.request
    }

    /// Fails the oldest open request matching `method` and `prefix` (no connection).
    mutating func fail(_ method: String, _ prefix: String) {
        guard let open = find(method, prefix) else { return }
        requests.removeAll { $0.id == open.id }
        take(core.failed(open.id, at: time))
    }

    /// Registers the node: the agent is then listing its pods.
    mutating func registered() {
        start()
        answer("POST", "/api/v1/nodes", 201)
    }

    /// Lists `pods` at `version` and opens the watch; returns the watch's request id.
    @discardableResult
    mutating func listed(_ pods: [JSON], version: UInt64) -> UInt64? {
        let list: JSON = ["kind": "PodList", "apiVersion": "v1", "metadata": ["resourceVersion": .string(String(version))], "items": .array(pods)]
        answer("GET", "/api/v1/pods?fieldSelector", 200, list.text)
        guard let watch = find("GET", "/api/v1/pods?watch=true") else { return nil }
        take(core.watchStarted(watch.id, at: time))
        return watch.id
    }

    /// Delivers one watch event on the open stream `id`.
    mutating func event(_ id: UInt64, _ type: String, _ object: JSON) {
        let line: JSON = ["type": .string(type), "object": object]
        take(core.watchLine(id, Array(line.text.utf8), at: time))
    }

    /// Drains the runtime actions taken so far.
    mutating func runtimeActions() -> [AgentAction] {
        defer { runtime = [] }
        return runtime
    }

    /// The launches asked for so far (drained with the other runtime actions).
    mutating func launches() -> [ContainerLaunch] {
        runtimeActions().compactMap { if case .startContainer(let launch) = $0 { launch } else { nil } }
    }

    /// The run of the first launch asked for so far (the other runtime actions are drained too).
    mutating func nextRun() throws -> ContainerRun {
        guard let launch = launches().first else { throw NoLaunch() }
        return launch.run
    }

    struct NoLaunch: Error {}

    /// A pod bound here with one container.
    static func pod(
        _ name: String, uid: String, version: UInt64, command: String = #"["/bin/sleep","100"]"#, restartPolicy: String = "Always",
        grace: Int = 30, deleting: Bool = false, status: String = "{}"
    ) -> JSON {
        var pod = try! JSONParser.parse(#"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"default","uid":"\#(uid)","resourceVersion":"\#(version)"},
             "spec":{"nodeName":"node-1","restartPolicy":"\#(restartPolicy)","terminationGracePeriodSeconds":\#(grace),
                     "containers":[{"name":"main","image":"busybox","command":\#(command),"env":[{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]},
             "status":\#(status)}
            """#)
        if deleting {
            pod[path: ["metadata", "deletionTimestamp"]] = "2027-01-01T00:00:00Z"
            pod[path: ["metadata", "deletionGracePeriodSeconds"]] = .number(grace)
        }
        return pod
    }

    /// The body of a request as JSON.
    static func body(_ request: HTTPRequest?) -> JSON? { request.flatMap { try? JSONParser.parse($0.body) } }
}
