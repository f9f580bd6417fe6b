import Host
import Raft
import Store

/// One simulated master: the same `RaftHost` the real runtime drives, over the store, with a
/// simulated disk. The simulation carries out the host's outputs against its disk and network
/// and answers clients.
struct SimNode {
    let index: Int
    var host: RaftHost<KVStore>
    var disk = SimDisk()
    var up = true
    var paused = false
    /// Bumped on every crash, so completions of a dead incarnation are ignored.
    var incarnation = 0
    /// Bumped whenever the node's tick chain stops (crash, pause), so a stale chain never doubles up.
    var tickEpoch = 0
    /// Events that reached the node while it was paused, replayed in order on resume.
    var inbox: [SimEvent] = []
    /// Client requests this leader proposed, awaiting the entry that carries them.
    var pendingWrites: Set<WriteKey> = []
    /// Reads waiting for their ReadIndex, by context.
    var pendingReads: [UInt64: (client: Int, sequence: UInt64, key: String)] = [:]
    var nextReadContext: UInt64 = 1

    struct WriteKey: Hashable {
        var client: UInt64
        var sequence: UInt64
    }

    var raft: RaftNode { host.node }
    var store: KVStore { host.machine }
    var id: NodeID { raft.id }
}

/// Everything that can happen in the simulated world.
enum SimEvent {
    case tick(node: Int, epoch: Int)
    case deliver(Message)
    case persisted(node: Int, incarnation: Int, token: UInt64)
    case snapshotWritten(node: Int, incarnation: Int, SnapshotMetadata, [UInt8])
    case request(node: Int, client: Int, sequence: UInt64, ClientOperation)
    case reply(client: Int, sequence: UInt64, ClientReply)
    case clientTimeout(client: Int, attempt: UInt64)
    case clientSend(client: Int, attempt: UInt64)
    case clientStart(client: Int)
    case partitionStart
    case partitionEnd(generation: Int)
    case crash
    case crashNode(node: Int, incarnation: Int)
    case restart(node: Int)
    case pause
    case resume(node: Int, incarnation: Int)
    case heal
    case livenessCheck

    var tag: UInt64 {
        switch self {
        case .tick: 1
        case .deliver: 2
        case .persisted: 3
        case .request: 4
        case .reply: 5
        case .clientTimeout: 6
        case .clientSend: 7
        case .clientStart: 8
        case .partitionStart: 9
        case .partitionEnd: 10
        case .crash: 11
        case .restart: 12
        case .pause: 13
        case .resume: 14
        case .heal: 15
        case .livenessCheck: 16
        case .crashNode: 17
        case .snapshotWritten: 18
        }
    }
}
