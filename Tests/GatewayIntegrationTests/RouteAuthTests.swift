/// docs/http.md#route-auth / §5.2 on real routes: public, optional (reject / anonymous) and required; malformed Authorization
/// headers; require_claims / require_scopes; CORS preflights; Korean messages.
import Foundation
import GatewayCore
import Testing

/// The gateway's identity headers (default names) among what the upstream received, in any spelling.
func identityHeaders(in request: RecordedRequest) -> [(name: String, value: String)] {
    let names: Set<String> = ["x-auth-user-id", "x-auth-session-id", "x-auth-claims"]
    return request.headers.filter { names.contains($0.name.lowercased().replacingOccurrences(of: "_", with: "-")) }
}

@Suite("Route auth")
struct RouteAuthTests {
    static let koreanInvalid: JSONValue = .object([
        "detail": .string("이 토큰은 모든 타입의 토큰에 대해 유효하지 않습니다"),
        "code": .string("token_not_valid"),
        "messages": .array([.object([
            "token_class": .string("AccessToken"),
            "token_type": .string("access"),
            "message": .string("유효하지 않거나 만료된 토큰입니다"),
        ])]),
    ])

    /// A token with `alg: none` and no signature, carrying a valid token's claims.
    static func unsignedCopy(of token: String) -> String {
        let parts = token.split(separator: ".")
        let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return header + "." + parts[1] + "."
    }

    // MARK: public

    @Test("public: no token, a garbage token, a valid and an expired token are all forwarded untouched, unverified")
    func publicRoute() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()

            let none = try await gw.get("/pub/echo")
            #expect(none.status == 200)
            let plain = try #require(upstream.lastRequest)
            #expect(plain.header("authorization") == nil)
            #expect(identityHeaders(in: plain).isEmpty)

            for authorization in ["Bearer garbage", "Bearer \(login.access)", "Basic dXNlcjpwYXNz", "Bearer a b"] {
                let response = try await gw.get("/pub/echo", headers: [("Authorization", authorization)])
                #expect(response.status == 200, "\(authorization): \(response.bodyText)")
                let received = try #require(upstream.lastRequest)
                #expect(received.headers("authorization") == [authorization])
                #expect(identityHeaders(in: received).isEmpty, "public routes verify nothing: \(received.headers)")
            }

            gw.clock.advance(.seconds(120))
            let expired = try await gw.get("/pub/echo", token: login.access)
            #expect(expired.status == 200)
            #expect(expired.header("x-access-token") == nil, "nothing is verified or renewed on a public route")
            #expect(upstream.lastRequest?.header("authorization") == "Bearer \(login.access)")
        }
    }

    // MARK: optional

    @Test("optional: no token → anonymous; a valid token → identity")
    func optionalRoute() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let anonymous = try await gw.get("/opt/echo")
            #expect(anonymous.status == 200)
            #expect(identityHeaders(in: try #require(upstream.lastRequest)).isEmpty)

            let identified = try await gw.get("/opt/echo", token: login.access)
            #expect(identified.status == 200)
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("x-auth-user-id") == ["42"])
            #expect(received.headers("authorization") == ["Bearer \(login.access)"])
        }
    }

    @Test("optional, on_invalid = reject: an invalid token is a 401 and nothing reaches the upstream")
    func optionalReject() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let before = upstream.requests.count
            let invalid = try await gw.get("/opt/echo", token: "garbage")
            expectAccessTokenRefused(invalid, message: "Token is invalid")

            let malformed = try await gw.get("/opt/echo", headers: [("Authorization", "Bearer")])
            #expect(malformed.status == 401)
            #expect(malformed.json == badAuthorizationHeaderBody, "\(malformed.bodyText)")

            gw.clock.advance(.seconds(120))
            let expired = try await gw.get("/optnorenew/echo", token: login.access)
            expectAccessTokenRefused(expired, message: "Token is expired")
            #expect(upstream.requests.count == before)
        }
    }

    @Test("optional: another scheme is passed upstream untouched, anonymously")
    func optionalOtherScheme() async throws {
        try await withAuthGateway { upstream, gw in
            let response = try await gw.get("/opt/echo", headers: [("Authorization", "Basic dXNlcjpwYXNz")])
            #expect(response.status == 200, "\(response.bodyText)")
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("authorization") == ["Basic dXNlcjpwYXNz"])
            #expect(identityHeaders(in: received).isEmpty)
        }
    }

    @Test("optional, on_invalid = anonymous: invalid tokens and bad headers are forwarded without identity or Authorization")
    func optionalAnonymous() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            for authorization in ["Bearer garbage", "Bearer", "Bearer a b", "Bearer \(JWTParts.tamperedSignature(login.access))"] {
                let response = try await gw.get("/optanon/echo", headers: [("Authorization", authorization)])
                #expect(response.status == 200, "\(authorization): \(response.bodyText)")
                let received = try #require(upstream.lastRequest)
                #expect(received.uri == "/optanon/echo")
                #expect(received.header("authorization") == nil, "\(authorization): the rejected header must not reach the upstream")
                #expect(identityHeaders(in: received).isEmpty)
            }
            let valid = try await gw.get("/optanon/echo", token: login.access)
            #expect(valid.status == 200)
            #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["42"])
        }
    }

    // MARK: required

    @Test("required: no token → 401 not_authenticated with WWW-Authenticate: Bearer realm=\"api\"")
    func requiredMissingToken() async throws {
        try await withAuthGateway { upstream, gw in
            let response = try await gw.get("/api/echo")
            #expect(response.status == 401)
            #expect(response.json == notAuthenticatedBody, "\(response.bodyText)")
            #expect(response.header("www-authenticate") == #"Bearer realm="api""#)
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("required: invalid tokens → 401 token_not_valid with messages and error=\"invalid_token\"")
    func requiredInvalidTokens() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let refresh = try #require(login.refresh)
            let before = upstream.requests.count
            let cases = [
                "garbage": "garbage",
                "three dots": "a.b.c",
                "bad signature": JWTParts.tamperedSignature(login.access),
                "alg none": Self.unsignedCopy(of: login.access),
                "refresh token": refresh,
            ]
            for (name, token) in cases {
                let response = try await gw.get("/api/echo", token: token)
                #expect(response.status == 401, "\(name)")
                #expect(response.json == accessTokenNotValidBody("Token is invalid"), "\(name): \(response.bodyText)")
                #expect(response.header("www-authenticate") == #"Bearer realm="api", error="invalid_token""#, "\(name)")
            }
            #expect(upstream.requests.count == before)
        }
    }

    @Test("required: `Bearer` alone or with two values → 401 bad_authorization_header")
    func requiredMalformedBearer() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let before = upstream.requests.count
            for authorization in ["Bearer", "Bearer a b", "Bearer \(login.access) extra"] {
                let response = try await gw.get("/api/echo", headers: [("Authorization", authorization)])
                #expect(response.status == 401, "\(authorization)")
                #expect(response.json == badAuthorizationHeaderBody, "\(authorization): \(response.bodyText)")
            }
            #expect(upstream.requests.count == before)
        }
    }

    @Test("required: another scheme is no bearer token → 401 not_authenticated")
    func requiredOtherScheme() async throws {
        try await withAuthGateway { upstream, gw in
            for authorization in ["Basic dXNlcjpwYXNz", "Token abc"] {
                let response = try await gw.get("/api/echo", headers: [("Authorization", authorization)])
                #expect(response.status == 401, "\(authorization)")
                #expect(response.json == notAuthenticatedBody, "\(authorization): \(response.bodyText)")
                #expect(response.header("www-authenticate") == #"Bearer realm="api""#)
            }
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("required: the Bearer scheme name is case-insensitive")
    func bearerCaseInsensitive() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            for scheme in ["bearer", "BEARER", "BeArEr"] {
                let response = try await gw.get("/api/echo", headers: [("Authorization", "\(scheme) \(login.access)")])
                #expect(response.status == 200, "\(scheme): \(response.bodyText)")
                #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["42"])
            }
        }
    }

    @Test("two Authorization headers: 400 bad_request on every route")
    func twoAuthorizationHeaders() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let before = upstream.requests.count
            for path in ["/api/echo", "/opt/echo", "/pub/echo"] {
                let response = try await gw.get(path, headers: [
                    ("Authorization", "Bearer \(login.access)"), ("Authorization", "Bearer \(login.access)"),
                ])
                #expect(response.status == 400, "\(path): \(response.bodyText)")
                #expect(response.errorCode == "bad_request", "\(path)")
            }
            #expect(upstream.requests.count == before)
        }
    }

    @Test("require_claims: bob (role user) → 403 permission_denied with insufficient_scope; alice (admin) passes")
    func requireClaims() async throws {
        try await withAuthGateway { upstream, gw in
            let bob = try await gw.login("bob", "builder")
            let alice = try await gw.login()
            let before = upstream.requests.count
            let denied = try await gw.get("/admin/echo", token: bob.access)
            #expect(denied.status == 403)
            #expect(denied.json == permissionDeniedBody, "\(denied.bodyText)")
            #expect(denied.header("www-authenticate") == #"Bearer error="insufficient_scope""#)
            #expect(upstream.requests.count == before)

            let allowed = try await gw.get("/admin/echo", token: alice.access)
            #expect(allowed.status == 200, "\(allowed.bodyText)")
        }
    }

    @Test("require_scopes: bob (scope read) → 403; alice (read write) passes")
    func requireScopes() async throws {
        try await withAuthGateway { upstream, gw in
            let bob = try await gw.login("bob", "builder")
            let alice = try await gw.login()
            let denied = try await gw.get("/write/echo", token: bob.access)
            #expect(denied.status == 403)
            #expect(denied.json == permissionDeniedBody, "\(denied.bodyText)")
            #expect(denied.header("www-authenticate") == #"Bearer error="insufficient_scope""#)

            let allowed = try await gw.get("/write/echo", token: alice.access)
            #expect(allowed.status == 200, "\(allowed.bodyText)")
            #expect(upstream.lastRequest?.uri == "/write/echo")
        }
    }

    @Test("a CORS preflight is forwarded without a token, whatever the route's auth and methods")
    func corsPreflight() async throws {
        try await withAuthGateway { upstream, gw in
            let preflight = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
            for path in ["/api/echo", "/getonly/echo", "/admin/echo"] {
                let response = try await gw.request("OPTIONS", path, headers: preflight)
                #expect(response.status == 200, "\(path): \(response.bodyText)")
                let received = try #require(upstream.lastRequest)
                #expect(received.method == "OPTIONS")
                #expect(received.uri == path)
                #expect(identityHeaders(in: received).isEmpty)
            }
            // With a garbage token it is still not authenticated.
            let withGarbage = try await gw.request("OPTIONS", "/api/echo", headers: preflight + [("Authorization", "Bearer garbage")])
            #expect(withGarbage.status == 200, "\(withGarbage.bodyText)")

            // A plain OPTIONS (no Origin / Access-Control-Request-Method) is an ordinary request.
            let count = upstream.requests.count
            let plain = try await gw.request("OPTIONS", "/api/echo")
            #expect(plain.status == 401)
            #expect(plain.json == notAuthenticatedBody, "\(plain.bodyText)")
            #expect(upstream.requests.count == count)
        }
    }

    @Test("no route → 404 not_found; a method not in `methods` → 405 method_not_allowed")
    func notFoundAndMethodNotAllowed() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let missing = try await gw.get("/nowhere", token: login.access)
            #expect(missing.status == 404)
            #expect(missing.errorCode == "not_found")
            let post = try await gw.request("POST", "/getonly/echo", headers: [("Authorization", "Bearer \(login.access)")], body: "{}")
            #expect(post.status == 405)
            #expect(post.errorCode == "method_not_allowed")
        }
    }

    @Test("Accept-Language: ko gives simplejwt's Korean strings with the same code")
    func koreanMessages() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            for language in ["ko", "ko-KR,ko;q=0.9,en;q=0.5"] {
                let invalid = try await gw.get("/api/echo", token: "garbage", headers: [("Accept-Language", language)])
                #expect(invalid.status == 401)
                #expect(invalid.json == Self.koreanInvalid, "\(language): \(invalid.bodyText)")
                #expect(invalid.header("www-authenticate") == #"Bearer realm="api", error="invalid_token""#)
            }

            let missing = try await gw.get("/api/echo", headers: [("Accept-Language", "ko")])
            #expect(missing.status == 401)
            #expect(missing.errorCode == "not_authenticated")
            #expect(missing.errorDetail != "Authentication credentials were not provided.", "detail should be Korean")

            let english = try await gw.get("/api/echo", token: "garbage", headers: [("Accept-Language", "en-US,en;q=0.9")])
            #expect(english.json == accessTokenNotValidBody("Token is invalid"))

            gw.clock.advance(.seconds(120))
            let expired = try await gw.get("/norenew/echo", token: login.access, headers: [("Accept-Language", "ko")])
            #expect(expired.status == 401)
            #expect(expired.json == Self.koreanInvalid, "\(expired.bodyText)")
        }
    }
}
