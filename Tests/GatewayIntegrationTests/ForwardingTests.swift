/// Public-route forwarding (docs/http.md#route-auth public row, §5.4): what the upstream receives, byte for byte.
import Foundation
import Testing

@Suite("Forwarding on public routes")
struct ForwardingTests {
    @Test(arguments: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    func forwardsTheMethod(method: String) async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let body: [UInt8]? = ["POST", "PUT", "PATCH"].contains(method) ? Array("payload".utf8) : nil
            let response = try await HTTPTestClient.exchange(RequestBytes.make(method, "/things/1", body: body), port: gateway.port)
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            #expect(seen.method == method)
            #expect(seen.uri == "/things/1")
            #expect(seen.bodyLength == (body?.count ?? 0))
        }
    }

    @Test func forwardsPathAndQueryByteForByte() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let target = "/public/a%2Fb/%7euser/caf%C3%A9;v=1/x+y,z?q=a%20b&path=%2F..%2F&empty=&k=1&k=2&sym=!$'()*,;:@/?"
            let response = try await HTTPTestClient.get(target, port: gateway.port)
            #expect(response.status == 200)
            #expect(upstream.lastRequest?.uri == target)
            #expect(try response.jsonObject()["uri"] as? String == target)
        }
    }

    @Test func percentEncodedDotsAreNotDecoded() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let target = "/files/%2e%2e/%2E%2E/secret?x=%2e"
            let response = try await HTTPTestClient.get(target, port: gateway.port)
            #expect(response.status == 200)
            #expect(upstream.lastRequest?.uri == target)
        }
    }

    @Test func emptyQueryAndTrailingSlashArePreserved() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            for target in ["/dir/?", "/dir/", "/dir//double//slash/"] {
                let response = try await HTTPTestClient.get(target, port: gateway.port)
                #expect(response.status == 200)
                #expect(upstream.lastRequest?.uri == target, "sent \(target)")
            }
        }
    }

    @Test func forwardsTheRequestBodyAndContentType() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let body = (0..<4096).map { UInt8($0 % 256) }
            let request = RequestBytes.make(
                "POST", "/upload?x=1", headers: [("Content-Type", "application/octet-stream")], body: body
            )
            let response = try await HTTPTestClient.exchange(request, port: gateway.port)
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            #expect(seen.method == "POST")
            #expect(seen.bodyLength == body.count)
            #expect(seen.bodySHA256 == PatternBytes.sha256(of: body))
            #expect(seen.header("content-type") == "application/octet-stream")
        }
    }

    @Test func forwardsAChunkedRequestBody() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let request = "POST /chunked HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
            let response = try await HTTPTestClient.exchange(Array(request.utf8), port: gateway.port)
            #expect(response.status == 200)
            let seen = try #require(upstream.lastRequest)
            #expect(seen.bodyLength == 12)
            #expect(seen.bodySHA256 == PatternBytes.sha256(of: Array("hello, world".utf8)))
        }
    }

    @Test func passesTheUpstreamStatusAndBodyBack() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            for code in [201, 204, 302, 304, 404, 418, 500, 503] {
                let response = try await HTTPTestClient.get("/status/\(code)", port: gateway.port)
                #expect(response.status == code)
                if code != 204 && code != 304 {
                    #expect(try response.jsonObject()["status"] as? Int == code)
                }
            }
        }
    }

    @Test func expectContinueIsAnsweredAndTheBodyForwarded() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(
                "POST /continue HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
            )
            // A client waits for 100 Continue before it sends the body.
            let interim = try await connection.readHead(skipInterim: false, timeout: .seconds(5))
            #expect(interim.status == 100)
            try await connection.send("hello world")
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(upstream.lastRequest?.bodyLength == 11)
        }
    }

    @Test func stripPrefixIsRemovedBeforeForwarding() async throws {
        let config = TestConfig.apiUpstream(
            .init("/svc/", auth: "public", ["strip_prefix": #""/svc""#]),
            .init("/whole/", auth: "public", ["strip_prefix": #""/whole/""#])
        )
        try await withUpstreamAndGateway(config) { upstream, gateway in
            let first = try await HTTPTestClient.get("/svc/items/1?x=%41&y", port: gateway.port)
            #expect(first.status == 200)
            #expect(upstream.lastRequest?.uri == "/items/1?x=%41&y")

            let second = try await HTTPTestClient.get("/whole/items?z=1", port: gateway.port)
            #expect(second.status == 200)
            #expect(upstream.lastRequest?.uri == "/items?z=1")
        }
    }

    @Test func upstreamTargetBasePathIsPrefixed() async throws {
        try await withUpstream { upstream in
            let config = TestConfig.publicCatchAll.with { $0.upstreams[0].targets = ["${UPSTREAM}/base"] }
            try await withGateway(config, ["UPSTREAM": upstream.baseURL]) { gateway in
                let response = try await HTTPTestClient.get("/x/y?q=1", port: gateway.port)
                #expect(response.status == 200)
                #expect(upstream.lastRequest?.uri == "/base/x/y?q=1")
            }
        }
    }

    @Test func hostHeaderIsTheClientsUnlessConfigured() async throws {
        try await withUpstream { upstream in
            try await withGateway(.publicCatchAll, ["UPSTREAM": upstream.baseURL]) { gateway in
                _ = try await HTTPTestClient.exchange(RequestBytes.make("GET", "/h", host: "shop.example:8443"), port: gateway.port)
                #expect(upstream.lastRequest?.headers("host") == ["shop.example:8443"])
            }
            let configured = TestConfig.publicCatchAll.with { $0.upstreams[0].options["host"] = #""api.internal""# }
            try await withGateway(configured, ["UPSTREAM": upstream.baseURL]) { gateway in
                _ = try await HTTPTestClient.exchange(RequestBytes.make("GET", "/h", host: "shop.example"), port: gateway.port)
                #expect(upstream.lastRequest?.headers("host") == ["api.internal"])
            }
        }
    }

    @Test func publicRouteLeavesAuthorizationUntouched() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            for value in ["Bearer not.a.jwt", "Basic YWxpY2U6d29uZGVybGFuZA=="] {
                let response = try await HTTPTestClient.get("/p", port: gateway.port, headers: [("Authorization", value)])
                #expect(response.status == 200)
                #expect(upstream.lastRequest?.headers("authorization") == [value])
            }
        }
    }
}
