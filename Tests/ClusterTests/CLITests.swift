import Foundation
import Glibc
import Master
import Testing

/// The `bosun` CLI against a 3-master cluster: apply (create, configure, unchanged), get in every
/// output, describe, scale, delete, cluster status, and working on while the first master it
/// knows is down. Bad input: usage errors exit 2, refusals exit 1, manifest errors name the place.
@Suite(.serialized)
struct CLITests {
    struct CLI {
        let binary: String
        let masters: String
        let dir: String

        func run(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = arguments
            process.environment = ["BOSUN_MASTERS": masters, "PATH": "/usr/bin:/bin"]
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
            let out = Pipe()
            let err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let input = Pipe()
            process.standardInput = input
            try process.run()
            if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
            try input.fileHandleForWriting.close()
            let outText = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, outText, errText)
        }
    }

    /// `bosun apply` in a loop across `kill -9` of the leader: every one succeeds, the one sent
    /// into the election waiting it out; `get` of several types and names behaves as kubectl's.
    @Test func applyRidesThroughKillOfTheLeader() throws {
        let binary = try ClusterTests.binary()
        let cluster = ClusterProcess(binary: binary, count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [1, 2, 3], name: "ready") != nil)
        // The leader first: the CLI starts with the master that is about to die.
        let order = [leader] + [1, 2, 3].filter { $0 != leader }
        let cli = CLI(binary: binary, masters: order.map { "http://127.0.0.1:\(cluster.port($0))" }.joined(separator: ","), dir: cluster.root)
        for k in 0..<12 {
            if k == 4 { cluster.signal(leader, SIGKILL) }
            let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ride-\(k)\ndata:\n  k: v\n"
            let applied = try cli.run(["apply", "-f", "-"], stdin: manifest)
            #expect(applied.status == 0 && applied.out == "configmap/ride-\(k) created\n", "apply \(k): \(applied)")
        }
        let several = try cli.run(["get", "cm,ns"])
        #expect(several.status == 0 && several.out.contains("configmap/ride-11") && several.out.contains("namespace/default"), "\(several)")
        let some = try cli.run(["get", "cm", "ride-0", "missing", "ride-1"])
        #expect(some.status == 1 && some.out.contains("ride-0") && some.out.contains("ride-1"), "\(some)")
        #expect(some.err.contains(#"configmaps "missing" not found"#), "\(some)")
        let empty = try cli.run(["apply", "-f", "-"], stdin: "# nothing here\n")
        #expect(empty.status == 1 && empty.err.contains("error: no objects passed to apply"), "\(empty)")
    }

    /// `get -w` whose every master stops (cleanly, ending the stream) keeps trying for
    /// `--retry-seconds`, then exits 1 saying so; before, it exited 0 as if the watch were done.
    @Test func watchFailsLoudlyWhenEveryMasterStops() throws {
        let binary = try ClusterTests.binary()
        let cluster = ClusterProcess(binary: binary, count: 1)
        cluster.startAll()
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "watched") != nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["get", "configmaps", "-w", "--retry-seconds", "2"]
        process.environment = ["BOSUN_MASTERS": "http://127.0.0.1:\(cluster.port(1))"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        usleep(1_000_000)
        cluster.signal(1, SIGTERM)
        let stoppedAt = Date()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let waited = Date().timeIntervalSince(stoppedAt)
        #expect(process.terminationStatus == 1, "\(errText)")
        #expect(errText.contains("no master answered within 2 s"), "\(errText)")
        #expect(waited >= 1.5 && waited < 10, "kept trying for the retry time: \(waited) s")
        #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("watched"))
    }

    @Test func cliCommandsAndFailover() throws {
        let binary = try ClusterTests.binary()
        let cluster = ClusterProcess(binary: binary, count: 3)
        cluster.startAll()
        _ = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [1, 2, 3], name: "ready") != nil)
        let cli = CLI(binary: binary, masters: (1...3).map { "http://127.0.0.1:\(cluster.port($0))" }.joined(separator: ","), dir: cluster.root)
        try KubectlTests.deployment.write(toFile: cluster.root + "/web.yaml", atomically: true, encoding: .utf8)

        let created = try cli.run(["apply", "-f", cluster.root + "/web.yaml"])
        #expect(created.status == 0 && created.out == "deployment.apps/web created\n", "\(created)")
        #expect(try cli.run(["apply", "-f", cluster.root + "/web.yaml"]).out == "deployment.apps/web unchanged\n")
        try KubectlTests.changedDeployment.write(toFile: cluster.root + "/web.yaml", atomically: true, encoding: .utf8)
        #expect(try cli.run(["apply", "-f", cluster.root + "/web.yaml"]).out == "deployment.apps/web configured\n")
        let json = try JSONParser.parse(try cli.run(["get", "deploy", "web", "-o", "json"]).out)
        let containers = json[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        #expect(containers.map { $0["name"] } == ["main"] && containers.first?["ports"] == [["containerPort": 80, "protocol": "TCP"]])
        #expect(json[path: ["spec", "replicas"]] == 3)

        let table = try cli.run(["get", "deployments", "-o", "wide"])
        let lines = table.out.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NAME   READY   UP-TO-DATE   AVAILABLE   AGE") == true && lines.count == 2, "\(table.out)")
        #expect(lines.last?.contains("nginx:1.28") == true && lines.last?.contains("app=web") == true)
        let yaml = try YAMLParser.parseDocuments(try cli.run(["get", "deployment", "web", "-o", "yaml"]).out)
        #expect(yaml.first?[path: ["metadata", "name"]] == "web")
        #expect(try cli.run(["get", "deploy", "-o", "name"]).out == "deployment.apps/web\n")
        #expect(try cli.run(["scale", "deployment", "web", "--replicas", "5"]).out == "deployment.apps/web scaled\n")
        #expect(try cli.run(["get", "deploy", "web", "-o", "json"]).out.contains("\"replicas\": 5"))
        var described = ""
        for _ in 0..<50 {  // the scale-up's event is written once the ReplicaSet's scaling applied
            described = try cli.run(["describe", "deploy", "web"]).out
            if described.contains("Scaled up replica set web-"), described.contains(" to 5") { break }
            usleep(100_000)
        }
        #expect(described.hasPrefix("Name:         web\nNamespace:    default\n"), "\(described)")
        #expect(described.contains("Events:\n") && described.contains("ScalingReplicaSet") && described.contains(" to 5"), "\(described)")

        // Manifests from stdin, a List, a selector, all namespaces.
        let manifests = """
            apiVersion: v1
            kind: List
            items:
            - {apiVersion: v1, kind: ConfigMap, metadata: {name: one, labels: {tier: a}}, data: {k: v}}
            - {apiVersion: v1, kind: ConfigMap, metadata: {name: two, labels: {tier: b}}}
            """
        #expect(try cli.run(["create", "-f", "-"], stdin: manifests).out == "configmap/one created\nconfigmap/two created\n")
        let selected = try cli.run(["get", "cm", "-l", "tier in (b)"]).out
        #expect(selected.contains("two") && !selected.contains("one"), "\(selected)")
        #expect(try cli.run(["get", "configmaps", "-A"]).out.hasPrefix("NAMESPACE   NAME"))

        // The first master the CLI knows goes down: it carries on with the others.
        cluster.signal(1, SIGKILL)
        let status = try cli.run(["cluster", "status"])
        #expect(status.status == 0 && status.out.contains("unreachable") && status.out.contains("2 of 3 masters up, quorum 2"), "\(status)")
        var deleted: (status: Int32, out: String, err: String) = (1, "", "")
        for _ in 0..<50 where deleted.status != 0 {
            deleted = try cli.run(["delete", "-f", "-"], stdin: manifests)
            if deleted.status != 0 { usleep(100_000) }
        }
        #expect(deleted.out == "configmap \"one\" deleted\nconfigmap \"two\" deleted\n", "\(deleted)")
        // The example in the README.
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/examples/web.yaml").path
        let applied = try cli.run(["apply", "-f", example])
        #expect(applied.out == "configmap/web-config created\ndeployment.apps/web configured\n", "\(applied)")
        let all = try cli.run(["get", "all"]).out
        #expect(all.hasPrefix("NAME ") && all.contains("deployment.apps/web   0/2"), "\(all)")
        let missing = try cli.run(["get", "cm", "one"])
        #expect(missing.status == 1 && missing.err.contains("Error from server (NotFound): configmaps \"one\" not found"), "\(missing)")
    }

    @Test func badInputExitsWithTheRightStatus() throws {
        let cli = CLI(binary: try ClusterTests.binary(), masters: "http://127.0.0.1:1", dir: "/tmp")
        for arguments in [["get"], ["get", "pods", "--bogus"], ["scale", "deployment", "web"], ["apply"], ["get", "pods", "-o", "xml"],
                          ["cluster", "health"], ["get", "pods", "--masters", "ftp:x"]] {
            let result = try cli.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result)")
        }
        let unknownType = try cli.run(["get", "widgets"])
        #expect(unknownType.status == 1 && unknownType.err.contains("doesn't have a resource type \"widgets\""))
        let noMaster = try cli.run(["get", "pods"])
        #expect(noMaster.status == 1 && noMaster.err.contains("no master answered"), "\(noMaster)")
        let badYAML = try cli.run(["apply", "-f", "-"], stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n    labels: {}\n")
        #expect(badYAML.status == 1 && badYAML.err.contains("<stdin>:5:5: bad indentation of a mapping entry"), "\(badYAML)")
        let badJSON = try cli.run(["apply", "-f", "-"], stdin: "{\"apiVersion\": \"v1\",\n \"kind\": }")
        #expect(badJSON.status == 1 && badJSON.err.contains("<stdin>:2:10: unexpected character '}', expected a value"), "\(badJSON)")
        let unknownKind = try cli.run(["apply", "-f", "-"], stdin: "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n")
        #expect(unknownKind.status == 1 && unknownKind.err.contains("no kind \"Widget\" is served in version \"v1\""), "\(unknownKind)")
        let missingFile = try cli.run(["apply", "-f", "/nonexistent.yaml"])
        #expect(missingFile.status == 1 && missingFile.err.contains("does not exist"))
    }
}
