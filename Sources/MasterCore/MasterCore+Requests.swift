import Host
import Master
import Raft
import Store

/// Routing: resources go to the read, write and watch paths; health, readiness and discovery are
/// answered here. (`/metrics` and `/cluster/status` describe the process and its connections:
/// the driver answers those.)
extension MasterCore {
    func handle(_ id: RequestID, _ request: HTTPRequest, route: APIRoute) {
        if case .resource(let path) = route {
            do { try serveResource(id, path, request) } catch { respond(id, error) }
            return
        }
        guard request.method == "GET" else { return respond(id, .methodNotAllowed(request.method, request.path)) }
        switch route {
        case .health:
            respond(id, HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok".utf8)))
        case .ready:
            let ready = host.node.leader != nil && store.appliedIndex >= host.node.commitIndex
            respond(id, HTTPResponse(status: ready ? 200 : 503, headers: [("Content-Type", "text/plain")], body: Array((ready ? "ok" : "not ready").utf8)))
        case .version: respond(id, .json(200, Discovery.version.text))
        case .coreVersions: respond(id, .json(200, Discovery.coreVersions.text))
        case .groups: respond(id, .json(200, Discovery.groups.text))
        case .group(let name): respond(id, .json(200, Discovery.groupDocument(name).text))
        case .resourceList(let group, let version): respond(id, .json(200, Discovery.resourceList(group: group, version: version).text))
        case .openAPIRoot: respond(id, .json(200, Discovery.openAPIRoot.text))
        case .openAPI(let group, let version):
            if let document = Discovery.openAPI(group: group, version: version) {
                respond(id, .json(200, document.text))
            } else {
                respond(id, .pathNotFound())
            }
        case .clusterStatus, .metrics, .notFound, .resource: respond(id, .pathNotFound())
        }
    }

    /// True when this master leads. Otherwise the request goes to the leader and its answer comes
    /// back (once: a forwarded request is never forwarded again), or 503 when that cannot be.
    func requireLeader(_ id: RequestID, _ request: HTTPRequest) -> Bool {
        let node = host.node
        if node.role == .leader { return true }
        guard let leader = node.leader else {
            respond(id, unavailable("no leader is known; retry shortly"))
            return false
        }
        guard request.header("X-Bosun-Forwarded") == nil else {
            respond(id, unavailable("master \(leader) leads but did not take the forwarded request; retry shortly"))
            return false
        }
        guard let api = apiAddress(of: leader) else {
            respond(id, unavailable("master \(leader) leads but its API address is not known here; retry through another master"))
            return false
        }
        outbox.append(.forward(id, request, api: api))
        return false
    }

    /// Where `member`'s API listens, as configured or as it said in its handshake.
    public func apiAddress(of member: NodeID) -> String? {
        options.members.first { $0.id == member }?.api
    }

    /// 503 with `Retry-After`: the client should try again shortly, here or at another master.
    func unavailable(_ message: String) -> HTTPResponse {
        var response = HTTPResponse.status(503, reason: "ServiceUnavailable", message: message)
        response.headers.append(("Retry-After", "1"))
        return response
    }
}
