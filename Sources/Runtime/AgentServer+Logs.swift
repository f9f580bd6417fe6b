import Agent
import Glibc
import Master

/// The agent's own HTTP endpoint (its `daemonEndpoints` port): kubelet's
/// `GET /containerLogs/NAMESPACE/POD/CONTAINER` with `previous`, `tailLines`, `limitBytes` and
/// `follow`, which the masters relay for `GET .../pods/NAME/log` (`kubectl logs`).
extension AgentServer {
    /// How often a followed log is read again for what was appended.
    static let followIntervalNs: UInt64 = 200_000_000

    func serve(_ request: HTTPRequest, _ respond: HTTPResponder) {
        let parts = request.path.split(separator: "/").map(String.init)
        guard parts.count == 4, parts[0] == "containerLogs" else {
            return respond(.status(404, reason: "NotFound", message: "the agent serves /containerLogs/NAMESPACE/POD/CONTAINER"))
        }
        guard request.method == "GET" else { return respond(.status(405, reason: "MethodNotAllowed", message: "only GET is served")) }
        let flag = { (name: String) in ["true", "1"].contains(request.queryValue(name) ?? "") }
        var tailLines: Int?
        if let text = request.queryValue("tailLines") {
            guard let value = Int(text), value >= 0 else { return respond(.status(400, reason: "BadRequest", message: "tailLines must be a number of lines, not '\(text)'")) }
            tailLines = value
        }
        var limitBytes: Int?
        if let text = request.queryValue("limitBytes") {
            guard let value = Int(text), value > 0 else { return respond(.status(400, reason: "BadRequest", message: "limitBytes must be a positive number of bytes, not '\(text)'")) }
            limitBytes = value
        }
        let source: AgentCore.LogSource
        switch core.logSource(namespace: parts[1], pod: parts[2], container: parts[3], previous: flag("previous")) {
        case .failure(let refusal): return respond(.status(400, reason: "BadRequest", message: refusal.message))
        case .success(let found): source = found
        }
        let bytes = runtime.log(source.run, from: 0)
        let tail = tailLines.map { Self.lastLines(bytes, $0) } ?? bytes
        // limitBytes counts from the start of what would be shown, followed lines included.
        let shown = Array(tail.prefix(limitBytes ?? .max))
        let headers = [("Content-Type", "text/plain; charset=utf-8")]
        let remaining = limitBytes.map { $0 - shown.count }
        guard flag("follow"), source.running, remaining ?? 1 > 0 else { return respond(HTTPResponse(status: 200, headers: headers, body: shown)) }
        guard let stream = respond.stream(status: 200, headers: headers) else { return }
        if !shown.isEmpty { _ = stream.send(shown) }
        follow(stream, source.run, offset: bytes.count, remaining: remaining)
    }

    /// Sends what is appended to the log until its run ends, the reader leaves, or `remaining`
    /// bytes (when given) have been sent.
    func follow(_ stream: HTTPStream, _ run: ContainerRun, offset: Int, remaining: Int?) {
        loop.schedule(afterNs: Self.followIntervalNs) { [self] in
            guard stream.isOpen, !stopped else { return }
            let running = core.isRunning(run)
            let appended = runtime.log(run, from: offset)
            let sent = Array(appended.prefix(remaining ?? .max))
            if !sent.isEmpty { _ = stream.send(sent) }
            let left = remaining.map { $0 - sent.count }
            guard running, left ?? 1 > 0 else { return stream.end() }
            follow(stream, run, offset: offset + appended.count, remaining: left)
        }
    }

    /// The last `count` lines of `bytes` (a final line without its newline counts as one).
    static func lastLines(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        var seen = 0
        var index = bytes.count
        if bytes.last == 10 { index -= 1 }
        while index > 0 {
            if bytes[index - 1] == 10 {
                seen += 1
                if seen == count { return Array(bytes[index...]) }
            }
            index -= 1
        }
        return bytes
    }
}
