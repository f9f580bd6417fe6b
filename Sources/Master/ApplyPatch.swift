/// The strategic merge patch `apply` sends, as `kubectl apply` computes it: every field of the
/// desired manifest, plus a deletion for each field (or list item, by merge key) that the last
/// applied manifest had and the desired one no longer has. Fields set by others (the status, a
/// scaled replica count the manifest never named) stay as they are.
public enum ApplyPatch {
    /// The annotation that keeps the last applied manifest, shared with kubectl.
    public static let annotation = "kubectl.kubernetes.io/last-applied-configuration"

    public static func patch(lastApplied: JSON?, desired: JSON, schema: Schema?) -> JSON {
        guard case .object(let fields) = desired else { return desired }
        var patch: [String: JSON] = [:]
        let last = lastApplied?.objectValue ?? [:]
        for (key, value) in fields {
            let child = Patch.child(schema, key)
            switch (value, child) {
            case (.object, _):
                patch[key] = self.patch(lastApplied: last[key], desired: value, schema: child)
            case (.array(let items), .list(let itemSchema, let mergeKey?)?):
                let lastItems = last[key]?.arrayValue ?? []
                let lastPositions = KeyedPositions(lastItems, key: { $0[mergeKey] })
                var merged: [JSON] = items.map { item in
                    let previous = item[mergeKey].flatMap(lastPositions.first).map { lastItems[$0] }
                    return self.patch(lastApplied: previous, desired: item, schema: itemSchema)
                }
                let desiredKeys = Set(items.compactMap { $0[mergeKey] })
                for old in lastItems {
                    if let oldKey = old[mergeKey], !desiredKeys.contains(oldKey) { merged.append(["$patch": "delete", mergeKey: oldKey]) }
                }
                patch[key] = .array(merged)
                patch["$setElementOrder/\(key)"] = .array(items.compactMap { $0[mergeKey].map { [mergeKey: $0] } })
            default:
                patch[key] = value
            }
        }
        for key in last.keys where fields[key] == nil { patch[key] = .null }
        return .object(patch)
    }
}
