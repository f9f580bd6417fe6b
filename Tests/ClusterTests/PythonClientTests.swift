import Foundation
import Glibc
import Testing

/// The official Kubernetes Python client (`pip install kubernetes`) against a 3-master cluster:
/// typed create/list/patch/delete, and a `watch.Watch().stream` whose master is killed
/// mid-stream and which resumes on another master without losing or repeating an event. The
/// client side is `scripts/python-client-check.py`.
@Suite(.serialized)
struct PythonClientTests {
    @Test func pythonClientCrudAndWatchAcrossAKill() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/python-client-check.py").path
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import kubernetes"]
        try probe.run()
        probe.waitUntilExit()
        try #require(probe.terminationStatus == 0, "the Python client is not installed: pip install kubernetes (.ci/run does)")

        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        _ = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [1, 2, 3], name: "ready") != nil)
        let urls = (1...3).map { "http://127.0.0.1:\(cluster.port($0))" }.joined(separator: ",")
        let pids = (1...3).map { "\(cluster.pids[$0]!)" }.joined(separator: ",")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, urls, pids]
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": cluster.root]) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if let pid = cluster.pids[1] {  // killed by the script
            waitpid(pid, nil, 0)
            cluster.pids[1] = nil
        }
        #expect(process.terminationStatus == 0 && output.hasSuffix("ok\n"), "\(output)")
    }
}
