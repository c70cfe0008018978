/// A broken or hostile upstream cannot desync the client's connection (issue 12 item 5, RFC 9112 §6.3):
/// Transfer-Encoding with Content-Length loses the Content-Length, conflicting lengths and an unasked 101
/// are 502, and no body byte is ever written before a response head.
import Foundation
import Testing

@Suite("Upstream framing")
struct UpstreamFramingTests {
    /// Runs one request through a gateway in front of an upstream that answers `response`, then a second
    /// request on the same client connection to a healthy upstream route, proving the connection is in sync.
    static func exchange(upstreamAnswers response: String,
                         _ check: (HTTPTestResponse) throws -> Void) async throws {
        let raw = try RawResponseUpstream(response: Array(response.utf8))
        defer { raw.close() }
        try await withUpstream { healthy in
            let config = TestConfig.publicCatchAll.with {
                $0.upstreams.insert(.init("raw", targets: [raw.baseURL]), at: 0)
                $0.routes.insert(.init("/raw/", upstream: "raw", auth: "public"), at: 0)
            }
            try await withGateway(config, ["UPSTREAM": healthy.baseURL]) { gateway in
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                defer { connection.close() }
                try await connection.send(RequestBytes.make("GET", "/raw/thing"))
                let first = try await connection.readResponse()
                try check(first)
                if first.header("connection")?.lowercased() == "close" { return }
                try await connection.send(RequestBytes.make("GET", "/second"))
                let second = try await connection.readResponse()
                #expect(second.status == 200)
                #expect(second.header("set-cookie") == nil)
                #expect(healthy.requests(withTargetPrefix: "/second").count == 1)
            }
        }
    }

    @Test func chunkedWithContentLengthIsReframedWithoutTheContentLength() async throws {
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        try await Self.exchange(upstreamAnswers: response) { first in
            #expect(first.status == 200)
            #expect(first.bodyText == "hello")
            #expect(first.header("content-length") != "100")
        }
    }

    @Test func twoDifferentContentLengthsAre502() async throws {
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhelloHTTP/1.1 200 OK\r\nSet-Cookie: injected=1\r\n\r\n"
        try await Self.exchange(upstreamAnswers: response) { first in
            #expect(first.status == 502)
            #expect(first.errorCode == "upstream_unavailable")
        }
    }

    @Test func aContentLengthListThatDisagreesIs502() async throws {
        try await Self.exchange(upstreamAnswers: "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello") { first in
            #expect(first.status == 502)
        }
    }

    @Test func repeatedEqualContentLengthsAreFine() async throws {
        try await Self.exchange(upstreamAnswers: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello") { first in
            #expect(first.status == 200)
            #expect(first.bodyText == "hello")
        }
    }

    /// A 101 the gateway never asked for, followed by a forged response: before, the forged bytes reached the
    /// client with no status line of their own, and the client took them for the answer.
    @Test func anUnasked101Is502AndNothingAfterItReachesTheClient() async throws {
        let response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nSet-Cookie: session=stolen\r\nContent-Length: 2\r\n\r\nok"
        try await Self.exchange(upstreamAnswers: response) { first in
            #expect(first.status == 502)
            #expect(first.header("set-cookie") == nil)
            #expect(!first.bodyText.contains("stolen"))
        }
    }
}
