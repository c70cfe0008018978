/// `auth.cors_origins`: a page on another origin (app.example.com beside api.example.com) logs in, refreshes and
/// logs out through the gateway's own endpoints; other origins get nothing they could read.
import Foundation
import Testing

@Suite("CORS on the gateway's own endpoints")
struct OwnEndpointCORSTests {
    static let app = "http://app.test:3000"

    static func preflight(_ gw: AuthGateway, _ path: String, origin: String) async throws -> HTTPTestResponse {
        try await gw.request("OPTIONS", path, headers: [("Origin", origin), ("Access-Control-Request-Method", "POST"),
                                                        ("Access-Control-Request-Headers", "content-type")])
    }

    @Test("a listed origin: preflights answered 204; login, its refusal, refresh and logout readable with credentials")
    func listedOriginCallsLoginRefreshLogout() async throws {
        try await withAuthGateway({ $0.auth["cors_origins"] = #"["http://app.test:3000", "https://other.test"]"# }) { upstream, gw in
            for path in ["/auth/login", "/auth/refresh", "/auth/logout"] {
                let response = try await Self.preflight(gw, path, origin: Self.app)
                #expect(response.status == 204, "\(path): \(response.bodyText)")
                #expect(response.header("access-control-allow-origin") == Self.app)
                #expect(response.header("access-control-allow-credentials") == "true")
                #expect(response.header("access-control-allow-methods")?.contains("POST") == true)
                #expect(response.header("access-control-allow-headers")?.lowercased().contains("content-type") == true)
                #expect(response.header("vary") == "Origin")
            }
            // Nothing of a preflight reaches the API.
            #expect(upstream.requests.isEmpty)

            let origin = [("Origin", Self.app)]
            let login = try await gw.request("POST", "/auth/login", headers: origin,
                                             body: #"{"username": "alice", "password": "wonderland"}"#)
            #expect(login.status == 201)
            #expect(login.header("access-control-allow-origin") == Self.app)
            #expect(login.header("access-control-allow-credentials") == "true")
            let refused = try await gw.request("POST", "/auth/login", headers: origin,
                                               body: #"{"username": "alice", "password": "nope"}"#)
            #expect(refused.status == 401)
            #expect(refused.header("access-control-allow-origin") == Self.app, "a page must be able to read why")

            let tokens = try login.jsonObject()["token"] as? [String: String]
            let refresh = try await gw.request("POST", "/auth/refresh", headers: origin,
                                               body: #"{"refresh": "\#(tokens?["refresh"] ?? "")"}"#)
            #expect(refresh.status == 200)
            #expect(refresh.header("access-control-allow-origin") == Self.app)
            let badRefresh = try await gw.request("POST", "/auth/refresh", headers: origin, body: #"{"refresh": "x"}"#)
            #expect(badRefresh.status == 401)
            #expect(badRefresh.header("access-control-allow-origin") == Self.app)
            let logout = try await gw.request("POST", "/auth/logout", headers: origin + [("Authorization", "Bearer \(tokens?["access"] ?? "")")])
            #expect(logout.status == 204)
            #expect(logout.header("access-control-allow-origin") == Self.app)
        }
    }

    @Test("an origin not listed, or no cors_origins at all: the preflight is refused and no answer names an origin")
    func otherOriginsGetNothing() async throws {
        try await withAuthGateway({ $0.auth["cors_origins"] = #"["http://app.test:3000"]"# }) { _, gw in
            let preflight = try await Self.preflight(gw, "/auth/login", origin: "http://evil.test")
            #expect(preflight.status == 405)
            #expect(preflight.header("access-control-allow-origin") == nil)
            let login = try await gw.request("POST", "/auth/login", headers: [("Origin", "http://evil.test")],
                                             body: #"{"username": "alice", "password": "wonderland"}"#)
            #expect(login.status == 201)
            #expect(login.header("access-control-allow-origin") == nil)
            // Same host, another port: another origin.
            let port = try await Self.preflight(gw, "/auth/login", origin: "http://app.test:3001")
            #expect(port.header("access-control-allow-origin") == nil)
        }
        try await withAuthGateway { _, gw in
            let preflight = try await Self.preflight(gw, "/auth/login", origin: Self.app)
            #expect(preflight.status == 405)
            #expect(preflight.header("access-control-allow-origin") == nil)
        }
    }
}
