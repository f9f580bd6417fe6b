import Glibc
import Master
import Raft
import Store

/// One master process: the Raft driver with the object store as its state machine, and the
/// Kubernetes-shaped HTTP API in front. The leader serves writes (proposed, answered once applied)
/// and linearizable reads (ReadIndex); a follower forwards both to the leader and relays the
/// answer; with no leader known, 503 with `Retry-After`.
public final class MasterServer {
    /// One member of the cluster.
    public struct Member: Equatable, Sendable {
        public var id: NodeID
        public var peer: PeerTransport.Address
        public var api: PeerTransport.Address?

        public init(id: NodeID, peer: PeerTransport.Address, api: PeerTransport.Address? = nil) {
            self.id = id
            self.peer = peer
            self.api = api
        }
    }

    /// How to run.
    public struct Options: Sendable {
        public var id: NodeID
        public var members: [Member]
        public var peerListen: PeerTransport.Address
        public var api: PeerTransport.Address
        public var dataDirectory: String
        public var cluster = "bosun"
        public var tickNs: UInt64 = 10_000_000
        public var electionTicks = 20
        public var heartbeatTicks = 3
        public var snapshotEveryEntries: UInt64 = 10_000
        /// A write not applied within this time is answered 504 (its outcome is unknown).
        public var writeTimeoutNs: UInt64 = 10_000_000_000
        /// How many recent changes are kept for watches that resume from a resourceVersion.
        public var watchHistoryEvents = 10_000
        /// How often a watch that asked for bookmarks gets one.
        public var bookmarkIntervalNs: UInt64 = 30_000_000_000

        public init(id: NodeID, members: [Member], peerListen: PeerTransport.Address, api: PeerTransport.Address, dataDirectory: String) {
            self.id = id
            self.members = members
            self.peerListen = peerListen
            self.api = api
            self.dataDirectory = dataDirectory
        }
    }

    /// A write waiting for its entry to apply on this master.
    struct PendingWrite {
        let respond: HTTPResponder
        let timer: UInt64
        let completion: (KVStore.Applied) -> Void
    }

    let loop: EventLoop
    let options: Options
    /// The replicated store, as applied on this master.
    var store: KVStore { driver.host.machine }
    /// The recent changes, for watches that resume from a resourceVersion.
    var history: WatchHistory
    var watchers: [Int: Watcher] = [:]
    var nextWatcherID = 1
    var driver: RaftDriver<KVStore>!
    var http: HTTPServer!
    /// This process's client session in the store; sequences number its writes.
    let session: UInt64
    var nextSequence: UInt64 = 1
    var waitingWrites: [UInt64: PendingWrite] = [:]
    var waitingReads: [UInt64: (respond: HTTPResponder, serve: () throws(APIError) -> HTTPResponse)] = [:]
    var nextReadContext: UInt64 = 1
    var proposedDefaultNamespace = false
    let metrics = APIMetrics()
    var lastLeader: NodeID?
    lazy var forwarder = HTTPForwarder(loop: loop)

    public init(loop: EventLoop, options: Options) throws {
        self.loop = loop
        self.options = options
        var entropy = SystemRandomNumberGenerator()
        session = entropy.next() | 1
        var peers: [NodeID: PeerTransport.Address] = [:]
        for member in options.members where member.id != options.id { peers[member.id] = member.peer }
        var driverOptions = RaftDriver<KVStore>.Options(
            transport: .init(cluster: options.cluster, id: options.id, listen: options.peerListen, peers: peers),
            dataDirectory: options.dataDirectory)
        driverOptions.tickNs = options.tickNs
        driverOptions.raft.electionTicks = options.electionTicks
        driverOptions.raft.heartbeatTicks = options.heartbeatTicks
        driverOptions.snapshotEveryEntries = options.snapshotEveryEntries
        let driver = try RaftDriver(loop: loop, options: driverOptions, empty: KVStore())
        history = WatchHistory(capacity: options.watchHistoryEvents, startingAfter: driver.host.machine.appliedIndex)
        self.driver = driver
        driver.onApplied = { [unowned self] entry, applied in self.applied(entry, applied) }
        driver.onRestored = { [unowned self] metadata in
            self.history.reset(startingAfter: metadata.index)
            self.endWatches(APIError.gone("the state was replaced by a snapshot; list again"))
        }
        driver.onReadState = { [unowned self] state in self.serveRead(state) }
        driver.onSoftState = { [unowned self] soft in
            if soft.leader != nil, soft.leader != self.lastLeader {
                self.metrics.leaderChanges += 1
                self.lastLeader = soft.leader
            }
            if soft.role != .leader {
                self.failReads("leadership moved; retry")
                self.proposedDefaultNamespace = false  // The proposal may be lost; the next leader term retries.
            }
        }
        http = try HTTPServer(loop: loop, host: options.api.host, port: options.api.port) { [unowned self] request, respond in
            self.handle(request, respond)
        }
    }

    public var apiPort: UInt16 { http.port }
    public var peerPort: UInt16 { driver.transport.port }

    public func start() {
        driver.start()
        scheduleHousekeeping()
        loop.schedule(afterNs: options.bookmarkIntervalNs) { [unowned self] in self.sendBookmarks() }
    }

    /// Stops serving: leadership is handed over first when this master leads.
    public func stop() {
        endWatches(nil)
        http.shutdown()
        driver.stop()
    }

    /// Hands leadership to the most caught-up follower (for a clean shutdown).
    public func transferLeadershipAway() -> Bool {
        guard driver.node.role == .leader else { return false }
        guard let target = options.members.map(\.id).first(where: { $0 != options.id && driver.transport.isConnected(to: $0) }) else { return false }
        driver.transferLeadership(to: target)
        return true
    }

    private func scheduleHousekeeping() {
        loop.schedule(afterNs: 100_000_000) { [unowned self] in
            self.ensureDefaultNamespace()
            self.scheduleHousekeeping()
        }
    }

    /// The `default` namespace exists from the first start, as in Kubernetes.
    private func ensureDefaultNamespace() {
        let node = driver.node
        guard node.role == .leader, node.hasCommittedInTerm, node.appliedIndex >= node.commitIndex,
            store.get(ResourceType.namespaces.key(namespace: nil, name: "default")) == nil, !proposedDefaultNamespace
        else { return }
        proposedDefaultNamespace = true
        let path = ResourcePath(type: .namespaces, namespace: nil, name: nil, subresource: nil)
        guard let object = try? Admission.create(path, ["metadata": ["name": "default"]], strict: true, stamp: stamp()) else { return }
        let request = KVRequest(client: session, sequence: takeSequence(), operation: .create(key: ResourceType.namespaces.key(namespace: nil, name: "default"), value: object.text))
        _ = try? driver.propose(request.encoded())
    }

    // MARK: Requests

    func handle(_ request: HTTPRequest, _ respond: HTTPResponder) {
        let route = APIRoute(path: request.path)
        let start = monotonicNs()
        let verb = APIMetrics.verb(method: request.method, route: route, watch: request.isWatch)
        let resource: String
        if case .resource(let path) = route { resource = path.type.plural + (path.subresource.map { "/" + $0 } ?? "") } else { resource = "" }
        respond.onAnswer = { [unowned self] code in
            self.metrics.record(verb: verb, resource: resource, code: code, seconds: Double(monotonicNs() - start) / 1e9)
        }
        if case .resource(let path) = route {
            do { try serveResource(path, request, respond) } catch { respond(errorResponse(error)) }
            return
        }
        guard request.method == "GET" else {
            respond(errorResponse(.methodNotAllowed(request.method, request.path)))
            return
        }
        switch route {
        case .health:
            respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Array("ok".utf8)))
        case .ready:
            let node = driver.node
            let ready = node.leader != nil && node.appliedIndex >= node.commitIndex
            respond(HTTPResponse(status: ready ? 200 : 503, headers: [("Content-Type", "text/plain")], body: Array((ready ? "ok" : "not ready").utf8)))
        case .clusterStatus: respond(.json(200, clusterStatus()))
        case .version: respond(jsonResponse(200, Discovery.version))
        case .coreVersions: respond(jsonResponse(200, Discovery.coreVersions))
        case .groups: respond(jsonResponse(200, Discovery.groups))
        case .group(let name): respond(jsonResponse(200, Discovery.groupDocument(name)))
        case .resourceList(let group, let version): respond(jsonResponse(200, Discovery.resourceList(group: group, version: version)))
        case .openAPIRoot: respond(jsonResponse(200, Discovery.openAPIRoot))
        case .openAPI(let group, let version):
            if let document = Discovery.openAPI(group: group, version: version) {
                respond(jsonResponse(200, document))
            } else {
                respond(errorResponse(.pathNotFound()))
            }
        case .metrics:
            respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metricsPage().utf8)))
        case .notFound, .resource: respond(errorResponse(.pathNotFound()))
        }
    }

    func jsonResponse(_ status: Int, _ body: JSON) -> HTTPResponse { .json(status, body.text) }

    /// `GET /metrics`, in the Prometheus text format.
    func metricsPage() -> String {
        let node = driver.node
        func gauge(_ name: String, _ type: String, _ help: String, _ value: String) -> [String] {
            APIMetrics.help(name, type, help) + ["\(name) \(value)"]
        }
        var lines = metrics.requestLines()
        lines += gauge("bosun_raft_term", "gauge", "The current Raft term.", "\(node.term)")
        lines += gauge("bosun_raft_commit_index", "gauge", "The highest log index known committed.", "\(node.commitIndex)")
        lines += gauge("bosun_raft_applied_index", "gauge", "The highest log index applied to the store.", "\(store.appliedIndex)")
        lines += gauge("bosun_raft_is_leader", "gauge", "1 when this master leads.", node.role == .leader ? "1" : "0")
        lines += gauge("bosun_raft_leader_changes_total", "counter", "Leaders seen change.", "\(metrics.leaderChanges)")
        lines += gauge("bosun_raft_proposals_total", "counter", "Entries proposed by this master while leading.", "\(driver.proposals)")
        lines += APIMetrics.help("bosun_wal_fsync_duration_seconds", "histogram", "fdatasync of each write-ahead log batch.")
        lines += driver.fsyncLatency.lines("bosun_wal_fsync_duration_seconds", labels: "")
        lines += gauge("bosun_snapshots_written_total", "counter", "Snapshots this master wrote.", "\(driver.snapshotsWritten)")
        lines += gauge("bosun_snapshots_installed_total", "counter", "Snapshots installed from a leader.", "\(driver.snapshotsInstalled)")
        lines += gauge("bosun_watches", "gauge", "Open watches.", "\(watchers.count)")
        lines += gauge("bosun_watch_history_events", "gauge", "Changes kept for watches to resume from.", "\(history.count)")
        return lines.joined(separator: "\n") + "\n"
    }

    func errorResponse(_ error: APIError) -> HTTPResponse { .json(error.code, error.status.text) }
}
