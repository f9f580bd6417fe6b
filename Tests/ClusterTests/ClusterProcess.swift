import Glibc
import Synchronization

/// A cluster of real `bosun master` processes on 127.0.0.1 for tests: free ports, a temporary
/// data directory per master, kill with any signal, restart on the same directory.
final class ClusterProcess {
    let binary: String
    let root: String
    let count: Int
    let apiPorts: [UInt16]
    let peerPorts: [UInt16]
    let extra: [String]
    var pids: [Int: pid_t] = [:]
    /// When set, masters start under `prlimit --fsize`: a write past this many bytes fails (EFBIG),
    /// as a full disk would make it fail.
    var fileSizeLimitBytes: Int?
    /// Whether masters are told each other's API addresses (`--api-peers`); without it they learn
    /// them from the peer handshakes.
    var apiPeers = true

    /// The `bosun` executable next to the test bundle (built by `swift build`).
    static func findBinary() -> String? {
        let bundle = CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0]
        var dir = bundle
        while let slash = dir.lastIndex(of: "/"), !dir.isEmpty {
            dir = String(dir[..<slash])
            let candidate = dir + "/bosun"
            if access(candidate, X_OK) == 0 { return candidate }
            if dir.hasSuffix("/.build") { break }
        }
        return nil
    }

    /// Blocks handed out in this process: tests run in parallel, and a block free now is free for
    /// every test that checks it until its masters bind it.
    static let handedOut = Mutex<Set<UInt16>>([])

    /// The first of 20 consecutive free ports, below the kernel's ephemeral range (where every
    /// outgoing connection takes its port), so a cluster on consecutive ports does not collide
    /// with the other tests' clusters or connections.
    static func freePortBlock() -> UInt16 {
        while true {
            let base = UInt16.random(in: 20_000...30_000) / 20 * 20
            guard handedOut.withLock({ $0.insert(base).inserted }) else { continue }
            let fds = (base..<base + 20).map { port -> Int32 in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = port.bigEndian
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                if bound != 0 {
                    close(fd)
                    return -1
                }
                return fd
            }
            fds.filter { $0 >= 0 }.forEach { close($0) }
            if !fds.contains(-1) { return base }
        }
    }

    init(binary: String, count: Int, extra: [String] = []) {
        self.binary = binary
        self.count = count
        self.extra = extra
        var template = Array("/tmp/bosun-cluster-XXXXXX".utf8CString)
        root = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        // Below the ephemeral range: a port `freePort` found may be taken by any outgoing
        // connection before the master binds it, and the master then exits.
        let base = ClusterProcess.freePortBlock()
        apiPorts = (0..<count).map { base + UInt16($0) }
        peerPorts = (0..<count).map { base + 10 + UInt16($0) }
    }

    deinit {
        for pid in pids.values { kill(pid, SIGKILL); waitpid(pid, nil, 0) }
        _ = system("rm -rf '\(root)'")
    }

    func start(_ id: Int) {
        let peers = (1...count).map { "\($0)=127.0.0.1:\(peerPorts[$0 - 1])" }.joined(separator: ",")
        let apis = (1...count).map { "\($0)=127.0.0.1:\(apiPorts[$0 - 1])" }.joined(separator: ",")
        let limit = fileSizeLimitBytes.map { ["/usr/bin/prlimit", "--fsize=\($0)"] } ?? []
        let args = limit + [binary, "master", "--id", "\(id)", "--peers", peers, "--api", "127.0.0.1:\(apiPorts[id - 1])",
            "--data-dir", "\(root)/m\(id)"] + (apiPeers ? ["--api-peers", apis] : []) + extra
        pids[id] = Self.spawn(args, log: "\(root)/m\(id).log")
    }

    /// Starts `args` as a child process with its output appended to `log`, with default signal
    /// dispositions and no blocked signal, as a shell would start it (the test runner blocks or
    /// ignores some).
    static func spawn(_ args: [String], log: String) -> pid_t {
        var pid: pid_t = 0
        var cArgs = args.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        precondition(posix_spawn(&pid, args[0], &actions, &attributes, &cArgs, environ) == 0)
        posix_spawnattr_destroy(&attributes)
        posix_spawn_file_actions_destroy(&actions)
        return pid
    }

    func startAll() { (1...count).forEach(start) }

    func signal(_ id: Int, _ signal: Int32) {
        guard let pid = pids[id] else { return }
        kill(pid, signal)
        if signal == SIGKILL || signal == SIGTERM {
            waitpid(pid, nil, 0)
            pids[id] = nil
        }
    }

    func port(_ id: Int) -> UInt16 { apiPorts[id - 1] }

    /// `/cluster/status` of master `id`, as a flat dictionary of its scalar fields.
    func status(_ id: Int) -> [String: String]? {
        guard let reply = HTTPTestClient.request("GET", port: port(id), path: "/cluster/status"), reply.status == 200 else { return nil }
        var result: [String: String] = [:]
        for key in ["role", "leader", "term", "commitIndex", "appliedIndex"] {
            guard let range = reply.body.firstRange(of: "\"\(key)\":") else { continue }
            let rest = reply.body[range.upperBound...]
            result[key] = String(rest.prefix { $0 != "," && $0 != "}" }).filter { $0 != "\"" }
        }
        return result
    }

    /// The id of the master that says it leads, waiting up to `timeoutMs`.
    func leader(among ids: [Int], timeoutMs: Int = 5000) -> Int? {
        for _ in 0..<(timeoutMs / 50) {
            if let id = ids.first(where: { status($0)?["role"] == "leader" }) { return id }
            usleep(50_000)
        }
        return nil
    }
}

/// A blocking HTTP/1.1 client for tests: one request per connection, with timeouts.
enum HTTPTestClient {
    static func request(
        _ method: String, port: UInt16, path: String, body: String? = nil, contentType: String? = nil, timeoutMs: Int = 3000
    ) -> (status: Int, body: String)? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        let payload = Array((body ?? "").utf8)
        let type = contentType.map { "Content-Type: \($0)\r\n" } ?? ""
        let head = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\(type)Content-Length: \(payload.count)\r\n\r\n"
        let bytes = Array(head.utf8) + payload
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        guard let end = find([13, 10, 13, 10], in: received) else { return nil }
        let responseHead = String(decoding: received[..<end], as: UTF8.self)
        guard let status = responseHead.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        var body = Array(received[(end + 4)...])
        if responseHead.lowercased().contains("transfer-encoding: chunked") {
            let (bytes, ended) = takeChunks(&body)
            guard ended else { return nil }
            body = bytes
        }
        return (status, String(decoding: body, as: UTF8.self))
    }

    /// Takes the complete chunks at the front of `raw`, a chunked body: their bytes, and whether
    /// the last (empty) chunk was among them.
    static func takeChunks(_ raw: inout [UInt8]) -> (bytes: [UInt8], ended: Bool) {
        var bytes: [UInt8] = []
        var start = 0
        defer { raw.removeFirst(start) }
        while let lineEnd = find([13, 10], in: raw, from: start),
            let size = Int(String(decoding: raw[start..<lineEnd], as: UTF8.self), radix: 16)
        {
            guard raw.count >= lineEnd + 2 + size + 2 else { break }
            bytes += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
            start = lineEnd + 2 + size + 2
            if size == 0 { return (bytes, true) }
        }
        return (bytes, false)
    }

    /// Where `needle` first occurs in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int = 0) -> Int? {
        guard haystack.count - from >= needle.count else { return nil }
        for i in from...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}
