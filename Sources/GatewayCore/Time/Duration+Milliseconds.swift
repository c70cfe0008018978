import NIOCore

extension Duration {
    /// Whole milliseconds, rounded toward zero. Durations from the config are bounded at validation (at most
    /// 3650 days), so the `Int` form used with libcurl and timers always fits.
    var milliseconds: Int { Int(wholeMilliseconds) }

    /// Whole milliseconds, rounded toward zero, saturating.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflow2 ? (seconds < 0 ? .min : .max) : sum
    }
}

extension Duration {
    /// A NIO time amount as a Duration (nanoseconds: exact).
    init(_ amount: TimeAmount) { self = .nanoseconds(amount.nanoseconds) }
}
