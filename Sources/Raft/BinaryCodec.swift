/// Appends little-endian integers and length-prefixed byte strings to a buffer: the hand-written
/// binary format of log entries, WAL records and snapshots.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// A 32-bit length followed by the bytes.
    public mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) {
        writeBytes(Array(value.utf8))
    }
}

/// Why decoding failed: the input is truncated or malformed at `offset`.
public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "malformed input at byte \(offset): \(reason)" }
}

/// Reads what `BinaryWriter` wrote, refusing truncated or oversized input with a `DecodeError`.
public struct BinaryReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset = 0

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var isAtEnd: Bool { offset == bytes.count }
    /// Bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    mutating func take(_ count: Int, _ what: String) throws(DecodeError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else {
            throw DecodeError(offset: offset, reason: "\(what) needs \(count) bytes, \(bytes.count - offset) left")
        }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    public mutating func readUInt8(_ what: String = "byte") throws(DecodeError) -> UInt8 {
        try take(1, what).first!
    }

    public mutating func readUInt32(_ what: String = "u32") throws(DecodeError) -> UInt32 {
        var value: UInt32 = 0
        for (shift, byte) in try take(4, what).enumerated() { value |= UInt32(byte) << (8 * shift) }
        return value
    }

    public mutating func readUInt64(_ what: String = "u64") throws(DecodeError) -> UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(8, what).enumerated() { value |= UInt64(byte) << (8 * shift) }
        return value
    }

    /// A 64-bit count or offset that must fit in an `Int`.
    public mutating func readCount(_ what: String = "count") throws(DecodeError) -> Int {
        let at = offset
        let value = try readUInt64(what)
        guard value <= UInt64(Int32.max) else { throw DecodeError(offset: at, reason: "\(what) \(value) is too large") }
        return Int(value)
    }

    public mutating func readBool(_ what: String = "bool") throws(DecodeError) -> Bool {
        let at = offset
        switch try readUInt8(what) {
        case 0: return false
        case 1: return true
        case let other: throw DecodeError(offset: at, reason: "\(what) is \(other), not 0 or 1")
        }
    }

    public mutating func readBytes(_ what: String = "bytes") throws(DecodeError) -> [UInt8] {
        let count = Int(try readUInt32("\(what) length"))
        return Array(try take(count, what))
    }

    public mutating func readString(_ what: String = "string") throws(DecodeError) -> String {
        let at = offset
        let raw = try readBytes(what)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw DecodeError(offset: at, reason: "\(what) is not UTF-8")
        }
        return text
    }

    public func expectEnd() throws(DecodeError) {
        guard isAtEnd else { throw DecodeError(offset: offset, reason: "\(bytes.count - offset) trailing bytes") }
    }
}
