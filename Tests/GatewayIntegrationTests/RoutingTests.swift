/// Route choice and the gateway's own answers (docs/http.md#the-gateways-own-endpoints health, §5.1 preflight, 404/405, §5.4 dot segments).
import Foundation
import Testing

@Suite("Routing, 404/405, preflight and health")
struct RoutingTests {
    /// Two upstreams so the test can tell which route a request took.
    static let twoUpstreams = TestConfig(
        upstreams: [.init("a", targets: ["${A}"]), .init("b", targets: ["${B}"])],
        routes: [
            .init("/", upstream: "a", auth: "public"),
            .init("/api/", upstream: "b", auth: "public"),
            .init("/api/admin/", upstream: "a", auth: "public"),
            .init("/public/", upstream: "a", auth: "public"),
        ]
    )

    static let getOnly = TestConfig.apiUpstream(.init("/api/", auth: "public", ["methods": #"["GET"]"#]))

    @Test func longestPrefixWins() async throws {
        try await withUpstream { a in
            try await withUpstream { b in
                try await withGateway(Self.twoUpstreams, ["A": a.baseURL, "B": b.baseURL]) { gateway in
                    let cases: [(target: String, expectB: Bool)] = [
                        ("/api/users", true), ("/api/admin/x", false), ("/apiary", false), ("/api", false), ("/other", false),
                    ]
                    for (target, expectB) in cases {
                        let beforeA = a.requests.count, beforeB = b.requests.count
                        let response = try await HTTPTestClient.get(target, port: gateway.port)
                        #expect(response.status == 200, "GET \(target)")
                        #expect(b.requests.count - beforeB == (expectB ? 1 : 0), "GET \(target) should go to \(expectB ? "b" : "a")")
                        #expect(a.requests.count - beforeA == (expectB ? 0 : 1), "GET \(target) should go to \(expectB ? "b" : "a")")
                    }
                }
            }
        }
    }

    @Test func dotSegmentsAreRemovedBeforeRouting() async throws {
        try await withUpstream { a in
            try await withUpstream { b in
                try await withGateway(Self.twoUpstreams, ["A": a.baseURL, "B": b.baseURL]) { gateway in
                    let response = try await HTTPTestClient.get("/public/../api/x/./y?z=/../", port: gateway.port)
                    #expect(response.status == 200)
                    #expect(b.lastRequest?.uri == "/api/x/y?z=/../")
                    #expect(a.requests.isEmpty)
                }
            }
        }
    }

    @Test func dotSegmentsCannotSkipARequiredRoutesAuth() async throws {
        let config = TestConfig.apiUpstream(.init("/public/", auth: "public"), .init("/api/", auth: "required"))
        try await withUpstreamAndGateway(config) { upstream, gateway in
            for target in ["/public/../api/secret", "/public/./../api/secret", "/public/x/../../api/secret"] {
                let response = try await HTTPTestClient.get(target, port: gateway.port)
                #expect(response.status == 401, "GET \(target)")
                #expect(response.errorCode == "not_authenticated", "GET \(target)")
            }
            #expect(upstream.requests.isEmpty)
            // Percent-encoded dots are not dot segments: this stays under /public/, byte for byte.
            let encoded = try await HTTPTestClient.get("/public/%2e%2e/api/secret", port: gateway.port)
            #expect(encoded.status == 200)
            #expect(upstream.lastRequest?.uri == "/public/%2e%2e/api/secret")
        }
    }

    @Test func absoluteFormTargetIsRoutedByItsPath() async throws {
        try await withUpstream { a in
            try await withUpstream { b in
                try await withGateway(Self.twoUpstreams, ["A": a.baseURL, "B": b.baseURL]) { gateway in
                    let response = try await HTTPTestClient.exchange(
                        RequestBytes.make("GET", "http://gateway.test/api/abs?q=1", host: "gateway.test"), port: gateway.port
                    )
                    #expect(response.status == 200)
                    #expect(b.lastRequest?.uri == "/api/abs?q=1")
                }
            }
        }
    }

    @Test func aPathClimbingAboveRootIs400() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let response = try await HTTPTestClient.get("/a/../../etc/passwd", port: gateway.port)
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func noMatchingRouteIs404NotFound() async throws {
        try await withUpstreamAndGateway(Self.getOnly) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/nothing/here"))
            let response = try await connection.readResponse()
            #expect(response.status == 404)
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            let json = try response.jsonObject()
            #expect(json["code"] as? String == "not_found")
            #expect(json["detail"] as? String == "Not found.")
            #expect(upstream.requests.isEmpty)

            // A 404 is an ordinary answer: the connection stays usable.
            try await connection.send(RequestBytes.make("GET", "/api/ok"))
            #expect(try await connection.readResponse().status == 200)
        }
    }

    @Test func bodyOfALocallyAnsweredRequestIsDiscardedNotParsedAsTheNextRequest() async throws {
        try await withUpstreamAndGateway(Self.getOnly) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            // The bodies look like requests; they must be skipped by their declared length.
            let hidden = "GET /api/hidden HTTP/1.1\r\nHost: g\r\n\r\n"
            try await connection.send(
                RequestBytes.make("POST", "/nothing", body: hidden)
                    + RequestBytes.make("POST", "/api/x", body: hidden)
                    + RequestBytes.make("GET", "/api/visible")
            )
            #expect(try await connection.readResponse().status == 404)
            #expect(try await connection.readResponse().status == 405)
            let last = try await connection.readResponse()
            #expect(last.status == 200)
            #expect(upstream.requests.map(\.uri) == ["/api/visible"])
        }
    }

    @Test func methodNotInMethodsIs405() async throws {
        try await withUpstreamAndGateway(Self.getOnly) { upstream, gateway in
            let response = try await HTTPTestClient.exchange(RequestBytes.make("POST", "/api/x", body: "{}"), port: gateway.port)
            #expect(response.status == 405)
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            let json = try response.jsonObject()
            #expect(json["code"] as? String == "method_not_allowed")
            #expect(json["detail"] as? String == "Method \"POST\" not allowed.")
            // RFC 9110 §15.5.6: a 405 lists the allowed methods.
            let allow = response.header("allow") ?? ""
            #expect(allow.contains("GET"))
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func headIsAllowedWhereGetIs() async throws {
        try await withUpstreamAndGateway(Self.getOnly) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("HEAD", "/api/download?bytes=5000"))
            let head = try await connection.readResponse(method: "HEAD")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(upstream.lastRequest?.method == "HEAD")
            // No body bytes may follow a HEAD response: the next response on the connection must parse.
            try await connection.send(RequestBytes.make("GET", "/api/after-head"))
            let next = try await connection.readResponse()
            #expect(next.status == 200)
            #expect(try next.jsonObject()["uri"] as? String == "/api/after-head")
        }
    }

    @Test func corsPreflightIsForwardedOnARequiredRouteWhoseMethodsExcludeOptions() async throws {
        let config = TestConfig.apiUpstream(.init("/api/", auth: "required", ["methods": #"["GET", "POST"]"#]))
        try await withUpstreamAndGateway(config) { upstream, gateway in
            let preflight = RequestBytes.make("OPTIONS", "/api/items", headers: [
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "DELETE"),
                ("Access-Control-Request-Headers", "authorization"),
            ])
            let response = try await HTTPTestClient.exchange(preflight, port: gateway.port)
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            #expect(seen.method == "OPTIONS")
            #expect(seen.uri == "/api/items")
            #expect(seen.header("origin") == "https://app.example")
            #expect(seen.header("access-control-request-method") == "DELETE")

            // Without Access-Control-Request-Method it is no preflight: methods apply.
            let plainOptions = try await HTTPTestClient.exchange(
                RequestBytes.make("OPTIONS", "/api/items", headers: [("Origin", "https://app.example")]), port: gateway.port
            )
            #expect(plainOptions.status == 405)
            #expect(plainOptions.errorCode == "method_not_allowed")

            // And the route really is authenticated.
            let unauthenticated = try await HTTPTestClient.get("/api/items", port: gateway.port)
            #expect(unauthenticated.status == 401)
            #expect(unauthenticated.errorCode == "not_authenticated")
            #expect(upstream.requests.count == 1)
        }
    }

    @Test func healthzAnswers200WithoutTouchingTheUpstream() async throws {
        try await withUpstreamAndGateway(Self.getOnly) { upstream, gateway in
            let get = try await HTTPTestClient.get("/healthz", port: gateway.port)
            #expect(get.status == 200)
            let head = try await HTTPTestClient.exchange(RequestBytes.make("HEAD", "/healthz"), port: gateway.port)
            #expect(head.status == 200)
            let ready = try await HTTPTestClient.get("/readyz", port: gateway.port)
            #expect(ready.status == 200)
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func healthzAnswersEvenWithACatchAllRoute() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let get = try await HTTPTestClient.get("/healthz", port: gateway.port)
            #expect(get.status == 200)
            #expect(upstream.requests.isEmpty)
        }
    }
}
