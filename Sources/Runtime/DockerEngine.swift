import Master

/// The Docker Engine API, spoken over the engine's UNIX socket with our own HTTP client (no
/// Docker CLI): the few calls the Docker runtime needs. Every call blocks; the runtime makes
/// them on a thread of its own, never on the agent's event loop.
public struct DockerEngine: Sendable {
    /// A call the engine refused, or one that never got an answer.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var status: Int
        public var message: String
        public var description: String { status == 0 ? message : "\(message) (\(status))" }
    }

    /// A container as the engine lists it.
    public struct Listed: Sendable {
        public var id: String
        public var labels: [String: String]
        /// "created", "running", "exited", ...
        public var state: String
    }

    /// What inspecting a container tells.
    public struct Inspected: Sendable {
        public var running: Bool
        public var exitCode: Int
        public var oomKilled: Bool
        public var startedAt: String
        /// Its address on its first network ("" with none).
        public var ip: String
    }

    public let socketPath: String
    /// API version 1.41 (engine 20.10) is understood by every engine since.
    static let prefix = "/v1.41"

    public init(socketPath: String = "/var/run/docker.sock") {
        self.socketPath = socketPath
    }

    /// One call; the answer's status and body, or a failure when the engine does not answer.
    func call(_ method: String, _ path: String, body: JSON? = nil, timeoutMs: Int32 = 30_000) throws(Failure) -> (status: Int, body: [UInt8]) {
        let bytes = body.map { Array($0.text.utf8) } ?? []
        let headers = body == nil ? [] : [("Content-Type", "application/json")]
        do {
            let response = try HTTPClient.request(unixSocket: socketPath, method: method, target: Self.prefix + path, headers: headers, body: bytes, timeoutMs: timeoutMs)
            return (response.status, response.body)
        } catch {
            throw Failure(status: 0, message: "the Docker engine at \(socketPath) did not answer: \(error)")
        }
    }

    /// A call that must answer one of `expected`; otherwise the engine's own message.
    @discardableResult
    func expect(_ expected: Set<Int>, _ method: String, _ path: String, body: JSON? = nil, timeoutMs: Int32 = 30_000) throws(Failure) -> JSON {
        let (status, bytes) = try call(method, path, body: body, timeoutMs: timeoutMs)
        let json = (try? JSONParser.parse(bytes)) ?? .null
        guard expected.contains(status) else {
            throw Failure(status: status, message: json["message"]?.stringValue ?? String(decoding: bytes.prefix(200), as: UTF8.self))
        }
        return json
    }

    /// The engine's version, as `docker://20.10.24`.
    public func version() throws(Failure) -> String {
        "docker://" + (try expect([200], "GET", "/version")["Version"]?.stringValue ?? "unknown")
    }

    public func imageExists(_ image: String) throws(Failure) -> Bool {
        try call("GET", "/images/\(Self.escape(image))/json").status == 200
    }

    /// Pulls an image. The engine reports a failure either as an error status or, once the pull
    /// has started, as an `error` line in its progress stream.
    public func pull(_ image: String) throws(Failure) {
        let (name, tag) = Self.split(image)
        let (status, bytes) = try call("POST", "/images/create?fromImage=\(Self.escape(name))&tag=\(Self.escape(tag))", timeoutMs: 600_000)
        let lines = bytes.split(separator: 10).compactMap { try? JSONParser.parse(Array($0)) }
        if status != 200 {
            throw Failure(status: status, message: lines.first?["message"]?.stringValue ?? "pull of \(image) refused")
        }
        if let error = lines.first(where: { $0["error"] != nil })?["error"]?.stringValue { throw Failure(status: 500, message: error) }
    }

    /// Creates a container; returns its id.
    public func create(name: String, _ config: JSON) throws(Failure) -> String {
        let answer = try expect([201], "POST", "/containers/create?name=\(Self.escape(name))", body: config)
        guard let id = answer["Id"]?.stringValue else { throw Failure(status: 201, message: "the engine created a container without naming its id") }
        return id
    }

    public func start(_ id: String) throws(Failure) {
        try expect([204, 304], "POST", "/containers/\(id)/start")
    }

    /// Sends a signal; a container that is not running is not an error.
    public func kill(_ id: String, signal: String) throws(Failure) {
        try expect([204, 404, 409], "POST", "/containers/\(id)/kill?signal=\(signal)")
    }

    /// Removes a container, running or not; one already gone is not an error.
    public func remove(_ id: String) throws(Failure) {
        try expect([204, 404], "DELETE", "/containers/\(id)?force=true")
    }

    /// Every container (running or not) that carries `label` (`key=value`).
    public func list(label: String) throws(Failure) -> [Listed] {
        let filters = JSON.object(["label": .array([.string(label)])]).text
        let answer = try expect([200], "GET", "/containers/json?all=true&filters=\(Self.escape(filters))")
        return (answer.arrayValue ?? []).compactMap { item in
            guard let id = item["Id"]?.stringValue else { return nil }
            var labels: [String: String] = [:]
            for (key, value) in item["Labels"]?.objectValue ?? [:] { labels[key] = value.stringValue }
            return Listed(id: id, labels: labels, state: item["State"]?.stringValue ?? "")
        }
    }

    public func inspect(_ id: String) throws(Failure) -> Inspected {
        let answer = try expect([200], "GET", "/containers/\(id)/json")
        let state = answer["State"] ?? .null
        let networks = (answer[path: ["NetworkSettings", "Networks"]]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        return Inspected(
            running: state["Running"] == .bool(true), exitCode: state["ExitCode"]?.intValue ?? 0, oomKilled: state["OOMKilled"] == .bool(true),
            startedAt: state["StartedAt"]?.stringValue ?? "", ip: networks.first?.value["IPAddress"]?.stringValue ?? "")
    }

    /// Runs a command inside a running container and waits for it (within `timeoutMs`); returns
    /// its exit code.
    public func exec(_ id: String, _ command: [String], timeoutMs: Int32) throws(Failure) -> Int {
        let created = try expect([201], "POST", "/containers/\(id)/exec", body: [
            "Cmd": .array(command.map(JSON.string)), "AttachStdout": .bool(true), "AttachStderr": .bool(true),
        ])
        guard let exec = created["Id"]?.stringValue else { throw Failure(status: 201, message: "the engine created an exec without naming its id") }
        // The answer streams the command's output and ends when the command does.
        _ = try call("POST", "/exec/\(exec)/start", body: ["Detach": .bool(false), "Tty": .bool(false)], timeoutMs: timeoutMs)
        guard let code = try expect([200], "GET", "/exec/\(exec)/json")["ExitCode"]?.intValue else {
            throw Failure(status: 200, message: "the command has not ended")
        }
        return code
    }

    /// A container's output, stdout and stderr interleaved as written.
    public func logs(_ id: String) throws(Failure) -> [UInt8] {
        let (status, bytes) = try call("GET", "/containers/\(id)/logs?stdout=true&stderr=true")
        guard status == 200 else { throw Failure(status: status, message: "no logs for container \(id)") }
        return Self.demultiplex(bytes)
    }

    /// The payloads of the engine's multiplexed log stream (a container without a TTY): frames of
    /// an 8-byte header (stream type, three zero bytes, big-endian length) and that many bytes.
    /// Anything that is not such a frame is passed through as it is.
    static func demultiplex(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var at = 0
        while at + 8 <= bytes.count, bytes[at] <= 2, bytes[at + 1] == 0, bytes[at + 2] == 0, bytes[at + 3] == 0 {
            let length = bytes[(at + 4)..<(at + 8)].reduce(0) { $0 << 8 | Int($1) }
            let end = min(bytes.count, at + 8 + length)
            result += bytes[(at + 8)..<end]
            at = end
        }
        return result + bytes[at...]
    }

    /// `name[:tag]` → (name, tag), `latest` when no tag is given (a registry port is not a tag).
    static func split(_ image: String) -> (String, String) {
        if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
            return (String(image[..<colon]), String(image[image.index(after: colon)...]))
        }
        return (image, "latest")
    }

    /// Percent-encodes a path segment or query value.
    static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
