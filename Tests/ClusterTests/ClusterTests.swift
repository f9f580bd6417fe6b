import Foundation
import Glibc
import Synchronization
import Testing

/// Real `bosun master` processes on 127.0.0.1 with real disks: kill the leader, pause it, lose a
/// quorum, and check that nothing acknowledged is lost. Needs `swift build` first (it runs the
/// built `bosun` binary).
@Suite(.serialized)
struct ClusterTests {
    static func binary() throws -> String {
        try #require(ClusterProcess.findBinary(), "no bosun binary next to the tests: run `swift build` first")
    }

    static func configMap(_ name: String) -> String {
        #"{"metadata":{"name":"\#(name)"},"data":{"k":"\#(name)"}}"#
    }

    /// The resourceVersion in a rendered object.
    static func version(_ body: String) -> String? {
        guard let range = body.firstRange(of: "\"resourceVersion\":\"") else { return nil }
        return String(body[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Writes until one succeeds through `ids`, returning the milliseconds it took.
    static func timeToWrite(_ cluster: ClusterProcess, ids: [Int], name: String, timeoutMs: Int = 10_000) -> Int? {
        let start = EventClock.nowMs()
        while EventClock.nowMs() - start < timeoutMs {
            for id in ids {
                if let reply = HTTPTestClient.request("POST", port: cluster.port(id), path: "/api/v1/namespaces/default/configmaps", body: configMap(name), timeoutMs: 1000),
                    reply.status == 201 || reply.status == 409
                {
                    return EventClock.nowMs() - start
                }
            }
            usleep(20_000)
        }
        return nil
    }

    @Test func killTheLeaderLoseNothingAndCatchUpBySnapshot() throws {
        let cluster = ClusterProcess(binary: try Self.binary(), count: 3, extra: ["--snapshot-entries", "100"])
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(Self.timeToWrite(cluster, ids: [1, 2, 3], name: "warmup") != nil)

        var acknowledged: [String: String] = [:]
        for k in 0..<300 {
            let id = k % 3 + 1
            let name = "cm-\(k)"
            if let reply = HTTPTestClient.request("POST", port: cluster.port(id), path: "/api/v1/namespaces/default/configmaps", body: Self.configMap(name)),
                reply.status == 201, let rv = Self.version(reply.body)
            {
                acknowledged[name] = rv
            }
        }
        #expect(acknowledged.count == 300)

        cluster.signal(leader, SIGKILL)
        let survivors = [1, 2, 3].filter { $0 != leader }
        let failoverMs = try #require(Self.timeToWrite(cluster, ids: survivors, name: "after-kill"))
        #expect(failoverMs < 3000)

        for id in survivors {
            let list = try #require(HTTPTestClient.request("GET", port: cluster.port(id), path: "/api/v1/namespaces/default/configmaps"))
            for (name, rv) in acknowledged {
                #expect(list.body.contains(#""name":"\#(name)","namespace":"default","resourceVersion":"\#(rv)""#), "\(name)@\(rv) on \(id)")
            }
        }
        // More writes while it is down, so it must catch up by snapshot (the log is compacted every 100).
        for k in 0..<250 { _ = HTTPTestClient.request("POST", port: cluster.port(survivors[0]), path: "/api/v1/namespaces/default/configmaps", body: Self.configMap("late-\(k)")) }
        cluster.start(leader)
        var converged = false
        for _ in 0..<100 {
            let applied = [1, 2, 3].map { cluster.status($0)?["appliedIndex"] }
            if applied[0] != nil && Set(applied).count == 1 { converged = true; break }
            usleep(100_000)
        }
        #expect(converged, "the restarted master did not converge")
    }

    /// Five masters: two may fail; a third takes the quorum and writes fail with 503/504 without
    /// corrupting anything; restarting them recovers.
    @Test func fiveMastersSurviveTwoFailuresNotThree() throws {
        let cluster = ClusterProcess(binary: try Self.binary(), count: 5)
        cluster.startAll()
        let first = try #require(cluster.leader(among: [1, 2, 3, 4, 5]))
        #expect(Self.timeToWrite(cluster, ids: [1, 2, 3, 4, 5], name: "one") != nil)
        cluster.signal(first, SIGKILL)
        var alive = [1, 2, 3, 4, 5].filter { $0 != first }
        let second = try #require(cluster.leader(among: alive))
        cluster.signal(second, SIGKILL)
        alive.removeAll { $0 == second }
        #expect(Self.timeToWrite(cluster, ids: alive, name: "two") != nil)
        let third = alive.removeFirst()
        cluster.signal(third, SIGKILL)
        let refused = HTTPTestClient.request("POST", port: cluster.port(alive[0]), path: "/api/v1/namespaces/default/configmaps", body: Self.configMap("three"), timeoutMs: 15_000)
        // Two of five cannot commit: the write is refused, or times out as of unknown outcome.
        let status = try #require(refused, "no answer within 15 s").status
        #expect([503, 504].contains(status), "\(String(describing: refused))")
        for id in [first, second, third] { cluster.start(id) }
        #expect(Self.timeToWrite(cluster, ids: [1, 2, 3, 4, 5], name: "four") != nil)
    }

    /// Without `--api-peers`, a follower learns the leader's API address from the leader's peer
    /// handshake and forwards writes and reads to it.
    @Test func followersLearnTheLeadersAPIAddress() throws {
        let cluster = ClusterProcess(binary: try Self.binary(), count: 3)
        cluster.apiPeers = false
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        let follower = [1, 2, 3].first { $0 != leader }!
        #expect(Self.timeToWrite(cluster, ids: [follower], name: "through-a-follower") != nil)
        let read = HTTPTestClient.request("GET", port: cluster.port(follower), path: "/api/v1/namespaces/default/configmaps/through-a-follower")
        #expect(read?.status == 200)
        let status = try #require(HTTPTestClient.request("GET", port: cluster.port(follower), path: "/cluster/status"))
        #expect(status.body.contains(#""apiAddress":"127.0.0.1:\#(cluster.port(leader))""#), "\(status.body)")
    }

    /// SIGTERM on the leader: it hands leadership over before exiting, so writes resume without
    /// waiting for an election timeout, and it exits cleanly.
    @Test func sigtermHandsLeadershipOver() throws {
        let cluster = ClusterProcess(binary: try Self.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(Self.timeToWrite(cluster, ids: [1, 2, 3], name: "before") != nil)
        let pid = try #require(cluster.pids[leader])
        kill(pid, SIGTERM)
        var status: Int32 = 0
        var exited = false
        for _ in 0..<100 where !exited {
            exited = waitpid(pid, &status, WNOHANG) == pid
            if !exited { usleep(50_000) }
        }
        #expect(exited, "the leader did not exit within 5 s of SIGTERM")
        if !exited { kill(pid, SIGKILL); waitpid(pid, &status, 0) }
        cluster.pids[leader] = nil
        #expect(exited && status == 0, "exit status \(status)")
        let others = [1, 2, 3].filter { $0 != leader }
        let newLeader = try #require(cluster.leader(among: others, timeoutMs: 2000))
        #expect(cluster.status(newLeader)?["term"] != nil)
        #expect(Self.timeToWrite(cluster, ids: others, name: "after", timeoutMs: 2000) != nil)
    }

    /// A paused leader (SIGSTOP past the election timeout) steps down when it resumes; a write it
    /// took while paused is never acknowledged unless committed.
    @Test func pausedLeaderStepsDown() throws {
        let cluster = ClusterProcess(binary: try Self.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(Self.timeToWrite(cluster, ids: [leader], name: "before") != nil)
        cluster.signal(leader, SIGSTOP)
        // A write sent to the paused leader waits in its socket until it resumes.
        let port = cluster.port(leader)
        let answer = Mutex<(status: Int, body: String)??>(nil)
        let thread = Thread {
            let reply = HTTPTestClient.request("POST", port: port, path: "/api/v1/namespaces/default/configmaps", body: Self.configMap("paused"), timeoutMs: 20_000)
            answer.withLock { $0 = .some(reply) }
        }
        thread.start()
        let others = [1, 2, 3].filter { $0 != leader }
        #expect(Self.timeToWrite(cluster, ids: others, name: "during") != nil)
        cluster.signal(leader, SIGCONT)
        for _ in 0..<300 where answer.withLock({ $0 == nil }) { usleep(50_000) }
        let reply = try #require(answer.withLock { $0 } ?? nil, "the paused leader never answered")
        let committed = HTTPTestClient.request("GET", port: cluster.port(others[0]), path: "/api/v1/namespaces/default/configmaps/paused")
        if reply.status == 201 {
            #expect(committed?.status == 200, "acknowledged but not committed")
        } else {
            #expect([503, 504].contains(reply.status), "\(reply)")  // refused, or of unknown outcome
        }
        var steppedDown = false
        for _ in 0..<50 {
            if let s = cluster.status(leader), s["role"] != "leader" { steppedDown = true; break }
            usleep(100_000)
        }
        #expect(steppedDown)
    }
}

enum EventClock {
    static func nowMs() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int(ts.tv_sec) * 1000 + Int(ts.tv_nsec) / 1_000_000
    }
}
