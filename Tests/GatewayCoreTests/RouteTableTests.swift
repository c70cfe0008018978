import NIOHTTP1
import Testing
@testable import GatewayCore

/// Route choice and per-route decisions (docs/http.md#route-auth, docs/http.md#forwarding): longest byte prefix, methods, strip_prefix.
struct RouteTableTests {
    static let upstreams = [
        UpstreamConfig(name: "api", targets: [UpstreamTarget(scheme: "http", authority: "127.0.0.1:9000", basePath: "")]),
        UpstreamConfig(name: "web", targets: [UpstreamTarget(scheme: "https", authority: "web.internal", basePath: "/site")]),
    ]

    static func config(_ routes: [RouteConfig]) -> GatewayConfig {
        var config = GatewayConfig()
        config.upstreams = upstreams
        config.routes = routes.enumerated().map { i, r in
            var r = r
            r.index = i
            return r
        }
        return config
    }

    static func table(_ paths: [String]) -> RouteTable {
        RouteTable(compiling: config(paths.map { RouteConfig(path: $0, upstream: "api") }))
    }

    static func route(
        path: String = "/api/", methods: [String] = [], stripPrefix: String = ""
    ) throws -> Route {
        let table = RouteTable(compiling: config([RouteConfig(path: path, methods: methods, upstream: "api", stripPrefix: stripPrefix)]))
        return try #require(table.routes.first)
    }

    // MARK: - match

    @Test(arguments: [
        ["/", "/api/", "/api/admin/"],
        ["/api/admin/", "/api/", "/"],
        ["/api/", "/", "/api/admin/"],
    ])
    func longestPrefixWinsRegardlessOfFileOrder(paths: [String]) {
        let table = Self.table(paths)
        #expect(table.match("/api/admin/users")?.path == "/api/admin/")
        #expect(table.match("/api/admin/")?.path == "/api/admin/")
        #expect(table.match("/api/users")?.path == "/api/")
        #expect(table.match("/api/admin")?.path == "/api/")
        #expect(table.match("/other")?.path == "/")
        #expect(table.match("/")?.path == "/")
    }

    @Test func matchedRouteKeepsItsFileIndexAndUpstream() throws {
        var web = RouteConfig(path: "/web/", upstream: "web")
        web.auth = .public
        let table = RouteTable(compiling: Self.config([RouteConfig(path: "/api/", upstream: "api"), web]))
        let route = try #require(table.match("/web/index.html"))
        #expect(route.index == 1)
        #expect(route.upstreamIndex == 1)
        #expect(route.auth == .public)
    }

    @Test func noMatchIsNil() {
        let table = Self.table(["/api/", "/public/"])
        #expect(table.match("/") == nil)
        #expect(table.match("/ap") == nil)
        #expect(table.match("/api") == nil)
        #expect(table.match("/publics") == nil)
    }

    @Test func prefixIsComparedByteForByte() {
        let table = Self.table(["/api", "/caf\u{E9}/"])
        // A plain byte prefix, not a path-segment match.
        #expect(table.match("/api")?.path == "/api")
        #expect(table.match("/apiary")?.path == "/api")
        // Case, percent-encoding and Unicode normalisation are not folded.
        #expect(table.match("/API/x") == nil)
        #expect(table.match("/%61pi/x") == nil)
        #expect(table.match("/cafe\u{301}/menu") == nil)
        #expect(table.match("/caf\u{E9}/menu")?.path == "/caf\u{E9}/")
        // A combining mark after the prefix does not hide a byte prefix (String.hasPrefix would say no).
        #expect(table.match("/api\u{301}")?.path == "/api")
    }

    @Test func matchLooksAtThePathOnly() throws {
        let table = Self.table(["/api/"])
        let target = try RequestTarget(parsing: "/x?next=/api/")
        #expect(table.match(target.path) == nil)
    }

    // MARK: - methods

    @Test(arguments: [HTTPMethod.GET, .HEAD, .POST, .PUT, .PATCH, .DELETE, .OPTIONS])
    func emptyMethodsAllowAnyMethod(method: HTTPMethod) throws {
        #expect(try Self.route(methods: []).allows(method))
    }

    @Test func headIsAllowedWhereGetIs() throws {
        let route = try Self.route(methods: ["GET"])
        #expect(route.allows(.GET))
        #expect(route.allows(.HEAD))
        #expect(!route.allows(.POST))
        #expect(!route.allows(.PUT))
        #expect(!route.allows(.DELETE))
        #expect(!route.allows(.OPTIONS))
    }

    @Test func headIsNotAllowedWhereGetIsNot() throws {
        let route = try Self.route(methods: ["POST", "PUT"])
        #expect(route.allows(.POST))
        #expect(route.allows(.PUT))
        #expect(!route.allows(.GET))
        #expect(!route.allows(.HEAD))
        #expect(!route.allows(.PATCH))
    }

    // MARK: - strip_prefix

    @Test(arguments: [
        ("", "/api/users", "/api/users"),
        ("/api", "/api/users", "/users"),
        ("/api/", "/api/users", "/users"),
        ("/api/", "/api/", "/"),
        ("/api", "/api/", "/"),
        ("/api/", "/api/a/%2e%2e/b", "/a/%2e%2e/b"),
    ])
    func upstreamPathStripsThePrefixAndStartsWithSlash(stripPrefix: String, path: String, expected: String) throws {
        let route = try Self.route(path: "/api/", stripPrefix: stripPrefix)
        let upstreamPath = route.upstreamPath(for: Substring(path))
        #expect(upstreamPath == Substring(expected))
        #expect(upstreamPath.hasPrefix("/"))
    }

    /// strip_prefix removes exactly the bytes the route matched: a combining mark after the prefix, which
    /// `String.hasPrefix` would count as a different character, does not keep the prefix in the upstream path.
    @Test func stripPrefixIsComparedByteForByteLikeTheMatch() throws {
        let route = try Self.route(path: "/api", stripPrefix: "/api")
        #expect(route.upstreamPath(for: "/api\u{301}/x") == "/\u{301}/x")
        #expect(route.upstreamPath(for: "/caf\u{E9}/x") == "/caf\u{E9}/x")
        let cafe = try Self.route(path: "/caf\u{E9}/", stripPrefix: "/caf\u{E9}")
        #expect(cafe.upstreamPath(for: "/caf\u{E9}/menu") == "/menu")
        #expect(cafe.upstreamPath(for: "/cafe\u{301}/menu") == "/cafe\u{301}/menu")
    }

    @Test func upstreamPathOfTheBarePrefixIsTheRoot() throws {
        let route = try Self.route(path: "/api", stripPrefix: "/api")
        #expect(route.upstreamPath(for: "/api") == "/")
    }

    // MARK: - rendered

    @Test func renderedListsEveryRouteInFileOrder() {
        var admin = RouteConfig(path: "/api/admin/", methods: ["GET", "POST"], upstream: "api")
        admin.requireScopes = ["write"]
        var web = RouteConfig(path: "/", upstream: "web")
        web.auth = .public
        let config = Self.config([RouteConfig(path: "/api/", upstream: "api"), web, admin])
        let lines = RouteTable(compiling: config).rendered(upstreams: config.upstreams).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines.dropFirst().map { $0.split(separator: "\t").first.map(String.init) } == ["/api/", "/", "/api/admin/"])
        #expect(lines[2].contains("public"))
        #expect(lines[2].contains("web (https://web.internal/site)"))
        #expect(lines[3].contains("GET,POST"))
        #expect(lines[3].contains("write"))
    }
}
