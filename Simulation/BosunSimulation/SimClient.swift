import Master
import Raft
import Store

/// A client of the API with one operation at a time, on ConfigMaps in `default`, behaving as the
/// real clients do: it sends to one master (any master serves: a follower forwards), moves to
/// another on 503 (nothing was done: retrying is safe), retries a read after a timeout, and
/// records a write that timed out or got 504 as of unknown outcome instead of sending it again.
/// Every other unconditional update is sent as a merge PATCH of the value, which the master
/// applies to the object it reads, retrying its own compare-and-swap on a conflict.
struct SimClient {
    var target: Int
    var sequence: UInt64 = 0
    var operation: ClientOperation?
    var invokeNs: UInt64 = 0
    /// Bumped on every send, so stale timeouts and answers are ignored.
    var attempt: UInt64 = 0
    /// The latest version this client saw for each key, for conditional updates and deletes.
    var versions: [String: LogIndex] = [:]
    /// Whether the operation in flight, an update naming no version, is sent as a PATCH.
    var patch = false
}

extension Simulation {
    static let configMapsPath = "/api/v1/namespaces/default/configmaps"

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
        clients[c].patch = known == nil && clients[c].sequence % 2 == 0
        clients[c].operation = operation
        clients[c].invokeNs = nowNs
        sendRequest(c)
    }

    /// The API request for an operation; `patch` sends an update as a merge patch of its value
    /// (the model's unconditional update: 404 when the object is missing).
    static func request(for operation: ClientOperation, patch: Bool) -> HTTPRequest {
        func object(_ key: String, _ value: String, version: LogIndex?) -> [UInt8] {
            var metadata: JSON = ["name": .string(key)]
            if let version { metadata["resourceVersion"] = .string(String(version)) }
            let body: JSON = ["apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": ["v": .string(value)]]
            return Array(body.text.utf8)
        }
        let json = [(name: "Content-Type", value: "application/json")]
        switch operation {
        case .read(let key):
            return HTTPRequest(method: "GET", target: "\(configMapsPath)/\(key)")
        case .write(.create(let key, let value)):
            return HTTPRequest(method: "POST", target: configMapsPath, headers: json, body: object(key, value, version: nil))
        case .write(.update(let key, let value, nil)) where patch:
            let body: JSON = ["data": ["v": .string(value)]]
            return HTTPRequest(method: "PATCH", target: "\(configMapsPath)/\(key)", headers: [(name: "Content-Type", value: "application/merge-patch+json")],
                               body: Array(body.text.utf8))
        case .write(.update(let key, let value, let expected)):
            return HTTPRequest(method: "PUT", target: "\(configMapsPath)/\(key)", headers: json, body: object(key, value, version: expected))
        case .write(.delete(let key, let expected)):
            let body: JSON = expected.map { ["preconditions": ["resourceVersion": .string(String($0))]] } ?? [:]
            return HTTPRequest(method: "DELETE", target: "\(configMapsPath)/\(key)", headers: json, body: Array(body.text.utf8))
        }
    }

    func sendRequest(_ c: Int) {
        guard let operation = clients[c].operation else { return }
        clients[c].attempt += 1
        let attempt = clients[c].attempt
        if !networkRng.chance(lossRate) {
            schedule(after: networkDelay(), .request(node: clients[c].target, .client(c), attempt: attempt, Self.request(for: operation, patch: clients[c].patch)))
        }
        schedule(after: clientTimeoutNs, .clientTimeout(client: c, attempt: attempt))
    }

    /// No answer in time: a read is sent again to the next master; a write's outcome is unknown.
    func clientTimedOut(_ c: Int) {
        guard let operation = clients[c].operation else { return }
        clients[c].target = (clients[c].target + 1) % nodes.count
        if case .read = operation { return sendRequest(c) }
        complete(c, .unknown)
    }

    func clientReceived(_ c: Int, attempt: UInt64, _ response: HTTPResponse) {
        guard clients[c].attempt == attempt, let operation = clients[c].operation else { return }
        let body = try? JSONParser.parse(response.body)
        let version = body?[path: ["metadata", "resourceVersion"]]?.stringValue.flatMap { LogIndex($0) }
        let reply: ClientReply
        switch (response.status, operation) {
        case (503, _), (429, _):
            // Nothing was done: try again shortly, at the next master when this one knows no leader.
            if response.status == 503 { clients[c].target = (clients[c].target + 1) % nodes.count }
            clients[c].attempt += 1
            schedule(after: 10_000_000, .clientSend(client: c, attempt: clients[c].attempt))
            return
        case (504, .read):
            return sendRequest(c)
        case (504, _):
            reply = .unknown
        case (200, .read):
            reply = .read(value: body?[path: ["data", "v"]]?.stringValue, version: version ?? 0)
        case (200, _), (201, _):
            reply = .written(version: version)
        case (404, .read):
            reply = .read(value: nil, version: 0)
        case (404, _):
            reply = .notFound
        case (409, _):
            reply = body?["reason"]?.stringValue == "AlreadyExists" ? .alreadyExists : .conflict
        default:
            fail(Violation(invariant: "API answer", detail: "client \(c) #\(clients[c].sequence) \(operation) got \(response.status): \(String(decoding: response.body, as: UTF8.self))"))
            return
        }
        switch reply {
        case .written(let v?), .read(_?, let v): clients[c].versions[operation.key] = v
        case .notFound, .read(nil, _), .written(nil): clients[c].versions[operation.key] = nil
        default: break
        }
        complete(c, reply)
    }

    func complete(_ c: Int, _ reply: ClientReply) {
        guard let operation = clients[c].operation else { return }
        history.append(
            CompletedOperation(
                client: c, sequence: clients[c].sequence, operation: operation, invokeNs: clients[c].invokeNs,
                completeNs: reply == .unknown ? .max : nowNs, reply: reply))
        stats.clientOperations += 1
        clients[c].operation = nil
        clients[c].attempt += 1
        schedule(after: workloadRng.exponential(meanNs: plan.thinkTimeMeanNs), .clientStart(client: c))
    }
}
