import Control
import Host
import Master
import Raft
import Store

/// The master's logic as a deterministic, sans-I/O state machine (DESIGN §2): the Kubernetes-
/// shaped API over the replicated store, built around the `RaftHost` that replicates it. The
/// leader serves writes (proposed, answered once applied) and linearizable reads (ReadIndex); a
/// follower asks its driver to forward both to the leader and relays the answer; with no leader
/// known, 503 with `Retry-After`. Every master serves watches from what it has applied.
///
/// Inputs: API requests (with an id the driver chose), streams the client closed, ticks with the
/// wall clock, Raft messages and the host's completions. Outputs: responses, watch streams,
/// forwards and the host's Raft I/O. No clock, thread, socket or unseeded randomness: uids and
/// name suffixes come from a generator the driver seeds, dates from the `nowNs` it passes. The
/// real runtime (`MasterServer`) and the simulator run this same code.
public final class MasterCore {
    /// Names one API request, chosen by the driver; responses and stream chunks carry it.
    public typealias RequestID = UInt64

    /// One member of the cluster, as the API needs it.
    public struct Member: Equatable, Sendable {
        public var id: NodeID
        /// Where its API listens (`host:port`), when known: followers forward to the leader's.
        public var api: String?

        public init(id: NodeID, api: String?) {
            self.id = id
            self.api = api
        }
    }

    /// Tunables.
    public struct Options: Sendable {
        public var id: NodeID
        public var members: [Member]
        /// A write not applied within this time is answered 504 (its outcome is unknown).
        public var writeTimeoutNs: UInt64 = 10_000_000_000
        /// How many recent changes are kept for watches that resume from a resourceVersion.
        public var watchHistoryEvents = 10_000
        /// How often a watch that asked for bookmarks gets one.
        public var bookmarkIntervalNs: UInt64 = 30_000_000_000
        /// At most this many stored objects, and about `stepBytes` of their text, are read for a
        /// list or a watch's start per turn of the driver's loop, shared among the streams that
        /// want them: a list of any length holds the loop only for a step at a time (about 10 ms
        /// for 250 ConfigMaps), and other requests are served in between.
        public var stepObjects = 250
        public var stepBytes = 1 << 20
        /// The scheduler's and controllers' tunables (their planted bugs come from the Raft config),
        /// and the defaults admission fills in, for the API's writes and the controllers' alike.
        public var control = ControlPlane.Options()

        public init(id: NodeID, members: [Member]) {
            self.id = id
            self.members = members
        }
    }

    /// Work for the driver.
    public enum Output {
        /// Raft I/O for the driver to carry out (send, persist, snapshot files, fatal).
        case raft(RaftHost<KVStore>.Output)
        /// The whole answer to a request.
        case respond(RequestID, HTTPResponse)
        /// A streamed answer starts (its status and headers; chunks follow).
        case startStream(RequestID, HTTPResponse)
        case streamChunk(RequestID, [UInt8])
        case endStream(RequestID)
        /// Send the request to the leader's API at `api` and relay its answer as the response.
        case forward(RequestID, HTTPRequest, api: String)
    }

    /// A write waiting for its entry to apply on this master: a client's, or the control plane's.
    struct PendingWrite {
        let completion: (KVStore.Applied) -> Void
        /// Runs when the entry has not applied within `writeTimeoutNs`: its outcome is unknown.
        let timedOut: () -> Void
    }

    /// Work waiting for its ReadIndex: a linearizable read, or a write to check again.
    struct PendingRead {
        let request: RequestID
        let run: () -> Void
    }

    var options: Options
    public internal(set) var host: RaftHost<KVStore>
    var outbox: [Output] = []
    var rng: SplitMix64
    /// The wall clock as of the last input, ns since the epoch.
    var nowNs: UInt64
    /// The recent changes, for watches that resume from a resourceVersion.
    var history: WatchHistory
    var watchers: [RequestID: Watcher] = [:]
    /// Watches still sending their start (the objects that match, or the history they resume from).
    var catchingUp: Set<RequestID> = []
    /// Lists being answered in steps.
    var lists: [RequestID: ListStream] = [:]
    var nextBookmarkNs: UInt64
    var nextWatchExpiryNs: UInt64 = 0
    /// This incarnation's client session in the store; sequences number its writes.
    let session: UInt64
    var nextSequence: UInt64 = 1
    /// Writes waiting for their entry, by sequence. Bounded by the core's limit on uncommitted
    /// bytes (429 past it) and by `writeTimeoutNs` (504), whichever comes first.
    var waitingWrites: [UInt64: PendingWrite] = [:]
    /// Sequences of waiting writes in the order their deadlines fall (all wait equally long).
    var writeDeadlines: [(deadlineNs: UInt64, sequence: UInt64)] = []
    var nextWriteDeadline = 0
    /// Work waiting for a ReadIndex, by context. Bounded: each entry holds a read the Raft core
    /// accepted, and the core refuses more than `RaftConfig.maxPendingReads` (429 here).
    var waitingReads: [UInt64: PendingRead] = [:]
    var nextReadContext: UInt64 = 1
    var proposedSystemNamespaces = false
    /// The scheduler and controllers: fed every applied change, acting while this master leads.
    public internal(set) var control: ControlPlane
    /// The term the control plane acts in.
    var controlTerm: Term = 0
    /// Writes the control plane proposed.
    public internal(set) var controlWrites: UInt64 = 0
    /// Entries this master proposed while leading.
    public internal(set) var proposals: UInt64 = 0
    /// Times the known leader changed.
    public internal(set) var leaderChanges: UInt64 = 0
    var lastLeader: NodeID?

    /// A core around `host` (recovered from disk), at wall-clock `nowNs`; `seed` drives uids, name
    /// suffixes and the client session.
    public init(options: Options, host: RaftHost<KVStore>, seed: UInt64, nowNs: UInt64) {
        self.options = options
        self.host = host
        self.nowNs = nowNs
        rng = SplitMix64(seed: seed)
        session = rng.next() | 1
        history = WatchHistory(capacity: options.watchHistoryEvents, startingAfter: host.machine.appliedIndex)
        nextBookmarkNs = nowNs + options.bookmarkIntervalNs
        var controlOptions = options.control
        controlOptions.plantedBugs = host.node.config.plantedBugs
        control = ControlPlane(options: controlOptions, seed: rng.next())
        control.rebuild(Self.items(of: host.machine))
    }

    /// Every stored item, for the control plane's view.
    static func items(of store: KVStore) -> [(key: String, value: String, version: UInt64)] {
        store.items.keys.map { key in (key, store.items[key]!.value, store.items[key]!.version) }
    }

    /// The replicated store, as applied on this master.
    public var store: KVStore { host.machine }
    /// Open watches.
    public var watchCount: Int { watchers.count }
    /// Changes kept for watches to resume from.
    public var historyCount: Int { history.count }

    // MARK: Inputs

    public func tick(nowNs: UInt64) {
        self.nowNs = max(self.nowNs, nowNs)
        host.tick()
        expireWrites()
        expireWatches()
        if self.nowNs >= nextBookmarkNs {
            sendBookmarks()
            nextBookmarkNs = self.nowNs + options.bookmarkIntervalNs
        }
        ensureSystemNamespaces()
        _ = runControlPlane()
    }

    public func step(_ message: Message) { host.step(message) }

    /// A member told where its API listens (in its peer handshake): forwards to it go there.
    public func learnAPIAddress(of member: NodeID, _ api: String) {
        guard let k = options.members.firstIndex(where: { $0.id == member }), options.members[k].api != api else { return }
        options.members[k].api = api
    }

    /// Hands leadership to `target` (for a clean shutdown).
    public func transferLeadership(to target: NodeID) { host.transferLeadership(to: target) }

    /// An API request arrived. Its answer comes out as `.respond`, `.startStream` or `.forward`.
    /// `route` is the request's path as parsed already by a driver that needed it, else nil.
    public func request(_ id: RequestID, _ request: HTTPRequest, route: APIRoute? = nil, nowNs: UInt64) {
        self.nowNs = max(self.nowNs, nowNs)
        handle(id, request, route: route ?? APIRoute(path: request.path))
    }

    /// The client of a streamed answer went away.
    public func streamClosed(_ id: RequestID) {
        watchers[id] = nil
        catchingUp.remove(id)
        lists[id] = nil
    }

    // MARK: Outputs

    public func process() -> [Output] {
        route(host.process())
        if runControlPlane() { route(host.process()) }
        advanceStreams()
        return takeOutputs()
    }

    /// Whether lists or watch starts are still being written: the driver should call `process()`
    /// again soon, after serving whatever else is waiting.
    public var hasPendingWork: Bool { !lists.isEmpty || !catchingUp.isEmpty }

    public func persisted(_ token: UInt64) -> [Output] {
        route(host.persisted(token))
        return takeOutputs()
    }

    public func snapshotWritten(_ metadata: SnapshotMetadata, data: [UInt8]) -> [Output] {
        route(host.snapshotWritten(metadata, data: data))
        return takeOutputs()
    }

    public func fail(_ message: String) -> [Output] {
        route(host.fail(message))
        return takeOutputs()
    }

    func takeOutputs() -> [Output] {
        defer { outbox = [] }
        return outbox
    }

    func respond(_ id: RequestID, _ response: HTTPResponse) { outbox.append(.respond(id, response)) }

    func respond(_ id: RequestID, _ error: APIError) { respond(id, .json(error.code, error.status.text)) }

    /// Handles what the host applied and read; passes its I/O on to the driver.
    func route(_ outputs: [RaftHost<KVStore>.Output]) {
        for output in outputs {
            switch output {
            case .softState(let soft): leadershipChanged(soft)
            case .applied(let entry, let applied): self.applied(entry, applied)
            case .readReady(let read): serveRead(read)
            case .restored(let metadata):
                history.reset(startingAfter: metadata.index)
                control.rebuild(Self.items(of: store))
                endWatches(APIError.gone("the state was replaced by a snapshot; list again"))
            case .send, .persist, .captureSnapshot, .adoptSnapshot, .discardSnapshot, .fatal:
                outbox.append(.raft(output))
            }
        }
    }

    func leadershipChanged(_ soft: SoftState) {
        if soft.leader != nil, soft.leader != lastLeader {
            leaderChanges += 1
            lastLeader = soft.leader
        }
        if soft.role != .leader {
            control.stepDown()
            failReads("leadership moved; retry")
            proposedSystemNamespaces = false  // The proposal may be lost; the next leader term retries.
        }
    }

    /// The namespaces that exist from the first start, as in Kubernetes: `default`, and
    /// `kube-node-lease` where node agents renew their Leases, and `kube-system`.
    static let systemNamespaces = ["default", "kube-node-lease", "kube-system"]

    /// Creates the system namespaces that do not exist yet (once per leader term).
    func ensureSystemNamespaces() {
        let node = host.node
        guard node.role == .leader, !proposedSystemNamespaces, node.hasCommittedInTerm, store.appliedIndex >= node.commitIndex else { return }
        proposedSystemNamespaces = true
        for name in Self.systemNamespaces where store.get(ResourceType.namespaces.key(namespace: nil, name: name)) == nil {
            let path = ResourcePath(type: .namespaces, namespace: nil, name: nil, subresource: nil)
            guard let object = try? Admission.create(path, ["metadata": ["name": .string(name)]], strict: true, stamp: stamp()) else { continue }
            let key = ResourceType.namespaces.key(namespace: nil, name: name)
            let request = KVRequest(client: session, sequence: takeSequence(), operation: .create(key: key, value: object.text))
            if (try? host.propose(request.encoded())) != nil { proposals += 1 }
        }
    }

    /// What the leader decides for a new object: a uid, the time, a name suffix.
    func stamp() -> WriteStamp { WriteStamp.make(using: &rng, nowSeconds: nowSeconds) }

    /// The wall clock in whole seconds since the epoch.
    var nowSeconds: Int64 { Int64(nowNs / 1_000_000_000) }
}

extension MasterCore: HostedCore {
    public static func raftIO(_ output: Output) -> RaftHost<KVStore>.Output? {
        if case .raft(let io) = output { return io }
        return nil
    }
}
