import Glibc
import Raft

/// The durable log of one master, in a directory of its own:
///
/// - segment files `wal-<16 hex digits>.log`, each a sequence of framed `WALRecord`s and each
///   starting with the hard state current when it was opened, so deleting older segments never
///   loses the hard state;
/// - `snapshot.bin`, one frame holding the snapshot metadata and data, replaced atomically
///   (write `snapshot-INDEX.tmp`, fdatasync, rename, fsync the directory).
///
/// `append` writes a batch's entries and then its hard state (so a commit index never reaches the
/// disk ahead of its entries); `sync` makes everything appended durable. On open, a torn record at
/// the end of the last segment is cut off; a bad record anywhere else stops recovery with an error
/// naming the file and the offset.
public final class WriteAheadLog {
    /// Tunables.
    public struct Options: Sendable {
        /// A segment is closed and a new one started once it grows past this size.
        public var segmentBytes = 64 << 20

        public init() {}
    }

    /// Why the log could not be opened or written.
    public enum Failure: Error, CustomStringConvertible {
        case io(IOFailure)
        /// A record that is not a torn tail failed its checksum or could not be decoded.
        case corrupt(file: String, offset: Int, reason: String)

        public var description: String {
            switch self {
            case .io(let failure): return "\(failure)"
            case .corrupt(let file, let offset, let reason): return "corrupt write-ahead log \(file) at byte \(offset): \(reason)"
            }
        }
    }

    public let directory: String
    let options: Options
    private var fd: Int32 = -1
    private var segmentPath = ""
    private var segmentNumber: UInt64 = 0
    private var segmentSize = 0
    /// Closed segments, oldest first, with the highest entry index each holds (0: none).
    private var closedSegments: [(path: String, lastIndex: LogIndex)] = []
    private var currentLastIndex: LogIndex = 0
    private var hardState = HardState()

    var snapshotPath: String { directory + "/snapshot.bin" }

    private init(directory: String, options: Options) {
        self.directory = directory
        self.options = options
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Opens (creating if needed) the log in `directory` and returns what it holds.
    public static func open(directory: String, options: Options = Options()) throws(Failure) -> (WriteAheadLog, PersistentState) {
        let wal = WriteAheadLog(directory: directory, options: options)
        let state = try wal.recover()
        return (wal, state)
    }

    private func io<T>(_ body: () throws(IOFailure) -> T) throws(Failure) -> T {
        do { return try body() } catch { throw .io(error) }
    }

    // MARK: Writing

    /// Appends records in order (a batch's entries, then its hard state). Not durable until `sync()`.
    public func append(_ records: [WALRecord]) throws(Failure) {
        var bytes: [UInt8] = []
        for record in records {
            switch record {
            case .entries(let entries): if let last = entries.last { currentLastIndex = max(currentLastIndex, last.index) }
            case .hardState(let hs): hardState = hs
            }
            bytes += record.framed()
        }
        guard !bytes.isEmpty else { return }
        if segmentSize >= options.segmentBytes { try startSegment() }
        try io { () throws(IOFailure) in try FileIO.writeAll(fd, bytes, path: segmentPath) }
        segmentSize += bytes.count
    }

    /// Makes everything appended durable (fdatasync). A failure here means nothing since the last
    /// successful sync may be acknowledged.
    public func sync() throws(Failure) {
        try io { () throws(IOFailure) in try FileIO.dataSync(fd, path: segmentPath) }
    }

    /// Durably replaces the snapshot, then drops segments it makes redundant. With `resetLog` (a
    /// snapshot installed from the leader) every older segment goes: its entries may conflict.
    public func saveSnapshot(_ snapshot: Snapshot, resetLog: Bool) throws(Failure) {
        let temporary = try WriteAheadLog.writeSnapshotFile(snapshot, directory: directory)
        try adoptSnapshotFile(temporary, metadata: snapshot.metadata, resetLog: resetLog)
    }

    /// Writes `snapshot` to a temporary file in `directory` and fdatasyncs it; returns its path.
    /// Touches nothing else, so it may run on another thread while the log is appended to.
    public static func writeSnapshotFile(_ snapshot: Snapshot, directory: String) throws(Failure) -> String {
        var payload = BinaryWriter(capacity: snapshot.data.count + 64)
        snapshot.metadata.encode(into: &payload)
        payload.writeBytes(snapshot.data)
        let temporary = directory + "/snapshot-\(snapshot.metadata.index).tmp"
        do {
            let tmp = try FileIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
            defer { Glibc.close(tmp) }
            try FileIO.writeAll(tmp, WALRecord.frame(payload.bytes), path: temporary)
            try FileIO.dataSync(tmp, path: temporary)
        } catch {
            throw .io(error)
        }
        return temporary
    }

    /// Makes a written snapshot file the snapshot (rename, fsync the directory), starts a fresh
    /// segment that begins with the current hard state, and deletes the segments it covers.
    public func adoptSnapshotFile(_ temporary: String, metadata: SnapshotMetadata, resetLog: Bool) throws(Failure) {
        try io { () throws(IOFailure) in
            try FileIO.rename(temporary, snapshotPath)
            try FileIO.syncDirectory(directory)
        }
        if resetLog { currentLastIndex = 0 }
        try startSegment()
        try sync()
        var keep: [(path: String, lastIndex: LogIndex)] = []
        var dropping = true
        for segment in closedSegments {
            if dropping && (resetLog || segment.lastIndex <= metadata.index) {
                try io { () throws(IOFailure) in try FileIO.remove(segment.path) }
            } else {
                dropping = false
                keep.append(segment)
            }
        }
        closedSegments = keep
        try io { () throws(IOFailure) in try FileIO.syncDirectory(directory) }
    }

    private func startSegment() throws(Failure) {
        if fd >= 0 {
            try sync()
            Glibc.close(fd)
            closedSegments.append((segmentPath, currentLastIndex))
            fd = -1
        }
        segmentNumber += 1
        segmentPath = directory + "/" + WriteAheadLog.segmentName(segmentNumber)
        fd = try io { () throws(IOFailure) in try FileIO.open(segmentPath, O_WRONLY | O_CREAT | O_APPEND) }
        try io { () throws(IOFailure) in try FileIO.syncDirectory(directory) }
        let header = WALRecord.hardState(hardState).framed()
        try io { () throws(IOFailure) in try FileIO.writeAll(fd, header, path: segmentPath) }
        segmentSize = header.count
    }

    static func segmentName(_ number: UInt64) -> String {
        let hex = String(number, radix: 16)
        return "wal-" + String(repeating: "0", count: 16 - hex.count) + hex + ".log"
    }

    // MARK: Recovery

    private func recover() throws(Failure) -> PersistentState {
        try io { () throws(IOFailure) in try FileIO.makeDirectory(directory) }
        var state = PersistentState()
        let names = try io { () throws(IOFailure) in try FileIO.list(directory) }
        for name in names where name.hasSuffix(".tmp") {
            // A snapshot that was being written when the process stopped.
            try io { () throws(IOFailure) in try FileIO.remove(directory + "/" + name) }
        }
        if names.contains("snapshot.bin") {
            state.snapshot = try readSnapshot()
        }
        let segments = names.filter { $0.hasPrefix("wal-") && $0.hasSuffix(".log") }
        for (k, name) in segments.enumerated() {
            let path = directory + "/" + name
            let isLast = k == segments.count - 1
            let lastIndex = try replaySegment(path, isLast: isLast, into: &state)
            if isLast {
                segmentPath = path
                segmentNumber = UInt64(name.dropFirst(4).dropLast(4), radix: 16) ?? UInt64(k + 1)
                currentLastIndex = lastIndex
            } else {
                closedSegments.append((path, lastIndex))
            }
        }
        hardState = state.hardState
        state.dropEntriesNotContinuingSnapshot()
        let base = state.snapshot?.metadata.index ?? 0
        if let first = state.entries.first, first.index != base + 1 {
            throw .corrupt(file: directory, offset: 0, reason: "the log starts at entry \(first.index), after \(base == 0 ? "no snapshot" : "the snapshot at \(base)")")
        }
        if segments.isEmpty {
            try startSegment()
            try sync()
        } else {
            fd = try io { () throws(IOFailure) in try FileIO.open(segmentPath, O_WRONLY | O_APPEND) }
        }
        return state
    }

    private func readSnapshot() throws(Failure) -> Snapshot {
        let bytes = try io { () throws(IOFailure) in try FileIO.readAll(snapshotPath) }
        guard let payload = WALRecord.intactPayload(in: bytes, at: 0), WALRecord.headerBytes + payload.count == bytes.count else {
            throw .corrupt(file: snapshotPath, offset: 0, reason: "snapshot frame fails its checksum")
        }
        var r = BinaryReader(payload)
        do {
            let metadata = try SnapshotMetadata(decoding: &r)
            let data = try r.readBytes("snapshot data")
            try r.expectEnd()
            return Snapshot(metadata: metadata, data: data)
        } catch {
            throw .corrupt(file: snapshotPath, offset: 8 + error.offset, reason: error.reason)
        }
    }

    /// Replays one segment by the shared rule (`WALRecord.readLog`); returns the highest entry
    /// index in it. A torn tail of the last segment is cut off the file.
    private func replaySegment(_ path: String, isLast: Bool, into state: inout PersistentState) throws(Failure) -> LogIndex {
        let bytes = try io { () throws(IOFailure) in try FileIO.readAll(path) }
        let log: (records: [WALRecord], validBytes: Int)
        do { log = try WALRecord.readLog(bytes, isLast: isLast) } catch {
            throw .corrupt(file: path, offset: error.offset, reason: error.reason)
        }
        if log.validBytes < bytes.count {
            try io { () throws(IOFailure) in
                let fd = try FileIO.open(path, O_WRONLY)
                defer { Glibc.close(fd) }
                try FileIO.truncate(fd, to: log.validBytes, path: path)
                try FileIO.dataSync(fd, path: path)
            }
        }
        var lastIndex: LogIndex = 0
        for record in log.records {
            if case .entries(let batch) = record, let last = batch.last { lastIndex = max(lastIndex, last.index) }
            WALRecord.replay(record, into: &state)
        }
        segmentSize = log.validBytes
        return lastIndex
    }
}
