/// What the leader decides once, before proposing a write: values every master must apply
/// identically, so they are chosen here and never at apply time.
public struct WriteStamp: Sendable {
    public var uid: String
    /// Now, RFC 3339 in UTC.
    public var now: String
    /// Five characters appended to `metadata.generateName`.
    public var nameSuffix: String

    public init(uid: String, now: String, nameSuffix: String) {
        self.uid = uid
        self.now = now
        self.nameSuffix = nameSuffix
    }

    /// A stamp for now, its uid and suffix drawn from `rng` (seeded by the caller: deterministic).
    public static func make<G: RandomNumberGenerator>(using rng: inout G, nowSeconds: Int64) -> WriteStamp {
        let hex = (0..<4).map { _ in String(rng.next() & 0xFFFF_FFFF, radix: 16) }.map { String(repeating: "0", count: 8 - $0.count) + $0 }
        let uid = "\(hex[0])-\(hex[1].prefix(4))-\(hex[1].suffix(4))-\(hex[2].prefix(4))-\(hex[2].suffix(4))\(hex[3])"
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        let suffix = String((0..<5).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        return WriteStamp(uid: uid, now: Timestamp.text(seconds: nowSeconds), nameSuffix: suffix)
    }
}

/// How a write body becomes the object to store: decoding, type and schema checks (strict or
/// not), the fields the server owns (`uid`, `creationTimestamp`, `generation`,
/// `deletionTimestamp`), and the status subresource's rule that object writes keep the status
/// and status writes keep everything else. Objects are stored without `resourceVersion`: it is
/// the Raft index of the write, added when served.
public enum Admission {
    /// Refuses a body in another serialization Kubernetes clients may send (protobuf, CBOR,
    /// YAML) with 415. Anything else is read as JSON: a missing Content-Type (the Python client)
    /// or curl's default form type (`curl -d`).
    public static func checkContentType(_ contentType: String?) throws(APIError) {
        guard let contentType, contentType != "application/json" else { return }  // the common case, at once
        let media = mediaType(contentType)
        guard !["protobuf", "cbor", "yaml"].contains(where: { media.contains($0) }) else {
            throw APIError(code: 415, reason: "UnsupportedMediaType",
                           message: "the body of the request was in an unknown format - accepted media types include: application/json")
        }
    }

    /// The media type of a Content-Type, lower-cased, without parameters (`; charset=utf-8`).
    public static func mediaType(_ contentType: String?) -> String {
        (contentType ?? "").split(separator: ";").first.map { String($0).trimmingSpaces.lowercased() } ?? ""
    }

    /// Parses a write body as JSON.
    public static func decode(_ body: [UInt8]) throws(APIError) -> JSON {
        do { return try JSONParser.parse(body) } catch {
            throw .badRequest("the request body is not valid JSON: \(error)")
        }
    }

    /// The object to store for a create.
    public static func create(_ path: ResourcePath, _ body: JSON, strict: Bool, stamp: WriteStamp,
                              defaults: Defaulting.Settings = Defaulting.Settings()) throws(APIError) -> JSON {
        var object = try checked(path, body, strict: strict, generateName: stamp.nameSuffix, defaults: defaults)
        object[path: ["metadata", "uid"]] = .string(stamp.uid)
        object[path: ["metadata", "creationTimestamp"]] = .string(stamp.now)
        object[path: ["metadata", "deletionTimestamp"]] = nil
        if hasGeneration(path.type) { object[path: ["metadata", "generation"]] = 1 }
        if path.type.hasStatus {
            switch path.type.plural {
            case "pods": object["status"] = ["phase": "Pending"]
            case "namespaces": object["status"] = ["phase": "Active"]
            default: object["status"] = nil
            }
        }
        return object
    }

    /// The object to store for a replace of the whole object (PUT, or the result of a PATCH).
    public static func update(_ path: ResourcePath, _ body: JSON, current: JSON, strict: Bool,
                              defaults: Defaulting.Settings = Defaulting.Settings()) throws(APIError) -> JSON {
        var object = try checked(path, body, strict: strict, generateName: nil, defaults: defaults)
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        guard name == path.name else {
            throw .badRequest("the name of the object (\(name)) does not match the name on the URL (\(path.name ?? ""))")
        }
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "generation"] {
            object[path: ["metadata", field]] = current[path: ["metadata", field]]
        }
        switch path.subresource {
        case nil:
            if path.type.hasStatus { object["status"] = current["status"] }
        case "status":
            var kept = current
            kept["status"] = object["status"]
            object = kept
        default:
            throw .pathNotFound()
        }
        if hasGeneration(path.type), specOf(object) != specOf(current) {
            object[path: ["metadata", "generation"]] = .number((current[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
        }
        object[path: ["metadata", "resourceVersion"]] = nil
        return object
    }

    /// Whether a write leaves the object deleted: marked for deletion, no finalizer left, and not
    /// a pod in its grace period (its node's agent removes it).
    public static func isReadyToDelete(_ object: JSON) -> Bool {
        object[path: ["metadata", "deletionTimestamp"]] != nil && (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty
            && (object[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue ?? 0) == 0
    }

    /// The `metadata.resourceVersion` a client sent, for compare-and-swap.
    public static func resourceVersion(of object: JSON) throws(APIError) -> UInt64? {
        guard let rv = object[path: ["metadata", "resourceVersion"]], rv != .null, rv != "" else { return nil }
        guard let text = rv.stringValue, let value = UInt64(text) else {
            throw .badRequest("metadata.resourceVersion must be a decimal string")
        }
        return value
    }

    /// The object without its null members: in Kubernetes' types a null field is an absent one
    /// (clients send `"creationTimestamp": null` in pod templates), and a template must compare
    /// equal however a client wrote it.
    static func withoutNulls(_ value: JSON) -> JSON {
        switch value {
        case .object(let members): .object(members.filter { $0.value != .null }.mapValues(withoutNulls))
        case .array(let items): .array(items.map(withoutNulls))
        default: value
        }
    }

    static func hasGeneration(_ type: ResourceType) -> Bool { type.schema.field("spec") != nil }

    /// What changes the generation: the spec, or for types without one nothing.
    static func specOf(_ object: JSON) -> JSON? { object["spec"] }

    /// The body as an object of `path`'s type, checked: kind and apiVersion, metadata, the
    /// namespace, the schema, and the type's own rules.
    /// How much of `generateName` a generated name keeps.
    static let maxGeneratedNameLength = 58

    static func checked(_ path: ResourcePath, _ body: JSON, strict: Bool, generateName: String?, defaults: Defaulting.Settings) throws(APIError) -> JSON {
        let type = path.type
        guard case .object = body else { throw .badRequest("the request body must be a JSON object, not \(body.typeName)") }
        var object = body
        if let kind = object["kind"], kind != .string(type.kind) {
            throw .badRequest("the kind in the body (\(kind.stringValue ?? kind.typeName)) does not match the expected kind (\(type.kind))")
        }
        if let apiVersion = object["apiVersion"], apiVersion != .string(type.apiVersion) {
            throw .badRequest("the API version in the data (\(apiVersion.stringValue ?? apiVersion.typeName)) does not match the expected API version (\(type.apiVersion))")
        }
        object["kind"] = .string(type.kind)
        object["apiVersion"] = .string(type.apiVersion)
        guard case .object = object["metadata"] ?? .null else { throw .invalid(type, "", [FieldError(path: "metadata", message: "Required value")]) }
        if let namespace = object[path: ["metadata", "namespace"]], namespace != .null, type.namespaced, namespace != .string(path.namespace ?? "") {
            throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        object[path: ["metadata", "namespace"]] = type.namespaced ? path.namespace.map(JSON.string) : nil
        object[path: ["metadata", "resourceVersion"]] = nil
        object[path: ["metadata", "selfLink"]] = nil
        if object[path: ["metadata", "name"]]?.stringValue ?? "" == "", let suffix = generateName,
            let prefix = object[path: ["metadata", "generateName"]]?.stringValue, !prefix.isEmpty
        {
            // Kubernetes' SimpleNameGenerator: the prefix is cut to 58 characters, so the name fits 63.
            object[path: ["metadata", "name"]] = .string(String(prefix.prefix(maxGeneratedNameLength)) + suffix)
        }
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        object = withoutNulls(object)
        Defaulting.apply(type, &object, settings: defaults)

        var errors: [FieldError] = []
        var unknown: [String] = []
        type.schema.check(object, at: "", errors: &errors, unknown: &unknown)
        if strict, let field = unknown.first {
            throw .badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): strict decoding error: unknown field \"\(field)\"")
        }
        if errors.isEmpty { errors = Validation.check(type, object) }
        guard errors.isEmpty else { throw .invalid(type, name, errors) }
        return object
    }
}
