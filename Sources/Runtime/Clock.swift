import Glibc

/// Nanoseconds on the monotonic clock: for timers and durations.
public func monotonicNs() -> UInt64 { clockNs(CLOCK_MONOTONIC) }

/// Nanoseconds since the Unix epoch: the date the cores stamp on objects (never for durations).
func wallClockNs() -> UInt64 { clockNs(CLOCK_REALTIME) }

private func clockNs(_ clock: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
