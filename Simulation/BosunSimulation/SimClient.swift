import Raft
import Store

/// A client with one operation at a time. It sends to the node it believes leads, follows
/// leader hints, moves on after a timeout, and retries with the same sequence number until it
/// gets an answer, so a write applies at most once however often it is retried.
struct SimClient {
    var target: Int
    var sequence: UInt64 = 0
    var operation: ClientOperation?
    var invokeNs: UInt64 = 0
    /// Bumped on every send, so stale timeouts and retries are ignored.
    var attempt: UInt64 = 0
    /// The latest version this client saw for each key, for conditional updates.
    var versions: [String: LogIndex] = [:]
}

extension Simulation {
    func startOperation(_ c: Int) {
        guard !inLivenessPhase, clients[c].operation == nil else { return }
        let key = "k\(workloadRng.index(plan.keys))"
        let value = "c\(c)-\(clients[c].sequence + 1)"
        let known = workloadRng.chance(0.8) ? clients[c].versions[key] : nil
        let roll = workloadRng.index(100)
        let operation: ClientOperation
        switch roll {
        case 0..<30: operation = .read(key: key)
        case 30..<55: operation = .write(.create(key: key, value: value))
        case 55..<85: operation = .write(.update(key: key, value: value, expectedVersion: known))
        default: operation = .write(.delete(key: key, expectedVersion: known))
        }
        clients[c].sequence += 1
        clients[c].operation = operation
        clients[c].invokeNs = nowNs
        sendRequest(c)
    }

    func sendRequest(_ c: Int) {
        guard let operation = clients[c].operation else { return }
        clients[c].attempt += 1
        let attempt = clients[c].attempt
        if !networkRng.chance(lossRate) {
            schedule(after: networkDelay(), .request(node: clients[c].target, client: c, sequence: clients[c].sequence, operation))
        }
        schedule(after: clientTimeoutNs, .clientTimeout(client: c, attempt: attempt))
    }

    func clientReceived(_ c: Int, sequence: UInt64, _ reply: ClientReply) {
        guard clients[c].sequence == sequence, let operation = clients[c].operation else { return }
        switch reply {
        case .notLeader(let leader):
            clients[c].target = leader ?? (clients[c].target + 1) % nodes.count
            clients[c].attempt += 1
            schedule(after: 5_000_000, .clientSend(client: c, attempt: clients[c].attempt))
            return
        case .busy:
            clients[c].attempt += 1
            schedule(after: 30_000_000, .clientSend(client: c, attempt: clients[c].attempt))
            return
        case .written(let result, _):
            switch result {
            case .ok(let v), .alreadyExists(let v), .conflict(let v): clients[c].versions[operation.key] = v
            case .notFound, .stale, .invalid: clients[c].versions[operation.key] = nil
            }
        case .read(let item, _):
            clients[c].versions[operation.key] = item?.version
        }
        history.append(
            CompletedOperation(
                client: c, sequence: sequence, operation: operation, invokeNs: clients[c].invokeNs, completeNs: nowNs,
                reply: reply))
        stats.clientOperations += 1
        clients[c].operation = nil
        clients[c].attempt += 1
        schedule(after: workloadRng.exponential(meanNs: plan.thinkTimeMeanNs), .clientStart(client: c))
    }
}
