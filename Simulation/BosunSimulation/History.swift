import Raft
import Store

/// What a simulated client asks of the cluster.
enum ClientOperation: Equatable {
    case write(KVRequest.Operation)
    case read(key: String)

    var key: String {
        switch self {
        case .write(let op): return op.key
        case .read(let key): return key
        }
    }
}

/// A node's answer to a client.
enum ClientReply: Equatable {
    /// Ask `leader` instead (nil: unknown).
    case notLeader(leader: Int?)
    /// The leader is overloaded; retry later.
    case busy
    /// The write took effect at `position` (the Raft index of its first application).
    case written(KVResult, position: LogIndex)
    /// The read saw `item` in the state after applying everything through `position`.
    case read(KVStore.Item?, position: LogIndex)
}

/// One completed client operation, with its real-time interval.
struct CompletedOperation {
    var client: Int
    var sequence: UInt64
    var operation: ClientOperation
    var invokeNs: UInt64
    var completeNs: UInt64
    var reply: ClientReply

    var position: LogIndex {
        switch reply {
        case .written(_, let p), .read(_, let p): return p
        default: return 0
        }
    }

    var isRead: Bool {
        if case .read = operation { return true }
        return false
    }
}
