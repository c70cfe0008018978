/// WebSocket tunnels (docs/http.md#websocket): a real client library (Python `websockets`) through the in-process gateway to a
/// real WebSocket echo upstream (scripts/websocket_peer.py), libcurl's connect-only mode in between.
import Foundation
import Glibc
import Testing

/// Serialized: each test runs a gateway, a Python echo upstream and Python clients, and several time a tunnel's
/// close; one at a time they stay quick and their timing bounds hold on a loaded 2-core machine.
@Suite("WebSocket tunnels", .serialized)
struct WebSocketTests {
    /// The auth suites' config plus the echo upstream `ws` behind a required and a public tunnelling route, and a
    /// route that does not tunnel (on TestUpstream, which echoes the request it got); the access log in a file.
    static func configure(_ config: inout TestConfig, echo: String) {
        config.upstreams.append(.init("ws", targets: [echo], ["timeout": #""5s""#]))
        config.routes += [
            .init("/ws/", upstream: "ws", auth: "required", ["websocket": "true"]),
            .init("/wspub/", upstream: "ws", auth: "public", ["websocket": "true"]),
            .init("/wsplain/", auth: "required"),
        ]
        config.log = ["access": #""access.log""#]
    }

    /// The echo upstream and an auth gateway in front of it (and of TestUpstream, its credential check).
    func withTunnels<T>(clock: MovableClock = MovableClock(), _ change: (inout TestConfig) -> Void = { _ in },
                        _ body: (WebSocketPeer, TestUpstream, AuthGateway) async throws -> T) async throws -> T {
        try await withWebSocketUpstream { echo, echoURL in
            try await withAuthGateway(clock: clock, { config in
                Self.configure(&config, echo: echoURL)
                change(&config)
            }) { upstream, gateway in
                try await body(echo, upstream, gateway)
            }
        }
    }

    /// `withTunnels`' config and upstreams, for a test that starts its gateway its own way.
    func withTunnelConfig<T>(_ change: (inout TestConfig) -> Void, _ body: (TestConfig) async throws -> T) async throws -> T {
        try await withWebSocketUpstream { _, echoURL in
            try await withUpstream { upstream in
                var config = TestConfig.auth(upstream: upstream.baseURL)
                Self.configure(&config, echo: echoURL)
                change(&config)
                return try await body(config)
            }
        }
    }

    static func url(_ gateway: AuthGateway, _ path: String) -> String { "ws://127.0.0.1:\(gateway.port)\(path)" }

    /// The values the upstream saw for `name` in the handshake (`…/headers` sends them first).
    static func saw(_ open: [String: Any], _ name: String) -> [String] {
        (open["upstream_saw"] as? [[String]] ?? []).filter { $0.first?.lowercased() == name }.map { $0[1] }
    }

    /// The tunnel and its upstream transfer are gone, and its access-log line says 101.
    static func tunnelEnded(_ gateway: AuthGateway, path: String) async throws {
        #expect(await eventually(timeout: .seconds(5)) { gateway.gateway.revocations.tunnels.count == 0 },
                "a tunnel is still registered")
        #expect(await eventually(timeout: .seconds(5)) { gateway.gateway.upstreamTransfersAlive == 0 },
                "the tunnel's upstream transfer is still alive")
        // Its handler is freed with the connection (a handler holding its context would outlive both).
        let server = gateway.gateway.server
        #expect(await eventually(timeout: .seconds(5)) { server.openConnections.current == 0 && server.handlers.alive == 0 },
                "\(server.handlers.alive) connection handlers alive, \(server.openConnections.current) connections open")
        let line = try await accessLine(gateway, path: path)
        #expect(line["status"] as? Int == 101)
        #expect(line["upstream_status"] as? Int == 101)
    }

    /// The access-log line of the request to `path` (written when its tunnel ends).
    static func accessLine(_ gateway: AuthGateway, path: String) async throws -> [String: Any] {
        var found: [String: Any]?
        _ = await eventually(timeout: .seconds(5)) {
            let file = gateway.directory.url.appendingPathComponent("access.log").path
            let lines = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: "\n") ?? []
            found = lines.lazy.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["path"] as? String == path }
            return found != nil
        }
        return try #require(found, "no access-log line for \(path)")
    }

    // MARK: authenticated as the route says

    @Test func aValidTokenOpensATunnelForwardedAsARequestWouldBe() async throws {
        try await withTunnels { echo, _, gateway in
            let login = try await gateway.login()
            let client = try WebSocketPeer.client(Self.url(gateway, "/ws/headers"), "echo", headers: [
                ("Authorization", "Bearer \(login.access)"), ("X-Auth-User-Id", "666"), ("X-Forwarded-For", "203.0.113.9"),
            ])
            defer { client.stop() }
            let open = try #require(await client.line("event", "open"), "client: \(client.stderr)")
            #expect(open["status"] as? Int == 101)
            let headers = try #require(open["headers"] as? [String: String])
            #expect(headers["upgrade"] == "websocket")
            #expect(headers["connection"] == "Upgrade")
            #expect(headers["sec-websocket-accept"] != nil, "the upstream's handshake answer, passed back")
            #expect(headers["x-request-id"]?.isEmpty == false)
            #expect(headers["x-access-token"] == nil, "nothing was renewed")
            // The upstream saw what an ordinary request's upstream sees (docs/http.md#forwarding), plus the switch.
            #expect(Self.saw(open, "x-auth-user-id") == ["42"], "the client's own identity header is dropped")
            #expect(Self.saw(open, "authorization") == ["Bearer \(login.access)"])
            #expect(Self.saw(open, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"])
            #expect(Self.saw(open, "x-request-id") == [headers["x-request-id"] ?? ""])
            #expect(Self.saw(open, "upgrade") == ["websocket"])
            #expect(Self.saw(open, "connection") == ["Upgrade"])
            #expect(Self.saw(open, "sec-websocket-key").count == 1)

            let echoed = try #require(await client.line("event", "echo", timeout: .seconds(60)), "client: \(client.stderr)")
            #expect(echoed["hello"] as? String == "hello")
            #expect(echoed["sent"] as? Int == 1 << 20)
            #expect(echoed["received"] as? Int == 1 << 20)
            #expect(echoed["intact"] as? Bool == true, "a 1 MiB message each way arrives intact")
            #expect(await client.finished())
            #expect(await echo.line("closed", "/ws/headers") != nil)
            try await Self.tunnelEnded(gateway, path: "/ws/headers")
        }
    }

    @Test(arguments: [nil, "not-a-token"])
    func aMissingOrInvalidTokenIsRefusedAndNothingIsForwarded(token: String?) async throws {
        try await withTunnels { echo, _, gateway in
            let client = try WebSocketPeer.client(Self.url(gateway, "/ws/refused"), "echo",
                                                  headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
            defer { client.stop() }
            let refused = try #require(await client.line("status"), "client: \(client.stderr)")
            #expect(refused["status"] as? Int == 401)
            let headers = try #require(refused["headers"] as? [String: String])
            #expect(headers["content-type"] == "application/json")
            #expect(headers["www-authenticate"]?.hasPrefix("Bearer realm=\"api\"") == true)
            let body = try JSONSerialization.jsonObject(with: Data((refused["body"] as? String ?? "").utf8)) as? [String: Any]
            #expect(body?["code"] as? String == (token == nil ? "not_authenticated" : "token_not_valid"))
            #expect(await client.finished())
            #expect(echo.count("opened", "/ws/refused") == 0, "the upstream saw the refused handshake")
        }
    }

    @Test func anExpiredRenewableTokenGetsTheNewTokenOnThe101() async throws {
        let clock = MovableClock()
        try await withTunnels(clock: clock) { _, _, gateway in
            let login = try await gateway.login()
            clock.advance(.seconds(120))  // access_ttl is 1m: expired, well inside the renewal window
            let client = try WebSocketPeer.client(Self.url(gateway, "/ws/headers"), "close",
                                                  headers: [("Authorization", "Bearer \(login.access)")])
            defer { client.stop() }
            let open = try #require(await client.line("event", "open"), "client: \(client.stderr)")
            #expect(open["status"] as? Int == 101)
            let headers = try #require(open["headers"] as? [String: String])
            let renewed = try #require(headers["x-access-token"], "no renewal header on the 101: \(headers)")
            #expect(renewed != login.access)
            #expect(headers["access-control-expose-headers"]?.contains("X-Access-Token") == true)
            #expect(Self.saw(open, "authorization") == ["Bearer \(renewed)"], "the upstream got the renewed token")
            guard case .valid = gateway.verify(renewed) else {
                Issue.record("the renewal header's token does not verify")
                return
            }
            #expect(await client.line("event", "closed") != nil)
        }
    }

    // MARK: the upstream's answer

    @Test func anAnswerOtherThan101IsPassedThroughAndClosesTheConnection() async throws {
        try await withTunnels { _, _, gateway in
            let client = try WebSocketPeer.client(Self.url(gateway, "/wspub/refuse"), "echo")
            defer { client.stop() }
            let refused = try #require(await client.line("status"), "client: \(client.stderr)")
            #expect(refused["status"] as? Int == 403)
            #expect(refused["body"] as? String == "refused by the upstream\n")
            let headers = try #require(refused["headers"] as? [String: String])
            #expect(headers["connection"] == "close")
            #expect(headers["x-request-id"]?.isEmpty == false)
            #expect(await eventually { gateway.gateway.upstreamTransfersAlive == 0 })
        }
    }

    @Test func aChunkedRefusalIsDecodedForTheClient() async throws {
        let raw = try RawResponseUpstream(response: Array(
            "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n4\r\nnope\r\n3\r\n!!!\r\n0\r\n\r\n".utf8))
        defer { raw.close() }
        try await withTunnels({ $0.upstreams.append(.init("raw", targets: [raw.baseURL])); $0.routes.append(
            .init("/wsraw/", upstream: "raw", auth: "public", ["websocket": "true"])) }) { _, _, gateway in
            let response = try await gateway.request("GET", "/wsraw/x", headers: Self.handshake)
            #expect(response.status == 400)
            #expect(response.bodyText == "nope!!!")
            #expect(response.header("connection") == "close")
        }
    }

    @Test func aDeadTargetFailsOverAndNoLiveOneIs502() async throws {
        let dead = "http://127.0.0.1:\(try deadPort())"
        try await withTunnels({ config in
            let echo = config.upstreams.first { $0.name == "ws" }?.targets ?? []
            config.upstreams += [.init("mixed", targets: [dead] + echo), .init("dead", targets: [dead])]
            config.routes += [.init("/wsmixed/", upstream: "mixed", auth: "public", ["websocket": "true"]),
                              .init("/wsdead/", upstream: "dead", auth: "public", ["websocket": "true"])]
        }) { _, _, gateway in
            // Round robin: one of the two starts at the dead target, and fails over.
            for attempt in 0..<2 {
                let client = try WebSocketPeer.client(Self.url(gateway, "/wsmixed/\(attempt)"), "close")
                defer { client.stop() }
                #expect(await client.line("event", "closed")?["code"] as? Int == 1000, "client: \(client.lines) \(client.stderr)")
            }
            let refused = try await gateway.request("GET", "/wsdead/x", headers: Self.handshake)
            #expect(refused.status == 502)
            #expect(refused.errorCode == "upstream_unavailable")
        }
    }

    /// A WebSocket handshake's headers (RFC 6455 §4.1).
    static let handshake = [
        ("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]

    @Test func aRouteWithoutWebsocketDropsTheUpgrade() async throws {
        try await withTunnels { _, upstream, gateway in
            let login = try await gateway.login()
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/wsplain/echo",
                                                        headers: [("Authorization", "Bearer \(login.access)")] + Self.handshake))
            let response = try await connection.readResponse()
            #expect(response.status == 200, "an ordinary request: \(response.bodyText)")
            #expect(response.header("connection") == "close", "NIO's parser reads nothing after an upgrade request")
            let received = try #require(upstream.lastRequest)
            #expect(received.headers("upgrade").isEmpty)
            #expect(!received.headers("connection").contains { $0.lowercased().contains("upgrade") })
            #expect(received.headers("sec-websocket-key") == ["dGhlIHNhbXBsZSBub25jZQ=="], "end-to-end headers pass")
            #expect(await connection.waitForPeerClose(timeout: .seconds(5)))
            #expect(gateway.gateway.revocations.tunnels.count == 0)
        }
    }

    // MARK: the ends of a tunnel

    @Test func theClientClosingEndsTheTunnel() async throws {
        try await withTunnels { echo, _, gateway in
            let client = try WebSocketPeer.client(Self.url(gateway, "/wspub/by-client"), "close")
            defer { client.stop() }
            #expect(await client.line("event", "open") != nil, "client: \(client.stderr)")
            let closed = try #require(await client.line("event", "closed"))
            #expect(closed["code"] as? Int == 1000)
            #expect(await echo.line("closed", "/wspub/by-client") != nil, "the upstream's side never closed")
            try await Self.tunnelEnded(gateway, path: "/wspub/by-client")
        }
    }

    @Test func theUpstreamClosingEndsTheTunnel() async throws {
        try await withTunnels { _, _, gateway in
            let client = try WebSocketPeer.client(Self.url(gateway, "/wspub/close-after-one"), "close-after-one")
            defer { client.stop() }
            #expect(await client.line("event", "echo") != nil, "client: \(client.stderr)")
            let closed = try #require(await client.line("event", "closed"), "client: \(client.stderr)")
            #expect(closed["code"] as? Int == 1000, "the upstream's close frame reached the client before the close")
            try await Self.tunnelEnded(gateway, path: "/wspub/close-after-one")
        }
    }

    @Test func loggingOutClosesTheSessionsTunnelAtOnce() async throws {
        try await withTunnels { _, _, gateway in
            let login = try await gateway.login()
            let other = try await gateway.login("bob", "builder")
            let held = try WebSocketPeer.client(Self.url(gateway, "/ws/held"), "hold",
                                                headers: [("Authorization", "Bearer \(login.access)")])
            defer { held.stop() }
            let untouched = try WebSocketPeer.client(Self.url(gateway, "/ws/other"), "hold",
                                                     headers: [("Authorization", "Bearer \(other.access)")])
            defer { untouched.stop() }
            #expect(await held.line("event", "open") != nil, "client: \(held.stderr)")
            #expect(await untouched.line("event", "open") != nil, "client: \(untouched.stderr)")
            #expect(gateway.gateway.revocations.tunnels.count == 2)

            #expect(try await gateway.logout(access: login.access).status == 204)
            let loggedOut = ContinuousClock.now
            #expect(await held.line("event", "closed", timeout: .seconds(5)) != nil, "the revoked session's tunnel stayed open")
            #expect(ContinuousClock.now - loggedOut < .seconds(2), "not at once")
            #expect(await eventually { gateway.gateway.revocations.tunnels.count == 1 })
            #expect(untouched.count("event", "closed") == 0, "another session's tunnel was closed")
            let line = try await Self.accessLine(gateway, path: "/ws/held")
            #expect(line["status"] as? Int == 101)
            #expect(line["sid"] as? String == (try JWTParts.payload(login.access))["sid"]?.stringValue)
        }
    }

    /// A revocation this gateway did not make (the command line here; another gateway is the same path) reaches
    /// it through the store within `revocation_poll`, and closes the tunnel then (docs/operations.md#revocation).
    @Test func aRevocationFromTheCommandLineClosesTheTunnelWithinRevocationPoll() async throws {
        try await withTunnelConfig({ $0.store["revocation_poll"] = #""200ms""# }) { config in
            try await withGatewayProcess(config) { child, port in
                let (access, sid) = try await SessionsCommandTests.login("user-7", port: port)
                let client = try WebSocketPeer.client("ws://127.0.0.1:\(port)/ws/revoked", "hold",
                                                      headers: [("Authorization", "Bearer \(access)")])
                defer { client.stop() }
                #expect(await client.line("event", "open") != nil, "client: \(client.stderr)")
                let revoked = try await SessionsCommandTests.gateway(["sessions", "revoke", "--session", sid], configOf: child)
                #expect(revoked.status == 0, "\(revoked.stderr)")
                let start = ContinuousClock.now
                #expect(await client.line("event", "closed", timeout: .seconds(5)) != nil, "the tunnel stayed open")
                #expect(ContinuousClock.now - start < .seconds(3), "not within revocation_poll (200 ms) and a margin")
            }
        }
    }

    @Test func shutdownClosesATunnelAfterShutdownTimeout() async throws {
        try await withTunnelConfig({ $0.server["shutdown_timeout"] = #""1500ms""# }) { config in
            let gateway = try await AuthGateway.start(config)
            let client = try WebSocketPeer.client(Self.url(gateway, "/wspub/draining"), "hold")
            defer { client.stop() }
            let open = await client.line("event", "open")

            // Not `gateway.stop()`: its own drain is the one under test.
            let started = ContinuousClock.now
            let shutdown = Task { await gateway.gateway.server.shutdown(timeout: .seconds(10)) }
            try? await Task.sleep(for: .milliseconds(800))
            let closedEarly = client.count("event", "closed") > 0
            let closed = await client.line("event", "closed", timeout: .seconds(8))
            let elapsed = ContinuousClock.now - started
            await shutdown.value
            let drained = ContinuousClock.now - started
            await gateway.gateway.close()
            gateway.directory.remove()

            #expect(open != nil, "client: \(client.stderr)")
            #expect(!closedEarly, "the tunnel closed before shutdown_timeout")
            #expect(closed != nil, "the tunnel outlived shutdown_timeout")
            #expect(elapsed >= .milliseconds(1400) && elapsed < .seconds(6), "closed after \(elapsed)")
            #expect(drained < .seconds(6), "the drain waited past the tunnel's close: \(drained)")
        }
    }

    /// The real executable: SIGTERM stops accepting, the tunnel keeps flowing until shutdown_timeout, then closes,
    /// and the process exits 0.
    @Test func sigtermLetsATunnelFlowUntilShutdownTimeoutThenExitsZero() async throws {
        try await withWebSocketUpstream { _, echoURL in
            var config = TestConfig()
            config.server["shutdown_timeout"] = #""1500ms""#
            config.upstreams = [.init("ws", targets: [echoURL])]
            config.routes = [.init("/", upstream: "ws", auth: "public", ["websocket": "true"])]
            try await withGatewayProcess(config) { child, port in
                let client = try WebSocketPeer.client("ws://127.0.0.1:\(port)/sigterm", "hold")
                defer { client.stop() }
                #expect(await client.line("event", "open") != nil, "client: \(client.stderr)")
                let started = ContinuousClock.now
                child.signal(SIGTERM)
                try await Task.sleep(for: .milliseconds(800))
                #expect(client.count("event", "closed") == 0, "the tunnel closed before shutdown_timeout")
                #expect(child.isRunning)
                #expect(await client.line("event", "closed", timeout: .seconds(8)) != nil, "the tunnel outlived shutdown_timeout")
                let elapsed = ContinuousClock.now - started
                #expect(elapsed >= .milliseconds(1400) && elapsed < .seconds(6), "closed after \(elapsed)")
                let outcome = try await child.waitForExit(timeout: .seconds(15))
                #expect(outcome.status == 0 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
            }
        }
    }

    /// An https target: curl makes the TLS connection (connect-only), the tunnel's bytes go through its TLS both
    /// ways, messages of 1 MiB included (writes that would block are retried with the same bytes, as OpenSSL wants).
    @Test func aTunnelToAnHTTPSUpstreamGoesThroughCurlsTLS() async throws {
        let certificates = try TemporaryDirectory()
        defer { certificates.remove() }
        let made = try await TestCertificate.make(in: certificates.path, keyType: "rsa:2048")
        // The echo upstream reads cert.pem and key.pem from the folder.
        try FileManager.default.moveItem(atPath: made.certificateFile, toPath: certificates.path + "/cert.pem")
        try FileManager.default.moveItem(atPath: made.keyFile, toPath: certificates.path + "/key.pem")
        let (echo, echoPort) = try await WebSocketPeer.echoUpstream(tlsDirectory: certificates.path)
        defer { echo.stop() }
        var config = TestConfig()
        config.upstreams = [.init("wss", targets: ["https://localhost:\(echoPort)"])]
        config.routes = [.init("/", upstream: "wss", auth: "public", ["websocket": "true"])]
        let child = try GatewayProcess.launch(["serve", "--config", "${CONFIG}"], config: config.text,
                                              environment: ["CURL_CA_BUNDLE": certificates.path + "/cert.pem"])
        defer { child.cleanUp() }
        let port = try await child.waitUntilListening()
        let client = try WebSocketPeer.client("ws://127.0.0.1:\(port)/over/tls", "stream:16")
        defer { client.stop() }
        let streamed = await client.line("event", "stream", timeout: .seconds(60))
        #expect(streamed?["intact"] as? Bool == true, "client: \(client.lines) \(client.stderr)\ngateway: \(child.stderr)")
        #expect(await echo.line("opened", "/over/tls") != nil, "the upstream saw no handshake over TLS")
    }

    // MARK: memory

    /// Runs `scenario` through a gateway process with one public tunnelling route in front of the echo upstream,
    /// after a warm-up tunnel (first buffers); returns the client and how much the gateway's RSS grew meanwhile.
    static func measured(_ scenario: String, until event: String) async throws -> (client: WebSocketPeer, growth: Int, memory: String) {
        try await withWebSocketUpstream { _, echoURL in
            var config = TestConfig()
            config.upstreams = [.init("ws", targets: [echoURL])]
            config.routes = [.init("/", upstream: "ws", auth: "public", ["websocket": "true"])]
            return try await withGatewayProcess(config) { child, port in
                let warmUp = try WebSocketPeer.client("ws://127.0.0.1:\(port)/warm-up", "stream:4")
                defer { warmUp.stop() }
                #expect(await warmUp.line("event", "stream", timeout: .seconds(60))?["intact"] as? Bool == true)
                let baseline = try child.memory()
                let sampler = MemorySampler(pid: child.pid)
                let client = try WebSocketPeer.client("ws://127.0.0.1:\(port)/measured", scenario)
                _ = await client.line("event", event, timeout: .seconds(150))
                let peak = await sampler.stop()
                let after = try child.memory()
                client.stop()
                let growth = StreamingTests.growth(baseline: baseline, sampledPeak: peak, after: after)
                return (client, growth, "baseline \(baseline), after \(after), sampled peak \(peak / 1024) KiB")
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aLongStreamThroughTheGatewayProcessKeepsMemoryFlat() async throws {
        let run = try await Self.measured("stream:100", until: "stream")
        #expect(await run.client.line("event", "stream")?["intact"] as? Bool == true, "client: \(run.client.stderr)")
        #expect(run.growth < StreamingTests.rssBudget,
                "gateway RSS grew by \(run.growth / 1024) KiB over 100 MiB each way (\(run.memory))")
    }

    /// Backpressure both ways: a client that sends and reads nothing back fills the echo upstream's socket, which
    /// stops reading, which fills the gateway's buffer toward it, which stops reading from the client: the client
    /// stalls long before its 200 MiB are out, the gateway holds no more than its high-water marks, and everything
    /// flows again once the client reads.
    @Test(.timeLimit(.minutes(3)))
    func aClientThatReadsNothingIsHeldBackAndMemoryStaysFlat() async throws {
        let run = try await Self.measured("flood:200", until: "drained")
        let sent = try #require(await run.client.line("event", "stalled")?["sent"] as? Int,
                                "the client never stalled: \(run.client.lines) \(run.client.stderr)")
        // What may go out unread: the sockets' kernel buffers on four legs (tens of MiB on loopback), the echo's and
        // the client's small queues, the gateway's high-water marks: far less than 200 MiB.
        #expect(sent < 150, "\(sent) MiB went out unread: something buffers without bound")
        let drained = await run.client.line("event", "drained")
        #expect(drained?["received"] as? Int == sent, "the tunnel did not flow again")
        #expect(drained?["intact"] as? Bool == true)
        #expect(run.growth < StreamingTests.rssBudget,
                "gateway RSS grew by \(run.growth / 1024) KiB holding a stalled tunnel (\(run.memory))")
    }
}
