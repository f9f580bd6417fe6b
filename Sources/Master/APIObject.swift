import Foundation

/// Validation and rendering of API objects as JSON. The leader stamps `uid` and
/// `creationTimestamp` before proposing, so every master applies identical bytes;
/// `resourceVersion` is not stored: it is the Raft index that wrote the object, added when the
/// object is served.
public enum APIObject {
    /// Why an object was refused: the HTTP status, the Kubernetes reason and a message.
    public struct Refusal: Error, Equatable, Sendable {
        public var code: Int
        public var reason: String
        public var message: String

        public init(code: Int, reason: String, message: String) {
            self.code = code
            self.reason = reason
            self.message = message
        }
    }

    /// Parses and validates a request body for `kind`, naming the offending field on failure.
    /// Returns the object as a dictionary with `kind`, `apiVersion` and the path's namespace set.
    public static func parse(_ body: [UInt8], kind: ResourceKind, namespace: String?) throws(Refusal) -> [String: Any] {
        guard let value = try? JSONSerialization.jsonObject(with: Data(body)), var object = value as? [String: Any] else {
            throw Refusal(code: 400, reason: "BadRequest", message: "request body is not a JSON object")
        }
        if let k = object["kind"], (k as? String) != kind.kind {
            throw invalid(kind, "kind", "must be \(kind.kind)")
        }
        if let v = object["apiVersion"], (v as? String) != "v1" {
            throw invalid(kind, "apiVersion", "must be v1")
        }
        object["kind"] = kind.kind
        object["apiVersion"] = "v1"
        guard var metadata = object["metadata"] as? [String: Any] else {
            throw invalid(kind, "metadata", "required")
        }
        guard let name = metadata["name"] as? String, !name.isEmpty else {
            throw invalid(kind, "metadata.name", "required")
        }
        guard isDNSSubdomain(name) else {
            throw invalid(kind, "metadata.name", "'\(name)' must be a lowercase RFC 1123 subdomain")
        }
        if kind.isNamespaced {
            if let ns = metadata["namespace"], (ns as? String) != namespace {
                throw Refusal(code: 400, reason: "BadRequest", message: "metadata.namespace does not match the namespace in the path")
            }
            metadata["namespace"] = namespace
        }
        if kind == .configmaps, let data = object["data"] {
            guard let map = data as? [String: Any], map.values.allSatisfy({ $0 is String }) else {
                throw invalid(kind, "data", "must map keys to strings")
            }
        }
        object["metadata"] = metadata
        return object
    }

    static func invalid(_ kind: ResourceKind, _ field: String, _ detail: String) -> Refusal {
        Refusal(code: 422, reason: "Invalid", message: "\(kind.kind) is invalid: \(field): \(detail)")
    }

    public static func name(of object: [String: Any]) -> String {
        (object["metadata"] as? [String: Any])?["name"] as? String ?? ""
    }

    /// The `metadata.resourceVersion` the client sent, if any (for compare-and-swap).
    public static func resourceVersion(of object: [String: Any]) throws(Refusal) -> UInt64? {
        guard let rv = (object["metadata"] as? [String: Any])?["resourceVersion"] else { return nil }
        guard let text = rv as? String, let value = UInt64(text) else {
            throw Refusal(code: 400, reason: "BadRequest", message: "metadata.resourceVersion must be a decimal string")
        }
        return value
    }

    /// Sets what the leader decides once, before proposing, and drops what is never stored.
    public static func stamp(_ object: [String: Any], uid: String, creationTimestamp: String) -> [String: Any] {
        var result = object
        var metadata = result["metadata"] as? [String: Any] ?? [:]
        if metadata["uid"] == nil { metadata["uid"] = uid }
        if metadata["creationTimestamp"] == nil { metadata["creationTimestamp"] = creationTimestamp }
        metadata["resourceVersion"] = nil
        result["metadata"] = metadata
        return result
    }

    /// Canonical bytes for the store: sorted keys, so every master stores the same text.
    public static func encode(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The stored text with `metadata.resourceVersion` set, as served to clients.
    public static func render(_ stored: String, version: UInt64) -> String {
        guard let value = try? JSONSerialization.jsonObject(with: Data(stored.utf8)), var object = value as? [String: Any] else {
            return stored
        }
        var metadata = object["metadata"] as? [String: Any] ?? [:]
        metadata["resourceVersion"] = String(version)
        object["metadata"] = metadata
        return encode(object)
    }

    /// The uid and creationTimestamp of a stored object.
    public static func parseStored(_ stored: String) -> (uid: String?, created: String?) {
        guard let value = try? JSONSerialization.jsonObject(with: Data(stored.utf8)), let object = value as? [String: Any],
            let metadata = object["metadata"] as? [String: Any]
        else { return (nil, nil) }
        return (metadata["uid"] as? String, metadata["creationTimestamp"] as? String)
    }

    /// A list of rendered items.
    public static func list(_ kind: ResourceKind, items: [String], resourceVersion: UInt64) -> String {
        #"{"apiVersion":"v1","items":[\#(items.joined(separator: ","))],"kind":"\#(kind.kind)List","metadata":{"resourceVersion":"\#(resourceVersion)"}}"#
    }

    /// RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253, alphanumeric at both ends.
    public static func isDNSSubdomain(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        func alnum(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        return alnum(bytes.first!) && alnum(bytes.last!) && bytes.allSatisfy { alnum($0) || $0 == 45 || $0 == 46 }
    }
}
