import Master

/// A request the agent is waiting on, and what its answer is for.
struct PendingRequest {
    var id: UInt64
    var master: Int
    var purpose: Purpose
    var deadlineNs: UInt64

    enum Purpose: Equatable {
        case registerNode
        case nodeStatus
        case renewLease
        case createLease
        case list
        case watch
        case podStatus(uid: String, version: UInt64)
        case deletePod(uid: String)
        case configMap(key: String)
    }
}

/// Talking to the masters: one at a time, the next on any failure; the Node and its Lease.
extension AgentCore {
    static let leasesPath = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    /// After a failed renewal or registration the next try waits this long (at the next master).
    static let retryDelayNs: UInt64 = 200_000_000

    var nodePath: String { "/api/v1/nodes/\(config.nodeName)" }

    func isPending(_ purpose: PendingRequest.Purpose) -> Bool { inFlight.values.contains { $0.purpose == purpose } }

    mutating func send(_ purpose: PendingRequest.Purpose, _ request: HTTPRequest) {
        let id = nextRequestID
        nextRequestID += 1
        inFlight[id] = PendingRequest(id: id, master: target, purpose: purpose, deadlineNs: now.monotonicNs + config.requestTimeoutNs)
        outbox.append(purpose == .watch ? .watch(id: id, master: target, request) : .send(id: id, master: target, request))
    }

    static func json(_ method: String, _ target: String, _ body: JSON, contentType: String = "application/json") -> HTTPRequest {
        HTTPRequest(method: method, target: target, headers: [("Content-Type", contentType)], body: Array(body.text.utf8))
    }

    /// Requests not answered in time are given up, and their master left.
    mutating func expireRequests() {
        for id in inFlight.keys.sorted() {
            guard let request = inFlight[id], request.deadlineNs <= now.monotonicNs else { continue }
            inFlight[id] = nil
            outbox.append(.cancel(id: id))
            failed(request)
        }
    }

    /// A request failed: its master is left, and its work becomes due again.
    mutating func failed(_ request: PendingRequest) {
        moveOn(from: request.master)
        switch request.purpose {
        case .renewLease, .createLease: nextRenewalNs = now.monotonicNs + Self.retryDelayNs
        case .registerNode, .nodeStatus: nextNodeStatusNs = now.monotonicNs + Self.retryDelayNs
        case .list, .watch:
            if watch.streamID == request.id { watch.streamID = nil }
            watch.retryAtNs = now.monotonicNs + Self.retryDelayNs
        case .podStatus(let uid, _): pods[uid]?.statusRetryNs = now.monotonicNs + Self.retryDelayNs
        case .deletePod(let uid): pods[uid]?.deleteRetryNs = now.monotonicNs + Self.retryDelayNs
        case .configMap: break
        }
    }

    /// Leaves `master` for the next one (unless already left); the watch follows, resumed from
    /// the last version seen.
    mutating func moveOn(from master: Int) {
        guard master == target, !config.plantedBugs.contains(.agentSticksToFirstMaster) else { return }
        target = (target + 1) % config.masterCount
        if let stream = watch.streamID {
            outbox.append(.cancel(id: stream))
            inFlight[stream] = nil
            watch.streamID = nil
            watch.streaming = false
        }
    }

    /// An answer that is not a failure.
    mutating func handle(_ request: PendingRequest, _ response: HTTPResponse) {
        switch request.purpose {
        case .registerNode:
            if response.status == 201 || response.status == 409 {
                registered = true
                postedNodeStatus = nil
            } else {
                nextNodeStatusNs = now.monotonicNs + Self.retryDelayNs
            }
        case .nodeStatus:
            if response.status == 404 { registered = false }  // deleted by someone: register again
            if response.status != 200 { postedNodeStatus = nil }
        case .renewLease:
            if response.status == 404 { leaseExists = false; nextRenewalNs = now.monotonicNs }
            if response.status == 200 { renewed() }
        case .createLease:
            if response.status == 201 || response.status == 409 { leaseExists = true }
            if response.status == 409 { nextRenewalNs = now.monotonicNs }
            if response.status == 201 { renewed() }
        case .list: listed(response)
        case .watch: watchAnswered(response)
        case .podStatus(let uid, let version): statusWritten(uid, version: version, response)
        case .deletePod(let uid): if response.status != 200 && response.status != 404 { pods[uid]?.deleteRetryNs = now.monotonicNs + Self.retryDelayNs }
        case .configMap(let key): configMapFetched(key, response)
        }
    }

    /// A renewal after a long gap: the node controller may have marked the Node unreachable
    /// meanwhile, so its status is posted again now, not at the next interval.
    mutating func renewed() {
        if let last = lastRenewedNs, now.monotonicNs > last + 2 * config.leaseRenewNs { postedNodeStatus = nil }
        lastRenewedNs = now.monotonicNs
    }

    /// Registration, renewals and the Node's status.
    mutating func tendNode() {
        if !registered {
            guard !isPending(.registerNode), now.monotonicNs >= nextNodeStatusNs else { return }
            var labels = config.labels
            labels["kubernetes.io/hostname"] = labels["kubernetes.io/hostname"] ?? config.nodeName
            labels["kubernetes.io/os"] = labels["kubernetes.io/os"] ?? "linux"
            var node: JSON = ["apiVersion": "v1", "kind": "Node",
                              "metadata": ["name": .string(config.nodeName), "labels": .object(labels.mapValues { .string($0) })]]
            if !config.taints.isEmpty { node[path: ["spec", "taints"]] = .array(config.taints) }
            return send(.registerNode, Self.json("POST", "/api/v1/nodes", node))
        }
        if now.monotonicNs >= nextRenewalNs, !isPending(.renewLease), !isPending(.createLease) {
            nextRenewalNs = now.monotonicNs + config.leaseRenewNs
            if leaseExists {
                send(.renewLease, Self.json("PUT", "\(Self.leasesPath)/\(config.nodeName)", leaseBody()))
            } else {
                send(.createLease, Self.json("POST", Self.leasesPath, leaseBody()))
            }
        }
        let status = nodeStatus()
        if (status != postedNodeStatus || now.monotonicNs >= nextNodeStatusNs), !isPending(.nodeStatus) {
            postedNodeStatus = status
            nextNodeStatusNs = now.monotonicNs + config.nodeStatusIntervalNs
            var body = status
            let heartbeat = JSON.string(Self.timestamp(now.wallNs))
            body["conditions"] = .array((status["conditions"]?.arrayValue ?? []).map { var c = $0; c["lastHeartbeatTime"] = heartbeat; return c })
            send(.nodeStatus, Self.json("PATCH", nodePath + "/status", ["status": body], contentType: "application/merge-patch+json"))
        }
    }

    /// The Lease, renewed now (microseconds, as Kubernetes' MicroTime, so every renewal changes it).
    func leaseBody() -> JSON {
        let micros = String(now.wallNs / 1_000 % 1_000_000)
        let renewTime = Self.timestamp(now.wallNs).dropLast() + "." + String(repeating: "0", count: 6 - micros.count) + micros + "Z"
        return ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": ["name": .string(config.nodeName), "namespace": "kube-node-lease"],
                "spec": ["holderIdentity": .string(config.nodeName), "leaseDurationSeconds": .number(config.leaseDurationSeconds),
                         "renewTime": .string(String(renewTime))]]
    }

    /// The Node's status without heartbeat times (so that it compares equal while nothing changed).
    func nodeStatus() -> JSON {
        let since = JSON.string(startedAtText)
        func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSON {
            ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message), "lastTransitionTime": since]
        }
        let capacity = JSON.object(config.capacity.mapValues { .string($0) })
        return [
            "capacity": capacity, "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [["type": "InternalIP", "address": .string(config.address)], ["type": "Hostname", "address": .string(config.nodeName)]],
            "daemonEndpoints": ["kubeletEndpoint": ["Port": .number(config.port)]],
            "nodeInfo": .object(config.nodeInfo.mapValues { .string($0) }),
        ]
    }

    /// When this agent started, as a timestamp (its conditions have been true since).
    var startedAtText: String { Self.timestamp(startWallNs) }

    static func timestamp(_ wallNs: UInt64) -> String { Timestamp.text(seconds: Int64(wallNs / 1_000_000_000)) }
}
