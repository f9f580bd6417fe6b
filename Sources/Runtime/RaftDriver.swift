import Foundation
import Glibc
import Raft

/// Runs one `RaftNode` for real: ticks from the event loop's clock, batches made durable in the
/// write-ahead log, messages over the peer transport. It follows the `Ready` contract exactly:
/// send `messages`; write snapshot, entries, hard state; fdatasync when `mustSync`; only then send
/// `messagesAfterPersist`; restore, apply, hand out read states; `advance`.
///
/// A disk error stops the node through `onFatal`: nothing that is not durable is ever acknowledged.
public final class RaftDriver {
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

    /// What the state machine above supplies.
    public struct StateMachine {
        /// Applies one committed entry, in order.
        public var apply: (Entry) -> Void
        /// Replaces the state with a snapshot's.
        public var restore: (Snapshot) -> Void
        /// Captures the state now (cheaply: a value copy) and returns the work that encodes it as
        /// snapshot bytes, which runs on another thread so the loop keeps serving.
        public var snapshot: () -> @Sendable () -> [UInt8]

        public init(apply: @escaping (Entry) -> Void, restore: @escaping (Snapshot) -> Void, snapshot: @escaping () -> @Sendable () -> [UInt8]) {
            self.apply = apply
            self.restore = restore
            self.snapshot = snapshot
        }
    }

    let loop: EventLoop
    let options: Options
    let wal: WriteAheadLog
    public let transport: PeerTransport
    let machine: StateMachine
    public private(set) var node: RaftNode
    private var tickTimer: UInt64?
    private var stopped = false
    /// Called with every read state once its index is applied locally.
    public var onReadState: (ReadState) -> Void = { _ in }
    /// Called when role or leader change.
    public var onSoftState: (SoftState) -> Void = { _ in }
    /// Called once when the node must stop (a disk failure or corruption); the default exits.
    public var onFatal: (String) -> Void = { message in
        let text = Array("bosun: fatal: \(message)\n".utf8)
        _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
    private var waitingReads: [ReadState] = []
    private var processScheduled = false
    private var snapshotInProgress = false
    /// Proposals accepted by the core.
    public private(set) var proposals: UInt64 = 0
    /// How long each fdatasync of a Ready batch took.
    public private(set) var fsyncLatency = Histogram()
    /// Snapshots written here and snapshots installed from a leader.
    public private(set) var snapshotsWritten: UInt64 = 0
    public private(set) var snapshotsInstalled: UInt64 = 0
    private var appliedIndex: LogIndex

    /// Opens the data directory, recovers, and joins the cluster (call `start`).
    public init(loop: EventLoop, options: Options, machine: StateMachine) throws {
        self.loop = loop
        self.options = options
        self.machine = machine
        let (wal, state) = try WriteAheadLog.open(directory: options.dataDirectory, options: options.wal)
        self.wal = wal
        if let snap = state.snapshot { machine.restore(snap) }
        appliedIndex = state.snapshot?.metadata.index ?? 0
        var entropy = SystemRandomNumberGenerator()  // Election jitter differs per process.
        let seed = entropy.next()
        let voters = Array(options.transport.peers.keys) + [options.transport.id]
        node = RaftNode(id: options.transport.id, configuration: Configuration(voters: voters), config: options.raft, restoring: state, seed: seed)
        transport = try PeerTransport(loop: loop, options: options.transport)
    }

    public func start() {
        transport.onMessage = { [unowned self] m in
            self.node.step(m)
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
            self.node.tick()
            self.process()
            self.scheduleTick()
        }
    }

    public func propose(_ data: [UInt8]) throws(RaftNode.ProposeError) -> LogIndex {
        let index = try node.propose(data)
        proposals += 1
        processSoon()
        return index
    }

    public func readIndex(context: UInt64) throws(RaftNode.ReadIndexError) {
        try node.readIndex(context: context)
        processSoon()
    }

    /// Handles the core's output once the loop has dispatched every event of this wake-up, so
    /// proposals and messages that arrived together share one batch and one fdatasync.
    private func processSoon() {
        guard !processScheduled else { return }
        processScheduled = true
        loop.schedule(afterNs: 0) { [unowned self] in
            self.processScheduled = false
            self.process()
        }
    }

    public func transferLeadership(to target: NodeID) {
        node.transferLeadership(to: target)
        process()
    }

    /// Hands every pending batch to disk and network, in the contract's order.
    public func process() {
        while !stopped, let rd = node.ready() {
            if let corruption = node.corruption { return fatal(corruption) }
            if let soft = rd.softState { onSoftState(soft) }
            transport.send(rd.messages)
            do {
                if let snap = rd.snapshot {
                    try wal.saveSnapshot(snap, resetLog: true)
                    snapshotsInstalled += 1
                    machine.restore(snap)
                    appliedIndex = snap.metadata.index
                }
                try wal.append(rd)
                if rd.mustSync {
                    let start = monotonicNs()
                    try wal.sync()
                    fsyncLatency.observe(seconds: Double(monotonicNs() - start) / 1e9)
                }
            } catch {
                return fatal("\(error)")
            }
            transport.send(rd.messagesAfterPersist)
            for entry in rd.committedEntries {
                machine.apply(entry)
                appliedIndex = entry.index
            }
            waitingReads += rd.readStates
            releaseReads()
            node.advance(rd)
            maybeSnapshot()
        }
    }

    private func releaseReads() {
        let ready = waitingReads.filter { $0.index <= appliedIndex }
        waitingReads.removeAll { $0.index <= appliedIndex }
        ready.forEach(onReadState)
    }

    /// Every `snapshotEveryEntries` applied entries: capture the state on the loop, encode it and
    /// write the file on a helper thread, then on the loop adopt the file (if no newer snapshot
    /// arrived meanwhile) and compact the log. The loop never stalls on a large state.
    private func maybeSnapshot() {
        guard !snapshotInProgress, appliedIndex >= node.snapshotIndex + options.snapshotEveryEntries,
            let term = node.term(at: appliedIndex)
        else { return }
        snapshotInProgress = true
        let metadata = SnapshotMetadata(index: appliedIndex, term: term, configuration: node.configuration)
        let encode = machine.snapshot()
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

    fileprivate func adoptSnapshot(metadata: SnapshotMetadata, data: [UInt8], file: Result<String, WriteAheadLog.Failure>) {
        snapshotInProgress = false
        guard !stopped else { return }
        switch file {
        case .failure(let error):
            fatal("\(error)")
        case .success(let path):
            guard metadata.index > node.snapshotIndex else {
                unlink(path)  // A newer snapshot arrived from the leader meanwhile.
                return
            }
            do {
                try wal.adoptSnapshotFile(path, metadata: metadata, resetLog: false)
            } catch {
                return fatal("\(error)")
            }
            node.compact(through: metadata.index, data: data)
            snapshotsWritten += 1
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
private final class SnapshotCompletion: @unchecked Sendable {
    // Safe: created on the loop, and `run` is only called on the loop (via LoopHandle.execute).
    let driver: RaftDriver

    init(driver: RaftDriver) {
        self.driver = driver
    }

    func run(metadata: SnapshotMetadata, data: [UInt8], file: Result<String, WriteAheadLog.Failure>) {
        driver.adoptSnapshot(metadata: metadata, data: data, file: file)
    }
}
