import Control
import Master

/// A store for the control plane alone: applies its writes with the store's compare-and-swap
/// rules, feeds every change back, and plays the node agents (pods bound to a node become ready;
/// pods marked for deletion go). Time moves only when a test moves it.
struct ControlHarness {
    var plane: ControlPlane
    var items: [String: (object: JSON, version: UInt64)] = [:]
    var version: UInt64 = 0
    var nowNs: UInt64 = 1_800_000_000_000_000_000
    var stamps: UInt64 = 0
    /// Bound pods become running and ready (as an agent would report them).
    var agentsRun = true
    /// Every write the control plane made, in order, with the state right after it.
    var log: [(write: ControlWrite, applied: Bool)] = []

    init(options: ControlPlane.Options = ControlPlane.Options()) {
        plane = ControlPlane(options: options)
    }

    static func json(_ text: String) -> JSON { try! JSONParser.parse(text) }

    /// A user's write (unconditional); nil deletes.
    mutating func put(_ key: String, _ object: JSON?) {
        version += 1
        if let object { items[key] = (object, version) } else { items[key] = nil }
        plane.observe(key: key, value: object?.text, version: version)
    }

    /// Creates an object through the API's admission (defaults, uid, timestamps).
    mutating func create(_ type: ResourceType, _ namespace: String?, _ text: String) {
        let stamp = nextStamp()
        let object = try! Admission.create(ResourcePath(type: type, namespace: namespace, name: nil, subresource: nil), Self.json(text), strict: false, stamp: stamp)
        put(type.key(namespace: namespace, name: object[path: ["metadata", "name"]]!.stringValue!), object)
    }

    /// Replaces an object through the API's admission (defaults, generation), as a PUT would.
    mutating func update(_ type: ResourceType, _ object: JSON) {
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue
        let name = object[path: ["metadata", "name"]]!.stringValue!
        let key = type.key(namespace: namespace, name: name)
        let updated = try! Admission.update(ResourcePath(type: type, namespace: namespace, name: name, subresource: nil), object, current: items[key]!.object, strict: false)
        put(key, updated)
    }

    mutating func nextStamp() -> WriteStamp {
        stamps += 1
        return WriteStamp(uid: "uid-\(stamps)", now: Timestamp.text(seconds: Int64(nowNs / 1_000_000_000)), nameSuffix: String(stamps, radix: 36))
    }

    /// A node with `cpu` and `memory` allocatable, ready, with a Lease.
    mutating func addNode(_ name: String, cpu: String = "4", memory: String = "8Gi", labels: String = "{}", spec: String = "{}") {
        var node = Self.json(#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"\#(name)","uid":"node-\#(name)","labels":\#(labels)},"spec":\#(spec)}"#)
        node["status"] = Self.json(#"{"allocatable":{"cpu":"\#(cpu)","memory":"\#(memory)","pods":"110"},"conditions":[{"type":"Ready","status":"True"}]}"#)
        put("nodes//\(name)", node)
        renewLease(name)
    }

    mutating func renewLease(_ node: String) {
        put("leases/kube-node-lease/\(node)", ["metadata": ["name": .string(node)], "spec": ["renewTime": .string("t\(version)")]])
    }

    func objects(_ prefix: String) -> [JSON] {
        items.keys.filter { $0.hasPrefix(prefix) }.sorted().map { items[$0]!.object }
    }

    var pods: [JSON] { objects("pods/") }

    /// Moves time on by `seconds`, half a second at a time (a leader runs at least that often),
    /// renewing the Leases of `renewing` each second and settling after each step.
    mutating func advance(seconds: Double, renewing: [String] = []) {
        let steps = Int(seconds * 2)
        for step in 0..<steps {
            nowNs += 500_000_000
            if step % 2 == 1 { for node in renewing { renewLease(node) } }
            settle()
        }
    }

    /// Runs rounds until the control plane has nothing more to write (or `rounds` ran).
    mutating func settle(rounds: Int = 200, check: (ControlHarness) -> Void = { _ in }) {
        for _ in 0..<rounds {
            let writes = plane.reconcile(nowNs: nowNs)
            var agentWrote = false
            for write in writes {
                apply(write)
                check(self)
            }
            if agentsRun { agentWrote = playAgents() }
            if writes.isEmpty && !agentWrote { return }
        }
    }

    mutating func apply(_ write: ControlWrite) {
        var ok = false
        switch write.operation {
        case .create(let key, let object):
            if items[key] == nil { put(key, object); ok = true }
        case .update(let key, let object, let expected):
            if let item = items[key], expected == nil || expected == item.version {
                if object[path: ["metadata", "deletionTimestamp"]] != nil, (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty,
                   !key.hasPrefix("pods/") {
                    put(key, nil)
                } else {
                    put(key, object)
                }
                ok = true
            }
        case .delete(let key, let expected):
            if let item = items[key], expected == item.version { put(key, nil); ok = true }
        }
        log.append((write, ok))
        plane.finished(write.id, succeeded: ok)
    }

    /// The agents: bound pods become ready; pods marked for deletion are removed. Returns
    /// whether anything changed.
    mutating func playAgents() -> Bool {
        var changed = false
        for key in items.keys.sorted() where key.hasPrefix("pods/") {
            var pod = items[key]!.object
            guard pod[path: ["spec", "nodeName"]] != nil else { continue }
            if pod[path: ["metadata", "deletionTimestamp"]] != nil {
                put(key, nil)
                changed = true
            } else if pod[path: ["status", "phase"]] != "Running" {
                pod[path: ["status", "phase"]] = "Running"
                let ready: JSON = ["type": "Ready", "status": "True", "lastTransitionTime": .string(Timestamp.text(seconds: Int64(nowNs / 1_000_000_000)))]
                pod[path: ["status", "conditions"]] = .array((pod[path: ["status", "conditions"]]?.arrayValue ?? []) + [ready])
                put(key, pod)
                changed = true
            }
        }
        return changed
    }
}
