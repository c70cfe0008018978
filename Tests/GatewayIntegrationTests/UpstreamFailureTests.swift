/// Upstream failures (docs/http.md#error-bodies gateway failures, §5.4): 502, 504, a body cut short, failover and round robin.
import Foundation
import Testing

@Suite("Upstream failures and target selection")
struct UpstreamFailureTests {
    static func config(targets: [String], _ options: [String: String] = [:]) -> TestConfig {
        TestConfig.publicCatchAll.with { $0.upstreams[0] = .init("api", targets: targets, options) }
    }

    @Test func deadUpstreamIs502UpstreamUnavailableWithinConnectTimeout() async throws {
        let dead = try deadPort()
        let config = Self.config(targets: ["http://127.0.0.1:\(dead)"], ["connect_timeout": #""1s""#])
        try await withGateway(config) { gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let start = ContinuousClock.now
            try await connection.send(RequestBytes.make("GET", "/anything"))
            let response = try await connection.readResponse(timeout: .seconds(10))
            let elapsed = ContinuousClock.now - start
            #expect(response.status == 502)
            #expect(response.header("content-type")?.hasPrefix("application/json") == true)
            #expect(response.errorCode == "upstream_unavailable")
            // Alone this takes milliseconds; the bound is loose because every suite runs in parallel on two
            // cores. What it rules out is waiting for the response `timeout` (30 s) or hanging.
            #expect(elapsed < .seconds(20), "502 took \(elapsed) with connect_timeout 1s")

            // A gateway failure is an ordinary answer: the client connection stays usable.
            try await connection.send(RequestBytes.make("GET", "/again"))
            #expect(try await connection.readResponse().status == 502)
        }
    }

    @Test func unansweredConnectIs502AfterConnectTimeout() async throws {
        // Connecting to this listener hangs, as to an unreachable host, until connect_timeout gives up.
        let blackhole = try FullBacklogListener()
        defer { blackhole.close() }
        let config = Self.config(targets: ["http://127.0.0.1:\(blackhole.port)"], ["connect_timeout": #""1s""#])
        try await withGateway(config) { gateway in
            let start = ContinuousClock.now
            let response = try await HTTPTestClient.get("/blackhole", port: gateway.port)
            let elapsed = ContinuousClock.now - start
            #expect(response.status == 502)
            #expect(response.errorCode == "upstream_unavailable")
            #expect(elapsed >= .milliseconds(900), "502 after \(elapsed): the connect did not hang, so this test proved nothing")
            // Loose for a loaded machine; it rules out waiting for the response `timeout` (30 s).
            #expect(elapsed < .seconds(20), "502 took \(elapsed) with connect_timeout 1s")
        }
    }

    @Test func slowUpstreamIs504UpstreamTimeout() async throws {
        try await withUpstream { upstream in
            let config = Self.config(targets: ["${UPSTREAM}"], ["timeout": #""500ms""#])
            try await withGateway(config, ["UPSTREAM": upstream.baseURL]) { gateway in
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                defer { connection.close() }
                let start = ContinuousClock.now
                try await connection.send(RequestBytes.make("GET", "/slow?ms=10000"))
                let response = try await connection.readResponse()
                let elapsed = ContinuousClock.now - start
                #expect(response.status == 504)
                #expect(response.header("content-type")?.hasPrefix("application/json") == true)
                #expect(response.errorCode == "upstream_timeout")
                #expect(elapsed >= .milliseconds(450), "504 after only \(elapsed)")
                // Well before the upstream would have answered (10 s); loose for a loaded machine.
                #expect(elapsed < .milliseconds(9500), "504 took \(elapsed) with timeout 500ms")

                // The same client connection goes on; within the timeout it is an ordinary 200.
                try await connection.send(RequestBytes.make("GET", "/slow?ms=100"))
                let fast = try await connection.readResponse()
                #expect(fast.status == 200)
                #expect(try fast.jsonObject()["uri"] as? String == "/slow?ms=100")
            }
        }
    }

    // One timer serves a connection's idle_timeout and its upstream timeout: neither deadline may act for the other.

    static func config(upstreamTimeout: String, idleTimeout: String) -> TestConfig {
        config(targets: ["${UPSTREAM}"], ["timeout": TestConfig.quoted(upstreamTimeout)])
            .with { $0.server["idle_timeout"] = TestConfig.quoted(idleTimeout) }
    }

    @Test func aShorterIdleTimeoutDoesNotCutAWaitForTheUpstreamThatEndsIn504() async throws {
        try await withUpstream { upstream in
            // idle_timeout 1 s, not less: a test held up between connecting and sending (the whole suite on
            // 2 cores) would be rightly closed as idle before its request.
            try await withGateway(Self.config(upstreamTimeout: "2500ms", idleTimeout: "1s"), ["UPSTREAM": upstream.baseURL]) { gateway in
                let (connection, start) = try await RawHTTPConnection.connectAndSendPromptly(
                    port: gateway.port, RequestBytes.make("GET", "/slow?ms=10000"), idleTimeout: .seconds(1))
                defer { connection.close() }
                let response = try await connection.readResponse(timeout: .seconds(10))
                #expect(response.status == 504)
                #expect(ContinuousClock.now - start >= .milliseconds(2400))
            }
        }
    }

    @Test func anIdleConnectionOutlivesAnEarlierUpstreamDeadline() async throws {
        try await withUpstream { upstream in
            try await withGateway(Self.config(upstreamTimeout: "300ms", idleTimeout: "5s"), ["UPSTREAM": upstream.baseURL]) { gateway in
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                defer { connection.close() }
                try await connection.send(RequestBytes.make("GET", "/first"))
                #expect(try await connection.readResponse().status == 200)
                // The first request's 300 ms upstream deadline passes while the connection is idle.
                try await Task.sleep(for: .seconds(1))
                try await connection.send(RequestBytes.make("GET", "/second"))
                #expect(try await connection.readResponse().status == 200)
            }
        }
    }

    @Test func upstreamThatDiesMidBodyClosesTheClientConnection() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/die-mid-body"))
            let head: HTTPTestResponseHead
            do {
                head = try await connection.readHead()
            } catch HTTPTestClientError.closedBeforeHead {
                return  // closed before any response: nothing looks complete
            }
            if head.status == 502 {
                return  // the failure was known before the head went out
            }
            #expect(head.status == 200)
            let body = try await connection.readBody(head: head, timeout: .seconds(10))
            #expect(body.ending == .truncated,
                    "the client got a complete-looking response of \(body.body.count) bytes (headers \(head.headers))")
            #expect(body.body.count < 1_000_000)
            #expect(await connection.waitForPeerClose(timeout: .seconds(1)))
        }
    }

    @Test func failoverToTheNextTargetWhenTheFirstIsDead() async throws {
        try await withUpstream { upstream in
            let dead = try deadPort()
            let config = Self.config(targets: ["http://127.0.0.1:\(dead)", "${UPSTREAM}"], ["connect_timeout": #""1s""#])
            try await withGateway(config, ["UPSTREAM": upstream.baseURL]) { gateway in
                // Round robin starts on either target; every request must still succeed.
                for index in 0..<6 {
                    let response = try await HTTPTestClient.exchange(
                        RequestBytes.make("POST", "/failover/\(index)", body: "body \(index)"), port: gateway.port
                    )
                    #expect(response.status == 200, "request \(index)")
                }
                #expect(upstream.requests.count == 6)
                #expect(upstream.requests.allSatisfy { $0.bodyLength == 6 })
            }
        }
    }

    @Test func failoverAfterAConnectTimeoutOnTheFirstTarget() async throws {
        let blackhole = try FullBacklogListener()
        defer { blackhole.close() }
        try await withUpstream { upstream in
            let config = Self.config(targets: ["http://127.0.0.1:\(blackhole.port)", "${UPSTREAM}"], ["connect_timeout": #""500ms""#])
            try await withGateway(config, ["UPSTREAM": upstream.baseURL]) { gateway in
                for index in 0..<2 {
                    let response = try await HTTPTestClient.exchange(
                        RequestBytes.make("PUT", "/hang-then-ok/\(index)", body: "abc"), port: gateway.port
                    )
                    #expect(response.status == 200, "request \(index): \(response.bodyText)")
                }
                #expect(upstream.requests.count == 2)
                #expect(upstream.requests.allSatisfy { $0.bodyLength == 3 })
            }
        }
    }

    @Test func allTargetsDeadIs502() async throws {
        let first = try deadPort(), second = try deadPort(1)
        let config = Self.config(targets: ["http://127.0.0.1:\(first)", "http://127.0.0.1:\(second)"])
        try await withGateway(config) { gateway in
            let response = try await HTTPTestClient.get("/none", port: gateway.port)
            #expect(response.status == 502)
            #expect(response.errorCode == "upstream_unavailable")
        }
    }

    @Test func roundRobinSpreadsRequestsOverTargets() async throws {
        try await withUpstream { a in
            try await withUpstream { b in
                let config = Self.config(targets: ["${A}", "${B}"])
                try await withGateway(config, ["A": a.baseURL, "B": b.baseURL]) { gateway in
                    for index in 0..<6 {
                        let response = try await HTTPTestClient.get("/rr/\(index)", port: gateway.port)
                        #expect(response.status == 200)
                    }
                    #expect(a.requests.count == 3, "a got \(a.requests.count), b got \(b.requests.count)")
                    #expect(b.requests.count == 3, "a got \(a.requests.count), b got \(b.requests.count)")
                }
            }
        }
    }
}
