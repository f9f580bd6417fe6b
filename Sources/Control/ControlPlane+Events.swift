import Master

/// An Event a controller records about an object once the write it reports has applied
/// (`SuccessfulCreate`, `Scheduled`, ...), in Kubernetes' words.
struct EventNote: Sendable {
    /// The `involvedObject` reference.
    var involved: JSON
    /// The controller that records it (`source.component`): `default-scheduler`, ...
    var component: String
    /// `Normal` or `Warning`.
    var type: String
    var reason: String
    var message: String

    init(about object: ObjectMeta, component: String, type: String = "Normal", reason: String, message: String) {
        var involved: JSON = ["kind": object.object["kind"] ?? "", "name": .string(object.name), "uid": .string(object.uid),
                              "apiVersion": object.object["apiVersion"] ?? "", "resourceVersion": .string(String(object.version))]
        if !object.namespace.isEmpty { involved["namespace"] = .string(object.namespace) }
        self.involved = involved
        self.component = component
        self.type = type
        self.reason = reason
        self.message = message
    }

    var involvedUID: String { involved["uid"]?.stringValue ?? "" }

    var correlation: String {
        EventFacts.correlation(component: component, involvedUID: involvedUID, type: type, reason: reason, message: message)
    }
}

/// What one object's events from one controller may still spend: `burst` at once, then one per
/// refill interval (a token bucket, on the control plane's clock).
struct EventBucket: Sendable {
    var tokens: Int
    var refilledNs: UInt64

    /// Takes a token if there is one.
    mutating func take(nowNs: UInt64, burst: Int, refillNs: UInt64) -> Bool {
        let earned = (nowNs &- refilledNs) / max(1, refillNs)
        if earned > 0 {
            tokens = min(burst, tokens + Int(min(earned, UInt64(burst))))
            refilledNs = tokens == burst ? nowNs : refilledNs + earned * refillNs
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }
}

/// The event recorder and the event collector. An event is written once what it reports has
/// applied; one already stored with the same source, object, type, reason and message counts up
/// (`count`, `lastTimestamp`) instead of being created again; each object's events from each
/// controller are rate-limited as Kubernetes' recorder does; and beyond `maxEvents` the oldest
/// events are deleted. Events are best effort: a write that fails is not retried.
extension ControlPlane {
    /// Writes the events whose writes applied, within this round's budget.
    mutating func recordPendingEvents() {
        var waiting: [EventNote] = []
        for note in pendingEvents {
            guard round.count < options.maxWritesPerRound, !eventsInFlight.contains(note.correlation) else {
                waiting.append(note)
                continue
            }
            record(note)
        }
        pendingEvents = waiting
    }

    mutating func record(_ note: EventNote) {
        let bucketKey = note.component + "\n" + note.involvedUID
        if eventBuckets.count >= 4 * options.maxEvents { forgetFullBuckets() }
        var bucket = eventBuckets[bucketKey] ?? EventBucket(tokens: options.eventBurst, refilledNs: nowNs)
        let allowed = bucket.take(nowNs: nowNs, burst: options.eventBurst, refillNs: options.eventRefillNs)
        eventBuckets[bucketKey] = bucket
        guard allowed else { return }

        let correlation = note.correlation
        let now = JSON.string(Timestamp.text(seconds: nowSeconds))
        if let key = view.eventsByCorrelation[correlation], let event = view.events[key] {
            var object = event.meta.object
            object["count"] = .number(event.count < Int.max ? event.count + 1 : event.count)  // a stored count is anyone's input
            object["lastTimestamp"] = now
            return write(.update(key: key, object: object, expectedVersion: event.meta.version), for: nil, recording: correlation)
        }
        let namespace = note.involved["namespace"]?.stringValue ?? "default"
        let body: JSON = [
            "metadata": ["generateName": .string((note.involved["name"]?.stringValue ?? "") + ".")], "involvedObject": note.involved, "reason": .string(note.reason),
            "message": .string(note.message), "source": ["component": .string(note.component)], "firstTimestamp": now,
            "lastTimestamp": now, "count": 1, "type": .string(note.type), "reportingComponent": .string(note.component),
            "reportingInstance": "",
        ]
        create(.events, in: namespace, body, for: nil, recording: correlation)
    }

    /// Buckets that have refilled are as good as new: forgotten, to bound the table. If that
    /// frees less than half, all are forgotten (each object gets a fresh burst), so the table is
    /// scanned at most once per that many new objects.
    mutating func forgetFullBuckets() {
        let full = UInt64(options.eventBurst) * options.eventRefillNs
        eventBuckets = eventBuckets.filter { nowNs &- $0.value.refilledNs < full }
        if eventBuckets.count >= 2 * options.maxEvents { eventBuckets = [:] }
    }

    /// Deletes the oldest events beyond `maxEvents`.
    mutating func collectEvents() {
        for event in view.oldestEvents(view.events.count - options.maxEvents) {
            write(.delete(key: event.meta.key, expectedVersion: event.meta.version), for: .events)
        }
    }
}
