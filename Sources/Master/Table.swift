/// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`: objects as rows with the columns
/// `kubectl get` prints (`-o wide` adds the priority-1 columns). The server formats every cell,
/// AGE included, so it needs the time: `now` in seconds since the epoch.
public struct TableRenderer: Sendable {
    public enum IncludeObject: String, Sendable {
        case none = "None"
        case metadata = "Metadata"
        case object = "Object"
    }

    public var type: ResourceType
    public var now: Int64
    public var include: IncludeObject

    public init(type: ResourceType, now: Int64, include: IncludeObject) {
        self.type = type
        self.now = now
        self.include = include
    }

    struct Column {
        var name: String
        var type: String
        var priority: Int
        var cell: (JSON) -> JSON
    }

    /// The whole table of a list.
    public func table(_ objects: [JSON], resourceVersion: UInt64, continueToken: String? = nil) -> JSON {
        var table = head
        table["metadata"] = ListDocument.metadata(resourceVersion: resourceVersion, continueToken: continueToken)
        table["rows"] = .array(objects.map(row))
        return table
    }

    /// The table without its rows and metadata: kind, apiVersion and the column definitions.
    var head: JSON {
        let definitions: [JSON] = columns.map { column in
            var definition: JSON = ["name": .string(column.name), "type": .string(column.type), "format": "", "description": "", "priority": .number(column.priority)]
            if column.name == "Name" { definition["format"] = "name" }
            return definition
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "columnDefinitions": .array(definitions)]
    }

    /// A table of one object without column definitions, as watch events carry (kubectl reuses
    /// the list's header).
    public func eventTable(_ object: JSON) -> JSON {
        let version = object[path: ["metadata", "resourceVersion"]] ?? "0"
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": ["resourceVersion": version], "columnDefinitions": [], "rows": [row(object)]]
    }

    func row(_ object: JSON) -> JSON {
        var row: JSON = ["cells": .array(columns.map { $0.cell(object) })]
        switch include {
        case .none: break
        case .object: row["object"] = object
        case .metadata:
            row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
        }
        return row
    }

    var columns: [Column] {
        let name = Column(name: "Name", type: "string", priority: 0) { $0[path: ["metadata", "name"]] ?? "" }
        let age = Column(name: "Age", type: "string", priority: 0) { .string(self.age($0[path: ["metadata", "creationTimestamp"]]?.stringValue)) }
        func text(_ title: String, _ priority: Int = 0, _ value: @escaping (JSON) -> String) -> Column {
            Column(name: title, type: "string", priority: priority) { .string(value($0)) }
        }
        func integer(_ title: String, _ path: [String]) -> Column {
            Column(name: title, type: "integer", priority: 0) { .number($0[path: path]?.intValue ?? 0) }
        }
        let workload = [
            text("Containers", 1) { Self.containers($0).compactMap { $0["name"]?.stringValue }.joined(separator: ",") },
            text("Images", 1) { Self.containers($0).compactMap { $0["image"]?.stringValue }.joined(separator: ",") },
            text("Selector", 1) { ((try? LabelSelector(object: $0[path: ["spec", "selector"]] ?? [:]))?.text).map { $0.isEmpty ? "<none>" : $0 } ?? "<none>" },
        ]
        switch type.plural {
        case "pods":
            return [name, text("Ready", 0, Self.podReady), text("Status", 0, Self.podStatus),
                    text("Restarts") { pod in String((pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }) },
                    age,
                    text("IP", 1) { $0[path: ["status", "podIP"]]?.stringValue ?? "<none>" },
                    text("Node", 1) { $0[path: ["spec", "nodeName"]]?.stringValue ?? "<none>" },
                    text("Nominated Node", 1) { $0[path: ["status", "nominatedNodeName"]]?.stringValue ?? "<none>" },
                    text("Readiness Gates", 1) { _ in "<none>" }]
        case "nodes":
            func address(_ kind: String) -> (JSON) -> String {
                { node in (node[path: ["status", "addresses"]]?.arrayValue ?? []).first { $0["type"] == .string(kind) }?["address"]?.stringValue ?? "<none>" }
            }
            func info(_ field: String) -> (JSON) -> String { { $0[path: ["status", "nodeInfo", field]]?.stringValue ?? "<unknown>" } }
            return [name, text("Status", 0, Self.nodeStatus), text("Roles", 0, Self.nodeRoles), age, text("Version", 0, info("kubeletVersion")),
                    text("Internal-IP", 1, address("InternalIP")), text("External-IP", 1, address("ExternalIP")),
                    text("OS-Image", 1, info("osImage")), text("Kernel-Version", 1, info("kernelVersion")),
                    text("Container-Runtime", 1, info("containerRuntimeVersion"))]
        case "configmaps":
            return [name, Column(name: "Data", type: "integer", priority: 0) {
                .number(($0["data"]?.objectValue?.count ?? 0) + ($0["binaryData"]?.objectValue?.count ?? 0))
            }, age]
        case "namespaces":
            return [name, text("Status") { $0[path: ["status", "phase"]]?.stringValue ?? "Active" }, age]
        case "deployments":
            return [name,
                    text("Ready") { "\($0[path: ["status", "readyReplicas"]]?.intValue ?? 0)/\($0[path: ["spec", "replicas"]]?.intValue ?? 1)" },
                    integer("Up-to-date", ["status", "updatedReplicas"]), integer("Available", ["status", "availableReplicas"]), age] + workload
        case "replicasets":
            return [name, Column(name: "Desired", type: "integer", priority: 0) { .number($0[path: ["spec", "replicas"]]?.intValue ?? 1) },
                    integer("Current", ["status", "replicas"]), integer("Ready", ["status", "readyReplicas"]), age] + workload
        case "leases":
            return [name, text("Holder") { $0[path: ["spec", "holderIdentity"]]?.stringValue ?? "" }, age]
        case "events":
            let lastSeen = text("Last Seen") { self.age(($0["lastTimestamp"] ?? $0["eventTime"] ?? $0[path: ["metadata", "creationTimestamp"]])?.stringValue) }
            let object = text("Object") { event in
                "\((event[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(event[path: ["involvedObject", "name"]]?.stringValue ?? "")"
            }
            var hiddenName = name
            hiddenName.priority = 1
            return [lastSeen, text("Type") { $0["type"]?.stringValue ?? "" }, text("Reason") { $0["reason"]?.stringValue ?? "" }, object,
                    text("Message") { $0["message"]?.stringValue ?? "" }, hiddenName]
        default:
            return [name, age]
        }
    }

    static func containers(_ workload: JSON) -> [JSON] { workload[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? [] }

    /// kubectl's READY: containers ready and running, of all.
    static func podReady(_ pod: JSON) -> String {
        let total = pod[path: ["spec", "containers"]]?.arrayValue?.count ?? 0
        let ready = (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).filter { $0["ready"] == .bool(true) && $0[path: ["state", "running"]] != nil }.count
        return "\(ready)/\(total)"
    }

    /// kubectl's STATUS: the pod's reason or phase, overridden by the first container that waits
    /// or has ended (walked from the last, so the first one wins), and `Terminating` for a pod being deleted.
    static func podStatus(_ pod: JSON) -> String {
        let phase = pod[path: ["status", "phase"]]?.stringValue
        var reason = pod[path: ["status", "reason"]]?.stringValue ?? phase ?? "Pending"
        for status in (pod[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reversed() {
            if let waiting = status[path: ["state", "waiting", "reason"]]?.stringValue, !waiting.isEmpty {
                reason = waiting
            } else if let terminated = status[path: ["state", "terminated"]] {
                if let text = terminated["reason"]?.stringValue, !text.isEmpty {
                    reason = text
                } else if let signal = terminated["signal"]?.intValue, signal != 0 {
                    reason = "Signal:\(signal)"
                } else {
                    reason = "ExitCode:\(terminated["exitCode"]?.intValue ?? 0)"
                }
            }
        }
        if pod[path: ["metadata", "deletionTimestamp"]] != nil, phase != "Succeeded", phase != "Failed" {
            return pod[path: ["status", "reason"]]?.stringValue == "NodeLost" ? "Unknown" : "Terminating"
        }
        return reason
    }

    static func nodeStatus(_ node: JSON) -> String {
        let ready = (node[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }
        var status = switch ready?["status"]?.stringValue {
        case "True": "Ready"
        case nil: "Unknown"
        default: "NotReady"
        }
        if node[path: ["spec", "unschedulable"]] == .bool(true) { status += ",SchedulingDisabled" }
        return status
    }

    static func nodeRoles(_ node: JSON) -> String {
        let prefix = "node-role.kubernetes.io/"
        let roles = (node[path: ["metadata", "labels"]]?.objectValue ?? [:]).keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
        return roles.isEmpty ? "<none>" : roles.joined(separator: ",")
    }

    /// A duration as kubectl prints ages: `45s`, `5m3s`, `12m`, `3h5m`, `2d4h`, `400d`, `3y10d`.
    public static func humanDuration(seconds: Int64) -> String {
        if seconds < 0 { return "<invalid>" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 { return (hours / 24) % 365 == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\((hours / 24) % 365)d" }
        return "\(hours / 24 / 365)y"
    }

    func age(_ timestamp: String?) -> String {
        guard let timestamp, let then = Timestamp.seconds(timestamp) else { return "<unknown>" }
        return Self.humanDuration(seconds: now - then)
    }
}

/// RFC 3339 timestamps as the API writes them (`2026-11-25T20:05:00Z`, fractions and offsets
/// accepted when read).
public enum Timestamp {
    /// Seconds since the epoch, or nil when the text is no RFC 3339 timestamp.
    public static func seconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= b.count else { return nil }
            var value: Int64 = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int64(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        if b[i] == 46 {
            i += 1
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        var offset: Int64 = 0
        if i < b.count, b[i] == 90 || b[i] == 122, i + 1 == b.count {
            offset = 0
        } else if i + 6 == b.count, b[i] == 43 || b[i] == 45, b[i + 3] == 58, let h = number(i + 1..<i + 3), let m = number(i + 4..<i + 6) {
            offset = (h * 60 + m) * 60 * (b[i] == 43 ? 1 : -1)
        } else {
            return nil
        }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + hour * 3600 + minute * 60 + second - offset
    }

    /// Seconds since the epoch as RFC 3339 in UTC.
    public static func text(seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))Z"
    }
}
