/// docs/http.md#the-gateways-own-endpoints logout: 204 by access token (expired too), refresh token in the body or the cookie; afterwards
/// neither refresh nor renewal works for the session, and the cookie is cleared.
import Foundation
import GatewayCore
import Testing

@Suite("Logout endpoint")
struct LogoutEndpointTests {
    /// After logout: the refresh token is blacklisted, the session revoked, and an expired access token does not renew.
    static func expectLoggedOut(_ gw: AuthGateway, _ login: LoginTokens, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let session = try await gw.session(of: login.access)
        #expect(session.revokedAt != nil, "session not revoked", sourceLocation: sourceLocation)
        if let refresh = login.refresh {
            let refreshed = try await gw.refresh(refresh)
            #expect(refreshed.status == 401, sourceLocation: sourceLocation)
            #expect(refreshed.json == refreshTokenNotValidBody("Token is blacklisted"), "\(refreshed.bodyText)", sourceLocation: sourceLocation)
        }
        if gw.clock.nowSeconds < (try TokenClaimsProbe.exp(login.access) ?? 0) {
            gw.clock.advance(.seconds(61))
        }
        let renewal = try await gw.get("/api/echo", token: login.access)
        // docs/operations.md#revocation: a revoked session's tokens, expired or not, are blacklisted.
        expectAccessTokenRefused(renewal, message: "Token is blacklisted", sourceLocation: sourceLocation)
    }

    @Test("logout with the access token: 204, then refresh and renewal are refused")
    func logoutWithAccessToken() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let response = try await gw.logout(access: login.access)
            #expect(response.status == 204, "\(response.bodyText)")
            #expect(response.body.isEmpty)
            try await Self.expectLoggedOut(gw, login)
        }
    }

    @Test("logout with an expired access token: 204")
    func logoutWithExpiredAccessToken() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(120))
            let response = try await gw.logout(access: login.access)
            #expect(response.status == 204, "\(response.bodyText)")
            try await Self.expectLoggedOut(gw, login)
        }
    }

    @Test("logout with the refresh token in the body: 204")
    func logoutWithRefreshTokenInBody() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let refresh: String = try #require(login.refresh)
            let response = try await gw.logout(refresh: refresh)
            #expect(response.status == 204, "\(response.bodyText)")
            try await Self.expectLoggedOut(gw, login)
        }
    }

    @Test("logout with the refresh cookie: 204 and the cookie is cleared (Max-Age=0)")
    func logoutWithCookie() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""cookie""# }) { _, gw in
            let login = try await gw.login()
            let cookie = try #require(login.refresh)
            let response = try await gw.logout(cookie: "refresh=\(cookie)")
            #expect(response.status == 204, "\(response.bodyText)")
            let attributes = try #require(setCookieAttributes(response, name: "refresh"), "Set-Cookie: \(response.headers("set-cookie"))")
            #expect(attributes["max-age"] == "0")
            #expect(attributes["path"] == "/auth")
            #expect(setCookieValue(response, name: "refresh") == "")

            let refreshed = try await gw.request("POST", "/auth/refresh", headers: [("Cookie", "refresh=\(cookie)")])
            #expect(refreshed.status == 401)
            #expect(refreshed.json == refreshTokenNotValidBody("Token is blacklisted"), "\(refreshed.bodyText)")
            try await Self.expectLoggedOut(gw, login)
        }
    }

    @Test("logout by access token with cookie delivery also clears the cookie")
    func logoutByAccessClearsCookie() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""both""# }) { _, gw in
            let login = try await gw.login()
            let response = try await gw.logout(access: login.access)
            #expect(response.status == 204)
            #expect(setCookieAttributes(response, name: "refresh")?["max-age"] == "0", "Set-Cookie: \(response.headers("set-cookie"))")
            try await Self.expectLoggedOut(gw, login)
        }
    }

    @Test("logout ends only its own session")
    func logoutIsPerSession() async throws {
        try await withAuthGateway { _, gw in
            let first = try await gw.login()
            let second = try await gw.login()
            #expect(try await gw.logout(access: first.access).status == 204)
            let other = try await gw.refresh(try #require(second.refresh))
            #expect(other.status == 200, "\(other.bodyText)")
        }
    }

    @Test("access tokens issued before a logout are refused at once, before their exp (docs/operations.md#revocation)")
    func accessTokenRefusedAtOnce() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            #expect(try await gw.get("/api/echo", token: login.access).status == 200)
            #expect(try await gw.logout(access: login.access).status == 204)
            expectAccessTokenRefused(try await gw.get("/api/echo", token: login.access), message: "Token is blacklisted")
        }
    }
}
