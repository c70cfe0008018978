import Testing
@testable import GatewayCore

/// `RoutePermissions.allows` (docs/configuration.md routes: require_claims, require_scopes).
struct RoutePermissionsTests {
    static func route(claims: [(name: String, allowed: [ClaimValue])] = [], scopes: [String] = []) throws -> Route {
        var config = GatewayConfig()
        config.upstreams = [UpstreamConfig(name: "api", targets: [UpstreamTarget(scheme: "http", authority: "127.0.0.1:9000", basePath: "")])]
        var route = RouteConfig(path: "/api/", upstream: "api")
        route.requireClaims = claims
        route.requireScopes = scopes
        config.routes = [route]
        return try #require(RouteTable(compiling: config).routes.first)
    }

    static func claims(_ extra: [String: JSONValue]) throws -> TokenClaims {
        var payload: [String: JSONValue] = [
            "token_type": .string("access"), "exp": .integer(2_000_000_000), "sub": .string("42"), "sid": .string("s"),
        ]
        payload.merge(extra) { _, new in new }
        return try #require(TokenClaims(payload: payload, userIdClaim: "user_id"))
    }

    static func allows(_ extra: [String: JSONValue], _ route: Route) throws -> Bool {
        RoutePermissions.allows(try claims(extra), route: route)
    }

    @Test func noRequirementsAllowsAnyToken() throws {
        #expect(try Self.allows([:], Self.route()))
    }

    // MARK: - require_claims

    @Test func stringClaimMustEqualTheRequiredValue() throws {
        let route = try Self.route(claims: [("role", [.string("admin")])])
        #expect(try Self.allows(["role": .string("admin")], route))
        #expect(try !Self.allows(["role": .string("Admin")], route))
        #expect(try !Self.allows(["role": .string("guest")], route))
        #expect(try !Self.allows(["role": .string("admin ")], route))
    }

    @Test func integerClaimMustEqualTheRequiredValue() throws {
        let route = try Self.route(claims: [("level", [.integer(3)])])
        #expect(try Self.allows(["level": .integer(3)], route))
        #expect(try !Self.allows(["level": .integer(4)], route))
        #expect(try !Self.allows(["level": .string("3")], route))
    }

    @Test func boolClaimMustEqualTheRequiredValue() throws {
        let route = try Self.route(claims: [("is_staff", [.bool(true)])])
        #expect(try Self.allows(["is_staff": .bool(true)], route))
        #expect(try !Self.allows(["is_staff": .bool(false)], route))
        #expect(try !Self.allows(["is_staff": .string("true")], route))
        #expect(try !Self.allows(["is_staff": .integer(1)], route))
    }

    @Test func claimMayEqualAnyOfTheListedValues() throws {
        let route = try Self.route(claims: [("role", [.string("admin"), .string("staff")])])
        #expect(try Self.allows(["role": .string("admin")], route))
        #expect(try Self.allows(["role": .string("staff")], route))
        #expect(try !Self.allows(["role": .string("guest")], route))
    }

    @Test func arrayClaimPassesWhenAnyElementMatches() throws {
        let route = try Self.route(claims: [("roles", [.string("admin"), .string("staff")])])
        #expect(try Self.allows(["roles": .array([.string("guest"), .string("staff")])], route))
        #expect(try !Self.allows(["roles": .array([.string("guest"), .string("viewer")])], route))
        #expect(try !Self.allows(["roles": .array([])], route))
    }

    @Test func missingClaimIsRefused() throws {
        let route = try Self.route(claims: [("role", [.string("admin")])])
        #expect(try !Self.allows([:], route))
        #expect(try !Self.allows(["other": .string("admin")], route))
    }

    @Test func nullOrObjectClaimIsRefused() throws {
        let route = try Self.route(claims: [("role", [.string("admin")])])
        #expect(try !Self.allows(["role": .null], route))
        #expect(try !Self.allows(["role": .object(["role": .string("admin")])], route))
    }

    @Test func everyRequiredClaimMustMatch() throws {
        let route = try Self.route(claims: [("role", [.string("admin")]), ("tenant", [.integer(7)])])
        #expect(try Self.allows(["role": .string("admin"), "tenant": .integer(7)], route))
        #expect(try !Self.allows(["role": .string("admin"), "tenant": .integer(8)], route))
        #expect(try !Self.allows(["role": .string("admin")], route))
        #expect(try !Self.allows(["tenant": .integer(7)], route))
    }

    // MARK: - require_scopes

    @Test func scopesFromASpaceSeparatedString() throws {
        let route = try Self.route(scopes: ["read", "write"])
        #expect(try Self.allows(["scope": .string("read write")], route))
        #expect(try Self.allows(["scope": .string("admin write read")], route))
        #expect(try !Self.allows(["scope": .string("read")], route))
        #expect(try !Self.allows(["scope": .string("reader writer")], route))
        #expect(try !Self.allows(["scope": .string("read,write")], route))
    }

    @Test func scopesFromAnArray() throws {
        let route = try Self.route(scopes: ["read", "write"])
        #expect(try Self.allows(["scope": .array([.string("write"), .string("read")])], route))
        #expect(try !Self.allows(["scope": .array([.string("read")])], route))
        #expect(try !Self.allows(["scope": .array([.string("read write")])], route))
    }

    @Test func missingOrNonStringScopeIsRefused() throws {
        let route = try Self.route(scopes: ["read"])
        #expect(try !Self.allows([:], route))
        #expect(try !Self.allows(["scope": .integer(1)], route))
        #expect(try !Self.allows(["scopes": .string("read")], route))
    }

    @Test func claimsAndScopesAreBothRequired() throws {
        let route = try Self.route(claims: [("role", [.string("admin")])], scopes: ["read"])
        #expect(try Self.allows(["role": .string("admin"), "scope": .string("read")], route))
        #expect(try !Self.allows(["role": .string("admin")], route))
        #expect(try !Self.allows(["role": .string("guest"), "scope": .string("read")], route))
    }
}
