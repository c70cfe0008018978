/// docs/http.md#the-gateways-own-endpoints refresh: rotation, reuse detection (the whole session dies), expired / invalid tokens,
/// `rotate_refresh = false`, the cookie, and `session_max_age` capping the sliding session.
import Foundation
import GatewayCore
import Testing

@Suite("Refresh endpoint")
struct RefreshEndpointTests {
    @Test("refresh answers 200 {access, refresh} and rotates the refresh token")
    func rotation() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let oldRefresh = try #require(login.refresh)
            gw.clock.advance(.seconds(5))
            let response = try await gw.refresh(oldRefresh)
            #expect(response.status == 200, "\(response.bodyText)")
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            guard case .object(let body)? = response.json else {
                Issue.record("not a JSON object: \(response.bodyText)")
                return
            }
            #expect(Set(body.keys) == ["access", "refresh"])
            let access = try #require(body["access"]?.stringValue)
            let newRefresh = try #require(body["refresh"]?.stringValue)
            #expect(newRefresh != oldRefresh)
            let oldPayload = try JWTParts.payload(oldRefresh)
            let newPayload = try JWTParts.payload(newRefresh)
            #expect(newPayload["jti"] != oldPayload["jti"])
            #expect(newPayload["sid"] == oldPayload["sid"])
            #expect(newPayload["token_type"] == .string("refresh"))
            #expect(newPayload["iat"] == .integer(gw.clock.nowSeconds))

            guard case .valid(let claims) = gw.verify(access) else {
                Issue.record("refreshed access token does not verify")
                return
            }
            #expect(claims.sessionID == oldPayload["sid"]?.stringValue)
            #expect(claims["user_id"] == .integer(42))
            #expect(claims["role"] == .string("admin"))
            #expect(claims.jti != (try JWTParts.jti(login.access)))

            let session = try await gw.session(of: access)
            #expect(session.refreshJTI == newPayload["jti"]?.stringValue)
            #expect(session.access.jti == claims.jti)
            #expect(session.expiresAt == gw.clock.now + .seconds(3600), "refresh slides the session to now + refresh_ttl")

            // The new refresh token refreshes again.
            let again = try await gw.refresh(newRefresh)
            #expect(again.status == 200, "\(again.bodyText)")
        }
    }

    @Test("a rotated refresh token is blacklisted and presenting it revokes the whole session")
    func reuseDetection() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let first = try #require(login.refresh)
            let rotated = try await gw.refresh(first)
            #expect(rotated.status == 200)
            let second = try #require(rotated.json?["refresh"]?.stringValue)

            let reused = try await gw.refresh(first)
            #expect(reused.status == 401)
            #expect(reused.json == refreshTokenNotValidBody("Token is blacklisted"), "\(reused.bodyText)")

            // Whoever holds the newest token is logged out too.
            let newest = try await gw.refresh(second)
            #expect(newest.status == 401)
            #expect(newest.json == refreshTokenNotValidBody("Token is blacklisted"), "\(newest.bodyText)")
            let session = try await gw.session(of: login.access)
            #expect(session.revokedAt != nil)
        }
    }

    @Test("a refresh token past its exp: 401 Token is expired")
    func expiredRefreshToken() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(3600 + 1))
            let response = try await gw.refresh(try #require(login.refresh))
            #expect(response.status == 401)
            #expect(response.json == refreshTokenNotValidBody("Token is expired"), "\(response.bodyText)")
        }
    }

    @Test("garbage, a tampered token or an access token as refresh: 401 Token is invalid")
    func invalidRefreshTokens() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let refresh = try #require(login.refresh)
            let tampered = JWTParts.tamperedSignature(refresh)
            for presented in ["garbage", "a.b.c", tampered, login.access] {
                let response = try await gw.refresh(presented)
                #expect(response.status == 401, "\(presented)")
                #expect(response.json == refreshTokenNotValidBody("Token is invalid"), "\(presented): \(response.bodyText)")
            }
            // None of that harmed the real session.
            let ok = try await gw.refresh(refresh)
            #expect(ok.status == 200, "\(ok.bodyText)")
        }
    }

    @Test("well-signed refresh tokens the store does not know (no such session, unknown jti): 401 Token is invalid")
    func unknownRefreshTokens() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let now = gw.clock.now
            let sid = try #require(try JWTParts.payload(login.access)["sid"]?.stringValue)
            func mint(sessionID: String) throws -> String {
                let subject = TokenIssuer.Subject(sessionID: sessionID, userID: .integer(42), claims: [:])
                return try gw.gateway.issuer.refreshToken(for: subject, jti: "0123456789abcdef0123456789abcdef", issuedAt: now, expiresAt: now + .seconds(3600))
            }
            for (name, token) in [("no such session", try mint(sessionID: "no-such-session")), ("unknown jti", try mint(sessionID: sid))] {
                guard case .valid = gw.verify(token, as: .refresh) else {
                    Issue.record("\(name): the minted token should verify")
                    continue
                }
                let response = try await gw.refresh(token)
                #expect(response.status == 401, "\(name)")
                #expect(response.json == refreshTokenNotValidBody("Token is invalid"), "\(name): \(response.bodyText)")
            }
            let ok = try await gw.refresh(try #require(login.refresh))
            #expect(ok.status == 200, "an unknown jti must not revoke the session: \(ok.bodyText)")
        }
    }

    @Test("a refresh token's own exp still bounds it when renewals slid the session")
    func refreshTokenExpBoundsIt() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(50 * 60))
            let renewed = try await gw.get("/api/echo", token: login.access)
            #expect(renewed.header("x-access-token") != nil, "\(renewed.status) \(renewed.bodyText)")
            gw.clock.advance(.seconds(11 * 60))
            // The session lives on (slid to +110 min), but this refresh token expired at +60 min.
            let session = try await gw.session(of: login.access)
            #expect(session.isAlive(at: gw.clock.now))
            let response = try await gw.refresh(try #require(login.refresh))
            #expect(response.status == 401)
            #expect(response.json == refreshTokenNotValidBody("Token is expired"), "\(response.bodyText)")
        }
    }

    @Test("rotate_refresh = false: only access comes back and the refresh token keeps working")
    func noRotation() async throws {
        try await withAuthGateway({ $0.tokens["rotate_refresh"] = "false" }) { _, gw in
            let login = try await gw.login()
            let refresh = try #require(login.refresh)
            for _ in 0..<2 {
                gw.clock.advance(.seconds(10))
                let response = try await gw.refresh(refresh)
                #expect(response.status == 200, "\(response.bodyText)")
                guard case .object(let body)? = response.json else {
                    Issue.record("not a JSON object: \(response.bodyText)")
                    return
                }
                #expect(Set(body.keys) == ["access"])
                #expect(response.headers("set-cookie").isEmpty)
                guard case .valid = gw.verify(try #require(body["access"]?.stringValue)) else {
                    Issue.record("access token does not verify")
                    return
                }
            }
        }
    }

    @Test("refresh by cookie: the new refresh token is only in Set-Cookie; the old cookie is then blacklisted")
    func refreshByCookie() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""cookie""# }) { _, gw in
            let login = try await gw.login()
            let cookie = try #require(login.refresh)
            let response = try await gw.request("POST", "/auth/refresh", headers: [("Cookie", "theme=dark; refresh=\(cookie)")])
            #expect(response.status == 200, "\(response.bodyText)")
            guard case .object(let body)? = response.json else {
                Issue.record("not a JSON object: \(response.bodyText)")
                return
            }
            #expect(Set(body.keys) == ["access"])
            let newCookie = try #require(setCookieValue(response, name: "refresh"), "Set-Cookie: \(response.headers("set-cookie"))")
            #expect(newCookie != cookie)
            guard case .valid = gw.verify(newCookie, as: .refresh) else {
                Issue.record("the new cookie holds no valid refresh token")
                return
            }
            let attributes = try #require(setCookieAttributes(response, name: "refresh"))
            #expect(attributes["httponly"] != nil)
            #expect(attributes["path"] == "/auth")

            let reused = try await gw.request("POST", "/auth/refresh", headers: [("Cookie", "refresh=\(cookie)")])
            #expect(reused.status == 401)
            #expect(reused.json == refreshTokenNotValidBody("Token is blacklisted"), "\(reused.bodyText)")
        }
    }

    @Test("session_max_age caps the sliding session: refreshes keep it alive, never past login + session_max_age")
    func sessionMaxAgeCapsRefresh() async throws {
        try await withAuthGateway({
            $0.tokens["refresh_ttl"] = #""1h""#
            $0.tokens["session_max_age"] = #""3h""#
        }) { _, gw in
            let loginAt = gw.clock.now
            let login = try await gw.login()
            var refresh = try #require(login.refresh)
            // 50 min apart: each refresh is within the previous token's hour, and the session outlives its first hour.
            for step in 1...3 {
                gw.clock.advance(.seconds(50 * 60))
                let response = try await gw.refresh(refresh)
                #expect(response.status == 200, "refresh \(step) at +\(step * 50) min: \(response.bodyText)")
                refresh = try #require(response.json?["refresh"]?.stringValue)
                let exp = try #require(try TokenClaimsProbe.exp(refresh))
                #expect(UnixTime(seconds: exp) <= loginAt + .seconds(3 * 3600), "refresh token exp past login + session_max_age")
            }
            let session = try await gw.session(of: login.access)
            #expect(session.expiresAt == loginAt + .seconds(3 * 3600), "at +150 min the session ends at the cap, not at +210 min")

            gw.clock.set(loginAt + .seconds(3 * 3600 - 60))
            let beforeCap = try await gw.refresh(refresh)
            #expect(beforeCap.status == 200, "a minute before the cap: \(beforeCap.bodyText)")
            refresh = try #require(beforeCap.json?["refresh"]?.stringValue)

            gw.clock.set(loginAt + .seconds(3 * 3600 + 1))
            let pastCap = try await gw.refresh(refresh)
            #expect(pastCap.status == 401)
            #expect(pastCap.json == refreshTokenNotValidBody("Token is expired"), "\(pastCap.bodyText)")
        }
    }

    @Test("GET on the refresh path: 405")
    func getOnRefreshPath() async throws {
        try await withAuthGateway { _, gw in
            let response = try await gw.get("/auth/refresh")
            #expect(response.status == 405)
            #expect(response.errorCode == "method_not_allowed")
        }
    }
}

enum TokenClaimsProbe {
    static func exp(_ token: String) throws -> Int64? {
        if case .integer(let value)? = try JWTParts.payload(token)["exp"] { return value }
        return nil
    }
}
