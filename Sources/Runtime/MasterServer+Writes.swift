import Glibc
import Master
import Raft
import Store

/// Writes: the leader checks the request against the state it has applied, proposes one store
/// operation (a compare-and-swap on the object's version for every change to an existing
/// object), and answers once the entry applies. A conflict with a write that got in first is
/// retried against the newer state, unless the client named the version it expected.
extension MasterServer {
    /// How many times a write without a client-given resourceVersion is retried on conflict.
    static let maxWriteAttempts = 5

    /// True when this master leads. Otherwise the request goes to the leader and its answer comes
    /// back (once: a forwarded request is never forwarded again), or 503 when there is no leader.
    func requireLeader(_ request: HTTPRequest, _ respond: HTTPResponder) -> Bool {
        if driver.node.role == .leader { return true }
        if request.header("X-Bosun-Forwarded") == nil, let leader = driver.node.leader,
            let api = options.members.first(where: { $0.id == leader })?.api
        {
            forwarder.forward(request, to: api) { respond($0) }
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

    /// What the leader decides for a new object: a uid, the time, a name suffix.
    func stamp() -> WriteStamp {
        var g = SystemRandomNumberGenerator()
        let hex = (0..<4).map { _ in String(g.next() & 0xFFFF_FFFF, radix: 16) }.map { String(repeating: "0", count: 8 - $0.count) + $0 }
        let uid = "\(hex[0])-\(hex[1].prefix(4))-\(hex[1].suffix(4))-\(hex[2].prefix(4))-\(hex[2].suffix(4))\(hex[3])"
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        let suffix = String((0..<5).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] })
        return WriteStamp(uid: uid, now: Timestamp.text(seconds: Int64(time(nil))), nameSuffix: suffix)
    }

    /// Proposes a store operation; `completion` runs when it applies here, or the client gets 504
    /// after `writeTimeoutNs`. The waiter is registered before proposing: on a single master the
    /// entry commits and applies inside `propose` itself.
    func propose(_ operation: KVRequest.Operation, _ respond: HTTPResponder, completion: @escaping (KVStore.Applied) -> Void) {
        let sequence = takeSequence()
        let timer = loop.schedule(afterNs: options.writeTimeoutNs) { [unowned self] in
            self.waitingWrites.removeValue(forKey: sequence)?.respond(
                HTTPServer.status(504, reason: "Timeout", message: "the write was not confirmed in time; its outcome is unknown"))
        }
        waitingWrites[sequence] = PendingWrite(respond: respond, timer: timer, completion: completion)
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

    /// An entry applied to the store: record the change for watches, and answer the write that
    /// proposed the entry, if it is ours.
    func applied(_ entry: Entry, _ applied: KVStore.Applied) {
        recordChange(at: entry.index, applied)
        guard let request = applied.request, request.client == session,
            let waiting = waitingWrites.removeValue(forKey: request.sequence)
        else { return }
        loop.cancel(waiting.timer)
        waiting.completion(applied)
    }

    static func isStrict(_ request: HTTPRequest) -> Bool { request.queryValue("fieldValidation") == "Strict" }
    static func isDryRun(_ request: HTTPRequest) -> Bool { !(request.queryValue("dryRun") ?? "").isEmpty }

    /// The stored object a path names, or 404.
    func currentItem(_ path: ResourcePath) throws(APIError) -> KVStore.Item {
        guard let key = path.key, let item = store.get(key) else { throw .notFound(path.type, path.name ?? "") }
        return item
    }

    func internalError(_ result: KVResult) -> HTTPResponse {
        errorResponse(APIError(code: 500, reason: "InternalError", message: "the write was not applied (\(result))"))
    }

    // MARK: Verbs

    func create(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder) throws(APIError) {
        guard path.subresource == nil else { throw .methodNotAllowed(request.method, request.path) }
        guard path.type.namespaced == (path.namespace != nil) else {
            throw .methodNotAllowed(request.method, request.path)
        }
        let body = try Admission.decode(request.body)
        if let ns = path.namespace, store.get(ResourceType.namespaces.key(namespace: nil, name: ns)) == nil {
            // `default` cannot be deleted: missing, it is still being created by a new cluster.
            if ns == "default" { return respond(unavailable("the cluster is starting: the default namespace does not exist yet")) }
            throw .notFound(.namespaces, ns)
        }
        let object = try Admission.create(path, body, strict: Self.isStrict(request), stamp: stamp())
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let key = path.type.key(namespace: path.namespace, name: name)
        if Self.isDryRun(request) {
            if store.get(key) != nil { throw .alreadyExists(path.type, name) }
            return respond(jsonResponse(201, object))
        }
        let text = object.text
        propose(.create(key: key, value: text), respond) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(jsonResponse(201, StoredObject.render(text, version: version)))
            case .alreadyExists: respond(errorResponse(.alreadyExists(path.type, name)))
            default: respond(internalError(applied.result))
            }
        }
    }

    /// PUT: the whole object, its status, or its scale.
    func update(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder, attempt: Int = 1) throws(APIError) {
        let current = try currentItem(path)
        var body = try Admission.decode(request.body)
        if path.subresource == "scale" {
            guard path.type.hasScale else { throw .pathNotFound() }
            body = try Scale.applying(body, to: StoredObject.render(current.value, version: current.version))
        }
        // Without a version from the client, write against the one read, and on conflict read again.
        var retry: (() throws(APIError) -> Void)? = nil
        if try Admission.resourceVersion(of: body) == nil {
            body[path: ["metadata", "resourceVersion"]] = .string(String(current.version))
            retry = { [unowned self] () throws(APIError) in try self.update(path, request, respond, attempt: attempt + 1) }
        }
        try replace(path, with: body, current: current, request, respond, attempt: attempt, retry: retry)
    }

    /// PATCH: merge, JSON or strategic merge, on the object, its status or its scale.
    func patch(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder, attempt: Int = 1) throws(APIError) {
        let format = try Patch.Format(contentType: request.header("Content-Type"))
        let patch: JSON
        do { patch = try JSONParser.parse(request.body) } catch { throw .badRequest("the patch is not valid JSON: \(error)") }
        let current = try currentItem(path)
        let object = StoredObject.render(current.value, version: current.version)
        var patched: JSON
        if path.subresource == "scale" {
            guard path.type.hasScale else { throw .pathNotFound() }
            patched = try Scale.applying(try Patch.apply(format, patch, to: Scale.of(object), schema: nil), to: object)
        } else {
            patched = try Patch.apply(format, patch, to: object, schema: path.type.schema)
        }
        // The patched object is written against the version it was computed from: a write that
        // got in between is a conflict, and the patch is applied again to the newer state —
        // unless the patch itself names the version it expects.
        let namesVersion = Patch.namesResourceVersion(format, patch)
        if !namesVersion { patched[path: ["metadata", "resourceVersion"]] = .string(String(current.version)) }
        let retry: (() throws(APIError) -> Void)? = namesVersion
            ? nil : { [unowned self] () throws(APIError) in try self.patch(path, request, respond, attempt: attempt + 1) }
        try replace(path, with: patched, current: current, request, respond, attempt: attempt, retry: retry)
    }

    /// Stores `body` as the new state of the object (or of its status or scale), compare-and-swap
    /// on the body's resourceVersion. A write that leaves the object marked for deletion with no
    /// finalizer deletes it.
    func replace(
        _ path: ResourcePath, with body: JSON, current: KVStore.Item, _ request: HTTPRequest, _ respond: HTTPResponder,
        attempt: Int, retry: (() throws(APIError) -> Void)?
    ) throws(APIError) {
        let expected = try Admission.resourceVersion(of: body)
        var objectPath = path
        if path.subresource == "scale" { objectPath.subresource = nil }
        let object = try Admission.update(objectPath, body, current: StoredObject.render(current.value, version: current.version), strict: Self.isStrict(request))
        let key = path.key!
        let name = path.name ?? ""
        func answer(_ version: UInt64) -> HTTPResponse {
            let rendered = StoredObject.render(object.text, version: version)
            return jsonResponse(200, path.subresource == "scale" ? Scale.of(rendered) : rendered)
        }
        if Self.isDryRun(request) { return respond(answer(current.version)) }
        let text = object.text
        let deletes = Admission.isReadyToDelete(object)
        let operation: KVRequest.Operation = deletes
            ? .delete(key: key, expectedVersion: expected) : .update(key: key, value: text, expectedVersion: expected)
        propose(operation, respond) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(answer(version))
            case .notFound: respond(errorResponse(.notFound(path.type, name)))
            case .conflict:
                if let retry, attempt < Self.maxWriteAttempts {
                    do throws(APIError) { try retry() } catch { respond(errorResponse(error)) }
                } else {
                    respond(errorResponse(.conflict(path.type, name)))
                }
            default: respond(internalError(applied.result))
            }
        }
    }

    /// DELETE with optional `DeleteOptions` (preconditions honoured; `propagationPolicy`
    /// accepted). An object with finalizers is marked with `deletionTimestamp` and stays until
    /// the last finalizer is removed.
    func delete(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder, attempt: Int = 1) throws(APIError) {
        guard path.subresource == nil else { throw .methodNotAllowed(request.method, request.path) }
        if path.type.plural == "namespaces", path.name == "default" {
            throw APIError(code: 403, reason: "Forbidden", message: "namespaces \"default\" is forbidden: this namespace may not be deleted")
        }
        let options = request.body.isEmpty ? JSON.object([:]) : try Admission.decode(request.body)
        let current = try currentItem(path)
        let object = StoredObject.render(current.value, version: current.version)
        if let uid = options[path: ["preconditions", "uid"]]?.stringValue, object[path: ["metadata", "uid"]]?.stringValue != uid {
            throw APIError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object[path: ["metadata", "uid"]]?.stringValue ?? "")")
        }
        var precondition: UInt64? = nil
        if let rv = options[path: ["preconditions", "resourceVersion"]]?.stringValue {
            guard let value = UInt64(rv) else { throw .badRequest("preconditions.resourceVersion must be a decimal string") }
            precondition = value
        }
        let name = path.name ?? ""
        let operation: KVRequest.Operation
        let answer: (UInt64) -> HTTPResponse
        if !(object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty {
            if object[path: ["metadata", "deletionTimestamp"]] != nil { return respond(jsonResponse(200, object)) }
            var marked = object
            marked[path: ["metadata", "deletionTimestamp"]] = .string(stamp().now)
            marked[path: ["metadata", "resourceVersion"]] = nil
            let text = marked.text
            operation = .update(key: path.key!, value: text, expectedVersion: precondition ?? current.version)
            answer = { [unowned self] version in jsonResponse(200, StoredObject.render(text, version: version)) }
        } else {
            operation = .delete(key: path.key!, expectedVersion: precondition ?? current.version)
            answer = { [unowned self] _ in deletedStatus(path, object) }
        }
        if Self.isDryRun(request) { return respond(answer(current.version)) }
        propose(operation, respond) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(answer(version))
            case .notFound: respond(errorResponse(.notFound(path.type, name)))
            case .conflict:
                if precondition == nil, attempt < Self.maxWriteAttempts {
                    do throws(APIError) { try self.delete(path, request, respond, attempt: attempt + 1) } catch { respond(errorResponse(error)) }
                } else {
                    respond(errorResponse(.conflict(path.type, name)))
                }
            default: respond(internalError(applied.result))
            }
        }
    }

    func deletedStatus(_ path: ResourcePath, _ object: JSON) -> HTTPResponse {
        var details: JSON = ["name": .string(path.name ?? ""), "kind": .string(path.type.plural)]
        if !path.type.group.isEmpty { details["group"] = .string(path.type.group) }
        details["uid"] = object[path: ["metadata", "uid"]]
        return jsonResponse(200, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": details])
    }
}
