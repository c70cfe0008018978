/// What a client sends in full is answered in full (issue 12 item 8): a malformed request pipelined behind a
/// valid one does not replace that one's answer, and a client that half-closes after its request gets it.
import Foundation
import Testing

@Suite("Pipelining and half-close")
struct PipeliningAndHalfCloseTests {
    @Test func aMalformedRequestPipelinedBehindAPostGetsItsOwn400AfterThePostsAnswer() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let post = RequestBytes.make("POST", "/slow?ms=300", headers: [("Content-Type", "text/plain")], body: Array("hello".utf8))
            try await connection.send(post + Array("GARBAGE\u{1}\r\n\r\n".utf8))
            let first = try await connection.readResponse()
            #expect(first.status == 200, "the POST the upstream executed is answered")
            let second = try await connection.readResponse()
            #expect(second.status == 400)
            #expect(second.errorCode == "bad_request")
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests(withTargetPrefix: "/slow").count == 1)
        }
    }

    @Test func completePipelinedRequestsBeforeAMalformedOneAreAllAnswered() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let requests = RequestBytes.make("GET", "/slow?ms=200") + RequestBytes.make("GET", "/one") + RequestBytes.make("GET", "/two")
            try await connection.send(requests + Array("NOT HTTP AT ALL\r\n\r\n".utf8))
            for expected in [200, 200, 200, 400] {
                #expect(try await connection.readResponse().status == expected)
            }
            #expect(await connection.waitForPeerClose())
            #expect(upstream.requests.count == 3)
        }
    }

    @Test func aClientThatHalfClosesAfterItsRequestStillGetsTheAnswer() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("POST", "/slow?ms=200", headers: [("Content-Type", "text/plain")],
                                                        body: Array("payload".utf8)))
            connection.shutdownSending()
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(await connection.waitForPeerClose(), "after answering a half-closed client the gateway closes")
            #expect(upstream.requests(withTargetPrefix: "/slow").count == 1)
        }
    }

    @Test func aClientThatHalfClosesMidBodyIsClosedAndItsTransferCancelled() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 1000\r\n\r\nonly a part")
            connection.shutdownSending()
            #expect(await connection.waitForPeerClose())
            #expect(await eventually(timeout: .seconds(5)) { gateway.gateway.upstreamTransfersAlive == 0 })
        }
    }

    @Test func anIdleConnectionThatHalfClosesIsClosed() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/first"))
            #expect(try await connection.readResponse().status == 200)
            connection.shutdownSending()
            #expect(await connection.waitForPeerClose())
        }
    }
}
