import Glibc
import Raft

/// Raft messages between masters over TCP. Each master listens on its peer address and dials
/// every other master; a connection starts with a `Handshake` naming the cluster and the caller,
/// then carries checksummed frames, each one binary-encoded `Message`. Outgoing frames wait in a
/// bounded queue per peer (a slow or dead peer cannot exhaust memory: beyond the bound, messages
/// are dropped and counted — Raft retries); a lost connection is redialled with capped
/// exponential backoff. Anything malformed closes the connection it came on, nothing more.
public final class PeerTransport {
    /// Where a peer listens.
    public struct Address: Equatable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: UInt16

        public init(host: String, port: UInt16) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }

        /// Reads `HOST:PORT` (the host may itself hold colons, as an IPv6 literal does).
        public init?(parsing text: String) {
            guard let colon = text.lastIndex(of: ":"), colon != text.startIndex, let port = UInt16(text[text.index(after: colon)...]) else { return nil }
            self.init(host: String(text[..<colon]), port: port)
        }
    }

    /// Tunables.
    public struct Options: Sendable {
        public var cluster: String
        public var id: NodeID
        public var listen: Address
        public var peers: [NodeID: Address]
        public var maxQueueBytes = 8 << 20
        public var maxFrameBytes = 16 << 20
        public var backoffMinNs: UInt64 = 20_000_000
        public var backoffMaxNs: UInt64 = 1_000_000_000
        /// This member's API address, told to every peer in the handshake (empty: none).
        public var advertisedAPI = ""

        public init(cluster: String, id: NodeID, listen: Address, peers: [NodeID: Address]) {
            self.cluster = cluster
            self.id = id
            self.listen = listen
            self.peers = peers
        }
    }

    /// What went wrong, counted.
    public struct Stats: Equatable, Sendable {
        public var droppedMessages = 0
        public var rejectedConnections = 0
        public var connectFailures = 0
    }

    final class Outbound {
        var fd: Int32?
        var connected = false
        /// Frames waiting, oldest first; `sentOfFirst` bytes of the first are on the wire.
        var frames: [[UInt8]] = []
        var sentOfFirst = 0
        var queuedBytes = 0
        var backoffNs: UInt64 = 0
        var nextAttemptNs: UInt64 = 0
        var retryTimer: UInt64?
    }

    final class Inbound {
        var decoder: FrameDecoder
        var peer: NodeID?

        init(maxFrameBytes: Int) {
            decoder = FrameDecoder(maxPayloadBytes: maxFrameBytes)
        }
    }

    let loop: EventLoop
    let resolver: HostResolver
    public private(set) var options: Options
    let listener: Int32
    /// The port actually listened on (useful when `options.listen.port` is 0).
    public let port: UInt16
    /// Called on the loop for every message received from a known peer.
    public var onMessage: (Message) -> Void = { _ in }
    /// Called with a peer's API address when it introduces itself.
    public var onPeerAPI: (NodeID, String) -> Void = { _, _ in }
    public private(set) var stats = Stats()
    private var outbound: [NodeID: Outbound] = [:]
    private var inbound: [Int32: Inbound] = [:]
    private var readBuffer = [UInt8](repeating: 0, count: 1 << 16)

    public init(loop: EventLoop, options: Options) throws(IOFailure) {
        self.loop = loop
        self.options = options
        resolver = HostResolver(loop: loop)
        listener = try Socket.listen(host: options.listen.host, port: options.listen.port)
        port = Socket.localPort(listener)
        for peer in options.peers.keys where peer != options.id {
            outbound[peer] = Outbound()
        }
        try loop.register(listener) { [unowned self] _, _, _ in self.acceptAll() }
    }

    /// Closes every connection and the listener.
    public func shutdown() {
        loop.unregister(listener)
        close(listener)
        for fd in Array(inbound.keys) { closeInbound(fd) }
        for (_, out) in outbound {
            if let timer = out.retryTimer { loop.cancel(timer) }
            if let fd = out.fd {
                loop.unregister(fd)
                close(fd)
            }
            out.fd = nil
        }
    }

    /// Changes where a peer is dialled (takes effect on the next connection).
    public func setAddress(_ address: Address, for peer: NodeID) {
        options.peers[peer] = address
        if outbound[peer] == nil && peer != options.id { outbound[peer] = Outbound() }
    }

    public func isConnected(to peer: NodeID) -> Bool {
        outbound[peer]?.connected == true
    }

    /// Queues messages (all of one `Ready` at once) and writes what the sockets take now.
    public func send(_ messages: [Message]) {
        var touched: [NodeID] = []
        for m in messages {
            guard let out = outbound[m.to] else {
                stats.droppedMessages += 1
                continue
            }
            let frame = Frame.encode(m.encoded())
            guard out.queuedBytes + frame.count <= options.maxQueueBytes else {
                stats.droppedMessages += 1
                continue
            }
            out.frames.append(frame)
            out.queuedBytes += frame.count
            if !touched.contains(m.to) { touched.append(m.to) }
        }
        for peer in touched { kick(peer) }
    }

    // MARK: Outbound

    private func kick(_ peer: NodeID) {
        guard let out = outbound[peer] else { return }
        if out.connected {
            flush(peer)
        } else if out.fd == nil && out.retryTimer == nil {
            let now = EventLoop.nowNs()
            if now >= out.nextAttemptNs {
                dial(peer)
            } else {
                out.retryTimer = loop.schedule(afterNs: out.nextAttemptNs - now) { [unowned self] in
                    out.retryTimer = nil
                    if !out.frames.isEmpty { self.dial(peer) }
                }
            }
        }
    }

    private func dial(_ peer: NodeID) {
        guard let out = outbound[peer], out.fd == nil, let address = options.peers[peer] else { return }
        let ip: in_addr
        switch resolver.resolve(address.host, whenDone: { [weak self] in self?.dial(peer) }) {
        case .address(let found): ip = found
        case .pending: return
        case .failed: return failOutbound(peer)
        }
        do {
            let fd = try Socket.connect(to: Socket.socketAddress(ip, address.port))
            out.fd = fd
            try loop.register(fd, writable: true) { [unowned self] readable, writable, hangup in
                self.outboundEvent(peer, readable: readable, writable: writable, hangup: hangup)
            }
        } catch {
            failOutbound(peer)
        }
    }

    private func outboundEvent(_ peer: NodeID, readable: Bool, writable: Bool, hangup: Bool) {
        guard let out = outbound[peer], let fd = out.fd else { return }
        if !out.connected {
            guard Socket.pendingError(fd) == 0, writable || !hangup else {
                failOutbound(peer)
                return
            }
            guard writable else { return }
            out.connected = true
            out.backoffNs = 0
            let hello = Frame.encode(Handshake(cluster: options.cluster, node: options.id, api: options.advertisedAPI).encoded())
            out.frames.insert(hello, at: 0)
            out.queuedBytes += hello.count
        }
        if hangup || readable {
            // Peers never write on our outbound connections: readability means it closed.
            if case .some(nil) = Socket.receive(fd, into: &readBuffer) {
                failOutbound(peer)
                return
            }
        }
        flush(peer)
    }

    private func flush(_ peer: NodeID) {
        guard let out = outbound[peer], let fd = out.fd, out.connected else { return }
        while let first = out.frames.first {
            guard let n = Socket.send(fd, first[out.sentOfFirst...]) else {
                failOutbound(peer)
                return
            }
            if n == 0 {
                loop.watch(fd, writable: true)
                return
            }
            out.sentOfFirst += n
            if out.sentOfFirst == first.count {
                out.frames.removeFirst()
                out.queuedBytes -= first.count
                out.sentOfFirst = 0
            }
        }
        loop.watch(fd, writable: false)
    }

    /// The connection is gone: drop a half-sent frame, back off, and redial if anything waits.
    /// A dial that failed drops every queued frame: by the next attempt they are stale, and a peer
    /// down for long would otherwise get a backlog of old appends when it returns (Raft sends
    /// again what still matters, from the peer's answer to the next heartbeat).
    private func failOutbound(_ peer: NodeID) {
        guard let out = outbound[peer] else { return }
        if let fd = out.fd {
            loop.unregister(fd)
            close(fd)
        }
        if !out.connected {
            stats.connectFailures += 1
            stats.droppedMessages += out.frames.count
            out.frames = []
            out.queuedBytes = 0
            out.sentOfFirst = 0
        }
        out.fd = nil
        out.connected = false
        if out.sentOfFirst > 0, let first = out.frames.first {
            out.frames.removeFirst()
            out.queuedBytes -= first.count
            out.sentOfFirst = 0
            stats.droppedMessages += 1
        }
        out.backoffNs = min(max(options.backoffMinNs, out.backoffNs * 2), options.backoffMaxNs)
        out.nextAttemptNs = EventLoop.nowNs() + out.backoffNs
        if !out.frames.isEmpty { kick(peer) }
    }

    // MARK: Inbound

    private func acceptAll() {
        while let fd = Socket.accept(listener) {
            inbound[fd] = Inbound(maxFrameBytes: options.maxFrameBytes)
            do {
                try loop.register(fd) { [unowned self] _, _, _ in self.readInbound(fd) }
            } catch {
                inbound[fd] = nil
                close(fd)
            }
        }
    }

    private func readInbound(_ fd: Int32) {
        guard let connection = inbound[fd] else { return }
        while true {
            switch Socket.receive(fd, into: &readBuffer) {
            case nil:
                return  // Would block: wait for more.
            case .some(nil):
                closeInbound(fd)
                return
            case .some(let bytes?):
                connection.decoder.append(bytes)
                do {
                    while let payload = try connection.decoder.next() {
                        guard accept(payload, on: connection) else {
                            reject(fd)
                            return
                        }
                    }
                } catch {
                    reject(fd)
                    return
                }
            }
        }
    }

    /// Handles one frame; false when the connection must be dropped.
    private func accept(_ payload: [UInt8], on connection: Inbound) -> Bool {
        guard let peer = connection.peer else {
            guard let hello = try? Handshake(decoding: payload), hello.cluster == options.cluster,
                hello.node != options.id, options.peers[hello.node] != nil
            else { return false }
            connection.peer = hello.node
            if !hello.api.isEmpty { onPeerAPI(hello.node, hello.api) }
            return true
        }
        guard let m = try? Message(decoding: payload), m.from == peer, m.to == options.id else { return false }
        onMessage(m)
        return true
    }

    private func reject(_ fd: Int32) {
        stats.rejectedConnections += 1
        closeInbound(fd)
    }

    private func closeInbound(_ fd: Int32) {
        loop.unregister(fd)
        close(fd)
        inbound[fd] = nil
    }
}
