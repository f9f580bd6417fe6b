/// A list answer written in parts, as a `ListScan` reads the list in steps: the opening (kind,
/// apiVersion and, for a table, the column definitions), the items one at a time, then the
/// metadata last, because the continue token is known only once the page has been read. JSON
/// objects are unordered: clients do not mind that `metadata` follows `items`.
public struct ListDocument: Sendable {
    private let head: JSON
    private let listKey: String
    /// Set for `as=Table`: each object becomes a row.
    private let table: TableRenderer?
    private var wroteItem = false

    /// A `KindList` of `type`, or its table when `table` is given.
    public init(of type: ResourceType, table: TableRenderer?) {
        self.table = table
        if let table {
            head = table.head
            listKey = "rows"
        } else {
            head = ["kind": .string(type.listKind), "apiVersion": .string(type.apiVersion)]
            listKey = "items"
        }
    }

    /// The text that opens the document, up to the `[` of its items.
    public func opening() -> String {
        var text = head.text
        text.removeLast()  // the head's closing brace: the items follow
        return text + #","\#(listKey)":["#
    }

    /// Writes one object (or its row) to `text`.
    public mutating func append(_ object: JSON, to text: inout String) {
        if wroteItem { text += "," }
        wroteItem = true
        (table?.row(object) ?? object).write(into: &text)
    }

    /// The text that closes the document.
    public func closing(resourceVersion: UInt64, continueToken: String?) -> String {
        #"],"metadata":"# + ListDocument.metadata(resourceVersion: resourceVersion, continueToken: continueToken).text + "}"
    }

    /// A list's metadata.
    public static func metadata(resourceVersion: UInt64, continueToken: String?) -> JSON {
        var metadata: JSON = ["resourceVersion": .string(String(resourceVersion))]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return metadata
    }
}
