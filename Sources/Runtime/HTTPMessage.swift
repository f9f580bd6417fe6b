import Master

/// An HTTP/1.1 request as parsed from the wire.
public struct HTTPRequest: Equatable, Sendable {
    public var method: String
    /// The request target as sent: path and optional query.
    public var target: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the connection stays open after the response (HTTP/1.1 default).
    public var keepAlive: Bool

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.target == b.target && a.body == b.body && a.keepAlive == b.keepAlive
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }

    /// The first value of a header, case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    /// The path, percent-decoded, without the query.
    public var path: String {
        let raw = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return HTTPRequest.percentDecode(raw)
    }

    /// Query parameters, percent-decoded ('+' is a space), in order.
    public var query: [(name: String, value: String)] {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return [] }
        return parts[1].split(separator: "&").map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (s: Substring) in HTTPRequest.percentDecode(String(s.map { $0 == "+" ? " " : $0 })) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
    }

    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// `?watch=true` or `?watch=1`.
    public var isWatch: Bool { ["true", "1"].contains(queryValue("watch") ?? "") }

    static func percentDecode(_ text: String) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// An HTTP/1.1 response.
public struct HTTPResponse: Equatable, Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map(\.name) == b.headers.map(\.name)
            && a.headers.map(\.value) == b.headers.map(\.value)
    }

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(body.utf8))
    }

    /// The bytes on the wire, with Content-Length and the connection header.
    public func serialized(keepAlive: Bool) -> [UInt8] {
        Array((serializedHead(keepAlive: keepAlive) + "Content-Length: \(body.count)\r\n\r\n").utf8) + body
    }

    /// The status line and headers, without the blank line that ends them.
    func serializedHead(keepAlive: Bool) -> String {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += keepAlive ? "" : "Connection: close\r\n"
        return head
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Entity"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// Why a request could not be parsed: the status to answer with and a message for the client.
/// The connection is closed after answering.
public struct HTTPParseError: Error, Equatable, Sendable {
    public var status: Int
    public var message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }
}

/// Incremental HTTP/1.1 request parser with a limit on everything: the request line, the header
/// block and the body. Feed it bytes as they arrive; take complete requests with `next()`.
public struct HTTPParser: Sendable {
    public struct Limits: Sendable {
        public var requestLineBytes = 8 * 1024
        public var headerBytes = 64 * 1024
        public var bodyBytes = 3 * 1024 * 1024

        public init() {}
    }

    public let limits: Limits
    private var buffer: [UInt8] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public var bufferedBytes: Int { buffer.count }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request; nil when more bytes are needed.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        guard let headEnd = HTTPParser.find([13, 10, 13, 10], in: buffer, limit: limits.headerBytes + 4) else {
            if buffer.count > limits.requestLineBytes && HTTPParser.find([13, 10], in: buffer, limit: limits.requestLineBytes + 2) == nil {
                throw HTTPParseError(status: 414, message: "request line exceeds \(limits.requestLineBytes) bytes")
            }
            if buffer.count > limits.headerBytes + 4 {
                throw HTTPParseError(status: 431, message: "request headers exceed \(limits.headerBytes) bytes")
            }
            return nil
        }
        guard let head = String(validating: buffer[0..<headEnd], as: UTF8.self) else {
            throw HTTPParseError(status: 400, message: "request head is not UTF-8")
        }
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)[...]
        let requestLine = lines.popFirst() ?? ""
        guard requestLine.utf8.count <= limits.requestLineBytes else {
            throw HTTPParseError(status: 414, message: "request line exceeds \(limits.requestLineBytes) bytes")
        }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isUppercase || $0 == "-" }),
            parts[1].hasPrefix("/")
        else {
            throw HTTPParseError(status: 400, message: "malformed request line")
        }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else {
            throw HTTPParseError(status: 505, message: "unsupported protocol \(parts[2])")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                !line[..<colon].contains(where: { $0 == " " || $0 == "\t" })
            else {
                throw HTTPParseError(status: 400, message: "malformed header line")
            }
            let value = line[line.index(after: colon)...].trimmingSpaces
            headers.append((String(line[..<colon]), value))
        }
        var request = HTTPRequest(
            method: String(parts[0]), target: String(parts[1]), headers: headers, body: [],
            keepAlive: parts[2] == "HTTP/1.1")
        if let connection = request.header("Connection")?.lowercased() {
            if connection == "close" { request.keepAlive = false }
            if connection == "keep-alive" { request.keepAlive = true }
        }
        if request.header("Transfer-Encoding") != nil {
            throw HTTPParseError(status: 501, message: "chunked request bodies are not supported; send Content-Length")
        }
        var length = 0
        if let text = request.header("Content-Length") {
            guard let n = Int(text), n >= 0, text.allSatisfy(\.isASCII) else {
                throw HTTPParseError(status: 400, message: "malformed Content-Length")
            }
            guard n <= limits.bodyBytes else {
                throw HTTPParseError(status: 413, message: "body of \(n) bytes exceeds \(limits.bodyBytes)")
            }
            length = n
        }
        let bodyStart = headEnd + 4
        guard buffer.count - bodyStart >= length else { return nil }
        request.body = Array(buffer[bodyStart..<bodyStart + length])
        buffer.removeFirst(bodyStart + length)
        return request
    }

    /// Offset of `needle` in the first `limit` bytes of `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], limit: Int) -> Int? {
        let end = min(haystack.count, limit) - needle.count
        guard end >= 0 else { return nil }
        var i = 0
        while i <= end {
            if haystack[i] == needle[0] && Array(haystack[i..<i + needle.count]) == needle { return i }
            i += 1
        }
        return nil
    }
}

