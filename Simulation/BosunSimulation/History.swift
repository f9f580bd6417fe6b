import Raft
import Store

/// What a simulated client asks of the cluster, on one ConfigMap (the key is its name, the value
/// its `data.v`). A client's values are unique: `c<client>-<sequence>`.
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

/// What the API answered, as the client understood it.
enum ClientReply: Equatable {
    /// 200/201: the write took effect; its resourceVersion when the answer names one (a delete's
    /// Status does not).
    case written(version: LogIndex?)
    /// A read: the value and resourceVersion, or nil for 404.
    case read(value: String?, version: LogIndex)
    case notFound
    case alreadyExists
    case conflict
    /// No answer in time, or 504: the write may or may not have taken effect.
    case unknown
}

/// One client operation, with its real-time interval (an unknown outcome never completes).
struct CompletedOperation {
    var client: Int
    var sequence: UInt64
    var operation: ClientOperation
    var invokeNs: UInt64
    var completeNs: UInt64
    var reply: ClientReply

    var isRead: Bool {
        if case .read = operation { return true }
        return false
    }
}
