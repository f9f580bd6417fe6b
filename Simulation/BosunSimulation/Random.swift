import Raft

extension SplitMix64 {
    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double(next() >> 11) / Double(1 << 53) < p
    }

    /// Uniform in `range`.
    mutating func uniform(_ range: ClosedRange<UInt64>) -> UInt64 {
        range.lowerBound + next() % (range.upperBound - range.lowerBound + 1)
    }

    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(next() >> 11) / Double(1 << 53)
    }

    mutating func index(_ count: Int) -> Int {
        Int(next() % UInt64(count))
    }

    /// Exponentially distributed with the given mean (inverse transform sampling).
    mutating func exponential(meanNs: UInt64) -> UInt64 {
        let u = max(Double(next() >> 11) / Double(1 << 53), 1e-12)
        return UInt64(-Double(meanNs) * log(u))
    }
}

/// Natural logarithm without Foundation (the simulator needs only this one function).
func log(_ x: Double) -> Double {
    // ln(x) = 2·atanh((x-1)/(x+1)), after scaling x into [0.5, 1) by powers of two.
    var m = x
    var exponent = 0.0
    while m >= 1 { m /= 2; exponent += 1 }
    while m < 0.5 { m *= 2; exponent -= 1 }
    let y = (m - 1) / (m + 1)
    let y2 = y * y
    var term = y
    var sum = 0.0
    var k = 1.0
    while abs(term / k) > 1e-17 {
        sum += term / k
        term *= y2
        k += 2
    }
    return 2 * sum + exponent * 0.6931471805599453
}
