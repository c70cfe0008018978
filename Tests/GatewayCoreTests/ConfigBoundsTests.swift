import Testing
@testable import GatewayCore

/// `ConfigBounds` through `ConfigReader`: the first value past each bound is a `gateway check` problem naming file,
/// key and line, and the bound itself parses, so no accepted value can trap at run time.
struct ConfigBoundsTests {
    /// A key of `gateway.conf` and where its parsed value lands.
    struct Key<Value: Sendable>: Sendable, CustomTestStringConvertible {
        /// `"server"`, …; `"upstreams"` puts the key in a second `[[upstreams]]` entry (`upstreams[1]`).
        let table: String
        let name: String
        let value: @Sendable (GatewayConfig) -> Value?

        init(_ table: String, _ name: String, value: @escaping @Sendable (GatewayConfig) -> Value?) {
            self.table = table
            self.name = name
            self.value = value
        }

        var path: String { table == "upstreams" ? "upstreams[1].\(name)" : "\(table).\(name)" }
        var testDescription: String { path }

        /// The minimal config with this key set to `literal` (TOML), and the line the key is on.
        func config(_ literal: String) -> (text: String, line: Int) {
            let header = table == "upstreams" ? "[[upstreams]]\nname = \"web\"\ntargets = [\"http://web\"]" : "[\(table)]"
            let text = ConfigReaderTests.minimal(plus: "\(header)\n\(name) = \(literal)")
            return (text, text.split(separator: "\n", omittingEmptySubsequences: false).count - 1)
        }

        /// Expects exactly one problem, `gateway.conf: <key>: <message> (line N)`.
        func expectProblem(_ literal: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let (text, line) = config(literal)
            #expect(ConfigReaderTests.problems(text, sourceLocation: sourceLocation).map(\.description)
                == ["gateway.conf: \(path): \(message) (line \(line))"], sourceLocation: sourceLocation)
        }

        /// Expects `literal` to parse to `expected`.
        func expectValue(_ literal: String, _ expected: Value, sourceLocation: SourceLocation = #_sourceLocation) throws
        where Value: Equatable {
            let config = try ConfigReaderTests.parse(config(literal).text)
            #expect(value(config) == expected, sourceLocation: sourceLocation)
        }
    }

    static let timeouts: [Key<Duration>] = [
        Key("server", "idle_timeout") { $0.server.idleTimeout },
        Key("server", "shutdown_timeout") { $0.server.shutdownTimeout },
        Key("server", "send_timeout") { $0.server.sendTimeout },
        Key("upstreams", "connect_timeout") { $0.upstreams.last?.connectTimeout },
        Key("upstreams", "timeout") { $0.upstreams.last?.timeout },
        Key("upstreams", "read_timeout") { $0.upstreams.last?.readTimeout },
    ]

    static let otherDurations: [Key<Duration>] = [
        Key("tokens", "access_ttl") { $0.tokens.accessTTL },
        Key("tokens", "refresh_ttl") { $0.tokens.refreshTTL },
        Key("tokens", "session_max_age") { $0.tokens.sessionMaxAge },
        Key("tokens", "leeway") { $0.tokens.leeway },
        Key("renewal", "window") { $0.renewal.window },
        Key("renewal", "grace") { $0.renewal.grace },
    ]

    /// Past the bound by a little, by a lot, and past what Int64 milliseconds can hold.
    static let tooLong = ["3651d", "315360000001ms", "200000000d", "9223372036854775807s", "99999999999999999999d"]

    static let headerBytes = Key<Int>("server", "max_header_bytes") { $0.server.maxHeaderBytes }
    static let bodyBytes = Key<Int>("server", "max_body_bytes") { $0.server.maxBodyBytes }
    static let connections = Key<Int>("server", "max_connections") { $0.server.maxConnections }

    // MARK: - Durations

    @Test(arguments: ConfigBoundsTests.timeouts, ["86400001ms", "25h", "200000d"] + ConfigBoundsTests.tooLong)
    func timeoutPastADayIsAnError(key: Key<Duration>, text: String) {
        key.expectProblem("\"\(text)\"", "must be at most 1d, got \"\(text)\"")
    }

    @Test(arguments: ConfigBoundsTests.timeouts, ["24h", "1d", "86400000ms"])
    func timeoutOfADayParses(key: Key<Duration>, text: String) throws {
        try key.expectValue("\"\(text)\"", .seconds(86400))
    }

    @Test(arguments: ConfigBoundsTests.otherDurations, ConfigBoundsTests.tooLong)
    func durationPast3650DaysIsAnError(key: Key<Duration>, text: String) {
        key.expectProblem("\"\(text)\"", "must be at most 3650d, got \"\(text)\"")
    }

    @Test(arguments: ConfigBoundsTests.otherDurations, ["3650d", "87600h"])
    func durationOf3650DaysParses(key: Key<Duration>, text: String) throws {
        try key.expectValue("\"\(text)\"", .seconds(3650 * 86400))
    }

    /// What the gateway does with durations at run time, at the bounds: nanoseconds for NIO's `TimeAmount`, added to a
    /// monotonic clock for a deadline, and milliseconds added to a wall-clock reading for expiry.
    @Test(arguments: [ConfigBounds.timeout, ConfigBounds.duration])
    func theLongestAcceptedDurationConvertsWithoutOverflow(bound: Duration) {
        let (nanoseconds, overflow) = bound.components.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        #expect(!overflow)
        let centuryOfUptimeNS = Int64(100 * 365 * 86400) * 1_000_000_000
        #expect(!centuryOfUptimeNS.addingReportingOverflow(nanoseconds).overflow)
        let year2100MS = Int64(4_102_444_800_000)
        #expect(!year2100MS.addingReportingOverflow(Int64(bound.milliseconds)).overflow)
    }

    // MARK: - Sizes and counts

    @Test(arguments: [
        ("1023", "must be at least 1KiB, got 1023"),
        ("-1", "must be at least 1KiB, got -1"),
        ("\"1023B\"", #"must be at least 1KiB, got "1023B""#),
        ("1048577", "must be at most 1MiB, got 1048577"),
        ("\"2MiB\"", #"must be at most 1MiB, got "2MiB""#),
        ("\"99999999999999999999\"", #"must be at most 1MiB, got "99999999999999999999""#),
    ])
    func maxHeaderBytesOutside1KiBTo1MiBIsAnError(literal: String, message: String) {
        Self.headerBytes.expectProblem(literal, message)
    }

    @Test(arguments: [("1024", 1024), ("\"1KiB\"", 1024), ("1048576", 1 << 20), ("\"1MiB\"", 1 << 20), ("\"1024KiB\"", 1 << 20)])
    func maxHeaderBytesAt1KiBAnd1MiBParses(literal: String, expected: Int) throws {
        try Self.headerBytes.expectValue(literal, expected)
    }

    @Test(arguments: [
        ("0", "must be at least 1, got 0"),
        ("\"0KiB\"", #"must be at least 1, got "0KiB""#),
        ("1099511627777", "must be at most 1TiB, got 1099511627777"),
        ("\"1025GiB\"", #"must be at most 1TiB, got "1025GiB""#),
        // 2^33 GiB = 2^63 bytes: the parser's own multiplication overflows Int.
        ("\"8589934592GiB\"", #"must be at most 1TiB, got "8589934592GiB""#),
        ("9223372036854775807", "must be at most 1TiB, got 9223372036854775807"),
    ])
    func maxBodyBytesOutside1To1TiBIsAnError(literal: String, message: String) {
        Self.bodyBytes.expectProblem(literal, message)
    }

    @Test(arguments: [("1", 1), ("\"1B\"", 1), ("1099511627776", 1 << 40), ("\"1TiB\"", 1 << 40), ("\"1024GiB\"", 1 << 40)])
    func maxBodyBytesAt1And1TiBParses(literal: String, expected: Int) throws {
        try Self.bodyBytes.expectValue(literal, expected)
    }

    @Test(arguments: [
        ("0", "must be at least 1, got 0"),
        ("-5", "must be at least 1, got -5"),
        ("1000001", "must be at most 1000000, got 1000001"),
        ("9223372036854775807", "must be at most 1000000, got 9223372036854775807"),
    ])
    func maxConnectionsOutside1To1000000IsAnError(literal: String, message: String) {
        Self.connections.expectProblem(literal, message)
    }

    @Test(arguments: [("1", 1), ("1000000", 1_000_000), ("1_000_000", 1_000_000)])
    func maxConnectionsAt1And1000000Parses(literal: String, expected: Int) throws {
        try Self.connections.expectValue(literal, expected)
    }
}
