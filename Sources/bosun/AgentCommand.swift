import Agent
import Glibc
import Master
import Runtime

/// `bosun agent`: the node agent process.
enum AgentCommand {
    static let flagNames = [
        "name", "masters", "data-dir", "address", "port", "capacity", "labels", "taints", "lease-seconds", "backoff-seconds",
        "runtime", "docker-socket", "docker-network",
    ]

    /// The agent's options from its flags (or their BOSUN_ variables); bad ones are usage errors.
    static func options(_ arguments: [String], environment: [String: String]) throws(Flags.UsageError) -> AgentServer.Options {
        let flags = try Flags(arguments, known: flagNames, environment: environment)
        let name = try flags.required("name")
        guard isDNSSubdomain(name) else { throw Flags.UsageError(message: "--name: '\(name)' is not a valid node name (lower-case letters, digits, '-' and '.')") }
        let masters = try APIClient.parseMasters(try flags.required("masters")).map { PeerTransport.Address(host: $0.host, port: $0.port) }
        let port = try flags.int("port", default: 10250, allowed: 1...65535)
        var config = AgentCore.Config(nodeName: name, masterCount: masters.count, address: try nodeAddress(flags.string("address") ?? "127.0.0.1"), port: port)
        if let text = flags.string("capacity") {
            for (key, value) in try pairs(text, flag: "capacity") {
                guard ["cpu", "memory", "pods", "ephemeral-storage"].contains(key) else { throw Flags.UsageError(message: "--capacity: unknown resource '\(key)' (cpu, memory, pods, ephemeral-storage)") }
                guard Quantity.isValid(value) else { throw Flags.UsageError(message: "--capacity: '\(value)' is not a quantity for \(key)") }
                config.capacity[key] = value
            }
        }
        if let text = flags.string("labels") { config.labels = Dictionary(try pairs(text, flag: "labels")) { _, last in last } }
        if let text = flags.string("taints") { config.taints = try taints(text) }
        config.leaseRenewNs = UInt64(try flags.int("lease-seconds", default: 1, allowed: 1...60)) * 1_000_000_000
        config.leaseDurationSeconds = max(5, Int(config.leaseRenewNs / 1_000_000_000) * 4)
        config.backoffBaseNs = UInt64(try flags.int("backoff-seconds", default: 10, allowed: 1...300)) * 1_000_000_000
        var system = utsname()
        uname(&system)
        let machine = withUnsafeBytes(of: system.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        config.nodeInfo = [
            "operatingSystem": "linux", "architecture": machine == "x86_64" ? "amd64" : machine == "aarch64" ? "arm64" : machine,
            "kubeletVersion": "v1.32.0-bosun", "kubeProxyVersion": "", "containerRuntimeVersion": "process://", "osImage": "Linux",
        ]
        let dataDir = flags.string("data-dir") ?? ".bosun/agent-\(name)"
        var options = AgentServer.Options(core: config, masters: masters, dataDirectory: dataDir)
        switch flags.string("runtime") ?? "process" {
        case "process": break
        case "docker":
            options.runtime = .docker(
                socket: flags.string("docker-socket") ?? "/var/run/docker.sock", network: flags.string("docker-network") ?? "bridge")
        case let other: throw Flags.UsageError(message: "--runtime: '\(other)' is not process or docker")
        }
        return options
    }

    /// The node's IPv4 address: `--address` as given, or the address its name resolves to (as
    /// kubelet takes its node IP from its host name): in a container, `--address node1` is the
    /// container's address on its network, which the masters reach for logs.
    static func nodeAddress(_ text: String) throws(Flags.UsageError) -> String {
        var numeric = in_addr()
        if inet_pton(AF_INET, text, &numeric) == 1 { return text }
        guard var found = HostResolver.lookup(text) else {
            throw Flags.UsageError(message: "--address: '\(text)' is not an IPv4 address and does not resolve to one")
        }
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &found, &buffer, socklen_t(buffer.count))
        return String(cString: buffer)
    }

    /// `k=v,k=v`.
    static func pairs(_ text: String, flag: String) throws(Flags.UsageError) -> [(String, String)] {
        var result: [(String, String)] = []
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, !kv[0].isEmpty else { throw Flags.UsageError(message: "--\(flag): '\(item)' is not KEY=VALUE") }
            result.append((String(kv[0]), String(kv[1])))
        }
        return result
    }

    /// `key[=value]:Effect,...`
    static func taints(_ text: String) throws(Flags.UsageError) -> [JSON] {
        var result: [JSON] = []
        for item in text.split(separator: ",") {
            guard let colon = item.lastIndex(of: ":") else { throw Flags.UsageError(message: "--taints: '\(item)' is not KEY[=VALUE]:EFFECT") }
            let effect = String(item[item.index(after: colon)...])
            guard ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect) else {
                throw Flags.UsageError(message: "--taints: effect '\(effect)' is not NoSchedule, PreferNoSchedule or NoExecute")
            }
            let kv = item[..<colon].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard !kv.isEmpty, !kv[0].isEmpty else { throw Flags.UsageError(message: "--taints: '\(item)' has no key") }
            var taint: JSON = ["key": .string(String(kv[0])), "effect": .string(effect)]
            if kv.count == 2 { taint["value"] = .string(String(kv[1])) }
            result.append(taint)
        }
        return result
    }

    static func run(_ arguments: [String], environment: [String: String]) throws {
        let options = try options(arguments, environment: environment)
        let loop = try EventLoop()
        let agent = try AgentServer(loop: loop, options: options)
        signal(SIGTERM) { _ in terminationRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in terminationRequested.store(true, ordering: .relaxed) }
        agent.start()
        Bosun.say("bosun agent \(options.core.nodeName): masters \(options.masters.map(\.description).joined(separator: ",")) data \(options.dataDirectory)")
        stopOnTermination(loop, agent)
        loop.run()
    }

    /// On SIGTERM the agent stops; the containers keep running, to be re-adopted by the next start.
    static func stopOnTermination(_ loop: EventLoop, _ agent: AgentServer) {
        loop.schedule(afterNs: 50_000_000) {
            guard terminationRequested.load(ordering: .relaxed) else { return stopOnTermination(loop, agent) }
            agent.stop()
            loop.stop()
        }
    }
}
