import Master
import Raft
import Store
import Testing

struct AdmissionTests {
    static let stamp = WriteStamp(uid: "u-1", now: "2026-11-25T10:00:00Z", nameSuffix: "x7k2q")
    static func path(_ type: ResourceType, _ ns: String? = "default", _ name: String? = nil, _ sub: String? = nil) -> ResourcePath {
        ResourcePath(type: type, namespace: type.namespaced ? ns : nil, name: name, subresource: sub)
    }
    static func json(_ text: String) -> JSON { try! JSONParser.parse(text) }
    static let pod = json(#"{"metadata":{"name":"web","labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running"},"extra":{"kept":true}}"#)

    /// A create gets kind, apiVersion, namespace, uid, creationTimestamp and generation from the
    /// server; status starts as Kubernetes starts it; unknown fields are kept.
    @Test func createStampsServerFields() throws {
        let object = try Admission.create(Self.path(.pods), Self.pod, strict: false, stamp: Self.stamp)
        #expect(object["kind"] == "Pod" && object["apiVersion"] == "v1")
        #expect(object["metadata"] == Self.json(#"{"name":"web","namespace":"default","labels":{"app":"web"},"uid":"u-1","creationTimestamp":"2026-11-25T10:00:00Z","generation":1}"#))
        #expect(object["status"] == ["phase": "Pending"])
        #expect(object["extra"] == ["kept": true])
        let generated = try Admission.create(Self.path(.configMaps), ["metadata": ["generateName": "cfg-"]], strict: true, stamp: Self.stamp)
        #expect(generated[path: ["metadata", "name"]] == "cfg-x7k2q")
        // As Kubernetes: a long prefix is cut to 58 characters, so a generated name fits 63.
        let long = String(repeating: "a", count: 250) + "-"
        let fitted = try Admission.create(Self.path(.configMaps), ["metadata": ["generateName": .string(long)]], strict: true, stamp: Self.stamp)
        #expect(fitted[path: ["metadata", "name"]] == .string(String(repeating: "a", count: 58) + "x7k2q"))
    }

    /// Errors name the field, in Kubernetes' words.
    @Test(arguments: [
        (#"{"metadata":{"name":"Web"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#, 422, "Pod \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
        (#"{"metadata":{"name":"w"},"spec":{"containers":[{"name":"c"}]}}"#, 422, "Pod \"w\" is invalid: spec.containers[0].image: Required value"),
        (#"{"metadata":{"name":"w"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":"80"}]}]}}"#, 422, "Pod \"w\" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: a string: expected an integer"),
        (#"{"metadata":{"name":"w"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"lots"}}}]}}"#, 422, "Pod \"w\" is invalid: spec.containers[0].resources.limits[cpu]: Invalid value: \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        (#"{"metadata":{"name":"w"},"spec":{}}"#, 422, "Pod \"w\" is invalid: spec.containers: Required value"),
        (#"{"metadata":{"name":"w","labels":{"a b":"c"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#, 422, "Pod \"w\" is invalid: metadata.labels: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
        (#"{"metadata":{}}"#, 422, "Pod \"\" is invalid: [metadata.name: Required value: name or generateName is required, spec.containers: Required value]"),
        (#"{"kind":"ConfigMap","metadata":{"name":"w"}}"#, 400, "the kind in the body (ConfigMap) does not match the expected kind (Pod)"),
        (#"{"apiVersion":"v2","metadata":{"name":"w"}}"#, 400, "the API version in the data (v2) does not match the expected API version (v1)"),
        (#"{"metadata":{"name":"w","namespace":"other"}}"#, 400, "the namespace of the provided object does not match the namespace sent on the request"),
        (#"[1]"#, 400, "the request body must be a JSON object, not an array"),
    ])
    func invalidPodsAreRefused(body: String, code: Int, message: String) {
        do {
            _ = try Admission.create(Self.path(.pods), Self.json(body), strict: false, stamp: Self.stamp)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code == code)
            #expect(error.message == message)
        }
    }

    /// `fieldValidation=Strict` refuses unknown fields of closed objects, as kubectl expects;
    /// without it they are kept.
    @Test func strictValidation() throws {
        let cm = Self.json(#"{"metadata":{"name":"demo"},"datta":{"a":"1"}}"#)
        #expect((try? Admission.create(Self.path(.configMaps), cm, strict: false, stamp: Self.stamp))?["datta"] == ["a": "1"])
        do {
            _ = try Admission.create(Self.path(.configMaps), cm, strict: true, stamp: Self.stamp)
            Issue.record("strict accepted an unknown field")
        } catch {
            #expect(error.code == 400)
            #expect(error.message == "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"datta\"")
        }
        // An open object (pod status) accepts fields Bosun does not model.
        let pod = Self.json(#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","livenessProbe":{"exec":{}}}]},"status":{"hostIPs":[]}}"#)
        #expect((try? Admission.create(Self.path(.pods), pod, strict: true, stamp: Self.stamp)) != nil)
    }

    /// An update keeps what the server owns and, with a status subresource, the status; a spec
    /// change bumps the generation; a status write changes only the status.
    @Test func updatesAndStatus() throws {
        let current = try Admission.create(Self.path(.deployments), Self.json(#"""
        {"metadata":{"name":"web"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}
        """#), strict: true, stamp: Self.stamp)
        var body = current
        body[path: ["metadata", "uid"]] = "forged"
        body[path: ["spec", "replicas"]] = 3
        body["status"] = ["replicas": 9]
        let path = Self.path(.deployments, "default", "web")
        let updated = try Admission.update(path, body, current: current, strict: true)
        #expect(updated[path: ["metadata", "uid"]] == "u-1" && updated[path: ["metadata", "generation"]] == 2)
        #expect(updated["status"] == nil && updated[path: ["spec", "replicas"]] == 3)
        let relabelled = try Admission.update(path, { var b = current; b[path: ["metadata", "labels"]] = ["x": "y"]; return b }(), current: current, strict: true)
        #expect(relabelled[path: ["metadata", "generation"]] == 1)
        let status = try Admission.update(Self.path(.deployments, "default", "web", "status"), body, current: current, strict: true)
        #expect(status["status"] == ["replicas": 9] && status[path: ["spec", "replicas"]] == 1)
        #expect(throws: APIError.self) { try Admission.update(Self.path(.deployments, "default", "other"), body, current: current, strict: true) }
    }

    /// A selector that does not select the template's labels is refused.
    @Test func workloadSelectorMustMatchTemplate() {
        let body = Self.json(#"{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
        #expect(throws: APIError.self) { try Admission.create(Self.path(.replicaSets), body, strict: true, stamp: Self.stamp) }
    }

    /// The Scale view, and a scale write that changes only replicas.
    @Test func scale() throws {
        let deployment = Self.json(#"{"metadata":{"name":"web","namespace":"default","resourceVersion":"7"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}}},"status":{"replicas":1}}"#)
        #expect(Scale.of(deployment) == Self.json(#"{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"default","resourceVersion":"7"},"spec":{"replicas":2},"status":{"replicas":1,"selector":"app=web"}}"#))
        #expect(try Scale.applying(["spec": ["replicas": 5]], to: deployment)[path: ["spec", "replicas"]] == 5)
        #expect(throws: APIError.self) { try Scale.applying(["spec": ["replicas": -1]], to: deployment) }
        #expect(throws: APIError.self) { try Scale.applying(["spec": [:]], to: deployment) }
    }
}

struct RouteTests {
    @Test func pathsNameWhatKubernetesNames() {
        func resource(_ path: String) -> ResourcePath? {
            if case .resource(let r) = APIRoute(path: path) { return r }
            return nil
        }
        #expect(resource("/api/v1/namespaces/default/pods/web/status") == ResourcePath(type: .pods, namespace: "default", name: "web", subresource: "status"))
        #expect(resource("/api/v1/pods") == ResourcePath(type: .pods, namespace: nil, name: nil, subresource: nil))
        #expect(resource("/api/v1/namespaces/kube/status") == ResourcePath(type: .namespaces, namespace: nil, name: "kube", subresource: "status"))
        #expect(resource("/api/v1/nodes/n1") == ResourcePath(type: .nodes, namespace: nil, name: "n1", subresource: nil))
        #expect(resource("/apis/apps/v1/namespaces/a/deployments/web/scale") == ResourcePath(type: .deployments, namespace: "a", name: "web", subresource: "scale"))
        #expect(resource("/apis/coordination.k8s.io/v1/namespaces/a/leases") == ResourcePath(type: .leases, namespace: "a", name: nil, subresource: nil))
        #expect(resource("/api/v1/pods/web") == nil)
        #expect(resource("/apis/apps/v1/pods") == nil)
        #expect(resource("/api/v1/namespaces/a/pods/b/c/d") == nil)
        #expect(APIRoute(path: "/apis/apps/v1") == .resourceList(group: "apps", version: "v1"))
        #expect(APIRoute(path: "/apis/apps/v2") == .notFound)
        #expect(APIRoute(path: "/openapi/v3/apis/apps/v1") == .openAPI(group: "apps", version: "v1"))
        #expect(APIRoute(path: "/version") == .version)
    }

    @Test func namesResolveAsKubectlResolvesThem() {
        #expect(ResourceType.named("po")?.plural == "pods")
        #expect(ResourceType.named("Deployment")?.plural == "deployments")
        #expect(ResourceType.named("deployments.apps")?.plural == "deployments")
        #expect(ResourceType.named("deploy.core") == nil)
        #expect(ResourceType.named("rs")?.kind == "ReplicaSet")
        #expect(ResourceType.named("lease")?.group == "coordination.k8s.io")
        #expect(ResourceType.named("widgets") == nil)
    }
}

/// Bodies in other serializations are refused; JSON under any other label is read as JSON.
struct ContentTypeTests {
    @Test func onlyOtherSerializationsAreRefused() {
        for accepted in [nil, "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded", "*/*", "text/plain"] {
            #expect((try? Admission.checkContentType(accepted)) != nil, "\(accepted ?? "none")")
        }
        for refused in ["application/vnd.kubernetes.protobuf", "application/cbor", "application/yaml", "application/apply-patch+yaml"] {
            #expect(throws: APIError.self) { try Admission.checkContentType(refused) }
        }
    }
}
