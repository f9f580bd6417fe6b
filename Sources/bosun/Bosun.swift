import Glibc
import Raft
import Runtime
import Synchronization

/// Set by SIGTERM/SIGINT; the event loop polls it.
let terminationRequested = Atomic<Bool>(false)

/// `bosun`: the master and agent processes, the local cluster supervisor, and the CLI.
@main
struct Bosun {
    /// Each command's synopsis, in the order `bosun help` prints them.
    static let synopses: [(commands: [String], text: String)] = [
        (["master"], """
            bosun master --id ID --peers ID=HOST:PORT,... --api HOST:PORT --data-dir DIR
                         [--peer-bind HOST:PORT] [--api-peers ID=HOST:PORT,...] [--snapshot-entries N]
                         [--watch-history N] [--bookmark-seconds N] [--node-grace-seconds N]
                         [--toleration-seconds N]
            """),
        (["agent"], """
            bosun agent --name NODE --masters URL,... [--data-dir DIR] [--address IP|NAME] [--port N]
                        [--capacity cpu=2,memory=4Gi,pods=110] [--labels K=V,...] [--taints K[=V]:EFFECT,...]
                        [--lease-seconds 1] [--backoff-seconds 10] [--runtime process|docker]
                        [--docker-socket /var/run/docker.sock] [--docker-network bridge]
            """),
        (["up"], "bosun up [--master-count 1|3|5] [--agents 2] [--data-dir DIR] [--api-port 8080] [--peer-port 9080] [--agent-port 10251]"),
        (["stop", "start"], "bosun stop|start master|agent N [--data-dir DIR]"),
        (["apply", "create"], "bosun apply|create -f FILE|DIR|- [-n NS]"),
        (["get"], "bosun get TYPE[,TYPE...] [NAME...] [-o wide|json|yaml|name] [-l SELECTOR] [--field-selector F] [-n NS | -A] [-w]"),
        (["describe"], "bosun describe TYPE NAME [-n NS]"),
        (["delete"], "bosun delete (-f FILE | TYPE NAME... | TYPE/NAME) [-n NS] [--ignore-not-found]"),
        (["scale"], "bosun scale deployment NAME --replicas N [-n NS]"),
        (["logs"], "bosun logs POD [-c CONTAINER] [-f] [--tail N] [-p] [-n NS]"),
        (["cluster"], "bosun cluster status"),
        (["version"], "bosun version"),
    ]

    static let footer = """
        Every master and agent flag can also come from the environment: --data-dir from BOSUN_DATA_DIR, and so on.
        The other commands reach the masters named by --masters URL,... or BOSUN_MASTERS, else those in
        .bosun/cluster.json (written by bosun up), else http://127.0.0.1:8080; each moves to the next
        master when one does not answer, for up to --retry-seconds (10). Global flags (--masters,
        --data-dir, --retry-seconds, -n) go before or after the command.
        Exit status: 0 done, 1 refused by the server, 2 usage error.
        """

    /// The usage of every command.
    static var usage: String {
        "usage: " + synopses.map { $0.text.replacingNewlines(indent: "       ") }.joined(separator: "\n       ") + "\n" + footer
    }

    /// The usage of `command` alone, or of all when it is not one.
    static func usage(of command: String) -> String {
        guard let synopsis = synopses.first(where: { $0.commands.contains(command) }) else { return usage }
        return "usage: " + synopsis.text.replacingNewlines(indent: "       ") + "\n(bosun help prints every command)"
    }

    static var commands: [String] { synopses.flatMap(\.commands) + ["help"] }

    /// Flags of the client commands that take a value, moved from before the command to after it.
    static let globalValueFlags: Set<String> = ["--masters", "--data-dir", "--retry-seconds", "-n", "--namespace"]

    /// The command and its arguments, with global flags typed before the command moved after it
    /// (`bosun --masters URL get pods`).
    static func splitCommand(_ words: [String]) -> (command: String, arguments: [String]) {
        var rest = words
        var leading: [String] = []
        while let first = rest.first, first.hasPrefix("-"), !["-h", "--help", "--version"].contains(first) {
            leading.append(rest.removeFirst())
            if globalValueFlags.contains(first), !rest.isEmpty { leading.append(rest.removeFirst()) }
        }
        let command = rest.isEmpty ? "" : rest.removeFirst()
        return (command, rest + leading)
    }

    /// "unknown command 'aply'; did you mean 'apply'?"
    static func unknown(_ what: String, _ word: String, among known: [String]) -> String {
        let close = known.map { ($0, editDistance($0, word)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        return "unknown \(what) '\(word)'" + (close.map { "; did you mean '\($0.0)'?" } ?? "")
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }

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
        let (command, arguments) = splitCommand(Array(CommandLine.arguments.dropFirst()))
        if commands.contains(command), command != "help", arguments.contains(where: { $0 == "--help" || $0 == "-h" }) {
            print(usage(of: command))
            exit(0)
        }
        do {
            switch command {
            case "master": try runMaster(arguments)
            case "agent": try AgentCommand.run(arguments, environment: environment())
            case "up": try LocalCluster.run(arguments)
            case "stop", "start": try LocalCluster.control(command, arguments, environment: environment())
            case "apply", "create", "delete", "get", "describe", "scale", "logs", "cluster":
                exit(try ClientCommands.run(command, arguments, environment: environment()))
            case "version", "--version": exit(try ClientCommands.run("version", arguments, environment: environment()))
            case "help", "--help", "-h": print(arguments.first.map { usage(of: $0) } ?? usage)
            default: throw Flags.UsageError(message: command.isEmpty ? "say what to run" : unknown("command", command, among: commands))
            }
        } catch let error as Flags.UsageError {
            fail("bosun: \(error)\n\(usage(of: command))", status: 2)
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
            arguments, known: ["id", "peers", "api", "data-dir", "peer-bind", "api-peers", "snapshot-entries", "watch-history", "bookmark-seconds", "node-grace-seconds",
                        "toleration-seconds"],
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
        options.defaults.tolerationSeconds = try flags.int("toleration-seconds", default: 30, allowed: 0...86_400)

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

extension String {
    /// The text with `indent` after each newline (a multi-line synopsis under "usage: ").
    func replacingNewlines(indent: String) -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n" + indent)
    }
}
