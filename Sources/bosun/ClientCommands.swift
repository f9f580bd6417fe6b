import Glibc
import Master
import Runtime

/// The user commands: `apply`, `create`, `delete`, `get`, `describe`, `scale`, `logs` and
/// `cluster status`, in the shape of kubectl's. Exit status: 0 done, 1 the server refused (its
/// message printed), 2 a usage error.
struct ClientCommands {
    static let flags: [CommandLineArguments.Flag] = [
        .init(name: "filename", short: "f", takesValue: true), .init(name: "namespace", short: "n", takesValue: true),
        .init(name: "all-namespaces", short: "A", takesValue: false), .init(name: "output", short: "o", takesValue: true),
        .init(name: "selector", short: "l", takesValue: true), .init(name: "field-selector", short: nil, takesValue: true),
        .init(name: "watch", short: "w", takesValue: false), .init(name: "replicas", short: nil, takesValue: true),
        .init(name: "masters", short: nil, takesValue: true), .init(name: "ignore-not-found", short: nil, takesValue: false),
        .init(name: "data-dir", short: nil, takesValue: true), .init(name: "retry-seconds", short: nil, takesValue: true),
    ]

    /// `logs` takes kubectl's flags for it: there `-f` follows.
    static let logsFlags: [CommandLineArguments.Flag] = [
        .init(name: "follow", short: "f", takesValue: false), .init(name: "container", short: "c", takesValue: true),
        .init(name: "tail", short: nil, takesValue: true), .init(name: "previous", short: "p", takesValue: false),
        .init(name: "namespace", short: "n", takesValue: true), .init(name: "masters", short: nil, takesValue: true),
        .init(name: "data-dir", short: nil, takesValue: true), .init(name: "retry-seconds", short: nil, takesValue: true),
    ]

    let arguments: CommandLineArguments
    let client: APIClient
    let namespace: String

    init(_ words: [String], flags: [CommandLineArguments.Flag] = Self.flags, environment: [String: String]) throws(Flags.UsageError) {
        arguments = try CommandLineArguments(words, flags: flags)
        let masters: [APIClient.Endpoint]
        if let text = arguments.value("masters") ?? environment["BOSUN_MASTERS"] {
            masters = try APIClient.parseMasters(text)
        } else {
            masters = APIClient.localMasters(dataDir: arguments.value("data-dir") ?? environment["BOSUN_DATA_DIR"] ?? ".bosun")
                ?? [APIClient.Endpoint(host: "127.0.0.1", port: 8080)]
        }
        let retryText = arguments.value("retry-seconds") ?? environment["BOSUN_RETRY_SECONDS"] ?? "10"
        guard let retrySeconds = Int(retryText), (0...3600).contains(retrySeconds) else {
            throw Flags.UsageError(message: "--retry-seconds: '\(retryText)' must be a number in 0...3600")
        }
        client = APIClient(masters: masters, retrySeconds: retrySeconds)
        namespace = arguments.value("namespace") ?? "default"
    }

    static func run(_ command: String, _ words: [String], environment: [String: String]) throws -> Int32 {
        let commands = try ClientCommands(words, flags: command == "logs" ? logsFlags : flags, environment: environment)
        let positional = commands.arguments.positional
        switch command {
        case "apply", "create":
            let files = commands.arguments.all("filename")
            guard !files.isEmpty, positional.isEmpty else { throw Flags.UsageError(message: "\(command) needs -f FILE|DIR|- and nothing else") }
            return try commands.applyOrCreate(files, apply: command == "apply")
        case "delete": return try commands.delete(positional)
        case "get":
            guard let type = positional.first else { throw Flags.UsageError(message: "get needs a resource type, e.g. bosun get pods") }
            if type == "all", positional.count == 1 { return try commands.getTables(ResourceType.all.filter { $0.categories.contains("all") }) }
            if type.contains(",") {
                guard positional.count == 1 else { throw Flags.UsageError(message: "get of several types takes no names: bosun get TYPE,TYPE") }
                return try commands.getTables(try type.split(separator: ",").map { name throws(CommandFailure) in try resolve(String(name)) })
            }
            return try commands.get(try resolve(type), names: Array(positional.dropFirst()))
        case "describe":
            guard positional.count == 2 else { throw Flags.UsageError(message: "describe needs a resource type and a name") }
            return try commands.describe(try resolve(positional[0]), positional[1])
        case "scale":
            guard positional.count == 2 || (positional.count == 1 && positional[0].contains("/")) else {
                throw Flags.UsageError(message: "scale needs a type and a name: bosun scale deployment NAME --replicas N")
            }
            let (typeName, name) = positional.count == 2 ? (positional[0], positional[1]) : splitSlash(positional[0])
            guard let text = commands.arguments.value("replicas"), let replicas = Int(text), replicas >= 0 else {
                throw Flags.UsageError(message: "scale needs --replicas N (a number, 0 or more)")
            }
            return try commands.scale(try resolve(typeName), name, replicas)
        case "logs":
            guard positional.count == 1 else { throw Flags.UsageError(message: "logs needs one pod: bosun logs POD [-c CONTAINER] [-f] [--tail N] [-p]") }
            let (typeName, name) = positional[0].contains("/") ? splitSlash(positional[0]) : ("pods", positional[0])
            guard ResourceType.named(typeName)?.plural == "pods" else { throw Flags.UsageError(message: "logs reads pods, not \(typeName)") }
            return try commands.logs(name)
        case "cluster":
            guard positional == ["status"] else { throw Flags.UsageError(message: "cluster takes one subcommand: status") }
            return try commands.clusterStatus()
        case "version":
            guard positional.isEmpty else { throw Flags.UsageError(message: "version takes no arguments") }
            return try commands.version()
        default:
            throw Flags.UsageError(message: "unknown command '\(command)'")
        }
    }

    static func resolve(_ name: String) throws(CommandFailure) -> ResourceType {
        guard let type = ResourceType.named(name) else {
            let known = ResourceType.all.flatMap { [$0.plural, $0.singular] + $0.shortNames }
            let hint = Bosun.unknown("resource type", name, among: known).split(separator: ";").dropFirst().first.map { ";" + $0 } ?? ""
            throw CommandFailure(message: "error: the server doesn't have a resource type \"\(name)\"\(hint)")
        }
        return type
    }

    static func splitSlash(_ text: String) -> (String, String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts[0], parts.count > 1 ? parts[1] : "")
    }

    static func out(_ text: String) { write(all: text, to: 1) }
    static func err(_ text: String) { write(all: text, to: 2) }

    static func write(all text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            sent += n
        }
    }

    // MARK: apply, create

    func applyOrCreate(_ files: [String], apply: Bool) throws -> Int32 {
        let objects = try Manifests.read(files, defaultNamespace: namespace)
        guard !objects.isEmpty else { throw CommandFailure(message: "error: no objects passed to \(apply ? "apply" : "create")") }
        var status: Int32 = 0
        for object in objects {
            do {
                let verb = apply ? try self.apply(object) : try create(object)
                Self.out("\(object.type.displayName)/\(object.name) \(verb)\n")
            } catch {
                Self.err("\(error.message) (\(object.source): \(object.type.displayName)/\(object.name))\n")
                status = 1
            }
        }
        return status
    }

    func create(_ object: Manifests.Object, body: JSON? = nil) throws(CommandFailure) -> String {
        _ = try client.json("POST", object.type.collectionPath(object.namespace) + "?fieldValidation=Strict", body: body ?? object.body)
        return "created"
    }

    /// Create, or patch with the three-way strategic merge `kubectl apply` computes; nothing is
    /// sent when the patch would change nothing. The last-applied annotation is written as
    /// kubectl writes it (compact JSON with sorted keys, `annotations` kept even when empty, a
    /// final newline), and one that says the same as ours is left as it is, so that either tool
    /// finds the other's apply unchanged.
    func apply(_ object: Manifests.Object) throws(CommandFailure) -> String {
        var desired = object.body
        desired[path: ["metadata", "annotations", ApplyPatch.annotation]] = nil
        if desired[path: ["metadata", "annotations"]] == nil { desired[path: ["metadata", "annotations"]] = .object([:]) }
        var withAnnotation = desired
        withAnnotation[path: ["metadata", "annotations", ApplyPatch.annotation]] = .string(desired.text + "\n")
        let path = object.type.objectPath(object.namespace, object.name)
        let response = try client.send("GET", path)
        if response.status == 404 { return try create(object, body: withAnnotation) }
        let live = try? JSONParser.parse(response.body)
        guard response.status == 200, let live else { throw APIClient.refusal(response, try? JSONParser.parse(response.body)) }
        let lastText = live[path: ["metadata", "annotations", ApplyPatch.annotation]]?.stringValue
        let last = lastText.flatMap { try? JSONParser.parse($0) }
        if let lastText, last == desired { withAnnotation[path: ["metadata", "annotations", ApplyPatch.annotation]] = .string(lastText) }
        let patch = ApplyPatch.patch(lastApplied: last, desired: withAnnotation, schema: object.type.schema)
        if let patched = try? Patch.apply(.strategic, patch, to: live, schema: object.type.schema), patched == live { return "unchanged" }
        _ = try client.json("PATCH", path + "?fieldValidation=Strict", body: patch, contentType: Patch.Format.strategic.rawValue)
        return "configured"
    }

    // MARK: delete

    func delete(_ positional: [String]) throws -> Int32 {
        var targets: [(ResourceType, String?, String)] = []
        let files = arguments.all("filename")
        if !files.isEmpty {
            guard positional.isEmpty else { throw Flags.UsageError(message: "delete takes -f FILE or TYPE NAME..., not both") }
            targets = try Manifests.read(files, defaultNamespace: namespace).map { ($0.type, $0.namespace, $0.name) }
        } else {
            guard positional.count >= 2 || (positional.count == 1 && positional[0].contains("/")) else {
                throw Flags.UsageError(message: "delete needs -f FILE or a type and names: bosun delete pod NAME")
            }
            if positional.count == 1 {
                let (typeName, name) = Self.splitSlash(positional[0])
                let type = try Self.resolve(typeName)
                targets = [(type, type.namespaced ? namespace : nil, name)]
            } else {
                let type = try Self.resolve(positional[0])
                targets = positional.dropFirst().map { (type, type.namespaced ? namespace : nil, $0) }
            }
        }
        var status: Int32 = 0
        for (type, ns, name) in targets {
            let response = try client.send("DELETE", type.objectPath(ns, name), body: ["propagationPolicy": "Background"])
            if response.status == 404 && arguments.isSet("ignore-not-found") { continue }
            if (200..<300).contains(response.status) {
                Self.out("\(type.displayName) \"\(name)\" deleted\n")
            } else {
                Self.err(APIClient.refusal(response, try? JSONParser.parse(response.body)).message + "\n")
                status = 1
            }
        }
        return status
    }

    // MARK: get

    static let tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

    func query(watch: Bool, resourceVersion: String?) -> String {
        var parts: [String] = []
        if let selector = arguments.value("selector") { parts.append("labelSelector=" + Self.percentEncoded(selector)) }
        if let selector = arguments.value("field-selector") { parts.append("fieldSelector=" + Self.percentEncoded(selector)) }
        if watch { parts.append("watch=true") }
        if let resourceVersion { parts.append("resourceVersion=" + resourceVersion) }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        text.utf8.map { byte in
            let c = Character(UnicodeScalar(byte))
            return c.isASCII && (c.isLetter || c.isNumber || "-._~".contains(c)) ? String(c) : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }.joined()
    }

    func get(_ type: ResourceType, names: [String]) throws -> Int32 {
        let output = arguments.value("output") ?? ""
        guard ["", "wide", "json", "yaml", "name"].contains(output) else {
            throw Flags.UsageError(message: "unknown output format '\(output)': use wide, json, yaml or name")
        }
        let allNamespaces = arguments.isSet("all-namespaces") && type.namespaced
        let ns: String? = type.namespaced && !allNamespaces ? namespace : nil
        if output == "json" || output == "yaml" || output == "name" {
            var objects: [JSON] = []
            var document: JSON
            if names.isEmpty {
                document = try client.json("GET", type.collectionPath(ns) + query(watch: false, resourceVersion: nil))
                objects = document["items"]?.arrayValue ?? []
            } else {
                objects = try names.map { name throws(CommandFailure) in try client.json("GET", type.objectPath(ns, name)) }
                document = objects.count == 1 ? objects[0] : ["apiVersion": "v1", "kind": "List", "items": .array(objects), "metadata": ["resourceVersion": ""]]
            }
            switch output {
            case "json": Self.out(document.prettyText + "\n")
            case "yaml": Self.out(YAMLWriter.text(document))
            default: Self.out(objects.map { "\(type.displayName)/\($0[path: ["metadata", "name"]]?.stringValue ?? "")\n" }.joined())
            }
            return 0
        }
        var printer = TablePrinter(wide: output == "wide", withNamespace: allNamespaces)
        var lines: [[String]] = []
        var version = "0"
        if names.isEmpty {
            let table = try client.json("GET", type.collectionPath(ns) + query(watch: false, resourceVersion: nil), accept: Self.tableAccept)
            version = table[path: ["metadata", "resourceVersion"]]?.stringValue ?? "0"
            lines = printer.lines(table, header: true)
        } else {
            // As kubectl: the rows found, and a NotFound (exit 1) for each name that is not.
            var missing: [CommandFailure] = []
            for name in names {
                do {
                    let table = try client.json("GET", type.objectPath(ns, name), accept: Self.tableAccept)
                    lines += printer.lines(table, header: lines.isEmpty)
                } catch {
                    missing.append(error)
                }
            }
            if !lines.isEmpty { Self.out(printer.format(lines)) }
            missing.forEach { Self.err($0.message + "\n") }
            if !missing.isEmpty { return 1 }
            lines = []
        }
        if lines.count <= 1 && names.isEmpty {
            Self.err(ns.map { "No resources found in \($0) namespace.\n" } ?? "No resources found\n")
        } else if names.isEmpty {
            Self.out(printer.format(lines))
        }
        guard arguments.isSet("watch") else { return 0 }
        let collection = type.collectionPath(ns)
        try client.watch({ collection + query(watch: true, resourceVersion: $0) }, from: version, accept: Self.tableAccept) { event throws(CommandFailure) in
            if event["type"] == "ERROR" {
                throw CommandFailure(message: "Error from server (\(event[path: ["object", "reason"]]?.stringValue ?? "")): \(event[path: ["object", "message"]]?.stringValue ?? "")")
            }
            guard event["type"] != "BOOKMARK", let table = event["object"] else { return }
            Self.out(printer.format(printer.rows(table)))
        }
        return 0
    }

    /// `get all` (the types of the `all` category) and `get TYPE,TYPE`: one table per type with
    /// rows, names prefixed with the type.
    func getTables(_ types: [ResourceType]) throws -> Int32 {
        let allNamespaces = arguments.isSet("all-namespaces")
        var sections: [String] = []
        for type in types {
            let ns = allNamespaces ? nil : namespace
            var table = try client.json("GET", type.collectionPath(ns) + query(watch: false, resourceVersion: nil), accept: Self.tableAccept)
            guard var rows = table["rows"]?.arrayValue, !rows.isEmpty else { continue }
            for i in rows.indices {
                guard var cells = rows[i]["cells"]?.arrayValue, let name = cells.first else { continue }
                cells[0] = .string("\(type.displayName)/\(TablePrinter.cellText(name))")
                rows[i]["cells"] = .array(cells)
            }
            table["rows"] = .array(rows)
            var printer = TablePrinter(wide: arguments.value("output") == "wide", withNamespace: allNamespaces)
            sections.append(printer.format(printer.lines(table, header: true)))
        }
        if sections.isEmpty {
            Self.err(allNamespaces ? "No resources found\n" : "No resources found in \(namespace) namespace.\n")
        } else {
            Self.out(sections.joined(separator: "\n"))
        }
        return 0
    }

    /// `version`: this binary's version and the server's, as kubectl prints them.
    func version() throws -> Int32 {
        Self.out("Client Version: \(Discovery.version["gitVersion"]?.stringValue ?? "")\n")
        let server = try client.json("GET", "/version")
        Self.out("Server Version: \(server["gitVersion"]?.stringValue ?? "unknown")\n")
        return 0
    }

    // MARK: describe

    func describe(_ type: ResourceType, _ name: String) throws -> Int32 {
        let ns = type.namespaced ? namespace : nil
        let object = try client.json("GET", type.objectPath(ns, name))
        func pairs(_ key: String) -> String {
            let map = (object[path: ["metadata", key]]?.objectValue ?? [:]).sorted { $0.key < $1.key }
            guard !map.isEmpty else { return "<none>" }
            return map.map { "\($0.key)=\(TablePrinter.cellText($0.value))" }.joined(separator: "\n              ")
        }
        var text = "Name:         \(name)\n"
        if let ns { text += "Namespace:    \(ns)\n" }
        text += "Labels:       \(pairs("labels"))\nAnnotations:  \(pairs("annotations"))\n"
        text += "Created:      \(object[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "")\n"
        for section in (object.objectValue ?? [:]).keys.sorted() where !["apiVersion", "kind", "metadata"].contains(section) {
            let body = YAMLWriter.text(object[section]!).split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }
            text += section.prefix(1).uppercased() + section.dropFirst() + ":\n" + body.joined(separator: "\n")
            if !text.hasSuffix("\n") { text += "\n" }
        }
        let selector = "involvedObject.name=\(name)" + (ns.map { ",involvedObject.namespace=\($0)" } ?? "")
        let eventsPath = ResourceType.events.collectionPath(ns ?? "default") + "?fieldSelector=" + Self.percentEncoded(selector)
        let events = (try? client.json("GET", eventsPath))?["items"]?.arrayValue ?? []
        if events.isEmpty {
            text += "Events:       <none>\n"
        } else {
            var printer = TablePrinter(wide: false, withNamespace: false)
            let rows = [["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]] + events.map { event in
                [event["type"]?.stringValue ?? "", event["reason"]?.stringValue ?? "", event["lastTimestamp"]?.stringValue ?? "",
                 event[path: ["source", "component"]]?.stringValue ?? "", event["message"]?.stringValue ?? ""]
            }
            text += "Events:\n" + printer.format(rows).split(separator: "\n").map { "  " + $0 + "\n" }.joined()
        }
        Self.out(text)
        return 0
    }

    // MARK: scale

    func scale(_ type: ResourceType, _ name: String, _ replicas: Int) throws -> Int32 {
        guard type.hasScale else { throw CommandFailure(message: "error: \(type.plural) cannot be scaled") }
        let path = type.objectPath(type.namespaced ? namespace : nil, name) + "/scale"
        _ = try client.json("PATCH", path, body: ["spec": ["replicas": .number(replicas)]], contentType: Patch.Format.merge.rawValue)
        Self.out("\(type.displayName)/\(name) scaled\n")
        return 0
    }

    // MARK: cluster status

    /// Every member's view: role, term, commit and applied index; the leader; and how many more
    /// masters can fail before writes stop.
    /// `logs POD`: the output of one container of the pod (its current or last run, `-p` the one
    /// before); `-f` follows it while it runs.
    func logs(_ pod: String) throws -> Int32 {
        var query: [String] = []
        if let container = arguments.value("container") { query.append("container=\(Self.percentEncoded(container))") }
        if let tail = arguments.value("tail") {
            guard let lines = Int(tail), lines >= -1 else { throw Flags.UsageError(message: "--tail needs a number of lines, not '\(tail)'") }
            if lines >= 0 { query.append("tailLines=\(lines)") }
        }
        if arguments.value("previous") != nil { query.append("previous=true") }
        let follow = arguments.value("follow") != nil
        if follow { query.append("follow=true") }
        let target = "/api/v1/namespaces/\(namespace)/pods/\(pod)/log" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        guard follow else {
            let response = try client.send("GET", target, accept: "text/plain")
            guard response.status == 200 else { throw APIClient.refusal(response, try? JSONParser.parse(response.body)) }
            Self.out(String(decoding: response.body, as: UTF8.self))
            return 0
        }
        try client.follow(target) { Self.out($0 + "\n") }
        return 0
    }

    func clusterStatus() throws -> Int32 {
        let first = try client.json("GET", "/cluster/status")
        let members = first["members"]?.arrayValue ?? []
        var rows = [["MASTER", "API", "ROLE", "TERM", "COMMIT", "APPLIED", "LEADER"]]
        var up = 0
        var leaders: Set<String> = []
        for member in members {
            let id = TablePrinter.cellText(member["id"] ?? .null)
            let api = member["apiAddress"]?.stringValue ?? ""
            var status: JSON? = nil
            if let endpoint = try? APIClient.parseMasters(api).first,
                let response = try? HTTPClient.request(host: endpoint.host, port: endpoint.port, method: "GET", target: "/cluster/status", timeoutMs: 2000),
                response.status == 200
            {
                status = try? JSONParser.parse(response.body)
            }
            guard let status else {
                rows.append([id, api, "unreachable", "", "", "", ""])
                continue
            }
            up += 1
            let leader = status["leader"].map(TablePrinter.cellText) ?? "<none>"
            if status["role"] == "leader" { leaders.insert(id) }
            rows.append([id, api, status["role"]?.stringValue ?? "", TablePrinter.cellText(status["term"] ?? .null),
                         TablePrinter.cellText(status["commitIndex"] ?? .null), TablePrinter.cellText(status["appliedIndex"] ?? .null), leader == "null" ? "<none>" : leader])
        }
        var printer = TablePrinter(wide: false, withNamespace: false)
        var text = printer.format(rows)
        let quorum = members.count / 2 + 1
        if let leader = leaders.first {
            let spare = up - quorum
            text += "leader: master \(leader); \(up) of \(members.count) masters up, quorum \(quorum); "
            text += spare > 0 ? "\(spare) more can fail before writes stop\n" : "no more can fail: one more failure stops writes\n"
        } else {
            text += "no leader: writes are stopped (\(up) of \(members.count) masters up, quorum \(quorum))\n"
        }
        Self.out(text)
        return 0
    }
}
