import Raft

/// A deterministic core built around a `RaftHost`, whose Raft I/O a driver carries out: the host
/// itself, or a larger core (the master's) that owns one and adds outputs of its own. The real
/// `RaftDriver` runs any of them; the core's own outputs go back to the driver's owner.
public protocol HostedCore {
    associatedtype Machine: ReplicatedStateMachine
    associatedtype Output

    /// The Ready loop inside (read it; change it only through the core's inputs).
    var host: RaftHost<Machine> { get }

    /// One logical tick; `nowNs` is the wall clock (ns since the epoch) for what needs the date.
    mutating func tick(nowNs: UInt64)
    mutating func step(_ message: Message)
    /// Hands out whatever is ready.
    mutating func process() -> [Output]
    mutating func persisted(_ token: UInt64) -> [Output]
    mutating func snapshotWritten(_ metadata: SnapshotMetadata, data: [UInt8]) -> [Output]
    mutating func fail(_ message: String) -> [Output]
    /// Work the core does in steps (long lists) and has not finished: call `process()` again
    /// once other events have been served.
    var hasPendingWork: Bool { get }

    /// The Raft I/O an output asks for (send, persist, snapshot files, fatal), or nil for an
    /// output that is the core's own business.
    static func raftIO(_ output: Output) -> RaftHost<Machine>.Output?
}

extension RaftHost: HostedCore {
    public var host: RaftHost<Machine> { self }

    public mutating func tick(nowNs: UInt64) { tick() }

    public var hasPendingWork: Bool { false }

    public static func raftIO(_ output: Output) -> Output? {
        switch output {
        case .send, .persist, .captureSnapshot, .adoptSnapshot, .discardSnapshot, .fatal: output
        case .softState, .restored, .applied, .readReady: nil
        }
    }
}
