/// An HTTP/1.1 request as parsed from the wire.
public struct HTTPRequest: Equatable, Sendable {
    public var method: String
    /// The request target as sent: path and optional query.
    public var target: String {
        didSet { query = Self.parseQuery(target) }
    }
    /// Query parameters, percent-decoded ('+' is a space), in order (parsed once, from `target`).
    public private(set) var query: [(name: String, value: String)]
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Whether the connection stays open after the response (HTTP/1.1 default).
    public var keepAlive: Bool

    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [], keepAlive: Bool = true) {
        self.method = method
        self.target = target
        self.query = Self.parseQuery(target)
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }

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

    static func parseQuery(_ target: String) -> [(name: String, value: String)] {
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

    public static func percentDecode(_ text: String) -> String {
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

    /// A Kubernetes-style `Status` error body.
    public static func status(_ code: Int, reason: String, message: String) -> HTTPResponse {
        .json(code, APIError(code: code, reason: reason, message: message).status.text)
    }

    /// A JSON response with a JSON value as its body.
    public static func json(_ status: Int, _ body: JSON, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        json(status, body.text, headers: headers)
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
    public func serializedHead(keepAlive: Bool) -> String {
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
