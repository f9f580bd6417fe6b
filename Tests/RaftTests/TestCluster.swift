@testable import Host
@testable import Raft

/// The state machine of the rule tests: the committed entries, as applied.
struct EntryLog: ReplicatedStateMachine {
    var appliedIndex: LogIndex = 0

    mutating func apply(_ entry: Entry) {
        appliedIndex = entry.index
    }

    mutating func restore(_ snapshot: Snapshot) {
        appliedIndex = snapshot.metadata.index
    }

    /// A kilobyte, so that a snapshot of it travels in several chunks.
    func snapshotEncoder() -> @Sendable () -> [UInt8] { { (0..<1024).map { UInt8($0 % 251) } } }
}

/// An in-memory cluster of Raft cores for rule and scenario tests, each run by the same `RaftHost`
/// as the real and simulated masters: storage is durable the moment a batch is handed out,
/// messages wait in a queue until delivered, links can be cut, nodes crash (keeping their
/// storage) and restart. Snapshots are taken by hand, or by the hosts every
/// `snapshotEveryEntries` (written and adopted at once).
struct TestCluster {
    var config: RaftConfig
    /// The hosts' snapshot interval; 0 (the default): tests compact by hand.
    var snapshotEveryEntries: UInt64
    var ids: [NodeID]
    var hosts: [NodeID: RaftHost<EntryLog>] = [:]
    var storage: [NodeID: PersistentState] = [:]
    var queue: [Message] = []
    /// Directed links that drop everything.
    var cut: Set<[NodeID]> = []
    var applied: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    /// Every message delivered by the last `deliver()`, described.
    var lastDelivered: [String] = []
    var seed: UInt64

    init(_ ids: [UInt64], config: RaftConfig = RaftConfig(), snapshotEveryEntries: UInt64 = 0, seed: UInt64 = 1) {
        self.config = config
        self.snapshotEveryEntries = snapshotEveryEntries
        self.ids = ids.map { NodeID($0) }
        self.seed = seed
        for id in self.ids {
            storage[id] = PersistentState()
            start(id)
        }
    }

    var configuration: Configuration { Configuration(voters: ids) }

    /// Raft as in the paper: without PreVote and CheckQuorum.
    static var paperConfig: RaftConfig {
        var config = RaftConfig()
        config.preVote = false
        config.checkQuorum = false
        return config
    }

    mutating func start(_ id: NodeID) {
        seed &+= 1
        let state = storage[id]!
        let node = RaftNode(id: id, configuration: configuration, config: config, restoring: state, seed: seed)
        var options = RaftHost<EntryLog>.Options()
        options.snapshotEveryEntries = snapshotEveryEntries
        hosts[id] = RaftHost(node: node, machine: EntryLog(appliedIndex: node.snapshotIndex), options: options)
        applied[id] = []
    }

    /// The Raft cores of the running members.
    var nodes: [NodeID: RaftNode] { hosts.mapValues(\.node) }

    subscript(_ id: UInt64) -> RaftNode { hosts[NodeID(id)]!.node }

    /// Carries out the host's outputs for `id`: persist at once, queue messages, record what applies.
    mutating func process(_ id: NodeID) {
        guard var host = hosts[id] else { return }
        var work = host.process()
        var next = 0
        while next < work.count {
            let output = work[next]
            next += 1
            switch output {
            case .persist(let batch):
                var disk = storage[id]!
                if let snap = batch.snapshot {
                    disk.snapshot = snap
                    disk.entries = []
                }
                if let first = batch.entries.first {
                    disk.entries.removeAll { $0.index >= first.index }
                    disk.entries += batch.entries
                }
                if let hs = batch.hardState { disk.hardState = hs }
                storage[id] = disk
                work += host.persisted(batch.token)
            case .send(let messages): queue += messages
            case .restored: applied[id] = []
            case .applied(let entry, _): applied[id, default: []].append(entry)
            case .readReady(let read): readStates[id, default: []].append(read)
            case .captureSnapshot(let metadata, let encode): work += host.snapshotWritten(metadata, data: encode())
            case .adoptSnapshot(let snapshot):
                storage[id]!.snapshot = snapshot
                storage[id]!.entries.removeAll { $0.index <= snapshot.metadata.index }
            case .softState, .discardSnapshot, .fatal: break
            }
        }
        hosts[id] = host
    }

    mutating func processAll() {
        for id in ids where hosts[id] != nil { process(id) }
    }

    /// Changes the core of `id` directly (rule tests reach past the host's inputs), then processes.
    mutating func with(_ id: UInt64, _ body: (inout RaftNode) -> Void) {
        let key = NodeID(id)
        guard hosts[key] != nil else { return }
        body(&hosts[key]!.node)
        process(key)
    }

    mutating func tick(_ id: UInt64, times: Int = 1) {
        for _ in 0..<times { with(id) { $0.tick() } }
    }

    /// Ticks `id` past any randomized election timeout (2 × electionTicks).
    mutating func timeOut(_ id: UInt64) {
        tick(id, times: 2 * config.electionTicks)
    }

    mutating func campaign(_ id: UInt64) {
        with(id) { $0.campaign() }
    }

    mutating func propose(_ id: UInt64, _ text: String) throws(RaftNode.ProposeError) {
        var failure: RaftNode.ProposeError?
        with(id) { node in
            do throws(RaftNode.ProposeError) { _ = try node.propose(Array(text.utf8)) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Delivers queued messages (and whatever they cause) until the network is quiet.
    mutating func deliver(limit: Int = 100_000) {
        lastDelivered = []
        var steps = 0
        while !queue.isEmpty && steps < limit {
            let m = queue.removeFirst()
            steps += 1
            guard hosts[m.to] != nil, !cut.contains([m.from, m.to]) else { continue }
            lastDelivered.append(m.description)
            with(m.to.rawValue) { $0.step(m) }
        }
    }

    /// Drops every queued message.
    mutating func dropAll() {
        queue = []
    }

    /// Cuts every link between the groups.
    mutating func partition(_ groups: [[UInt64]]) {
        heal()
        for (a, groupA) in groups.enumerated() {
            for (b, groupB) in groups.enumerated() where a != b {
                for x in groupA { for y in groupB { cut.insert([NodeID(x), NodeID(y)]) } }
            }
        }
    }

    mutating func isolate(_ id: UInt64) {
        partition([[id], ids.map(\.rawValue).filter { $0 != id }])
    }

    mutating func heal() {
        cut = []
    }

    mutating func crash(_ id: UInt64) {
        hosts[NodeID(id)] = nil
    }

    mutating func restart(_ id: UInt64) {
        start(NodeID(id))
        process(NodeID(id))
    }

    func leaders() -> [UInt64] {
        ids.filter { hosts[$0]?.node.role == .leader }.map(\.rawValue)
    }

    /// The log of `id` as "term/index" words.
    func logWords(_ id: UInt64) -> String {
        self[id].entries.map { "\($0.term)/\($0.index)" }.joined(separator: " ")
    }
}
