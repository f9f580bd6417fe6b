import Master

/// One write the control plane asks the master to propose: conditional on the resourceVersion
/// its decision read (a create only if the key is absent).
public struct ControlWrite: Equatable, Sendable {
    public enum Operation: Equatable, Sendable {
        case create(key: String, object: JSON)
        case update(key: String, object: JSON, expectedVersion: UInt64?)
        case delete(key: String, expectedVersion: UInt64)

        public var key: String {
            switch self {
            case .create(let key, _), .update(let key, _, _), .delete(let key, _): key
            }
        }
    }

    /// `expectedVersion` nil writes unconditionally: only a planted bug does that.
    /// Names the write when the master reports how it ended.
    public var id: UInt64
    public var operation: Operation
}

/// What the control plane looks at again when it changes: one object, for one controller.
enum Work: Hashable, Comparable, Sendable {
    /// Garbage collection of one dependent (its owner is gone).
    case collect(String)
    case deployment(String)
    case replicaSet(String)
    case schedule(String)
    /// The node lifecycle of one node (by name).
    case node(String)
    /// Deleting the oldest events beyond the limit.
    case events
}
