import Host
import Master
import Raft
import Store

/// Reads: linearizable by default (the leader confirms its leadership with ReadIndex, then serves
/// once it has applied that far; a follower forwards to the leader). With `resourceVersion=0` any
/// master serves from what it has applied. Objects render as JSON or, when the client asks for
/// `as=Table`, as the table `kubectl get` prints.
extension MasterCore {
    func serveResource(_ id: RequestID, _ path: ResourcePath, _ request: HTTPRequest) throws(APIError) {
        if request.method == "POST" || request.method == "PUT" { try Admission.checkContentType(request.header("Content-Type")) }
        switch (request.method, path.name) {
        case ("GET", nil):
            guard path.subresource == nil else { throw .pathNotFound() }
            if request.isWatch { return try watch(id, path, request) }
            let filter = try ObjectFilter(path, labelSelector: request.queryValue("labelSelector"), fieldSelector: request.queryValue("fieldSelector"))
            let limit = try Self.limit(request)
            let table = try tableRenderer(path.type, request)
            whenReadable(id, request) { [unowned self] in
                do throws(APIError) {
                    let scan = try ListScan(store: store, filter: filter, limit: limit, continueToken: request.queryValue("continue"))
                    startList(id, scan, ListDocument(of: path.type, table: table))
                } catch {
                    respond(id, error)
                }
            }
        case ("GET", _?):
            read(id, request) { [unowned self] () throws(APIError) in
                let item = try currentItem(path)
                let object = StoredObject.render(item.value, version: item.version)
                switch path.subresource {
                case "status" where !path.type.hasStatus: throw .pathNotFound()
                case nil, "status":
                    if let table = try tableRenderer(path.type, request) { return .json(200, table.table([object], resourceVersion: item.version)) }
                    return .json(200, object)
                case "scale" where path.type.hasScale: return .json(200, Scale.of(object))
                default: throw .pathNotFound()
                }
            }
        case ("POST", nil): write(id, request) { [unowned self] () throws(APIError) in try create(id, path, request) }
        case ("POST", _?) where path.type.plural == "pods" && path.subresource == "binding":
            write(id, request) { [unowned self] () throws(APIError) in try bind(id, path, request) }
        case ("PUT", _?): write(id, request) { [unowned self] () throws(APIError) in try update(id, path, request) }
        case ("PATCH", _?): write(id, request) { [unowned self] () throws(APIError) in try patch(id, path, request) }
        case ("DELETE", _?): write(id, request) { [unowned self] () throws(APIError) in try delete(id, path, request) }
        default: throw .methodNotAllowed(request.method, request.path)
        }
    }

    /// Serves a read: now from local state for `resourceVersion=0`, otherwise after ReadIndex on
    /// the leader.
    func read(_ id: RequestID, _ request: HTTPRequest, serve: @escaping () throws(APIError) -> HTTPResponse) {
        whenReadable(id, request) { [unowned self] in
            do throws(APIError) { respond(id, try serve()) } catch { respond(id, error) }
        }
    }

    /// Runs `run` once this master may serve the read: now for `resourceVersion=0`, otherwise
    /// after ReadIndex on the leader (a follower forwards the request instead).
    func whenReadable(_ id: RequestID, _ request: HTTPRequest, _ run: @escaping () -> Void) {
        if request.queryValue("resourceVersion") == "0" { return run() }
        if host.node.role != .leader && host.node.config.plantedBugs.contains(.followerLocalRead) { return run() }
        guard requireLeader(id, request) else { return }
        afterReadIndex(id, run)
    }

    /// Runs a write on the leader (a follower forwards it). The write checks the request against
    /// the state this leader has applied, which may lag what is committed (a new leader still
    /// applying its predecessor's entries) or be stale (a deposed leader that does not know it
    /// yet). A write that goes ahead is safe all the same: it proposes a compare-and-swap, decided
    /// in log order. But a refusal computed from that state (404, 409) would not be: it is given
    /// only after ReadIndex has confirmed the leadership and the state has caught up, running the
    /// write again (found by the simulator, seed 199: a DELETE answered 404 for an object created
    /// and acknowledged before it).
    func write(_ id: RequestID, _ request: HTTPRequest, _ body: @escaping () throws(APIError) -> Void) {
        guard requireLeader(id, request) else { return }
        do throws(APIError) {
            try body()
        } catch where error.code == 404 || error.code == 409 {
            afterReadIndex(id) { [unowned self] in
                do throws(APIError) { try body() } catch { respond(id, error) }
            }
        } catch {
            respond(id, error)
        }
    }

    /// Runs `run` once this master has confirmed it leads (ReadIndex, thesis §6.4) and applied
    /// everything committed when it asked.
    func afterReadIndex(_ id: RequestID, _ run: @escaping () -> Void) {
        let context = nextReadContext
        nextReadContext += 1
        do throws(RaftNode.ReadIndexError) {
            try host.readIndex(context: context)
            waitingReads[context] = PendingRead(request: id, run: run)
        } catch {
            switch error {
            case .notLeader: respond(id, unavailable("leadership is moving; retry"))
            case .tooManyPendingReads:
                respond(id, HTTPResponse.status(429, reason: "TooManyRequests", message: "too many reads waiting for the leader to confirm it still leads"))
            }
        }
    }

    func serveRead(_ state: ReadState) {
        waitingReads.removeValue(forKey: state.context)?.run()
    }

    func failReads(_ message: String) {
        let reads = waitingReads
        waitingReads = [:]
        for context in reads.keys.sorted() { respond(reads[context]!.request, unavailable(message)) }
    }

    static func limit(_ request: HTTPRequest) throws(APIError) -> Int? {
        guard let text = request.queryValue("limit"), !text.isEmpty else { return nil }
        guard let limit = Int(text), limit >= 0 else { throw .badRequest("limit must be a non-negative integer, not \(JSON.quoted(text))") }
        return limit == 0 ? nil : limit
    }

    /// A table renderer when the client accepts `as=Table`, else nil.
    func tableRenderer(_ type: ResourceType, _ request: HTTPRequest) throws(APIError) -> TableRenderer? {
        guard let accept = request.header("Accept"), accept.contains("as=Table") else { return nil }
        let include = try request.queryValue("includeObject").map { (text: String) throws(APIError) -> TableRenderer.IncludeObject in
            guard let value = TableRenderer.IncludeObject(rawValue: text) else { throw .badRequest("includeObject must be None, Metadata or Object") }
            return value
        } ?? .metadata
        return TableRenderer(type: type, now: nowSeconds, include: include)
    }
}
