import Glibc
import Master

/// A blocking HTTP/1.1 client for the command line: one request per connection, a deadline on
/// every wait, bodies framed by Content-Length, chunked encoding or the end of the connection.
/// `stream` hands a chunked body (a watch) over line by line as it arrives.
public enum HTTPClient {
    /// The request never got an answer: no connection, a timeout, or a malformed response.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var message: String
        /// Whether the request may have reached the server: false when no connection was made,
        /// so that sending it again is safe whatever it does.
        public var delivered = true
        public var description: String { message }
    }

    /// The longest response accepted, head and body.
    public static let maxResponseBytes = 64 << 20

    public static func request(
        host: String, port: UInt16, method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeoutMs: Int32 = 10_000
    ) throws(Failure) -> HTTPResponse {
        try exchange(try Connection(host: host, port: port, timeoutMs: timeoutMs), host: host, method: method, target: target, headers: headers, body: body)
    }

    /// The same over a UNIX stream socket (the Docker engine's API).
    public static func request(
        unixSocket path: String, method: String, target: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutMs: Int32 = 10_000
    ) throws(Failure) -> HTTPResponse {
        try exchange(try Connection(unixSocket: path, timeoutMs: timeoutMs), host: "localhost", method: method, target: target, headers: headers, body: body)
    }

    static func exchange(
        _ connection: Connection, host: String, method: String, target: String, headers: [(String, String)], body: [UInt8]
    ) throws(Failure) -> HTTPResponse {
        defer { close(connection.fd) }
        try connection.send(method: method, target: target, host: host, headers: headers, body: body)
        var decoder = ResponseDecoder()
        while true {
            let bytes = try connection.receive()
            if let response = try decoder.feed(bytes, ended: bytes.isEmpty) { return response }
        }
    }

    /// Sends a request whose answer streams (a watch); calls `line` for each complete line of the
    /// body until it returns false, the server ends the body, or nothing arrives for
    /// `idleTimeoutMs`. `started` is called once when a streamed answer's head has arrived.
    /// Returns the response head (with the body when it is not a stream).
    public static func stream(
        host: String, port: UInt16, target: String, headers: [(String, String)] = [], idleTimeoutMs: Int32 = 3_600_000,
        started: () -> Void = {}, line: (String) -> Bool
    ) throws(Failure) -> HTTPResponse {
        var pending: [UInt8] = []
        return try stream(host: host, port: port, target: target, headers: headers, idleTimeoutMs: idleTimeoutMs, started: started) { bytes in
            pending += bytes
            while let newline = pending.firstIndex(of: 10) {
                let text = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                if !line(text) { return false }
            }
            return true
        }
    }

    /// Like `stream(...line:)`, but hands over the body's bytes as they arrive (a followed log,
    /// whose last line may have no newline).
    public static func stream(
        host: String, port: UInt16, target: String, headers: [(String, String)] = [], idleTimeoutMs: Int32 = 3_600_000,
        started: () -> Void = {}, received: ([UInt8]) -> Bool
    ) throws(Failure) -> HTTPResponse {
        let connection = try Connection(host: host, port: port, timeoutMs: 10_000)
        defer { close(connection.fd) }
        try connection.send(method: "GET", target: target, host: host, headers: headers, body: [])
        connection.timeoutMs = idleTimeoutMs
        var decoder = ResponseDecoder()
        decoder.streaming = true
        var announced = false
        while true {
            let bytes = try connection.receive()
            let done = try decoder.feed(bytes, ended: bytes.isEmpty)
            if let head = decoder.head, head.status != 200 || !decoder.chunked {
                if let done { return done }
                continue
            }
            if !announced, decoder.head != nil {
                announced = true
                started()
            }
            let body = decoder.takeBody()
            if !body.isEmpty, !received(body) { return decoder.head! }
            if done != nil || bytes.isEmpty { return decoder.head ?? HTTPResponse(status: 0) }
        }
    }

    final class Connection {
        let fd: Int32
        var timeoutMs: Int32

        init(host: String, port: UInt16, timeoutMs: Int32) throws(Failure) {
            self.timeoutMs = timeoutMs
            do { fd = try Socket.connect(host: host, port: port) } catch {
                throw Failure(message: "cannot connect to \(host):\(port): \(String(cString: strerror(error.code)))", delivered: false)
            }
            try connected("\(host):\(port)")
        }

        init(unixSocket path: String, timeoutMs: Int32) throws(Failure) {
            self.timeoutMs = timeoutMs
            do { fd = try Socket.connect(unixPath: path) } catch {
                throw Failure(message: "cannot connect to \(path): \(String(cString: strerror(error.code)))", delivered: false)
            }
            try connected(path)
        }

        /// Waits for the connection to complete; closes the socket if it does not.
        private func connected(_ what: String) throws(Failure) {
            guard wait(POLLOUT) else {
                close(fd)
                throw Failure(message: "cannot connect to \(what): timed out", delivered: false)
            }
            let code = Socket.pendingError(fd)
            guard code == 0 else {
                close(fd)
                throw Failure(message: "cannot connect to \(what): \(String(cString: strerror(code)))", delivered: false)
            }
        }

        func wait(_ events: Int32) -> Bool {
            var poller = pollfd(fd: fd, events: Int16(events), revents: 0)
            while true {
                let n = poll(&poller, 1, timeoutMs)
                if n < 0, errno == EINTR { continue }
                return n > 0
            }
        }

        func send(method: String, target: String, host: String, headers: [(String, String)], body: [UInt8]) throws(Failure) {
            var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            let bytes = Array((head + "\r\n").utf8) + body
            var sent = 0
            while sent < bytes.count {
                guard wait(POLLOUT), let n = Socket.send(fd, bytes[sent...]) else { throw Failure(message: "the connection closed while sending the request") }
                sent += n
            }
        }

        /// The next bytes; empty at the end of the stream.
        func receive() throws(Failure) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                guard wait(POLLIN) else { throw Failure(message: "no answer within \(timeoutMs) ms") }
                switch Socket.receive(fd, into: &buffer) {
                case nil: continue
                case .some(nil): return []
                case .some(let bytes?): return Array(bytes)
                }
            }
        }
    }

    /// Incremental response parsing: the head, then a body by Content-Length, chunks or EOF.
    struct ResponseDecoder {
        var buffer: [UInt8] = []
        var head: HTTPResponse?
        var chunked = false
        var contentLength: Int?
        /// Decoded body bytes (for a stream, those not yet taken).
        var body: [UInt8] = []
        var finished = false
        var streaming = false

        mutating func takeBody() -> [UInt8] {
            defer { body = [] }
            return body
        }

        /// The whole response once complete.
        mutating func feed(_ bytes: [UInt8], ended: Bool) throws(Failure) -> HTTPResponse? {
            buffer += bytes
            guard buffer.count + body.count <= HTTPClient.maxResponseBytes else { throw Failure(message: "the response is larger than \(HTTPClient.maxResponseBytes) bytes") }
            if head == nil {
                guard let end = HTTPParser.find([13, 10, 13, 10], in: buffer, limit: buffer.count) else {
                    if ended { throw Failure(message: "the connection closed before a complete response") }
                    return nil
                }
                guard let parsed = HTTPForwarder.parseHead(Array(buffer[..<(end + 4)])) else { throw Failure(message: "malformed response head") }
                head = parsed
                for (name, value) in parsed.headers {
                    switch name.lowercased() {
                    case "transfer-encoding": chunked = value.lowercased().contains("chunked")
                    case "content-length": contentLength = Int(value)
                    default: break
                    }
                }
                buffer.removeFirst(end + 4)
            }
            if chunked {
                try decodeChunks()
            } else {
                body += buffer
                buffer = []
                if let contentLength, body.count >= contentLength { finished = true }
            }
            if ended && !finished {
                guard !chunked, contentLength == nil else { throw Failure(message: "the connection closed in the middle of the response") }
                finished = true
            }
            guard finished, var response = head else { return nil }
            // A stream's body is taken as it comes; an answer that is not a stream keeps its body.
            if !streaming || !chunked { response.body = body }
            return response
        }

        mutating func decodeChunks() throws(Failure) {
            while !finished, let lineEnd = HTTPParser.find([13, 10], in: buffer, limit: buffer.count) {
                let sizeText = String(decoding: buffer[..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingSpaces, radix: 16), size >= 0 else { throw Failure(message: "malformed chunk size") }
                guard buffer.count >= lineEnd + 2 + size + 2 else { return }
                if size == 0 { finished = true }
                body += buffer[(lineEnd + 2)..<(lineEnd + 2 + size)]
                buffer.removeFirst(lineEnd + 2 + size + 2)
            }
        }
    }
}
