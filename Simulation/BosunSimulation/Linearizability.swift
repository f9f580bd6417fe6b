import Master
import Raft
import Store

/// Checks the acknowledged writes against the committed log: a write answered with a
/// resourceVersion (DESIGN §2: the Raft index that wrote it) is the entry at that index, applied,
/// on its key with its value; no value (each is unique to one client operation) is applied twice,
/// however often a request was forwarded, retried or re-proposed; and real time is respected: a
/// write acknowledged before another began sits earlier in the log.
enum CommittedWritesChecker {
    static func check(_ history: [CompletedOperation], committed: [Entry]) -> Violation? {
        var store = KVStore()
        var applications: [String: [LogIndex]] = [:]
        var writes: [LogIndex: (key: String, value: String)] = [:]
        for e in committed {
            let applied = store.apply(e)
            guard applied.position == e.index, case .ok = applied.result, let request = applied.request else { continue }
            switch request.operation {
            case .create(let key, let text), .update(let key, let text, _):
                guard let value = (try? JSONParser.parse(text))?[path: ["data", "v"]]?.stringValue else { continue }
                applications[value, default: []].append(e.index)
                writes[e.index] = (key, value)
            case .delete: continue
            }
        }
        for value in applications.keys.sorted() where applications[value]!.count > 1 {
            return Violation(invariant: "write applied at most once", detail: "\(value) was applied at \(applications[value]!)")
        }
        var positioned: [(op: CompletedOperation, position: LogIndex)] = []
        for op in history {
            guard case .written(let version?) = op.reply, case .write(let write) = op.operation else { continue }
            let value: String
            switch write {
            case .create(_, let v), .update(_, let v, _): value = v
            case .delete: continue
            }
            let key = ResourceType.configMaps.key(namespace: "default", name: write.key)
            guard let entry = writes[version], entry.key == key, entry.value == value else {
                return Violation(
                    invariant: "acknowledged write durable",
                    detail: "client \(op.client) #\(op.sequence) \(op.operation) was acknowledged at \(version), where the committed log has \(writes[version].map { "\($0.value) on \($0.key)" } ?? "no write")")
            }
            positioned.append((op, version))
        }
        // Real time: sweep by invocation, tracking the latest position of everything finished.
        let byInvoke = positioned.indices.sorted { positioned[$0].op.invokeNs < positioned[$1].op.invokeNs }
        let byComplete = positioned.indices.sorted { positioned[$0].op.completeNs < positioned[$1].op.completeNs }
        var finished = 0
        var latest: Int?
        for b in byInvoke {
            while finished < byComplete.count && positioned[byComplete[finished]].op.completeNs < positioned[b].op.invokeNs {
                let a = byComplete[finished]
                if latest == nil || positioned[a].position > positioned[latest!].position { latest = a }
                finished += 1
            }
            if let a = latest, positioned[a].position > positioned[b].position {
                return Violation(
                    invariant: "linearizability",
                    detail: "client \(positioned[a].op.client) #\(positioned[a].op.sequence) (at \(positioned[a].position)) finished before client \(positioned[b].op.client) #\(positioned[b].op.sequence) (at \(positioned[b].position)) started, but is ordered after it")
            }
        }
        return nil
    }
}

/// An independent check that knows nothing of the log: a Wing–Gong/Lowe search for a
/// linearization of each key's history (per-key partitioning, as Porcupine does), with memoized
/// (linearized set, state) pairs. Returns nil when no violation is found; `budget` bounds the work.
enum SearchChecker {
    /// The model of one key: its value (nil: absent) and resourceVersion (nil: not known, after a
    /// write of unknown outcome; the next read pins it). `floor` is a version every later write
    /// must exceed.
    struct KeyState: Hashable {
        var value: String?
        var version: LogIndex?
        var floor: LogIndex = 0

        /// Whether a precondition naming `expected` holds (unknown versions might match).
        func matches(_ expected: LogIndex?) -> Bool { expected == nil || version == nil || version == expected }

        /// The states `op` may leave when it got `reply` (none: that answer is impossible here).
        /// A write of unknown outcome may have taken effect or not.
        func steps(_ op: ClientOperation, _ reply: ClientReply) -> [KeyState] {
            switch (op, reply) {
            case (.read, .read(let read, let readVersion)):
                guard read == value else { return [] }
                if read == nil { return [self] }
                guard version == nil || version == readVersion, readVersion > floor || version == readVersion else { return [] }
                return [KeyState(value: value, version: readVersion, floor: readVersion)]
            case (.write(let write), .unknown):
                return [self] + effect(of: write, version: nil)
            case (.write(let write), .written(let v)):
                guard v.map({ $0 > floor }) ?? true else { return [] }
                return effect(of: write, version: v)
            case (.write(.create), .alreadyExists):
                return value != nil ? [self] : []
            case (.write(.update), .notFound), (.write(.delete), .notFound):
                return value == nil ? [self] : []
            case (.write(.update(_, _, let expected)), .conflict), (.write(.delete(_, let expected)), .conflict):
                // With no version given, the master retries a conflict itself and may give up.
                return value != nil && (expected == nil || version != expected) ? [self] : []
            default:
                return []
            }
        }

        /// The state after `write` took effect at `version` (nil: unknown), if it could.
        func effect(of write: KVRequest.Operation, version newVersion: LogIndex?) -> [KeyState] {
            let floor = newVersion ?? self.floor
            switch write {
            case .create(_, let newValue):
                return value == nil ? [KeyState(value: newValue, version: newVersion, floor: floor)] : []
            case .update(_, let newValue, let expected):
                return value != nil && matches(expected) ? [KeyState(value: newValue, version: newVersion, floor: floor)] : []
            case .delete(_, let expected):
                return value != nil && matches(expected) ? [KeyState(value: nil, version: nil, floor: floor)] : []
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
        var state = KeyState(value: nil, version: nil)
        var stack: [(position: Int, state: KeyState, choice: Int)] = []
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
        var firstChoice = 0
        while next[n] >= 0 {
            steps += 1
            if steps > budget { return nil }
            guard entry >= 0 else { return false }
            let e = events[entry]
            if !e.isReturn {
                let op = ops[e.op]
                let candidates = state.steps(op.operation, op.reply)
                var moved = false
                for choice in candidates.indices where choice >= firstChoice {
                    var bits = linearized
                    bits[e.op / 64] |= 1 << UInt64(e.op % 64)
                    guard memo.insert(Memo(linearized: bits, state: candidates[choice])).inserted else { continue }
                    stack.append((entry, state, choice))
                    state = candidates[choice]
                    linearized = bits
                    lift(entry)
                    entry = next[n]
                    moved = true
                    break
                }
                firstChoice = 0
                if !moved { entry = next[entry] }
            } else {
                // A return of an op not yet linearized: backtrack, trying the op's next choice.
                guard let (position, previous, choice) = stack.popLast() else { return false }
                state = previous
                let op = events[position].op
                linearized[op / 64] &= ~(1 << UInt64(op % 64))
                unlift(position)
                entry = position
                firstChoice = choice + 1
            }
        }
        return true
    }
}
