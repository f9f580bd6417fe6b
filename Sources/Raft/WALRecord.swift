/// A record of the write-ahead log, shared by the real log files and the simulator's disk.
/// Framed as `length u32 · masked CRC-32C u32 · payload`. The mask (as in LevelDB) keeps an
/// all-zero header, which a torn append can leave behind, from passing as a valid empty record.
public enum WALRecord: Equatable, Sendable {
    case hardState(HardState)
    /// Entries replacing anything on disk from the first one's index on.
    case entries([Entry])

    /// Bytes of the frame header.
    public static let headerBytes = 8
    /// Largest payload a frame may claim; a bigger length is corruption, never an allocation.
    public static let maxPayloadBytes = 64 << 20

    public static func checksum(_ payload: some Collection<UInt8>) -> UInt32 {
        let crc = CRC32C.checksum(payload)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// The record as a complete frame.
    public func framed() -> [UInt8] {
        var payload = BinaryWriter()
        switch self {
        case .hardState(let hs):
            payload.write(UInt8(1))
            payload.write(hs.term)
            payload.write(hs.vote?.rawValue ?? 0)
            payload.write(hs.commit)
        case .entries(let entries):
            payload.write(UInt8(2))
            Entry.encode(entries, into: &payload)
        }
        return WALRecord.frame(payload.bytes)
    }

    /// `payload` with the frame header in front: its length and masked checksum.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        var frame = BinaryWriter(capacity: payload.count + headerBytes)
        frame.write(UInt32(payload.count))
        frame.write(checksum(payload))
        return frame.bytes + payload
    }

    /// The payload of the frame at `offset` if the frame is complete and its checksum matches.
    public static func intactPayload(in bytes: [UInt8], at offset: Int) -> [UInt8]? {
        intactRange(in: bytes, at: offset).map { Array(bytes[$0]) }
    }

    /// Where the payload of the frame at `offset` lies, if the frame is complete and its checksum
    /// matches (nothing is copied: recovery calls this at every offset of a torn tail).
    static func intactRange(in bytes: [UInt8], at offset: Int) -> Range<Int>? {
        guard offset >= 0, bytes.count - offset >= headerBytes else { return nil }
        func word(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        let length = Int(word(offset))
        guard length <= maxPayloadBytes, bytes.count - offset - headerBytes >= length else { return nil }
        let range = offset + headerBytes..<offset + headerBytes + length
        return checksum(bytes[range]) == word(offset + 4) ? range : nil
    }

    /// Why a log could not be read: a bad record with intact records after it (or in a segment
    /// that is not the last), or a record whose checksum matches but which does not decode.
    public struct LogCorruption: Error, Equatable, Sendable {
        public var offset: Int
        public var reason: String
    }

    /// What a log file means — the one rule the write-ahead log and the simulator's disk share.
    /// Intact records are read in order; a bad record with nothing intact after it in the last
    /// segment is a torn write, and the log ends before it (`validBytes`); a bad record anywhere
    /// else is corruption. `acceptTorn` is the planted bug that uses a torn record if it decodes.
    /// The search for an intact record after a bad one tries each later offset without copying:
    /// bounded by the segment's size (a header read per offset, a checksum only where a length fits).
    public static func readLog(_ bytes: [UInt8], isLast: Bool, acceptTorn: Bool = false) throws(LogCorruption) -> (records: [WALRecord], validBytes: Int) {
        var records: [WALRecord] = []
        var offset = 0
        while offset < bytes.count {
            if let range = intactRange(in: bytes, at: offset) {
                do {
                    records.append(try WALRecord(payload: Array(bytes[range])))
                } catch {
                    throw LogCorruption(offset: range.lowerBound + error.offset, reason: "checksum matches but \(error.reason)")
                }
                offset = range.upperBound
                continue
            }
            let laterRecord = (offset + 1..<bytes.count).contains { intactRange(in: bytes, at: $0) != nil }
            guard isLast && !laterRecord else {
                throw LogCorruption(offset: offset, reason: "record fails its checksum and intact records follow")
            }
            if acceptTorn, bytes.count - offset > headerBytes, let record = try? WALRecord(payload: Array(bytes[(offset + headerBytes)...])) {
                records.append(record)
                return (records, bytes.count)
            }
            return (records, offset)
        }
        return (records, offset)
    }

    /// Decodes a payload whose checksum has been verified.
    public init(payload: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(payload)
        let typeOffset = r.offset
        switch try r.readUInt8("record type") {
        case 1:
            let term = try r.readUInt64("term")
            let vote = try r.readUInt64("vote")
            let commit = try r.readUInt64("commit")
            self = .hardState(HardState(term: term, vote: vote == 0 ? nil : NodeID(vote), commit: commit))
        case 2:
            self = .entries(try Entry.decodeList(from: &r))
        case let type:
            throw DecodeError(offset: typeOffset, reason: "unknown record type \(type)")
        }
        try r.expectEnd()
    }

    /// How records combine on replay: each entry batch replaces the entries from its first index
    /// on; the last hard state wins.
    public static func replay(_ record: WALRecord, into state: inout PersistentState) {
        switch record {
        case .hardState(let hs):
            state.hardState = hs
        case .entries(let batch):
            guard let first = batch.first else { return }
            if let start = state.entries.first?.index, first.index >= start, first.index <= start + LogIndex(state.entries.count) {
                state.entries.removeLast(state.entries.count - Int(first.index - start))
            } else {
                // Before the log, or after a gap: the batch starts the log anew. (A gap is left by
                // a crash between installing a leader's snapshot and deleting the old log; recovery
                // then requires the log to continue the snapshot.)
                state.entries.removeAll()
            }
            state.entries.append(contentsOf: batch)
        }
    }
}
