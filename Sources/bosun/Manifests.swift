import Glibc
import Master

/// Objects read from `-f FILE|DIR|-`: YAML (several documents) or JSON, `List` kinds expanded,
/// each with the type its `apiVersion` and `kind` name. Errors name the file, line and column.
enum Manifests {
    struct Object {
        var type: ResourceType
        var namespace: String?
        var name: String
        var body: JSON
        var source: String
    }

    static func read(_ paths: [String], defaultNamespace: String) throws(CommandFailure) -> [Object] {
        var objects: [Object] = []
        for path in paths {
            for file in try files(path) {
                let text = try APIClient.readFile(file == "-" ? "/dev/stdin" : file)
                let source = file == "-" ? "<stdin>" : file
                for document in try parse(text, source: source) {
                    objects += try expand(document, source: source, defaultNamespace: defaultNamespace)
                }
            }
        }
        return objects
    }

    /// A file, or the `.yaml`, `.yml` and `.json` files of a directory in name order.
    static func files(_ path: String) throws(CommandFailure) -> [String] {
        if path == "-" { return [path] }
        var info = stat()
        guard stat(path, &info) == 0 else { throw CommandFailure(message: "error: the path \"\(path)\" does not exist") }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return [path] }
        guard let dir = opendir(path) else { throw CommandFailure(message: "error: cannot read directory \(path)") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted().map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
    }

    /// JSON when the text starts with `{` or `[` (for its sharper errors), YAML otherwise.
    static func parse(_ text: String, source: String) throws(CommandFailure) -> [JSON] {
        let first = text.first { !$0.isWhitespace }
        if first == "{" || first == "[" {
            do { return [try JSONParser.parse(text)] } catch {
                throw CommandFailure(message: "error: \(source):\(error.line):\(error.column): \(error.message)")
            }
        }
        do { return try YAMLParser.parseDocuments(text) } catch {
            throw CommandFailure(message: "error: \(source):\(error.line):\(error.column): \(error.message)")
        }
    }

    static func expand(_ document: JSON, source: String, defaultNamespace: String) throws(CommandFailure) -> [Object] {
        guard case .object = document else { throw CommandFailure(message: "error: \(source): a manifest must be a mapping, not \(document.typeName)") }
        if let kind = document["kind"]?.stringValue, kind == "List" || kind.hasSuffix("List"), let items = document["items"]?.arrayValue {
            var objects: [Object] = []
            for item in items { objects += try expand(item, source: source, defaultNamespace: defaultNamespace) }
            return objects
        }
        let apiVersion = document["apiVersion"]?.stringValue ?? ""
        let kind = document["kind"]?.stringValue ?? ""
        guard !apiVersion.isEmpty, !kind.isEmpty else { throw CommandFailure(message: "error: \(source): an object needs apiVersion and kind") }
        guard let type = ResourceType.all.first(where: { $0.apiVersion == apiVersion && $0.kind == kind }) else {
            throw CommandFailure(message: "error: \(source): no kind \"\(kind)\" is served in version \"\(apiVersion)\"")
        }
        guard let name = document[path: ["metadata", "name"]]?.stringValue, !name.isEmpty else {
            throw CommandFailure(message: "error: \(source): a \(kind) needs metadata.name")
        }
        var body = document
        let namespace = type.namespaced ? document[path: ["metadata", "namespace"]]?.stringValue ?? defaultNamespace : nil
        if let namespace { body[path: ["metadata", "namespace"]] = .string(namespace) }
        return [Object(type: type, namespace: namespace, name: name, body: body, source: source)]
    }
}

extension ResourceType {
    /// `deployment.apps` or `configmap`: how kubectl names a type in its messages.
    var displayName: String { kind.lowercased() + (group.isEmpty ? "" : "." + group) }

    /// The path of a collection (`namespace` ignored for cluster-scoped types; nil: all).
    func collectionPath(_ namespace: String?) -> String {
        "/" + groupVersionPath + (namespaced && namespace != nil ? "/namespaces/\(namespace!)" : "") + "/" + plural
    }

    func objectPath(_ namespace: String?, _ name: String) -> String { collectionPath(namespace) + "/" + name }
}
