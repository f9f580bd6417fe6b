/// A YAML parser for manifests, producing `JSON`. It reads what kubectl users write: block
/// mappings and sequences (including the compact `- name: x` form and sequences at their key's
/// indentation), flow collections over several lines, plain, single- and double-quoted scalars
/// with escapes and folding, literal (`|`) and folded (`>`) block scalars with chomping and
/// indentation indicators, comments, and `---` documents.
///
/// Plain scalars resolve by the YAML 1.2 core schema: `null`/`~`/empty, `true`/`false`,
/// integers (decimal, `0x`, `0o`), floats, else strings (so `yes` and `on` stay strings).
/// Anchors, aliases, tags and directives are refused with an error, as are tabs in indentation
/// and duplicate keys. Every error names the line and column (1-based).
public struct YAMLParser {
    /// Why a text is not YAML Bosun reads, and where.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var column: Int
        public var message: String
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    static let maxDepth = 200

    private let b: [UInt8]
    private var i = 0
    private var depth = 0

    private init(_ text: String) { b = Array(text.utf8) }

    /// The documents of a stream, in order; empty documents are left out.
    public static func parseDocuments(_ text: String) throws(Failure) -> [JSON] {
        var parser = YAMLParser(text)
        return try parser.documents()
    }

    // MARK: Positions

    private var atEnd: Bool { i >= b.count }
    private func byte(_ at: Int) -> UInt8? { at < b.count ? b[at] : nil }
    private var current: UInt8? { byte(i) }

    /// Where the line holding `at` starts: after the last LF or lone CR before it, as `isBreak`
    /// counts breaks (with LF alone here, a lone CR sent block scalars back to the start of the
    /// document, and `- |\ra` parsed forever).
    private func lineStart(_ at: Int) -> Int {
        var s = min(at, b.count)
        while s > 0, b[s - 1] != 10, b[s - 1] != 13 { s -= 1 }
        return s
    }

    /// Column of a position, 0-based.
    private func column(_ at: Int) -> Int { at - lineStart(at) }

    private func failure(_ message: String, at: Int? = nil) -> Failure {
        let position = min(at ?? i, b.count)
        var line = 1
        for k in 0..<position where b[k] == 10 || (b[k] == 13 && byte(k + 1) != 10) { line += 1 }
        return Failure(line: line, column: column(position) + 1, message: message)
    }

    private static func isSpace(_ c: UInt8?) -> Bool { c == 32 || c == 9 }
    private static func isBreak(_ c: UInt8?) -> Bool { c == nil || c == 10 || c == 13 }
    private static func isBlank(_ c: UInt8?) -> Bool { isSpace(c) || isBreak(c) }

    private mutating func skipSpaces() { while Self.isSpace(current) { i += 1 } }

    /// Skips spaces and a comment, stopping at the line break (or the end).
    private mutating func skipToLineEnd() throws(Failure) {
        skipSpaces()
        if current == UInt8(ascii: "#") { while !Self.isBreak(current) { i += 1 } }
        guard Self.isBreak(current) else { throw failure("unexpected text after the value") }
    }

    /// Steps over one line break (`\n` or `\r\n`).
    private mutating func skipLineBreak() {
        if current == 13 { i += 1 }
        if current == 10 { i += 1 }
    }

    private mutating func nextLine() {
        while !atEnd, b[i] != 10 { i += 1 }
        if !atEnd { i += 1 }
    }

    /// Moves to the first content of the next line that has any (skipping blank and comment
    /// lines); refuses tabs in indentation.
    private mutating func skipBlankLines() throws(Failure) {
        while !atEnd {
            let start = i
            skipSpaces()
            if current == 9 || (Self.isSpace(current) && b[start..<i].contains(9)) { throw failure("tabs are not allowed for indentation") }
            if current == UInt8(ascii: "#") || Self.isBreak(current) {
                if atEnd { return }
                nextLine()
                continue
            }
            if b[start..<i].contains(9) && column(i) == i - start { throw failure("tabs are not allowed for indentation", at: start) }
            return
        }
    }

    /// `---` or `...` at the start of a line.
    private func isDocumentMarker(_ at: Int) -> Bool {
        guard column(at) == 0, at + 3 <= b.count else { return false }
        let three = Array(b[at..<at + 3])
        return (three == Array("---".utf8) || three == Array("...".utf8)) && Self.isBlank(byte(at + 3))
    }

    // MARK: Documents

    private mutating func documents() throws(Failure) -> [JSON] {
        var documents: [JSON] = []
        try skipBlankLines()
        if current == UInt8(ascii: "%") { throw failure("directives (%) are not supported") }
        while !atEnd {
            if isDocumentMarker(i) {
                let isEnd = b[i] == UInt8(ascii: ".")
                i += 3
                skipSpaces()
                if isEnd || current == UInt8(ascii: "#") || Self.isBreak(current) {
                    try skipToLineEnd()
                    try skipBlankLines()
                    continue
                }
            }
            let value = try blockNode(parentIndent: -1)
            if value != .null { documents.append(value) }
            try skipBlankLines()
            if !atEnd, !isDocumentMarker(i) { throw failure("unexpected content; is the indentation right?") }
        }
        return documents
    }

    // MARK: Block structure

    /// A node starting at the current position (after `skipBlankLines`): a block sequence, a block
    /// mapping, or an inline value. Nothing (or less indentation than the parent's) is null.
    private mutating func blockNode(parentIndent: Int) throws(Failure) -> JSON {
        try skipBlankLines()
        if atEnd || isDocumentMarker(i) || column(i) <= parentIndent { return .null }
        return try nodeHere(parentIndent: parentIndent)
    }

    /// The node at the current position, whose column is the node's indentation.
    private mutating func nodeHere(parentIndent: Int) throws(Failure) -> JSON {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw failure("nesting deeper than \(Self.maxDepth) levels") }
        if isSequenceEntry(i) { return try blockSequence(indent: column(i)) }
        if mappingKeyAhead() { return try blockMapping(indent: column(i)) }
        return try inlineValue(parentIndent: parentIndent)
    }

    private func isSequenceEntry(_ at: Int) -> Bool {
        byte(at) == UInt8(ascii: "-") && Self.isBlank(byte(at + 1))
    }

    private mutating func blockSequence(indent: Int) throws(Failure) -> JSON {
        var items: [JSON] = []
        while true {
            guard !atEnd, !isDocumentMarker(i), column(i) == indent, isSequenceEntry(i) else { break }
            i += 1
            items.append(try valueAfterIndicator(parentIndent: indent, inSequence: true))
            try skipBlankLines()
            if !atEnd, !isDocumentMarker(i), column(i) > indent { throw failure("bad indentation of a sequence entry") }
        }
        return .array(items)
    }

    private mutating func blockMapping(indent: Int) throws(Failure) -> JSON {
        var fields: [String: JSON] = [:]
        while true {
            guard !atEnd, !isDocumentMarker(i), column(i) == indent else { break }
            if isSequenceEntry(i) { break }
            let keyStart = i
            let key = try mappingKey()
            let value = try valueAfterIndicator(parentIndent: indent, inSequence: false)
            guard fields.updateValue(value, forKey: key) == nil else { throw failure("duplicate key \(JSON.quoted(key))", at: keyStart) }
            try skipBlankLines()
            if !atEnd, !isDocumentMarker(i), column(i) > indent { throw failure("bad indentation of a mapping entry") }
        }
        return .object(fields)
    }

    /// Reads `key:` (the key plain or quoted) and leaves the position after the colon.
    private mutating func mappingKey() throws(Failure) -> String {
        let key: String
        switch current {
        case UInt8(ascii: "\""): key = try doubleQuoted()
        case UInt8(ascii: "'"): key = try singleQuoted()
        case UInt8(ascii: "?"): throw failure("complex mapping keys (?) are not supported")
        default:
            let start = i
            while !Self.isBreak(current), !(current == UInt8(ascii: ":") && Self.isBlank(byte(i + 1))) { i += 1 }
            key = String(decoding: b[start..<i], as: UTF8.self).trimmingSpaces
            try refuseUnsupported(key, at: start)
        }
        skipSpaces()
        guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a mapping key") }
        i += 1
        return key
    }

    /// Whether the current line, from here, holds `key:` (a colon followed by a blank, outside
    /// quotes and before any comment).
    private func mappingKeyAhead() -> Bool {
        var k = i
        switch byte(k) {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            let quote = b[k]
            k += 1
            while let c = byte(k), c != 10 {
                if quote == UInt8(ascii: "\""), c == UInt8(ascii: "\\") { k += 2; continue }
                if c == quote {
                    if quote == UInt8(ascii: "'"), byte(k + 1) == quote { k += 2; continue }
                    break
                }
                k += 1
            }
            k += 1
            while Self.isSpace(byte(k)) { k += 1 }
            return byte(k) == UInt8(ascii: ":") && Self.isBlank(byte(k + 1))
        case UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "#"):
            return false
        default:
            while let c = byte(k), c != 10 {
                if c == UInt8(ascii: ":"), Self.isBlank(byte(k + 1)) { return true }
                if c == UInt8(ascii: "#"), k > i, Self.isSpace(b[k - 1]) { return false }
                k += 1
            }
            return false
        }
    }

    /// The value after `key:` or `- `: on the same line, or a block on the following lines.
    private mutating func valueAfterIndicator(parentIndent: Int, inSequence: Bool) throws(Failure) -> JSON {
        skipSpaces()
        if current == UInt8(ascii: "#") || Self.isBreak(current) {
            try skipToLineEnd()
            try skipBlankLines()
            if atEnd || isDocumentMarker(i) { return .null }
            let col = column(i)
            if col > parentIndent { return try nodeHere(parentIndent: parentIndent) }
            // A sequence may sit at its key's indentation.
            if !inSequence, col == parentIndent, isSequenceEntry(i) { return try blockSequence(indent: col) }
            return .null
        }
        if inSequence, isSequenceEntry(i) || mappingKeyAhead() {
            return try nodeHere(parentIndent: parentIndent)
        }
        if !inSequence, isSequenceEntry(i) { throw failure("a sequence cannot start on the line of its key") }
        if !inSequence, mappingKeyAhead() { throw failure("a mapping cannot start on the line of its key") }
        return try inlineValue(parentIndent: parentIndent)
    }

    /// A scalar, a flow collection or a block scalar at the current position.
    private mutating func inlineValue(parentIndent: Int) throws(Failure) -> JSON {
        let value: JSON
        switch current {
        case UInt8(ascii: "|"), UInt8(ascii: ">"): return .string(try blockScalar(parentIndent: parentIndent))
        case UInt8(ascii: "["), UInt8(ascii: "{"): value = try flowNode()
        case UInt8(ascii: "\""): value = .string(try doubleQuoted())
        case UInt8(ascii: "'"): value = .string(try singleQuoted())
        default: return try plainBlockScalar(parentIndent: parentIndent)
        }
        try skipToLineEnd()
        return value
    }

    private func refuseUnsupported(_ text: String, at position: Int) throws(Failure) {
        switch text.first {
        case "&": throw failure("anchors (&) are not supported", at: position)
        case "*": throw failure("aliases (*) are not supported", at: position)
        case "!": throw failure("tags (!) are not supported", at: position)
        case "@", "`": throw failure("a plain scalar cannot start with '\(text.first!)'", at: position)
        default: return
        }
    }

    /// A plain scalar in block context, possibly continued on more-indented lines (folded with
    /// spaces).
    private mutating func plainBlockScalar(parentIndent: Int) throws(Failure) -> JSON {
        let start = i
        var lines: [String] = []
        while true {
            let lineBegin = i
            // (A `: ` cannot occur here: the caller saw no mapping key on this line.)
            while !Self.isBreak(current), !(current == UInt8(ascii: "#") && i > lineBegin && Self.isSpace(b[i - 1])) {
                i += 1
            }
            lines.append(String(decoding: b[lineBegin..<i], as: UTF8.self).trimmingSpaces)
            if current == UInt8(ascii: "#") { break }
            // A continuation: the next non-blank line indented more than the parent, not a comment.
            let save = i
            if atEnd { break }
            nextLine()
            var blankLines = 0
            while !atEnd {
                let s = i
                skipSpaces()
                if Self.isBreak(current), !atEnd {
                    blankLines += 1
                    nextLine()
                    continue
                }
                if atEnd || current == UInt8(ascii: "#") || column(i) <= parentIndent || isDocumentMarker(s) || mappingKeyAhead() || isSequenceEntry(i) {
                    i = save
                    break
                }
                lines.append(contentsOf: Array(repeating: "\n", count: blankLines))
                break
            }
            if atEnd { i = save }
            if i == save { break }
        }
        let text = lines.reduce(into: "") { out, line in
            if line == "\n" { out += "\n" } else if out.isEmpty || out.hasSuffix("\n") { out += line } else { out += " " + line }
        }
        try refuseUnsupported(text, at: start)
        try skipToLineEnd()
        return Self.resolvePlain(text)
    }

    // MARK: Scalars

    /// YAML 1.2 core schema resolution of a plain scalar.
    static func resolvePlain(_ text: String) -> JSON {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        var digits = Substring(text)
        let negative = digits.first == "-"
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        // Only digits after the prefix: `Int(_:radix:)` would take a second sign, and negating the
        // Int.min it can then return traps (`-0x-8000000000000000`).
        let body = digits.dropFirst(2)
        if digits.hasPrefix("0x"), body.allSatisfy(\.isHexDigit), let value = Int(body, radix: 16) { return .number(negative ? -value : value) }
        if digits.hasPrefix("0o"), body.allSatisfy({ ("0"..."7").contains($0) }), let value = Int(body, radix: 8) {
            return .number(negative ? -value : value)
        }
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            let trimmed = digits.drop { $0 == "0" }
            return .number((negative ? "-" : "") + (trimmed.isEmpty ? "0" : String(trimmed)))
        }
        // Floats: digits with a point and/or exponent, written as JSON accepts them.
        let isFloat = !digits.isEmpty && digits.allSatisfy { $0.isASCII && ($0.isNumber || "eE+-.".contains($0)) }
            && digits.contains(where: \.isNumber) && (digits.first!.isNumber || digits.first == ".")
        if isFloat, Double(String(digits)) != nil {
            var normal = String(digits)
            if normal.hasPrefix(".") { normal = "0" + normal }
            normal = normal.replacing(".e", with: ".0e").replacing(".E", with: ".0E")
            if normal.hasSuffix(".") { normal += "0" }
            if (try? JSONParser.parse(normal)) != nil { return .number((negative ? "-" : "") + normal) }
        }
        return .string(text)
    }

    private mutating func singleQuoted() throws(Failure) -> String {
        let open = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = current else { throw failure("unterminated single-quoted string", at: open) }
            if c == UInt8(ascii: "'") {
                if byte(i + 1) == UInt8(ascii: "'") {
                    out.append(c)
                    i += 2
                    continue
                }
                i += 1
                break
            }
            if c == 10 || c == 13 {
                try foldLineBreak(into: &out, open: open)
                continue
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func doubleQuoted() throws(Failure) -> String {
        let open = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = current else { throw failure("unterminated double-quoted string", at: open) }
            if c == UInt8(ascii: "\"") {
                i += 1
                break
            }
            if c == 10 || c == 13 {
                try foldLineBreak(into: &out, open: open)
                continue
            }
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                i += 1
                continue
            }
            let escapeStart = i
            i += 1
            guard let e = current else { throw failure("unterminated double-quoted string", at: open) }
            i += 1
            let simple: [UInt8: String] = [
                UInt8(ascii: "0"): "\0", UInt8(ascii: "a"): "\u{07}", UInt8(ascii: "b"): "\u{08}", UInt8(ascii: "t"): "\t", 9: "\t",
                UInt8(ascii: "n"): "\n", UInt8(ascii: "v"): "\u{0B}", UInt8(ascii: "f"): "\u{0C}", UInt8(ascii: "r"): "\r",
                UInt8(ascii: "e"): "\u{1B}", 32: " ", UInt8(ascii: "\""): "\"", UInt8(ascii: "/"): "/", UInt8(ascii: "\\"): "\\",
                UInt8(ascii: "N"): "\u{85}", UInt8(ascii: "_"): "\u{A0}", UInt8(ascii: "L"): "\u{2028}", UInt8(ascii: "P"): "\u{2029}",
            ]
            if let text = simple[e] {
                out.append(contentsOf: text.utf8)
            } else if e == 10 || e == 13 {
                // An escaped line break: join without a space, dropping the next line's indentation.
                if e == 13, current == 10 { i += 1 }
                skipSpaces()
            } else if let width = [UInt8(ascii: "x"): 2, UInt8(ascii: "u"): 4, UInt8(ascii: "U"): 8][e] {
                guard i + width <= b.count, let value = UInt32(String(decoding: b[i..<i + width], as: UTF8.self), radix: 16),
                    b[i..<i + width].allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || ($0 >= 97 && $0 <= 102) }),
                    let scalar = Unicode.Scalar(value)
                else { throw failure("invalid escape in a double-quoted string", at: escapeStart) }
                out.append(contentsOf: String(Character(scalar)).utf8)
                i += width
            } else {
                throw failure("invalid escape '\\\(String(UnicodeScalar(e)))' in a double-quoted string", at: escapeStart)
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw failure("invalid UTF-8 in a string", at: open) }
        return text
    }

    /// Folding inside a quoted scalar: trailing spaces dropped, one line break becomes a space,
    /// each further (empty) line a newline, the next line's indentation dropped.
    private mutating func foldLineBreak(into out: inout [UInt8], open: Int) throws(Failure) {
        while let last = out.last, Self.isSpace(last) { out.removeLast() }
        var breaks = 0
        while !atEnd, Self.isBreak(current) || Self.isSpace(current) {
            if current == 10 { breaks += 1 }
            i += 1
            if isDocumentMarker(i) { throw failure("unterminated quoted string", at: open) }
        }
        if atEnd { throw failure("unterminated quoted string", at: open) }
        if breaks <= 1 { out.append(32) } else { out += Array(repeating: 10, count: breaks - 1) }
    }

    /// `|` or `>` with optional chomping (`-`, `+`) and indentation indicators.
    private mutating func blockScalar(parentIndent: Int) throws(Failure) -> String {
        let literal = current == UInt8(ascii: "|")
        i += 1
        var chomp: UInt8? = nil
        var explicitIndent: Int? = nil
        for _ in 0..<2 {
            if let c = current, c == UInt8(ascii: "-") || c == UInt8(ascii: "+"), chomp == nil {
                chomp = c
                i += 1
            } else if let c = current, c >= UInt8(ascii: "1"), c <= UInt8(ascii: "9"), explicitIndent == nil {
                explicitIndent = max(parentIndent, 0) + Int(c - UInt8(ascii: "0"))
                i += 1
            }
        }
        if !Self.isBlank(current), current != UInt8(ascii: "#") { throw failure("invalid block scalar header") }
        try skipToLineEnd()
        skipLineBreak()
        // Lines until one with content is indented less than the block's indentation.
        var lines: [(indent: Int, text: String)] = []
        var indent = explicitIndent
        while !atEnd {
            let start = i
            while current == 32 { i += 1 }
            let lineIndent = i - start
            let empty = Self.isBreak(current)
            if !empty {
                if indent == nil {
                    guard lineIndent > parentIndent else { i = start; break }
                    indent = lineIndent
                }
                if lineIndent < indent! || isDocumentMarker(start) {
                    i = start
                    break
                }
            }
            let contentStart = min(start + (indent ?? lineIndent), i)
            while !Self.isBreak(current) { i += 1 }
            var end = i
            if end > contentStart, b[end - 1] == 13 { end -= 1 }
            lines.append((empty ? 0 : lineIndent - (indent ?? 0), empty ? "" : String(decoding: b[contentStart..<end], as: UTF8.self)))
            skipLineBreak()
        }
        // Trailing empty lines belong to chomping, not content.
        var trailing = 0
        while let last = lines.last, last.text.isEmpty, last.indent == 0 {
            lines.removeLast()
            trailing += 1
        }
        // Back to the start of the line that ended the block, so the caller sees it.
        var text = ""
        if literal {
            text = lines.map(\.text).joined(separator: "\n")
        } else {
            // A line break between two lines folds into a space; each empty line is a newline;
            // breaks around more-indented lines are kept.
            var previousWasMoreIndented = false
            for (k, line) in lines.enumerated() {
                if line.text.isEmpty {
                    text += "\n"
                    continue
                }
                let moreIndented = line.text.first == " " || line.text.first == "\t"
                if k > 0, !lines[k - 1].text.isEmpty { text += moreIndented || previousWasMoreIndented ? "\n" : " " }
                text += line.text
                previousWasMoreIndented = moreIndented
            }
        }
        switch chomp {
        case UInt8(ascii: "-"): break
        case UInt8(ascii: "+"): if !lines.isEmpty { text += "\n" }; text += String(repeating: "\n", count: trailing)
        default: if !lines.isEmpty { text += "\n" }
        }
        // Leave the position at the start of the next line's content for the block parser.
        if !atEnd { i = lineStart(i) }
        return text
    }

    // MARK: Flow collections

    private mutating func skipFlowSpace() throws(Failure) {
        while !atEnd {
            if Self.isBlank(current) {
                i += 1
            } else if current == UInt8(ascii: "#"), i == 0 || Self.isBlank(b[i - 1]) {
                while !Self.isBreak(current) { i += 1 }
            } else {
                return
            }
        }
    }

    private mutating func flowNode() throws(Failure) -> JSON {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw failure("nesting deeper than \(Self.maxDepth) levels") }
        let open = i
        let isSequence = current == UInt8(ascii: "[")
        let close = isSequence ? UInt8(ascii: "]") : UInt8(ascii: "}")
        i += 1
        var items: [JSON] = []
        var fields: [String: JSON] = [:]
        while true {
            try skipFlowSpace()
            guard let c = current else { throw failure("unterminated flow collection", at: open) }
            if c == close {
                i += 1
                break
            }
            if isSequence {
                items.append(try flowScalarOrNode())
            } else {
                let keyStart = i
                let key: String
                switch try flowScalarOrNode(isKey: true) {
                case .string(let s): key = s
                case .null: key = ""
                case .number(let n): key = n
                case .bool(let v): key = v ? "true" : "false"
                default: throw failure("a mapping key must be a scalar", at: keyStart)
                }
                try skipFlowSpace()
                var value = JSON.null
                if current == UInt8(ascii: ":") {
                    i += 1
                    try skipFlowSpace()
                    if current != UInt8(ascii: ","), current != close { value = try flowScalarOrNode() }
                }
                guard fields.updateValue(value, forKey: key) == nil else { throw failure("duplicate key \(JSON.quoted(key))", at: keyStart) }
            }
            try skipFlowSpace()
            if atEnd { throw failure("unterminated flow collection", at: open) }
            if current == UInt8(ascii: ",") {
                i += 1
            } else if current != close {
                throw failure(isSequence ? "expected ',' or ']' in a flow sequence" : "expected ',' or '}' in a flow mapping")
            }
        }
        return isSequence ? .array(items) : .object(fields)
    }

    private mutating func flowScalarOrNode(isKey: Bool = false) throws(Failure) -> JSON {
        switch current {
        case UInt8(ascii: "["), UInt8(ascii: "{"): return try flowNode()
        case UInt8(ascii: "\""): return .string(try doubleQuoted())
        case UInt8(ascii: "'"): return .string(try singleQuoted())
        default:
            let start = i
            var end = i
            while let c = current, !",[]{}".utf8.contains(c), !(c == UInt8(ascii: ":") && (Self.isBlank(byte(i + 1)) || ",[]{}".utf8.contains(byte(i + 1) ?? 0))),
                !(c == UInt8(ascii: "#") && i > start && Self.isBlank(b[i - 1]))
            {
                i += 1
                if !Self.isBlank(c) { end = i }
            }
            // Plain scalars in flow context fold their line breaks into spaces.
            let words = String(decoding: b[start..<end], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" })
            let text = words.joined(separator: " ")
            if text.isEmpty, !isKey { throw failure("expected a value in a flow collection") }
            try refuseUnsupported(text, at: start)
            return isKey ? .string(text) : Self.resolvePlain(text)
        }
    }
}
