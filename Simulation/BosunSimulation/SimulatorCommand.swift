import Raft

/// Parses the simulator's command line. Kept in the library so it is tested like everything else.
public struct SimulatorCommand: Equatable, Sendable {
    public enum Mode: Equatable, Sendable {
        case seeds(ClosedRange<UInt64>)
        case single(UInt64)
        case listBugs
        case help
    }

    public var mode: Mode = .help
    public var nodes = 3
    public var bugs: PlantedBugs = []
    public var faultSeconds: UInt64 = 30
    public var jobs = 1
    public var searchCheck = true
    public var verbose = false
    public var printEvents = false
    /// Run the control-plane world too (node agents, operators, their oracles): the default.
    public var controlPlane = true

    public static let usage = """
        usage: bosun-sim --seeds A-B [--nodes 3|5] [--bug NAME] [--jobs N] [--fault-seconds S] [--no-search] [--raft-only]
               bosun-sim --seed S [--nodes 3|5] [--bug NAME] [--fault-seconds S] [--raft-only] [--verbose] [--print-events]
               bosun-sim --list-bugs
        --raft-only: masters and their API clients only, without node agents and operators.
        """

    /// A usage error, with the message to print.
    public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public init(arguments: [String]) throws(UsageError) {
        var rest = arguments[...]
        func value(_ flag: String) throws(UsageError) -> String {
            guard let v = rest.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
            return v
        }
        func number(_ flag: String, _ text: String) throws(UsageError) -> UInt64 {
            guard let n = UInt64(text) else { throw UsageError(message: "\(flag): '\(text)' is not a non-negative integer") }
            return n
        }
        var sawMode = false
        while let flag = rest.popFirst() {
            switch flag {
            case "--seeds":
                let text = try value(flag)
                let parts = text.split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]), a <= b else {
                    throw UsageError(message: "--seeds: '\(text)' is not a range A-B with A <= B")
                }
                mode = .seeds(a...b)
                sawMode = true
            case "--seed":
                mode = .single(try number(flag, try value(flag)))
                sawMode = true
            case "--list-bugs":
                mode = .listBugs
                sawMode = true
            case "--help", "-h":
                mode = .help
                sawMode = true
            case "--nodes":
                let n = try number(flag, try value(flag))
                guard n == 3 || n == 5 else { throw UsageError(message: "--nodes: must be 3 or 5, not \(n)") }
                nodes = Int(n)
            case "--bug":
                let name = try value(flag)
                guard let bug = PlantedBugs.named.first(where: { $0.name == name }) else {
                    throw UsageError(message: "--bug: unknown bug '\(name)' (see --list-bugs)")
                }
                bugs.insert(bug.bug)
            case "--jobs":
                let n = try number(flag, try value(flag))
                guard (1...64).contains(n) else { throw UsageError(message: "--jobs: must be 1...64") }
                jobs = Int(n)
            case "--fault-seconds":
                let n = try number(flag, try value(flag))
                guard (1...3600).contains(n) else { throw UsageError(message: "--fault-seconds: must be 1...3600") }
                faultSeconds = n
            case "--no-search":
                searchCheck = false
            case "--raft-only":
                controlPlane = false
            case "--verbose", "-v":
                verbose = true
            case "--print-events":
                printEvents = true
            default:
                throw UsageError(message: "unknown argument '\(flag)'")
            }
        }
        if !sawMode { throw UsageError(message: "say --seeds A-B, --seed S or --list-bugs") }
    }

    public func options(seed: UInt64) -> SimulationOptions {
        var o = SimulationOptions(seed: seed, nodes: nodes, bugs: bugs, controlPlane: controlPlane)
        o.faultDurationNs = faultSeconds * 1_000_000_000
        o.searchCheck = searchCheck
        o.printEvents = printEvents
        return o
    }

    /// The one command that replays `seed` as this command ran it.
    public func replayCommand(seed: UInt64) -> String {
        var words = ["swift run -c release bosun-sim --seed \(seed) --nodes \(nodes)"]
        for bug in PlantedBugs.named where bugs.contains(bug.bug) { words.append("--bug \(bug.name)") }
        if faultSeconds != 30 { words.append("--fault-seconds \(faultSeconds)") }
        return words.joined(separator: " ")
    }
}

extension SeedReport {
    /// What to print for a failed seed: the invariant, the faults, the last events, the replay command.
    public func failureText(replay: String) -> String {
        var lines = ["seed \(seed) FAILED (\(nodes) nodes): \(violation.map { "\($0)" } ?? "")"]
        lines.append("  faults: \(faults)")
        lines.append("  last events:")
        lines += recentEvents.suffix(24).map { "    \($0)" }
        lines.append("  replay: \(replay)")
        return lines.joined(separator: "\n")
    }

    public var summaryLine: String {
        let s = stats
        return "seed \(seed): \(passed ? "ok" : "FAILED") sim=\(Simulation.formatTime(simulatedNs)) events=\(events) "
            + "elections=\(s.elections) committed=\(s.committedEntries) ops=\(s.clientOperations) crashes=\(s.crashes) "
            + "partitions=\(s.partitions) pauses=\(s.pauses) snapshots=\(s.snapshotsInstalled) torn=\(s.tornTails) "
            + "watch-events=\(s.watchEvents) watch-resumes=\(s.watchResumes) relists=\(s.watchRelists) transfers=\(s.transfers) isolations=\(s.isolations) "
            + "agent-stops=\(s.agentStops) agent-pauses=\(s.agentPauses) agent-cuts=\(s.agentCuts) agent-watch-events=\(s.agentWatchEvents) pods-bound=\(s.podsBound)"
    }
}
