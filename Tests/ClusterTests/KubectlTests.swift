import Foundation
import Glibc
import Master
import Testing

/// The machine's `kubectl` against a 3-master cluster, talking to a follower (so every write is
/// forwarded to the leader): version, apply twice (the strategic merge PATCH path), replace,
/// scale, get -w, delete, create of an existing object, and the table output of get.
@Suite(.serialized)
struct KubectlTests {
    static func findOnPath(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    struct Kubectl {
        let binary: String
        let server: String
        let cacheDir: String

        /// Runs kubectl; returns exit status and stdout+stderr.
        func run(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--server", server, "--cache-dir", cacheDir, "--request-timeout", "10s"] + arguments
            process.environment = ["KUBECONFIG": "/dev/null", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin", "HOME": cacheDir]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            if let stdin {
                let input = Pipe()
                process.standardInput = input
                try process.run()
                input.fileHandleForWriting.write(Data(stdin.utf8))
                try input.fileHandleForWriting.close()
            } else {
                try process.run()
            }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    static let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: {app: web}
        spec:
          replicas: 2
          selector:
            matchLabels:
              app: web
          template:
            metadata:
              labels:
                app: web
            spec:
              containers:
              - name: main
                image: nginx:1.27
                ports:
                - containerPort: 80
                env:
                - {name: MODE, value: fast}
              - name: side
                image: busybox:1.36
                command: ["sleep", "3600"]
        """

    /// The same Deployment with 3 replicas, a new image and the side container gone.
    static var changedDeployment: String {
        let kept = deployment[..<deployment.firstRange(of: "      - name: side")!.lowerBound]
        return String(kept).replacing("replicas: 2", with: "replicas: 3").replacing("nginx:1.27", with: "nginx:1.28")
    }

    @Test func kubectlWorksAgainstAFollower() throws {
        let binary = try #require(Self.findOnPath("kubectl"), "kubectl is not on PATH (.ci/run installs it)")
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 3)
        cluster.startAll()
        let leader = try #require(cluster.leader(among: [1, 2, 3]))
        #expect(ClusterTests.timeToWrite(cluster, ids: [1, 2, 3], name: "ready") != nil)
        let follower = [1, 2, 3].first { $0 != leader }!
        let k = Kubectl(binary: binary, server: "http://127.0.0.1:\(cluster.port(follower))", cacheDir: cluster.root + "/kubectl")
        let files = cluster.root + "/manifests"
        mkdir(files, 0o755)

        let version = try k.run(["version"])
        #expect(version.status == 0 && version.output.contains("Server Version: v1.32.0-bosun"), "\(version.output)")

        try Self.deployment.write(toFile: files + "/web.yaml", atomically: true, encoding: .utf8)
        let created = try k.run(["apply", "-f", files + "/web.yaml"])
        #expect(created.output.contains("deployment.apps/web created"), "\(created.output)")
        try Self.changedDeployment.write(toFile: files + "/web.yaml", atomically: true, encoding: .utf8)
        let configured = try k.run(["apply", "-f", files + "/web.yaml"])
        #expect(configured.output.contains("deployment.apps/web configured"), "\(configured.output)")
        let unchanged = try k.run(["apply", "-f", files + "/web.yaml"])
        #expect(unchanged.output.contains("deployment.apps/web unchanged"), "\(unchanged.output)")

        let json = try k.run(["get", "deployment", "web", "-o", "json"])
        let object = try JSONParser.parse(json.output)
        #expect(object[path: ["spec", "replicas"]] == 3 && object[path: ["metadata", "generation"]] == 2)
        let containers = object[path: ["spec", "template", "spec", "containers"]]?.arrayValue ?? []
        #expect(containers.count == 1 && containers.first?["image"] == "nginx:1.28")
        #expect(containers.first?["ports"] == [["containerPort": 80, "protocol": "TCP"]] && containers.first?["env"] == [["name": "MODE", "value": "fast"]])

        let scaled = try k.run(["scale", "deployment", "web", "--replicas=5"])
        #expect(scaled.output.contains("deployment.apps/web scaled"), "\(scaled.output)")
        #expect(try k.run(["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]).output == "5")

        let wide = try k.run(["get", "deploy", "-o", "wide"])
        #expect(wide.output.contains("CONTAINERS") && wide.output.contains("nginx:1.28") && wide.output.contains("app=web"), "\(wide.output)")

        // replace, with the resourceVersion from a get: optimistic concurrency.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  a: \"1\"\n"
        try cm.write(toFile: files + "/cm.yaml", atomically: true, encoding: .utf8)
        #expect(try k.run(["create", "-f", files + "/cm.yaml"]).output.contains("configmap/demo created"))
        let duplicate = try k.run(["create", "-f", files + "/cm.yaml"])
        #expect(duplicate.status == 1 && duplicate.output.contains("AlreadyExists"), "\(duplicate.output)")
        let current = try k.run(["get", "cm", "demo", "-o", "yaml"]).output
        let replaced = try k.run(["replace", "-f", "-"], stdin: current.replacing("a: \"1\"", with: "a: \"2\""))
        #expect(replaced.output.contains("configmap/demo replaced"), "\(replaced.output)")
        #expect(try k.run(["get", "cm", "demo", "-o", "jsonpath={.data.a}"]).output == "2")
        let stale = try k.run(["replace", "-f", "-"], stdin: current)
        #expect(stale.status == 1 && stale.output.contains("Conflict"), "\(stale.output)")

        // get -w sees a configmap created through another master.
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: binary)
        watch.arguments = ["--server", k.server, "--cache-dir", k.cacheDir, "get", "configmaps", "-w"]
        watch.environment = ["KUBECONFIG": "/dev/null", "HOME": k.cacheDir]
        let pipe = Pipe()
        watch.standardOutput = pipe
        try watch.run()
        usleep(1_500_000)
        _ = HTTPTestClient.request("POST", port: cluster.port(leader), path: "/api/v1/namespaces/default/configmaps", body: ClusterTests.configMap("watched"))
        usleep(1_000_000)
        watch.terminate()
        let watched = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(watched.contains("NAME") && watched.contains("demo") && watched.contains("watched"), "\(watched)")
        #expect(watched.components(separatedBy: "demo ").count == 2, "demo listed more than once:\n\(watched)")

        let deleted = try k.run(["delete", "configmap", "demo"])
        #expect(deleted.output.contains("configmap \"demo\" deleted"), "\(deleted.output)")
        let missing = try k.run(["get", "configmap", "demo"])
        #expect(missing.status == 1 && missing.output.contains("NotFound"), "\(missing.output)")
        let all = try k.run(["get", "all"])
        #expect(all.output.contains("deployment.apps/web"), "\(all.output)")
    }

    /// `kubectl apply` then `bosun apply` of the same unchanged file is `unchanged`, and the other
    /// way round: both write the last-applied annotation the same way.
    @Test func kubectlAndBosunApplyAgreeOnUnchanged() throws {
        let binary = try #require(Self.findOnPath("kubectl"), "kubectl is not on PATH")
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 1)
        cluster.startAll()
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "ready") != nil)
        let server = "http://127.0.0.1:\(cluster.port(1))"
        let k = Kubectl(binary: binary, server: server, cacheDir: cluster.root + "/kubectl")
        let bosun = CLITests.CLI(binary: try ClusterTests.binary(), masters: server, dir: cluster.root)
        let files = cluster.root + "/manifests"
        mkdir(files, 0o755)
        try Self.deployment.write(toFile: files + "/web.yaml", atomically: true, encoding: .utf8)
        try "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n  size: \"3\"\n"
            .write(toFile: files + "/settings.yaml", atomically: true, encoding: .utf8)

        let byKubectl = try k.run(["apply", "-f", files + "/web.yaml"])
        #expect(byKubectl.output.contains("deployment.apps/web created"), "\(byKubectl.output)")
        let thenBosun = try bosun.run(["apply", "-f", files + "/web.yaml"])
        #expect(thenBosun.status == 0 && thenBosun.out.contains("unchanged"), "\(thenBosun)")

        let byBosun = try bosun.run(["apply", "-f", files + "/settings.yaml"])
        #expect(byBosun.out.contains("created"), "\(byBosun)")
        let thenKubectl = try k.run(["apply", "-f", files + "/settings.yaml"])
        #expect(thenKubectl.output.contains("configmap/settings unchanged"), "\(thenKubectl.output)")
    }
}
