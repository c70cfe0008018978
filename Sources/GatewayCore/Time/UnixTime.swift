/// A moment of wall-clock time in milliseconds since the Unix epoch: how sessions and the store keep time.
/// Token claims count whole seconds (JWT NumericDate, RFC 7519 §2); `seconds` and `init(seconds:)` convert,
/// so no caller divides or multiplies by 1000 itself.
public struct UnixTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// A NumericDate. Saturates: a token may carry any 64-bit number of seconds.
    public init(seconds: Int64) {
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        self.milliseconds = overflow ? (seconds < 0 ? .min : .max) : product
    }

    /// Whole seconds, rounded down: the NumericDate of this moment.
    public var seconds: Int64 {
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        return remainder < 0 ? quotient - 1 : quotient
    }

    public static func < (a: UnixTime, b: UnixTime) -> Bool { a.milliseconds < b.milliseconds }

    /// `time` moved by `duration` (whole milliseconds), saturating at the ends of the range.
    public static func + (time: UnixTime, duration: Duration) -> UnixTime {
        let (sum, overflow) = time.milliseconds.addingReportingOverflow(duration.wholeMilliseconds)
        return UnixTime(milliseconds: overflow ? (duration > .zero ? .max : .min) : sum)
    }

    public static func - (time: UnixTime, duration: Duration) -> UnixTime {
        time + (.zero - duration)
    }

    /// How long from `earlier` to this moment (negative when `earlier` is later).
    public func since(_ earlier: UnixTime) -> Duration {
        let (difference, overflow) = milliseconds.subtractingReportingOverflow(earlier.milliseconds)
        return overflow ? (earlier.milliseconds < 0 ? .seconds(Int64.max) : .seconds(Int64.min)) : .milliseconds(difference)
    }

    public var description: String { "\(milliseconds)ms" }
}
