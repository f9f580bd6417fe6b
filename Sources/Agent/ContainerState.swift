import Master

/// A container's termination, as its status reports it.
struct Termination: Equatable {
    var exitCode: Int
    var reason: String
    var message: String?
    var startedAt: String?
    var finishedAt: String
    var containerID: String?

    var json: JSON {
        var t: JSON = ["exitCode": .number(exitCode), "reason": .string(reason), "finishedAt": .string(finishedAt)]
        if let startedAt { t["startedAt"] = .string(startedAt) }
        if let message { t["message"] = .string(message) }
        if let containerID { t["containerID"] = .string(containerID) }
        return t
    }
}

/// One probe's progress on the current run of a container.
struct ProbeState {
    var spec: ProbeSpec
    var dueNs: UInt64
    var inFlight = false
    var successes = 0
    var failures = 0
    /// The verdict after its thresholds: nil until the first verdict.
    var passing: Bool?

    init(_ spec: ProbeSpec, runningSinceNs: UInt64) {
        self.spec = spec
        dueNs = runningSinceNs + spec.initialDelayNs
    }

    mutating func record(_ success: Bool) {
        inFlight = false
        if success {
            successes += 1
            failures = 0
            if successes >= spec.successThreshold { passing = true }
        } else {
            failures += 1
            successes = 0
            if failures >= spec.failureThreshold { passing = false }
        }
    }
}

/// What the agent knows of one container of a pod: its process, its history, its probes.
struct ContainerState {
    enum Process: Equatable {
        case none
        case starting(attempt: Int)
        case running(attempt: Int, id: String, startedAt: String, sinceNs: UInt64)
    }

    var name: String
    var process: Process = .none
    /// The number of the next start (0 first).
    var nextAttempt = 0
    var restartCount = 0
    /// Why it is not running yet (shown as `waiting`), when it never ran or cannot start.
    var waiting: (reason: String, message: String?)? = ("ContainerCreating", nil)
    var lastTermination: Termination?
    var previousTermination: Termination?
    /// Whether it will run again: false once it ended for good (by the restart policy, or the pod stopping).
    var finished = false
    /// A restart waits for its back-off until then.
    var restartAtNs: UInt64?
    var backoffNs: UInt64 = 0
    /// The stop signals already sent to the current run, and when the kill is due.
    var terminateSent = false
    var killAtNs: UInt64?
    var startup: ProbeState?
    var liveness: ProbeState?
    var readiness: ProbeState?

    init(name: String) { self.name = name }

    var attempt: Int? {
        switch process {
        case .none: nil
        case .starting(let attempt), .running(let attempt, _, _, _): attempt
        }
    }

    var isRunning: Bool { if case .running = process { true } else { false } }
    /// Started, as the status's `started`: running and past its startup probe.
    var started: Bool { isRunning && (startup == nil || startup?.passing == true) }
    var ready: Bool { started && (readiness == nil || readiness?.passing == true) }

    mutating func started(id: String, at time: AgentCore.Time, spec: ContainerSpec?) {
        guard case .starting(let attempt) = process else { return }
        process = .running(attempt: attempt, id: id, startedAt: AgentCore.timestamp(time.wallNs), sinceNs: time.monotonicNs)
        waiting = nil
        startup = spec?.startup.map { ProbeState($0, runningSinceNs: time.monotonicNs) }
        liveness = spec?.liveness.map { ProbeState($0, runningSinceNs: time.monotonicNs) }
        readiness = spec?.readiness.map { ProbeState($0, runningSinceNs: time.monotonicNs) }
    }

    /// Returns how long it ran (nothing), or nil when the event was not about its current run.
    mutating func failedToStart(message: String, at time: AgentCore.Time) -> UInt64? {
        guard case .starting = process else { return nil }
        defer { ended(Termination(exitCode: 128, reason: "StartError", message: message, startedAt: nil, finishedAt: AgentCore.timestamp(time.wallNs))) }
        return 0
    }

    /// Returns how long the run lasted, or nil when it was not running. A run may end before
    /// its start was reported (a stop signal got there first).
    mutating func exited(_ exit: ContainerExit, at time: AgentCore.Time) -> UInt64? {
        let reason = exit.unknown ? "ContainerStatusUnknown" : exit.oomKilled ? "OOMKilled" : exit.code == 0 ? "Completed" : "Error"
        let finishedAt = AgentCore.timestamp(time.wallNs)
        switch process {
        case .none: return nil
        case .starting:
            ended(Termination(exitCode: exit.code, reason: reason, message: nil, startedAt: nil, finishedAt: finishedAt))
            return 0
        case .running(_, let id, let startedAt, let sinceNs):
            ended(Termination(exitCode: exit.code, reason: reason, message: nil, startedAt: startedAt, finishedAt: finishedAt, containerID: id))
            return time.monotonicNs - sinceNs
        }
    }

    private mutating func ended(_ termination: Termination) {
        process = .none
        previousTermination = lastTermination
        lastTermination = termination
        waiting = nil
        terminateSent = false
        killAtNs = nil
        startup = nil
        liveness = nil
        readiness = nil
    }

    /// The status's `state` and `lastState`.
    func states(backoffMessage: String?) -> (state: JSON, last: JSON) {
        func terminated(_ t: Termination?) -> JSON { t.map { ["terminated": $0.json] } ?? [:] }
        switch process {
        case .running(_, _, let startedAt, _):
            return (["running": ["startedAt": .string(startedAt)]], terminated(lastTermination))
        case .starting:
            return (["waiting": ["reason": "ContainerCreating"]], terminated(lastTermination))
        case .none:
            if let waiting {
                var w: JSON = ["reason": .string(waiting.reason)]
                if let message = waiting.message { w["message"] = .string(message) }
                return (["waiting": w], terminated(lastTermination))
            }
            if !finished, let backoffMessage {
                return (["waiting": ["reason": "CrashLoopBackOff", "message": .string(backoffMessage)]], terminated(lastTermination))
            }
            if let lastTermination { return (terminated(lastTermination), terminated(previousTermination)) }
            return (["waiting": ["reason": "ContainerCreating"]], [:])
        }
    }
}
