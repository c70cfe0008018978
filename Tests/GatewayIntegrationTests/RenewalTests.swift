/// docs/http.md#renewal / issue 4: server-side renewal with a clock the test moves — the renewed token, the headers,
/// every 401 case, the grace period, the lineage, sliding expiry.
import Foundation
import GatewayCore
import Testing

@Suite("Server-side renewal")
struct RenewalTests {
    /// The names listed in every `Access-Control-Expose-Headers` value, lower-cased.
    static func exposed(_ response: HTTPTestResponse) -> [String] {
        response.headers("access-control-expose-headers")
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
    }

    /// Asserts a renewal happened and returns the new token.
    static func renewedToken(_ response: HTTPTestResponse, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(response.status != 401, "\(response.bodyText)", sourceLocation: sourceLocation)
        return try #require(response.header("x-access-token"), "no X-Access-Token; status \(response.status) \(response.bodyText)",
                            sourceLocation: sourceLocation)
    }

    @Test("an expired token on a live session: 200, a new token (new jti, same sid and claims) in X-Access-Token")
    func renewsExpiredToken() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let old = try JWTParts.payload(login.access)
            gw.clock.advance(.seconds(61))
            guard case .expired = gw.verify(login.access) else {
                Issue.record("the login token should be expired now: \(gw.verify(login.access))")
                return
            }

            let response = try await gw.get("/api/echo", token: login.access)
            #expect(response.status == 200, "\(response.bodyText)")
            let token = try Self.renewedToken(response)
            #expect(Self.exposed(response).contains("x-access-token"), "\(response.headers("access-control-expose-headers"))")

            guard case .valid(let claims) = gw.verify(token) else {
                Issue.record("the renewed token does not verify: \(gw.verify(token))")
                return
            }
            let new = try JWTParts.payload(token)
            #expect(new["jti"] != old["jti"])
            #expect(new["exp"] == .integer(gw.clock.nowSeconds + 60))
            #expect(new["iat"] == .integer(gw.clock.nowSeconds))
            for name in ["sid", "sub", "user_id", "role", "scope", "iss", "aud", "token_type"] {
                #expect(new[name] == old[name], "claim \(name)")
            }
            #expect(Set(new.keys) == Set(old.keys))
            #expect(claims.sessionID == old["sid"]?.stringValue)

            // The upstream saw the request as if the new token had been sent.
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("authorization") == ["Bearer \(token)"])
            #expect(received.headers("x-auth-user-id") == ["42"])
            let encoded = try #require(received.header("x-auth-claims"))
            let decoded = try #require(JWTParts.base64URLDecode(encoded))
            #expect(JSONValue.parse(Array(decoded)) == .object(new), "X-Auth-Claims must describe the renewed token")

            // One lineage step in the store.
            let session = try await gw.session(of: token)
            #expect(session.access.jti == new["jti"]?.stringValue)
            #expect(session.previousAccessJTI == old["jti"]?.stringValue)
            #expect(session.accessReplacedAt == gw.clock.now)
            #expect(session.expiresAt == gw.clock.now + .seconds(3600), "renewal slides the session")

            // The renewed token is used like any other: no further renewal.
            let next = try await gw.get("/api/echo", token: token)
            #expect(next.status == 200)
            #expect(next.header("x-access-token") == nil)
        }
    }

    @Test("a valid token gets no renewal header")
    func validTokenNotRenewed() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(59))
            let response = try await gw.get("/api/echo", token: login.access)
            #expect(response.status == 200)
            #expect(response.header("x-access-token") == nil)
        }
    }

    @Test("Access-Control-Expose-Headers merges the upstream's own list with the renewal header")
    func exposeHeadersMerged() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let response = try await gw.get("/api/expose", token: login.access)
            #expect(response.status == 200)
            _ = try Self.renewedToken(response)
            let listed = Self.exposed(response)
            #expect(listed.contains("x-custom"), "\(response.headers("access-control-expose-headers"))")
            #expect(listed.contains("x-access-token"), "\(response.headers("access-control-expose-headers"))")
        }
    }

    @Test("renewal.header names the header; the renewal header comes whatever the upstream's status")
    func headerOnAnyStatus() async throws {
        try await withAuthGateway({ $0.renewal["header"] = #""X-New-Token""# }) { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let failed = try await gw.get("/api/status/500", token: login.access)
            #expect(failed.status == 500)
            let token = try #require(failed.header("x-new-token"), "\(failed.head.headers)")
            #expect(failed.header("x-access-token") == nil)
            #expect(Self.exposed(failed).contains("x-new-token"))

            gw.clock.advance(.seconds(61))
            let missing = try await gw.get("/api/status/404", token: token)
            #expect(missing.status == 404)
            #expect(missing.header("x-new-token") != nil, "\(missing.head.headers)")
        }
    }

    @Test("renewal on an optional route")
    func renewsOnOptionalRoute() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let response = try await gw.get("/opt/echo", token: login.access)
            #expect(response.status == 200)
            let token = try Self.renewedToken(response)
            #expect(upstream.lastRequest?.headers("authorization") == ["Bearer \(token)"])
            #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["42"])
        }
    }

    @Test("forward_authorization = false: a renewed request carries identity but no Authorization")
    func renewalWithoutForwardedAuthorization() async throws {
        try await withAuthGateway({ $0.headers["forward_authorization"] = "false" }) { upstream, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let response = try await gw.get("/api/echo", token: login.access)
            _ = try Self.renewedToken(response)
            #expect(upstream.lastRequest?.header("authorization") == nil)
            #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["42"])
        }
    }

    // MARK: 401 cases

    @Test("route renew = false: 401 Token is expired")
    func routeRenewOff() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let before = upstream.requests.count
            expectAccessTokenRefused(try await gw.get("/norenew/echo", token: login.access), message: "Token is expired")
            #expect(upstream.requests.count == before)
            // The same token renews on a route that allows it.
            _ = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
        }
    }

    @Test("[renewal] enabled = false: 401 Token is expired")
    func renewalDisabled() async throws {
        try await withAuthGateway({ $0.renewal["enabled"] = "false" }) { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is expired")
        }
    }

    @Test("session revoked by logout: 401")
    func revokedByLogout() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let refresh: String = try #require(login.refresh)
            #expect(try await gw.logout(refresh: refresh).status == 204)
            gw.clock.advance(.seconds(61))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is blacklisted")
        }
    }

    @Test("session revoked by refresh-token reuse: 401 (also for the newest access token)")
    func revokedByRefreshReuse() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let first = try #require(login.refresh)
            let refreshed = try await gw.refresh(first)
            #expect(refreshed.status == 200)
            let newestAccess = try #require(refreshed.json?["access"]?.stringValue)
            #expect(try await gw.refresh(first).status == 401)
            // Refused at once (docs/operations.md#revocation), and still once expired.
            expectAccessTokenRefused(try await gw.get("/api/echo", token: newestAccess), message: "Token is blacklisted")
            gw.clock.advance(.seconds(61))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: newestAccess), message: "Token is blacklisted")
        }
    }

    @Test("the access token from a refresh is the session's latest and renews")
    func refreshedAccessTokenRenews() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let refreshed = try await gw.refresh(try #require(login.refresh))
            let access = try #require(refreshed.json?["access"]?.stringValue)
            gw.clock.advance(.seconds(61))
            let token = try Self.renewedToken(try await gw.get("/api/echo", token: access))
            #expect(try await gw.session(of: token).previousAccessJTI == (try JWTParts.jti(access)))
        }
    }

    @Test("session expired (no activity for refresh_ttl): 401")
    func sessionExpired() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(3600 + 1))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is expired")
        }
    }

    @Test("a well-signed expired token of a session the store does not know: 401")
    func unknownSession() async throws {
        try await withAuthGateway { _, gw in
            _ = try await gw.login()
            let now = gw.clock.now
            let subject = TokenIssuer.Subject(sessionID: "no-such-session", userID: .integer(42), claims: [:])
            let token = try gw.gateway.issuer.accessToken(
                for: subject, lineage: AccessLineage(jti: "0123456789abcdef0123456789abcdef", issuedAt: now - .seconds(120), expiresAt: now - .seconds(60))).token
            guard case .expired = gw.verify(token) else {
                Issue.record("the minted token should be expired: \(gw.verify(token))")
                return
            }
            expectAccessTokenRefused(try await gw.get("/api/echo", token: token), message: "Token is expired")
        }
    }

    @Test("past session_max_age: 401 even though renewals kept the session active")
    func pastSessionMaxAge() async throws {
        try await withAuthGateway({
            $0.tokens["refresh_ttl"] = #""1h""#
            $0.tokens["session_max_age"] = #""2h""#
        }) { _, gw in
            let loginAt = gw.clock.now
            var token = try await gw.login().access
            for minute in [50, 100] {
                gw.clock.set(loginAt + .seconds(minute * 60))
                let response = try await gw.get("/api/echo", token: token)
                token = try Self.renewedToken(response)
            }
            let session = try await gw.session(of: token)
            #expect(session.expiresAt == loginAt + .seconds(2 * 3600), "slides to min(now + refresh_ttl, login + session_max_age)")
            gw.clock.set(loginAt + .seconds(2 * 3600 + 1))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: token), message: "Token is expired")
        }
    }

    @Test("past renewal.window: 401; just inside it: renewed")
    func pastWindow() async throws {
        try await withAuthGateway({ $0.renewal["window"] = #""5m""# }) { _, gw in
            let inside = try await gw.login()
            let outside = try await gw.login()
            gw.clock.advance(.seconds(60 + 300 - 1))
            _ = try Self.renewedToken(try await gw.get("/api/echo", token: inside.access))
            gw.clock.advance(.seconds(2))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: outside.access), message: "Token is expired")
        }
    }

    @Test("the predecessor within renewal.grace renews to the same jti")
    func predecessorWithinGrace() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let first = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
            gw.clock.advance(.seconds(9))
            let second = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
            #expect(try JWTParts.jti(second) == (try JWTParts.jti(first)))
            guard case .valid = gw.verify(second) else {
                Issue.record("the token handed out in the grace period does not verify")
                return
            }
            // Still one lineage step.
            let session = try await gw.session(of: first)
            #expect(session.access.jti == (try JWTParts.jti(first)))
            #expect(session.previousAccessJTI == (try JWTParts.jti(login.access)))
        }
    }

    @Test("a grace longer than access_ttl: the predecessor still gets its successor, expired by now, forwarded with identity")
    func predecessorGetsAnExpiredSuccessorWithinALongGrace() async throws {
        try await withAuthGateway({ $0.renewal["grace"] = #""10m""# }) { upstream, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let first = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
            gw.clock.advance(.seconds(120))  // the successor (access_ttl 60 s) has expired too
            let again = try await gw.get("/api/echo", token: login.access)
            #expect(again.status == 200, "\(again.bodyText)")
            #expect(try Self.renewedToken(again) == first, "the same token, byte for byte")
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("authorization") == ["Bearer \(first)"])
            #expect(received.headers("x-auth-user-id") == ["42"])
            let encoded = try #require(received.header("x-auth-claims"))
            let decoded = try #require(JWTParts.base64URLDecode(encoded))
            #expect(JSONValue.parse(Array(decoded)) == .object(try JWTParts.payload(first)))
        }
    }

    @Test("the predecessor outside renewal.grace: 401")
    func predecessorOutsideGrace() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            _ = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
            gw.clock.advance(.seconds(11))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is expired")
        }
    }

    @Test("an older (grandparent) token: 401 even inside the grace period")
    func grandparentToken() async throws {
        try await withAuthGateway({ $0.renewal["grace"] = #""10m""# }) { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let parent = try Self.renewedToken(try await gw.get("/api/echo", token: login.access))
            gw.clock.advance(.seconds(61))
            let child = try Self.renewedToken(try await gw.get("/api/echo", token: parent))
            gw.clock.advance(.seconds(1))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is expired")
            // The parent is the predecessor now and still renews, to the child's jti.
            let again = try Self.renewedToken(try await gw.get("/api/echo", token: parent))
            #expect(try JWTParts.jti(again) == (try JWTParts.jti(child)))
        }
    }

    @Test("sliding expiry: renewals keep the session alive beyond the original refresh_ttl; inactivity ends it")
    func slidingExpiry() async throws {
        try await withAuthGateway({ $0.tokens["refresh_ttl"] = #""5m""# }) { _, gw in
            let loginAt = gw.clock.now
            var token = try await gw.login().access
            for step in 1...4 {
                gw.clock.advance(.seconds(4 * 60))
                let response = try await gw.get("/api/echo", token: token)
                #expect(response.status == 200, "renewal \(step) at +\(step * 4) min: \(response.bodyText)")
                token = try Self.renewedToken(response)
                let session = try await gw.session(of: token)
                #expect(session.expiresAt == gw.clock.now + .seconds(5 * 60))
            }
            #expect(gw.clock.now.since(loginAt) == .seconds(16 * 60))
            gw.clock.advance(.seconds(5 * 60 + 1))
            expectAccessTokenRefused(try await gw.get("/api/echo", token: token), message: "Token is expired")
        }
    }
}
