import Glibc
import Master

/// Counts in fixed buckets, as Prometheus histograms are exposed: cumulative per upper bound,
/// plus a sum and a count.
public struct Histogram: Sendable {
    /// Upper bounds in seconds.
    public let bounds: [Double]
    private(set) var counts: [UInt64]
    private(set) var sum = 0.0
    private(set) var count: UInt64 = 0

    public init(bounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    public mutating func observe(seconds: Double) {
        if let bucket = bounds.firstIndex(where: { seconds <= $0 }) { counts[bucket] += 1 }
        sum += seconds
        count += 1
    }

    /// The exposition lines of this histogram under `name` with `labels` (`a="b",` or empty).
    func lines(_ name: String, labels: String) -> [String] {
        var cumulative: UInt64 = 0
        var out: [String] = []
        for (bound, n) in zip(bounds, counts) {
            cumulative += n
            out.append("\(name)_bucket{\(labels)le=\"\(bound)\"} \(cumulative)")
        }
        out.append("\(name)_bucket{\(labels)le=\"+Inf\"} \(count)")
        let plain = labels.isEmpty ? "" : "{\(labels.dropLast())}"
        out.append("\(name)_sum\(plain) \(sum)")
        out.append("\(name)_count\(plain) \(count)")
        return out
    }
}

/// What a master counts for `GET /metrics`: API requests by verb, resource and code, with
/// latency histograms by verb and resource, and leader changes. The Raft gauges and the disk's
/// counters are read from the driver when the page is rendered.
final class APIMetrics {
    struct RequestKey: Hashable, Comparable {
        var verb: String
        var resource: String
        var code: Int

        static func < (a: RequestKey, b: RequestKey) -> Bool { (a.verb, a.resource, a.code) < (b.verb, b.resource, b.code) }
    }

    struct LatencyKey: Hashable, Comparable {
        var verb: String
        var resource: String

        static func < (a: LatencyKey, b: LatencyKey) -> Bool { (a.verb, a.resource) < (b.verb, b.resource) }
    }

    private(set) var requests: [RequestKey: UInt64] = [:]
    private(set) var latency: [LatencyKey: Histogram] = [:]

    func record(verb: String, resource: String, code: Int, seconds: Double) {
        requests[RequestKey(verb: verb, resource: resource, code: code), default: 0] += 1
        latency[LatencyKey(verb: verb, resource: resource), default: Histogram()].observe(seconds: seconds)
    }

    /// The Kubernetes verb of a request: get, list, watch, create, update, patch, delete.
    static func verb(method: String, route: APIRoute, watch: Bool) -> String {
        guard case .resource(let path) = route else { return method.lowercased() }
        switch method {
        case "GET": return path.name != nil ? "get" : watch ? "watch" : "list"
        case "POST": return "create"
        case "PUT": return "update"
        case "PATCH": return "patch"
        case "DELETE": return "delete"
        default: return method.lowercased()
        }
    }

    static func help(_ name: String, _ type: String, _ text: String) -> [String] { ["# HELP \(name) \(text)", "# TYPE \(name) \(type)"] }

    func requestLines() -> [String] {
        var out = Self.help("bosun_api_requests_total", "counter", "API requests by verb, resource and HTTP code.")
        for key in requests.keys.sorted() {
            out.append("bosun_api_requests_total{verb=\"\(key.verb)\",resource=\"\(key.resource)\",code=\"\(key.code)\"} \(requests[key]!)")
        }
        out += Self.help("bosun_api_request_duration_seconds", "histogram", "API request latency (for watches: until the stream starts).")
        for key in latency.keys.sorted() {
            out += latency[key]!.lines("bosun_api_request_duration_seconds", labels: "verb=\"\(key.verb)\",resource=\"\(key.resource)\",")
        }
        return out
    }
}
