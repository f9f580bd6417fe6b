import Glibc
import Master

/// Relays a request to another master (the leader) and hands back its answer: the HTTP client a
/// follower needs to forward writes and linearizable reads (and a master to ask an agent for logs). One connection per request
/// (`Connection: close`), a deadline on the whole exchange: 503 when the leader cannot be reached
/// (nothing was delivered; retry), 504 when it does not answer in time or closes the connection
/// without answering (the outcome is unknown), 502 when its answer is malformed.
///
/// A connection not accepted within `connectTimeoutNs` is given up as unreachable (503): a
/// leader whose container or machine is gone answers a SYN with nothing at all, and the client
/// should move on within the time an election takes, not wait out the whole deadline.
final class HTTPForwarder {
    let loop: EventLoop
    let timeoutNs: UInt64
    let connectTimeoutNs: UInt64
    let maxResponseBytes: Int

    let resolver: HostResolver

    init(loop: EventLoop, timeoutNs: UInt64 = 5_000_000_000, connectTimeoutNs: UInt64 = 300_000_000, maxResponseBytes: Int = 16 << 20) {
        self.loop = loop
        resolver = HostResolver(loop: loop)
        self.timeoutNs = timeoutNs
        self.connectTimeoutNs = connectTimeoutNs
        self.maxResponseBytes = maxResponseBytes
    }

    final class Exchange {
        var fd: Int32 = -1
        var output: [UInt8]
        var sent = 0
        var received: [UInt8] = []
        var done = false
        var timer: UInt64?
        var connectTimer: UInt64?
        let address: PeerTransport.Address
        /// Who is asked, for messages: "the leader".
        let who: String
        let respond: (HTTPResponse) -> Void

        init(output: [UInt8], address: PeerTransport.Address, who: String, respond: @escaping (HTTPResponse) -> Void) {
            self.output = output
            self.address = address
            self.who = who
            self.respond = respond
        }
    }

    func forward(_ request: HTTPRequest, to address: PeerTransport.Address, who: String = "the leader", respond: @escaping (HTTPResponse) -> Void) {
        let ip: in_addr
        switch resolver.resolve(address.host, whenDone: { [unowned self] in self.forward(request, to: address, who: who, respond: respond) }) {
        case .address(let found): ip = found
        case .pending: return  // forwarded again once the name resolves
        case .failed: return respond(HTTPForwarder.unreachable("cannot resolve the address of \(who), \(address.host)"))
        }
        var head = "\(request.method) \(request.target) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n"
        head += "X-Bosun-Forwarded: 1\r\n"
        for (name, value) in request.headers where !["host", "connection", "content-length", "x-bosun-forwarded"].contains(name.lowercased()) {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(request.body.count)\r\n\r\n"
        let exchange = Exchange(output: Array(head.utf8) + request.body, address: address, who: who, respond: respond)
        do {
            exchange.fd = try Socket.connect(to: Socket.socketAddress(ip, address.port))
            try loop.register(exchange.fd, writable: true) { [unowned self] readable, writable, hangup in
                self.event(exchange, readable: readable, writable: writable, hangup: hangup)
            }
        } catch {
            if exchange.fd >= 0 { close(exchange.fd) }
            respond(HTTPForwarder.unreachable("cannot reach \(who) at \(address): \(error)"))
            return
        }
        exchange.timer = loop.schedule(afterNs: timeoutNs) { [unowned self] in
            exchange.timer = nil
            self.finish(exchange, HTTPForwarder.outcomeUnknown("\(who) at \(address) did not answer in time"))
        }
        exchange.connectTimer = loop.schedule(afterNs: connectTimeoutNs) { [unowned self] in
            exchange.connectTimer = nil
            guard exchange.sent == 0 else { return }
            self.finish(exchange, HTTPForwarder.unreachable("\(who) at \(address) did not accept a connection within \(self.connectTimeoutNs / 1_000_000) ms"))
        }
    }

    private func event(_ exchange: Exchange, readable: Bool, writable: Bool, hangup: Bool) {
        guard !exchange.done else { return }
        if writable && exchange.sent < exchange.output.count {
            guard Socket.pendingError(exchange.fd) == 0,
                let n = Socket.send(exchange.fd, exchange.output[exchange.sent...])
            else {
                return finish(exchange, exchange.sent == 0
                    ? HTTPForwarder.unreachable("\(exchange.who) at \(exchange.address) refused the connection")
                    : HTTPForwarder.outcomeUnknown("\(exchange.who) at \(exchange.address) closed the connection while taking the request"))
            }
            exchange.sent += n
            if exchange.sent == exchange.output.count { loop.watch(exchange.fd, writable: false) }
        }
        guard readable || hangup else { return }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            switch Socket.receive(exchange.fd, into: &buffer) {
            case nil:
                return
            case .some(nil):
                if let response = HTTPForwarder.relayed(exchange.received) { return finish(exchange, response) }
                // The request reached the leader, which may have carried it out before it went away.
                return finish(exchange, exchange.received.isEmpty
                    ? HTTPForwarder.outcomeUnknown("\(exchange.who) at \(exchange.address) closed the connection without answering")
                    : HTTPResponse.status(502, reason: "BadGateway", message: "the answer of \(exchange.who) was malformed"))
            case .some(let bytes?):
                exchange.received += bytes
                if exchange.received.count > maxResponseBytes {
                    return finish(exchange, HTTPResponse.status(502, reason: "BadGateway", message: "the answer of \(exchange.who) is too large"))
                }
            }
        }
    }

    private func finish(_ exchange: Exchange, _ response: HTTPResponse) {
        guard !exchange.done else { return }
        exchange.done = true
        if let timer = exchange.timer { loop.cancel(timer) }
        if let timer = exchange.connectTimer { loop.cancel(timer) }
        loop.unregister(exchange.fd)
        close(exchange.fd)
        exchange.respond(response)
    }

    /// The leader is down or unreachable: the request was not delivered, so retrying is safe.
    static func unreachable(_ message: String) -> HTTPResponse {
        var response = HTTPResponse.status(503, reason: "ServiceUnavailable", message: message)
        response.headers.append(("Retry-After", "1"))
        return response
    }

    /// The request may or may not have been carried out: 504, which a client must not take as final.
    static func outcomeUnknown(_ message: String) -> HTTPResponse {
        HTTPResponse.status(504, reason: "Timeout", message: message + "; the outcome is unknown")
    }

    /// The answer to relay from the bytes the leader sent before it closed the connection: its
    /// status, its headers but the framing ones, and its body (a long list comes chunked); nil
    /// when the bytes are not one complete response.
    static func relayed(_ bytes: [UInt8]) -> HTTPResponse? {
        var decoder = HTTPClient.ResponseDecoder()
        guard var response = try? decoder.feed(bytes, ended: true) else { return nil }
        response.headers.removeAll { ["content-length", "connection", "transfer-encoding"].contains($0.name.lowercased()) }
        return response
    }

    /// Status line and headers of a response head (the bytes up to the blank line).
    static func parseHead(_ bytes: [UInt8]) -> HTTPResponse? {
        guard let headEnd = HTTPParser.find([13, 10, 13, 10], in: bytes, limit: bytes.count),
            let head = String(validating: bytes[0..<headEnd], as: UTF8.self)
        else { return nil }
        let lines = head.split(separator: "\r\n")
        let status = lines.first?.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        guard let status else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces))
        }
        return HTTPResponse(status: status, headers: headers, body: [])
    }
}
