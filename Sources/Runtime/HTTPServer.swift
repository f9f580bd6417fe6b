import Glibc
import Master

/// An HTTP/1.1 server on the event loop: keep-alive, one request at a time per connection (later
/// pipelined requests wait their turn), limits from `HTTPParser`, and a deadline for slow clients.
/// A malformed request is answered with its status and a Kubernetes `Status` body, then the
/// connection closes; the server keeps serving everyone else. A handler may instead answer with a
/// stream (chunked transfer encoding), as watches do.
public final class HTTPServer {
    /// Answers a request, now or later, through `respond` exactly once.
    public typealias Handler = (_ request: HTTPRequest, _ respond: HTTPResponder) -> Void

    final class Connection {
        let fd: Int32
        var parser: HTTPParser
        var output: [UInt8] = []
        var sent = 0
        var busy = false
        var closeAfterWrite = false
        var closed = false
        var deadlineTimer: UInt64?
        /// The stream this connection is answering with, if any.
        var stream: HTTPStream?

        init(fd: Int32, limits: HTTPParser.Limits) {
            self.fd = fd
            parser = HTTPParser(limits: limits)
        }
    }

    let loop: EventLoop
    let listener: Int32
    public let port: UInt16
    let limits: HTTPParser.Limits
    /// A connection that has not completed a request within this time is closed.
    let requestTimeoutNs: UInt64
    let handler: Handler
    private var connections: [Int32: Connection] = [:]
    private var readBuffer = [UInt8](repeating: 0, count: 1 << 16)

    public init(
        loop: EventLoop, host: String, port: UInt16, limits: HTTPParser.Limits = HTTPParser.Limits(),
        requestTimeoutNs: UInt64 = 30_000_000_000, handler: @escaping Handler
    ) throws(IOFailure) {
        self.loop = loop
        self.limits = limits
        self.requestTimeoutNs = requestTimeoutNs
        self.handler = handler
        listener = try Socket.listen(host: host, port: port)
        self.port = Socket.localPort(listener)
        try loop.register(listener) { [unowned self] _, _, _ in self.acceptAll() }
    }

    public func shutdown() {
        loop.unregister(listener)
        close(listener)
        for connection in Array(connections.values) { closeConnection(connection) }
    }

    private func acceptAll() {
        while let fd = Socket.accept(listener) {
            let connection = Connection(fd: fd, limits: limits)
            connections[fd] = connection
            do {
                try loop.register(fd) { [unowned self] readable, writable, hangup in
                    self.event(connection, readable: readable, writable: writable, hangup: hangup)
                }
            } catch {
                connections[fd] = nil
                close(fd)
                continue
            }
            armDeadline(connection)
        }
    }

    private func armDeadline(_ connection: Connection) {
        if let timer = connection.deadlineTimer { loop.cancel(timer) }
        connection.deadlineTimer = loop.schedule(afterNs: requestTimeoutNs) { [unowned self] in
            connection.deadlineTimer = nil
            guard !connection.closed, !connection.busy else { return }
            if connection.parser.bufferedBytes > 0 {
                self.reply(connection, HTTPResponse.status(408, reason: "Timeout", message: "request not completed in time"), keepAlive: false)
            } else {
                self.closeConnection(connection)
            }
        }
    }

    private func event(_ connection: Connection, readable: Bool, writable: Bool, hangup: Bool) {
        if writable { flush(connection) }
        guard !connection.closed, readable || hangup else { return }
        while !connection.closed {
            switch Socket.receive(connection.fd, into: &readBuffer) {
            case nil:
                serveNext(connection)
                return
            case .some(nil):
                if connection.stream != nil {
                    closeConnection(connection)  // The client went away mid-stream.
                } else if connection.output.isEmpty && !connection.busy { closeConnection(connection) } else { connection.closeAfterWrite = true }
                return
            case .some(let bytes?):
                connection.parser.append(bytes)
            }
        }
    }

    private func serveNext(_ connection: Connection) {
        guard !connection.busy, !connection.closed, !connection.closeAfterWrite || connection.parser.bufferedBytes > 0 else { return }
        let request: HTTPRequest
        do {
            guard let next = try connection.parser.next() else { return }
            request = next
        } catch {
            let reason = error.status == 413 ? "RequestEntityTooLarge" : "BadRequest"
            reply(connection, HTTPResponse.status(error.status, reason: reason, message: error.message), keepAlive: false)
            return
        }
        connection.busy = true
        handler(request, HTTPResponder(server: self, connection: connection, keepAlive: request.keepAlive))
    }

    fileprivate func finish(_ connection: Connection, _ response: HTTPResponse, keepAlive: Bool) {
        guard !connection.closed else { return }
        connection.busy = false
        reply(connection, response, keepAlive: keepAlive)
        armDeadline(connection)
        serveNext(connection)
    }

    fileprivate func startStream(_ connection: Connection, status: Int, headers: [(name: String, value: String)], keepAlive: Bool) -> HTTPStream {
        let stream = HTTPStream(server: self, connection: connection, keepAlive: keepAlive)
        connection.stream = stream
        var head = HTTPResponse(status: status, headers: headers + [("Transfer-Encoding", "chunked")]).serializedHead(keepAlive: keepAlive)
        head += "\r\n"
        connection.output += Array(head.utf8)
        flush(connection)
        return stream
    }

    /// Writes one chunk; false when the connection is gone or the client reads too slowly (more
    /// than `maxStreamBacklogBytes` waiting), in which case the connection is closed.
    fileprivate func sendChunk(_ connection: Connection, _ bytes: [UInt8]) -> Bool {
        guard !connection.closed else { return false }
        guard connection.output.count - connection.sent <= HTTPServer.maxStreamBacklogBytes else {
            closeConnection(connection)
            return false
        }
        guard !bytes.isEmpty else { return true }
        connection.output += Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
        flush(connection)
        return !connection.closed
    }

    fileprivate func endStream(_ connection: Connection, keepAlive: Bool) {
        guard !connection.closed else { return }
        connection.stream = nil
        connection.output += Array("0\r\n\r\n".utf8)
        connection.busy = false
        if !keepAlive { connection.closeAfterWrite = true }
        flush(connection)
        armDeadline(connection)
        serveNext(connection)
    }

    /// A streamed answer that has not been read by the client past this many bytes ends the
    /// connection: a slow watcher cannot make the master buffer without bound.
    public static let maxStreamBacklogBytes = 16 << 20

    private func reply(_ connection: Connection, _ response: HTTPResponse, keepAlive: Bool) {
        guard !connection.closed else { return }
        connection.output += response.serialized(keepAlive: keepAlive)
        if !keepAlive { connection.closeAfterWrite = true }
        flush(connection)
    }

    private func flush(_ connection: Connection) {
        while connection.sent < connection.output.count {
            guard let n = Socket.send(connection.fd, connection.output[connection.sent...]) else {
                closeConnection(connection)
                return
            }
            if n == 0 {
                loop.watch(connection.fd, writable: true)
                return
            }
            connection.sent += n
        }
        connection.output = []
        connection.sent = 0
        loop.watch(connection.fd, writable: false)
        if connection.closeAfterWrite && !connection.busy { closeConnection(connection) }
    }

    private func closeConnection(_ connection: Connection) {
        guard !connection.closed else { return }
        connection.closed = true
        if let timer = connection.deadlineTimer { loop.cancel(timer) }
        if let stream = connection.stream {
            connection.stream = nil
            stream.connectionClosed()
        }
        loop.unregister(connection.fd)
        close(connection.fd)
        connections[connection.fd] = nil
    }
}

/// The way to answer one request: `respond(response)` once, or `stream(...)` and then chunks.
public final class HTTPResponder {
    private weak var server: HTTPServer?
    private weak var connection: HTTPServer.Connection?
    private let keepAlive: Bool
    private var answered = false

    fileprivate init(server: HTTPServer, connection: HTTPServer.Connection, keepAlive: Bool) {
        self.server = server
        self.connection = connection
        self.keepAlive = keepAlive
    }

    /// A responder that hands the response to `body` (for tests and for requests made in-process).
    public init(_ body: @escaping (HTTPResponse) -> Void) {
        self.keepAlive = true
        self.sink = body
    }

    private var sink: ((HTTPResponse) -> Void)?
    /// Called with the status when the answer (or the stream) starts, for metrics.
    public var onAnswer: ((Int) -> Void)?

    /// Sends the whole response. Later calls are ignored.
    public func callAsFunction(_ response: HTTPResponse) {
        guard !answered else { return }
        answered = true
        onAnswer?(response.status)
        if let sink { return sink(response) }
        guard let server, let connection else { return }
        server.finish(connection, response, keepAlive: keepAlive)
    }

    /// Starts a chunked response; nil when the client is already gone or this responder has no
    /// connection.
    public func stream(status: Int, headers: [(name: String, value: String)]) -> HTTPStream? {
        guard !answered, let server, let connection else { return nil }
        answered = true
        onAnswer?(status)
        return server.startStream(connection, status: status, headers: headers, keepAlive: keepAlive)
    }
}

/// A response being streamed in chunks, open until `end()` or until the client goes away
/// (`onClose` tells which streams to forget).
public final class HTTPStream {
    private weak var server: HTTPServer?
    private weak var connection: HTTPServer.Connection?
    private let keepAlive: Bool
    public private(set) var isOpen = true
    /// Called once when the client closes the connection or the server drops it.
    public var onClose: (() -> Void)?

    fileprivate init(server: HTTPServer, connection: HTTPServer.Connection, keepAlive: Bool) {
        self.server = server
        self.connection = connection
        self.keepAlive = keepAlive
    }

    /// Sends one chunk; false when the stream is no longer open.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        guard isOpen, let server, let connection else { return false }
        return server.sendChunk(connection, bytes)
    }

    /// Ends the response; the connection serves its next request.
    public func end() {
        guard isOpen else { return }
        isOpen = false
        onClose = nil
        if let server, let connection { server.endStream(connection, keepAlive: keepAlive) }
    }

    fileprivate func connectionClosed() {
        guard isOpen else { return }
        isOpen = false
        let callback = onClose
        onClose = nil
        callback?()
    }
}
