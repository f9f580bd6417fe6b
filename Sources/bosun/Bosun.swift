import Glibc
import Raft
import Runtime
import Synchronization

/// Set by SIGTERM/SIGINT; the event loop polls it.
let terminationRequested = Atomic<Bool>(false)

/// `bosun`: the master process, the local cluster launcher.
@main
struct Bosun {
    static let usage = """
        usage: bosun master --id ID --peers ID=HOST:PORT,... --api HOST:PORT --data-dir DIR
                            [--peer-bind HOST:PORT] [--api-peers ID=HOST:PORT,...] [--snapshot-entries N]
                            [--watch-history N] [--bookmark-seconds N] [--node-grace-seconds N]
               bosun agent --name NODE --masters URL,... [--data-dir DIR] [--address IP] [--port N]
                           [--capacity cpu=2,memory=4Gi,pods=110] [--labels K=V,...] [--taints K[=V]:EFFECT,...]
                           [--lease-seconds 1] [--backoff-seconds 10] [--runtime process|docker]
                   [--docker-socket /var/run/docker.sock] [--docker-network bridge]
               bosun up [--masters 3|5] [--agents 2] [--data-dir DIR] [--api-port 8080] [--peer-port 9080] [--agent-port 10251]
               bosun apply|create -f FILE|DIR|- [-n NS]
               bosun get TYPE [NAME...] [-o wide|json|yaml|name] [-l SELECTOR] [--field-selector F] [-n NS | -A] [-w]
               bosun describe TYPE NAME [-n NS]
               bosun delete (-f FILE | TYPE NAME... | TYPE/NAME) [-n NS] [--ignore-not-found]
               bosun scale deployment NAME --replicas N [-n NS]
               bosun logs POD [-c CONTAINER] [-f] [--tail N] [-p] [-n NS]
               bosun cluster status
        Every master and agent flag can also come from the environment: --data-dir from BOSUN_DATA_DIR, and so on.
        The other commands reach the masters named by --masters URL,... or BOSUN_MASTERS, else those in
        .bosun/cluster.json (written by bosun up), else http://127.0.0.1:8080; each moves to the next
        master when one does not answer. Exit status: 0 done, 1 refused by the server, 2 usage error.
        """

    static func main() {
        signal(SIGPIPE, SIG_IGN)
        // A write past a file size limit then fails with EFBIG, which stops the master with a
        // clear error, instead of killing it silently.
        signal(SIGXFSZ, SIG_IGN)
        // A parent may have spawned us with SIGTERM/SIGINT blocked (the mask is inherited).
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        var arguments = Array(CommandLine.arguments.dropFirst())
        let command = arguments.isEmpty ? "" : arguments.removeFirst()
        do {
            switch command {
            case "master": try runMaster(arguments)
            case "agent": try AgentCommand.run(arguments, environment: environment())
            case "up": try LocalCluster.run(arguments)
            case "apply", "create", "delete", "get", "describe", "scale", "logs", "cluster":
                exit(try ClientCommands.run(command, arguments, environment: environment()))
            case "help", "--help", "-h": print(usage)
            default: throw Flags.UsageError(message: command.isEmpty ? "say what to run" : "unknown command '\(command)'")
            }
        } catch let error as Flags.UsageError {
            fail("bosun: \(error)\n\(usage)", status: 2)
        } catch let error as CommandFailure {
            fail(error.message, status: error.status)
        } catch {
            fail("bosun: \(error)", status: 1)
        }
    }

    /// Prints a line and flushes at once, so it shows up in logs and pipes too.
    static func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    static func fail(_ message: String, status: Int32) -> Never {
        let bytes = Array((message + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(status)
    }

    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            pointer += 1
        }
        return result
    }

    static func runMaster(_ arguments: [String]) throws {
        let flags = try Flags(
            arguments, known: ["id", "peers", "api", "data-dir", "peer-bind", "api-peers", "snapshot-entries", "watch-history", "bookmark-seconds", "node-grace-seconds"],
            environment: environment())
        guard let id = UInt64(try flags.required("id")), id > 0 else { throw Flags.UsageError(message: "--id must be a positive integer") }
        let peers = try Flags.addressMap(try flags.required("peers"), flag: "peers")
        guard let own = peers.first(where: { $0.0.rawValue == id })?.1 else {
            throw Flags.UsageError(message: "--peers must include this master's own ID \(id)")
        }
        let api = try Flags.address(try flags.required("api"), flag: "api")
        let apiPeers = try flags.string("api-peers").map { text throws(Flags.UsageError) in try Flags.addressMap(text, flag: "api-peers") } ?? []
        let bind = try flags.string("peer-bind").map { text throws(Flags.UsageError) in try Flags.address(text, flag: "peer-bind") } ?? own
        let members = peers.map { peer in
            MasterServer.Member(id: peer.0, peer: peer.1, api: peer.0.rawValue == id ? api : apiPeers.first { $0.0 == peer.0 }?.1)
        }
        var options = MasterServer.Options(
            id: NodeID(id), members: members, peerListen: bind, api: api, dataDirectory: try flags.required("data-dir"))
        options.snapshotEveryEntries = UInt64(try flags.int("snapshot-entries", default: 10_000, allowed: 10...10_000_000))
        options.watchHistoryEvents = try flags.int("watch-history", default: 10_000, allowed: 1...10_000_000)
        options.bookmarkIntervalNs = UInt64(try flags.int("bookmark-seconds", default: 30, allowed: 1...3600)) * 1_000_000_000
        options.nodeGracePeriodNs = UInt64(try flags.int("node-grace-seconds", default: 5, allowed: 1...3600)) * 1_000_000_000

        let loop = try EventLoop()
        let master = try MasterServer(loop: loop, options: options)
        signal(SIGTERM) { _ in terminationRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in terminationRequested.store(true, ordering: .relaxed) }
        master.start()
        say("bosun master \(id): api http://\(api) peers \(bind)")
        watchForTermination(loop, master)
        loop.run()
    }

    /// On SIGTERM: hand leadership over if leading, give it a moment, stop, exit.
    static func watchForTermination(_ loop: EventLoop, _ master: MasterServer) {
        loop.schedule(afterNs: 50_000_000) {
            guard terminationRequested.load(ordering: .relaxed) else {
                watchForTermination(loop, master)
                return
            }
            let transferring = master.transferLeadershipAway()
            loop.schedule(afterNs: transferring ? 300_000_000 : 0) {
                master.stop()
                loop.stop()
            }
        }
    }
}
