import Glibc
import Testing

/// Bad input at the API of a real master: each refused with the right status and a `Status` body,
/// then a swarm of random requests; the master keeps serving and its data stays intact.
@Suite(.serialized)
struct APIBadInputTests {
    @Test func badRequestsAreRefusedAndNothingBreaks() throws {
        let cluster = ClusterProcess(binary: try ClusterTests.binary(), count: 1)
        cluster.start(1)
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "kept") != nil)
        let port = cluster.port(1)
        let cm = "/api/v1/namespaces/default/configmaps"
        let cases: [(String, String, String?, String?, Int)] = [
            ("POST", cm, "{\"metadata\":", nil, 400),
            ("POST", cm, "[]", nil, 400),
            ("POST", cm, String(repeating: "[", count: 5000), nil, 400),
            ("POST", cm, #"{"metadata":{"name":"x"},"data":{"k":1}}"#, nil, 422),
            ("POST", cm + "?fieldValidation=Strict", #"{"metadata":{"name":"x"},"datta":{}}"#, nil, 400),
            ("POST", cm, #"{"metadata":{"name":"x"}}"#, "application/vnd.kubernetes.protobuf", 415),
            ("POST", "/api/v1/namespaces/nope/configmaps", #"{"metadata":{"name":"x"}}"#, nil, 404),
            ("POST", "/api/v1/pods", #"{"metadata":{"name":"x"}}"#, nil, 405),
            ("PATCH", cm + "/kept", #"{"data":{"a":"b"}}"#, "application/xml", 415),
            ("PATCH", cm + "/kept", "{not json", "application/merge-patch+json", 400),
            ("PATCH", cm + "/kept", #"[{"op":"remove","path":"/nope"}]"#, "application/json-patch+json", 422),
            ("PATCH", cm + "/kept", #"{"$patch":"explode"}"#, "application/strategic-merge-patch+json", 400),
            ("PATCH", cm + "/missing", #"{}"#, "application/merge-patch+json", 404),
            ("PUT", cm + "/kept", #"{"metadata":{"name":"other"}}"#, nil, 400),
            ("PUT", cm + "/kept", #"{"metadata":{"name":"kept","resourceVersion":"1"}}"#, nil, 409),
            ("PUT", cm + "/kept", #"{"metadata":{"name":"kept","resourceVersion":"x"}}"#, nil, 400),
            ("GET", cm + "?labelSelector=a%20in%20(b", nil, nil, 400),
            ("GET", cm + "?fieldSelector=spec.nodeName%3Dx", nil, nil, 400),
            ("GET", cm + "?limit=-1", nil, nil, 400),
            ("GET", cm + "?limit=2&continue=zzz", nil, nil, 400),
            ("GET", cm + "?watch=true&resourceVersion=abc", nil, nil, 400),
            ("GET", cm + "?watch=true&timeoutSeconds=-5", nil, nil, 400),
            ("GET", "/apis/apps/v1/namespaces/default/deployments/none/scale", nil, nil, 404),
            ("GET", "/api/v1/namespaces/default/configmaps/kept/scale", nil, nil, 404),
            ("GET", "/api/v1/namespaces/default/configmaps/kept/status", nil, nil, 404),
            ("GET", "/apis/nope/v1/things", nil, nil, 404),
            ("DELETE", "/api/v1/namespaces/default", nil, nil, 403),
            ("DELETE", cm + "/kept", #"{"preconditions":{"uid":"wrong"}}"#, nil, 409),
            ("DELETE", cm + "/kept", "{bad", nil, 400),
            ("POST", "/version", "{}", nil, 405),
        ]
        for (method, path, body, type, status) in cases {
            let reply = HTTPTestClient.request(method, port: port, path: path, body: body, contentType: type)
            #expect(reply?.status == status, "\(method) \(path): \(reply.map { "\($0.status) \($0.body)" } ?? "no answer")")
            #expect(reply?.body.contains(#""kind":"Status""#) == true, "\(method) \(path): \(reply?.body ?? "")")
        }

        // A swarm of random requests.
        var g = SystemRandomNumberGenerator()
        let paths = [cm, cm + "/kept", cm + "/x", "/api/v1/namespaces", "/apis/apps/v1/namespaces/default/deployments",
                     "/apis/apps/v1/namespaces/default/deployments/d/scale", "/api/v1/pods", "/api/v1/nodes/n/status", "/openapi/v3/api/v1"]
        let types = [nil, "application/json", "application/merge-patch+json", "application/json-patch+json", "application/strategic-merge-patch+json"]
        let pieces = ["{", "}", "[", "]", "\"", ":", ",", "metadata", "name", "\"kept\"", "null", "1", "$patch", "spec", "replicas", "op", "/", "~"]
        for _ in 0..<300 {
            let method = ["GET", "POST", "PUT", "PATCH", "DELETE"][Int(g.next() % 5)]
            let body = (0..<Int(g.next() % 30)).map { _ in pieces[Int(g.next() % UInt64(pieces.count))] }.joined()
            let reply = HTTPTestClient.request(method, port: port, path: paths[Int(g.next() % UInt64(paths.count))], body: body,
                                               contentType: types[Int(g.next() % UInt64(types.count))])
            #expect(reply != nil && reply!.status < 500, "\(method) \(body): \(reply.map { "\($0.status) \($0.body)" } ?? "no answer")")
        }
        #expect(HTTPTestClient.request("GET", port: port, path: "/healthz")?.status == 200)
        let kept = HTTPTestClient.request("GET", port: port, path: cm + "/kept")
        #expect(kept?.status == 200 || kept?.status == 404)  // the swarm may have deleted or patched it, never corrupted it
        #expect(ClusterTests.timeToWrite(cluster, ids: [1], name: "after-swarm") != nil)
    }
}
