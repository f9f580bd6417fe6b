import Glibc
import Runtime

/// `bosun up`: a local cluster of masters and node agents as child processes on 127.0.0.1.
enum LocalCluster {
    static func run(_ arguments: [String]) throws {
        let flags = try Flags(arguments, known: ["masters", "agents", "data-dir", "api-port", "peer-port", "agent-port"], environment: [:])
        let count = try flags.int("masters", default: 3, allowed: 1...5)
        guard count == 3 || count == 5 || count == 1 else { throw Flags.UsageError(message: "--masters must be 1, 3 or 5") }
        let agentCount = try flags.int("agents", default: 2, allowed: 0...20)
        let agentPort = try flags.int("agent-port", default: 10251, allowed: 1...65000)
        let apiPort = try flags.int("api-port", default: 8080, allowed: 1...65000)
        let peerPort = try flags.int("peer-port", default: 9080, allowed: 1...65000)
        let dataDir = flags.string("data-dir") ?? ".bosun"
        _ = mkdir(dataDir, 0o755)
        let ids = Array(1...count)
        let peers = ids.map { "\($0)=127.0.0.1:\(peerPort + $0 - 1)" }.joined(separator: ",")
        let apis = ids.map { "\($0)=127.0.0.1:\(apiPort + $0 - 1)" }.joined(separator: ",")
        let executable = CommandLine.arguments[0]
        var children: [(id: Int, pid: pid_t)] = []
        for id in ids {
            let args = [
                executable, "master", "--id", "\(id)", "--peers", peers, "--api", "127.0.0.1:\(apiPort + id - 1)",
                "--data-dir", "\(dataDir)/master-\(id)", "--api-peers", apis,
            ]
            children.append((id, try spawn(args)))
            Bosun.say("master \(id): http://127.0.0.1:\(apiPort + id - 1)")
        }
        let masters = ids.map { "127.0.0.1:\(apiPort + $0 - 1)" }.joined(separator: ",")
        var agents: [(name: String, pid: pid_t)] = []
        for n in 0..<agentCount {
            let name = "node-\(n + 1)"
            let args = [executable, "agent", "--name", name, "--masters", masters, "--data-dir", "\(dataDir)/agent-\(n + 1)", "--port", "\(agentPort + n)"]
            agents.append((name, try spawn(args)))
        }
        if agentCount > 0 { Bosun.say("agents: \(agents.map(\.name).joined(separator: ", ")) (their containers are processes under \(dataDir)/agent-N)") }
        let members = children.map { child in
            #"{"id":\#(child.id),"pid":\#(child.pid),"api":"127.0.0.1:\#(apiPort + child.id - 1)","peer":"127.0.0.1:\#(peerPort + child.id - 1)"}"#
        }
        try writeFile("\(dataDir)/cluster.json", #"{"members":[\#(members.joined(separator: ","))]}"# + "\n")
        Bosun.say("cluster: \(dataDir)/cluster.json; Ctrl-C stops it")
        signal(SIGINT) { _ in terminationRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in terminationRequested.store(true, ordering: .relaxed) }
        while !terminationRequested.load(ordering: .relaxed) {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if let child = children.first(where: { $0.pid == pid }) {
                Bosun.say("master \(child.id) (pid \(pid)) exited")
                children.removeAll { $0.pid == pid }
            } else if let agent = agents.first(where: { $0.pid == pid }) {
                Bosun.say("agent \(agent.name) (pid \(pid)) exited")
                agents.removeAll { $0.pid == pid }
            }
            usleep(100_000)
        }
        // Agents first, while the masters can still hear them; their containers keep running and
        // are re-adopted by the next `bosun up`, as a kubelet's are.
        for pid in agents.map(\.pid) + children.map(\.pid) {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        Bosun.say("stopped")
    }

    static func spawn(_ args: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let result = posix_spawn(&pid, args[0], nil, nil, &cArgs, environ)
        guard result == 0 else { throw IOFailure(operation: "posix_spawn", path: args[0], code: result) }
        return pid
    }

    static func writeFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw IOFailure(operation: "open", path: path, code: errno) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
