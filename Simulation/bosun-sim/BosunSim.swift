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
        CrashReport.install(replay: command.replayCommand(seed: 0), jobs: command.jobs)
        DispatchQueue.concurrentPerform(iterations: command.jobs) { job in
            while true {
                let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < seeds.count else { return }
                CrashReport.running(seeds[k], job: job)
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

/// Names the seed that crashed the process. A trap inside one seed (a failed precondition, an
/// overflow) ends the whole batch; without this the batch would die without saying which seed
/// to replay. Each job records the seed it runs; a handler for the crash signals prints them with
/// only async-signal-safe calls, then exits with status 70.
enum CrashReport {
    /// One slot per job: the seed it runs, plus one (0: idle). Written by the jobs, read by the
    /// handler; a torn read at the instant of a crash only garbles the report.
    nonisolated(unsafe) static var slots = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    nonisolated(unsafe) static var slotCount = 0
    /// The replay command up to the seed, and after it.
    nonisolated(unsafe) static var replayHead: [UInt8] = []
    nonisolated(unsafe) static var replayTail: [UInt8] = []

    static func install(replay: String, jobs: Int) {
        slots = UnsafeMutablePointer<UInt64>.allocate(capacity: jobs)
        slots.initialize(repeating: 0, count: jobs)
        slotCount = jobs
        // `replay` is the command for seed 0: split it around that seed.
        let head = "swift run -c release bosun-sim --seed "
        precondition(replay.hasPrefix(head + "0"), "the replay command's form changed")
        replayHead = Array(head.utf8)
        replayTail = Array(replay.utf8.dropFirst(head.utf8.count + 1)) + [10]
        for signal in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT] {
            Glibc.signal(signal) { _ in CrashReport.report() }
        }
    }

    static func running(_ seed: UInt64, job: Int) {
        slots[job] = seed + 1
    }

    static func report() {
        let head = Array("bosun-sim: the process crashed; seeds being run, each replayed with:\n".utf8)
        _ = head.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
        for job in 0..<slotCount where slots[job] != 0 {
            var digits = [UInt8](repeating: 0, count: 20)
            var value = slots[job] - 1
            var count = 0
            repeat {
                digits[19 - count] = UInt8(48 + value % 10)
                value /= 10
                count += 1
            } while value > 0
            _ = replayHead.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
            _ = digits.withUnsafeBufferPointer { write(2, $0.baseAddress! + 20 - count, count) }
            _ = replayTail.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count) }
        }
        _exit(70)
    }
}
