/// The listener's limits (issue 2 §3, docs/configuration.md [server]): 431, 413, idle_timeout, smuggling shapes → 400.
import Foundation
import Testing

@Suite("Listener limits")
struct ListenerLimitsTests {
    /// The public catch-all with one more `[server]` key.
    static func config(_ key: String, _ value: String) -> TestConfig {
        .publicCatchAll.with { $0.server[key] = value }
    }

    // MARK: max_header_bytes

    @Test func requestHeadOverMaxHeaderBytesIs431() async throws {
        try await withUpstreamAndGateway(Self.config("max_header_bytes", #""1KiB""#)) { upstream, gateway in
            let small = try await HTTPTestClient.get("/fits", port: gateway.port, headers: [("X-Pad", String(repeating: "a", count: 600))])
            #expect(small.status == 200)

            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/too-big", headers: [("X-Pad", String(repeating: "a", count: 2000))]))
            let response = try await connection.readResponse()
            #expect(response.status == 431)
            #expect(response.errorCode == "request_header_fields_too_large")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests(withTargetPrefix: "/too-big").isEmpty)
        }
    }

    @Test func headOfExactlyMaxHeaderBytesIsAccepted() async throws {
        try await withUpstreamAndGateway(Self.config("max_header_bytes", "1024")) { upstream, gateway in
            func head(totalBytes: Int) -> [UInt8] {
                let bare = RequestBytes.make("GET", "/edge", headers: [("X-Pad", "")])
                return RequestBytes.make("GET", "/edge", headers: [("X-Pad", String(repeating: "p", count: totalBytes - bare.count))])
            }
            #expect(head(totalBytes: 1024).count == 1024)
            let exact = try await HTTPTestClient.exchange(head(totalBytes: 1024), port: gateway.port)
            #expect(exact.status == 200, "a 1024-byte head with max_header_bytes = 1024")
            let over = try await HTTPTestClient.exchange(head(totalBytes: 1025), port: gateway.port)
            #expect(over.status == 431, "a 1025-byte head with max_header_bytes = 1024")
            #expect(upstream.requests.count == 1)
        }
    }

    @Test func manySmallHeadersOverTheLimitAre431() async throws {
        try await withUpstreamAndGateway(Self.config("max_header_bytes", #""2KiB""#)) { upstream, gateway in
            let headers = (0..<200).map { ("X-H\($0)", "v") }
            let response = try await HTTPTestClient.exchange(RequestBytes.make("GET", "/many", headers: headers), port: gateway.port)
            #expect(response.status == 431)
            #expect(response.errorCode == "request_header_fields_too_large")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func hugeRequestHeadWithDefaultLimitIs431() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            // 100 KiB: over the default 16 KiB and over NIO's own parser limit.
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let head = RequestBytes.make("GET", "/huge", headers: (0..<10).map { ("X-Pad-\($0)", String(repeating: "b", count: 10_000)) })
            do { try await connection.send(head) } catch {}
            let response = try await connection.readResponse()
            #expect(response.status == 431)
            #expect(response.errorCode == "request_header_fields_too_large")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func longRequestLineCountsTowardsTheHead() async throws {
        try await withUpstreamAndGateway(Self.config("max_header_bytes", #""1KiB""#)) { upstream, gateway in
            let target = "/long?" + String(repeating: "q", count: 3000)
            let response = try await HTTPTestClient.get(target, port: gateway.port)
            #expect(response.status == 431)
            #expect(upstream.requests.isEmpty)
        }
    }

    // MARK: max_body_bytes

    @Test func contentLengthOverMaxBodyBytesIs413WithoutReadingTheBody() async throws {
        try await withUpstreamAndGateway(Self.config("max_body_bytes", #""1KiB""#)) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            // Only the head: the answer must not wait for a body that is too large anyway.
            try await connection.send("POST /big HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 2048\r\n\r\n")
            let response = try await connection.readResponse(timeout: .seconds(5))
            #expect(response.status == 413)
            #expect(response.errorCode == "payload_too_large")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func afterAn413TheGatewayHalfClosesAndDrainsWhatTheClientStillSendsThenCloses() async throws {
        try await withUpstreamAndGateway(Self.config("max_body_bytes", #""1KiB""#)) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /big HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 10000000\r\n\r\n")
            let response = try await connection.readResponse(timeout: .seconds(5))
            let answered = ContinuousClock.now
            #expect(response.status == 413)
            // The response is followed by EOF (the gateway's half-close)...
            #expect(await connection.waitForPeerClose())
            // ...but the body the client is still sending is read and dropped, not answered with a reset
            // (closing with unread bytes sends RST, which can destroy a response still on its way).
            let piece = [UInt8](repeating: 0x61, count: 64 * 1024)
            for _ in 0..<8 {
                do {
                    try await connection.send(piece, timeout: .seconds(5))
                } catch {
                    // Only a test held up past the 2 s linger (the whole suite on 2 cores) may see the close here.
                    let waited = ContinuousClock.now - answered
                    #expect(waited > .milliseconds(1500), "reset \(waited) after the 413, inside the linger time: \(error)")
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            // Not for ever: after the linger time the connection is closed and further bytes are refused.
            try await Task.sleep(for: .seconds(3))
            var refused = false
            for _ in 0..<50 where !refused {
                do {
                    try await connection.send(piece, timeout: .seconds(1))
                    try await Task.sleep(for: .milliseconds(20))
                } catch {
                    refused = true
                }
            }
            #expect(refused, "the gateway still accepted bytes 3 s after answering 413")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func bodyOfExactlyMaxBodyBytesIsForwarded() async throws {
        try await withUpstreamAndGateway(Self.config("max_body_bytes", "1024")) { upstream, gateway in
            let body = [UInt8](repeating: 0x61, count: 1024)
            let response = try await HTTPTestClient.exchange(RequestBytes.make("POST", "/exact", body: body), port: gateway.port)
            #expect(response.status == 200)
            #expect(upstream.lastRequest?.bodyLength == 1024)

            let chunked = "POST /exact-chunked HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"
                + String(repeating: "b", count: 1024) + "\r\n0\r\n\r\n"
            let second = try await HTTPTestClient.exchange(Array(chunked.utf8), port: gateway.port)
            #expect(second.status == 200)
            #expect(upstream.lastRequest?.bodyLength == 1024)
        }
    }

    @Test func chunkedBodyStreamedPastMaxBodyBytesIs413() async throws {
        try await withUpstreamAndGateway(Self.config("max_body_bytes", #""64KiB""#)) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /stream HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n")
            let sent = try await connection.sendPatternBody(
                count: 4 * 1024 * 1024, chunked: true, chunkSize: 8 * 1024, stopWhenAnswered: true, timeout: .seconds(10)
            )
            #expect(sent.sent < 4 * 1024 * 1024, "the gateway took the whole 4 MiB body over a 64 KiB limit")
            let response = try await connection.readResponse()
            #expect(response.status == 413)
            #expect(response.errorCode == "payload_too_large")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.allSatisfy { $0.bodyLength <= 64 * 1024 }, "an over-limit body reached the upstream complete")
        }
    }

    // MARK: idle_timeout

    @Test func idleKeepAliveConnectionIsClosedAfterIdleTimeout() async throws {
        // 2 s, not less: with every suite running at once on 2 cores, the test itself can be held up for
        // hundreds of milliseconds between connecting and sending, which a short timeout rightly punishes.
        try await withUpstreamAndGateway(Self.config("idle_timeout", #""2s""#)) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            // Measured from before the request: the response, and so the idle period, starts after it.
            let start = ContinuousClock.now
            try await connection.send(RequestBytes.make("GET", "/once"))
            #expect(try await connection.readResponse().status == 200)
            #expect(await connection.waitForPeerClose(timeout: .seconds(8)), "idle connection still open 8 s after a 2 s idle_timeout")
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(1990), "closed \(elapsed) after the request, before the 2 s idle timeout")
        }
    }

    @Test func idleTimeoutNeitherCutsASlowResponseNorTheIdlePeriodAfterIt() async throws {
        // 5 s leaves room for a test held up under full-suite load: the test's tasks wait for the cooperative
        // pool while the gateway's event loop goes on, so the test sees the response (and starts counting
        // the idle period) later than the gateway does.
        try await withUpstreamAndGateway(Self.config("idle_timeout", #""5s""#)) { _, gateway in
            // The upstream takes longer than idle_timeout: the connection is busy, not idle.
            let (connection, _) = try await RawHTTPConnection.connectAndSendPromptly(
                port: gateway.port, RequestBytes.make("GET", "/slow?ms=6000"), idleTimeout: .seconds(5))
            defer { connection.close() }
            let response = try await connection.readResponse()
            let answered = ContinuousClock.now
            #expect(response.status == 200)
            // The idle period starts now; 100 ms into it the connection must still serve.
            try await Task.sleep(for: .milliseconds(100))
            let idleFor = ContinuousClock.now - answered
            try await connection.send(RequestBytes.make("GET", "/after-slow"))
            do {
                let next = try await connection.readResponse()
                #expect(next.status == 200)
            } catch {
                // Only a test held up past the idle timeout (the whole suite on 2 cores) may find it closed.
                #expect(idleFor > .milliseconds(4000), "closed \(idleFor) into the idle period: \(error)")
            }
        }
    }

    @Test func connectionThatNeverSendsIsClosedAfterIdleTimeout() async throws {
        try await withUpstreamAndGateway(Self.config("idle_timeout", #""300ms""#)) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            #expect(await connection.waitForPeerClose(timeout: .seconds(3)))
        }
    }

    @Test func slowRequestHeadIsBoundedByIdleTimeout() async throws {
        try await withUpstreamAndGateway(Self.config("idle_timeout", #""400ms""#)) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let start = ContinuousClock.now
            // A slowloris: one byte every 50 ms, 15 s worth, never finishing the head.
            let head = Array("GET /slowloris HTTP/1.1\r\nHost: gateway.test\r\nX-Slow: ".utf8) + [UInt8](repeating: 0x61, count: 250)
            let sent = await connection.trickle(head, interval: .milliseconds(50))
            let elapsed = ContinuousClock.now - start
            #expect(sent < head.count, "the gateway accepted a head trickled over \(elapsed)")
            #expect(elapsed < .seconds(8), "a slow head kept the connection open for \(elapsed) with a 400 ms idle_timeout")
            #expect(await connection.waitForPeerClose(timeout: .seconds(2)))
            #expect(upstream.requests.isEmpty)
        }
    }

    // MARK: malformed requests and smuggling shapes

    @Test func contentLengthWithTransferEncodingIs400AndClosed() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            // The classic CL.TE shape: a front end reading Content-Length would see a second request.
            let smuggled = "GET /smuggled HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
            let body = "0\r\n\r\n" + smuggled
            let request = "POST /front HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n" + body
            try await connection.send(request)
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(connection.unreadBytes.isEmpty, "a second response followed the 400")
            #expect(upstream.requests.isEmpty, "smuggling shape reached the upstream: \(upstream.requests.map(\.uri))")
        }
    }

    @Test func transferEncodingBeforeContentLengthIs400AndClosed() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let request = "POST /front HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                + "5\r\nhello\r\n0\r\n\r\n"
            try await connection.send(request)
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func twoDifferingContentLengthsAre400AndClosed() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let request = "POST /front HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 5\r\nContent-Length: 30\r\n\r\n"
                + "hello" + "GET /smuggled HTTP/1.1\r\nHost: g\r\n\r\n"
            try await connection.send(request)
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(connection.unreadBytes.isEmpty, "a second response followed the 400")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func commaSeparatedDifferingContentLengthsAre400() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /front HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 5, 7\r\n\r\nhello")
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func unknownTransferEncodingIsRefused() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /front HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
            let response = try await connection.readResponse()
            // RFC 9112 §6.1 suggests 501 for a coding the server does not implement; 400 is as safe.
            #expect([400, 501].contains(response.status))
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test(arguments: [
        "Content-Length: +5",
        "Content-Length: -5",
        "Content-Length: 0x5",
        "Content-Length: 5 5",
        "Content-Length : 5",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked, chunked",
    ])
    func invalidFramingHeaderIs400AndClosed(header: String) async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /front HTTP/1.1\r\nHost: gateway.test\r\n\(header)\r\n\r\nhello")
            let response = try await connection.readResponse()
            #expect(response.status == 400, "sent \(header)")
            #expect(await connection.waitForPeerClose(), "connection left open after \(header)")
            #expect(upstream.requests.isEmpty, "\(header) reached the upstream")
        }
    }

    @Test func malformedChunkSizeIs400AndNothingCompleteReachesTheUpstream() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(
                "POST /chunks HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"
            )
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty, "the upstream completed a request from a malformed chunked body")
        }
    }

    @Test func twoHostHeadersAre400() async throws {
        // RFC 9112 §3.2: a server MUST answer 400 to more than one Host line; the gateway derives
        // X-Forwarded-Host and the upstream Host from it, so ambiguity here is a header-injection vector.
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("GET /two-hosts HTTP/1.1\r\nHost: good.example\r\nHost: evil.example\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 400, "two Host headers got \(response.status); upstream saw \(upstream.requests.map { $0.headers("host") })")
            #expect(response.errorCode == "bad_request")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func http11RequestWithoutHostIs400() async throws {
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let response = try await HTTPTestClient.exchange(Array("GET /no-host HTTP/1.1\r\n\r\n".utf8), port: gateway.port)
            #expect(response.status == 400, "no Host header got \(response.status)")
            #expect(response.errorCode == "bad_request")
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test func obsoleteLineFoldingIsRejectedOrUnfolded() async throws {
        // RFC 9112 §5.2: reject with 400, or replace the fold with spaces before passing the message on.
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let response = try await HTTPTestClient.exchange(
                Array("GET /folded HTTP/1.1\r\nHost: g\r\nX-Folded: first\r\n second\r\n\r\n".utf8), port: gateway.port
            )
            if response.status == 400 {
                #expect(upstream.requests.isEmpty)
            } else {
                #expect(response.status == 200)
                let value = upstream.lastRequest?.header("x-folded") ?? ""
                #expect(!value.contains("\r") && !value.contains("\n"), "a folded header passed on with its line break: \(value.debugDescription)")
            }
        }
    }

    @Test func malformedRequestLineIs400AndClosed() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("GET /a b c HTTP/1.1 extra\r\nHost: gateway.test\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.isEmpty)
        }
    }
}
