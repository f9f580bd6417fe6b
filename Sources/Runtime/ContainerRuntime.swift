import Agent

/// What the agent's shell asks of a container runtime: the process runtime (the default) or the
/// Docker runtime. Starts report back later through `events()` (an image pull can take minutes),
/// so a runtime may do its work off the event loop; everything else is fire-and-forget, and what
/// came of it also shows up in `events()`.
public protocol ContainerRuntime: AnyObject {
    /// Starts a container; `.started`, `.failedToStart` or `.imagePullFailed` follows.
    func launch(_ launch: ContainerLaunch)
    /// Sends the container's processes a signal (no-op once it has ended).
    func signal(_ run: ContainerRun, _ signal: ContainerSignal)
    /// Forgets a container that will not run again, with its logs.
    func remove(_ run: ContainerRun)
    /// What happened since the last call, in order.
    func events() -> [ContainerEvent]
    /// What an earlier run of the agent left running (called once, before anything else).
    func adopt() -> [AdoptedContainer]
    /// A run's output from byte `offset` on (empty when there is none).
    func log(_ run: ContainerRun, from offset: Int) -> [UInt8]
    /// Housekeeping, every few seconds (the process runtime caps its logs here).
    func maintain()
    /// The address a container's ports are reached at, for probes.
    func address(of run: ContainerRun) -> String
    /// How to run an exec probe's command inside the container (safe on any thread: probes run
    /// on helper threads), or nil where commands run on the node itself (processes).
    func commandRunner(for run: ContainerRun) -> (@Sendable (_ command: [String], _ timeoutMs: Int32) -> Bool)?
    /// `containerRuntimeVersion` of the node's `nodeInfo`, as `process://` or `docker://20.10.24`.
    var version: String { get }
    /// Whether it reads images (entrypoint and cmd); without, a container needs a `command`.
    var hasImages: Bool { get }
}

/// What a runtime reports of a container.
public enum ContainerEvent: Sendable {
    case started(ContainerRun, id: String)
    case failedToStart(ContainerRun, message: String)
    case imagePullFailed(ContainerRun, message: String)
    case exited(ContainerRun, ContainerExit)
}
