/// Which headers cross the gateway (docs/http.md#forwarding): hop-by-hop dropped both ways, X-Forwarded-* and
/// X-Request-Id set, identity headers from clients removed in any spelling.
import Foundation
import Testing

@Suite("Header forwarding")
struct HeaderForwardingTests {
    @Test func hopByHopRequestHeadersAreDropped() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let request = RequestBytes.make("GET", "/hop", headers: [
                ("Connection", "keep-alive, X-Client-Hop"),
                ("X-Client-Hop", "secret-for-this-hop"),
                ("Keep-Alive", "timeout=5, max=100"),
                ("TE", "trailers"),
                ("Trailer", "X-Checksum"),
                ("Upgrade", "websocket"),
                ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                ("Proxy-Connection", "keep-alive"),
                ("X-End-To-End", "kept"),
            ])
            let response = try await HTTPTestClient.exchange(request, port: gateway.port)
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            for name in ["x-client-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"] {
                #expect(!seen.lowercasedHeaderNames.contains(name), "upstream received hop-by-hop \(name): \(seen.headers)")
            }
            for value in seen.headers("connection") {
                #expect(!value.lowercased().contains("x-client-hop"), "Connection header passed on: \(value)")
            }
            #expect(seen.header("x-end-to-end") == "kept")
        }
    }

    @Test func hopByHopResponseHeadersAreDropped() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let response = try await HTTPTestClient.get("/hop-headers", port: gateway.port)
            #expect(response.status == 200)
            #expect(response.bodyText == "ok")
            for name in ["x-hop", "keep-alive", "proxy-authenticate", "upgrade"] {
                #expect(!response.head.hasHeader(name), "client received hop-by-hop \(name): \(response.head.headers)")
            }
            for value in response.headers("connection") {
                #expect(!value.lowercased().contains("x-hop"), "upstream's Connection header passed on: \(value)")
            }
            #expect(response.header("x-end-to-end") == "kept")
        }
    }

    @Test func responseHeadersThatAreNotFieldsAreDroppedOrCleanedAndTheGatewayLivesOn() async throws {
        // NIO's HTTPHeaders traps on a non-ASCII name: an upstream must not be able to crash the gateway with one.
        // A name with a space is no field name either; a bare CR inside a value would split the response.
        var bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Good: yes\r\nX-Caf".utf8)
        bytes += [0xC3, 0xA9]  // "é"
        bytes += Array(": no\r\nX Spaced: no\r\nX-Split: a\rInjected: 1\r\nConnection: close\r\n\r\nok".utf8)
        let upstream = try RawResponseUpstream(response: bytes)
        defer { upstream.close() }
        try await withGatewayProcess(.publicCatchAll, ["UPSTREAM": upstream.baseURL]) { _, port in
            for _ in 0..<2 {
                let response = try await HTTPTestClient.get("/odd-header", port: port)
                #expect(response.status == 200)
                #expect(response.bodyText == "ok")
                #expect(response.header("x-good") == "yes")
                #expect(response.header("x-split") == "a Injected: 1")
                #expect(!response.head.hasHeader("injected"))
                #expect(!response.head.headers.contains { $0.name.utf8.contains { $0 >= 0x80 || $0 == 0x20 } }, "\(response.head.headers)")
            }
        }
    }

    @Test func xForwardedForIsAppended() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            _ = try await HTTPTestClient.get("/xff", port: gateway.port)
            #expect(upstream.lastRequest?.headers("x-forwarded-for") == ["127.0.0.1"])

            _ = try await HTTPTestClient.get("/xff", port: gateway.port, headers: [("X-Forwarded-For", "203.0.113.7, 198.51.100.2")])
            let joined = upstream.lastRequest?.headers("x-forwarded-for").joined(separator: ", ")
            #expect(joined == "203.0.113.7, 198.51.100.2, 127.0.0.1")
        }
    }

    @Test func xForwardedProtoAndHostAreTheGatewaysView() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let request = RequestBytes.make("GET", "/xfp", host: "shop.example:8443", headers: [
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.example"),
            ])
            _ = try await HTTPTestClient.exchange(request, port: gateway.port)
            let seen = try #require(upstream.lastRequest)
            #expect(seen.headers("x-forwarded-proto") == ["http"])
            #expect(seen.headers("x-forwarded-host") == ["shop.example:8443"])
        }
    }

    @Test func xRequestIdIsKept() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            _ = try await HTTPTestClient.get("/rid", port: gateway.port, headers: [("X-Request-Id", "req-abc-123")])
            #expect(upstream.lastRequest?.headers("x-request-id") == ["req-abc-123"])
        }
    }

    @Test func xRequestIdIsGeneratedWhenMissing() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            _ = try await HTTPTestClient.get("/rid", port: gateway.port)
            _ = try await HTTPTestClient.get("/rid", port: gateway.port)
            let ids = upstream.requests.map { $0.headers("x-request-id") }
            #expect(ids.count == 2)
            #expect(ids.allSatisfy { $0.count == 1 && !$0[0].isEmpty })
            #expect(ids[0] != ids[1], "two requests got the same generated X-Request-Id")
        }
    }

    /// docs/operations.md#access-log-and-request-ids: every response carries the request's id, the one the upstream saw.
    @Test func theResponseCarriesTheIdTheUpstreamSaw() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let kept = try await HTTPTestClient.get("/rid", port: gateway.port, headers: [("X-Request-Id", "req-abc-123")])
            #expect(kept.headers("x-request-id") == ["req-abc-123"])
            let generated = try await HTTPTestClient.get("/rid", port: gateway.port)
            #expect(generated.headers("x-request-id") == upstream.lastRequest?.headers("x-request-id"))
            #expect(generated.headers("x-request-id").first?.count == 32)
        }
    }

    @Test func anInvalidClientIdIsReplacedEverywhere() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let response = try await HTTPTestClient.get("/rid", port: gateway.port, headers: [("X-Request-Id", String(repeating: "x", count: 201))])
            let id = try #require(response.headers("x-request-id").first)
            #expect(id.count == 32)
            #expect(upstream.lastRequest?.headers("x-request-id") == [id])
        }
    }

    @Test func answersTheGatewayGivesItselfCarryAnIdToo() async throws {
        try await withUpstreamAndGateway(TestConfig.apiUpstream(TestConfig.Route("/", auth: "required"))) { _, gateway in
            let refused = try await HTTPTestClient.get("/x", port: gateway.port, headers: [("X-Request-Id", "mine")])
            #expect(refused.status == 401)
            #expect(refused.headers("x-request-id") == ["mine"])
            let health = try await HTTPTestClient.get("/healthz", port: gateway.port)
            #expect(health.headers("x-request-id").first?.count == 32)
        }
    }

    @Test func identityHeadersFromTheClientAreRemovedInAnySpelling() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let spoofed: [(String, String)] = [
                ("X-Auth-User-Id", "1"),
                ("x-auth-user-id", "2"),
                ("X_AUTH_USER_ID", "3"),
                ("x_auth_user_id", "4"),
                ("X-Auth_User-Id", "5"),
                ("X-Auth-Session-Id", "s1"),
                ("x_auth_session_id", "s2"),
                ("X-Auth-Claims", "eyJyb2xlIjoiYWRtaW4ifQ"),
                ("x_auth_claims", "eyJyb2xlIjoiYWRtaW4ifQ"),
            ]
            let response = try await HTTPTestClient.get("/who", port: gateway.port, headers: spoofed + [("X-Auth-Other", "stays")])
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            let identity: Set = ["x-auth-user-id", "x-auth-session-id", "x-auth-claims"]
            let leaked = seen.headers.filter { identity.contains($0.name.lowercased().replacingOccurrences(of: "_", with: "-")) }
            #expect(leaked.isEmpty, "identity headers reached the upstream: \(leaked)")
            #expect(seen.header("x-auth-other") == "stays")
        }
    }

    @Test func configuredIdentityHeaderNamesAreRemoved() async throws {
        let config = TestConfig.publicCatchAll.with {
            $0.headers = ["user_id": #""X-User""#, "session_id": #""X-Session""#, "claims": #""X-Claims""#]
        }
        try await withUpstreamAndGateway(config) { upstream, gateway in
            let response = try await HTTPTestClient.get("/who", port: gateway.port, headers: [
                ("x_user", "1"), ("X-SESSION", "2"), ("x-claims", "3"),
            ])
            #expect(response.status == 200)
            let names = try #require(upstream.lastRequest).lowercasedHeaderNames.map { $0.replacingOccurrences(of: "_", with: "-") }
            #expect(!names.contains("x-user"))
            #expect(!names.contains("x-session"))
            #expect(!names.contains("x-claims"))
        }
    }
}
