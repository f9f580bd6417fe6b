/// A message between Raft members. `term` is the sender's term, except for pre-vote requests and
/// granted pre-vote responses, which carry the term the pre-candidate would campaign in (thesis §9.6).
public struct Message: Equatable, Sendable {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var kind: Kind

    public init(from: NodeID, to: NodeID, term: Term, kind: Kind) {
        self.from = from
        self.to = to
        self.term = term
        self.kind = kind
    }

    /// The payload of a message.
    public enum Kind: Equatable, Sendable {
        /// PreVote request: "would you vote for me in `term`?" Changes nobody's term.
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        case preVoteResponse(granted: Bool)
        /// RequestVote (Raft §5.2). `transfer` marks a leadership transfer, which may bypass
        /// the CheckQuorum lease (thesis §3.10).
        case vote(lastIndex: LogIndex, lastTerm: Term, transfer: Bool)
        case voteResponse(granted: Bool)
        /// AppendEntries (Raft §5.3), possibly empty (a probe).
        case append(prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex)
        /// Reply to AppendEntries or to a completed snapshot install.
        case appendResponse(AppendResult)
        /// Leader liveness and commit propagation; `readID` confirms leadership for ReadIndex (0: none).
        case heartbeat(commit: LogIndex, readID: UInt64)
        case heartbeatResponse(readID: UInt64)
        /// One piece of an InstallSnapshot transfer (Raft §7), starting at byte `offset`.
        case snapshotChunk(SnapshotChunk)
        /// How many bytes of the snapshot at `index` the follower holds, so the leader sends the next piece.
        case snapshotAck(index: LogIndex, receivedBytes: Int)
        /// Leadership transfer: "campaign now" (thesis §3.10).
        case timeoutNow
    }

    /// A piece of a snapshot in flight.
    public struct SnapshotChunk: Equatable, Sendable {
        public var metadata: SnapshotMetadata
        public var totalBytes: Int
        public var offset: Int
        public var data: [UInt8]

        public init(metadata: SnapshotMetadata, totalBytes: Int, offset: Int, data: [UInt8]) {
            self.metadata = metadata
            self.totalBytes = totalBytes
            self.offset = offset
            self.data = data
        }
    }

    /// The follower's answer to AppendEntries.
    public enum AppendResult: Equatable, Sendable {
        /// The follower's log matches the leader's through `matchIndex`.
        case accepted(matchIndex: LogIndex)
        /// No entry at `rejectedIndex` with the given prevTerm. The hint is the follower's last
        /// entry at or below `rejectedIndex` whose term is ≤ prevTerm: the leader can skip a whole
        /// conflicting term in one round trip instead of backing up one entry at a time.
        case rejected(rejectedIndex: LogIndex, hintIndex: LogIndex, hintTerm: Term)
    }
}

extension Message: CustomStringConvertible {
    public var description: String {
        let body: String
        switch kind {
        case .preVote(let i, let t): body = "PreVote(last=\(t)/\(i))"
        case .preVoteResponse(let g): body = "PreVoteResp(\(g ? "granted" : "rejected"))"
        case .vote(let i, let t, let x): body = "Vote(last=\(t)/\(i)\(x ? ",transfer" : ""))"
        case .voteResponse(let g): body = "VoteResp(\(g ? "granted" : "rejected"))"
        case .append(let pi, let pt, let es, let c):
            body = "App(prev=\(pt)/\(pi),n=\(es.count),commit=\(c))"
        case .appendResponse(.accepted(let m)): body = "AppResp(match=\(m))"
        case .appendResponse(.rejected(let r, let hi, let ht)): body = "AppResp(reject=\(r),hint=\(ht)/\(hi))"
        case .heartbeat(let c, let r): body = "Heartbeat(commit=\(c),read=\(r))"
        case .heartbeatResponse(let r): body = "HeartbeatResp(read=\(r))"
        case .snapshotChunk(let c): body = "Snap(index=\(c.metadata.index),off=\(c.offset),n=\(c.data.count)/\(c.totalBytes))"
        case .snapshotAck(let i, let n): body = "SnapAck(index=\(i),bytes=\(n))"
        case .timeoutNow: body = "TimeoutNow"
        }
        return "\(from)->\(to) t\(term) \(body)"
    }
}
