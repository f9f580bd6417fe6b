import Foundation
import Master
import Testing

/// Manifests as kubectl users write them, and malformed ones with the exact place of the fault.
struct YAMLTests {
    static func json(_ text: String) -> JSON { try! JSONParser.parse(text) }
    static func one(_ yaml: String) throws -> JSON {
        let documents = try YAMLParser.parseDocuments(yaml)
        try #require(documents.count == 1, "\(documents.count) documents")
        return documents[0]
    }

    @Test func typicalDeploymentAndService() throws {
        let yaml = """
            # The web tier.
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web            # the name
              namespace: default
              labels:
                app.kubernetes.io/name: web
                tier: "frontend"
              annotations:
                prometheus.io/scrape: "true"
                description: 'It''s the web tier: serves "/"'
            spec:
              replicas: 3
              revisionHistoryLimit: 0
              selector:
                matchLabels: {app.kubernetes.io/name: web}
              strategy:
                type: RollingUpdate
                rollingUpdate:
                  maxSurge: 25%
                  maxUnavailable: 0
              template:
                metadata:
                  labels:
                    app.kubernetes.io/name: web
                spec:
                  containers:
                  - name: nginx
                    image: nginx:1.27.2
                    imagePullPolicy: IfNotPresent
                    args: ["--port", "8080", '--verbose']
                    command:
                      - /docker-entrypoint.sh
                    ports:
                    - containerPort: 8080
                      name: http
                      protocol: TCP
                    env:
                    - name: MODE
                      value: "production"
                    - name: ENABLED
                      value: yes
                    - name: EMPTY
                      value: ""
                    resources:
                      requests: {cpu: 100m, memory: 64Mi}
                      limits:
                        cpu: 0.5
                        memory: 128Mi
                    readinessProbe:
                      httpGet: {path: /healthz, port: 8080}
                      periodSeconds: 10
                  tolerations: []
                  nodeSelector: {}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec:
              ports: [{port: 80, targetPort: 8080}]
            ...
            """
        let documents = try YAMLParser.parseDocuments(yaml)
        #expect(documents.count == 2)
        let deployment = documents[0]
        #expect(deployment[path: ["metadata", "name"]] == "web")
        #expect(deployment[path: ["metadata", "annotations"]] == ["prometheus.io/scrape": "true", "description": "It's the web tier: serves \"/\""])
        #expect(deployment[path: ["spec", "replicas"]] == 3 && deployment[path: ["spec", "revisionHistoryLimit"]] == 0)
        #expect(deployment[path: ["spec", "strategy", "rollingUpdate"]] == ["maxSurge": "25%", "maxUnavailable": 0])
        let container = deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first
        #expect(container == Self.json(#"""
            {"name":"nginx","image":"nginx:1.27.2","imagePullPolicy":"IfNotPresent","args":["--port","8080","--verbose"],
             "command":["/docker-entrypoint.sh"],"ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}],
             "env":[{"name":"MODE","value":"production"},{"name":"ENABLED","value":"yes"},{"name":"EMPTY","value":""}],
             "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":0.5,"memory":"128Mi"}},
             "readinessProbe":{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":10}}
            """#))
        #expect(deployment[path: ["spec", "template", "spec", "tolerations"]] == [] && deployment[path: ["spec", "template", "spec", "nodeSelector"]] == [:])
        #expect(documents[1] == Self.json(#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},"spec":{"ports":[{"port":80,"targetPort":8080}]}}"#))
    }

    /// Found by fuzzing: a lone carriage return ended a line for the scanner but not for the
    /// column count, so `- |\ra` re-read the same entry forever (growing memory).
    @Test func loneCarriageReturnEndsALine() throws {
        // The same answer as with a line feed, and the error's line counts the lone CR.
        for input in ["- |\ra", "- |\na"] {
            #expect {
                try YAMLParser.parseDocuments(input)
            } throws: { error in
                "\(error)" == "line 2, column 1: unexpected content; is the indentation right?"
            }
        }
        #expect(try YAMLParser.parseDocuments("a: |\r  x\rb: 2") == [["a": .string("x\n"), "b": .number("2")]])
    }

    /// Found by fuzzing: a second sign after the radix prefix made `Int(_:radix:)` return Int.min,
    /// whose negation trapped. Such scalars are strings now.
    @Test func signedRadixScalarsDoNotTrap() throws {
        let documents = try YAMLParser.parseDocuments("- -0x-8000000000000000\n- a: -0o-1000000000000000000000\n- 0x1F\n- -0o17\n")
        #expect(documents.first == .array([
            .string("-0x-8000000000000000"), ["a": .string("-0o-1000000000000000000000")], .number("31"), .number("-15"),
        ]))
    }

    @Test func blockScalars() throws {
        let yaml = """
            data:
              nginx.conf: |
                server {
                  listen 80;
                }
              folded: >
                one
                two

                three
              stripped: |-
                no newline
              kept: |+
                two newlines

              indented: |2
                  four spaces
              last: end
            """
        let data = try Self.one(yaml)["data"]
        #expect(data?["nginx.conf"] == "server {\n  listen 80;\n}\n")
        #expect(data?["folded"] == "one two\nthree\n")
        #expect(data?["stripped"] == "no newline")
        #expect(data?["kept"] == "two newlines\n\n")
        #expect(data?["indented"] == "  four spaces\n")
        #expect(data?["last"] == "end")
    }

    @Test func scalarsAndQuoting() throws {
        let value = try Self.one(#"""
            a: ~
            b:
            c: True
            d: -12
            e: 0x1F
            f: 1.5e3
            g: .5
            h: "tab\there \u00e9 \x41 \"q\""
            i: 'single ''quoted'''
            j: "folded
              over lines"
            k: plain text with spaces
            l: "line\
              joined"
            "quoted key": 1
            m: 1.0.3
            n: 007
            o: on
            p: http://example.com/a#frag
            q: a # comment
            """#)
        #expect(value == Self.json(#"""
            {"a":null,"b":null,"c":true,"d":-12,"e":31,"f":1.5e3,"g":0.5,"h":"tab\there é A \"q\"","i":"single 'quoted'",
             "j":"folded over lines","k":"plain text with spaces","l":"linejoined","quoted key":1,"m":"1.0.3","n":7,"o":"on",
             "p":"http://example.com/a#frag","q":"a"}
            """#))
    }

    @Test func sequencesAndFlowCollections() throws {
        let value = try Self.one("""
            items:
            - a
            -   - nested
                - deeper
            - key: v
              other: w
            -
              late: x
            flow: {a: [1, 2,
              3], "b c": 'd', e: , f}
            empty: []
            """)
        #expect(value == Self.json(#"{"items":["a",["nested","deeper"],{"key":"v","other":"w"},{"late":"x"}],"flow":{"a":[1,2,3],"b c":"d","e":null,"f":null},"empty":[]}"#))
    }

    @Test func documentsAndLineEndings() throws {
        #expect(try YAMLParser.parseDocuments("").isEmpty)
        #expect(try YAMLParser.parseDocuments("---\n# nothing\n---\n").isEmpty)
        #expect(try YAMLParser.parseDocuments("--- \na: 1\n---\nb: 2\n...\n---\nc: 3").count == 3)
        #expect(try YAMLParser.parseDocuments("a: 1\r\nb:\r\n  - x\r\n") == [Self.json(#"{"a":1,"b":["x"]}"#)])
        #expect(try YAMLParser.parseDocuments(#"{"kind": "List", "items": [1]}"#) == [Self.json(#"{"kind":"List","items":[1]}"#)])
    }

    /// Each malformed manifest fails at a known line and column.
    @Test(arguments: [
        ("a: 1\n\tb: 2", "line 2, column 1: tabs are not allowed for indentation"),
        ("a:\n  b: 1\n c: 2", "line 3, column 2: bad indentation of a mapping entry"),
        ("a: 1\n  b: 2", "line 2, column 3: bad indentation of a mapping entry"),
        ("a:\n  - x\n   - y", "line 3, column 4: bad indentation of a sequence entry"),
        ("a: 'open\nb: 2", "line 1, column 4: unterminated single-quoted string"),
        ("a: \"open", "line 1, column 4: unterminated double-quoted string"),
        ("a: 1\na: 2", "line 2, column 1: duplicate key \"a\""),
        ("just text\nb: c", "line 2, column 1: unexpected content; is the indentation right?"),
        ("a: &x 1\nb: *x", "line 1, column 4: anchors (&) are not supported"),
        ("a: !!str 1", "line 1, column 4: tags (!) are not supported"),
        ("a: b: c", "line 1, column 4: a mapping cannot start on the line of its key"),
        ("- a: b: c", "line 1, column 6: a mapping cannot start on the line of its key"),
        ("a: [1, 2", "line 1, column 4: unterminated flow collection"),
        ("a: {b: 1 c: 2}", "line 1, column 11: expected ',' or '}' in a flow mapping"),
        ("a: \"\\q\"", "line 1, column 5: invalid escape '\\q' in a double-quoted string"),
        ("a: 'x' y", "line 1, column 8: unexpected text after the value"),
        ("%YAML 1.2\n---\na: 1", "line 1, column 1: directives (%) are not supported"),
        ("key: - x", "line 1, column 6: a sequence cannot start on the line of its key"),
    ])
    func malformed(yaml: String, message: String) {
        do {
            let documents = try YAMLParser.parseDocuments(yaml)
            Issue.record("parsed as \(documents)")
        } catch {
            #expect(error.description == message)
        }
    }

    /// Random text never crashes the parser.
    @Test func randomTextNeverCrashes() {
        var g = JSONTests.SplitMix(state: 7)
        let alphabet = Array("ab: -#'\"|>[]{},\n  \t&*!\\0.~".utf8)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0..<60, using: &g)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &g)] }
            _ = try? YAMLParser.parseDocuments(String(decoding: bytes, as: UTF8.self))
        }
    }
}

/// What `-o yaml` and `-o json` print reads back as the same value.
struct YAMLWriterTests {
    @Test func printsAsKubectlDoes() throws {
        let value = try JSONParser.parse(#"{"kind":"Pod","metadata":{"name":"web","labels":{"a":"yes"}},"spec":{"containers":[{"name":"c","args":["-v","1"],"ports":[]}]},"data":{"conf":"line one\nline two\n"}}"#)
        #expect(YAMLWriter.text(value) == """
            data:
              conf: |
                line one
                line two
            kind: Pod
            metadata:
              labels:
                a: "yes"
              name: web
            spec:
              containers:
              - args:
                - -v
                - "1"
                name: c
                ports: []

            """)
    }

    @Test func randomValuesRoundTrip() throws {
        var g = JSONTests.SplitMix(state: 99)
        let words = ["a", "yes", "1", "1.5", "", " lead", "trail ", "x: y", "# no", "-", "- a", "-a", "line\nbreak", "end\n", "two\n\n",
                     "tab\there", "quote\"d", "it's", "null", "~", "{x}", "[1]", "é", "0x10", "007", "on", "a #b", "*star", "&amp", "!bang", "\u{1}"]
        func value(_ depth: Int) -> JSON {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 7), using: &g) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &g))
            case 2: return .number(Int.random(in: -1000...1000, using: &g))
            case 3: return .string(words[Int.random(in: 0..<words.count, using: &g)])
            case 4: return .array((0..<Int.random(in: 0..<4, using: &g)).map { _ in value(depth + 1) })
            default:
                var fields: [String: JSON] = [:]
                for _ in 0..<Int.random(in: 0..<4, using: &g) { fields[words[Int.random(in: 0..<words.count, using: &g)]] = value(depth + 1) }
                return .object(fields)
            }
        }
        for _ in 0..<2000 {
            let original = value(0)
            let yaml = YAMLWriter.text(original)
            let parsed: [JSON]
            do { parsed = try YAMLParser.parseDocuments(yaml) } catch {
                Issue.record("\(error)\n\(original.text)\n---\n\(yaml)")
                return
            }
            #expect(parsed == (original == .null ? [] : [original]), "\(original.text)\n---\n\(yaml)")
            #expect(try JSONParser.parse(original.prettyText) == original)
        }
    }
}

/// Real-world manifests in the styles kubectl users write (`Corpus/*.yaml`), each read as an
/// independent parser (PyYAML) reads it (`Corpus/*.json`, generated once with
/// `yaml.safe_load_all` and `json.dump`).
struct YAMLCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus").path

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func corpusIsThere() { #expect(Self.names.count >= 7) }

    @Test(arguments: names)
    func readsAsPyYAMLDoes(name: String) throws {
        let yaml = try String(contentsOfFile: "\(Self.directory)/\(name)", encoding: .utf8)
        let expected = try JSONParser.parse(try String(contentsOfFile: "\(Self.directory)/\(name.dropLast(5)).json", encoding: .utf8))
        #expect(try JSON.array(YAMLParser.parseDocuments(yaml)) == expected)
    }
}
