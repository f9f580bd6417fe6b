/// The binary wire form of Raft messages (for the peer transport): little-endian integers and
/// length-prefixed byte strings, one tag byte per kind. Framing and checksums belong to the
/// transport; this is only the body. Decoding never trusts a length: bad input is a `DecodeError`.
extension Message {
    enum Tag: UInt8 {
        case preVote = 1, preVoteResponse, vote, voteResponse, append, appendAccepted, appendRejected
        case heartbeat, heartbeatResponse, snapshotChunk, snapshotAck, timeoutNow
    }

    /// Upper bound on entries in one decoded message, so a forged count cannot allocate wildly.
    public static let maxEntriesPerMessage = 1 << 20

    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 64)
        w.write(from.rawValue)
        w.write(to.rawValue)
        w.write(term)
        switch kind {
        case .preVote(let index, let lastTerm):
            w.write(Tag.preVote.rawValue); w.write(index); w.write(lastTerm)
        case .preVoteResponse(let granted):
            w.write(Tag.preVoteResponse.rawValue); w.write(granted)
        case .vote(let index, let lastTerm, let transfer):
            w.write(Tag.vote.rawValue); w.write(index); w.write(lastTerm); w.write(transfer)
        case .voteResponse(let granted):
            w.write(Tag.voteResponse.rawValue); w.write(granted)
        case .append(let prevIndex, let prevTerm, let entries, let commit):
            w.write(Tag.append.rawValue); w.write(prevIndex); w.write(prevTerm); w.write(commit)
            Entry.encode(entries, into: &w)
        case .appendResponse(.accepted(let match)):
            w.write(Tag.appendAccepted.rawValue); w.write(match)
        case .appendResponse(.rejected(let rejected, let hintIndex, let hintTerm)):
            w.write(Tag.appendRejected.rawValue); w.write(rejected); w.write(hintIndex); w.write(hintTerm)
        case .heartbeat(let commit, let readID):
            w.write(Tag.heartbeat.rawValue); w.write(commit); w.write(readID)
        case .heartbeatResponse(let readID):
            w.write(Tag.heartbeatResponse.rawValue); w.write(readID)
        case .snapshotChunk(let chunk):
            w.write(Tag.snapshotChunk.rawValue)
            chunk.metadata.encode(into: &w)
            w.write(UInt64(chunk.totalBytes)); w.write(UInt64(chunk.offset)); w.writeBytes(chunk.data)
        case .snapshotAck(let index, let received):
            w.write(Tag.snapshotAck.rawValue); w.write(index); w.write(UInt64(received))
        case .timeoutNow:
            w.write(Tag.timeoutNow.rawValue)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(bytes)
        from = NodeID(try r.readUInt64("from"))
        to = NodeID(try r.readUInt64("to"))
        term = try r.readUInt64("term")
        let tagOffset = r.offset
        guard let tag = Tag(rawValue: try r.readUInt8("kind")) else {
            throw DecodeError(offset: tagOffset, reason: "unknown message kind \(bytes[tagOffset])")
        }
        switch tag {
        case .preVote: kind = .preVote(lastIndex: try r.readUInt64("last index"), lastTerm: try r.readUInt64("last term"))
        case .preVoteResponse: kind = .preVoteResponse(granted: try r.readBool("granted"))
        case .vote:
            kind = .vote(lastIndex: try r.readUInt64("last index"), lastTerm: try r.readUInt64("last term"), transfer: try r.readBool("transfer"))
        case .voteResponse: kind = .voteResponse(granted: try r.readBool("granted"))
        case .append:
            let prevIndex = try r.readUInt64("prev index")
            let prevTerm = try r.readUInt64("prev term")
            let commit = try r.readUInt64("commit")
            kind = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: try Entry.decodeList(from: &r), commit: commit)
        case .appendAccepted: kind = .appendResponse(.accepted(matchIndex: try r.readUInt64("match index")))
        case .appendRejected:
            kind = .appendResponse(.rejected(
                rejectedIndex: try r.readUInt64("rejected index"), hintIndex: try r.readUInt64("hint index"),
                hintTerm: try r.readUInt64("hint term")))
        case .heartbeat: kind = .heartbeat(commit: try r.readUInt64("commit"), readID: try r.readUInt64("read id"))
        case .heartbeatResponse: kind = .heartbeatResponse(readID: try r.readUInt64("read id"))
        case .snapshotChunk:
            let metadata = try SnapshotMetadata(decoding: &r)
            let total = try r.readCount("total bytes")
            let offset = try r.readCount("offset")
            kind = .snapshotChunk(SnapshotChunk(metadata: metadata, totalBytes: total, offset: offset, data: try r.readBytes("chunk")))
        case .snapshotAck: kind = .snapshotAck(index: try r.readUInt64("index"), receivedBytes: try r.readCount("received bytes"))
        case .timeoutNow: kind = .timeoutNow
        }
        try r.expectEnd()
    }
}

extension Entry {
    /// A count followed by each entry's term, index, kind and data.
    public static func encode(_ entries: [Entry], into w: inout BinaryWriter) {
        w.write(UInt32(entries.count))
        for e in entries {
            w.write(e.term)
            w.write(e.index)
            w.write(e.kind.rawValue)
            w.writeBytes(e.data)
        }
    }

    public static func decodeList(from r: inout BinaryReader) throws(DecodeError) -> [Entry] {
        let countOffset = r.offset
        let count = Int(try r.readUInt32("entry count"))
        // Each entry takes at least 21 bytes: a count larger than what is left is a lie.
        guard count <= Message.maxEntriesPerMessage, count <= r.remaining / 21 else {
            throw DecodeError(offset: countOffset, reason: "entry count \(count) exceeds the input")
        }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let term = try r.readUInt64("entry term")
            let index = try r.readUInt64("entry index")
            let kindOffset = r.offset
            guard let kind = Entry.Kind(rawValue: try r.readUInt8("entry kind")) else {
                throw DecodeError(offset: kindOffset, reason: "unknown entry kind")
            }
            entries.append(Entry(term: term, index: index, kind: kind, data: try r.readBytes("entry data")))
        }
        return entries
    }
}

extension SnapshotMetadata {
    public func encode(into w: inout BinaryWriter) {
        w.write(index)
        w.write(term)
        w.write(UInt32(configuration.voters.count))
        for voter in configuration.voters { w.write(voter.rawValue) }
    }

    public init(decoding r: inout BinaryReader) throws(DecodeError) {
        index = try r.readUInt64("snapshot index")
        term = try r.readUInt64("snapshot term")
        let countOffset = r.offset
        let count = Int(try r.readUInt32("voter count"))
        guard count <= r.remaining / 8 else {
            throw DecodeError(offset: countOffset, reason: "voter count \(count) exceeds the input")
        }
        var voters: [NodeID] = []
        for _ in 0..<count { voters.append(NodeID(try r.readUInt64("voter"))) }
        configuration = Configuration(voters: voters)
    }
}
