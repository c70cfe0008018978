import Testing
@testable import GatewayCore

/// The scalar forms of `gateway.conf` (SPEC §2): durations, sizes, `${NAME}`, listen addresses, upstream targets.
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

    // MARK: - Sizes

    @Test(arguments: [
        ("1024", 1024),
        ("0", 0),
        ("512KiB", 512 * 1024),
        ("16KiB", 16 * 1024),
        ("10MiB", 10 * 1024 * 1024),
        ("1GiB", 1 << 30),
    ])
    func sizeParses(text: String, expected: Int) throws {
        #expect(try ConfigValueParsers.size(text).get() == expected)
    }

    @Test(arguments: ["", "KiB", "-5", "1.5MiB", "10XB", "10 gigs", "99999999999999999999"])
    func sizeRejects(text: String) {
        #expect(throws: ConfigMessage.self) { try ConfigValueParsers.size(text).get() }
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
