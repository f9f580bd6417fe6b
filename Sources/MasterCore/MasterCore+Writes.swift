import Host
import Master
import Raft
import Store

/// Writes: the leader checks the request against the state it has applied, proposes one store
/// operation (a compare-and-swap on the object's version for every change to an existing
/// object), and answers once the entry applies. A conflict with a write that got in first is
/// retried against the newer state, unless the client named the version it expected.
extension MasterCore {
    /// How many times a write without a client-given resourceVersion is retried on conflict.
    static let maxWriteAttempts = 5

    func takeSequence() -> UInt64 {
        defer { nextSequence += 1 }
        return nextSequence
    }

    /// Proposes a store operation; `completion` runs when it applies here, or the client gets 504
    /// after `writeTimeoutNs`. The waiter is registered before proposing: on a single master the
    /// entry commits and applies as soon as the host processes it.
    func propose(_ operation: KVRequest.Operation, _ id: RequestID, completion: @escaping (KVStore.Applied) -> Void) {
        let timedOut = { [unowned self] in
            respond(id, HTTPResponse.status(504, reason: "Timeout", message: "the write was not confirmed in time; its outcome is unknown"))
        }
        if let error = propose(operation, PendingWrite(completion: completion, timedOut: timedOut)) {
            switch error {
            case .notLeader, .transferInProgress: respond(id, unavailable("leadership is moving; retry"))
            case .tooManyUncommittedBytes:
                respond(id, HTTPResponse.status(429, reason: "TooManyRequests", message: "too many writes waiting to commit"))
            }
        }
    }

    /// Proposes `operation` under this master's session; `waiting` hears how it ends. Returns
    /// why the Raft core refused it, if it did.
    func propose(_ operation: KVRequest.Operation, _ waiting: PendingWrite) -> RaftNode.ProposeError? {
        let sequence = takeSequence()
        waitingWrites[sequence] = waiting
        do throws(RaftNode.ProposeError) {
            _ = try host.propose(KVRequest(client: session, sequence: sequence, operation: operation).encoded())
            proposals += 1
            writeDeadlines.append((nowNs + options.writeTimeoutNs, sequence))
            return nil
        } catch {
            waitingWrites[sequence] = nil
            return error
        }
    }

    /// Tells the writes whose deadline passed that their outcome is unknown.
    func expireWrites() {
        while nextWriteDeadline < writeDeadlines.count, writeDeadlines[nextWriteDeadline].deadlineNs <= nowNs {
            waitingWrites.removeValue(forKey: writeDeadlines[nextWriteDeadline].sequence)?.timedOut()
            nextWriteDeadline += 1
        }
        if nextWriteDeadline > 1024, nextWriteDeadline * 2 > writeDeadlines.count {
            writeDeadlines.removeFirst(nextWriteDeadline)
            nextWriteDeadline = 0
        }
    }

    /// An entry applied to the store: record the change for watches, and answer the write that
    /// proposed the entry, if it is ours.
    func applied(_ entry: Entry, _ applied: KVStore.Applied) {
        recordChange(at: entry.index, applied)
        observe(at: entry.index, applied)
        guard let request = applied.request, request.client == session,
            let waiting = waitingWrites.removeValue(forKey: request.sequence)
        else { return }
        waiting.completion(applied)
    }

    static func isStrict(_ request: HTTPRequest) -> Bool { request.queryValue("fieldValidation") == "Strict" }
    static func isDryRun(_ request: HTTPRequest) -> Bool { !(request.queryValue("dryRun") ?? "").isEmpty }

    /// The stored object a path names, or 404.
    func currentItem(_ path: ResourcePath) throws(APIError) -> KVStore.Item {
        guard let key = path.key, let item = store.get(key) else { throw .notFound(path.type, path.name ?? "") }
        return item
    }

    func internalError(_ result: KVResult) -> APIError {
        APIError(code: 500, reason: "InternalError", message: "the write was not applied (\(result))")
    }

    // MARK: Verbs

    func create(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest) throws(APIError) {
        guard path.subresource == nil else { throw .methodNotAllowed(request.method, request.path) }
        guard path.type.namespaced == (path.namespace != nil) else {
            throw .methodNotAllowed(request.method, request.path)
        }
        let body = try Admission.decode(request.body)
        if let ns = path.namespace, store.get(ResourceType.namespaces.key(namespace: nil, name: ns)) == nil {
            // The system namespaces cannot be deleted: missing, they are still being created by a new cluster.
            if Self.systemNamespaces.contains(ns) {
                return respond(id, unavailable("the cluster is starting: the \(ns) namespace does not exist yet"))
            }
            throw .notFound(.namespaces, ns)
        }
        let object = try Admission.create(path, body, strict: Self.isStrict(request), stamp: stamp(), defaults: options.control.defaults)
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let key = path.type.key(namespace: path.namespace, name: name)
        if Self.isDryRun(request) {
            if store.get(key) != nil { throw .alreadyExists(path.type, name) }
            return respond(id, .json(201, object))
        }
        let text = object.text
        propose(.create(key: key, value: text), id) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(id, .json(201, StoredObject.render(text, version: version)))
            case .alreadyExists: respond(id, .alreadyExists(path.type, name))
            default: respond(id, internalError(applied.result))
            }
        }
    }

    /// PUT: the whole object, its status, or its scale.
    func update(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest, attempt: Int = 1) throws(APIError) {
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
            retry = { [unowned self] () throws(APIError) in try self.update(id, path, request, attempt: attempt + 1) }
        }
        try replace(id, path, with: body, current: current, request, attempt: attempt, retry: retry)
    }

    /// PATCH: merge, JSON or strategic merge, on the object, its status or its scale.
    func patch(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest, attempt: Int = 1) throws(APIError) {
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
            ? nil : { [unowned self] () throws(APIError) in try self.patch(id, path, request, attempt: attempt + 1) }
        try replace(id, path, with: patched, current: current, request, attempt: attempt, retry: retry)
    }

    /// Stores `body` as the new state of the object (or of its status or scale), compare-and-swap
    /// on the body's resourceVersion. A write that leaves the object marked for deletion with no
    /// finalizer deletes it.
    func replace(
        _ id: RequestID, _ path: ResourcePath, with body: JSON, current: KVStore.Item, _ request: HTTPRequest,
        attempt: Int, retry: (() throws(APIError) -> Void)?
    ) throws(APIError) {
        let expected = try Admission.resourceVersion(of: body)
        // The new object is built from this master's copy (what a status write keeps, what an
        // update preserves), so that copy must be the version the client named: a newer one is a
        // conflict; an older one means this master (a leader just elected) has not applied that
        // version yet, and writing now would store its stale fields under the client's version.
        if let expected, expected != current.version {
            guard expected < current.version else {
                return respond(id, unavailable("this master has not yet applied resourceVersion \(expected); retry shortly"))
            }
            throw .conflict(path.type, path.name ?? "")
        }
        var objectPath = path
        if path.subresource == "scale" { objectPath.subresource = nil }
        let object = try Admission.update(objectPath, body, current: StoredObject.render(current.value, version: current.version), strict: Self.isStrict(request),
                                         defaults: options.control.defaults)
        let key = path.key!
        let name = path.name ?? ""
        func answer(_ version: UInt64) -> HTTPResponse {
            let rendered = StoredObject.render(object.text, version: version)
            return HTTPResponse.json(200, path.subresource == "scale" ? Scale.of(rendered) : rendered)
        }
        if Self.isDryRun(request) { return respond(id, answer(current.version)) }
        let text = object.text
        let deletes = Admission.isReadyToDelete(object)
        let operation: KVRequest.Operation = deletes
            ? .delete(key: key, expectedVersion: expected) : .update(key: key, value: text, expectedVersion: expected)
        propose(operation, id) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(id, answer(version))
            case .notFound: respond(id, .notFound(path.type, name))
            case .conflict:
                if let retry, attempt < Self.maxWriteAttempts {
                    do throws(APIError) { try retry() } catch { respond(id, error) }
                } else {
                    respond(id, .conflict(path.type, name))
                }
            default: respond(id, internalError(applied.result))
            }
        }
    }

    /// DELETE with optional `DeleteOptions` (preconditions honoured; `propagationPolicy`
    /// accepted). An object with finalizers is marked with `deletionTimestamp` and stays until
    /// the last finalizer is removed. A pod bound to a node and not finished is deleted
    /// gracefully, as in Kubernetes: marked with `deletionTimestamp` and
    /// `deletionGracePeriodSeconds` (`gracePeriodSeconds`, else its
    /// `terminationGracePeriodSeconds`), it stays until its node's agent removes it with a grace of
    /// 0 (`kubectl delete --force --grace-period=0` does the same at once).
    func delete(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest, attempt: Int = 1) throws(APIError) {
        guard path.subresource == nil else { throw .methodNotAllowed(request.method, request.path) }
        if path.type.plural == "namespaces", let name = path.name, Self.systemNamespaces.contains(name) {
            throw APIError(code: 403, reason: "Forbidden", message: "namespaces \"\(name)\" is forbidden: this namespace may not be deleted")
        }
        let options = request.body.isEmpty ? JSON.object([:]) : try Admission.decode(request.body)
        let current = try currentItem(path)
        var object = StoredObject.render(current.value, version: current.version)
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
        let grace = path.type.plural == "pods" ? Self.gracePeriod(of: object, options) : 0
        if let finalizer = try Self.propagationFinalizer(path.type, options),
           !(object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).contains(.string(finalizer)) {
            object[path: ["metadata", "finalizers"]] = .array((object[path: ["metadata", "finalizers"]]?.arrayValue ?? []) + [.string(finalizer)])
        }
        if !(object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty || grace > 0 {
            if object[path: ["metadata", "deletionTimestamp"]] != nil { return respond(id, .json(200, object)) }
            var marked = object
            marked[path: ["metadata", "deletionTimestamp"]] = .string(stamp().now)
            if grace > 0 { marked[path: ["metadata", "deletionGracePeriodSeconds"]] = .number(grace) }
            marked[path: ["metadata", "resourceVersion"]] = nil
            let text = marked.text
            operation = .update(key: path.key!, value: text, expectedVersion: precondition ?? current.version)
            answer = { version in .json(200, StoredObject.render(text, version: version)) }
        } else {
            operation = .delete(key: path.key!, expectedVersion: precondition ?? current.version)
            answer = { [unowned self] _ in deletedStatus(path, object) }
        }
        if Self.isDryRun(request) { return respond(id, answer(current.version)) }
        propose(operation, id) { [unowned self] applied in
            switch applied.result {
            case .ok(let version): respond(id, answer(version))
            case .notFound: respond(id, .notFound(path.type, name))
            case .conflict:
                if precondition == nil, attempt < Self.maxWriteAttempts {
                    do throws(APIError) { try self.delete(id, path, request, attempt: attempt + 1) } catch { respond(id, error) }
                } else {
                    respond(id, .conflict(path.type, name))
                }
            default: respond(id, internalError(applied.result))
            }
        }
    }

    /// `POST pods/NAME/binding` with a `Binding`, as an outside scheduler sends it: sets
    /// `spec.nodeName` and `PodScheduled=True` in one compare-and-swap, unless the pod is bound
    /// already or being deleted.
    func bind(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest, attempt: Int = 1) throws(APIError) {
        let binding = try Admission.decode(request.body)
        guard let node = binding[path: ["target", "name"]]?.stringValue, !node.isEmpty else {
            throw APIError(code: 400, reason: "BadRequest", message: "a Binding needs target.name, the node to bind to")
        }
        var podPath = path
        podPath.subresource = nil
        let current = try currentItem(podPath)
        var pod = StoredObject.render(current.value, version: current.version)
        let name = path.name ?? ""
        if let uid = binding[path: ["metadata", "uid"]]?.stringValue, pod[path: ["metadata", "uid"]]?.stringValue != uid {
            throw APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": the UID in the Binding (\(uid)) is not the pod's")
        }
        if pod[path: ["metadata", "deletionTimestamp"]] != nil {
            throw APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is being deleted, cannot be assigned to a host")
        }
        if let bound = pod[path: ["spec", "nodeName"]]?.stringValue, !bound.isEmpty {
            throw APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is already assigned to node \"\(bound)\"")
        }
        pod[path: ["spec", "nodeName"]] = .string(node)
        let scheduled: JSON = ["type": "PodScheduled", "status": "True", "lastTransitionTime": .string(stamp().now)]
        pod[path: ["status", "conditions"]] = .array((pod[path: ["status", "conditions"]]?.arrayValue ?? []).filter { $0["type"] != "PodScheduled" } + [scheduled])
        pod[path: ["metadata", "resourceVersion"]] = nil
        let text = pod.text
        propose(.update(key: podPath.key!, value: text, expectedVersion: current.version), id) { [unowned self] applied in
            switch applied.result {
            case .ok: respond(id, .json(201, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "code": 201]))
            case .notFound: respond(id, .notFound(path.type, name))
            case .conflict where attempt < Self.maxWriteAttempts:
                do throws(APIError) { try bind(id, path, request, attempt: attempt + 1) } catch { respond(id, error) }
            case .conflict: respond(id, .conflict(path.type, name))
            default: respond(id, internalError(applied.result))
            }
        }
    }

    /// The finalizer a `propagationPolicy` asks for on an owner kind: `Orphan` (or the old
    /// `orphanDependents: true`) keeps the dependents, `Foreground` deletes them first; the
    /// garbage collector does the work, then removes the finalizer. `Background` needs none.
    static func propagationFinalizer(_ type: ResourceType, _ options: JSON) throws(APIError) -> String? {
        let policy = options["propagationPolicy"]?.stringValue ?? (options["orphanDependents"] == true ? "Orphan" : "Background")
        switch policy {
        case "Background": return nil
        case "Orphan", "Foreground":
            guard type.plural == "deployments" || type.plural == "replicasets" else { return nil }
            return policy == "Orphan" ? "orphan" : "foregroundDeletion"
        default:
            throw APIError(code: 422, reason: "Invalid", message: "DeleteOptions.propagationPolicy: Unsupported value: \(JSON.quoted(policy)): supported values: \"Foreground\", \"Background\", \"Orphan\"")
        }
    }

    /// How long a pod being deleted is given to stop: 0 (deleted at once) unless it is bound to a
    /// node and not finished (Kubernetes' `CheckGracefulDelete`).
    static func gracePeriod(of pod: JSON, _ options: JSON) -> Int {
        let phase = pod[path: ["status", "phase"]]?.stringValue
        guard !(pod[path: ["spec", "nodeName"]]?.stringValue ?? "").isEmpty, phase != "Succeeded", phase != "Failed" else { return 0 }
        return max(0, options["gracePeriodSeconds"]?.intValue ?? pod[path: ["spec", "terminationGracePeriodSeconds"]]?.intValue ?? 30)
    }

    func deletedStatus(_ path: ResourcePath, _ object: JSON) -> HTTPResponse {
        var details: JSON = ["name": .string(path.name ?? ""), "kind": .string(path.type.plural)]
        if !path.type.group.isEmpty { details["group"] = .string(path.type.group) }
        details["uid"] = object[path: ["metadata", "uid"]]
        return HTTPResponse.json(200, ["kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Success", "details": details])
    }
}
