import Foundation
import Testing
@testable import GatewayCore

/// `ConfigReader` against docs/operations.md#commands (problem lines) and §2 (keys, defaults, substitution).
struct ConfigReaderTests {
    /// The smallest valid config: one upstream and one route; everything else defaulted.
    static let minimal = """
        [[upstreams]]
        name = "api"
        targets = ["http://127.0.0.1:9000"]

        [[routes]]
        path = "/api/"
        upstream = "api"
        """

    /// `minimal` plus `extra` TOML appended (keys of a new table or array entry).
    static func minimal(plus extra: String) -> String { minimal + "\n" + extra + "\n" }

    static func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> GatewayConfig {
        try ConfigReader(environment: environment).parse(text, file: "gateway.conf")
    }

    /// The problems parsing `text` reports; records an issue when it parses cleanly.
    static func problems(
        _ text: String, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
    ) -> [ConfigProblem] {
        do {
            _ = try parse(text, environment: environment)
            Issue.record("expected a config error", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.problems
        }
    }

    // MARK: - The shipped file and the defaults

    @Test func shippedGatewayConfParses() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("gateway.conf").path
        let config = try ConfigReader(environment: [:]).read(path: path)
        #expect(config.upstreams.map(\.name) == ["api"])
        #expect(config.routes.map(\.path) == ["/api/", "/api/admin/", "/public/", "/demo/"])
        #expect(config.routes.map(\.auth) == [.required, .required, .public, .public])
        #expect(config.routes[1].requireScopes == ["write"])
        #expect(config.routes[1].requireClaims.map(\.name) == ["role"])
        #expect(config.routes[1].requireClaims.first?.allowed == [.string("admin")])
        #expect(config.auth.claims.map(\.name) == ["role", "scope"])
        #expect(config.auth.claims.map(\.pointer.description) == ["/role", "/scope"])
    }

    @Test func minimalConfigGetsEveryServerAndTokenDefault() throws {
        let config = try Self.parse(Self.minimal)
        #expect(config.server.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.server.maxHeaderBytes == 16 * 1024)
        #expect(config.server.maxBodyBytes == 10 * 1024 * 1024)
        #expect(config.server.idleTimeout == .seconds(60))
        #expect(config.server.shutdownTimeout == .seconds(10))
        #expect(config.server.maxConnections == nil)
        #expect(config.server.sendTimeout == .seconds(60))
        #expect(config.server.tlsCertFile == "" && config.server.tlsKeyFile == "" && !config.server.tls)
        #expect(config.server.http2)

        #expect(config.tokens.issuer == "auth-gateway")
        #expect(config.tokens.audience == "")
        #expect(config.tokens.algorithm == .hs256)
        #expect(config.tokens.secretFile == "var/secret.key")
        #expect(config.tokens.privateKeyFile == "")
        #expect(config.tokens.accessTTL == .seconds(5 * 60))
        #expect(config.tokens.refreshTTL == .seconds(24 * 3600))
        #expect(config.tokens.sessionMaxAge == .seconds(30 * 24 * 3600))
        #expect(config.tokens.leeway == .zero)
        #expect(config.tokens.userIdClaim == "user_id")
        #expect(config.tokens.rotateRefresh)
        #expect(config.tokens.blacklistAfterRotation)
    }

    @Test func minimalConfigGetsEveryRenewalStoreAuthAndHeaderDefault() throws {
        let config = try Self.parse(Self.minimal)
        #expect(config.renewal.enabled)
        #expect(config.renewal.header == "X-Access-Token")
        #expect(config.renewal.window == .seconds(24 * 3600))
        #expect(config.renewal.grace == .seconds(10))

        #expect(config.store.location == .sqlite(path: "var/gateway.db"))

        #expect(config.auth.loginPath == "/auth/login")
        #expect(config.auth.refreshPath == "/auth/refresh")
        #expect(config.auth.logoutPath == "/auth/logout")
        #expect(config.auth.verifyURL == "http://127.0.0.1:9000/auth/verify-credentials")
        #expect(config.auth.userPointer == JSONPointer.root)
        #expect(config.auth.userIdPointer.tokens == ["id"])
        #expect(config.auth.claims.isEmpty)
        #expect(config.auth.refreshDelivery == .body)
        #expect(config.auth.cookieName == "refresh")
        #expect(config.auth.cookiePath == "/auth")
        #expect(config.auth.cookieSecure)
        #expect(config.auth.cookieSameSite == .strict)

        #expect(config.headers.userId == "X-Auth-User-Id")
        #expect(config.headers.sessionId == "X-Auth-Session-Id")
        #expect(config.headers.claims == "X-Auth-Claims")
        #expect(config.headers.forwardAuthorization)
    }

    @Test func minimalConfigGetsEveryUpstreamDefault() throws {
        let upstream = try #require(try Self.parse(Self.minimal).upstreams.first)
        #expect(upstream.name == "api")
        #expect(upstream.targets == [UpstreamTarget(scheme: "http", authority: "127.0.0.1:9000", basePath: "")])
        #expect(upstream.host == "")
        #expect(upstream.connectTimeout == .seconds(2))
        #expect(upstream.timeout == .seconds(30))
        #expect(upstream.readTimeout == .seconds(60))
    }

    @Test func tlsFilesAndHTTP2AreRead() throws {
        let config = try Self.parse(Self.minimal(plus: """
            [server]
            tls_cert_file = "certs/chain.pem"
            tls_key_file = "${KEYS}/key.pem"
            http2 = false
            """), environment: ["KEYS": "/etc/keys"])
        #expect(config.server.tlsCertFile == "certs/chain.pem")
        #expect(config.server.tlsKeyFile == "/etc/keys/key.pem")
        #expect(config.server.tls)
        #expect(!config.server.http2)
    }

    @Test func corsOriginsAreExactOrigins() throws {
        let config = try Self.parse(Self.minimal(plus: """
            [auth]
            cors_origins = ["https://app.example.com", "http://localhost:3000", "http://[::1]:8000"]
            """))
        #expect(config.auth.corsOrigins == ["https://app.example.com", "http://localhost:3000", "http://[::1]:8000"])
        #expect(try Self.parse(Self.minimal).auth.corsOrigins.isEmpty)
        let problems = Self.problems(Self.minimal(plus: """
            [auth]
            cors_origins = ["*", "https://app.example.com/", "https://App.example.com", "app.example.com", "http://a:0"]
            """))
        #expect(problems.map(\.key) == (0..<5).map { "auth.cors_origins[\($0)]" })
        #expect(problems.first?.message.contains("any site") == true)
    }

    @Test func oneTLSFileWithoutTheOtherIsAnError() {
        let keyOnly = Self.problems(Self.minimal(plus: "[server]\ntls_key_file = \"key.pem\""))
        #expect(keyOnly.map(\.key) == ["server.tls_cert_file"])
        let certOnly = Self.problems(Self.minimal(plus: "[server]\ntls_cert_file = \"chain.pem\""))
        #expect(certOnly.map(\.key) == ["server.tls_key_file"])
        #expect(certOnly.first?.message.contains("both") == true)
        let notBool = Self.problems(Self.minimal(plus: "[server]\nhttp2 = \"yes\""))
        #expect(notBool.map(\.key) == ["server.http2"])
    }

    @Test func maxConnectionsSendTimeoutAndReadTimeoutAreRead() throws {
        let config = try Self.parse(Self.minimal(plus: """
            [server]
            max_connections = 512
            send_timeout = "15s"
            [[upstreams]]
            name = "web"
            targets = ["http://127.0.0.1:9001"]
            read_timeout = "2m"
            """))
        #expect(config.server.maxConnections == 512)
        #expect(config.server.sendTimeout == .seconds(15))
        #expect(config.upstreams.map(\.readTimeout) == [.seconds(60), .seconds(120)])
    }

    @Test(arguments: [
        ("[server]\nmax_connections = \"100\"", "server.max_connections", #"expected an integer, got "100""#),
        ("[server]\nmax_connections = 1.5", "server.max_connections", "expected an integer, got the number 1.5"),
        ("[server]\nsend_timeout = \"0s\"", "server.send_timeout", #"must be longer than 0, got "0s""#),
        ("[server]\nsend_timeout = \"soon\"", "server.send_timeout",
         #"expected a duration such as "500ms", "30s", "10m", "12h" or "14d", got "soon""#),
        ("[[upstreams]]\nname = \"web\"\ntargets = [\"http://web\"]\nread_timeout = \"0ms\"", "upstreams[1].read_timeout",
         #"must be longer than 0, got "0ms""#),
    ])
    func badMaxConnectionsSendTimeoutOrReadTimeoutIsAnError(extra: String, key: String, message: String) {
        let problems = Self.problems(Self.minimal(plus: extra))
        #expect(problems.map(\.key) == [key])
        #expect(problems.first?.message == message)
    }

    @Test func routeDefaultsFailClosed() throws {
        let route = try #require(try Self.parse(Self.minimal).routes.first)
        #expect(route.path == "/api/")
        #expect(route.upstream == "api")
        #expect(route.auth == .required)
        #expect(route.methods.isEmpty)
        #expect(route.renew)
        #expect(route.requireClaims.isEmpty)
        #expect(route.requireScopes.isEmpty)
        #expect(route.stripPrefix == "")
        #expect(route.onInvalid == .reject)
        #expect(!route.websocket)
    }

    @Test func explicitValuesReplaceDefaults() throws {
        let config = try Self.parse("""
            [server]
            listen = "[::1]:9090"
            max_header_bytes = 8192
            max_body_bytes = "1MiB"
            idle_timeout = "500ms"

            [renewal]
            header = "X-New-Token"
            window = "12h"

            [[upstreams]]
            name = "api"
            targets = ["https://a.internal:8443/v1/", "http://b.internal"]
            host = "api.internal"
            timeout = "10m"

            [[routes]]
            path = "/api/"
            upstream = "api"
            methods = ["get", "POST"]
            auth = "optional"
            renew = false
            strip_prefix = "/api"
            on_invalid = "anonymous"
            require_scopes = ["read"]
            websocket = true
            """)
        #expect(config.server.listen == ListenAddress(host: "::1", port: 9090))
        #expect(config.server.maxHeaderBytes == 8192)
        #expect(config.server.maxBodyBytes == 1 << 20)
        #expect(config.server.idleTimeout == .milliseconds(500))
        #expect(config.renewal.header == "X-New-Token")
        #expect(config.renewal.window == .seconds(12 * 3600))
        let upstream = try #require(config.upstreams.first)
        #expect(upstream.targets.map(\.description) == ["https://a.internal:8443/v1", "http://b.internal"])
        #expect(upstream.host == "api.internal")
        #expect(upstream.timeout == .seconds(600))
        let route = try #require(config.routes.first)
        #expect(route.methods == ["GET", "POST"])
        #expect(route.auth == .optional)
        #expect(!route.renew)
        #expect(route.stripPrefix == "/api")
        #expect(route.onInvalid == .anonymous)
        #expect(route.requireScopes == ["read"])
        #expect(route.websocket)
    }

    // MARK: - Unknown keys

    @Test(arguments: [
        ("[servr]\nlisten = \"127.0.0.1:1\"", "servr"),
        ("[server]\nlisen = \"127.0.0.1:1\"", "server.lisen"),
        ("[tokens]\nacces_ttl = \"5m\"", "tokens.acces_ttl"),
        ("[headers]\nuser = \"X-User\"", "headers.user"),
        ("[[upstreams]]\nname = \"web\"\ntargets = [\"http://web\"]\ntimout = \"1s\"", "upstreams[1].timout"),
        ("[[routes]]\npath = \"/admin/\"\nupstream = \"api\"\nauht = \"public\"", "routes[1].auht"),
    ])
    func unknownKeyIsAnError(extra: String, key: String) {
        let problems = Self.problems(Self.minimal(plus: extra))
        #expect(problems.map(\.key) == [key])
        #expect(problems.first?.message == "unknown key")
        #expect(problems.first?.description.hasPrefix("gateway.conf: \(key): unknown key") == true)
    }

    @Test func unknownTopLevelKeyIsAnError() {
        // Top-level keys must come before the first table header.
        let problems = Self.problems("bogus = 1\n" + Self.minimal)
        #expect(problems.map(\.description) == ["gateway.conf: bogus: unknown key (line 1)"])
    }

    @Test func unknownKeyInsideAnInlineTableIsAnError() {
        let problems = Self.problems("""
            server = { listen = "127.0.0.1:1", max_body = "1MiB" }
            upstreams = [{ name = "api", targets = ["http://127.0.0.1:9000"] }]
            routes = [{ path = "/api/", upstream = "api", auht = "public" }]
            """)
        #expect(problems.map(\.description) == [
            "gateway.conf: server.max_body: unknown key (line 1)",
            "gateway.conf: routes[0].auht: unknown key (line 3)",
        ])
    }

    @Test func misspelledAuthOnARouteIsNotSilentlyPublic() {
        // A typo in the key must not leave the route with a looser policy than intended.
        let problems = Self.problems(Self.minimal(plus: "[[routes]]\npath = \"/x/\"\nupstream = \"api\"\nAuth = \"public\""))
        #expect(problems.map(\.key) == ["routes[1].Auth"])
    }

    // MARK: - docs/operations.md#commands message

    @Test func misspelledAuthValueGivesTheDocumentedMessage() throws {
        let text = """
            [[upstreams]]
            name = "api"
            targets = ["http://127.0.0.1:9000"]

            [[routes]]
            path = "/api/"
            upstream = "api"

            [[routes]]
            path = "/admin/"
            upstream = "api"
            auth = "requird"
            """
        let problems = Self.problems(text)
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.description.hasPrefix(
            #"gateway.conf: routes[1].auth: expected required, optional or public, got "requird""#))
        #expect(problem.key == "routes[1].auth")
        #expect(problem.line == 12)
    }

    @Test func configErrorPrintsOneLinePerProblem() {
        do {
            _ = try Self.parse(Self.minimal(plus: "[server]\nlisen = 1\nidle_timeout = \"5\""))
            Issue.record("expected a config error")
        } catch {
            let lines = error.description.split(separator: "\n")
            #expect(lines.count == 2)
            #expect(lines.allSatisfy { $0.hasPrefix("gateway.conf: server.") })
        }
    }

    // MARK: - Line numbers

    @Test func lineNumbersPointAtTheOffendingKey() {
        let text = """
            # comment
            [server]
            listen = "127.0.0.1:8080"
            idle_timeout = "forever"

            [[upstreams]]
            name = "api"
            targets = ["http://127.0.0.1:9000"]
            timeout = "30 s"

            [[routes]]
            path = "/api/"
            upstream = "api"

            [[routes]]
            path = "/b/"
            upstream = "api"
            renew = "yes"
            """
        let lines = Dictionary(uniqueKeysWithValues: Self.problems(text).map { ($0.key, $0.line) })
        #expect(lines == [
            "server.idle_timeout": 4,
            "upstreams[0].timeout": 9,
            "routes[1].renew": 18,
        ])
    }

    @Test func invalidTOMLReportsItsLine() throws {
        let problems = Self.problems("""
            [server]
            listen = "127.0.0.1:8080"
            idle_timeout = 
            """)
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.line == 3)
        #expect(problem.description.hasPrefix("gateway.conf: invalid TOML"))
    }

    // MARK: - Values

    @Test(arguments: [
        ("[server]\nidle_timeout = \"5\"", "server.idle_timeout"),
        ("[server]\nshutdown_timeout = \"1w\"", "server.shutdown_timeout"),
        ("[tokens]\naccess_ttl = \"-1s\"", "tokens.access_ttl"),
        ("[tokens]\naccess_ttl = \"0s\"", "tokens.access_ttl"),
        ("[renewal]\nwindow = \"\"", "renewal.window"),
        ("[renewal]\ngrace = 10", "renewal.grace"),
        ("[server]\nmax_body_bytes = \"10 gigs\"", "server.max_body_bytes"),
        ("[server]\nmax_body_bytes = 0", "server.max_body_bytes"),
        ("[server]\nmax_header_bytes = -1", "server.max_header_bytes"),
        ("[server]\nmax_header_bytes = 1.5", "server.max_header_bytes"),
        ("[server]\nmax_header_bytes = \"1.5KiB\"", "server.max_header_bytes"),
    ])
    func badDurationOrSizeIsAnError(extra: String, key: String) {
        #expect(Self.problems(Self.minimal(plus: extra)).map(\.key) == [key])
    }

    @Test func zeroDurationIsAllowedWhereZeroMakesSense() throws {
        let config = try Self.parse(Self.minimal(plus: "[tokens]\nleeway = \"0s\"\n[renewal]\ngrace = \"0s\""))
        #expect(config.tokens.leeway == .zero)
        #expect(config.renewal.grace == .zero)
    }

    @Test(arguments: [
        ("[server]\nlisten = 8080", "server.listen", "expected a string, got the integer 8080"),
        ("[renewal]\nenabled = \"yes\"", "renewal.enabled", #"expected true or false, got "yes""#),
        ("[renewal]\nenabled = 1", "renewal.enabled", "expected true or false, got the integer 1"),
        ("[tokens]\nissuer = [\"a\"]", "tokens.issuer", "expected a string, got an array"),
        ("[[upstreams]]\nname = \"web\"\ntargets = \"http://web\"", "upstreams[1].targets",
         #"expected an array of strings, got "http://web""#),
        ("[[routes]]\npath = \"/b/\"\nupstream = \"api\"\nmethods = \"GET\"", "routes[1].methods",
         #"expected an array of strings, got "GET""#),
        ("[[routes]]\npath = \"/b/\"\nupstream = \"api\"\nwebsocket = \"true\"", "routes[1].websocket",
         #"expected true or false, got "true""#),
    ])
    func wrongTypeIsAnError(extra: String, key: String, message: String) {
        let problems = Self.problems(Self.minimal(plus: extra))
        #expect(problems.map(\.key) == [key])
        #expect(problems.first?.message == message)
    }

    @Test func topLevelSectionOfTheWrongTypeIsAnError() {
        let problems = Self.problems("server = 1\n" + Self.minimal)
        #expect(problems.map(\.key) == ["server"])
        #expect(problems.first?.message == "expected a table, got the integer 1")
    }

    @Test func routeNamingAnUnknownUpstreamIsAnError() throws {
        let problems = Self.problems(Self.minimal(plus: "[[routes]]\npath = \"/web/\"\nupstream = \"web\""))
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.key == "routes[1].upstream")
        #expect(problem.message.hasPrefix(#"unknown upstream "web""#))
    }

    @Test func duplicateRoutePathIsAnError() {
        let problems = Self.problems(Self.minimal(plus: "[[routes]]\npath = \"/api/\"\nupstream = \"api\"\nauth = \"public\""))
        #expect(problems.map(\.key) == ["routes[1].path"])
        #expect(problems.first?.message == #"duplicate route path "/api/""#)
    }

    @Test func duplicateUpstreamNameIsAnError() {
        let problems = Self.problems(Self.minimal(plus: "[[upstreams]]\nname = \"api\"\ntargets = [\"http://other\"]"))
        #expect(problems.map(\.key) == ["upstreams[1].name"])
    }

    @Test(arguments: [
        ("[[routes]]\nupstream = \"api\"", "routes[1].path"),
        ("[[routes]]\npath = \"/b/\"", "routes[1].upstream"),
        ("[[upstreams]]\ntargets = [\"http://web\"]", "upstreams[1].name"),
        ("[[upstreams]]\nname = \"web\"", "upstreams[1].targets"),
    ])
    func missingRequiredKeyIsAnError(extra: String, key: String) {
        let problems = Self.problems(Self.minimal(plus: extra))
        #expect(problems.map(\.key) == [key])
        #expect(problems.first?.message == "is required")
    }

    @Test func configWithoutUpstreamsOrRoutesIsAnError() {
        #expect(Set(Self.problems("").map(\.key)) == ["upstreams", "routes"])
    }

    @Test(arguments: ["required", "public"])
    func anonymousOnInvalidOnANonOptionalRouteIsAnError(auth: String) {
        let problems = Self.problems(Self.minimal(plus: """
            [[routes]]
            path = "/b/"
            upstream = "api"
            auth = "\(auth)"
            on_invalid = "anonymous"
            """))
        #expect(problems.map(\.key) == ["routes[1].on_invalid"])
    }

    @Test func anonymousOnInvalidOnAnOptionalRouteIsAccepted() throws {
        let config = try Self.parse(Self.minimal(plus: """
            [[routes]]
            path = "/b/"
            upstream = "api"
            auth = "optional"
            on_invalid = "anonymous"
            """))
        #expect(config.routes[1].onInvalid == .anonymous)
    }

    @Test func anonymousOnInvalidWithoutAuthKeyIsAnErrorBecauseAuthDefaultsToRequired() {
        let problems = Self.problems(Self.minimal(plus: "[[routes]]\npath = \"/b/\"\nupstream = \"api\"\non_invalid = \"anonymous\""))
        #expect(problems.map(\.key) == ["routes[1].on_invalid"])
    }

    @Test(arguments: [
        ("sqlite:var/gateway.db", StoreLocation.sqlite(path: "var/gateway.db")),
        ("sqlite:/tmp/g.db", StoreLocation.sqlite(path: "/tmp/g.db")),
        ("postgres://gw:secret@db:5432/gateway", StoreLocation.postgres(url: "postgres://gw:secret@db:5432/gateway")),
        ("postgresql://db/gateway", StoreLocation.postgres(url: "postgresql://db/gateway")),
    ])
    func storeURLForms(url: String, location: StoreLocation) throws {
        let config = try Self.parse(Self.minimal(plus: "[store]\nurl = \"\(url)\""))
        #expect(config.store.location == location)
    }

    @Test(arguments: ["sqlite:", "mysql://db/gateway", "var/gateway.db", ""])
    func badStoreURLIsAnError(url: String) {
        #expect(Self.problems(Self.minimal(plus: "[store]\nurl = \"\(url)\"")).map(\.key) == ["store.url"])
    }

    @Test func badStoreURLMessageDoesNotLeakThePassword() throws {
        let problem = try #require(Self.problems(Self.minimal(plus: "[store]\nurl = \"mysql://gw:hunter2@db/gateway\"")).first)
        #expect(!problem.description.contains("hunter2"))
    }

    // MARK: - ${NAME} substitution

    @Test func environmentVariableIsSubstituted() throws {
        let config = try Self.parse(
            Self.minimal(plus: "[tokens]\nissuer = \"${ISSUER}-x\"\n[auth]\nverify_url = \"http://${API}/verify\""),
            environment: ["ISSUER": "gw", "API": "10.0.0.5:9000"])
        #expect(config.tokens.issuer == "gw-x")
        #expect(config.auth.verifyURL == "http://10.0.0.5:9000/verify")
    }

    @Test func substitutionAppliesToArrayElementsAndTimings() throws {
        let config = try Self.parse("""
            [server]
            idle_timeout = "${IDLE}"
            [[upstreams]]
            name = "api"
            targets = ["http://${HOST}"]
            [[routes]]
            path = "/api/"
            upstream = "api"
            """, environment: ["IDLE": "90s", "HOST": "api.internal:81"])
        #expect(config.server.idleTimeout == .seconds(90))
        #expect(config.upstreams.first?.targets.first?.authority == "api.internal:81")
    }

    @Test func missingEnvironmentVariableIsAnError() throws {
        let problems = Self.problems(Self.minimal(plus: "[tokens]\nissuer = \"${NOPE}\""), environment: ["OTHER": "x"])
        let problem = try #require(problems.first)
        #expect(problems.count == 1)
        #expect(problem.key == "tokens.issuer")
        #expect(problem.message.contains("NOPE"))
    }

    @Test func unclosedSubstitutionIsAnError() {
        let problems = Self.problems(Self.minimal(plus: "[tokens]\nissuer = \"${ISSUER\""), environment: ["ISSUER": "gw"])
        #expect(problems.map(\.key) == ["tokens.issuer"])
    }

    @Test(arguments: [
        ("a$$b", "a$b"),
        ("cost $5", "cost $5"),
        ("trailing$", "trailing$"),
        ("$$${ISSUER}", "$gw"),
        ("$${ISSUER}", "${ISSUER}"),
    ])
    func dollarSignsAreLiteralUnlessTheyOpenASubstitution(raw: String, expected: String) throws {
        let config = try Self.parse(Self.minimal(plus: "[tokens]\nissuer = \"\(raw)\""), environment: ["ISSUER": "gw"])
        #expect(config.tokens.issuer == expected)
    }

    // MARK: - Many problems at once

    @Test func everyProblemIsReportedAtOnce() {
        let problems = Self.problems("""
            [server]
            listen = "nowhere"
            idle_timeout = "5"
            colour = "blue"

            [[upstreams]]
            name = "api"
            targets = ["ftp://127.0.0.1"]

            [[routes]]
            path = "/api/"
            upstream = "api"
            auth = "requird"

            [[routes]]
            path = "/web/"
            upstream = "web"
            """)
        #expect(problems.count == 6)
        #expect(Set(problems.map(\.key)) == [
            "server.listen", "server.idle_timeout", "server.colour",
            "upstreams[0].targets[0]", "routes[0].auth", "routes[1].upstream",
        ])
        #expect(problems.allSatisfy { $0.file == "gateway.conf" && $0.line != nil })
    }
}

/// docs/configuration.md's operations keys: `[admin]`, `[log]`, and the credential check's timeouts.
struct OperationsConfigTests {
    typealias T = ConfigReaderTests

    @Test func defaultsAreAdminOffAccessLogOnStdoutTextLogsAndTwoAndTenSeconds() throws {
        let config = try T.parse(T.minimal)
        #expect(config.admin.listen == nil)
        #expect(config.log.access == .stdout)
        #expect(config.log.format == .text)
        #expect(config.auth.verifyConnectTimeout == .seconds(2))
        #expect(config.auth.verifyTimeout == .seconds(10))
    }

    @Test func theShippedFileTurnsTheAdminListenerOn() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("gateway.conf").path
        let config = try ConfigReader(environment: [:]).read(path: path)
        #expect(config.admin.listen == ListenAddress(host: "127.0.0.1", port: 9901))
        #expect(config.log.access == .stdout)
    }

    @Test(arguments: [
        ("stdout", AccessLogDestination.stdout), ("stderr", .stderr), ("off", .off),
        ("var/access.log", .file(path: "var/access.log")),
    ])
    func accessLogDestinations(text: String, expected: AccessLogDestination) throws {
        #expect(try T.parse(T.minimal(plus: "[log]\naccess = \"\(text)\"")).log.access == expected)
    }

    @Test func everyKeyIsRead() throws {
        let config = try T.parse(T.minimal(plus: """
            [admin]
            listen = "127.0.0.1:9999"
            [log]
            format = "json"
            [auth]
            verify_connect_timeout = "500ms"
            verify_timeout = "3s"
            """))
        #expect(config.admin.listen == ListenAddress(host: "127.0.0.1", port: 9999))
        #expect(config.log.format == .json)
        #expect(config.auth.verifyConnectTimeout == .milliseconds(500))
        #expect(config.auth.verifyTimeout == .seconds(3))
    }

    @Test func mistakesAreStartUpErrors() {
        #expect(T.problems(T.minimal(plus: "[admin]\nlisten = \"127.0.0.1:8080\"")).map(\.key) == ["admin.listen"],
                "the admin listener is never the public one")
        #expect(T.problems(T.minimal(plus: "[admin]\nlisten = \"nowhere\"")).map(\.key) == ["admin.listen"])
        #expect(T.problems(T.minimal(plus: "[admin]\nlisen = \"127.0.0.1:9901\"")).map(\.key) == ["admin.lisen"])
        #expect(T.problems(T.minimal(plus: "[log]\nformat = \"xml\"")).map(\.key) == ["log.format"])
        #expect(T.problems(T.minimal(plus: "[log]\naccess = \"\"")).map(\.key) == ["log.access"])
        #expect(T.problems(T.minimal(plus: "[auth]\nverify_timeout = \"0s\"")).map(\.key) == ["auth.verify_timeout"])
    }
}
