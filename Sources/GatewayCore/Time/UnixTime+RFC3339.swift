import Glibc

extension UnixTime {
    /// RFC 3339 in UTC, whole seconds (rounded down, as `seconds`): `2026-12-07T05:22:03Z`.
    public var rfc3339: String { rfc3339(withMilliseconds: false) }

    /// RFC 3339 in UTC with milliseconds: `2026-12-07T05:22:03.123Z` (the access log's `time`).
    public var rfc3339Milliseconds: String { rfc3339(withMilliseconds: true) }

    private func rfc3339(withMilliseconds: Bool) -> String {
        var whole = time_t(seconds)
        var parts = tm()
        gmtime_r(&whole, &parts)
        func digits(_ value: Int, _ count: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, count - text.count)) + text
        }
        var text = digits(Int(parts.tm_year) + 1900, 4) + "-" + digits(Int(parts.tm_mon) + 1, 2) + "-" + digits(Int(parts.tm_mday), 2)
            + "T" + digits(Int(parts.tm_hour), 2) + ":" + digits(Int(parts.tm_min), 2) + ":" + digits(Int(parts.tm_sec), 2)
        if withMilliseconds { text += "." + digits(Int(milliseconds - seconds * 1000), 3) }
        return text + "Z"
    }
}
