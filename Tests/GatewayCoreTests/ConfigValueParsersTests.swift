import Testing
@testable import GatewayCore

/// The scalar forms of `gateway.conf` (docs/configuration.md): durations, sizes, `${NAME}`, listen addresses, upstream targets.
struct ConfigValueParsersTests {
    // MARK: - Durations

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("30s", .seconds(30)),
        ("10m", .seconds(10 * 60)),
        ("12h", .seconds(12 * 3600)),
        ("14d", .seconds(14 * 86400)),
        ("0s", .zero),
        ("0ms", .zero),
    ])
    func durationParses(text: String, expected: Duration) throws {
        #expect(try ConfigValueParsers.duration(text).get() == expected)
    }

    @Test(arguments: ["5", "1w", "-1s", "", "s", "1.5s", " 5s", "5s ", "5 s", "5sec", "ms"])
    func durationRejects(text: String) {
        #expect(throws: ConfigMessage.self) { try ConfigValueParsers.duration(text).get() }
    }

    @Test func durationRejectionQuotesTheText() throws {
        let message = try #require(ConfigValueParsers.duration("1w").failure)
        #expect(message.text.contains(#""1w""#))
    }

    @Test(arguments: [
        "3651d", "87601h", "315360000001ms", "106751991167301d", "9223372036854775807s", "9223372036854775807ms",
        "99999999999999999999d", "99999999999999999999999999999999999999ms",
    ])
    func durationPastItsBoundIsAMessageNotATrap(text: String) {
        #expect(ConfigValueParsers.duration(text).failure == ConfigMessage("must be at most 3650d, got \"\(text)\""))
    }

    @Test(arguments: ["3650d", "87600h", "315360000000ms", "0000000000000000000000000003650d"])
    func durationAtItsBoundParses(text: String) throws {
        #expect(try ConfigValueParsers.duration(text).get() == .seconds(3650 * 86400))
    }

    @Test func durationBoundCanBeTighter() {
        #expect(ConfigValueParsers.duration("24h", max: .seconds(86400)).failure == nil)
        #expect(ConfigValueParsers.duration("1441m", max: .seconds(86400)).failure
            == ConfigMessage(#"must be at most 1d, got "1441m""#))
    }

    @Test(arguments: [
        (Duration.seconds(3650 * 86400), "3650d"), (.seconds(86400), "1d"), (.seconds(7200), "2h"),
        (.seconds(90), "90s"), (.milliseconds(1500), "1500ms"), (.seconds(120), "2m"),
    ])
    func durationText(duration: Duration, text: String) {
        #expect(ConfigValueParsers.durationText(duration) == text)
    }

    // MARK: - Sizes

    @Test(arguments: [
        ("1024", 1024),
        ("0", 0),
        ("512KiB", 512 * 1024),
        ("16KiB", 16 * 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("1GiB", 1 << 30),
        ("1TiB", 1 << 40),
        ("2MB", 2_000_000),
        ("100B", 100),
    ])
    func sizeParses(text: String, expected: Int) throws {
        #expect(try ConfigValueParsers.size(text, in: 0...Int.max).get() == expected)
    }

    @Test(arguments: ["", "KiB", "-5", "1.5MiB", "10XB", "10 gigs", "99999999999999999999", "8589934592GiB"])
    func sizeRejects(text: String) {
        #expect(throws: ConfigMessage.self) { try ConfigValueParsers.size(text, in: 0...Int.max).get() }
    }

    @Test(arguments: [
        ("1023", "must be at least 1KiB, got \"1023\""),
        ("2MiB", "must be at most 1MiB, got \"2MiB\""),
        // Past Int in the digits, and past Int in the multiplication: too large, never a trap.
        ("99999999999999999999", "must be at most 1MiB, got \"99999999999999999999\""),
        ("8589934592GiB", "must be at most 1MiB, got \"8589934592GiB\""),
    ])
    func sizeOutsideItsRangeIsAMessage(text: String, message: String) {
        #expect(ConfigValueParsers.size(text, in: 1024...(1 << 20)).failure == ConfigMessage(message))
    }

    @Test(arguments: [(1 << 40, "1TiB"), (1 << 20, "1MiB"), (3 << 10, "3KiB"), (1000, "1000"), (1, "1"), (0, "0")])
    func sizeText(bytes: Int, text: String) {
        #expect(ConfigValueParsers.sizeText(bytes) == text)
    }

    // MARK: - ${NAME}

    @Test(arguments: [
        ("plain", "plain"),
        ("${HOST}", "api.internal"),
        ("http://${HOST}:${PORT}/x", "http://api.internal:9000/x"),
        ("a$$b", "a$b"),
        ("$", "$"),
        ("price: $5", "price: $5"),
        ("end$", "end$"),
        ("$${HOST}", "${HOST}"),
        ("${EMPTY}x", "x"),
    ])
    func substitution(text: String, expected: String) throws {
        let environment = ["HOST": "api.internal", "PORT": "9000", "EMPTY": ""]
        #expect(try ConfigValueParsers.substitutingEnvironment(text, environment).get() == expected)
    }

    @Test(arguments: ["${MISSING}", "x${HOST", "${", "${}"])
    func substitutionRejects(text: String) {
        #expect(throws: ConfigMessage.self) {
            try ConfigValueParsers.substitutingEnvironment(text, ["HOST": "h"]).get()
        }
    }

    @Test func missingVariableMessageNamesIt() throws {
        let message = try #require(ConfigValueParsers.substitutingEnvironment("${SECRET_DIR}/k", [:]).failure)
        #expect(message.text.contains("SECRET_DIR"))
    }

    // MARK: - Listen addresses

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("localhost:65535", "localhost", 65535),
        ("[::1]:8080", "::1", 8080),
        ("[::]:443", "::", 443),
    ])
    func listenAddressParses(text: String, host: String, port: Int) throws {
        let address = try ConfigValueParsers.listenAddress(text).get()
        #expect(address == ListenAddress(host: host, port: port))
        #expect(address.description == text)
    }

    @Test(arguments: ["8080", ":8080", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "[::1]8080", "[::1]", "[]:80", ""])
    func listenAddressRejects(text: String) {
        #expect(throws: ConfigMessage.self) { try ConfigValueParsers.listenAddress(text).get() }
    }

    // MARK: - Upstream targets

    @Test(arguments: [
        ("http://127.0.0.1:9000", "http", "127.0.0.1:9000", ""),
        ("http://127.0.0.1:9000/", "http", "127.0.0.1:9000", ""),
        ("https://api.example.com", "https", "api.example.com", ""),
        ("https://api.example.com/base", "https", "api.example.com", "/base"),
        ("https://api.example.com/base/", "https", "api.example.com", "/base"),
        ("http://[::1]:9000/v1/api//", "http", "[::1]:9000", "/v1/api"),
    ])
    func upstreamTargetParses(text: String, scheme: String, authority: String, basePath: String) throws {
        #expect(try ConfigValueParsers.upstreamTarget(text).get()
            == UpstreamTarget(scheme: scheme, authority: authority, basePath: basePath))
    }

    @Test(arguments: [
        "ftp://127.0.0.1", "127.0.0.1:9000", "http://", "http:///path", "http://h/p?x=1", "http://h?x=1",
        "http://h/p#frag", "http://user:pw@h", "",
    ])
    func upstreamTargetRejects(text: String) {
        #expect(throws: ConfigMessage.self) { try ConfigValueParsers.upstreamTarget(text).get() }
    }
}

extension Result {
    /// The error of a failed result, nil on success.
    fileprivate var failure: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
