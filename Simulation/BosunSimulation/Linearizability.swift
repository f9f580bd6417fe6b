import Raft
import Store

/// Checks a client history against the committed log, in linear time, using the fact that every
/// answer names its position in the one total order (the Raft index; DESIGN §2 resourceVersion):
///
/// - each write's result and position are what replaying the committed log gives for its request
///   (so it took effect exactly once, where it says);
/// - each read saw exactly the key's state after its position;
/// - real time is respected: if A finished before B started, A's point in the order precedes B's
///   (a write sits at its index, a read just after its position).
enum VersionOrderChecker {
    static func check(_ history: [CompletedOperation], committed: [Entry]) -> Violation? {
        // Replay the committed log.
        var store = KVStore()
        var firstApplication: [RequestKey: (KVResult, LogIndex)] = [:]
        var changes: [String: [(LogIndex, KVStore.Item?)]] = [:]
        for e in committed {
            let applied = store.apply(e)
            guard let request = applied.request else { continue }
            let key = RequestKey(client: request.client, sequence: request.sequence)
            if firstApplication[key] == nil && applied.result != .stale {
                firstApplication[key] = (applied.result, applied.position)
            }
            let k = request.operation.key
            if changes[k]?.last?.1 != store.get(k) {
                changes[k, default: []].append((e.index, store.get(k)))
            }
        }
        func state(of key: String, at position: LogIndex) -> KVStore.Item? {
            guard let list = changes[key] else { return nil }
            var lo = 0
            var hi = list.count  // first change after position
            while lo < hi {
                let mid = (lo + hi) / 2
                if list[mid].0 <= position { lo = mid + 1 } else { hi = mid }
            }
            return lo == 0 ? nil : list[lo - 1].1
        }

        for op in history {
            switch (op.operation, op.reply) {
            case (.write, .written(let result, let position)):
                let key = RequestKey(client: UInt64(op.client), sequence: op.sequence)
                guard let (expected, at) = firstApplication[key] else {
                    return Violation(invariant: "acknowledged write durable", detail: "client \(op.client) request \(op.sequence) was answered \(result) at \(position) but is not in the committed log")
                }
                if expected != result || at != position {
                    return Violation(invariant: "linearizability", detail: "client \(op.client) request \(op.sequence) was answered \(result) at \(position); the log gives \(expected) at \(at)")
                }
            case (.read(let key), .read(let item, let position)):
                guard position <= LogIndex(committed.count) else {
                    return Violation(invariant: "linearizability", detail: "client \(op.client) read \(key) at \(position), beyond the committed log")
                }
                let expected = state(of: key, at: position)
                if expected != item {
                    return Violation(invariant: "linearizability", detail: "client \(op.client) read \(key) at \(position) = \(describe(item)); the log gives \(describe(expected))")
                }
            default:
                return Violation(invariant: "history", detail: "operation \(op.operation) completed with \(op.reply)")
            }
        }

        // Real time: sweep by invocation, tracking the latest point of everything already finished.
        func point(_ op: CompletedOperation) -> UInt64 { op.position * 2 + (op.isRead ? 1 : 0) }
        let byInvoke = history.indices.sorted { history[$0].invokeNs < history[$1].invokeNs }
        let byComplete = history.indices.sorted { history[$0].completeNs < history[$1].completeNs }
        var finished = 0
        var latest: (point: UInt64, op: Int)? = nil
        for b in byInvoke {
            while finished < byComplete.count && history[byComplete[finished]].completeNs < history[b].invokeNs {
                let a = byComplete[finished]
                if latest == nil || point(history[a]) > latest!.point { latest = (point(history[a]), a) }
                finished += 1
            }
            if let latest, latest.point > point(history[b]) || (latest.point == point(history[b]) && !history[b].isRead) {
                let a = history[latest.op]
                let op = history[b]
                return Violation(
                    invariant: "linearizability",
                    detail: "client \(a.client) #\(a.sequence) (\(a.operation) at \(a.position)) finished before client \(op.client) #\(op.sequence) (\(op.operation) at \(op.position)) started, but is ordered after it")
            }
        }
        return nil
    }

    struct RequestKey: Hashable {
        var client: UInt64
        var sequence: UInt64
    }

    static func describe(_ item: KVStore.Item?) -> String {
        item.map { "\($0.value)@\($0.version)" } ?? "absent"
    }
}

/// An independent check that knows nothing of the log: a Wing–Gong/Lowe search for a
/// linearization of each key's history (per-key partitioning, as Porcupine does), with memoized
/// (linearized set, state) pairs. Returns nil when no violation is found; `budget` bounds the work.
enum SearchChecker {
    /// The model of one key: whether it exists, its value, its version.
    struct KeyState: Hashable {
        var value: String?
        var version: LogIndex

        /// The state after `op` if `reply` is a possible answer, else nil.
        func step(_ op: ClientOperation, _ reply: ClientReply) -> KeyState? {
            switch (op, reply) {
            case (.read, .read(let item, _)):
                if let item {
                    return item.value == value && item.version == version && value != nil ? self : nil
                }
                return value == nil ? self : nil
            case (.write(.create(_, let newValue)), .written(let result, _)):
                if value != nil { return result == .alreadyExists(version: version) ? self : nil }
                guard case .ok(let v) = result, v > version else { return nil }
                return KeyState(value: newValue, version: v)
            case (.write(.update(_, let newValue, let expected)), .written(let result, _)):
                guard value != nil else { return result == .notFound ? self : nil }
                if let expected, expected != version { return result == .conflict(currentVersion: version) ? self : nil }
                guard case .ok(let v) = result, v > version else { return nil }
                return KeyState(value: newValue, version: v)
            case (.write(.delete(_, let expected)), .written(let result, _)):
                guard value != nil else { return result == .notFound ? self : nil }
                if let expected, expected != version { return result == .conflict(currentVersion: version) ? self : nil }
                guard case .ok(let v) = result, v > version else { return nil }
                return KeyState(value: nil, version: v)
            default:
                return nil
            }
        }
    }

    enum Outcome: Equatable {
        case linearizable
        case violation(key: String)
        case unknown(key: String)
    }

    static func check(_ history: [CompletedOperation], budget: Int = 2_000_000) -> Outcome {
        var byKey: [String: [CompletedOperation]] = [:]
        for op in history { byKey[op.operation.key, default: []].append(op) }
        for key in byKey.keys.sorted() {
            switch checkKey(byKey[key]!, budget: budget) {
            case true?: continue
            case false?: return .violation(key: key)
            case nil: return .unknown(key: key)
            }
        }
        return .linearizable
    }

    struct Memo: Hashable {
        var linearized: [UInt64]
        var state: KeyState
    }

    /// Lowe's algorithm over a doubly linked list of call and return events.
    static func checkKey(_ ops: [CompletedOperation], budget: Int) -> Bool? {
        // Events: call of op k is 2k, return is 2k+1. Sorted by time; calls before returns at ties.
        var events: [(time: UInt64, isReturn: Bool, op: Int)] = []
        for (k, op) in ops.enumerated() {
            events.append((op.invokeNs, false, k))
            events.append((op.completeNs, true, k))
        }
        events.sort { ($0.time, $0.isReturn ? 1 : 0, $0.op) < ($1.time, $1.isReturn ? 1 : 0, $1.op) }
        let n = events.count
        // Linked list over positions 0..<n with a head sentinel at n.
        var next = Array(1...n) + [0]
        var prev = [n] + Array(0..<n)
        next[n] = 0
        prev[0] = n
        next[n - 1] = -1
        var returnPosition = Array(repeating: 0, count: ops.count)
        for (p, e) in events.enumerated() where e.isReturn { returnPosition[e.op] = p }
        let words = (ops.count + 63) / 64
        var linearized = Array(repeating: UInt64(0), count: words)
        var state = KeyState(value: nil, version: 0)
        var stack: [(position: Int, state: KeyState)] = []
        var memo = Set<Memo>()
        var steps = 0

        func lift(_ p: Int) {
            // Remove the call at p and its return.
            let r = returnPosition[events[p].op]
            for q in [p, r] {
                let a = prev[q]
                let b = next[q]
                next[a] = b
                if b >= 0 { prev[b] = a }
            }
        }
        func unlift(_ p: Int) {
            let r = returnPosition[events[p].op]
            for q in [r, p] {
                let a = prev[q]
                let b = next[q]
                next[a] = q
                if b >= 0 { prev[b] = q }
            }
        }

        var entry = next[n]
        while next[n] >= 0 {
            steps += 1
            if steps > budget { return nil }
            guard entry >= 0 else { return false }
            let e = events[entry]
            if !e.isReturn {
                let op = ops[e.op]
                if let newState = state.step(op.operation, op.reply) {
                    var bits = linearized
                    bits[e.op / 64] |= 1 << UInt64(e.op % 64)
                    if memo.insert(Memo(linearized: bits, state: newState)).inserted {
                        stack.append((entry, state))
                        state = newState
                        linearized = bits
                        lift(entry)
                        entry = next[n]
                        continue
                    }
                }
                entry = next[entry]
            } else {
                // A return of an op not yet linearized: backtrack.
                guard let (position, previous) = stack.popLast() else { return false }
                state = previous
                let op = events[position].op
                linearized[op / 64] &= ~(1 << UInt64(op % 64))
                unlift(position)
                entry = next[position]
            }
        }
        return true
    }
}
