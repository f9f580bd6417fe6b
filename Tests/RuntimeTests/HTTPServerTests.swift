import Glibc
import Master
import Raft
@testable import Runtime
import Testing

/// The HTTP server over real sockets on 127.0.0.1.
@Suite(.serialized)
struct HTTPServerTests {
    /// Sends `request` on a fresh connection and collects what comes back until the server closes
    /// the connection or `timeoutMs` passes.
    static func exchange(_ loop: EventLoop, port: UInt16, _ request: String, timeoutMs: UInt64 = 2000, closeAfter: Int? = nil) throws -> String {
        let fd = try Socket.connect(host: "127.0.0.1", port: port)
        defer { close(fd) }
        var sent = false
        var received: [UInt8] = []
        var closed = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        PeerTransportTests.run(loop, timeoutMs: timeoutMs) {
            if !sent && Socket.pendingError(fd) == 0, Socket.send(fd, Array(request.utf8)[...]) == request.utf8.count { sent = true }
            while case .some(let bytes) = Socket.receive(fd, into: &buffer) {
                guard let bytes else {
                    closed = true
                    break
                }
                received += bytes
            }
            let responses = String(decoding: received, as: UTF8.self).components("HTTP/1.1 ").count
            return closed || (closeAfter.map { responses >= $0 } ?? false)
        }
        return String(decoding: received, as: UTF8.self)
    }

    static func echoServer(_ loop: EventLoop, requestTimeoutNs: UInt64 = 5_000_000_000) throws -> HTTPServer {
        var limits = HTTPParser.Limits()
        limits.bodyBytes = 100
        return try HTTPServer(loop: loop, host: "127.0.0.1", port: 0, limits: limits, requestTimeoutNs: requestTimeoutNs) { request, respond in
            if request.path == "/later" {
                loop.schedule(afterNs: 20_000_000) { respond(.json(200, "{\"later\":true}")) }
            } else {
                respond(.json(200, "{\"path\":\"\(request.path)\",\"bytes\":\(request.body.count)}"))
            }
        }
    }

    @Test func keepAliveServesPipelinedRequestsInOrder() throws {
        let loop = try EventLoop()
        let server = try Self.echoServer(loop)
        let reply = try Self.exchange(
            loop, port: server.port,
            "GET /later HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nConnection: close\r\n\r\n")
        let bodies = reply.components("\r\n\r\n").dropFirst().map { String($0.prefix { $0 != "H" }) }
        #expect(bodies == ["{\"later\":true}", "{\"path\":\"/b\",\"bytes\":3}", "{\"path\":\"/c\",\"bytes\":0}"])
        #expect(reply.contains("Connection: close"))
        server.shutdown()
    }

    /// Malformed and oversized requests get a Status body and a closed connection; the server
    /// keeps serving.
    @Test func badRequestsAreAnsweredAndServiceContinues() throws {
        let loop = try EventLoop()
        let server = try Self.echoServer(loop)
        let garbage = try Self.exchange(loop, port: server.port, "\u{1}\u{2} nonsense\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(garbage.contains(#""kind":"Status""#) && garbage.contains(#""code":400"#))
        let big = try Self.exchange(loop, port: server.port, "POST /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n")
        #expect(big.hasPrefix("HTTP/1.1 413"))
        #expect(big.contains(#""reason":"RequestEntityTooLarge""#))
        let fine = try Self.exchange(loop, port: server.port, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(fine.hasPrefix("HTTP/1.1 200 OK") && fine.hasSuffix(#"{"path":"/ok","bytes":0}"#))
        server.shutdown()
    }

    /// A client that starts a request and stalls gets 408 and is disconnected.
    @Test func slowClientTimesOut() throws {
        let loop = try EventLoop()
        let server = try Self.echoServer(loop, requestTimeoutNs: 100_000_000)
        let reply = try Self.exchange(loop, port: server.port, "GET /slow HTTP/1.1\r\nHost:")
        #expect(reply.hasPrefix("HTTP/1.1 408"))
        server.shutdown()
    }

    /// A stream answers in chunks and ends; the connection then serves its next request.
    @Test func streamsChunksThenServesTheNextRequest() throws {
        let loop = try EventLoop()
        let server = try HTTPServer(loop: loop, host: "127.0.0.1", port: 0) { request, respond in
            guard request.path == "/stream", let stream = respond.stream(status: 200, headers: [("Content-Type", "application/json")]) else {
                return respond(.json(200, "{\"next\":true}"))
            }
            stream.send(Array("one\n".utf8))
            loop.schedule(afterNs: 10_000_000) {
                stream.send(Array("two\n".utf8))
                stream.end()
            }
        }
        let reply = try Self.exchange(loop, port: server.port, "GET /stream HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(reply.contains("Transfer-Encoding: chunked\r\n\r\n4\r\none\n\r\n4\r\ntwo\n\r\n0\r\n\r\nHTTP/1.1 200 OK"), "\(reply)")
        #expect(reply.hasSuffix("{\"next\":true}"))
        server.shutdown()
    }

    /// A client that stops reading a stream is disconnected once the unread backlog passes
    /// `maxStreamBacklogBytes`; the stream reports it closed (so the watch behind it is
    /// forgotten) and the server keeps serving.
    @Test func slowStreamReaderIsDisconnected() throws {
        let loop = try EventLoop()
        var stream: HTTPStream?
        var onCloseFired = false
        let server = try HTTPServer(loop: loop, host: "127.0.0.1", port: 0) { request, respond in
            guard request.path == "/stream" else { return respond(.json(200, "{}")) }
            stream = respond.stream(status: 200, headers: [])
            stream?.onClose = { onCloseFired = true }
        }
        let fd = try Socket.connect(host: "127.0.0.1", port: server.port)
        defer { close(fd) }
        var sent = false
        var sentChunks = 0
        let chunk = [UInt8](repeating: 65, count: 1 << 20)
        PeerTransportTests.run(loop, timeoutMs: 10_000) {
            if !sent, Socket.pendingError(fd) == 0, Socket.send(fd, Array("GET /stream HTTP/1.1\r\n\r\n".utf8)[...]) != nil { sent = true }
            // Never read; keep writing a megabyte per tick.
            if let stream, stream.isOpen, stream.send(chunk) { sentChunks += 1 }
            return stream.map { !$0.isOpen } ?? false
        }
        #expect(stream?.isOpen == false)
        #expect(sentChunks >= HTTPServer.maxStreamBacklogBytes >> 20, "closed after \(sentChunks) MiB")
        #expect(onCloseFired, "the watch behind the stream would never be forgotten")
        let reply = try Self.exchange(loop, port: server.port, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(reply.hasSuffix("{}"))
        server.shutdown()
    }
}

extension String {
    /// Splits on a separator string (no Foundation).
    func components(_ separator: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var rest = Substring(self)
        while !rest.isEmpty {
            if rest.hasPrefix(separator) {
                parts.append(current)
                current = ""
                rest = rest.dropFirst(separator.count)
            } else {
                current.append(rest.removeFirst())
            }
        }
        parts.append(current)
        return parts
    }
}

/// What a follower relays from the leader: a well-formed answer passes through without its
/// framing headers, a chunked one (a long list) decoded; a malformed or cut one is refused (the
/// follower answers 502).
struct HTTPForwarderParseTests {
    @Test func relaysWellFormedAnswers() throws {
        let raw = Array("HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".utf8)
        let response = try #require(HTTPForwarder.relayed(raw))
        #expect(response == HTTPResponse(status: 409, headers: [("Content-Type", "application/json")], body: Array("{}".utf8)))
        let chunked = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n5\r\n\":1}\n\r\n0\r\n\r\n".utf8)
        let list = try #require(HTTPForwarder.relayed(chunked))
        #expect(list == HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array("{\"a\":1}\n".utf8)))
    }

    @Test(arguments: ["", "HTTP/1.1 200 OK\r\n", "garbage\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
                      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n"])
    func refusesMalformedAnswers(text: String) {
        #expect(HTTPForwarder.relayed(Array(text.utf8)) == nil)
    }
}

/// A forward to a leader that never accepts the connection (its SYNs dropped, as when its
/// container is killed) is given up after the connect deadline as unreachable (503: retry), long
/// before the exchange's own deadline.
struct HTTPForwarderConnectTests {
    @Test func unacceptedConnectionIsUnreachableAfterTheConnectDeadline() throws {
        // A listener with a full accept queue: Linux drops further SYNs, so a connect hangs.
        let listener = try Socket.listen(host: "127.0.0.1", port: 0)
        defer { close(listener) }
        Glibc.listen(listener, 0)
        let port = Socket.localPort(listener)
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 { fillers.append(try Socket.connect(host: "127.0.0.1", port: port)) }
        usleep(50_000)

        let loop = try EventLoop()
        let forwarder = HTTPForwarder(loop: loop, timeoutNs: 5_000_000_000, connectTimeoutNs: 200_000_000)
        var answer: HTTPResponse?
        let start = EventLoop.nowNs()
        let request = HTTPRequest(method: "GET", target: "/x", headers: [], body: [])
        forwarder.forward(request, to: PeerTransport.Address(host: "127.0.0.1", port: port)) { answer = $0 }
        PeerTransportTests.run(loop, timeoutMs: 3000) { answer != nil }
        let elapsedMs = (EventLoop.nowNs() - start) / 1_000_000
        #expect(answer?.status == 503, "\(String(describing: answer))")
        #expect(elapsedMs < 1000, "gave up after \(elapsedMs) ms")
        let message = String(decoding: answer?.body ?? [], as: UTF8.self)
        #expect(message.contains("did not accept a connection within 200 ms"), "\(message)")
    }
}
