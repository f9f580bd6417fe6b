import Glibc
import Testing

/// `GET /metrics` counts what happened, in the Prometheus text format.
@Suite(.serialized)
struct MetricsTests {
    @Test func metricsCountRequestsRaftAndWatches() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [leader], name: "ready") != nil)
        for k in 0..<5 {
            _ = HTTPTestClient.request("POST", port: cluster.port(leader), path: "/api/v1/namespaces/default/configmaps", body: ClusterTests.configMap("m\(k)"))
        }
        _ = HTTPTestClient.request("GET", port: cluster.port(leader), path: "/api/v1/namespaces/default/configmaps/nope")
        let watch = try #require(WatchStream(port: cluster.port(leader), path: "/api/v1/namespaces/default/configmaps?watch=true"))
        _ = watch.events(timeoutMs: 300)
        let page = try #require(HTTPTestClient.request("GET", port: cluster.port(leader), path: "/metrics"))
        #expect(page.status == 200)
        let lines = Set(page.body.split(separator: "\n").map(String.init))
        func value(_ prefix: String) -> Double? {
            lines.first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        #expect(value(#"bosun_api_requests_total{verb="create",resource="configmaps",code="201"}"#).map { $0 >= 5 } == true, "\(page.body)")
        #expect(value(#"bosun_api_requests_total{verb="get",resource="configmaps",code="404"}"#) == 1)
        #expect(value(#"bosun_api_request_duration_seconds_count{verb="create",resource="configmaps"}"#).map { $0 >= 5 } == true)
        #expect(value("bosun_raft_is_leader") == 1 && value("bosun_raft_term").map { $0 >= 1 } == true)
        #expect(value("bosun_raft_applied_index") == value("bosun_raft_commit_index"))
        #expect(value("bosun_raft_proposals_total").map { $0 >= 6 } == true)
        #expect(value("bosun_wal_fsync_duration_seconds_count").map { $0 >= 6 } == true)
        #expect(value("bosun_watches") == 1)
        #expect(lines.contains("# TYPE bosun_wal_fsync_duration_seconds histogram"))
    }
}
