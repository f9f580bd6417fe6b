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
/// does not answer or answers 503 (no leader yet), so commands keep working while a master is
/// down. Masters come from `--masters URL,...`, `BOSUN_MASTERS`, or the `cluster.json` that
/// `bosun up` writes (default `.bosun/cluster.json`).
final class APIClient {
    struct Endpoint {
        var host: String
        var port: UInt16
        var description: String { "\(host):\(port)" }
    }

    let masters: [Endpoint]
    private var preferred = 0

    init(masters: [Endpoint]) {
        self.masters = masters
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

    /// Sends a request to the first master that answers it with anything but 503.
    func send(_ method: String, _ target: String, body: JSON? = nil, contentType: String = "application/json", accept: String = "application/json") throws(CommandFailure) -> HTTPResponse {
        var headers = [("Accept", accept)]
        if body != nil { headers.append(("Content-Type", contentType)) }
        let payload = body.map { Array($0.text.utf8) } ?? []
        var problems: [String] = []
        for attempt in 0..<masters.count {
            let index = (preferred + attempt) % masters.count
            let master = masters[index]
            do {
                let response = try HTTPClient.request(host: master.host, port: master.port, method: method, target: target, headers: headers, body: payload)
                if response.status == 503 {
                    problems.append("\(master): no leader")
                    continue
                }
                preferred = index
                return response
            } catch {
                problems.append("\(master): \(error)")
            }
        }
        throw CommandFailure(message: "no master answered (\(problems.joined(separator: "; ")))")
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
        var problems: [String] = []
        for attempt in 0..<masters.count {
            let master = masters[(preferred + attempt) % masters.count]
            let head: HTTPResponse
            do {
                head = try HTTPClient.stream(host: master.host, port: master.port, target: target, headers: [("Accept", "text/plain")]) { text in
                    line(text)
                    return true
                }
            } catch {
                problems.append("\(master): \(error)")
                continue
            }
            if head.status == 503 {
                problems.append("\(master): no leader")
                continue
            }
            if head.status != 200 { throw APIClient.refusal(head, try? JSONParser.parse(head.body)) }
            return
        }
        throw CommandFailure(message: "no master answered (\(problems.joined(separator: "; ")))")
    }

    /// Follows a watch, line by line. When its master goes away, the watch resumes on another
    /// master from the last resourceVersion seen, so no event is lost or repeated.
    func watch(_ target: (String) -> String, from version: String, accept: String, event: (JSON) throws(CommandFailure) -> Void) throws(CommandFailure) {
        var resume = version
        var failures = 0
        while failures < masters.count * 3 {
            let master = masters[preferred]
            var failure: CommandFailure? = nil
            let head = try? HTTPClient.stream(host: master.host, port: master.port, target: target(resume), headers: [("Accept", accept)]) { line in
                guard let parsed = try? JSONParser.parse(line) else { return true }
                if let rv = parsed[path: ["object", "metadata", "resourceVersion"]]?.stringValue { resume = rv }
                failures = 0
                do throws(CommandFailure) { try event(parsed) } catch {
                    failure = error
                    return false
                }
                return true
            }
            if let failure { throw failure }
            if let head {
                if head.status == 200 { return }  // the server ended the watch
                if head.status != 503 { throw APIClient.refusal(head, try? JSONParser.parse(head.body)) }
            }
            failures += 1
            preferred = (preferred + 1) % masters.count
            usleep(200_000)
        }
        throw CommandFailure(message: "the watch lost every master")
    }
}
