import Glibc
import Master
import Raft
import Store

/// Writes through Raft, reads from the applied store.
extension MasterServer {
    /// True when this master leads. Otherwise the request goes to the leader and its answer comes
    /// back (once: a forwarded request is never forwarded again), or 503 when there is no leader.
    func requireLeader(_ request: HTTPRequest, _ respond: @escaping Responder) -> Bool {
        if driver.node.role == .leader { return true }
        if request.header("X-Bosun-Forwarded") == nil, let leader = driver.node.leader,
            let api = options.members.first(where: { $0.id == leader })?.api
        {
            forwarder.forward(request, to: api, respond: respond)
        } else {
            respond(unavailable("no leader is known; retry shortly"))
        }
        return false
    }

    /// 503 with `Retry-After`, naming the leader's API address when known.
    func unavailable(_ message: String) -> HTTPResponse {
        var response = HTTPServer.status(503, reason: "ServiceUnavailable", message: message)
        response.headers.append(("Retry-After", "1"))
        if let leader = driver.node.leader, let api = options.members.first(where: { $0.id == leader })?.api {
            response.headers.append(("X-Bosun-Leader", "http://\(api)"))
        }
        return response
    }

    func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    func newUID() -> String {
        var g = SystemRandomNumberGenerator()
        let hex = (0..<4).map { _ in String(g.next() & 0xFFFF_FFFF, radix: 16) }.map { String(repeating: "0", count: 8 - $0.count) + $0 }
        return "\(hex[0])-\(hex[1].prefix(4))-\(hex[1].suffix(4))-\(hex[2].prefix(4))-\(hex[2].suffix(4))\(hex[3])"
    }

    /// Now in RFC 3339, UTC, seconds precision.
    func now() -> String {
        var t = time(nil)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// Validates the request and builds the store operation to propose.
    func operation(for route: APIRoute, _ request: HTTPRequest) throws(APIObject.Refusal) -> KVRequest.Operation {
        switch route {
        case .create(let kind, let ns):
            let object = try APIObject.parse(request.body, kind: kind, namespace: ns)
            let stamped = APIObject.stamp(object, uid: newUID(), creationTimestamp: now())
            return .create(key: kind.key(namespace: ns, name: APIObject.name(of: object)), value: APIObject.encode(stamped))
        case .replace(let kind, let ns, let name):
            let object = try APIObject.parse(request.body, kind: kind, namespace: ns)
            guard APIObject.name(of: object) == name else {
                throw APIObject.Refusal(code: 400, reason: "BadRequest", message: "metadata.name does not match the name in the path")
            }
            let key = kind.key(namespace: ns, name: name)
            guard let current = store.get(key) else {
                throw APIObject.Refusal(code: 404, reason: "NotFound", message: "\(kind.rawValue) \"\(name)\" not found")
            }
            // Keep what the leader stamped at creation.
            let original = APIObject.parseStored(current.value)
            let stamped = APIObject.stamp(object, uid: original.uid ?? newUID(), creationTimestamp: original.created ?? now())
            return .update(key: key, value: APIObject.encode(stamped), expectedVersion: try APIObject.resourceVersion(of: object))
        case .delete(let kind, let ns, let name):
            return .delete(key: kind.key(namespace: ns, name: name), expectedVersion: nil)
        default:
            preconditionFailure("not a write")
        }
    }

    /// Proposes a write and answers it once applied (or 504 after `writeTimeoutNs`). The waiter is
    /// registered before proposing: on a single master the entry commits and applies inside
    /// `propose` itself.
    func write(_ route: APIRoute, _ request: HTTPRequest, _ respond: @escaping Responder) {
        let operation: KVRequest.Operation
        do { operation = try self.operation(for: route, request) } catch {
            respond(HTTPServer.status(error.code, reason: error.reason, message: error.message))
            return
        }
        let sequence = takeSequence()
        let timer = loop.schedule(afterNs: options.writeTimeoutNs) { [unowned self] in
            self.waitingWrites.removeValue(forKey: sequence)?.respond(
                HTTPServer.status(504, reason: "Timeout", message: "the write was not confirmed in time; its outcome is unknown"))
        }
        waitingWrites[sequence] = (route, respond, timer)
        do {
            _ = try driver.propose(KVRequest(client: session, sequence: sequence, operation: operation).encoded())
        } catch {
            guard waitingWrites.removeValue(forKey: sequence) != nil else { return }
            loop.cancel(timer)
            switch error {
            case .notLeader, .transferInProgress: respond(unavailable("leadership is moving; retry"))
            case .tooManyUncommittedBytes:
                respond(HTTPServer.status(429, reason: "TooManyRequests", message: "too many writes waiting to commit"))
            }
        }
    }

    /// The state machine: apply, and answer the request that proposed the entry, if it is ours.
    func apply(_ entry: Entry) {
        let applied = store.apply(entry)
        guard let request = applied.request, request.client == session,
            let waiting = waitingWrites.removeValue(forKey: request.sequence)
        else { return }
        loop.cancel(waiting.timer)
        waiting.respond(writeResponse(waiting.route, request.operation, applied.result))
    }

    func writeResponse(_ route: APIRoute, _ operation: KVRequest.Operation, _ result: KVResult) -> HTTPResponse {
        let (kind, name): (ResourceKind, String)
        switch route {
        case .create(let k, _): (kind, name) = (k, String(operation.key.split(separator: "/", omittingEmptySubsequences: false).last ?? ""))
        case .replace(let k, _, let n), .delete(let k, _, let n): (kind, name) = (k, n)
        default: preconditionFailure("not a write")
        }
        switch result {
        case .ok(let version):
            if case .delete = route {
                return .json(200, #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"\#(jsonEscaped(name))","kind":"\#(kind.rawValue)"}}"#)
            }
            let stored = store.get(operation.key)?.value ?? "{}"
            if case .create = route { return .json(201, APIObject.render(stored, version: version)) }
            return .json(200, APIObject.render(stored, version: version))
        case .alreadyExists:
            return HTTPServer.status(409, reason: "AlreadyExists", message: "\(kind.rawValue) \"\(name)\" already exists")
        case .notFound:
            return HTTPServer.status(404, reason: "NotFound", message: "\(kind.rawValue) \"\(name)\" not found")
        case .conflict:
            return HTTPServer.status(409, reason: "Conflict",
                message: "Operation cannot be fulfilled on \(kind.rawValue) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again")
        case .stale, .invalid:
            return HTTPServer.status(500, reason: "InternalError", message: "the write was not applied")
        }
    }

    func serveRead(_ state: ReadState) {
        guard let (route, respond) = waitingReads.removeValue(forKey: state.context) else { return }
        switch route {
        case .get(let kind, let ns, let name):
            guard let item = store.get(kind.key(namespace: ns, name: name)) else {
                respond(HTTPServer.status(404, reason: "NotFound", message: "\(kind.rawValue) \"\(name)\" not found"))
                return
            }
            respond(.json(200, APIObject.render(item.value, version: item.version)))
        case .list(let kind, let ns):
            let prefix = kind.prefix(namespace: ns)
            let items = store.items.keys.filter { $0.hasPrefix(prefix) }.sorted().map { key in
                APIObject.render(store.items[key]!.value, version: store.items[key]!.version)
            }
            respond(.json(200, APIObject.list(kind, items: items, resourceVersion: store.appliedIndex)))
        default:
            preconditionFailure("not a read")
        }
    }

    func failReads(_ message: String) {
        let reads = waitingReads
        waitingReads = [:]
        for (_, read) in reads { read.respond(unavailable(message)) }
    }

    func clusterStatus() -> String {
        let node = driver.node
        let members = options.members.map { member -> String in
            let reachable = member.id == options.id || driver.transport.isConnected(to: member.id)
            return #"{"id":\#(member.id.rawValue),"peerAddress":"\#(member.peer)","apiAddress":"\#(member.api.map { "\($0)" } ?? "")","reachable":\#(reachable)}"#
        }
        return #"{"id":\#(options.id.rawValue),"role":"\#(node.role.rawValue)","leader":\#(node.leader.map { "\($0.rawValue)" } ?? "null"),"term":\#(node.term),"commitIndex":\#(node.commitIndex),"appliedIndex":\#(store.appliedIndex),"members":[\#(members.joined(separator: ","))]}"#
    }
}
