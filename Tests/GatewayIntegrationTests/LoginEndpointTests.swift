/// docs/http.md#the-gateways-own-endpoints login: 201 with the user and the tokens, the claims of docs/http.md#tokens, the verify endpoint's refusal passed
/// back unchanged, 502 when it is unreachable, and the four `refresh_delivery` modes.
import Foundation
import GatewayCore
import Testing

@Suite("Login endpoint")
struct LoginEndpointTests {
    static let aliceUser: JSONValue = .object([
        "id": .integer(42), "username": .string("alice"), "role": .string("admin"), "scope": .string("read write"),
    ])

    @Test("login answers 201 {user, token: {access, refresh}} with the verify endpoint's user object")
    func loginAnswers201() async throws {
        try await withAuthGateway { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 201, "\(response.bodyText)")
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            guard case .object(let body)? = response.json else {
                Issue.record("body is not a JSON object: \(response.bodyText)")
                return
            }
            #expect(Set(body.keys) == ["user", "token"])
            #expect(body["user"] == Self.aliceUser)
            guard case .object(let token)? = body["token"] else {
                Issue.record("no token object: \(response.bodyText)")
                return
            }
            #expect(Set(token.keys) == ["access", "refresh"])
            let access = try #require(token["access"]?.stringValue)
            let refresh = try #require(token["refresh"]?.stringValue)
            #expect(access != refresh)
            guard case .valid = gw.verify(access, as: .access) else {
                Issue.record("access token does not verify: \(gw.verify(access, as: .access))")
                return
            }
            guard case .valid = gw.verify(refresh, as: .refresh) else {
                Issue.record("refresh token does not verify as refresh")
                return
            }
            // Neither verifies as the other kind (token_type is checked).
            #expect(gw.verify(access, as: .refresh) == .invalid(.tokenType))
            #expect(gw.verify(refresh, as: .access) == .invalid(.tokenType))
        }
    }

    @Test("the credentials go to verify_url as-is: POST, same Content-Type, same body")
    func credentialsForwardedAsIs() async throws {
        try await withAuthGateway { upstream, gw in
            let body = #"{"username": "alice", "password": "wonderland", "extra": [1, 2]}"#
            let response = try await gw.request("POST", "/auth/login", headers: [("Content-Type", "application/json; charset=utf-8")], body: body)
            #expect(response.status == 201, "\(response.bodyText)")
            let checks = upstream.requests.filter { $0.uri == "/auth/verify-credentials" }
            #expect(checks.count == 1)
            let check = try #require(checks.first)
            #expect(check.method == "POST")
            #expect(check.header("content-type") == "application/json; charset=utf-8")
            #expect(check.bodyLength == body.utf8.count)
            #expect(check.bodySHA256 == PatternBytes.sha256(of: Array(body.utf8)))
        }
    }

    @Test("access and refresh tokens carry docs/http.md#tokens's claims; an integer user id stays an integer")
    func tokensCarrySpecClaims() async throws {
        try await withAuthGateway { _, gw in
            let tokens = try await gw.login()
            let now = gw.clock.nowSeconds

            let header = try JWTParts.header(tokens.access)
            #expect(header["typ"] == .string("JWT"))
            #expect(header["alg"] == .string("HS256"))

            let access = try JWTParts.payload(tokens.access)
            #expect(access["token_type"] == .string("access"))
            #expect(access["iat"] == .integer(now))
            #expect(access["exp"] == .integer(now + 60))
            #expect(access["iss"] == .string("auth-gateway-tests"))
            #expect(access["aud"] == .string("api-clients"))
            #expect(access["sub"] == .string("42"))
            #expect(access["user_id"] == .integer(42), "user_id must stay the integer the upstream gave: \(String(describing: access["user_id"]))")
            #expect(access["role"] == .string("admin"))
            #expect(access["scope"] == .string("read write"))
            let accessJTI = try #require(access["jti"]?.stringValue)
            let sid = try #require(access["sid"]?.stringValue)
            #expect(!accessJTI.isEmpty && !sid.isEmpty)

            let refreshToken = try #require(tokens.refresh)
            let refresh = try JWTParts.payload(refreshToken)
            #expect(refresh["token_type"] == .string("refresh"))
            #expect(refresh["iat"] == .integer(now))
            #expect(refresh["exp"] == .integer(now + 3600))
            #expect(refresh["iss"] == .string("auth-gateway-tests"))
            #expect(refresh["sid"] == .string(sid))
            #expect(refresh["sub"] == .string("42"))
            #expect(refresh["user_id"] == .integer(42))
            let refreshJTI = try #require(refresh["jti"]?.stringValue)
            #expect(refreshJTI != accessJTI)

            // The session is stored with the ids of both tokens, not the tokens themselves.
            let session = try #require(try await gw.store.session(id: sid))
            #expect(session.access.jti == accessJTI)
            #expect(session.refreshJTI == refreshJTI)
            #expect(session.userID == .integer(42))
            #expect(session.revokedAt == nil)
            #expect(session.expiresAt == gw.clock.now + .seconds(3600))
        }
    }

    @Test("a string user id stays a string; claims come from the user object")
    func stringUserID() async throws {
        try await withAuthGateway { _, gw in
            let tokens = try await gw.login("bob", "builder")
            let access = try JWTParts.payload(tokens.access)
            #expect(access["sub"] == .string("u-7"))
            #expect(access["user_id"] == .string("u-7"))
            #expect(access["role"] == .string("user"))
            #expect(access["scope"] == .string("read"))
        }
    }

    @Test("user_id_claim names the user id claim; sub is always set; no aud without an audience")
    func customUserIDClaimAndNoAudience() async throws {
        try await withAuthGateway({
            $0.tokens["user_id_claim"] = #""uid""#
            $0.tokens["audience"] = nil
        }) { _, gw in
            let tokens = try await gw.login()
            let access = try JWTParts.payload(tokens.access)
            #expect(access["uid"] == .integer(42))
            #expect(access["user_id"] == nil)
            #expect(access["sub"] == .string("42"))
            #expect(access["aud"] == nil)
            let refresh = try JWTParts.payload(try #require(tokens.refresh))
            #expect(refresh["uid"] == .integer(42))
        }
    }

    @Test("user_id_pointer picks the user id inside the user object")
    func userIDPointer() async throws {
        try await withAuthGateway({ $0.auth["user_id_pointer"] = #""/username""# }) { _, gw in
            let tokens = try await gw.login()
            let access = try JWTParts.payload(tokens.access)
            #expect(access["sub"] == .string("alice"))
            #expect(access["user_id"] == .string("alice"))
        }
    }

    @Test("bad credentials: the verify endpoint's 401 status and body come back unchanged")
    func badCredentialsPassedBack() async throws {
        try await withAuthGateway { _, gw in
            let response = try await gw.loginResponse("alice", "wrong")
            #expect(response.status == 401)
            #expect(response.bodyText == #"{"detail": "No active account found with the given credentials", "code": "no_active_account"}"#)
            #expect(response.header("set-cookie") == nil)
        }
    }

    @Test("verify_url unreachable: 502 upstream_unavailable")
    func verifyURLUnreachable() async throws {
        let port = try deadPort()
        try await withAuthGateway({ $0.auth["verify_url"] = TestConfig.quoted("http://127.0.0.1:\(port)/auth/verify-credentials") }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 502, "\(response.bodyText)")
            #expect(response.errorCode == "upstream_unavailable")
        }
    }

    @Test("verify_url is told the client's address, the scheme and the request id, which the login's answer carries too")
    func verifyURLGetsTheCallersForwardingHeaders() async throws {
        try await withAuthGateway { upstream, gw in
            let response = try await gw.request("POST", "/auth/login", headers: [
                ("Content-Type", "application/json"), ("X-Forwarded-For", "203.0.113.9"), ("X-Request-Id", "login-77"),
            ], body: #"{"username": "alice", "password": "wonderland"}"#)
            #expect(response.status == 201, "\(response.bodyText)")
            let check = try #require(upstream.requests.last { $0.uri == "/auth/verify-credentials" })
            #expect(check.headers("x-forwarded-for") == ["203.0.113.9, 127.0.0.1"])
            #expect(check.headers("x-forwarded-proto") == ["http"])
            #expect(check.headers("x-request-id") == ["login-77"])
            #expect(response.headers("x-request-id") == ["login-77"])
        }
    }

    @Test("auth.verify_timeout: a verify_url that answers later is 504 upstream_timeout at that deadline")
    func verifyTimeoutComesFromTheConfig() async throws {
        try await withAuthGateway({ config in
            config.auth["verify_url"] = TestConfig.quoted("\(config.upstreams[0].targets[0])/slow/5000")
            config.auth["verify_timeout"] = #""1s""#
        }) { _, gw in
            let started = ContinuousClock.now
            let response = try await gw.loginResponse()
            let waited = ContinuousClock.now - started
            #expect(response.status == 504, "\(response.bodyText)")
            #expect(response.errorCode == "upstream_timeout")
            // 504, not the 201 the API gives after 5 s: the deadline was shorter. Only the lower bound is timed (a
            // loaded machine stretches any upper one).
            #expect(waited >= .milliseconds(900), "waited \(waited)")
        }
    }

    @Test("refresh_delivery = cookie: no refresh in the body; HttpOnly, Secure, SameSite=Strict, Path=/auth cookie")
    func cookieDelivery() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""cookie""# }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 201, "\(response.bodyText)")
            guard case .object(let token)? = response.json?["token"] else {
                Issue.record("no token object: \(response.bodyText)")
                return
            }
            #expect(Set(token.keys) == ["access"])
            let cookie = try #require(setCookieValue(response, name: "refresh"), "Set-Cookie: \(response.headers("set-cookie"))")
            guard case .valid(let claims) = gw.verify(cookie, as: .refresh) else {
                Issue.record("the cookie does not hold a valid refresh token: \(cookie)")
                return
            }
            #expect(claims.sessionID == (try JWTParts.payload(try #require(token["access"]?.stringValue)))["sid"]?.stringValue)
            let attributes = try #require(setCookieAttributes(response, name: "refresh"))
            #expect(attributes["httponly"] != nil)
            #expect(attributes["secure"] != nil)
            #expect(attributes["samesite"] == "Strict")
            #expect(attributes["path"] == "/auth")
        }
    }

    @Test("cookie_secure = false, cookie_name, cookie_path and cookie_same_site shape the cookie")
    func cookieSettings() async throws {
        try await withAuthGateway({
            $0.auth["refresh_delivery"] = #""cookie""#
            $0.auth["cookie_secure"] = "false"
            $0.auth["cookie_name"] = #""rt""#
            $0.auth["cookie_path"] = #""/auth/refresh""#
            $0.auth["cookie_same_site"] = #""Lax""#
        }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 201)
            #expect(setCookieValue(response, name: "refresh") == nil)
            let attributes = try #require(setCookieAttributes(response, name: "rt"), "Set-Cookie: \(response.headers("set-cookie"))")
            #expect(attributes["secure"] == nil)
            #expect(attributes["httponly"] != nil)
            #expect(attributes["samesite"] == "Lax")
            #expect(attributes["path"] == "/auth/refresh")
        }
    }

    @Test("refresh_delivery = both: the refresh token in the body and in the cookie")
    func bothDelivery() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""both""# }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 201)
            let inBody = try #require(response.json?["token"]?["refresh"]?.stringValue, "\(response.bodyText)")
            let inCookie = try #require(setCookieValue(response, name: "refresh"))
            #expect(inBody == inCookie)
            #expect(setCookieAttributes(response, name: "refresh")?["httponly"] != nil)
        }
    }

    @Test("refresh_delivery = none: the refresh token never leaves the gateway")
    func noDelivery() async throws {
        try await withAuthGateway({ $0.auth["refresh_delivery"] = #""none""# }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 201)
            guard case .object(let token)? = response.json?["token"] else {
                Issue.record("no token object: \(response.bodyText)")
                return
            }
            #expect(Set(token.keys) == ["access"])
            #expect(response.headers("set-cookie").isEmpty)
        }
    }

    @Test("GET on the login path: 405")
    func getOnLoginPath() async throws {
        try await withAuthGateway { upstream, gw in
            let response = try await gw.get("/auth/login")
            #expect(response.status == 405)
            #expect(response.errorCode == "method_not_allowed")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("login_path is configurable")
    func customLoginPath() async throws {
        try await withAuthGateway({ $0.auth["login_path"] = #""/session/new""# }) { _, gw in
            let response = try await gw.request("POST", "/session/new", body: #"{"username": "alice", "password": "wonderland"}"#)
            #expect(response.status == 201, "\(response.bodyText)")
            #expect(response.json?["user"] == Self.aliceUser)
        }
    }
}
