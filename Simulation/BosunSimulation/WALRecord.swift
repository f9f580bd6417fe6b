import Raft

/// A record of the simulated write-ahead log, framed as
/// `length u32 · masked CRC-32C u32 · payload`. The mask (as in LevelDB) keeps an all-zero
/// header, which a torn append can leave behind, from passing as a valid empty record.
enum WALRecord: Equatable {
    case hardState(HardState)
    /// Entries replacing anything on disk from the first one's index on.
    case entries([Entry])

    static func checksum(_ payload: [UInt8]) -> UInt32 {
        let crc = CRC32C.checksum(payload)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    func framed() -> [UInt8] {
        var payload = BinaryWriter()
        switch self {
        case .hardState(let hs):
            payload.write(UInt8(1))
            payload.write(hs.term)
            payload.write(hs.vote?.rawValue ?? 0)
            payload.write(hs.commit)
        case .entries(let entries):
            payload.write(UInt8(2))
            payload.write(UInt32(entries.count))
            for e in entries {
                payload.write(e.term)
                payload.write(e.index)
                payload.write(e.kind.rawValue)
                payload.writeBytes(e.data)
            }
        }
        var frame = BinaryWriter(capacity: payload.bytes.count + 8)
        frame.write(UInt32(payload.bytes.count))
        frame.write(WALRecord.checksum(payload.bytes))
        return frame.bytes + payload.bytes
    }

    init(payload: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(payload)
        switch try r.readUInt8("record type") {
        case 1:
            let term = try r.readUInt64("term")
            let vote = try r.readUInt64("vote")
            let commit = try r.readUInt64("commit")
            self = .hardState(HardState(term: term, vote: vote == 0 ? nil : NodeID(vote), commit: commit))
        case 2:
            let count = try r.readUInt32("entry count")
            var entries: [Entry] = []
            for _ in 0..<count {
                let term = try r.readUInt64("entry term")
                let index = try r.readUInt64("entry index")
                let kindOffset = r.offset
                guard let kind = Entry.Kind(rawValue: try r.readUInt8("entry kind")) else {
                    throw DecodeError(offset: kindOffset, reason: "unknown entry kind")
                }
                entries.append(Entry(term: term, index: index, kind: kind, data: try r.readBytes("entry data")))
            }
            self = .entries(entries)
        case let type:
            throw DecodeError(offset: 0, reason: "unknown record type \(type)")
        }
        try r.expectEnd()
    }
}
