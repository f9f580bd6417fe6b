/// FNV-1a over 64-bit words: a stable fingerprint of everything a run did. Independent of
/// Swift's per-process hash seed, so equal runs give equal hashes in every process.
struct TraceHash {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func mix(_ word: UInt64) {
        var w = word
        for _ in 0..<8 {
            value ^= w & 0xFF
            value &*= 0x100_0000_01B3
            w >>= 8
        }
    }

    mutating func mix(_ bytes: [UInt8]) {
        mix(UInt64(bytes.count))
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x100_0000_01B3
        }
    }

    mutating func mix(_ text: String) {
        mix(Array(text.utf8))
    }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
