import Master
import Raft
import Runtime
import Testing

/// The HTTP/1.1 request parser: good requests in any fragmentation, and every limit and
/// malformation answered with the right status.
struct HTTPParserTests {
    static func parse(_ text: String, limits: HTTPParser.Limits = HTTPParser.Limits()) throws(HTTPParseError) -> HTTPRequest? {
        var parser = HTTPParser(limits: limits)
        parser.append(Array(text.utf8)[...])
        return try parser.next()
    }

    @Test func parsesARequestWithBodyAndQuery() throws {
        let text = "PUT /api/v1/namespaces/default/configmaps/a%20b?labelSelector=app%3Dweb&x=1+2 HTTP/1.1\r\n"
            + "Host: localhost\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        let request = try #require(try Self.parse(text))
        #expect(request.method == "PUT")
        #expect(request.path == "/api/v1/namespaces/default/configmaps/a b")
        #expect(request.queryValue("labelSelector") == "app=web" && request.queryValue("x") == "1 2")
        #expect(request.header("content-type") == "application/json")
        #expect(request.body == Array("{\"a\":1}".utf8))
        #expect(request.keepAlive)
    }

    /// Byte-by-byte arrival, and two pipelined requests in one buffer.
    /// Found by fuzzing: each call rescanned the whole buffer and allocated at every CR, so a
    /// header of 64,000 CRs sent a byte at a time cost 84 s of CPU. Each call now searches only
    /// what arrived since (this takes milliseconds), and the head limit still answers 431.
    @Test func headSentAByteAtATimeIsScannedOnce() throws {
        var parser = HTTPParser()
        parser.append(Array("GET / HTTP/1.1\r\nX: ".utf8)[...])
        #expect(try parser.next() == nil)
        var refused: HTTPParseError?
        for _ in 0..<70_000 where refused == nil {
            parser.append([13][...])
            do { _ = try parser.next() } catch { refused = error }
        }
        #expect(refused?.status == 431)
        // A head completed in pieces after a long search is still found.
        var pieces = HTTPParser()
        var parsed: [String] = []
        for byte in Array("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\n".utf8) {
            pieces.append([byte][...])
            if let request = try pieces.next() { parsed.append(request.target) }
        }
        #expect(parsed == ["/a", "/b"])
    }

    @Test func fragmentedAndPipelined() throws {
        let one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        let two = "POST /b HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        var parser = HTTPParser()
        var got: [HTTPRequest] = []
        for byte in Array((one + two).utf8) {
            parser.append([byte][...])
            while let request = try parser.next() { got.append(request) }
        }
        #expect(got.map(\.path) == ["/healthz", "/b"])
        #expect(got[1].body == Array("hi".utf8) && !got[1].keepAlive)
        #expect(parser.bufferedBytes == 0)
    }

    @Test(arguments: [
        ("GET\r\n\r\n", 400),
        ("GET / HTTP/1.1 extra\r\n\r\n", 400),
        ("get / HTTP/1.1\r\n\r\n", 400),
        ("GET nopath HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 505),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    ])
    func malformedRequestsGetTheRightStatus(text: String, status: Int) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(error.status == status, "\(text.debugDescription): \(error.message)")
        }
    }

    @Test func oversizedRequestLineAndHeaders() {
        var limits = HTTPParser.Limits()
        limits.requestLineBytes = 100
        limits.headerBytes = 1000
        #expect(throws: HTTPParseError(status: 414, message: "request line exceeds 100 bytes")) {
            try Self.parse("GET /" + String(repeating: "a", count: 200), limits: limits)
        }
        #expect(throws: HTTPParseError(status: 431, message: "request headers exceed 1000 bytes")) {
            try Self.parse("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 200), limits: limits)
        }
    }

    /// Random bytes never crash the parser.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix64(seed: 11)
        let alphabet = Array("GET /POST HTTP/1.1\r\n:Content-Length: 5 abc%".utf8)
        for _ in 0..<5000 {
            var parser = HTTPParser()
            let bytes = (0..<Int(rng.next() % 200)).map { _ in rng.next() % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            parser.append(bytes[...])
            _ = try? parser.next()
        }
    }

    @Test func responseSerialization() {
        let response = HTTPResponse.json(409, "{}", headers: [("Retry-After", "1")])
        #expect(String(decoding: response.serialized(keepAlive: false), as: UTF8.self)
            == "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
    }
}
