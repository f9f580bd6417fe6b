import Glibc
import Master
import Runtime

/// `bosun up`: a local cluster of masters and node agents as child processes on 127.0.0.1, kept
/// running as a supervisor keeps its services: a member that dies is started again after a short,
/// growing delay (1 s, doubling to 30 s; back to 1 s once it has run a minute), unless
/// `bosun stop` took it down on purpose. One `bosun up` per data directory: a lock there refuses
/// a second one before it touches anything. `cluster.json` always says who runs (pids), who leads,
/// and where; `kubeconfig` beside it serves kubectl.
enum LocalCluster {
    /// A master or an agent under supervision.
    struct Member {
        let kind: String
        let number: Int
        let args: [String]
        var pid: pid_t?
        var restarts = 0
        var restartAtNs: UInt64?
        var startedAtNs: UInt64 = 0
        /// Stopped with `bosun stop`: left down until `bosun start`.
        var held = false
        var name: String { "\(kind) \(number)" }
    }

    static let firstDelayNs: UInt64 = 1_000_000_000
    static let maxDelayNs: UInt64 = 30_000_000_000
    static let steadyRunNs: UInt64 = 60_000_000_000

    static func run(_ arguments: [String]) throws {
        let flags = try Flags(arguments, known: ["master-count", "agents", "data-dir", "api-port", "peer-port", "agent-port"], environment: [:])
        let count = try flags.int("master-count", default: 3, allowed: 1...5)
        guard count == 3 || count == 5 || count == 1 else { throw Flags.UsageError(message: "--master-count must be 1, 3 or 5") }
        let agentCount = try flags.int("agents", default: 2, allowed: 0...20)
        let agentPort = try flags.int("agent-port", default: 10251, allowed: 1...65000)
        let apiPort = try flags.int("api-port", default: 8080, allowed: 1...65000)
        let peerPort = try flags.int("peer-port", default: 9080, allowed: 1...65000)
        let dataDir = flags.string("data-dir") ?? ".bosun"
        _ = mkdir(dataDir, 0o755)
        let lock = try takeLock(dataDir)
        defer { close(lock) }
        _ = mkdir("\(dataDir)/held", 0o755)

        let ids = Array(1...count)
        let peers = ids.map { "\($0)=127.0.0.1:\(peerPort + $0 - 1)" }.joined(separator: ",")
        let apis = ids.map { "\($0)=127.0.0.1:\(apiPort + $0 - 1)" }.joined(separator: ",")
        let executable = CommandLine.arguments[0]
        var members = ids.map { id in
            Member(kind: "master", number: id, args: [
                executable, "master", "--id", "\(id)", "--peers", peers, "--api", "127.0.0.1:\(apiPort + id - 1)",
                "--data-dir", "\(dataDir)/master-\(id)", "--api-peers", apis,
            ])
        }
        let masterList = ids.map { "127.0.0.1:\(apiPort + $0 - 1)" }.joined(separator: ",")
        members += (0..<agentCount).map { n in
            Member(kind: "agent", number: n + 1, args: [
                executable, "agent", "--name", "node-\(n + 1)", "--masters", masterList, "--data-dir", "\(dataDir)/agent-\(n + 1)",
                "--port", "\(agentPort + n)",
            ])
        }
        for i in members.indices {
            members[i].held = access(heldPath(dataDir, members[i]), F_OK) == 0
            if members[i].held { Bosun.say("\(members[i].name): kept down (bosun start \(members[i].kind) \(members[i].number) brings it back)") } else { try start(&members[i]) }
        }
        for id in ids { Bosun.say("master \(id): http://127.0.0.1:\(apiPort + id - 1)") }
        if agentCount > 0 { Bosun.say("agents: \((1...agentCount).map { "node-\($0)" }.joined(separator: ", ")) (their containers are processes under \(dataDir)/agent-N)") }
        try writeKubeconfig(dataDir, apiPort: apiPort, count: count)
        Bosun.say("kubectl: kubectl --kubeconfig \(dataDir)/kubeconfig get all" + (count > 1 ? "   (--context bosun-2 reaches master 2, if master 1 is down)" : ""))
        var leader: Int?
        writeClusterFile(dataDir, members, leader: leader, apiPort: apiPort, peerPort: peerPort)
        Bosun.say("cluster: \(dataDir)/cluster.json; a member that dies comes back; bosun stop|start master|agent N; Ctrl-C stops all")

        signal(SIGINT) { _ in terminationRequested.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in terminationRequested.store(true, ordering: .relaxed) }
        var lastLeaderCheckNs: UInt64 = 0
        while !terminationRequested.load(ordering: .relaxed) {
            var changed = false
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0, let i = members.firstIndex(where: { $0.pid == pid }) {
                changed = true
                exited(&members[i], status: status, dataDir: dataDir)
            }
            let now = monotonicNs()
            for i in members.indices where members[i].pid == nil {
                let held = access(heldPath(dataDir, members[i]), F_OK) == 0
                if members[i].held && !held {
                    members[i].held = false
                    members[i].restartAtNs = now
                }
                guard !members[i].held, let due = members[i].restartAtNs, now >= due else { continue }
                do {
                    try start(&members[i])
                    Bosun.say("\(members[i].name) started again (pid \(members[i].pid!))")
                } catch {
                    Bosun.say("\(members[i].name) could not start: \(error)")
                    members[i].restartAtNs = now + maxDelayNs
                }
                changed = true
            }
            if now - lastLeaderCheckNs > 1_000_000_000 {
                lastLeaderCheckNs = now
                let seen = currentLeader(apiPort: apiPort, masters: members.filter { $0.kind == "master" && $0.pid != nil }.map(\.number))
                if seen != leader {
                    leader = seen
                    changed = true
                }
            }
            if changed { writeClusterFile(dataDir, members, leader: leader, apiPort: apiPort, peerPort: peerPort) }
            usleep(100_000)
        }
        // Agents first, while the masters can still hear them; their containers keep running and
        // are re-adopted by the next `bosun up`, as a kubelet's are.
        for member in members.filter({ $0.kind == "agent" }) + members.filter({ $0.kind == "master" }) {
            guard let pid = member.pid else { continue }
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        members.indices.forEach { members[$0].pid = nil }
        writeClusterFile(dataDir, members, leader: nil, apiPort: apiPort, peerPort: peerPort)
        Bosun.say("stopped")
    }

    /// Notes a member's end, in one line, and when it comes back.
    static func exited(_ member: inout Member, status: Int32, dataDir: String) {
        let how = status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
        let pid = member.pid ?? 0
        member.pid = nil
        if access(heldPath(dataDir, member), F_OK) == 0 {
            member.held = true
            Bosun.say("\(member.name) (pid \(pid)) stopped; bosun start \(member.kind) \(member.number) brings it back")
            return
        }
        let now = monotonicNs()
        if now - member.startedAtNs >= steadyRunNs { member.restarts = 0 }
        let delayNs = min(firstDelayNs << UInt64(min(member.restarts, 5)), maxDelayNs)
        member.restarts += 1
        member.restartAtNs = now + delayNs
        Bosun.say("\(member.name) (pid \(pid)) exited (\(how)); starting it again in \(delayNs / 1_000_000_000) s")
    }

    static func start(_ member: inout Member) throws {
        member.pid = try spawn(member.args)
        member.startedAtNs = monotonicNs()
        member.restartAtNs = nil
    }

    /// The marker `bosun stop` leaves for a member kept down on purpose.
    static func heldPath(_ dataDir: String, _ member: Member) -> String { "\(dataDir)/held/\(member.kind)-\(member.number)" }

    /// The data directory's lock, held while `bosun up` runs; a second one is refused, naming the
    /// first, before it changes anything.
    static func takeLock(_ dataDir: String) throws -> Int32 {
        let path = "\(dataDir)/up.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOFailure(operation: "open", path: path, code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? FileIO.readAll(path)).map { String(decoding: $0, as: UTF8.self).trimmingSpaces } ?? ""
            close(fd)
            throw CommandFailure(message: "bosun up: a cluster already runs on \(dataDir) (bosun up pid \(owner.isEmpty ? "unknown" : owner)); stop it first, or use another --data-dir")
        }
        ftruncate(fd, 0)
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    /// Whether a `bosun up` holds the lock on `dataDir` now.
    static func isRunning(_ dataDir: String) -> Bool {
        let fd = open("\(dataDir)/up.lock", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// The leader as the first live master that knows one says (a short timeout: this runs on the
    /// supervisor's loop).
    static func currentLeader(apiPort: Int, masters: [Int]) -> Int? {
        for id in masters {
            guard let response = try? HTTPClient.request(host: "127.0.0.1", port: UInt16(apiPort + id - 1), method: "GET", target: "/cluster/status", timeoutMs: 200),
                response.status == 200, let status = try? JSONParser.parse(response.body)
            else { continue }
            if let leader = status["leader"]?.intValue { return leader }
        }
        return nil
    }

    static func writeClusterFile(_ dataDir: String, _ members: [Member], leader: Int?, apiPort: Int, peerPort: Int) {
        let masters = members.filter { $0.kind == "master" }.map { m in
            #"{"id":\#(m.number),"pid":\#(m.pid.map { "\($0)" } ?? "null"),"api":"127.0.0.1:\#(apiPort + m.number - 1)","peer":"127.0.0.1:\#(peerPort + m.number - 1)"}"#
        }
        let agents = members.filter { $0.kind == "agent" }.map { a in #"{"name":"node-\#(a.number)","pid":\#(a.pid.map { "\($0)" } ?? "null")}"# }
        let text = #"{"supervisor":\#(getpid()),"leader":\#(leader.map { "\($0)" } ?? "null"),"members":[\#(masters.joined(separator: ","))],"agents":[\#(agents.joined(separator: ","))]}"# + "\n"
        try? FileIO.replace("\(dataDir)/cluster.json", with: Array(text.utf8))
    }

    /// A kubeconfig with one context per master (`bosun-1` current), so that kubectl needs no
    /// `--server`, and `--context bosun-N` reaches another master when the first is down.
    static func writeKubeconfig(_ dataDir: String, apiPort: Int, count: Int) throws {
        var text = "apiVersion: v1\nkind: Config\nclusters:\n"
        for id in 1...count { text += "- name: bosun-\(id)\n  cluster:\n    server: http://127.0.0.1:\(apiPort + id - 1)\n" }
        text += "contexts:\n"
        for id in 1...count { text += "- name: bosun-\(id)\n  context:\n    cluster: bosun-\(id)\n    user: bosun\n    namespace: default\n" }
        text += "current-context: bosun-1\nusers:\n- name: bosun\n  user: {}\n"
        try FileIO.replace("\(dataDir)/kubeconfig", with: Array(text.utf8))
    }

    static func spawn(_ args: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let result = posix_spawn(&pid, args[0], nil, nil, &cArgs, environ)
        guard result == 0 else { throw IOFailure(operation: "posix_spawn", path: args[0], code: result) }
        return pid
    }

    /// `bosun stop|start master|agent N`: keeps a member of the running `bosun up` down on
    /// purpose, or brings it back.
    static func control(_ verb: String, _ arguments: [String], environment: [String: String]) throws {
        let parsed = try CommandLineArguments(arguments, flags: [.init(name: "data-dir", short: nil, takesValue: true)])
        let dataDir = parsed.value("data-dir") ?? environment["BOSUN_DATA_DIR"] ?? ".bosun"
        let what = parsed.positional
        guard what.count == 2, ["master", "agent"].contains(what[0]), let number = Int(what[1]), number > 0 else {
            throw Flags.UsageError(message: "\(verb) takes master N or agent N, e.g. bosun \(verb) master 2")
        }
        guard isRunning(dataDir) else { throw CommandFailure(message: "bosun \(verb): no bosun up runs on \(dataDir)") }
        let marker = "\(dataDir)/held/\(what[0])-\(number)"
        guard let file = try? FileIO.readAll("\(dataDir)/cluster.json"), let cluster = try? JSONParser.parse(file) else {
            throw CommandFailure(message: "bosun \(verb): cannot read \(dataDir)/cluster.json")
        }
        let list = what[0] == "master" ? cluster["members"] : cluster["agents"]
        guard let entry = list?.arrayValue?.first(where: { what[0] == "master" ? $0["id"]?.intValue == number : $0["name"]?.stringValue == "node-\(number)" }) else {
            throw CommandFailure(message: "bosun \(verb): this cluster has no \(what[0]) \(number)")
        }
        if verb == "stop" {
            try FileIO.replace(marker, with: [])
            if let pid = entry["pid"]?.intValue { kill(pid_t(pid), SIGTERM) }
            Bosun.say("\(what[0]) \(number) stopping; it stays down until bosun start \(what[0]) \(number)")
        } else {
            unlink(marker)
            Bosun.say("\(what[0]) \(number) starting")
        }
    }
}
