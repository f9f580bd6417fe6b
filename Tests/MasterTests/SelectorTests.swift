import Master
import Testing

struct SelectorTests {
    @Test func labelSelectorsMatchAsKubernetesDoes() throws {
        let labels = ["app": "web", "tier": "front", "env": "prod"]
        let cases: [(String, Bool)] = [
            ("", true), ("app=web", true), ("app==web", true), ("app!=web", false), ("app=db", false),
            ("app in (web,db)", true), ("app notin (web)", false), ("tier", true), ("!tier", false), ("!missing", true),
            ("app=web,tier=front", true), ("app=web, tier=back", false), ("missing!=x", true), ("env in ( prod , dev )", true),
            ("example.com/team notin (a)", true),
        ]
        for (text, expected) in cases {
            #expect(try LabelSelector(parsing: text).matches(labels) == expected, "\(text)")
        }
    }

    @Test(arguments: ["app=", "=web", "app in web", "app in (web", "app)", "a,,b", "app=we b", "app is (x)", "-app=web", "!"])
    func badLabelSelectorsAreRefused(text: String) {
        if text == "app=" {
            #expect((try? LabelSelector(parsing: text))?.matches(["app": ""]) == true)  // an empty value is valid
            return
        }
        #expect(throws: APIError.self) { try LabelSelector(parsing: text) }
    }

    /// A selector's size is bounded: its requirements are evaluated on every object of a list.
    @Test func labelSelectorsHoldAtMostAHundredRequirements() throws {
        let hundred = (0..<100).map { "l\($0)!=v" }.joined(separator: ",")
        #expect(try LabelSelector(parsing: hundred).matches([:]))
        #expect(throws: APIError.badRequest("a label selector may hold at most 100 requirements, not 101")) {
            try LabelSelector(parsing: hundred + ",x=y")
        }
    }

    @Test func fieldSelectors() throws {
        let pod: JSON = ["metadata": ["name": "a", "namespace": "default"], "spec": ["nodeName": "n1"], "status": ["phase": "Running"]]
        #expect(try FieldSelector(parsing: "metadata.name=a,status.phase!=Pending", for: .pods).matches(pod))
        #expect(try !FieldSelector(parsing: "spec.nodeName==n2", for: .pods).matches(pod))
        #expect(try FieldSelector(parsing: "spec.nodeName=", for: .pods).matches(["metadata": ["name": "b"]]))
        #expect(throws: APIError.self) { try FieldSelector(parsing: "spec.nodeName=n1", for: .configMaps) }
        #expect(throws: APIError.self) { try FieldSelector(parsing: "metadata.name", for: .pods) }
        #expect(throws: APIError.self) { try FieldSelector(parsing: "metadata.name=a,", for: .pods) }
    }

    /// matchLabels and matchExpressions, and the text form `/scale` reports.
    @Test func selectorObjects() throws {
        let selector = try LabelSelector(object: ["matchLabels": ["app": "web"], "matchExpressions": [["key": "tier", "operator": "In", "values": ["a", "b"]]]])
        #expect(selector.text == "app=web,tier in (a,b)")
        #expect(selector.matches(["app": "web", "tier": "b"]) && !selector.matches(["app": "web"]))
        #expect(throws: APIError.self) { try LabelSelector(object: ["matchExpressions": [["key": "a", "operator": "Near"]]]) }
    }
}
