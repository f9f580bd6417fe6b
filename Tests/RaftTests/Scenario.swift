@testable import Raft
import Testing

/// Scenario transcripts in the manner of etcd-io/raft's datadriven tests: one command per line,
/// run against a `TestCluster`, with `expect` lines stating roles, terms, logs, commit indexes and
/// delivered messages.
///
///     config prevote=on checkquorum=off electionticks=10 appendbytes=65536 chunkbytes=1024
///            snapshotevery=N     (the hosts snapshot every N applied entries; 0: by hand)
///     nodes 1 2 3                start the cluster (after any config line)
///     campaign N                 N starts an election now
///     tick N [count]             N's logical clock advances
///     timeout N                  ticks N past any election timeout
///     tickall count              every live node ticks `count` times, one round at a time
///     deliver [count]            deliver until the network is quiet (or `count` messages)
///     drop                       lose every message in flight
///     partition 1 2 | 3          cut every link between the groups
///     isolate N / heal
///     crash N / restart N        a restart recovers exactly what was persisted
///     propose N TEXT             expect success; `propose! N TEXT` expects a refusal
///     transfer N M               N hands leadership to M
///     compact N                  N snapshots its applied state and drops its log
///     expect role N leader|follower|candidate|preCandidate
///     expect term N T / expect commit N C / expect leader N M|none
///     expect log N T/I T/I ...   N's in-memory log after its snapshot
///     expect snapshot N I        N's latest snapshot is at index I
///     expect delivered TEXT      some message in the last deliver matched TEXT
///     expect notdelivered TEXT   none did
///     expect leaders K           number of nodes that believe they lead
struct Scenario {
    var cluster: TestCluster?
    var config = RaftConfig()
    var snapshotEveryEntries: UInt64 = 0

    static func run(_ script: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var scenario = Scenario()
        for (number, raw) in script.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(separator: " ").map(String.init)
            guard !words.isEmpty else { continue }
            if let failure = scenario.step(words) {
                Issue.record("line \(number + 1): `\(raw.trimmingPrefix(" "))`: \(failure)", sourceLocation: sourceLocation)
                return
            }
        }
    }

    /// Runs one command; returns a failure message, or nil.
    mutating func step(_ words: [String]) -> String? {
        let args = Array(words.dropFirst())
        let n = args.first.flatMap { UInt64($0) } ?? 0
        switch words[0] {
        case "config":
            for setting in args {
                let kv = setting.split(separator: "=").map(String.init)
                guard kv.count == 2 else { return "bad setting \(setting)" }
                switch kv[0] {
                case "prevote": config.preVote = kv[1] == "on"
                case "checkquorum": config.checkQuorum = kv[1] == "on"
                case "electionticks": config.electionTicks = Int(kv[1])!
                case "appendbytes": config.maxAppendBytes = Int(kv[1])!
                case "chunkbytes": config.snapshotChunkBytes = Int(kv[1])!
                case "inflight": config.maxInflightAppends = Int(kv[1])!
                case "snapshotevery": snapshotEveryEntries = UInt64(kv[1])!
                case "bug": config.plantedBugs.insert(PlantedBugs.named.first { $0.name == kv[1] }!.bug)
                default: return "unknown setting \(kv[0])"
                }
            }
            return nil
        case "nodes":
            cluster = TestCluster(args.compactMap { UInt64($0) }, config: config, snapshotEveryEntries: snapshotEveryEntries)
            return nil
        default:
            break
        }
        guard var c = cluster else { return "no nodes yet" }
        defer { cluster = c }
        switch words[0] {
        case "campaign": c.campaign(n)
        case "tick": c.tick(n, times: args.count > 1 ? Int(args[1])! : 1)
        case "timeout": c.timeOut(n)
        case "tickall":
            for _ in 0..<Int(args[0])! { for id in c.ids where c.hosts[id] != nil { c.tick(id.rawValue) } }
        case "deliver": c.deliver(limit: args.first.flatMap { Int($0) } ?? 100_000)
        case "drop": c.dropAll()
        case "partition":
            c.partition(args.split(separator: "|").map { $0.compactMap { UInt64($0) } })
        case "isolate": c.isolate(n)
        case "heal": c.heal()
        case "crash": c.crash(n)
        case "restart": c.restart(n)
        case "propose":
            do { try c.propose(n, args.dropFirst().joined(separator: " ")) } catch { return "proposal refused: \(error)" }
        case "propose!":
            do {
                try c.propose(n, args.dropFirst().joined(separator: " "))
                return "proposal accepted, expected a refusal"
            } catch {}
        case "transfer": c.with(n) { $0.transferLeadership(to: NodeID(UInt64(args[1])!)) }
        case "compact":
            c.with(n) { node in
                let size = 2048
                node.compact(through: node.appliedIndex, data: (0..<size).map { UInt8($0 % 251) })
            }
            let node = c[n]
            var disk = c.storage[NodeID(n)]!
            disk.snapshot = node.latestSnapshot
            disk.entries.removeAll { $0.index <= node.snapshotIndex }
            c.storage[NodeID(n)] = disk
        case "expect":
            return expect(c, args)
        default:
            return "unknown command \(words[0])"
        }
        return nil
    }

    func expect(_ c: TestCluster, _ args: [String]) -> String? {
        let what = args[0]
        let rest = Array(args.dropFirst())
        let n = rest.first.flatMap { UInt64($0) } ?? 0
        func check(_ actual: String, _ expected: String) -> String? {
            actual == expected ? nil : "expected \(what) \(expected), got \(actual)"
        }
        switch what {
        case "role": return check(c[n].role.rawValue, rest[1])
        case "term": return check("\(c[n].term)", rest[1])
        case "commit": return check("\(c[n].commitIndex)", rest[1])
        case "leader": return check(c[n].leader.map { "\($0.rawValue)" } ?? "none", rest[1])
        case "log": return check(c.logWords(n), rest.dropFirst().joined(separator: " "))
        case "leaders": return check("\(c.leaders().count)", rest[0])
        case "snapshot": return check("\(c[n].snapshotIndex)", rest[1])
        case "delivered", "notdelivered":
            let text = rest.joined(separator: " ")
            let found = c.lastDelivered.contains { $0.contains(text) }
            if found == (what == "delivered") { return nil }
            return "\(what) '\(text)' in: \(c.lastDelivered.joined(separator: "; "))"
        default: return "unknown expectation \(what)"
        }
    }
}
