/// A request the API refuses, as Kubernetes reports it: an HTTP code, a `reason` and a message,
/// sent as a `Status` body (`kubectl` prints `Error from server (<reason>): <message>`).
public struct APIError: Error, Equatable, Sendable {
    public var code: Int
    public var reason: String
    public var message: String
    /// `details` of the Status: the object's name and resource, when there is one.
    public var details: JSON?

    public init(code: Int, reason: String, message: String, details: JSON? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    /// The `Status` body.
    public var status: JSON {
        var body: JSON = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .number(code),
        ]
        if let details { body["details"] = details }
        return body
    }

    static func details(_ type: ResourceType, _ name: String) -> JSON {
        var details: JSON = ["name": .string(name), "kind": .string(type.plural)]
        if !type.group.isEmpty { details["group"] = .string(type.group) }
        return details
    }

    public static func badRequest(_ message: String) -> APIError { APIError(code: 400, reason: "BadRequest", message: message) }

    public static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(type) \"\(name)\" not found", details: details(type, name))
    }

    public static func pathNotFound() -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
    }

    public static func alreadyExists(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(type) \"\(name)\" already exists", details: details(type, name))
    }

    public static func conflict(_ type: ResourceType, _ name: String) -> APIError {
        APIError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(type) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: details(type, name))
    }

    /// 422 naming every field at fault, in Kubernetes' words: `Pod "web" is invalid: spec.containers[0].image: Required value`.
    public static func invalid(_ type: ResourceType, _ name: String, _ errors: [FieldError]) -> APIError {
        let list = errors.count == 1 ? errors[0].description : "[" + errors.map(\.description).joined(separator: ", ") + "]"
        var details = details(type, name)
        details["causes"] = .array(errors.map { ["field": .string($0.path), "message": .string($0.message)] })
        return APIError(code: 422, reason: "Invalid", message: "\(type.kind) \"\(name)\" is invalid: \(list)", details: details)
    }

    public static func methodNotAllowed(_ method: String, _ path: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource (\(method) \(path))")
    }

    public static func gone(_ message: String) -> APIError { APIError(code: 410, reason: "Expired", message: message) }
}
