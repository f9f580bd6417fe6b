import Glibc
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
        (["up", "--masters", "4"], "--masters must be 1, 3 or 5"),
        (["frobnicate"], "unknown command 'frobnicate'"),
    ])
    func badFlagsExitTwo(arguments: [String], message: String) throws {
        let (status, output) = try Self.run(arguments)
        #expect(status == 2)
        #expect(output.contains(message), "\(output)")
        #expect(output.contains("usage:"))
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
