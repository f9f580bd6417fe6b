import Master

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
    /// No request head ends before this offset of `buffer`: each call searches only the bytes
    /// that arrived since (a head sent a byte at a time costs linear time, not quadratic).
    private var searchedUpTo = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    public var bufferedBytes: Int { buffer.count }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request; nil when more bytes are needed.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        let headLimit = limits.headerBytes + 4
        guard let headEnd = HTTPParser.find([13, 10, 13, 10], in: buffer, from: searchedUpTo, limit: headLimit) else {
            searchedUpTo = max(0, min(buffer.count, headLimit) - 3)
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
        searchedUpTo = 0
        return request
    }

    /// Offset of `needle` in the first `limit` bytes of `haystack`, starting at `start`, without
    /// allocating.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0, limit: Int) -> Int? {
        let end = min(haystack.count, limit) - needle.count
        var i = start
        search: while i <= end {
            for k in 0..<needle.count where haystack[i + k] != needle[k] {
                i += 1
                continue search
            }
            return i
        }
        return nil
    }
}

