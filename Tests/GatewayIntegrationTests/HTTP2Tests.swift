/// docs/http.md#tls-and-http2: HTTP/2 inbound — ALPN h2 over TLS, prior-knowledge h2c on a plaintext listener — with every rule
/// of §5 and §6 per stream, through real HTTP/2 clients (curl, Python httpx and h2). The upstream hop stays
/// HTTP/1.1 through libcurl.
import Foundation
import GatewayCore
import Testing

@Suite("HTTP/2 inbound")
struct HTTP2Tests {
    /// `withAuthGateway` on a TLS listener with a certificate made for the test.
    static func withTLSAuthGateway<T>(
        _ configure: (inout TestConfig) -> Void = { _ in },
        _ body: (TestUpstream, AuthGateway, _ base: String, _ caFile: String) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificate = try await TestCertificate.make(in: directory.path)
        return try await withAuthGateway({ config in
            config.server["tls_cert_file"] = TestConfig.quoted(certificate.certificateFile)
            config.server["tls_key_file"] = TestConfig.quoted(certificate.keyFile)
            configure(&config)
        }) { upstream, gw in
            try await body(upstream, gw, "https://127.0.0.1:\(gw.port)", certificate.certificateFile)
        }
    }

    static func login(_ base: String, caFile: String?) async throws -> String {
        let response = try await HTTP2Client.request(base, caFile: caFile, ClientRequest(
            method: "POST", path: "/auth/login", headers: [("Content-Type", "application/json")],
            body: #"{"username": "alice", "password": "wonderland"}"#))
        #expect(response.version == "HTTP/2")
        try #require(response.status == 201, "login over HTTP/2: \(response.status) \(response.body)")
        return try #require(response.json?["token"]?["access"]?.stringValue)
    }

    static func echoed(_ response: ClientResponse) throws -> EchoedRequest {
        try EchoedRequest(json: #require(response.json))
    }

    @Test("h2c with prior knowledge and HTTP/1.1 on one plaintext listener (curl)")
    func priorKnowledgeAndHTTP1ShareTheListener() async throws {
        try await withAuthGateway { upstream, gw in
            let h2 = try await Curl.get("http://127.0.0.1:\(gw.port)/pub/echo", ["--http2-prior-knowledge"])
            #expect(h2.version == "2")
            #expect(h2.status == 200, "\(h2.body)")
            let h1 = try await Curl.get("http://127.0.0.1:\(gw.port)/pub/echo", ["--http1.1"])
            #expect(h1.version == "1.1")
            #expect(h1.status == 200)
            // Both reached the upstream over HTTP/1.1, through libcurl.
            #expect(upstream.requests.count == 2)
            #expect(try Self.echoed(h2).header("x-forwarded-proto") == "http")
        }
    }

    @Test("TLS: ALPN picks h2 first, http/1.1 for clients without it; X-Forwarded-Proto is https (curl)")
    func alpnOverTLS() async throws {
        try await Self.withTLSAuthGateway { upstream, gw, base, caFile in
            let h2 = try await Curl.get(base + "/pub/echo", ["--http2", "--cacert", caFile])
            #expect(h2.version == "2")
            #expect(h2.status == 200)
            #expect(try Self.echoed(h2).header("x-forwarded-proto") == "https")
            let h1 = try await Curl.get(base + "/pub/echo", ["--http1.1", "--cacert", caFile])
            #expect(h1.version == "1.1")
            #expect(h1.status == 200)
            #expect(try Self.echoed(h1).header("x-forwarded-proto") == "https")

            // ALPN follows the server's preference: a client listing http/1.1 first still gets h2.
            let picked = try await ExternalCommand.run(["python3", "-c", """
                import socket, ssl, sys
                context = ssl.create_default_context(cafile=sys.argv[2])
                context.set_alpn_protocols(["http/1.1", "h2"])
                with context.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost") as s:
                    print(s.selected_alpn_protocol(), end="")
                """, String(gw.port), caFile])
            #expect(picked.status == 0, "\(picked.stderr)")
            #expect(picked.stdout == "h2")
        }
    }

    @Test("http2 = false: ALPN offers http/1.1 only, and the h2c preface is not HTTP/2 there")
    func http2Off() async throws {
        try await Self.withTLSAuthGateway({ $0.server["http2"] = "false" }) { _, gw, base, caFile in
            let response = try await Curl.get(base + "/pub/echo", ["--http2", "--cacert", caFile])
            #expect(response.version == "1.1")
            #expect(response.status == 200)
        }
        try await withAuthGateway({ $0.server["http2"] = "false" }) { upstream, gw in
            // The preface is read as an HTTP/1.1 request line: refused with 400, nothing forwarded.
            let connection = try await RawHTTPConnection.connect(port: gw.port)
            defer { connection.close() }
            try await connection.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("every route mode per stream over h2 (TLS): login, 401 bodies, identity headers, optional, public, claims")
    func routeModesPerStream() async throws {
        try await Self.withTLSAuthGateway { upstream, gw, base, caFile in
            let token = try await Self.login(base, caFile: caFile)
            let bearer = ("Authorization", "Bearer \(token)")
            let spoofed = ("X-Auth-User-Id", "1")
            let responses = try await HTTP2Client.requests(base, caFile: caFile, [
                ClientRequest(path: "/api/echo"),
                ClientRequest(path: "/api/echo", headers: [("Authorization", "Bearer not.a.token")]),
                ClientRequest(path: "/api/echo", headers: [bearer, spoofed]),
                ClientRequest(path: "/opt/echo"),
                ClientRequest(path: "/optanon/echo", headers: [("Authorization", "Bearer not.a.token"), spoofed]),
                ClientRequest(path: "/pub/echo", headers: [spoofed]),
                ClientRequest(path: "/admin/echo", headers: [bearer]),
                ClientRequest(method: "POST", path: "/write/echo", headers: [bearer], body: "{}"),
            ])
            #expect(responses.allSatisfy { $0.version == "HTTP/2" })

            #expect(responses[0].status == 401)
            #expect(responses[0].json?["code"] == .string("not_authenticated"), "\(responses[0].body)")
            #expect(responses[0].header("www-authenticate") != nil)
            #expect(responses[1].status == 401)
            #expect(responses[1].json?["code"] == .string("token_not_valid"), "\(responses[1].body)")

            #expect(responses[2].status == 200, "\(responses[2].body)")
            let authenticated = try Self.echoed(responses[2])
            #expect(authenticated.headers("x-auth-user-id") == ["42"], "the client's X-Auth-User-Id must be replaced")
            #expect(authenticated.headers("authorization") == ["Bearer \(token)"])
            #expect(authenticated.header("x-auth-session-id") != nil)
            #expect(authenticated.header("x-forwarded-proto") == "https")

            #expect(responses[3].status == 200)
            #expect(try Self.echoed(responses[3]).header("x-auth-user-id") == nil)
            #expect(responses[4].status == 200)
            #expect(try Self.echoed(responses[4]).header("x-auth-user-id") == nil, "an identity header from the client reached the upstream")
            #expect(responses[5].status == 200)
            #expect(try Self.echoed(responses[5]).header("x-auth-user-id") == nil, "an identity header from the client reached the upstream")
            #expect(responses[6].status == 200, "alice is admin: \(responses[6].body)")
            #expect(responses[7].status == 200, "alice has read and write: \(responses[7].body)")
            #expect(try Self.echoed(responses[7]).method == "POST")
            // Refused streams never reached the upstream: only the six admitted ones (login's credential check aside).
            #expect(upstream.requests.filter { !$0.uri.hasSuffix("verify-credentials") }.count == 6)
        }
    }

    @Test("renewal per stream over h2: an expired token gives 200 and x-access-token, the upstream sees the new token")
    func renewalOverH2() async throws {
        try await Self.withTLSAuthGateway { upstream, gw, base, caFile in
            let token = try await Self.login(base, caFile: caFile)
            gw.clock.advance(.seconds(61))
            let response = try await HTTP2Client.request(base, caFile: caFile,
                                                         ClientRequest(path: "/api/echo", headers: [("Authorization", "Bearer \(token)")]))
            #expect(response.status == 200, "\(response.body)")
            let renewed = try #require(response.header("x-access-token"), "no renewal header over HTTP/2")
            #expect(renewed != token)
            guard case .valid = gw.verify(renewed) else {
                Issue.record("the renewed token does not verify")
                return
            }
            #expect(try Self.echoed(response).headers("authorization") == ["Bearer \(renewed)"])
            #expect(response.headers("access-control-expose-headers").joined(separator: ",").lowercased().contains("x-access-token"))
        }
    }

    @Test("20 concurrent streams on one connection with one expired token: all 200, one renewal lineage")
    func concurrentStreamsRenewOnce() async throws {
        try await withAuthGateway { upstream, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let request = ClientRequest(path: "/api/echo", headers: [("Authorization", "Bearer \(login.access)")])
            let responses = try await HTTP2Client.requests("http://127.0.0.1:\(gw.port)", concurrent: true,
                                                           Array(repeating: request, count: 20))
            #expect(responses.count == 20)
            #expect(responses.allSatisfy { $0.status == 200 && $0.version == "HTTP/2" }, "\(responses.map(\.status))")
            let tokens = Set(responses.compactMap { $0.header("x-access-token") })
            #expect(responses.allSatisfy { $0.header("x-access-token") != nil }, "every stream gets the renewed token")
            #expect(tokens.count == 1, "one renewal for concurrent streams, got \(tokens.count) tokens")
        }
    }

    @Test("a header list over max_header_bytes: 431 on its stream, never forwarded; the connection goes on")
    func oversizedHeaderListIsRefusedOnItsStream() async throws {
        try await withAuthGateway({ $0.server["max_header_bytes"] = #""4KiB""# }) { upstream, gw in
            let big = ("X-Big", String(repeating: "a", count: 6000))
            let responses = try await HTTP2Client.requests("http://127.0.0.1:\(gw.port)", [
                ClientRequest(path: "/pub/echo?big", headers: [big]),
                ClientRequest(path: "/pub/echo?after"),
            ])
            #expect(responses[0].status == 431)
            #expect(responses[0].json?["code"] != nil, "a JSON error body: \(responses[0].body)")
            #expect(responses[1].status == 200, "the next stream on the same connection is served")
            #expect(upstream.requests.map(\.uri) == ["/pub/echo?after"])
        }
    }

    @Test("SETTINGS advertise at most 100 concurrent streams and a header-list bound (h2 library)")
    func settingsAdvertiseLimits() async throws {
        try await withAuthGateway { _, gw in
            let settings = try await HTTP2Client.settings("http://127.0.0.1:\(gw.port)")
            #expect(settings["max_concurrent_streams"] == 100, "\(settings)")
            #expect((settings["max_header_list_size"] ?? 0) >= 16 * 1024, "\(settings)")
        }
    }

    @Test("shutdown sends GOAWAY and lets the open stream finish (nghttp)")
    func shutdownSendsGoawayAndDrains() async throws {
        try await withAuthGateway({ $0.server["shutdown_timeout"] = #""10s""# }) { upstream, gw in
            // The stream lasts 3 s (the upstream timeout here is 5 s): the shutdown comes while it is open, even loaded.
            async let fetched = NGHTTP.get("http://127.0.0.1:\(gw.port)/pub/slow?ms=3000")
            #expect(await eventually(timeout: .seconds(10)) { upstream.requests.count == 1 }, "the slow request never reached the upstream")
            await gw.gateway.server.shutdown(timeout: .seconds(10))
            let result = try await fetched
            #expect(!result.goawayLastStreamIDs.isEmpty, "no GOAWAY before the connection closed:\n\(result.output)")
            // The last GOAWAY names the stream in flight: it was let finish.
            #expect(result.goawayLastStreamIDs.last == 1, "\(result.goawayLastStreamIDs)")
            #expect(result.status == 200, "the stream in flight must finish:\n\(result.output)")
        }
    }
}
