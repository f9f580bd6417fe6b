import Master

/// A simulated user of the control plane: creates, scales, updates, rolls back and deletes
/// Deployments, creates bare pods and cordons nodes, one request at a time, through any master.
struct SimOperator {
    var caller: SimCaller
    var imageVersion = 1
    /// Bare pods created so far (at most three: they are never deleted).
    var barePods = 0
}

extension Simulation {
    static let deploymentsPath = "/apis/apps/v1/namespaces/default/deployments"

    func operatorStep(_ o: Int) {
        guard !inLivenessPhase else { return }
        defer { schedule(after: clusterRng.exponential(meanNs: plan.operatorThinkNs), .operatorStart(operatorClient: o)) }
        guard operators[o].caller.inFlight == nil, operators[o].caller.queue.isEmpty else { return }
        let name = "d\(clusterRng.index(plan.deployments))"
        let path = "\(Self.deploymentsPath)/\(name)"
        let request: HTTPRequest
        switch clusterRng.index(100) {
        case 0..<30:
            request = CallerRequest.json("POST", Self.deploymentsPath, deployment(name))
        case 30..<50:
            request = CallerRequest.mergePatch(path, ["spec": ["replicas": .number(Int(clusterRng.uniform(0...5)))]])
        case 50..<70:
            operators[o].imageVersion += 1
            let image = "app:v\(operators[o].imageVersion)"
            request = CallerRequest.mergePatch(path, ["spec": ["template": ["spec": ["containers": [Self.container(image: .string(image))]]]]])
        case 70..<80:
            request = CallerRequest.mergePatch(path, ["spec": ["template": ["spec": ["containers": [Self.container(image: "app:v1")]]]]])
        case 80..<88:
            // Background (the default) or Foreground: the dependents go first, then the Deployment.
            request = CallerRequest.json("DELETE", path, clusterRng.chance(0.3) ? ["propagationPolicy": "Foreground"] : [:])
        case 88..<94 where operators[o].barePods < 3:
            operators[o].barePods += 1
            let pod: JSON = ["apiVersion": "v1", "kind": "Pod", "metadata": ["generateName": "bare-", "labels": ["bare": "yes"]],
                             "spec": ["containers": [Self.container(image: "app:v1", cpu: "100m")], "terminationGracePeriodSeconds": 2]]
            request = CallerRequest.json("POST", "/api/v1/namespaces/default/pods", pod)
        case 88..<94:
            return
        default:
            guard !agents.isEmpty else { return }
            let node = agents[clusterRng.index(agents.count)].name
            // At most one node cordoned at a time: the others keep room for every pod.
            let cordon = clusterRng.chance(0.5) && cordoned == nil
            if cordon { cordoned = node } else if let was = cordoned { cordoned = nil; return call(.operatorClient(o), uncordon(was)) }
            request = CallerRequest.mergePatch("/api/v1/nodes/\(node)", ["spec": ["unschedulable": cordon ? true : .null]])
        }
        call(.operatorClient(o), CallerRequest(request: request, purpose: .operation))
    }

    /// The one container of the workload's pods (a merge patch replaces the whole list, so a
    /// patch names it whole too; without its request, as a patch of the image would).
    static func container(image: JSON, cpu: JSON? = nil) -> JSON {
        var container: JSON = ["name": "app", "image": image, "command": ["serve"]]
        if let cpu { container["resources"] = ["requests": ["cpu": cpu]] }
        return container
    }

    func uncordon(_ node: String) -> CallerRequest {
        CallerRequest(request: CallerRequest.mergePatch("/api/v1/nodes/\(node)", ["spec": ["unschedulable": .null]]), purpose: .operation)
    }

    /// A Deployment with a random strategy and size.
    func deployment(_ name: String) -> JSON {
        var strategy: JSON = ["type": "Recreate"]
        if !clusterRng.chance(0.2) {
            let values: [JSON] = [0, 1, 2, "25%", "50%"]
            strategy = ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": values[clusterRng.index(values.count)],
                                                                   "maxUnavailable": values[clusterRng.index(values.count)]]]
        }
        let cpu = "\(clusterRng.uniform(3...8) * 50)m"
        return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name)],
                "spec": ["replicas": .number(Int(clusterRng.uniform(1...5))), "strategy": strategy,
                         "selector": ["matchLabels": ["app": .string(name)]],
                         "template": ["metadata": ["labels": ["app": .string(name)]],
                                      "spec": ["containers": [Self.container(image: "app:v1", cpu: .string(cpu))], "terminationGracePeriodSeconds": 2]]]]
    }

    func operatorReceived(_ o: Int, _ request: CallerRequest, _ response: HTTPResponse) {
        // 504: a write's outcome is unknown, which an operator accepts; any other 5xx is a bug.
        guard response.status >= 500, response.status != 504 else { return }
        fail(Violation(invariant: "API answer", detail: "operator \(o) \(request.request.method) \(request.request.target) got \(response.status): \(String(decoding: response.body, as: UTF8.self))"))
    }
}
