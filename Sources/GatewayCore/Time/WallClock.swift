import Foundation

/// Where the gateway reads the time of day: the system's clock, or one a test moves. Passed in wherever a rule
/// depends on the time (token expiry, renewal windows, session lifetimes), so those rules are tested without
/// sleeping.
public struct WallClock: Sendable {
    private let read: @Sendable () -> UnixTime

    public init(_ read: @escaping @Sendable () -> UnixTime) {
        self.read = read
    }

    public func now() -> UnixTime { read() }

    public static let system = WallClock {
        UnixTime(milliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
    }

    /// Always `time`.
    public static func fixed(_ time: UnixTime) -> WallClock { WallClock { time } }
}
