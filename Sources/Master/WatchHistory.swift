/// One change to one object, as a watch reports it.
public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
    }

    public var kind: Kind
    /// The Raft index of the write: the event's resourceVersion.
    public var index: UInt64
    public var key: String
    /// The stored text after the change (for a deletion, the last state before it).
    public var object: String
    /// The stored text before a modification (to tell when an object enters or leaves a selector).
    public var previous: String?

    public init(kind: Kind, index: UInt64, key: String, object: String, previous: String?) {
        self.kind = kind
        self.index = index
        self.key = key
        self.object = object
        self.previous = previous
    }

    /// The object after the change and, for a modification, before it, as clients see them
    /// (rendered once per event, then matched against every watcher's filter).
    public func rendered() -> (now: JSON, before: JSON?) {
        (StoredObject.render(object, version: index), previous.map { StoredObject.render($0, version: index) })
    }

    /// The event a watcher with `filter` sees, if any: an object that starts matching is ADDED,
    /// one that stops matching is DELETED (with its new state), as in Kubernetes.
    public func seen(by filter: ObjectFilter, now: JSON, before: JSON?) -> Kind? {
        guard key.hasPrefix(filter.keyPrefix) else { return nil }
        let matchesNow = filter.matches(now)
        switch kind {
        case .added, .deleted: return matchesNow ? kind : nil
        case .modified:
            switch (before.map(filter.matches) ?? false, matchesNow) {
            case (true, true): return .modified
            case (false, true): return .added
            case (true, false): return .deleted
            case (false, false): return nil
            }
        }
    }
}

/// The most recent changes, so a watch can resume from a resourceVersion (on any master: every
/// master applies the same entries and keeps the same events). Bounded: a resourceVersion older
/// than the oldest kept event is answered `410 Gone`, and the client lists again.
public struct WatchHistory: Sendable {
    public let capacity: Int
    private var ring: [WatchEvent?]
    private var start = 0
    public private(set) var count = 0
    /// Every event after this index is held; a watch may resume from here or later.
    public private(set) var firstIndex: UInt64

    public init(capacity: Int, startingAfter index: UInt64) {
        precondition(capacity > 0, "a watch history holds at least one event")
        self.capacity = capacity
        ring = Array(repeating: nil, count: capacity)
        firstIndex = index
    }

    /// Forgets everything: the state was replaced (a snapshot installed), so events before
    /// `index` are unknown.
    public mutating func reset(startingAfter index: UInt64) {
        self = WatchHistory(capacity: capacity, startingAfter: index)
    }

    public mutating func append(_ event: WatchEvent) {
        if count == capacity {
            firstIndex = ring[start]!.index
            ring[start] = event
            start = (start + 1) % capacity
        } else {
            ring[(start + count) % capacity] = event
            count += 1
        }
    }

    private func at(_ i: Int) -> WatchEvent { ring[(start + i) % capacity]! }

    /// The events after `index` whose key starts with `keyPrefix` (one resource's, in a watch's
    /// replay: the history holds every kind), oldest first; nil when some events after `index`
    /// are no longer held.
    public func events(after index: UInt64, under keyPrefix: String = "") -> [WatchEvent]? {
        guard index >= firstIndex else { return nil }
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if at(mid).index <= index { low = mid + 1 } else { high = mid }
        }
        return (low..<count).map(at).filter { $0.key.hasPrefix(keyPrefix) }
    }
}
