import Master
import Testing

struct DefaultingTests {
    static func json(_ text: String) -> JSON { try! JSONParser.parse(text) }
    static let stamp = WriteStamp(uid: "u-1", now: "2026-11-25T10:00:00Z", nameSuffix: "x7k2q")

    /// A pod gets Kubernetes' defaults on create: spec fields, per-container fields, and the
    /// tolerations of the not-ready and unreachable taints.
    @Test func podDefaults() throws {
        let body = Self.json(#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"nginx","ports":[{"containerPort":80}]},{"name":"b","image":"reg:5000/app:1.2"},{"name":"c","image":"app:latest"}]}}"#)
        let pod = try Admission.create(ResourcePath(type: .pods, namespace: "default", name: nil, subresource: nil), body, strict: true, stamp: Self.stamp)
        let spec = pod["spec"]!
        #expect(spec["restartPolicy"] == "Always" && spec["terminationGracePeriodSeconds"] == 30 && spec["dnsPolicy"] == "ClusterFirst")
        #expect(spec["schedulerName"] == "default-scheduler" && spec["enableServiceLinks"] == true)
        let containers = spec["containers"]!.arrayValue!
        #expect(containers.map { $0["imagePullPolicy"] } == ["Always", "IfNotPresent", "Always"])
        #expect(containers[0][path: ["ports"]] == Self.json(#"[{"containerPort":80,"protocol":"TCP"}]"#))
        #expect(containers[1]["terminationMessagePath"] == "/dev/termination-log" && containers[1]["terminationMessagePolicy"] == "File")
        let tolerations = spec["tolerations"]!.arrayValue!
        #expect(tolerations == [
            ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30],
            ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30],
        ])
        // A pod that already tolerates everything (operator Exists, no key) gets none added;
        // values the user gave are kept.
        let tolerant = Self.json(#"{"metadata":{"name":"q"},"spec":{"restartPolicy":"Never","tolerations":[{"operator":"Exists"}],"containers":[{"name":"a","image":"x@sha256:00","imagePullPolicy":"Never"}]}}"#)
        let kept = try Admission.create(ResourcePath(type: .pods, namespace: "default", name: nil, subresource: nil), tolerant, strict: true, stamp: Self.stamp)
        #expect(kept[path: ["spec", "tolerations"]] == [["operator": "Exists"]])
        #expect(kept[path: ["spec", "restartPolicy"]] == "Never")
        #expect(kept[path: ["spec", "containers"]]!.arrayValue![0]["imagePullPolicy"] == "Never")
        // The cluster chooses the toleration (`bosun master --toleration-seconds`).
        var settings = Defaulting.Settings()
        settings.tolerationSeconds = 5
        let quick = try Admission.create(ResourcePath(type: .pods, namespace: "default", name: nil, subresource: nil), body, strict: true, stamp: Self.stamp, defaults: settings)
        #expect(quick[path: ["spec", "tolerations"]]!.arrayValue!.map { $0["tolerationSeconds"] } == [5, 5])
    }

    /// Deployments: replicas, strategy, history limit, deadline and the template's pod defaults
    /// (without the pod-only tolerations); defaulting twice changes nothing, so an update does
    /// not move the generation.
    @Test func deploymentDefaultsAreIdempotent() throws {
        let path = ResourcePath(type: .deployments, namespace: "default", name: "web", subresource: nil)
        let body = Self.json(#"{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}"#)
        let created = try Admission.create(path, body, strict: true, stamp: Self.stamp)
        let spec = created["spec"]!
        #expect(spec["replicas"] == 1 && spec["revisionHistoryLimit"] == 10 && spec["progressDeadlineSeconds"] == 600)
        #expect(spec["strategy"] == Self.json(#"{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}"#))
        #expect(spec[path: ["template", "spec", "restartPolicy"]] == "Always")
        #expect(spec[path: ["template", "spec", "tolerations"]] == nil)
        let updated = try Admission.update(path, created, current: created, strict: true)
        #expect(updated == created)
        let recreate = Self.json(#"{"metadata":{"name":"web"},"spec":{"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#)
        #expect(try Admission.create(path, recreate, strict: true, stamp: Self.stamp)[path: ["spec", "strategy"]] == ["type": "Recreate"])
    }

    /// Quantities in thousandths, rounded up; nil for what is not a quantity.
    @Test(arguments: [
        ("100m", Int64(100)), ("1", 1000), ("0.5", 500), ("1.5Gi", 1_610_612_736_000), ("128Mi", 134_217_728_000),
        ("1k", 1_000_000), ("2e3", 2_000_000), ("1n", 1), ("0", 0), ("-1", -1000), ("1.0001", 1001), ("9Ei", Int64.max),
    ])
    func quantities(text: String, milli: Int64) {
        #expect(Quantity.milliValue(text) == milli)
    }

    @Test func notQuantities() {
        #expect(Quantity.milliValue("lots") == nil)
        #expect(Quantity.milliValue("1Zi") == nil)
        #expect(Quantity.milliValue(JSON.bool(true)) == nil)
    }
}

extension DefaultingTests {
    /// Null members are absent members, as in Kubernetes' types: a template written with
    /// `"creationTimestamp": null` (as `kubectl rollout undo` sends it) stores like one without.
    @Test func nullMembersAreDropped() throws {
        let path = ResourcePath(type: .deployments, namespace: "default", name: "web", subresource: nil)
        let with = Self.json(#"{"metadata":{"name":"web","labels":null},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx","args":null}]}}}}"#)
        let without = Self.json(#"{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#)
        #expect(try Admission.create(path, with, strict: true, stamp: Self.stamp) == Admission.create(path, without, strict: true, stamp: Self.stamp))
    }
}
