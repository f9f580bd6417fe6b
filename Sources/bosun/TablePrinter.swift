import Master

/// Prints server-side tables as `kubectl get` does: upper-case headers, columns padded to their
/// widest cell plus three spaces, `-o wide` adding the priority-1 columns, `-A` a NAMESPACE
/// column first.
struct TablePrinter {
    var wide: Bool
    var withNamespace: Bool
    private(set) var widths: [Int] = []
    private var columns: [Int] = []

    init(wide: Bool, withNamespace: Bool) {
        self.wide = wide
        self.withNamespace = withNamespace
    }

    static func cellText(_ cell: JSON) -> String {
        switch cell {
        case .string(let s): s
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        case .null: "<none>"
        default: cell.text
        }
    }

    /// The rows of a table as text cells, the header first.
    mutating func lines(_ table: JSON, header: Bool) -> [[String]] {
        if let definitions = table["columnDefinitions"]?.arrayValue, !definitions.isEmpty {
            columns = definitions.indices.filter { (definitions[$0]["priority"]?.intValue ?? 0) == 0 || wide }
            var names = columns.map { definitions[$0]["name"]?.stringValue?.uppercased() ?? "" }
            if withNamespace { names.insert("NAMESPACE", at: 0) }
            if header { return [names] + rows(table) }
        }
        return rows(table)
    }

    func rows(_ table: JSON) -> [[String]] {
        (table["rows"]?.arrayValue ?? []).map { row in
            let cells = row["cells"]?.arrayValue ?? []
            var text = columns.map { $0 < cells.count ? Self.cellText(cells[$0]) : "" }
            if withNamespace { text.insert(row[path: ["object", "metadata", "namespace"]]?.stringValue ?? "", at: 0) }
            return text
        }
    }

    /// Formats lines, widening columns as needed (a watch keeps the widths of what came before).
    mutating func format(_ lines: [[String]]) -> String {
        for line in lines {
            for (i, cell) in line.enumerated() {
                if i >= widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        return lines.map { line in
            line.enumerated().map { i, cell in
                i + 1 == line.count ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 3)
            }.joined()
        }.map { $0 + "\n" }.joined()
    }
}
