/// docs/http.md#forwarding / issue 3 §5: what the upstream is told about the caller — identity headers set only after
/// verification, client-sent ones removed in any spelling on every route, `forward_authorization`.
import Foundation
import GatewayCore
import Testing

@Suite("Identity headers")
struct IdentityHeadersTests {
    static let spoofed: [(String, String)] = [
        ("X-Auth-User-Id", "1"),
        ("x_auth_user_id", "2"),
        ("X-AUTH-CLAIMS", "eyJ1c2VyX2lkIjoxfQ"),
        ("x-auth-session-id", "forged"),
        ("X_Auth_Session_Id", "forged"),
    ]

    @Test("the upstream receives the user id, the session id and base64url(JSON) of the verified claims")
    func identityOnRequiredRoute() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let response = try await gw.get("/api/echo", token: login.access)
            #expect(response.status == 200)
            let received = try #require(upstream.lastRequest)
            let payload = try JWTParts.payload(login.access)
            #expect(received.headers("x-auth-user-id") == ["42"])
            #expect(received.headers("x-auth-session-id") == [try #require(payload["sid"]?.stringValue)])
            let claimsHeaders = received.headers("x-auth-claims")
            #expect(claimsHeaders.count == 1)
            let encoded = try #require(claimsHeaders.first)
            #expect(!encoded.contains("+") && !encoded.contains("/") && !encoded.contains("="), "base64url without padding: \(encoded)")
            let decoded = try #require(JWTParts.base64URLDecode(encoded), "not base64url: \(encoded)")
            #expect(JSONValue.parse(Array(decoded)) == .object(payload), "X-Auth-Claims: \(String(decoding: decoded, as: UTF8.self))")
            #expect(received.headers("authorization") == ["Bearer \(login.access)"])

            // The echo agrees with the journal (what came over the wire).
            let echo = try EchoedRequest(response)
            #expect(echo.headers("X-Auth-User-Id") == ["42"])
        }
    }

    @Test("a string user id is passed as it is")
    func stringUserID() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login("bob", "builder")
            #expect(try await gw.get("/api/echo", token: login.access).status == 200)
            #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["u-7"])
        }
    }

    @Test("a user id with CR LF or NUL from the credential check is refused at login (502), so no token carries it")
    func controlCharactersInUserIDRefusedAtLogin() async throws {
        let user = #"{"id": "7\r\nX-Injected: yes", "username": "mallory"}"#
        let verify = try RawResponseUpstream(response: Array(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(user.utf8.count)\r\nConnection: close\r\n\r\n\(user)".utf8))
        defer { verify.close() }
        try await withAuthGateway({ $0.auth["verify_url"] = TestConfig.quoted(verify.baseURL + "/auth/verify-credentials") }) { _, gw in
            let response = try await gw.loginResponse()
            #expect(response.status == 502, "\(response.status) \(response.bodyText)")
            #expect(response.errorCode == "upstream_unavailable", "\(response.bodyText)")
        }
    }

    @Test("identity values are one header each: CR, LF and NUL in a user id reach the upstream as spaces, never as a header")
    func controlCharactersInIdentityValuesCannotAddHeaders() async throws {
        try await withAuthGateway { upstream, gw in
            // A token the gateway's own key signed, for a user id that login would now refuse (one issued before
            // that rule, or by a signer sharing the key).
            let now = gw.clock.now
            let subject = TokenIssuer.Subject(sessionID: "s-1", userID: .string("7\r\nX-Injected: yes\u{0}X-Evil: 1"), claims: [:])
            let token = try gw.gateway.issuer.accessToken(
                for: subject, lineage: AccessLineage(jti: "0123456789abcdef0123456789abcdef", issuedAt: now, expiresAt: now + .seconds(60))).token
            let response = try await gw.get("/api/echo", token: token)
            #expect(response.status == 200, "\(response.status) \(response.bodyText)")
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("x-injected").isEmpty)
            #expect(received.headers("x-evil").isEmpty)
            #expect(received.headers("x-auth-user-id") == ["7  X-Injected: yes X-Evil: 1"])
            #expect(received.headers("x-auth-session-id") == ["s-1"])
        }
    }

    @Test("client-sent identity headers are removed in any spelling on required, optional and public routes")
    func spoofedHeadersRemoved() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            let sid = try #require(try JWTParts.payload(login.access)["sid"]?.stringValue)

            // Required, with a token: only the gateway's values arrive.
            #expect(try await gw.get("/api/echo", token: login.access, headers: Self.spoofed).status == 200)
            var received = try #require(upstream.lastRequest)
            #expect(identityHeaders(in: received).count == 3, "\(identityHeaders(in: received))")
            #expect(received.headers("x-auth-user-id") == ["42"])
            #expect(received.headers("x-auth-session-id") == [sid])
            #expect(!received.lowercasedHeaderNames.contains { $0.contains("_") }, "underscore spellings must be removed: \(received.headers)")

            // Optional, anonymous: none arrive.
            #expect(try await gw.get("/opt/echo", headers: Self.spoofed).status == 200)
            received = try #require(upstream.lastRequest)
            #expect(identityHeaders(in: received).isEmpty, "\(identityHeaders(in: received))")

            // Optional with a token: only the gateway's.
            #expect(try await gw.get("/opt/echo", token: login.access, headers: Self.spoofed).status == 200)
            received = try #require(upstream.lastRequest)
            #expect(received.headers("x-auth-user-id") == ["42"])
            #expect(identityHeaders(in: received).count == 3)

            // Public: none arrive, token or not.
            for token in [nil, login.access] {
                #expect(try await gw.get("/pub/echo", token: token, headers: Self.spoofed).status == 200)
                received = try #require(upstream.lastRequest)
                #expect(identityHeaders(in: received).isEmpty, "public: \(identityHeaders(in: received))")
            }
        }
    }

    @Test("forward_authorization = false: no Authorization upstream, identity still set")
    func noForwardAuthorization() async throws {
        try await withAuthGateway({ $0.headers["forward_authorization"] = "false" }) { upstream, gw in
            let login = try await gw.login()
            #expect(try await gw.get("/api/echo", token: login.access).status == 200)
            let received = try #require(upstream.lastRequest)
            #expect(received.header("authorization") == nil)
            #expect(received.headers("x-auth-user-id") == ["42"])
        }
    }

    @Test("[headers] names the identity headers; client-sent ones of those names are removed")
    func customHeaderNames() async throws {
        try await withAuthGateway({
            $0.headers["user_id"] = #""X-User""#
            $0.headers["session_id"] = #""X-Session""#
            $0.headers["claims"] = #""X-Claims""#
        }) { upstream, gw in
            let login = try await gw.login()
            let response = try await gw.get("/api/echo", token: login.access, headers: [("x_user", "1"), ("X-CLAIMS", "x")])
            #expect(response.status == 200)
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("x-user") == ["42"])
            #expect(received.headers("x_user").isEmpty)
            #expect(received.headers("x-session") == [try #require(try JWTParts.payload(login.access)["sid"]?.stringValue)])
            #expect(received.headers("x-claims").count == 1)
            #expect(received.headers("x-claims") != ["x"])
            #expect(received.header("x-auth-user-id") == nil)
        }
    }
}
