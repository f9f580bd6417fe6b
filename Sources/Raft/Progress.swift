/// What a leader knows about one follower's log (etcd-io/raft's progress tracker).
///
/// - `probe`: the leader does not know where the follower's log ends; one AppendEntries at a time.
/// - `replicate`: the follower keeps up; the leader streams appends optimistically, at most
///   `maxInflightAppends` unacknowledged.
/// - `snapshot`: the follower needs entries the leader compacted; appends wait for the install.
struct Progress: Sendable {
    enum State: String, Sendable {
        case probe, replicate, snapshot
    }

    var match: LogIndex = 0
    var next: LogIndex
    var state: State = .probe
    /// In probe state: an append is out and unanswered; wait for a reply or a heartbeat response.
    var probeSent = false
    /// Last index of each unacknowledged append, oldest first (replicate state).
    var inflights: [LogIndex] = []
    /// The snapshot being sent (snapshot state) and how many of its bytes the follower holds.
    var snapshotIndex: LogIndex = 0
    var snapshotOffset = 0
    /// Heard from since the last CheckQuorum round.
    var recentActive = false
    /// Leader ticks since the follower was last heard from.
    var idleTicks = 0

    init(next: LogIndex) {
        self.next = next
    }

    func isPaused(maxInflight: Int) -> Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.count >= maxInflight
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            next = max(match + 1, snapshotIndex + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        inflights.removeAll()
        snapshotIndex = 0
        snapshotOffset = 0
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        inflights.removeAll()
    }

    mutating func becomeSnapshot(index: LogIndex) {
        state = .snapshot
        snapshotIndex = index
        snapshotOffset = 0
        inflights.removeAll()
    }

    /// Records an acknowledgement of `index`; false if it tells us nothing new.
    mutating func acknowledge(_ index: LogIndex) -> Bool {
        var updated = false
        if index > match {
            match = index
            probeSent = false
            updated = true
        }
        next = max(next, index + 1)
        inflights.removeAll { $0 <= index }
        return updated
    }

    /// Handles a rejection of the append whose previous index was `rejected`; `hint` is the highest
    /// index at which the logs may agree. False when the rejection is stale.
    mutating func backOff(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // Appends before the rejected one may have been lost or reordered; only a rejection at
            // or above what is known to match can be stale.
            guard rejected > match else { return false }
            next = max(match + 1, min(rejected, hint + 1))
            return true
        }
        // Probe: only the reply to the outstanding probe counts.
        guard next - 1 == rejected else { return false }
        next = max(match + 1, min(rejected, hint + 1))
        probeSent = false
        return true
    }
}
