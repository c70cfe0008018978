/// Every wait has a deadline (issue 12 items 3 and 6): a request body that stops arriving (`idle_timeout`
/// between reads), an upstream that goes silent mid-body (`upstreams[].read_timeout`), a client that reads
/// nothing of its response (`server.send_timeout`).
import Foundation
import Testing

@Suite("Deadlines")
struct DeadlineTests {
    /// The public catch-all with `server` keys added to [server] and `upstream` keys to the upstream.
    static func config(server: [String: String] = [:], upstream: [String: String] = [:]) -> TestConfig {
        .publicCatchAll.with {
            $0.server.merge(server) { _, new in new }
            $0.upstreams[0].options = upstream
        }
    }

    /// Sends a head announcing `announced` body bytes and `sent` of them, then stalls; returns how long the
    /// gateway took to close the connection (nil: still open after `giveUp`).
    static func stall(port: Int, _ method: String, _ target: String, announced: Int, sent: Int,
                      giveUp: Duration = .seconds(8)) async throws -> Duration? {
        let connection = try await RawHTTPConnection.connect(port: port)
        defer { connection.close() }
        let head = "\(method) \(target) HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\nContent-Length: \(announced)\r\n\r\n"
        try await connection.send(head + String(repeating: " ", count: sent))
        let start = ContinuousClock.now
        guard await connection.waitForPeerClose(timeout: giveUp) else { return nil }
        return ContinuousClock.now - start
    }

    @Test func aLoginBodyThatStallsIsClosedAfterIdleTimeout() async throws {
        try await withAuthGateway({ $0.server["idle_timeout"] = #""1s""# }) { _, gateway in
            let closedAfter = try await Self.stall(port: gateway.port, "POST", "/auth/login", announced: 100, sent: 10)
            let waited = try #require(closedAfter, "a stalled login body kept its connection past 8 s with idle_timeout = 1s")
            #expect(waited < .seconds(7), "closed \(waited) after the stall with idle_timeout = 1s")
        }
    }

    @Test func aRefreshBodyThatStallsIsClosedAfterIdleTimeout() async throws {
        try await withAuthGateway({ $0.server["idle_timeout"] = #""1s""# }) { _, gateway in
            let closedAfter = try await Self.stall(port: gateway.port, "POST", "/auth/refresh", announced: 100, sent: 0)
            #expect(closedAfter != nil)
        }
    }

    @Test func aBodyThatStallsAfterAnEarlyAnswerIsClosed() async throws {
        // 401 on a required route is written at once; the rest of the body never comes. (3 s, not 1 s: on a loaded
        // machine the idle wait before the request could otherwise run out between connect and send.)
        try await withAuthGateway({ $0.server["idle_timeout"] = #""3s""# }) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /api/x HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 100\r\n\r\n0123456789")
            let response = try await connection.readResponse()
            #expect(response.status == 401)
            #expect(await connection.waitForPeerClose(timeout: .seconds(12)), "the discarded body stalled and the connection stayed open")
        }
    }

    @Test func aProxiedUploadThatStallsIsClosedAndItsTransferCancelled() async throws {
        try await withUpstreamAndGateway(Self.config(server: ["idle_timeout": #""1s""#])) { _, gateway in
            let closedAfter = try await Self.stall(port: gateway.port, "POST", "/upload", announced: 1_000_000, sent: 1000)
            #expect(closedAfter != nil)
            #expect(await eventually(timeout: .seconds(5)) { gateway.gateway.upstreamTransfersAlive == 0 })
        }
    }

    @Test func aSlowButSteadyBodyIsNotCutOff() async throws {
        // Each piece comes well within idle_timeout, the whole body takes longer than it. On a loaded machine this
        // test's own sleeps can overshoot; an attempt whose gap reached idle_timeout says nothing and is repeated.
        try await withUpstreamAndGateway(Self.config(server: ["idle_timeout": #""2s""#])) { upstream, gateway in
            for attempt in 1...3 {
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                defer { connection.close() }
                var last = ContinuousClock.now
                var longestGap = Duration.zero
                do {
                    try await connection.send("POST /steady-\(attempt) HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 6\r\n\r\n")
                    for _ in 0..<6 {
                        try await Task.sleep(for: .milliseconds(500))
                        longestGap = max(longestGap, ContinuousClock.now - last)
                        try await connection.send("x")
                        last = ContinuousClock.now
                    }
                    let response = try await connection.readResponse()
                    #expect(response.status == 200)
                    #expect(upstream.requests(withTargetPrefix: "/steady-\(attempt)").first?.bodyLength == 6)
                    return
                } catch {
                    longestGap = max(longestGap, ContinuousClock.now - last)
                    if longestGap >= .milliseconds(1500) && attempt < 3 { continue }
                    Issue.record("a body sent every 500 ms was cut off (longest gap \(longestGap)): \(error)")
                    return
                }
            }
        }
    }

    @Test func anUpstreamSilentMidBodyClosesTheClientConnectionAfterReadTimeout() async throws {
        // Announces 1000 bytes, sends 10, then says nothing for 30 s.
        let stalling = try RawResponseUpstream(
            response: Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789".utf8), holdOpen: .seconds(30))
        defer { stalling.close() }
        try await withGateway(Self.config(upstream: ["read_timeout": #""1s""#]), ["UPSTREAM": stalling.baseURL]) { gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/stalls"))
            let head = try await connection.readHead()
            #expect(head.status == 200)
            let start = ContinuousClock.now
            #expect(await connection.waitForPeerClose(timeout: .seconds(8)), "the client waited on a silent upstream past 8 s")
            #expect(ContinuousClock.now - start < .seconds(7), "read_timeout is 1s; the upstream holds for 30 s")
            #expect(await eventually(timeout: .seconds(5)) { gateway.gateway.upstreamTransfersAlive == 0 })
        }
    }

    @Test func aClientThatReadsNothingIsClosedAfterSendTimeout() async throws {
        try await withUpstreamAndGateway(Self.config(server: ["send_timeout": #""1s""#])) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/files/download?bytes=67108864"))
            // Read nothing: the socket buffers fill, then the gateway must give up on this client.
            let released = await eventually(timeout: .seconds(10)) {
                gateway.gateway.server.openConnections.current == 0 && gateway.gateway.upstreamTransfersAlive == 0
            }
            #expect(released, "a client that read nothing still held its connection and transfer after 10 s")
        }
    }

    @Test func aSlowReaderThatKeepsReadingIsNotCutOff() async throws {
        try await withUpstreamAndGateway(Self.config(server: ["send_timeout": #""1s""#])) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let size = 4 * 1024 * 1024
            try await connection.send(RequestBytes.make("GET", "/files/download?bytes=\(size)"))
            // Reads in bursts with 600 ms pauses (each under send_timeout); the whole download takes several seconds.
            // Head and body together are more than `size`: read until then (stopping at exactly `size` could leave
            // the last bytes unread when the bursts add up to it).
            var received = 0
            while received <= size {
                let burst = try await connection.readAndDiscard(atLeast: 512 * 1024)
                if burst == 0 { break }
                received += burst
                try await Task.sleep(for: .milliseconds(600))
            }
            #expect(received > size, "the connection closed after \(received) bytes of a \(size)-byte download")
        }
    }
}
