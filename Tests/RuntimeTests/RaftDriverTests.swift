import Glibc
import Host
import Raft
@testable import Runtime
import Testing

/// Three Raft drivers in one process with real sockets and real write-ahead logs: they elect a
/// leader, replicate, survive a stopped member, and the member recovers from its disk and catches
/// up (by snapshot, since the others compacted meanwhile).
@Suite(.serialized)
final class RaftDriverTests {
    /// The replicated state: the normal entries' text, in order.
    struct StringLog: ReplicatedStateMachine {
        var strings: [String] = []
        var appliedIndex: LogIndex = 0

        mutating func apply(_ entry: Entry) {
            appliedIndex = entry.index
            if entry.kind == .normal { strings.append(String(decoding: entry.data, as: UTF8.self)) }
        }

        mutating func restore(_ snapshot: Snapshot) throws {
            var r = BinaryReader(snapshot.data)
            let count = try r.readUInt32()
            strings = try (0..<count).map { _ in try r.readString() }
            appliedIndex = snapshot.metadata.index
        }

        func snapshotEncoder() -> @Sendable () -> [UInt8] {
            let list = strings
            return {
                var w = BinaryWriter()
                w.write(UInt32(list.count))
                list.forEach { w.writeString($0) }
                return w.bytes
            }
        }
    }

    typealias Driver = RaftDriver<RaftHost<StringLog>>
    let root: String
    var drivers: [UInt64: Driver] = [:]

    func applied(_ id: UInt64) -> [String]? { drivers[id]?.core.machine.strings }

    init() {
        var template = Array("/tmp/bosun-driver-XXXXXX".utf8CString)
        root = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
    }

    deinit {
        for id in 1...3 {
            let dir = root + "/n\(id)"
            for name in (try? FileIO.list(dir)) ?? [] { unlink(dir + "/" + name) }
            rmdir(dir)
        }
        rmdir(root)
    }

    func driver(_ loop: EventLoop, _ id: UInt64, port: UInt16 = 0) throws -> Driver {
        let peers = [UInt64(1), 2, 3].filter { $0 != id }.map { (NodeID($0), PeerTransport.Address(host: "127.0.0.1", port: 0)) }
        var options = Driver.Options(
            transport: .init(cluster: "t", id: NodeID(id), listen: .init(host: "127.0.0.1", port: port), peers: Dictionary(uniqueKeysWithValues: peers)),
            dataDirectory: root + "/n\(id)")
        options.snapshotEveryEntries = 20
        options.transport.backoffMinNs = 5_000_000
        let d = try Driver(loop: loop, options: options, empty: StringLog()) { $0 }
        d.onFatal = { Issue.record("fatal: \($0)") }
        drivers[id] = d
        return d
    }

    static func connect(_ drivers: [Driver]) {
        for a in drivers {
            for b in drivers where a !== b {
                a.transport.setAddress(.init(host: "127.0.0.1", port: b.transport.port), for: b.node.id)
            }
        }
    }

    @Test func replicateSurviveAStoppedMemberAndCatchUpFromDisk() throws {
        let loop = try EventLoop()
        var drivers = try [1, 2, 3].map { try driver(loop, UInt64($0)) }
        Self.connect(drivers)
        drivers.forEach { $0.start() }
        PeerTransportTests.run(loop, timeoutMs: 5000) { drivers.contains { $0.node.role == .leader } }
        let leader = try #require(drivers.first { $0.node.role == .leader })
        for k in 0..<50 { _ = try leader.core.propose(Array("a\(k)".utf8)) }
        leader.processSoon()
        PeerTransportTests.run(loop, timeoutMs: 5000) { [1, 2, 3].allSatisfy { self.applied($0)?.count == 50 } }
        #expect([1, 2, 3].allSatisfy { applied($0) == (0..<50).map { "a\($0)" } })

        // Stop a follower; the other two carry on.
        let victim = try #require(drivers.first { $0 !== leader })
        let victimID = victim.node.id.rawValue
        let victimPort = victim.transport.port
        victim.stop()
        drivers.removeAll { $0 === victim }
        for k in 0..<60 { _ = try leader.core.propose(Array("b\(k)".utf8)) }
        leader.processSoon()
        let survivors = ([1, 2, 3] as [UInt64]).filter { $0 != victimID }
        PeerTransportTests.run(loop, timeoutMs: 5000) {
            survivors.allSatisfy { self.applied($0)?.count == 110 } && drivers.allSatisfy { $0.node.snapshotIndex > 60 }
        }
        // Both survivors compacted past everything the stopped member has: it can only catch up by snapshot.
        #expect(drivers.allSatisfy { $0.node.snapshotIndex > 60 })

        // Restart it from its data directory on the same port: it recovers and catches up.
        let revived = try driver(loop, victimID, port: victimPort)
        Self.connect(drivers + [revived])
        revived.start()
        #expect(revived.node.lastIndex >= 51)  // recovered from its own log
        PeerTransportTests.run(loop, timeoutMs: 5000) { self.applied(victimID)?.count == 110 }
        #expect(applied(victimID) == applied(survivors[0]))
        #expect(revived.snapshotsInstalled == 1)  // caught up by the snapshot, not by the log
        (drivers + [revived]).forEach { $0.stop() }
    }
}
