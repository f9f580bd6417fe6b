import Raft

/// Frames on a peer connection are the write-ahead log's (`WALRecord.frame`): `length u32 ·
/// masked CRC-32C u32 · payload`, one format for disk and wire.
enum Frame {
    static let headerBytes = WALRecord.headerBytes

    static func encode(_ payload: [UInt8]) -> [UInt8] { WALRecord.frame(payload) }
}

/// Reassembles frames from whatever pieces the socket delivers. Refuses (and the caller drops
/// the connection on) a frame over `maxPayloadBytes` or one whose checksum does not match.
struct FrameDecoder {
    enum Failure: Error, Equatable {
        case tooLarge(Int)
        case checksumMismatch
    }

    let maxPayloadBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0

    init(maxPayloadBytes: Int) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    var bufferedBytes: Int { buffer.count - start }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete payload, nil when more bytes are needed.
    mutating func next() throws(Failure) -> [UInt8]? {
        guard bufferedBytes >= Frame.headerBytes else { return nil }
        var header = BinaryReader(Array(buffer[start..<start + Frame.headerBytes]))
        let length = Int((try? header.readUInt32()) ?? 0)
        let stored = (try? header.readUInt32()) ?? 0
        guard length <= maxPayloadBytes else { throw .tooLarge(length) }
        guard bufferedBytes >= Frame.headerBytes + length else { return nil }
        let payload = Array(buffer[start + Frame.headerBytes..<start + Frame.headerBytes + length])
        guard WALRecord.checksum(payload) == stored else { throw .checksumMismatch }
        start += Frame.headerBytes + length
        if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return payload
    }
}

/// The first frame on every peer connection: who is calling, for which cluster, and where its
/// API listens (so a master learns every member's API address from the members themselves).
struct Handshake: Equatable {
    static let magic: [UInt8] = Array("BOSN".utf8)
    static let version: UInt8 = 2

    var cluster: String
    var node: NodeID
    /// The caller's API address as `HOST:PORT` (empty when it has none to give).
    var api: String

    func encoded() -> [UInt8] {
        var w = BinaryWriter()
        for byte in Handshake.magic { w.write(byte) }
        w.write(Handshake.version)
        w.writeString(cluster)
        w.write(node.rawValue)
        w.writeString(api)
        return w.bytes
    }

    init(cluster: String, node: NodeID, api: String = "") {
        self.cluster = cluster
        self.node = node
        self.api = api
    }

    init(decoding bytes: [UInt8]) throws(DecodeError) {
        var r = BinaryReader(bytes)
        for byte in Handshake.magic {
            guard try r.readUInt8("magic") == byte else { throw DecodeError(offset: 0, reason: "not a Bosun peer") }
        }
        let version = try r.readUInt8("version")
        guard version == Handshake.version else { throw DecodeError(offset: 4, reason: "unsupported peer protocol version \(version)") }
        cluster = try r.readString("cluster")
        node = NodeID(try r.readUInt64("node"))
        api = try r.readString("api address")
        guard api.utf8.count <= 300 else { throw DecodeError(offset: r.offset, reason: "api address too long") }
        try r.expectEnd()
    }
}
