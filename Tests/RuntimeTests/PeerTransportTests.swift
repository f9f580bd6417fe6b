import Glibc
import Raft
@testable import Runtime
import Testing

/// The peer transport over real TCP sockets on 127.0.0.1, driven by a real epoll loop.
@Suite(.serialized)
struct PeerTransportTests {
    static let local = PeerTransport.Address(host: "127.0.0.1", port: 0)

    /// Two transports that know each other's (ephemeral) ports.
    static func pair(_ loop: EventLoop, maxQueueBytes: Int = 8 << 20) throws -> (PeerTransport, PeerTransport) {
        var a = PeerTransport.Options(cluster: "test", id: NodeID(1), listen: local, peers: [NodeID(2): local])
        a.maxQueueBytes = maxQueueBytes
        let ta = try PeerTransport(loop: loop, options: a)
        let tb = try PeerTransport(
            loop: loop,
            options: .init(cluster: "test", id: NodeID(2), listen: local, peers: [NodeID(1): .init(host: "127.0.0.1", port: ta.port)]))
        ta.setAddress(.init(host: "127.0.0.1", port: tb.port), for: NodeID(2))
        return (ta, tb)
    }

    /// Runs the loop until `done` holds or `timeoutMs` passes.
    static func run(_ loop: EventLoop, timeoutMs: UInt64 = 3000, until done: @escaping () -> Bool) {
        let deadline = EventLoop.nowNs() + timeoutMs * 1_000_000
        func poll() {
            if done() || EventLoop.nowNs() > deadline {
                loop.stop()
            } else {
                loop.schedule(afterNs: 1_000_000, poll)
            }
        }
        loop.schedule(afterNs: 0, poll)
        loop.run()
    }

    static func heartbeat(_ from: UInt64, _ to: UInt64, _ n: UInt64) -> Message {
        Message(from: NodeID(from), to: NodeID(to), term: 1, kind: .heartbeat(commit: n, readID: 0))
    }

    @Test func messagesFlowBothWaysInOrder() throws {
        let loop = try EventLoop()
        let (a, b) = try Self.pair(loop)
        var atB: [Message] = []
        var atA: [Message] = []
        b.onMessage = { atB.append($0) }
        a.onMessage = { atA.append($0) }
        let big = Message(from: NodeID(1), to: NodeID(2), term: 1,
            kind: .append(prevIndex: 0, prevTerm: 0, entries: (1...100).map { Entry(term: 1, index: $0, data: Array(repeating: 7, count: 10_000)) }, commit: 0))
        a.send((1...50).map { Self.heartbeat(1, 2, $0) } + [big])
        b.send([Self.heartbeat(2, 1, 9)])
        Self.run(loop) { atB.count == 51 && atA.count == 1 }
        #expect(atB.dropLast().map { m -> UInt64 in if case .heartbeat(let c, _) = m.kind { c } else { 0 } } == Array(1...50))
        #expect(atB.last == big)
        #expect(atA == [Self.heartbeat(2, 1, 9)])
        a.shutdown()
        b.shutdown()
    }

    /// A random byte stream, a wrong cluster name and a forged sender are each dropped with their
    /// connection; the transport keeps serving its real peer.
    @Test func badPeersAreDroppedAndServiceContinues() throws {
        let loop = try EventLoop()
        let (a, b) = try Self.pair(loop)
        var atB: [Message] = []
        b.onMessage = { atB.append($0) }
        var rng = SplitMix64(seed: 3)
        let garbage = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let wrongCluster = Frame.encode(Handshake(cluster: "other", node: NodeID(1)).encoded())
        let forged = Frame.encode(Handshake(cluster: "test", node: NodeID(1)).encoded())
            + Frame.encode(Self.heartbeat(3, 2, 1).encoded())
        var raw: [Int32] = []
        for bytes in [garbage, wrongCluster, forged] {
            let fd = try Socket.connect(host: "127.0.0.1", port: b.port)
            raw.append(fd)
            Self.run(loop, timeoutMs: 200) { Socket.pendingError(fd) == 0 && Socket.send(fd, bytes[...]) == bytes.count }
        }
        a.send([Self.heartbeat(1, 2, 1)])
        Self.run(loop) { b.stats.rejectedConnections == 3 && atB.count == 1 }
        #expect(b.stats.rejectedConnections == 3)
        #expect(atB == [Self.heartbeat(1, 2, 1)])
        raw.forEach { close($0) }
        a.shutdown()
        b.shutdown()
    }

    /// A peer that is down: messages wait in a bounded queue (the rest are dropped and counted)
    /// until a dial fails, which drops them as stale; once the peer is up, new messages arrive and
    /// none of the old backlog does.
    @Test func deadPeerQueueIsBoundedAndDroppedWhenADialFails() throws {
        let loop = try EventLoop()
        let (a, b) = try Self.pair(loop, maxQueueBytes: 2000)
        let port = b.port
        b.shutdown()
        a.send((1...200).map { Self.heartbeat(1, 2, $0) })
        #expect(a.stats.droppedMessages > 100)  // beyond the bound at once
        Self.run(loop, timeoutMs: 300) { false }
        #expect(a.stats.connectFailures >= 1)
        #expect(a.stats.droppedMessages == 200)  // the rest when the dial failed
        var options = PeerTransport.Options(cluster: "test", id: NodeID(2), listen: .init(host: "127.0.0.1", port: port), peers: [NodeID(1): .init(host: "127.0.0.1", port: a.port)])
        options.backoffMinNs = 1_000_000
        let revived = try PeerTransport(loop: loop, options: options)
        var received: [Message] = []
        revived.onMessage = { received.append($0) }
        a.send([Self.heartbeat(1, 2, 999)])
        Self.run(loop) { !received.isEmpty }
        Self.run(loop, timeoutMs: 100) { false }
        #expect(received == [Self.heartbeat(1, 2, 999)])
        a.shutdown()
        revived.shutdown()
    }

    /// The handshake carries the caller's API address; an over-long one, a truncated handshake or
    /// one of another protocol version is refused with a reason.
    @Test func handshakeCarriesTheAPIAddressAndRefusesBadOnes() throws {
        let hello = Handshake(cluster: "c", node: NodeID(2), api: "10.0.0.2:8080")
        #expect(try Handshake(decoding: hello.encoded()) == hello)
        let long = Handshake(cluster: "c", node: NodeID(2), api: String(repeating: "a", count: 301)).encoded()
        #expect(throws: DecodeError.self) { try Handshake(decoding: long) }
        #expect(throws: DecodeError.self) { try Handshake(decoding: Array(hello.encoded().dropLast())) }
        var old = hello.encoded()
        old[4] = 1  // version 1 had no API address
        #expect(throws: DecodeError.self) { try Handshake(decoding: old) }
    }

    @Test func frameDecoderReassemblesAndRefuses() throws {
        var decoder = FrameDecoder(maxPayloadBytes: 100)
        let frame = Frame.encode([1, 2, 3, 4, 5])
        for byte in frame { decoder.append([byte][...]); if decoder.bufferedBytes < frame.count { #expect(try decoder.next() == nil) } }
        #expect(try decoder.next() == [1, 2, 3, 4, 5])
        var tooBig = FrameDecoder(maxPayloadBytes: 4)
        tooBig.append(frame[...])
        #expect(throws: FrameDecoder.Failure.tooLarge(5)) { try tooBig.next() }
        var corrupt = FrameDecoder(maxPayloadBytes: 100)
        var bad = frame
        bad[9] ^= 1
        corrupt.append(bad[...])
        #expect(throws: FrameDecoder.Failure.checksumMismatch) { try corrupt.next() }
    }
}

/// Addresses: numeric, resolved by name, and refused when unresolvable.
struct SocketAddressTests {
    @Test func numericAndNamedAddresses() throws {
        let numeric = try Socket.address("127.0.0.1", 80)
        let named = try Socket.address("localhost", 80)
        #expect(numeric.sin_addr.s_addr == named.sin_addr.s_addr)
        #expect(UInt16(bigEndian: named.sin_port) == 80)
        #expect(throws: IOFailure.self) { try Socket.address("no-such-host.invalid", 80) }
    }

    /// Names resolve on a helper thread: pending first, then cached; numeric addresses at once;
    /// an unresolvable name fails and the failure is remembered for a while.
    @Test func resolverAnswersOffTheLoop() throws {
        let loop = try EventLoop()
        let resolver = HostResolver(loop: loop)
        #expect(resolver.resolve("127.0.0.1") {} == .address(in_addr(s_addr: inet_addr("127.0.0.1"))))
        var done = 0
        #expect(resolver.resolve("localhost") { done += 1 } == .pending)
        #expect(resolver.resolve("localhost") { done += 1 } == .pending)
        PeerTransportTests.run(loop) { done == 2 }
        #expect(done == 2)
        #expect(resolver.resolve("localhost") { Issue.record("a cached answer calls back") } == .address(in_addr(s_addr: inet_addr("127.0.0.1"))))
        var failedDone = false
        #expect(resolver.resolve("no-such-host.invalid") { failedDone = true } == .pending)
        PeerTransportTests.run(loop, timeoutMs: 10_000) { failedDone }
        #expect(resolver.resolve("no-such-host.invalid") {} == .failed)
    }

    /// A peer addressed by name: the transport resolves it off the loop and messages flow.
    @Test func peersByName() throws {
        let loop = try EventLoop()
        let (a, b) = try PeerTransportTests.pair(loop)
        a.setAddress(.init(host: "localhost", port: b.port), for: NodeID(2))
        var atB: [Message] = []
        b.onMessage = { atB.append($0) }
        a.send([PeerTransportTests.heartbeat(1, 2, 1)])
        PeerTransportTests.run(loop) { atB.count == 1 }
        #expect(atB == [PeerTransportTests.heartbeat(1, 2, 1)])
        a.shutdown()
        b.shutdown()
    }
}
