import Glibc
import Host
import Raft
@testable import Runtime
import Store
import Testing

/// The write-ahead log on real files with real fsync, in a fresh temporary directory per test.
final class WriteAheadLogTests {
    let directory: String

    init() {
        var template = Array("/tmp/bosun-wal-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(cString: made!)
    }

    deinit {
        for name in (try? FileIO.list(directory)) ?? [] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    static func batch(_ range: ClosedRange<LogIndex>, term: Term, commit: LogIndex? = nil) -> [WALRecord] {
        [
            .entries(range.map { Entry(term: term, index: $0, data: Array("entry \($0)".utf8)) }),
            .hardState(HardState(term: term, vote: NodeID(1), commit: commit ?? range.lowerBound - 1)),
        ]
    }

    func segments() throws -> [String] {
        try FileIO.list(directory).filter { $0.hasPrefix("wal-") }
    }

    func size(_ path: String) -> Int {
        var st = stat()
        stat(path, &st)
        return Int(st.st_size)
    }

    func appendBytes(_ name: String, _ bytes: [UInt8]) throws {
        let fd = try FileIO.open(directory + "/" + name, O_WRONLY | O_APPEND)
        defer { close(fd) }
        try FileIO.writeAll(fd, bytes, path: name)
    }

    func flipByte(_ name: String, at offset: Int) throws {
        var bytes = try FileIO.readAll(directory + "/" + name)
        bytes[offset] ^= 0x20
        let fd = try FileIO.open(directory + "/" + name, O_WRONLY | O_TRUNC)
        defer { close(fd) }
        try FileIO.writeAll(fd, bytes, path: name)
    }

    @Test func reopenRecoversWhatWasSynced() throws {
        do {
            let (wal, state) = try WriteAheadLog.open(directory: directory)
            #expect(state.entries.isEmpty && state.hardState == HardState())
            try wal.append(Self.batch(1...3, term: 1))
            try wal.append(Self.batch(4...5, term: 2, commit: 3))
            try wal.sync()
        }
        let (_, state) = try WriteAheadLog.open(directory: directory)
        #expect(state.entries.map(\.index) == [1, 2, 3, 4, 5])
        #expect(state.entries.last?.term == 2)
        #expect(state.hardState == HardState(term: 2, vote: NodeID(1), commit: 3))
    }

    /// A later batch replaces the entries from its first index on.
    @Test func overwrittenSuffixIsReplaced() throws {
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.append(Self.batch(1...5, term: 1))
            try wal.append(Self.batch(3...3, term: 2))
            try wal.sync()
        }
        let (_, state) = try WriteAheadLog.open(directory: directory)
        #expect(state.entries.map(\.term) == [1, 1, 2])
    }

    /// A record cut short, or full length with a zeroed tail, at the end is a torn write: recovery
    /// keeps everything before it and truncates the file so the next append starts clean.
    @Test(arguments: ["cut", "zeroed"])
    func tornTailIsTruncated(kind: String) throws {
        let name: String
        let goodSize: Int
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.append(Self.batch(1...3, term: 1))
            try wal.sync()
            name = try segments().last!
            goodSize = size(directory + "/" + name)
        }
        var torn = Self.batch(4...6, term: 1)[0].framed()
        if kind == "cut" {
            torn.removeLast(torn.count / 2)
        } else {
            for i in 20..<torn.count { torn[i] = 0 }
        }
        try appendBytes(name, torn)
        do {
            let (wal, state) = try WriteAheadLog.open(directory: directory)
            #expect(state.entries.map(\.index) == [1, 2, 3])
            #expect(size(directory + "/" + name) == goodSize)
            try wal.append(Self.batch(4...4, term: 2))
            try wal.sync()
        }
        let (_, state) = try WriteAheadLog.open(directory: directory)
        #expect(state.entries.map(\.index) == [1, 2, 3, 4])
    }

    /// A flipped byte in a record followed by intact records is corruption: recovery refuses and
    /// names the file and the offset, whether the byte is in the payload or in the length.
    @Test(arguments: [20, 0])
    func corruptionInTheMiddleIsRefused(byteInRecord: Int) throws {
        let name: String
        let secondRecordOffset: Int
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            name = try segments().last!
            secondRecordOffset = size(directory + "/" + name)
            try wal.append(Self.batch(1...3, term: 1))
            try wal.append(Self.batch(4...6, term: 1))
            try wal.sync()
        }
        try flipByte(name, at: secondRecordOffset + byteInRecord)
        #expect {
            _ = try WriteAheadLog.open(directory: directory)
        } throws: { error in
            guard case WriteAheadLog.Failure.corrupt(let file, let offset, _) = error else { return false }
            return file == directory + "/" + name && offset == secondRecordOffset
                && "\(error)".contains(name) && "\(error)".contains("byte \(secondRecordOffset)")
        }
    }

    /// Segments roll at the size limit, each starting with the hard state, and all replay in order.
    @Test func segmentsRollAndReplay() throws {
        var options = WriteAheadLog.Options()
        options.segmentBytes = 300
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory, options: options)
            for k in 0..<20 as Range<LogIndex> {
                try wal.append(Self.batch(k * 3 + 1...k * 3 + 3, term: 1, commit: k * 3))
            }
            try wal.sync()
        }
        #expect(try segments().count > 5)
        let (_, state) = try WriteAheadLog.open(directory: directory, options: options)
        #expect(state.entries.map(\.index) == Array(1...60))
        #expect(state.hardState.commit == 57)
    }

    /// Local compaction: the snapshot is written atomically and segments it covers are deleted;
    /// a restart finds the snapshot plus the entries after it.
    @Test func snapshotDropsCoveredSegments() throws {
        var options = WriteAheadLog.Options()
        options.segmentBytes = 300
        let meta = SnapshotMetadata(index: 30, term: 1, configuration: Configuration(voters: [NodeID(1)]))
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory, options: options)
            for k in 0..<20 as Range<LogIndex> { try wal.append(Self.batch(k * 3 + 1...k * 3 + 3, term: 1, commit: k * 3)) }
            try wal.sync()
            let before = try segments().count
            try wal.saveSnapshot(Snapshot(metadata: meta, data: [1, 2, 3]), resetLog: false)
            #expect(try segments().count < before)
        }
        #expect(try FileIO.list(directory).filter { $0.hasSuffix(".tmp") }.isEmpty)  // renamed into place
        let (_, state) = try WriteAheadLog.open(directory: directory, options: options)
        #expect(state.snapshot == Snapshot(metadata: meta, data: [1, 2, 3]))
        #expect(state.entries.first?.index == 31 && state.entries.last?.index == 60)
        #expect(state.hardState.commit == 57)
    }

    /// A snapshot installed from the leader replaces the whole log; the hard state survives.
    @Test func installedSnapshotResetsTheLog() throws {
        let meta = SnapshotMetadata(index: 40, term: 5, configuration: Configuration(voters: [NodeID(1)]))
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.append(Self.batch(1...10, term: 1, commit: 5))
            try wal.sync()
            try wal.saveSnapshot(Snapshot(metadata: meta, data: [7]), resetLog: true)
        }
        let (_, state) = try WriteAheadLog.open(directory: directory)
        #expect(state.snapshot?.metadata == meta && state.entries.isEmpty)
        #expect(state.hardState == HardState(term: 1, vote: NodeID(1), commit: 5))
    }

    /// A crash after the new snapshot landed but before the old log was deleted: entries that do
    /// not continue the snapshot are dropped on recovery.
    @Test func leftoverLogThatConflictsWithTheSnapshotIsDropped() {
        var state = PersistentState(
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 5, term: 3, configuration: Configuration(voters: [])), data: []),
            entries: (1...8).map { Entry(term: 1, index: $0) })
        state.dropEntriesNotContinuingSnapshot()
        #expect(state.entries.isEmpty)
        var continuing = PersistentState(
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 5, term: 1, configuration: Configuration(voters: [])), data: []),
            entries: (6...8).map { Entry(term: 1, index: $0) })
        continuing.dropEntriesNotContinuingSnapshot()
        #expect(continuing.entries.map(\.index) == [6, 7, 8])
    }

    /// A corrupt snapshot file is refused, never half-used.
    @Test func corruptSnapshotIsRefused() throws {
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.saveSnapshot(Snapshot(metadata: SnapshotMetadata(index: 1, term: 1, configuration: Configuration(voters: [])), data: [1, 2]), resetLog: false)
        }
        try flipByte("snapshot.bin", at: 10)
        #expect(throws: WriteAheadLog.Failure.self) { try WriteAheadLog.open(directory: directory) }
    }

    /// A snapshot file that is intact but that the store cannot decode stops the master at start
    /// with an error naming it, instead of crashing.
    @Test func undecodableSnapshotStopsTheDriverWithAClearError() throws {
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.saveSnapshot(Snapshot(metadata: SnapshotMetadata(index: 7, term: 1, configuration: Configuration(voters: [NodeID(1)])), data: [9, 9, 9]), resetLog: false)
        }
        let loop = try EventLoop()
        let options = RaftDriver<RaftHost<KVStore>>.Options(transport: .init(cluster: "t", id: NodeID(1), listen: .init(host: "127.0.0.1", port: 0), peers: [:]), dataDirectory: directory)
        #expect {
            _ = try RaftDriver(loop: loop, options: options, empty: KVStore()) { $0 }
        } throws: { error in
            "\(error)".contains("snapshot at index 7") && "\(error)".contains(directory)
        }
    }

    /// A log with a gap that no snapshot covers is refused, naming where it starts, instead of
    /// handing Raft a log that skips entries.
    @Test func logWithAnUncoveredGapIsRefused() throws {
        do {
            let (wal, _) = try WriteAheadLog.open(directory: directory)
            try wal.append(Self.batch(1...3, term: 1))
            try wal.append(Self.batch(10...12, term: 1))
            try wal.sync()
        }
        #expect {
            _ = try WriteAheadLog.open(directory: directory)
        } throws: { error in
            "\(error)".contains("the log starts at entry 10, after no snapshot")
        }
    }

    /// An unusable directory is a clear I/O error.
    @Test func unusableDirectoryIsAnIOError() {
        #expect {
            _ = try WriteAheadLog.open(directory: "/proc/definitely/not/here")
        } throws: { error in
            guard case WriteAheadLog.Failure.io(let failure) = error else { return false }
            return failure.operation == "mkdir" && "\(error)".contains("/proc/definitely/not/here")
        }
    }
}
