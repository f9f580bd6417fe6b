import Raft
import Testing

/// The binary wire form of Raft messages and WAL records: round trips, and bad input refused
/// with a `DecodeError`, never a crash or a wild allocation.
struct MessageCodecTests {
    static let meta = SnapshotMetadata(index: 9, term: 3, configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)]))
    static let samples: [Message.Kind] = [
        .preVote(lastIndex: 5, lastTerm: 2),
        .preVoteResponse(granted: true),
        .vote(lastIndex: 7, lastTerm: 3, transfer: true),
        .voteResponse(granted: false),
        .append(prevIndex: 4, prevTerm: 2, entries: [Entry(term: 2, index: 5, data: [1, 2, 3]), Entry(term: 3, index: 6, kind: .noop)], commit: 4),
        .append(prevIndex: 0, prevTerm: 0, entries: [], commit: 0),
        .appendResponse(.accepted(matchIndex: 6)),
        .appendResponse(.rejected(rejectedIndex: 9, hintIndex: 4, hintTerm: 2)),
        .heartbeat(commit: 6, readID: 11),
        .heartbeatResponse(readID: 11),
        .snapshotChunk(.init(metadata: meta, totalBytes: 100, offset: 40, data: Array(repeating: 9, count: 20))),
        .snapshotAck(index: 9, receivedBytes: 60),
        .timeoutNow,
    ]

    static var messages: [Message] {
        samples.map { Message(from: NodeID(1), to: NodeID(2), term: 3, kind: $0) }
    }

    @Test func everyKindRoundTrips() throws {
        for m in Self.messages {
            #expect(try Message(decoding: m.encoded()) == m)
        }
    }

    /// Every proper prefix of every message is refused.
    @Test func truncatedMessagesAreRefused() {
        for m in Self.messages {
            let bytes = m.encoded()
            for cut in 0..<bytes.count {
                #expect(throws: DecodeError.self) { try Message(decoding: Array(bytes.prefix(cut))) }
            }
            #expect(throws: DecodeError.self) { try Message(decoding: bytes + [0]) }
        }
    }

    @Test func unknownKindAndForgedCountsAreRefused() {
        var bytes = Self.messages[0].encoded()
        bytes[24] = 200
        #expect(throws: DecodeError(offset: 24, reason: "unknown message kind 200")) { try Message(decoding: bytes) }
        // An append claiming four billion entries in a few bytes.
        var w = BinaryWriter()
        w.write(UInt64(1)); w.write(UInt64(2)); w.write(UInt64(3)); w.write(UInt8(5))
        w.write(UInt64(0)); w.write(UInt64(0)); w.write(UInt64(0)); w.write(UInt32.max)
        #expect(throws: DecodeError(offset: 49, reason: "entry count 4294967295 exceeds the input")) { try Message(decoding: w.bytes) }
    }

    /// Random bytes and random mutations of valid messages never crash the decoder.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix64(seed: 7)
        let valid = Self.messages.map { $0.encoded() }
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = valid[Int(rng.next() % UInt64(valid.count))]
                for _ in 0...Int(rng.next() % 3) where !bytes.isEmpty {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            _ = try? Message(decoding: bytes)
        }
    }

    @Test func walRecordsRoundTrip() throws {
        let records: [WALRecord] = [
            .hardState(HardState(term: 4, vote: NodeID(2), commit: 10)),
            .hardState(HardState(term: 1, vote: nil, commit: 0)),
            .entries([Entry(term: 4, index: 11, data: Array("x".utf8)), Entry(term: 4, index: 12, kind: .noop)]),
        ]
        for record in records {
            let frame = record.framed()
            let payload = Array(frame.dropFirst(WALRecord.headerBytes))
            var header = BinaryReader(Array(frame.prefix(WALRecord.headerBytes)))
            #expect(try header.readUInt32() == UInt32(payload.count))
            #expect(try header.readUInt32() == WALRecord.checksum(payload))
            #expect(try WALRecord(payload: payload) == record)
        }
        // An all-zero header does not pass as an empty record.
        #expect(WALRecord.checksum([]) != 0)
    }
}
