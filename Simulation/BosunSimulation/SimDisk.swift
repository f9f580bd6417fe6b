import Host
import Raft

/// One node's simulated disk: a log of framed records plus a snapshot file.
///
/// Appends land in the page cache; `sync()` makes them durable. A crash keeps only what was
/// synced, except that the first unsynced record may survive torn: cut short, or full length
/// with its tail zeroed (the file grew but the data never reached the platter). The snapshot
/// file is replaced atomically (write, fsync, rename, fsync the directory).
struct SimDisk {
    /// The log file, one framed record per element.
    private(set) var frames: [[UInt8]] = []
    private(set) var syncedCount = 0
    private(set) var snapshot: Snapshot?

    var hasUnsyncedWrites: Bool { syncedCount < frames.count }

    mutating func append(_ record: WALRecord) {
        frames.append(record.framed())
    }

    /// Writes what a batch asks to persist (unsynced): the snapshot first, then entries, then the
    /// hard state. Entries go before the hard state so that a commit index never reaches the disk
    /// ahead of the entries it covers; otherwise a torn write could leave it pointing at an older
    /// entry at the same index (found by the simulator, seed 216).
    mutating func write(_ batch: PersistBatch) {
        if let snap = batch.snapshot { saveSnapshot(snap, resetLog: true) }
        batch.records.forEach { append($0) }
    }

    /// Replaces one record's bytes, as a failing disk might (for tests of recovery).
    mutating func replaceFrame(_ index: Int, with bytes: [UInt8]) {
        frames[index] = bytes
    }

    mutating func sync() {
        syncedCount = frames.count
    }

    /// Durably replaces the snapshot and rewrites the synced part of the log without what the
    /// snapshot covers (segment deletion), atomically. With `resetLog` (a snapshot installed from
    /// the leader) every entry goes: the log the snapshot replaced may conflict with it.
    mutating func saveSnapshot(_ snap: Snapshot, resetLog: Bool) {
        snapshot = snap
        var kept = PersistentState()
        var sawHardState = false
        for frame in frames[0..<syncedCount] {
            guard let record = try? WALRecord(payload: Array(frame.dropFirst(WALRecord.headerBytes))) else {
                preconditionFailure("synced record unreadable")
            }
            if case .hardState = record { sawHardState = true }
            WALRecord.replay(record, into: &kept)
        }
        var rewritten: [[UInt8]] = []
        if sawHardState { rewritten.append(WALRecord.hardState(kept.hardState).framed()) }
        let after = resetLog ? [] : kept.entries.filter { $0.index > snap.metadata.index }
        if !after.isEmpty { rewritten.append(WALRecord.entries(after).framed()) }
        let unsynced = frames[syncedCount...]
        frames = rewritten + (resetLog ? [] : Array(unsynced))
        syncedCount = rewritten.count
    }

    /// The machine stops: unsynced records vanish, but the first of them may stay, torn.
    mutating func crash(using rng: inout SplitMix64, tearProbability: Double) {
        guard hasUnsyncedWrites else { return }
        var torn: [UInt8]?
        if rng.chance(tearProbability) {
            var frame = frames[syncedCount]
            let cut = rng.index(frame.count)
            if rng.chance(0.5) {
                frame.removeLast(frame.count - cut)
            } else {
                for i in cut..<frame.count { frame[i] = 0 }
            }
            torn = frame
        }
        frames.removeLast(frames.count - syncedCount)
        if let torn {
            frames.append(torn)
            syncedCount = frames.count
        }
    }

    /// Why recovery refused the disk.
    struct CorruptionError: Error, CustomStringConvertible {
        var record: Int
        var reason: String
        var description: String { "log record \(record): \(reason)" }
    }

    /// Reads the disk back after a restart by the rule the write-ahead log uses
    /// (`WALRecord.readLog`): a bad last record is a torn write and is cut off; a bad record
    /// followed by more is corruption and stops recovery with an error. `acceptTorn` is the
    /// planted bug: a record that fails its checksum is used if it decodes.
    mutating func recover(acceptTorn: Bool) throws(CorruptionError) -> PersistentState {
        let bytes = frames.flatMap { $0 }
        let log: (records: [WALRecord], validBytes: Int)
        do { log = try WALRecord.readLog(bytes, isLast: true, acceptTorn: acceptTorn) } catch {
            throw CorruptionError(record: frameNumber(at: error.offset), reason: error.reason)
        }
        // Cut the torn tail: keep the frames that end within the valid bytes (a write torn to
        // nothing leaves an empty frame, which is no record either).
        var end = 0
        var kept = 0
        while kept < frames.count, !frames[kept].isEmpty, end + frames[kept].count <= log.validBytes {
            end += frames[kept].count
            kept += 1
        }
        frames.removeLast(frames.count - kept)
        syncedCount = min(syncedCount, frames.count)
        var state = PersistentState(snapshot: snapshot)
        for record in log.records { WALRecord.replay(record, into: &state) }
        let snapshotIndex = snapshot?.metadata.index ?? 0
        state.entries.removeAll { $0.index <= snapshotIndex }
        return state
    }

    /// Which frame holds the byte at `offset` of the log.
    func frameNumber(at offset: Int) -> Int {
        var end = 0
        for (number, frame) in frames.enumerated() {
            end += frame.count
            if offset < end { return number }
        }
        return frames.count
    }
}
