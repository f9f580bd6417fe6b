import Foundation
import Glibc
import Master
import Testing

/// The `bosun` command line as a user meets it: bad flags exit 2 with a message; a corrupt
/// write-ahead log stops the master with a message naming the file.
struct CommandLineTests {
    /// Runs `bosun` with `arguments`; returns its exit status and what it printed.
    static func run(_ arguments: [String], environment: [String] = []) throws -> (status: Int32, output: String) {
        let binary = try #require(ClusterProcess.findBinary(), "run `swift build` first")
        var template = Array("/tmp/bosun-out-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let outPath = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        defer { close(fd); unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        var pid: pid_t = 0
        let args = [binary] + arguments
        var cArgs = args.map { strdup($0) } + [nil]
        var cEnv = environment.map { strdup($0) } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }
        precondition(posix_spawn(&pid, binary, &actions, nil, &cArgs, &cEnv) == 0)
        posix_spawn_file_actions_destroy(&actions)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        lseek(fd, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &bytes, bytes.count)
        return ((status >> 8) & 0xFF, String(decoding: bytes.prefix(max(0, n)), as: UTF8.self))
    }

    @Test(arguments: [
        (["master", "--bogus", "1"], "unknown flag --bogus"),
        (["master", "--id", "1"], "--peers is required"),
        (["master", "--id", "x", "--peers", "1=127.0.0.1:1", "--api", "127.0.0.1:2", "--data-dir", "/tmp/x"], "--id must be a positive integer"),
        (["master", "--id", "2", "--peers", "1=127.0.0.1:1", "--api", "127.0.0.1:2", "--data-dir", "/tmp/x"], "--peers must include this master's own ID 2"),
        (["master", "--id", "1", "--peers", "1=nohostport", "--api", "127.0.0.1:2", "--data-dir", "/tmp/x"], "is not HOST:PORT"),
        (["master", "--id", "1", "--peers", "1=127.0.0.1:1", "--api", "127.0.0.1:2", "--data-dir", "/tmp/x", "--node-grace-seconds", "0"],
         "--node-grace-seconds: '0' must be a number in 1...3600"),
        (["master", "--id", "1", "--peers", "1=127.0.0.1:1", "--api", "127.0.0.1:2", "--data-dir", "/tmp/x", "--toleration-seconds", "-1"],
         "--toleration-seconds: '-1' must be a number in 0...86400"),
        (["up", "--master-count", "4"], "--master-count must be 1, 3 or 5"),
        (["up", "--masters", "3"], "unknown flag --masters"),
        (["agent", "--name", "n1"], "--masters is required"),
        (["agent", "--name", "N_1", "--masters", "127.0.0.1:1"], "--name: 'N_1' is not a valid node name"),
        (["agent", "--name", "n1", "--masters", "nohost"], "--masters: 'nohost' is not"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--capacity", "gpu=1"], "--capacity: unknown resource 'gpu'"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--capacity", "cpu=lots"], "--capacity: 'lots' is not a quantity for cpu"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--taints", "a=b:Sometimes"], "--taints: effect 'Sometimes' is not NoSchedule"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--labels", "novalue"], "--labels: 'novalue' is not KEY=VALUE"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--address", "no-such-host.invalid"],
         "--address: 'no-such-host.invalid' is not an IPv4 address and does not resolve to one"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--runtime", "rkt"], "--runtime: 'rkt' is not process or docker"),
        (["agent", "--name", "n1", "--masters", "127.0.0.1:1", "--lease-seconds", "0"], "--lease-seconds: '0' must be a number in 1...60"),
        (["frobnicate"], "unknown command 'frobnicate'"),
    ])
    func badFlagsExitTwo(arguments: [String], message: String) throws {
        let (status, output) = try Self.run(arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
        #expect(output.contains("usage:"))
    }

    /// `--help` (and `-h`) on every command prints that command's usage and exits 0; `help CMD` too.
    @Test(arguments: ["master", "agent", "up", "stop", "apply", "create", "get", "describe", "delete", "scale", "logs", "cluster", "version"])
    func helpOnEveryCommand(command: String) throws {
        for words in [[command, "--help"], [command, "-h"], ["help", command]] {
            let (status, output) = try Self.run(words)
            #expect(status == 0, "\(words): \(output)")
            #expect(output.contains("usage: bosun \(command)") || output.contains("usage: bosun \(command == "create" ? "apply|create" : command == "stop" ? "stop|start" : command)"), "\(words): \(output)")
        }
    }

    /// A usage error prints the typed command's usage, not all of them; a near miss is named.
    @Test func usageErrorsAreAboutTheTypedCommand() throws {
        let (status, output) = try Self.run(["scale", "deployment", "web"])
        #expect(status == 2 && output.contains("usage: bosun scale") && !output.contains("bosun master"), "\(output)")
        let typo = try Self.run(["aply", "-f", "x.yaml"])
        #expect(typo.status == 2 && typo.output.contains("unknown command 'aply'; did you mean 'apply'?"), "\(typo.output)")
        let kind = try Self.run(["get", "deploymnets", "--masters", "127.0.0.1:1", "--retry-seconds", "0"])
        #expect(kind.status == 1 && kind.output.contains("did you mean 'deployments'?"), "\(kind.output)")
    }

    /// Global flags may come before the command; a master that never answers is reported in
    /// words once the retry time is over.
    @Test func globalFlagsBeforeTheCommandAndNoMasterInWords() throws {
        let start = Self.monotonicNow()
        let (status, output) = try Self.run(["--masters", "http://127.0.0.1:1", "--retry-seconds", "1", "get", "configmaps"])
        let elapsed = Self.monotonicNow() - start
        #expect(status == 1, "\(output)")
        #expect(output.contains("no master answered within 1 s: 127.0.0.1:1 did not answer (cannot connect to 127.0.0.1:1: Connection refused)"), "\(output)")
        #expect(elapsed >= 0.9 && elapsed < 5, "retried for the time given: \(elapsed) s")
    }

    static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Flags also come from the environment.
    @Test func flagsFromTheEnvironment() throws {
        let (status, output) = try Self.run(["master"], environment: ["BOSUN_ID=1", "BOSUN_PEERS=1=127.0.0.1:1"])
        #expect(status == 2 && output.contains("--api is required"), "\(output)")
    }

    /// A flipped byte in the middle of the log: the master refuses to start and names the file.
    @Test func corruptLogStopsTheMaster() throws {
        let cluster = ClusterProcess(binary: try #require(ClusterProcess.findBinary()), count: 1)
        cluster.start(1)
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "a") != nil)
        for k in 0..<20 { _ = HTTPTestClient.request("POST", port: cluster.port(1), path: "/api/v1/namespaces/default/configmaps", body: ClusterTests.configMap("x\(k)")) }
        cluster.signal(1, SIGKILL)
        let segment = cluster.root + "/m1/wal-0000000000000001.log"
        let fd = open(segment, O_RDWR)
        var byte: UInt8 = 0
        pread(fd, &byte, 1, 60)
        byte ^= 0x10
        pwrite(fd, &byte, 1, 60)
        close(fd)
        let peers = "1=127.0.0.1:\(cluster.peerPorts[0])"
        let (status, output) = try Self.run(["master", "--id", "1", "--peers", peers, "--api", "127.0.0.1:\(cluster.apiPorts[0])", "--data-dir", cluster.root + "/m1"])
        #expect(status == 1)
        #expect(output.contains("corrupt write-ahead log") && output.contains("wal-0000000000000001.log"), "\(output)")
    }
}

/// `bosun up` as a newcomer runs it: a local cluster of masters and two agents that serves, stops
/// on Ctrl-C, and comes back on the same data.
@Suite(.serialized)
struct LocalClusterTests {
    @Test func upServesStopsAndRestartsOnTheSameData() throws {
        let binary = try #require(ClusterProcess.findBinary(), "run `swift build` first")
        var template = Array("/tmp/bosun-up-XXXXXX".utf8CString)
        let root = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        defer { _ = system("rm -rf '\(root)'") }
        let apiBase = ClusterProcess.freePortBlock()
        let peerBase = apiBase + 10
        func up() -> pid_t {
            var pid: pid_t = 0
            let args = [binary, "up", "--data-dir", root, "--api-port", "\(apiBase)", "--peer-port", "\(peerBase)", "--agent-port", "\(apiBase + 5)"]
            var cArgs = args.map { strdup($0) } + [nil]
            defer { cArgs.forEach { free($0) } }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 1, "\(root)/up.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
            precondition(posix_spawn(&pid, binary, &actions, nil, &cArgs, environ) == 0)
            posix_spawn_file_actions_destroy(&actions)
            return pid
        }
        func write(_ name: String) -> Bool {
            for _ in 0..<100 {
                for port in apiBase..<apiBase + 3 {
                    if let reply = HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/configmaps", body: ClusterTests.configMap(name), timeoutMs: 1000),
                        reply.status == 201
                    { return true }
                }
                usleep(100_000)
            }
            return false
        }
        func stop(_ pid: pid_t) -> Bool {
            kill(pid, SIGINT)
            for _ in 0..<100 {
                if waitpid(pid, nil, WNOHANG) == pid { return true }
                usleep(50_000)
            }
            kill(pid, SIGKILL)
            waitpid(pid, nil, 0)
            return false
        }
        let first = up()
        #expect(write("kept"))
        var nodes = ""
        for _ in 0..<100 where !(nodes.contains(#""name":"node-1""#) && nodes.contains(#""name":"node-2""#)) {
            nodes = HTTPTestClient.request("GET", port: apiBase, path: "/api/v1/nodes")?.body ?? ""
            usleep(100_000)
        }
        #expect(nodes.contains(#""name":"node-1""#) && nodes.contains(#""name":"node-2""#), "both agents registered")
        let cluster = try readText(root + "/cluster.json")
        #expect(cluster.contains(#""api":"127.0.0.1:\#(apiBase)""#) && cluster.contains(#""id":3"#))
        #expect(stop(first), "bosun up did not stop on SIGINT")
        let second = up()
        #expect(write("second"))
        let list = HTTPTestClient.request("GET", port: apiBase + 1, path: "/api/v1/namespaces/default/configmaps")
        #expect(list?.body.contains(#""name":"kept""#) == true)
        #expect(stop(second))
    }

    /// `bosun up` supervises: a master killed with -9 is started again (a new pid in
    /// cluster.json); `bosun stop master 2` keeps one down until `bosun start master 2`; a second
    /// `bosun up` on the same data is refused before it touches anything; the kubeconfig it
    /// writes serves kubectl.
    @Test func upSupervisesRefusesASecondUpAndWritesAKubeconfig() throws {
        let binary = try #require(ClusterProcess.findBinary(), "run `swift build` first")
        var template = Array("/tmp/bosun-up-XXXXXX".utf8CString)
        let root = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        defer { _ = system("rm -rf '\(root)'") }
        let apiBase = ClusterProcess.freePortBlock()
        let args = ["up", "--data-dir", root, "--api-port", "\(apiBase)", "--peer-port", "\(apiBase + 10)", "--agents", "0"]
        let up = ClusterProcess.spawn([binary] + args, log: root + "/up.log")
        defer {
            kill(up, SIGINT)
            waitpid(up, nil, 0)
        }
        func cluster() -> JSON? { (try? readText(root + "/cluster.json")).flatMap { try? JSONParser.parse($0) } }
        func pid(ofMaster id: Int) -> Int? { cluster()?["members"]?.arrayValue?.first { $0["id"]?.intValue == id }?["pid"]?.intValue }
        func ready(_ id: Int) -> Bool { HTTPTestClient.request("GET", port: apiBase + UInt16(id - 1), path: "/readyz", timeoutMs: 500)?.status == 200 }
        func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
            for _ in 0..<Int(seconds * 10) {
                if condition() { return true }
                usleep(100_000)
            }
            return condition()
        }
        #expect(waitFor(15) { (1...3).allSatisfy(ready) && cluster()?["leader"]?.intValue != nil })

        // A second `bosun up` on the same data: refused at once, and the running cluster untouched.
        let before = cluster()
        let (status, output) = try CommandLineTests.run(args)
        #expect(status == 1 && output.contains("a cluster already runs on \(root)") && output.contains("pid \(up)"), "\(output)")
        #expect(cluster()?["members"] == before?["members"])

        // kill -9 of master 1: back with a new pid after about a second, and serving.
        let first = try #require(pid(ofMaster: 1))
        kill(pid_t(first), SIGKILL)
        #expect(waitFor(10) { (pid(ofMaster: 1) ?? first) != first && ready(1) }, "master 1 was not started again")
        #expect((try readText(root + "/up.log")).contains("master 1 (pid \(first)) exited (signal 9); starting it again in 1 s"))

        // Kept down on purpose, then brought back.
        let stopped = try CommandLineTests.run(["stop", "master", "2", "--data-dir", root])
        #expect(stopped.status == 0, "\(stopped.output)")
        #expect(waitFor(5) { pid(ofMaster: 2) == nil && !ready(2) })
        usleep(2_500_000)
        #expect(pid(ofMaster: 2) == nil && !ready(2), "a master stopped with bosun stop stays down")
        let started = try CommandLineTests.run(["start", "master", "2", "--data-dir", root])
        #expect(started.status == 0, "\(started.output)")
        #expect(waitFor(10) { pid(ofMaster: 2) != nil && ready(2) })

        // kubectl with the kubeconfig, no --server.
        let kubectl = try #require(KubectlTests.findOnPath("kubectl"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: kubectl)
        process.arguments = ["--kubeconfig", root + "/kubeconfig", "--cache-dir", root + "/kubectl-cache", "get", "namespaces", "-o", "name"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && text.contains("namespace/default"), "\(text)")
    }

    func readText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &bytes, bytes.count)
        return String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
    }

    /// The disk refuses a write (here EFBIG from a file size limit, as ENOSPC from a full disk):
    /// the master stops with a clear error, and every write it acknowledged is there after a
    /// restart without the limit.
    @Test func diskFullStopsTheMasterAndLosesNothingAcknowledged() throws {
        let cluster = ClusterProcess(binary: try #require(ClusterProcess.findBinary()), count: 1)
        cluster.fileSizeLimitBytes = 300_000
        cluster.start(1)
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "first") != nil)
        let pid = try #require(cluster.pids[1])
        let filler = String(repeating: "x", count: 2000)
        var acknowledged: [String] = []
        for k in 0..<1000 {
            let name = "full-\(k)"
            guard let reply = HTTPTestClient.request("POST", port: cluster.port(1), path: "/api/v1/namespaces/default/configmaps",
                                                     body: #"{"metadata":{"name":"\#(name)"},"data":{"k":"\#(filler)"}}"#)
            else { break }
            if reply.status == 201 { acknowledged.append(name) }
        }
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        cluster.pids[1] = nil
        #expect((status & 0x7F) == 0 && (status >> 8) & 0xFF == 1, "the master did not exit with status 1 (raw status \(status))")
        let log = (try? String(contentsOfFile: "\(cluster.root)/m1.log", encoding: .utf8)) ?? ""
        #expect(log.contains("bosun: fatal:") && log.contains("File too large"), "\(log)")
        #expect(acknowledged.count > 10 && acknowledged.count < 1000)

        cluster.fileSizeLimitBytes = nil
        cluster.start(1)
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "after") != nil)
        for name in acknowledged {
            let reply = HTTPTestClient.request("GET", port: cluster.port(1), path: "/api/v1/namespaces/default/configmaps/\(name)")
            #expect(reply?.status == 200, "acknowledged \(name) was lost")
        }
    }
}
