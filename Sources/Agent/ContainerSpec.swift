import Master

/// Identifies one container of one pod on this node.
public struct ContainerKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var podUID: String
    public var container: String

    public init(podUID: String, container: String) {
        self.podUID = podUID
        self.container = container
    }

    public static func < (a: ContainerKey, b: ContainerKey) -> Bool { (a.podUID, a.container) < (b.podUID, b.container) }
    public var description: String { "\(podUID)/\(container)" }
}

/// One run of a container: the key and which start it is (0 for the first, then one per restart),
/// so a late event about an earlier run is never taken for the current one.
public struct ContainerRun: Hashable, Sendable, CustomStringConvertible {
    public var key: ContainerKey
    public var attempt: Int

    public init(key: ContainerKey, attempt: Int) {
        self.key = key
        self.attempt = attempt
    }

    public var description: String { "\(key)#\(attempt)" }
}

/// What the runtime needs to start a container: its image and the process to run (Kubernetes'
/// `command` and `args`, which a runtime with images combines with the image's entrypoint and
/// cmd; the process runtime has no image and runs `command + args`), its environment with every
/// reference already resolved, and its limits.
public struct ContainerLaunch: Equatable, Sendable {
    public var run: ContainerRun
    public var namespace: String
    public var podName: String
    public var image: String
    /// `Always`, `IfNotPresent` or `Never` (defaulted by the API server).
    public var imagePullPolicy: String
    public var command: [String]
    public var args: [String]
    public var environment: [(name: String, value: String)]
    /// Relative paths are taken inside the pod's own directory.
    public var workingDir: String?
    public var memoryLimitBytes: Int64?
    public var cpuLimitMillis: Int64?

    public init(
        run: ContainerRun, namespace: String, podName: String, image: String, imagePullPolicy: String = "IfNotPresent", command: [String], args: [String] = [],
        environment: [(name: String, value: String)], workingDir: String?, memoryLimitBytes: Int64?, cpuLimitMillis: Int64?
    ) {
        self.run = run
        self.namespace = namespace
        self.podName = podName
        self.image = image
        self.imagePullPolicy = imagePullPolicy
        self.command = command
        self.args = args
        self.environment = environment
        self.workingDir = workingDir
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuLimitMillis = cpuLimitMillis
    }

    public static func == (a: ContainerLaunch, b: ContainerLaunch) -> Bool {
        a.run == b.run && a.namespace == b.namespace && a.podName == b.podName && a.image == b.image && a.imagePullPolicy == b.imagePullPolicy
            && a.command == b.command && a.args == b.args
            && a.environment.map(\.name) == b.environment.map(\.name) && a.environment.map(\.value) == b.environment.map(\.value)
            && a.workingDir == b.workingDir && a.memoryLimitBytes == b.memoryLimitBytes && a.cpuLimitMillis == b.cpuLimitMillis
    }
}

/// A probe of a container, as the pod spec gives it (Kubernetes' defaults for the timings).
public struct ProbeSpec: Equatable, Sendable {
    /// How the probe asks.
    public enum Action: Equatable, Sendable {
        case exec([String])
        case httpGet(port: Int, path: String)
        case tcpSocket(port: Int)
    }

    public var action: Action
    public var initialDelayNs: UInt64
    public var periodNs: UInt64
    public var timeoutNs: UInt64
    public var successThreshold: Int
    public var failureThreshold: Int

    /// Reads a probe; a probe that cannot be run is an error whose text goes into the pod's status.
    static func parse(_ json: JSON, named container: String, ports: [String: Int]) throws(SpecError) -> ProbeSpec {
        func seconds(_ key: String, _ fallback: Int, minimum: Int) throws(SpecError) -> UInt64 {
            guard let value = json[key] else { return UInt64(fallback) * 1_000_000_000 }
            guard let n = value.intValue, n >= minimum else { throw SpecError("\(key) of a probe of container \(container) must be an integer ≥ \(minimum)") }
            return UInt64(n) * 1_000_000_000
        }
        func port(_ value: JSON?) throws(SpecError) -> Int {
            if let n = value?.intValue, (1...65_535).contains(n) { return n }
            if let name = value?.stringValue, let n = ports[name] { return n }
            throw SpecError("a probe of container \(container) names no valid port")
        }
        let action: Action
        if let command = json[path: ["exec", "command"]]?.arrayValue {
            let argv = command.compactMap(\.stringValue)
            guard !argv.isEmpty, argv.count == command.count else { throw SpecError("an exec probe of container \(container) needs a command of strings") }
            action = .exec(argv)
        } else if let http = json["httpGet"] {
            action = .httpGet(port: try port(http["port"]), path: http["path"]?.stringValue ?? "/")
        } else if let tcp = json["tcpSocket"] {
            action = .tcpSocket(port: try port(tcp["port"]))
        } else {
            throw SpecError("a probe of container \(container) has no exec, httpGet or tcpSocket")
        }
        let success = json["successThreshold"]?.intValue ?? 1
        let failure = json["failureThreshold"]?.intValue ?? 3
        guard success >= 1, failure >= 1 else { throw SpecError("probe thresholds of container \(container) must be ≥ 1") }
        return ProbeSpec(
            action: action, initialDelayNs: try seconds("initialDelaySeconds", 0, minimum: 0), periodNs: try seconds("periodSeconds", 10, minimum: 1),
            timeoutNs: try seconds("timeoutSeconds", 1, minimum: 1), successThreshold: success, failureThreshold: failure)
    }
}

/// Why a pod's spec cannot be run here; the text is reported in the container's status.
public struct SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One container of a pod spec, read once when the pod arrives.
struct ContainerSpec: Equatable {
    var name: String
    var image: String
    var imagePullPolicy: String
    var command: [String]
    var args: [String]
    var env: [(name: String, value: EnvValue)]
    var workingDir: String?
    var memoryLimitBytes: Int64?
    var cpuLimitMillis: Int64?
    var readiness: ProbeSpec?
    var liveness: ProbeSpec?
    var startup: ProbeSpec?
    /// A probe that cannot be run: the container is not started, and the reason is reported.
    var probeError: SpecError?

    /// An environment variable's value: literal, or resolved when the container starts.
    enum EnvValue: Equatable {
        case literal(String)
        case field(String)
        case configMapKey(name: String, key: String, optional: Bool)
    }

    static func == (a: ContainerSpec, b: ContainerSpec) -> Bool {
        a.name == b.name && a.image == b.image && a.imagePullPolicy == b.imagePullPolicy && a.command == b.command && a.args == b.args && a.env.map(\.name) == b.env.map(\.name)
            && a.env.map(\.value) == b.env.map(\.value) && a.workingDir == b.workingDir && a.memoryLimitBytes == b.memoryLimitBytes
            && a.cpuLimitMillis == b.cpuLimitMillis && a.readiness == b.readiness && a.liveness == b.liveness && a.startup == b.startup
            && a.probeError == b.probeError
    }

    init(_ json: JSON) {
        name = json["name"]?.stringValue ?? ""
        image = json["image"]?.stringValue ?? ""
        imagePullPolicy = json["imagePullPolicy"]?.stringValue ?? "IfNotPresent"
        command = json["command"]?.arrayValue?.compactMap(\.stringValue) ?? []
        args = json["args"]?.arrayValue?.compactMap(\.stringValue) ?? []
        env = (json["env"]?.arrayValue ?? []).compactMap { item -> (String, EnvValue)? in
            guard let key = item["name"]?.stringValue else { return nil }
            if let path = item[path: ["valueFrom", "fieldRef", "fieldPath"]]?.stringValue { return (key, .field(path)) }
            if let ref = item[path: ["valueFrom", "configMapKeyRef"]], let map = ref["name"]?.stringValue, let k = ref["key"]?.stringValue {
                return (key, .configMapKey(name: map, key: k, optional: ref["optional"] == .bool(true)))
            }
            return (key, .literal(item["value"]?.stringValue ?? ""))
        }
        workingDir = json["workingDir"]?.stringValue
        memoryLimitBytes = json[path: ["resources", "limits", "memory"]].flatMap { Quantity.milliValue($0).map { $0 / 1000 } }
        cpuLimitMillis = json[path: ["resources", "limits", "cpu"]].flatMap { Quantity.milliValue($0) }
        var ports: [String: Int] = [:]
        for port in json["ports"]?.arrayValue ?? [] {
            if let portName = port["name"]?.stringValue, let number = port["containerPort"]?.intValue { ports[portName] = number }
        }
        do throws(SpecError) {
            readiness = try json["readinessProbe"].map { (p) throws(SpecError) in try ProbeSpec.parse(p, named: name, ports: ports) }
            liveness = try json["livenessProbe"].map { (p) throws(SpecError) in try ProbeSpec.parse(p, named: name, ports: ports) }
            startup = try json["startupProbe"].map { (p) throws(SpecError) in try ProbeSpec.parse(p, named: name, ports: ports) }
        } catch {
            probeError = error
        }
    }
}
