/// CRC-32C (Castagnoli), the checksum on every WAL record and peer frame. Table-driven, software only.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (0x82F6_3B78 ^ (c >> 1)) : (c >> 1)
        }
        return c
    }

    /// The checksum of `bytes`, continuing from `seed` (the checksum of what came before).
    public static func checksum<C: Collection<UInt8>>(_ bytes: C, seed: UInt32 = 0) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ update(~seed, $0) }) {
            return ~crc
        }
        return ~Array(bytes).withUnsafeBufferPointer { update(~seed, $0) }
    }

    static func update(_ start: UInt32, _ buffer: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var crc = start
        table.withUnsafeBufferPointer { t in
            for byte in buffer {
                crc = t[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return crc
    }
}
