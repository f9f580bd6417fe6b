import Glibc
import Host
import Master
import MasterCore
import Raft
import Store

/// One master process: the sockets, HTTP bytes, clock and threads around a `MasterCore`, which
/// holds all of the master's logic. This class takes requests off the HTTP server and hands them
/// to the core with an id, carries out the core's outputs (responses, watch streams, forwards to
/// the leader, and through `RaftDriver` the Raft I/O), and answers `/metrics` and
/// `/cluster/status`, which describe this process and its connections.
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
        /// A node whose Lease is not renewed for this long is marked unreachable.
        public var nodeGracePeriodNs: UInt64 = 5_000_000_000
        /// The defaults admission fills in (how long pods tolerate unreachable nodes).
        public var defaults = Defaulting.Settings()

        public init(id: NodeID, members: [Member], peerListen: PeerTransport.Address, api: PeerTransport.Address, dataDirectory: String) {
            self.id = id
            self.members = members
            self.peerListen = peerListen
            self.api = api
            self.dataDirectory = dataDirectory
        }
    }

    let loop: EventLoop
    let options: Options
    var driver: RaftDriver<MasterCore>!
    var http: HTTPServer!
    /// Requests the core has not answered yet, and the watch streams it writes to.
    var responders: [MasterCore.RequestID: HTTPResponder] = [:]
    var streams: [MasterCore.RequestID: HTTPStream] = [:]
    var nextRequestID: MasterCore.RequestID = 1
    let metrics = APIMetrics()
    lazy var forwarder = HTTPForwarder(loop: loop)

    public init(loop: EventLoop, options: Options) throws {
        self.loop = loop
        self.options = options
        var peers: [NodeID: PeerTransport.Address] = [:]
        for member in options.members where member.id != options.id { peers[member.id] = member.peer }
        var driverOptions = RaftDriver<MasterCore>.Options(
            transport: .init(cluster: options.cluster, id: options.id, listen: options.peerListen, peers: peers),
            dataDirectory: options.dataDirectory)
        driverOptions.transport.advertisedAPI = "\(options.api)"
        driverOptions.tickNs = options.tickNs
        driverOptions.raft.electionTicks = options.electionTicks
        driverOptions.raft.heartbeatTicks = options.heartbeatTicks
        driverOptions.snapshotEveryEntries = options.snapshotEveryEntries
        var coreOptions = MasterCore.Options(id: options.id, members: options.members.map { MasterCore.Member(id: $0.id, api: $0.api.map { "\($0)" }) })
        coreOptions.writeTimeoutNs = options.writeTimeoutNs
        coreOptions.watchHistoryEvents = options.watchHistoryEvents
        coreOptions.bookmarkIntervalNs = options.bookmarkIntervalNs
        coreOptions.control.nodeGracePeriodNs = options.nodeGracePeriodNs
        coreOptions.control.defaults = options.defaults
        var entropy = SystemRandomNumberGenerator()  // uids and the client session differ per process start
        let seed = entropy.next()
        driver = try RaftDriver(loop: loop, options: driverOptions, empty: KVStore()) { host in
            MasterCore(options: coreOptions, host: host, seed: seed, nowNs: wallClockNs())
        }
        driver.onOutput = { [unowned self] output in self.carryOut(output) }
        driver.transport.onPeerAPI = { [unowned self] member, api in self.learnAPIAddress(of: member, api) }
        http = try HTTPServer(loop: loop, host: options.api.host, port: options.api.port) { [unowned self] request, respond in
            self.handle(request, respond)
        }
    }

    public var apiPort: UInt16 { http.port }
    public var peerPort: UInt16 { driver.transport.port }
    var core: MasterCore { driver.core }

    public func start() {
        driver.start()
    }

    /// Stops serving: open watches end, then the sockets close.
    public func stop() {
        core.endWatches(nil)
        driver.process()
        http.shutdown()
        driver.stop()
    }

    /// Hands leadership to the most caught-up follower (for a clean shutdown).
    public func transferLeadershipAway() -> Bool {
        guard driver.node.role == .leader else { return false }
        guard let target = options.members.map(\.id).first(where: { $0 != options.id && driver.transport.isConnected(to: $0) }) else { return false }
        core.transferLeadership(to: target)
        driver.process()
        return true
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
        switch route {
        case .clusterStatus where request.method == "GET": return respond(.json(200, clusterStatus()))
        case .metrics where request.method == "GET":
            return respond(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(metricsPage().utf8)))
        case .resource(let path) where request.method == "GET" && path.type.plural == "pods" && path.subresource == "log":
            return podLogs(path, request, respond)
        default: break
        }
        let id = nextRequestID
        nextRequestID += 1
        responders[id] = respond
        core.request(id, request, route: route, nowNs: wallClockNs())
        driver.processSoon()
    }

    /// A member's API address from its handshake. One that binds every interface (`0.0.0.0:P`)
    /// is reached at its peer address's host with port P.
    func learnAPIAddress(of member: NodeID, _ api: String) {
        guard var address = PeerTransport.Address(parsing: api), let peer = options.members.first(where: { $0.id == member })?.peer else { return }
        if address.host.isEmpty || address.host == "0.0.0.0" { address.host = peer.host }
        core.learnAPIAddress(of: member, "\(address)")
    }

    /// Carries out one output of the core that is not Raft I/O.
    func carryOut(_ output: MasterCore.Output) {
        switch output {
        case .respond(let id, let response):
            responders.removeValue(forKey: id)?(response)
        case .startStream(let id, let head):
            guard let responder = responders.removeValue(forKey: id), let stream = responder.stream(status: head.status, headers: head.headers) else {
                return core.streamClosed(id)
            }
            streams[id] = stream
            stream.onClose = { [unowned self] in
                self.streams[id] = nil
                self.core.streamClosed(id)
            }
        case .streamChunk(let id, let bytes):
            streams[id]?.send(bytes)
        case .endStream(let id):
            streams.removeValue(forKey: id)?.end()
        case .forward(let id, let request, let api):
            guard let address = PeerTransport.Address(parsing: api) else {
                responders.removeValue(forKey: id)?(HTTPForwarder.unreachable("the leader's API address \(api) is not HOST:PORT"))
                return
            }
            forwarder.forward(request, to: address) { [unowned self] response in
                self.responders.removeValue(forKey: id)?(response)
            }
        case .raft:
            preconditionFailure("Raft I/O is the driver's")
        }
    }

    /// `GET /metrics`, in the Prometheus text format.
    func metricsPage() -> String {
        let node = driver.node
        func gauge(_ name: String, _ type: String, _ help: String, _ value: String) -> [String] {
            APIMetrics.help(name, type, help) + ["\(name) \(value)"]
        }
        var lines = metrics.requestLines()
        lines += gauge("bosun_raft_term", "gauge", "The current Raft term.", "\(node.term)")
        lines += gauge("bosun_raft_commit_index", "gauge", "The highest log index known committed.", "\(node.commitIndex)")
        lines += gauge("bosun_raft_applied_index", "gauge", "The highest log index applied to the store.", "\(core.store.appliedIndex)")
        lines += gauge("bosun_raft_is_leader", "gauge", "1 when this master leads.", node.role == .leader ? "1" : "0")
        lines += gauge("bosun_raft_leader_changes_total", "counter", "Leaders seen change.", "\(core.leaderChanges)")
        lines += gauge("bosun_raft_proposals_total", "counter", "Entries proposed by this master while leading.", "\(core.proposals)")
        lines += gauge("bosun_control_writes_total", "counter", "Writes the scheduler and controllers proposed on this master.", "\(core.controlWrites)")
        lines += APIMetrics.help("bosun_wal_fsync_duration_seconds", "histogram", "fdatasync of each write-ahead log batch.")
        lines += driver.fsyncLatency.lines("bosun_wal_fsync_duration_seconds", labels: "")
        lines += gauge("bosun_snapshots_written_total", "counter", "Snapshots this master wrote.", "\(driver.snapshotsWritten)")
        lines += gauge("bosun_snapshots_installed_total", "counter", "Snapshots installed from a leader.", "\(driver.snapshotsInstalled)")
        lines += gauge("bosun_peer_messages_dropped_total", "counter", "Raft messages dropped for a peer that was down or too slow.", "\(driver.transport.stats.droppedMessages)")
        lines += gauge("bosun_peer_connect_failures_total", "counter", "Failed dials to peers.", "\(driver.transport.stats.connectFailures)")
        lines += APIMetrics.help("bosun_loop_hold_seconds", "histogram", "How long each callback held the event loop (a request, a timer, a peer's bytes).")
        lines += loop.holds.lines("bosun_loop_hold_seconds", labels: "")
        lines += gauge("bosun_loop_longest_hold_seconds", "gauge", "The longest any callback held the event loop.", "\(Double(loop.longestHoldNs) / 1e9)")
        lines += gauge("bosun_watches", "gauge", "Open watches.", "\(core.watchCount)")
        lines += gauge("bosun_watch_history_events", "gauge", "Changes kept for watches to resume from.", "\(core.historyCount)")
        return lines.joined(separator: "\n") + "\n"
    }

    func clusterStatus() -> String {
        let node = driver.node
        let members = options.members.map { member -> String in
            // This master's own peer connection: a follower talks to the leader only, so only the
            // leader's answer says which members are up (docs/api.md).
            let connected = member.id == options.id || driver.transport.isConnected(to: member.id)
            return #"{"id":\#(member.id.rawValue),"peerAddress":"\#(member.peer)","apiAddress":"\#(core.apiAddress(of: member.id) ?? "")","connected":\#(connected)}"#
        }
        return #"{"id":\#(options.id.rawValue),"role":"\#(node.role.rawValue)","leader":\#(node.leader.map { "\($0.rawValue)" } ?? "null"),"term":\#(node.term),"commitIndex":\#(node.commitIndex),"appliedIndex":\#(core.store.appliedIndex),"members":[\#(members.joined(separator: ","))]}"#
    }
}
