import BosunSimulation
import Dispatch
import Glibc
import Raft
import Synchronization

/// `bosun-sim`: runs the deterministic simulation for a seed or a range of seeds.
@main
struct BosunSim {
    static func main() {
        let command: SimulatorCommand
        do {
            command = try SimulatorCommand(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            printError("bosun-sim: \(error)\n\(SimulatorCommand.usage)")
            exit(2)
        }
        switch command.mode {
        case .help:
            print(SimulatorCommand.usage)
        case .listBugs:
            for bug in PlantedBugs.named {
                print("\(bug.name)\t\(bug.summary)")
            }
        case .single(let seed):
            let start = wallNs()
            let report = Simulation(command.options(seed: seed)).run()
            let wall = wallNs() - start
            print(report.summaryLine)
            print("faults: \(report.faults)")
            if command.verbose || !report.passed {
                if let violation = report.violation { print("violation: \(violation)") }
                print(report.recentEvents.joined(separator: "\n"))
            }
            print("trace-hash: \(report.traceHash)")
            printTiming(simulatedNs: report.simulatedNs, wallNs: wall, seeds: 1)
            exit(report.passed ? 0 : 1)
        case .seeds(let range):
            runRange(range, command)
        }
    }

    static func runRange(_ range: ClosedRange<UInt64>, _ command: SimulatorCommand) {
        let seeds = Array(range)
        let start = wallNs()
        let reports = Mutex<[UInt64: SeedReport]>([:])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: command.jobs) { _ in
            while true {
                let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < seeds.count else { return }
                let report = Simulation(command.options(seed: seeds[k])).run()
                reports.withLock { $0[seeds[k]] = report }
            }
        }
        let wall = wallNs() - start
        let all = reports.withLock { map in seeds.map { map[$0]! } }
        var failed = 0
        var simulated: UInt64 = 0
        for report in all {
            simulated += report.simulatedNs
            if command.verbose { print(report.summaryLine) }
            if !report.passed {
                failed += 1
                print(report.failureText(replay: command.replayCommand(seed: report.seed)))
            }
        }
        printTiming(simulatedNs: simulated, wallNs: wall, seeds: seeds.count)
        print("\(seeds.count - failed) passed, \(failed) failed")
        exit(failed == 0 ? 0 : 1)
    }

    static func printTiming(simulatedNs: UInt64, wallNs: UInt64, seeds: Int) {
        let sim = Double(simulatedNs) / 1e9
        let wall = max(Double(wallNs) / 1e9, 1e-9)
        let perMinute = Double(seeds) / wall * 60
        print("simulated \(format(sim))s in \(format(wall))s wall: \(format(sim / wall))x real time, \(format(perMinute)) seeds/min")
    }

    static func format(_ x: Double) -> String {
        let scaled = Int(x * 10 + 0.5)
        return "\(scaled / 10).\(scaled % 10)"
    }

    static func wallNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func printError(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
    }
}
