import Glibc
import Master
import Runtime

/// A command's failure: the message to print and the exit status (1: the server refused or no
/// master answered).
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var status: Int32 = 1
    var description: String { message }
}

/// The CLI's way to the cluster: it knows every master and moves to the next one when a master
/// does not answer or answers 503 (no leader yet), round after round with a growing pause, for up
/// to `retrySeconds`: a command sent during an election waits it out. A request that may have
/// reached a master is sent again only when that is safe (a read); a write whose outcome is
/// unknown is reported as such. Masters come from `--masters URL,...`, `BOSUN_MASTERS`, or the
/// `cluster.json` that `bosun up` writes (default `.bosun/cluster.json`).
final class APIClient {
    struct Endpoint: CustomStringConvertible {
        var host: String
        var port: UInt16
        var description: String { "\(host):\(port)" }
    }

    let masters: [Endpoint]
    let retrySeconds: Int
    private var preferred = 0

    init(masters: [Endpoint], retrySeconds: Int = 10) {
        self.masters = masters
        self.retrySeconds = retrySeconds
    }

    /// Calls `attempt` with each master in turn, from the one that last answered, until it
    /// returns a value; pauses 0.1 s, doubling to 1 s, between rounds; fails with every master's
    /// problem once `retrySeconds` have passed. `attempt` returns nil with the problem to retry.
    func untilAnswered<T>(_ attempt: (Endpoint) throws(CommandFailure) -> Result<T, Problem>) throws(CommandFailure) -> T {
        let deadline = monotonicNs() + UInt64(retrySeconds) * 1_000_000_000
        var pauseUs: UInt32 = 100_000
        while true {
            var problems: [String] = []
            for offset in 0..<masters.count {
                let index = (preferred + offset) % masters.count
                switch try attempt(masters[index]) {
                case .success(let value):
                    preferred = index
                    return value
                case .failure(let problem): problems.append("\(masters[index]) \(problem.text)")
                }
            }
            let now = monotonicNs()
            guard now < deadline else {
                throw CommandFailure(message: "bosun: no master answered within \(retrySeconds) s: \(problems.joined(separator: "; "))")
            }
            usleep(UInt32(min(UInt64(pauseUs), (deadline - now) / 1_000)))
            pauseUs = min(pauseUs * 2, 1_000_000)
        }
    }

    /// Why a master gave no usable answer, in words.
    struct Problem: Error {
        var text: String
        static let noLeader = Problem(text: "has no leader yet (503)")
        static func unreachable(_ failure: HTTPClient.Failure) -> Problem { Problem(text: "did not answer (\(failure.message))") }
    }

    /// `http://HOST:PORT[,...]`.
    static func parseMasters(_ text: String) throws(Flags.UsageError) -> [Endpoint] {
        var masters: [Endpoint] = []
        for item in text.split(separator: ",") {
            var rest = Substring(item.trimmingSpaces)
            if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
            while rest.hasSuffix("/") { rest = rest.dropLast() }
            guard let colon = rest.lastIndex(of: ":"), colon != rest.startIndex, let port = UInt16(rest[rest.index(after: colon)...]) else {
                throw Flags.UsageError(message: "--masters: '\(item)' is not http://HOST:PORT")
            }
            masters.append(Endpoint(host: String(rest[..<colon]), port: port))
        }
        guard !masters.isEmpty else { throw Flags.UsageError(message: "--masters names no master") }
        return masters
    }

    /// The masters of the local cluster `bosun up` started, from its `cluster.json`.
    static func localMasters(dataDir: String) -> [Endpoint]? {
        guard let text = try? readFile("\(dataDir)/cluster.json"), let json = try? JSONParser.parse(text),
            let members = json["members"]?.arrayValue
        else { return nil }
        let masters = members.compactMap { $0["api"]?.stringValue }.compactMap { try? parseMasters($0).first }
        return masters.isEmpty ? nil : masters
    }

    static func readFile(_ path: String) throws(CommandFailure) -> String {
        do { return String(decoding: try FileIO.readAll(path), as: UTF8.self) } catch {
            throw CommandFailure(message: "cannot read \(path): \(error)")
        }
    }

    /// Sends a request to the first master that answers it with anything but 503. A read is sent
    /// again after any failure; a write only when it cannot have arrived (no connection).
    func send(_ method: String, _ target: String, body: JSON? = nil, contentType: String = "application/json", accept: String = "application/json") throws(CommandFailure) -> HTTPResponse {
        var headers = [("Accept", accept)]
        if body != nil { headers.append(("Content-Type", contentType)) }
        let payload = body.map { Array($0.text.utf8) } ?? []
        let safeToRepeat = method == "GET"
        return try untilAnswered { (master) throws(CommandFailure) -> Result<HTTPResponse, Problem> in
            do throws(HTTPClient.Failure) {
                let response = try HTTPClient.request(host: master.host, port: master.port, method: method, target: target, headers: headers, body: payload)
                if response.status == 503 { return .failure(.noLeader) }
                if response.status == 504 && safeToRepeat { return .failure(Problem(text: "timed out (504)")) }
                return .success(response)
            } catch {
                guard error.delivered && !safeToRepeat else { return .failure(.unreachable(error)) }
                throw CommandFailure(message: "bosun: \(master) took the \(method) request but gave no answer (\(error.message)); it may or may not have been carried out")
            }
        }
    }

    /// A successful response's JSON body; a refusal becomes a failure with the server's reason
    /// and message, as kubectl prints them.
    func json(_ method: String, _ target: String, body: JSON? = nil, contentType: String = "application/json", accept: String = "application/json") throws(CommandFailure) -> JSON {
        let response = try send(method, target, body: body, contentType: contentType, accept: accept)
        let parsed = try? JSONParser.parse(response.body)
        guard (200..<300).contains(response.status) else { throw APIClient.refusal(response, parsed) }
        guard let parsed else { throw CommandFailure(message: "the server's answer is not JSON") }
        return parsed
    }

    static func refusal(_ response: HTTPResponse, _ body: JSON?) -> CommandFailure {
        if let body, body["kind"] == "Status" {
            return CommandFailure(message: "Error from server (\(body["reason"]?.stringValue ?? "Unknown")): \(body["message"]?.stringValue ?? "")")
        }
        return CommandFailure(message: "Error from server: HTTP \(response.status)")
    }

    /// Follows a stream of text lines (a followed log) from the first master that answers it.
    func follow(_ target: String, line: (String) -> Void) throws(CommandFailure) {
        let head = try untilAnswered { (master) throws(CommandFailure) -> Result<HTTPResponse, Problem> in
            do throws(HTTPClient.Failure) {
                let head = try HTTPClient.stream(host: master.host, port: master.port, target: target, headers: [("Accept", "text/plain")], line: { text in
                    line(text)
                    return true
                })
                return head.status == 503 ? .failure(.noLeader) : .success(head)
            } catch {
                return .failure(.unreachable(error))
            }
        }
        if head.status != 200 { throw APIClient.refusal(head, try? JSONParser.parse(head.body)) }
    }

    /// Follows a watch, line by line, until `event` stops it. When its master goes away or ends
    /// the stream, the watch resumes on the next master that answers from the last
    /// resourceVersion seen, so no event is lost or repeated; it fails only when no master
    /// answers for `retrySeconds`.
    func watch(_ target: (String) -> String, from version: String, accept: String, event: (JSON) throws(CommandFailure) -> Void) throws(CommandFailure) {
        var resume = version
        while true {
            var failure: CommandFailure? = nil
            let head = try untilAnswered { (master) throws(CommandFailure) -> Result<HTTPResponse, Problem> in
                var streamed = false
                do throws(HTTPClient.Failure) {
                    let head = try HTTPClient.stream(host: master.host, port: master.port, target: target(resume), headers: [("Accept", accept)], started: { streamed = true }, line: { line in
                        guard let parsed = try? JSONParser.parse(line) else { return true }
                        if let rv = parsed[path: ["object", "metadata", "resourceVersion"]]?.stringValue { resume = rv }
                        do throws(CommandFailure) { try event(parsed) } catch {
                            failure = error
                            return false
                        }
                        return true
                    })
                    if head.status == 503 { return .failure(.noLeader) }
                    return .success(head)
                } catch {
                    // A stream that ran and broke resumes at once; one that never started counts as silence.
                    return streamed ? .success(HTTPResponse(status: 200)) : .failure(.unreachable(error))
                }
            }
            if let failure { throw failure }
            if head.status != 200 { throw APIClient.refusal(head, try? JSONParser.parse(head.body)) }
            // The stream ended (its master stopped or timed it out): go on from `resume`.
            preferred = (preferred + 1) % masters.count
        }
    }
}
