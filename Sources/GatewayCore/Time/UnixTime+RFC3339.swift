import Foundation

extension UnixTime {
    /// RFC 3339 in UTC, whole seconds (rounded down, as `seconds`): `2026-12-07T05:22:03Z`.
    public var rfc3339: String {
        Date(timeIntervalSince1970: Double(seconds)).formatted(.iso8601)
    }
}
