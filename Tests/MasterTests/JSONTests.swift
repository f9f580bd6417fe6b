import Master
import Testing

struct JSONTests {
    /// Values survive a parse and an encode; keys come out sorted; numbers keep their text.
    @Test func roundTrips() throws {
        let text = #"{"b":[1,-2.5e10,0,true,false,null],"a":{"z":"x\"y\\\n\t\u0001é😀"},"c":12345678901234567890}"#
        let value = try JSONParser.parse(text)
        #expect(value["c"] == .number("12345678901234567890"))
        #expect(value[path: ["a", "z"]]?.stringValue == "x\"y\\\n\t\u{1}é😀")
        #expect(value.text == #"{"a":{"z":"x\"y\\\n\t\u0001é😀"},"b":[1,-2.5e10,0,true,false,null],"c":12345678901234567890}"#)
        #expect(try JSONParser.parse(value.text) == value)
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONParser.parse(" \n 7 \t") == .number("7"))
    }

    /// Every malformed text is refused with the line and column of the fault.
    @Test(arguments: [
        ("", "line 1, column 1: unexpected end of input, expected a value"),
        ("{\"a\":1,}", "line 1, column 8: expected a string key"),
        ("{\"a\" 1}", "line 1, column 6: expected ':' after an object key"),
        ("[1 2]", "line 1, column 4: expected ',' or ']' in an array"),
        ("{\n  \"a\": tru\n}", "line 2, column 8: invalid literal, expected true"),
        ("01", "line 1, column 1: leading zero in a number"),
        ("1.", "line 1, column 3: expected digits after '.' in a number"),
        ("-", "line 1, column 2: expected digits in a number"),
        ("1e+", "line 1, column 4: expected digits in a number's exponent"),
        ("\"abc", "line 1, column 5: unterminated string"),
        ("\"a\tb\"", "line 1, column 3: control character in a string (escape it)"),
        ("\"\\x\"", "line 1, column 2: invalid escape '\\x' in a string"),
        ("\"\\u12g4\"", "line 1, column 6: expected four hex digits after \\u"),
        ("\"\\ud800\"", "line 1, column 8: unpaired surrogate in a \\u escape"),
        ("{\"a\":1,\"a\":2}", "line 1, column 8: duplicate key \"a\""),
        ("[1] x", "line 1, column 5: unexpected text after the JSON value"),
        ("'a'", "line 1, column 1: unexpected character ''', expected a value"),
    ])
    func malformedTextIsRefused(text: String, message: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(text) }
        do {
            _ = try JSONParser.parse(text)
        } catch {
            #expect(error.description == message)
        }
    }

    /// Deep nesting is refused before it can exhaust the stack; invalid UTF-8 is refused.
    @Test func hostileInput() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(deep) }
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        let nested = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect((try? JSONParser.parse(nested)) != nil)
    }

    /// Random bytes never crash the parser.
    @Test func randomBytesNeverCrash() {
        var g = SplitMix(state: 42)
        let alphabet = Array("{}[]\":,0123456789-+.eEtrufalsn \\u\n".utf8)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &g)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &g)] }
            _ = try? JSONParser.parse(bytes)
        }
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
