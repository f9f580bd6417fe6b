import Control
import Foundation
import Master

/// Benchmarks of the deterministic cores, run as a release build:
/// `swift run -c release bosun-bench scheduler [NODES...]` schedules 10,000 pods on clusters of
/// the given sizes (default 1,000 and 5,000 nodes) with the control plane alone — no Raft, no
/// HTTP — and prints the pods decided per second (decisions only, and decisions plus feeding
/// each bind back into the view, as the master does when the entry applies).
@main
enum BosunBench {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == "scheduler" else {
            FileHandle.standardError.write(Data("usage: bosun-bench scheduler [NODES...]\n".utf8))
            exit(2)
        }
        let sizes = arguments.dropFirst().compactMap { Int($0) }
        for nodes in sizes.isEmpty ? [1000, 5000] : sizes { scheduler(nodes: nodes, pods: 10_000) }
    }

    static func seconds(_ start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    static func scheduler(nodes: Int, pods: Int) {
        var plane = ControlPlane()
        var version: UInt64 = 0
        func put(_ key: String, _ object: JSON) {
            version += 1
            plane.observe(key: key, value: object.text, version: version)
        }
        for n in 0..<nodes {
            let node: JSON = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string("node-\(n)"), "uid": .string("n\(n)")],
                              "status": ["allocatable": ["cpu": "32", "memory": "128Gi", "pods": "110"], "conditions": [["type": "Ready", "status": "True"]]]]
            put("nodes//node-\(n)", node)
        }
        var objects: [String: JSON] = [:]
        for p in 0..<pods {
            let pod: JSON = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string("p\(p)"), "namespace": "default", "uid": .string("u\(p)"),
                                                                          "creationTimestamp": "2026-12-03T00:00:00Z"],
                             "spec": ["schedulerName": "default-scheduler", "containers": [["name": "c", "image": "i", "resources": ["requests": ["cpu": "100m", "memory": "128Mi"]]]]],
                             "status": ["phase": "Pending"]]
            objects["pods/default/p\(p)"] = pod
            put("pods/default/p\(p)", pod)
        }
        plane.lead(nowNs: 1_800_000_000_000_000_000)
        var decideSeconds = 0.0
        var bound = 0
        let total = DispatchTime.now().uptimeNanoseconds
        while bound < pods {
            let start = DispatchTime.now().uptimeNanoseconds
            let writes = plane.reconcile(nowNs: 1_800_000_000_000_000_000)
            decideSeconds += seconds(start)
            if writes.isEmpty { break }
            for write in writes {
                guard case .update(let key, let object, _) = write.operation, object[path: ["spec", "nodeName"]] != nil else {
                    plane.finished(write.id, succeeded: false)
                    continue
                }
                put(key, object)
                plane.finished(write.id, succeeded: true)
                bound += 1
            }
        }
        let all = seconds(total)
        print("scheduler: \(nodes) nodes, \(bound) of \(pods) pods bound: decisions \(Int(Double(bound) / decideSeconds)) pods/s, with the binds fed back \(Int(Double(bound) / all)) pods/s")
    }
}
