import Foundation
import Glibc
import Host
import Raft

/// Runs a core built around a `RaftHost` for real: ticks from the event loop's clock, batches
/// made durable in the write-ahead log (synchronously, one fdatasync per batch), messages over the
/// peer transport, snapshots encoded and written on a helper thread. The core decides; this class
/// only carries out its Raft I/O, as the simulator does against its simulated disk and network,
/// and hands the core's other outputs to `onOutput`.
///
/// A disk error stops the node through `onFatal`: nothing that is not durable is ever acknowledged.
public final class RaftDriver<Core: HostedCore> {
    public typealias Machine = Core.Machine

    /// Tunables.
    public struct Options: Sendable {
        public var transport: PeerTransport.Options
        public var dataDirectory: String
        public var raft = RaftConfig()
        /// Wall-clock length of one logical tick.
        public var tickNs: UInt64 = 10_000_000
        /// Take a snapshot (and compact the log) after this many applied entries.
        public var snapshotEveryEntries: UInt64 = 10_000
        public var wal = WriteAheadLog.Options()

        public init(transport: PeerTransport.Options, dataDirectory: String) {
            self.transport = transport
            self.dataDirectory = dataDirectory
        }
    }

    let loop: EventLoop
    let options: Options
    let wal: WriteAheadLog
    public let transport: PeerTransport
    /// The core. Change it only on the loop, then call `processSoon()` or `process()`.
    public var core: Core
    private var tickTimer: UInt64?
    private var stopped = false
    /// Called with each output of the core that is not Raft I/O, in order.
    public var onOutput: (Core.Output) -> Void = { _ in }
    /// Called once when the node must stop (a disk failure or corruption); the default exits.
    public var onFatal: (String) -> Void = { message in
        let text = Array("bosun: fatal: \(message)\n".utf8)
        _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
    private var processScheduled = false
    /// How long each fdatasync of a Ready batch took.
    public private(set) var fsyncLatency = Histogram()
    /// Snapshots written here and snapshots installed from a leader.
    public private(set) var snapshotsWritten: UInt64 = 0
    public private(set) var snapshotsInstalled: UInt64 = 0

    /// Opens the data directory and recovers the log; `empty` is the state machine before any
    /// entry, restored from the recovered snapshot if there is one; `makeCore` builds the core
    /// around the host. Join the cluster with `start`.
    public init(loop: EventLoop, options: Options, empty: Machine, makeCore: (RaftHost<Machine>) -> Core) throws {
        self.loop = loop
        self.options = options
        let (wal, state) = try WriteAheadLog.open(directory: options.dataDirectory, options: options.wal)
        self.wal = wal
        var machine = empty
        if let snap = state.snapshot {
            do { try machine.restore(snap) } catch { throw RecoveryFailure(message: "snapshot at index \(snap.metadata.index) in \(options.dataDirectory) cannot be decoded: \(error)") }
        }
        var entropy = SystemRandomNumberGenerator()  // Election jitter differs per process.
        let seed = entropy.next()
        let voters = Array(options.transport.peers.keys) + [options.transport.id]
        let node = RaftNode(id: options.transport.id, configuration: Configuration(voters: voters), config: options.raft, restoring: state, seed: seed)
        var hostOptions = RaftHost<Machine>.Options()
        hostOptions.snapshotEveryEntries = options.snapshotEveryEntries
        core = makeCore(RaftHost(node: node, machine: machine, options: hostOptions))
        transport = try PeerTransport(loop: loop, options: options.transport)
    }

    /// A recovered snapshot that the state machine cannot read.
    public struct RecoveryFailure: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The Raft core (read only).
    public var node: RaftNode { core.host.node }

    public func start() {
        transport.onMessage = { [unowned self] m in
            self.core.step(m)
            self.processSoon()
        }
        scheduleTick()
        process()
    }

    /// Stops ticking and closes the network (the log stays as it is on disk).
    public func stop() {
        stopped = true
        if let tickTimer { loop.cancel(tickTimer) }
        transport.shutdown()
    }

    private func scheduleTick() {
        tickTimer = loop.schedule(afterNs: options.tickNs) { [unowned self] in
            guard !self.stopped else { return }
            self.core.tick(nowNs: wallClockNs())
            self.process()
            self.scheduleTick()
        }
    }

    /// Handles the core's output once the loop has dispatched every event of this wake-up, so
    /// proposals and messages that arrived together share one batch and one fdatasync.
    public func processSoon() {
        guard !processScheduled else { return }
        processScheduled = true
        loop.schedule(afterNs: 0) { [unowned self] in
            self.processScheduled = false
            self.process()
        }
    }

    /// Carries out every output the core has now, and whatever finishing them makes ready.
    public func process() {
        guard !stopped else { return }
        execute(core.process())
        if core.hasPendingWork { processSoon() }  // after the loop has served what else is waiting
    }

    private func execute(_ first: [Core.Output]) {
        var work = first
        var next = 0
        while next < work.count, !stopped {
            let output = work[next]
            next += 1
            guard let io = Core.raftIO(output) else {
                onOutput(output)
                continue
            }
            switch io {
            case .send(let messages): transport.send(messages)
            case .persist(let batch):
                do {
                    try persist(batch)
                } catch {
                    work += core.fail("\(error)")
                    continue
                }
                work += core.persisted(batch.token)
            case .captureSnapshot(let metadata, let encode): writeSnapshotInBackground(metadata, encode)
            case .fatal(let message): fatal(message)
            case .adoptSnapshot, .discardSnapshot: preconditionFailure("only answers to snapshotWritten")
            case .softState, .restored, .applied, .readReady: preconditionFailure("not Raft I/O")
            }
        }
    }

    private func persist(_ batch: PersistBatch) throws(WriteAheadLog.Failure) {
        if let snap = batch.snapshot {
            try wal.saveSnapshot(snap, resetLog: true)
            snapshotsInstalled += 1
        }
        try wal.append(batch.records)
        guard batch.mustSync else { return }
        let start = monotonicNs()
        try wal.sync()
        fsyncLatency.observe(seconds: Double(monotonicNs() - start) / 1e9)
    }

    /// Encodes the captured state and writes the file on a helper thread, so the loop never stalls
    /// on a large state; back on the loop, the host decides whether the file becomes the snapshot.
    private func writeSnapshotInBackground(_ metadata: SnapshotMetadata, _ encode: @escaping @Sendable () -> [UInt8]) {
        let directory = options.dataDirectory
        let handle = loop.handle
        let finish = SnapshotCompletion(driver: self)
        Thread.detachNewThread {
            let data = encode()
            let result = Result { () throws(WriteAheadLog.Failure) -> String in
                try WriteAheadLog.writeSnapshotFile(Snapshot(metadata: metadata, data: data), directory: directory)
            }
            handle.execute { finish.run(metadata: metadata, data: data, file: result) }
        }
    }

    fileprivate func snapshotWritten(metadata: SnapshotMetadata, data: [UInt8], file: Result<String, WriteAheadLog.Failure>) {
        guard !stopped else { return }
        let path: String
        switch file {
        case .failure(let error): return execute(core.fail("\(error)"))
        case .success(let written): path = written
        }
        for output in core.snapshotWritten(metadata, data: data) {
            switch Core.raftIO(output) {
            case .adoptSnapshot(let snapshot):
                do {
                    try wal.adoptSnapshotFile(path, metadata: snapshot.metadata, resetLog: false)
                    snapshotsWritten += 1
                } catch {
                    execute(core.fail("\(error)"))
                }
            case .discardSnapshot:
                unlink(path)  // A newer snapshot arrived from the leader meanwhile.
            default:
                execute([output])
            }
        }
    }

    private func fatal(_ message: String) {
        guard !stopped else { return }
        stop()
        onFatal(message)
    }
}

/// Carries a finished background snapshot back to its driver on the loop thread. The driver is
/// only touched there; the box just travels through the loop's inbox.
private final class SnapshotCompletion<Core: HostedCore>: @unchecked Sendable {
    // Safe: created on the loop, and `run` is only called on the loop (via LoopHandle.execute).
    let driver: RaftDriver<Core>

    init(driver: RaftDriver<Core>) {
        self.driver = driver
    }

    func run(metadata: SnapshotMetadata, data: [UInt8], file: Result<String, WriteAheadLog.Failure>) {
        driver.snapshotWritten(metadata: metadata, data: data, file: file)
    }
}
