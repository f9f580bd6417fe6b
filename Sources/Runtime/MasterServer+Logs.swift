import Foundation
import Master
import Synchronization

/// `GET /api/v1/namespaces/NS/pods/NAME/log` (`kubectl logs`): the pod's node is found in this
/// master's applied state and its agent asked (kubelet's `/containerLogs`, at the Node's
/// `daemonEndpoints` port and InternalIP); its answer is relayed, streamed with `follow=true`.
extension MasterServer {
    func podLogs(_ path: ResourcePath, _ request: HTTPRequest, _ respond: HTTPResponder) {
        let namespace = path.namespace ?? "default"
        guard let name = path.name, let pod = object(.pods, namespace, name) else {
            return respond(.json(404, APIError.notFound(.pods, path.name ?? "").status))
        }
        guard let nodeName = pod[path: ["spec", "nodeName"]]?.stringValue else {
            return respond(.status(400, reason: "BadRequest", message: "pod \"\(name)\" does not have a host assigned"))
        }
        let containers = (pod[path: ["spec", "containers"]]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        var container = request.queryValue("container") ?? ""
        if container.isEmpty {
            guard containers.count == 1 else {
                return respond(.status(400, reason: "BadRequest", message: "a container name must be specified for pod \(name), choose one of: [\(containers.joined(separator: " "))]"))
            }
            container = containers[0]
        }
        guard containers.contains(container) else {
            return respond(.status(400, reason: "BadRequest", message: "container \(container) is not valid for pod \(name)"))
        }
        let node = object(.nodes, nil, nodeName)
        let ip = node?[path: ["status", "addresses"]]?.arrayValue?.first { $0["type"]?.stringValue == "InternalIP" }?["address"]?.stringValue
        guard let ip, let port = node?[path: ["status", "daemonEndpoints", "kubeletEndpoint", "Port"]]?.intValue, (1...65535).contains(port) else {
            return respond(HTTPForwarder.unreachable("node \(nodeName) has not reported where its agent listens"))
        }
        let passed = ["follow", "previous", "tailLines", "limitBytes"].compactMap { key in request.queryValue(key).map { "\(key)=\($0)" } }
        let target = "/containerLogs/\(namespace)/\(name)/\(container)" + (passed.isEmpty ? "" : "?" + passed.joined(separator: "&"))
        let agent = PeerTransport.Address(host: ip, port: UInt16(port))
        if ["true", "1"].contains(request.queryValue("follow") ?? "") {
            LogRelay(respond, loop: loop).start(target, from: agent)
        } else {
            forwarder.forward(HTTPRequest(method: "GET", target: target), to: agent, who: "the agent of node \(nodeName)") { respond($0) }
        }
    }

    /// An object as this master applied it.
    func object(_ type: ResourceType, _ namespace: String?, _ name: String) -> JSON? {
        core.store.get(type.key(namespace: namespace, name: name)).flatMap { try? JSONParser.parse($0.value) }
    }
}

/// A followed log relayed from an agent: read on a helper thread with a blocking client, its bytes
/// handed to the loop as they come and sent on the reader's stream; it stops when either side goes away.
final class LogRelay: @unchecked Sendable {
    // Safe: `respond` and `stream` are touched only on the loop (through `LoopHandle.execute`);
    // `readerLeft` is shared with the thread behind a mutex.
    let respond: HTTPResponder
    let loop: EventLoop
    var stream: HTTPStream?
    let readerLeft = Mutex(false)

    init(_ respond: HTTPResponder, loop: EventLoop) {
        self.respond = respond
        self.loop = loop
    }

    func start(_ target: String, from agent: PeerTransport.Address) {
        let handle = loop.handle
        Thread.detachNewThread { [self] in
            do throws(HTTPClient.Failure) {
                let head = try HTTPClient.stream(
                    host: agent.host, port: agent.port, target: target,
                    started: { handle.execute { self.open() } },
                    received: { bytes in
                        guard !self.readerLeft.withLock({ $0 }) else { return false }
                        handle.execute { _ = self.stream?.send(bytes) }
                        return true
                    })
                handle.execute { self.finish(head) }
            } catch {
                handle.execute { self.finish(HTTPForwarder.unreachable("cannot reach the agent at \(agent): \(error.message)")) }
            }
        }
    }

    func open() {
        stream = respond.stream(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")])
        stream?.onClose = { [self] in readerLeft.withLock { $0 = true } }
        if stream == nil { readerLeft.withLock { $0 = true } }
    }

    /// The agent's stream ended, or it answered without one (an error to pass on).
    func finish(_ answer: HTTPResponse) {
        if let stream {
            stream.end()
        } else {
            respond(answer)
        }
    }
}
