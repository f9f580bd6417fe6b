import Glibc
import Master
import Raft
import Store

/// Reads: linearizable by default (the leader confirms its leadership with ReadIndex, then serves
/// once it has applied that far; a follower forwards to the leader). With `resourceVersion=0` any
/// master serves from what it has applied. Objects render as JSON or, when the client asks for
/// `as=Table`, as the table `kubectl get` prints.
extension MasterServer {
    func serveResource(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder) throws(APIError) {
        if request.method == "POST" || request.method == "PUT" { try Admission.checkContentType(request.header("Content-Type")) }
        switch (request.method, path.name) {
        case ("GET", nil):
            guard path.subresource == nil else { throw .pathNotFound() }
            if request.isWatch { return try watch(path, request, respond) }
            let filter = try ObjectFilter(path, labelSelector: request.queryValue("labelSelector"), fieldSelector: request.queryValue("fieldSelector"))
            let limit = try Self.limit(request)
            read(request, respond) { [unowned self] () throws(APIError) in
                let page = try ListPage(store: store, filter: filter, limit: limit, continueToken: request.queryValue("continue"))
                if let table = try tableRenderer(path.type, request) {
                    return jsonResponse(200, table.table(page.items, resourceVersion: page.resourceVersion, continueToken: page.continueToken))
                }
                return jsonResponse(200, page.list(of: path.type))
            }
        case ("GET", _?):
            read(request, respond) { [unowned self] () throws(APIError) in
                let item = try currentItem(path)
                let object = StoredObject.render(item.value, version: item.version)
                switch path.subresource {
                case "status" where !path.type.hasStatus: throw .pathNotFound()
                case nil, "status":
                    if let table = try tableRenderer(path.type, request) { return jsonResponse(200, table.table([object], resourceVersion: item.version)) }
                    return jsonResponse(200, object)
                case "scale" where path.type.hasScale: return jsonResponse(200, Scale.of(object))
                default: throw .pathNotFound()
                }
            }
        case ("POST", nil): try write(request, respond) { () throws(APIError) in try self.create(path, request, respond) }
        case ("PUT", _?): try write(request, respond) { () throws(APIError) in try self.update(path, request, respond) }
        case ("PATCH", _?): try write(request, respond) { () throws(APIError) in try self.patch(path, request, respond) }
        case ("DELETE", _?): try write(request, respond) { () throws(APIError) in try self.delete(path, request, respond) }
        default: throw .methodNotAllowed(request.method, request.path)
        }
    }

    /// Runs a write on the leader (a follower forwards it).
    func write(_ request: HTTPRequest, _ respond: HTTPResponder, _ body: () throws(APIError) -> Void) throws(APIError) {
        guard requireLeader(request, respond) else { return }
        try body()
    }

    /// Serves a read: now from local state for `resourceVersion=0`, otherwise after ReadIndex on
    /// the leader.
    func read(_ request: HTTPRequest, _ respond: HTTPResponder, serve: @escaping () throws(APIError) -> HTTPResponse) {
        if request.queryValue("resourceVersion") == "0" {
            do { respond(try serve()) } catch { respond(errorResponse(error)) }
            return
        }
        guard requireLeader(request, respond) else { return }
        let context = nextReadContext
        nextReadContext += 1
        do {
            try driver.readIndex(context: context)
            waitingReads[context] = (respond, serve)
        } catch {
            respond(unavailable("no leader to confirm the read"))
        }
    }

    func serveRead(_ state: ReadState) {
        guard let (respond, serve) = waitingReads.removeValue(forKey: state.context) else { return }
        do { respond(try serve()) } catch { respond(errorResponse(error)) }
    }

    func failReads(_ message: String) {
        let reads = waitingReads
        waitingReads = [:]
        for (_, read) in reads { read.respond(unavailable(message)) }
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
        return TableRenderer(type: type, now: Int64(time(nil)), include: include)
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
