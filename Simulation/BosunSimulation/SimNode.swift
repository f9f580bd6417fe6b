import Agent
import Host
import Master
import MasterCore
import Raft
import Store

/// One simulated master: the production `MasterCore` (and the `RaftHost` inside it) over a
/// simulated disk. The simulation carries out the core's outputs against its disk and network,
/// and routes its answers back to clients, directly or through the follower that forwarded.
struct SimNode {
    let index: Int
    var core: MasterCore
    var disk = SimDisk()
    var up = true
    var paused = false
    /// Bumped on every crash, so completions of a dead incarnation are ignored.
    var incarnation = 0
    /// Bumped whenever the node's tick chain stops (crash, pause), so a stale chain never doubles up.
    var tickEpoch = 0
    /// Events that reached the node while it was paused, replayed in order on resume.
    var inbox: [SimEvent] = []
    /// Where the answer to each request the core holds goes.
    var routes: [MasterCore.RequestID: Route] = [:]
    var nextRequestID: MasterCore.RequestID = 1
    /// The requests that are watches: any other answer the core streams (a list read in steps) is
    /// collected here and delivered whole, as an HTTP client reads a chunked body.
    var watchRequests: Set<MasterCore.RequestID> = []
    var collecting: [MasterCore.RequestID: HTTPResponse] = [:]
    /// Whether a `.continueWork` is on its way (the core has work it does in steps).
    var workScheduled = false

    /// Where an answer goes: to whoever asked, through the follower that forwarded the request, or
    /// as a watch stream to a watcher.
    enum Route {
        case direct(Asker, attempt: UInt64)
        case forwarded(from: Int, incarnation: Int, Asker, attempt: UInt64)
        case stream(Asker, attempt: UInt64)
    }

    var raft: RaftNode { core.host.node }
    var store: KVStore { core.store }
    var id: NodeID { raft.id }
}

/// Who sends requests: a client (reads and writes) or a watcher (lists and watches).
enum Asker: Equatable, CustomStringConvertible {
    case client(Int)
    case watcher(Int)
    /// An operator of the control-plane world.
    case caller(CallerID)
    /// A node agent (the attempt carries its incarnation and the core's request id).
    case agent(Int)

    var description: String {
        switch self {
        case .client(let c): "client \(c)"
        case .watcher(let w): "watcher \(w)"
        case .caller(let id): id.description
        case .agent(let a): "agent \(a)"
        }
    }
}

/// Everything that can happen in the simulated world.
enum SimEvent {
    case tick(node: Int, epoch: Int)
    case deliver(Message)
    case persisted(node: Int, incarnation: Int, token: UInt64)
    case snapshotWritten(node: Int, incarnation: Int, SnapshotMetadata, [UInt8])
    /// The driver's loop comes back to a core that has work left to do in steps.
    case continueWork(node: Int, incarnation: Int)
    case request(node: Int, Asker, attempt: UInt64, HTTPRequest)
    /// A follower's forward of a request reaches the leader.
    case forwarded(node: Int, from: Int, incarnation: Int, Asker, attempt: UInt64, HTTPRequest)
    /// The leader's answer to a forward reaches the follower, which relays it.
    case relay(node: Int, incarnation: Int, Asker, attempt: UInt64, HTTPResponse)
    case reply(Asker, attempt: UInt64, HTTPResponse)
    /// A watch stream delivers one chunk (empty: the stream has started), or ends (the master
    /// ended it, or the connection broke).
    case watchChunk(watcher: Int, attempt: UInt64, [UInt8])
    case watchEnded(watcher: Int, attempt: UInt64)
    case watcherStart(watcher: Int)
    case watcherTimeout(watcher: Int, attempt: UInt64)
    case clientTimeout(client: Int, attempt: UInt64)
    case clientSend(client: Int, attempt: UInt64)
    case clientStart(client: Int)
    case partitionStart
    case partitionEnd(generation: Int)
    case crash
    case crashNode(node: Int, incarnation: Int)
    case restart(node: Int)
    case pause
    case resume(node: Int, incarnation: Int)
    case heal
    case livenessCheck
    case quietCheck
    case transfer
    case isolate
    case rejoin(follower: Int, leader: Int, term: Term, epoch: Int)
    case rejoinCheck(follower: Int, leader: Int, term: Term, epoch: Int)
    case transferCheck(leader: Int, term: Term, target: Int, epoch: Int)
    case callerTimeout(CallerID, attempt: UInt64)
    case callerResend(CallerID, attempt: UInt64)
    case agentTick(agent: Int, incarnation: Int)
    /// An agent's watch stream delivers a chunk (empty: it started), or ends.
    case agentChunk(agent: Int, attempt: UInt64, [UInt8])
    case agentStreamEnded(agent: Int, attempt: UInt64, broken: Bool)
    case containerEvent(agent: Int, ContainerRun, SimContainerEvent)
    /// What a container event tells a paused agent, handed over when it resumes.
    case containerReport(agent: Int, ContainerRun, SimContainerEvent)
    case probeResult(agent: Int, incarnation: Int, ProbeID)
    case agentHeal(agent: Int, master: Int)
    case agentResume(agent: Int)
    /// An agent's request failed: its master's process is gone (connection refused or reset).
    case agentRequestFailed(agent: Int, attempt: UInt64)
    case agentStop
    case agentStart(agent: Int)
    case operatorStart(operatorClient: Int)

    var tag: UInt64 {
        switch self {
        case .tick: 1
        case .deliver: 2
        case .persisted: 3
        case .request: 4
        case .reply: 5
        case .clientTimeout: 6
        case .clientSend: 7
        case .clientStart: 8
        case .partitionStart: 9
        case .partitionEnd: 10
        case .crash: 11
        case .restart: 12
        case .pause: 13
        case .resume: 14
        case .heal: 15
        case .livenessCheck: 16
        case .quietCheck: 21
        case .transfer: 26
        case .isolate: 28
        case .rejoin: 29
        case .rejoinCheck: 30
        case .transferCheck: 27
        case .crashNode: 17
        case .snapshotWritten: 18
        case .forwarded: 19
        case .relay: 20
        case .watchChunk: 22
        case .watchEnded: 23
        case .watcherStart: 24
        case .watcherTimeout: 25
        case .callerTimeout: 31
        case .callerResend: 32
        case .agentTick: 33
        case .agentChunk: 37
        case .agentStreamEnded: 38
        case .containerEvent: 39
        case .probeResult: 40
        case .agentHeal: 41
        case .agentResume: 42
        case .agentRequestFailed: 43
        case .containerReport: 44
        case .agentStop: 34
        case .agentStart: 35
        case .operatorStart: 36
        case .continueWork: 45
        }
    }
}
