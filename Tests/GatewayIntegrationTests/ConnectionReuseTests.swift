/// Client keep-alive and pipelining (issue 2 §3) and the upstream keep-alive pool (docs/http.md#forwarding).
import Foundation
import Testing

@Suite("Keep-alive, pipelining and upstream connection reuse")
struct ConnectionReuseTests {
    @Test func keepAliveServesManyRequestsOnOneConnection() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            for index in 0..<5 {
                let body: [UInt8]? = index % 2 == 0 ? nil : Array("body \(index)".utf8)
                try await connection.send(RequestBytes.make(index % 2 == 0 ? "GET" : "POST", "/k/\(index)", body: body))
                let response = try await connection.readResponse()
                #expect(response.status == 200)
                #expect(!response.head.announcesClose)
                #expect(try response.jsonObject()["uri"] as? String == "/k/\(index)")
            }
            #expect(upstream.requests.count == 5)
        }
    }

    @Test func connectionCloseFromTheClientIsHonoured() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/bye", headers: [("Connection", "close")]))
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(await connection.waitForPeerClose(timeout: .seconds(3)))
        }
    }

    @Test func http10WithoutKeepAliveIsClosedAfterTheResponse() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("GET /old HTTP/1.0\r\nHost: gateway.test\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(await connection.waitForPeerClose(timeout: .seconds(3)))
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            // The first is slow upstream, so answering in completion order would swap them.
            let bytes = RequestBytes.make("GET", "/first/slow?ms=300")
                + RequestBytes.make("POST", "/second", body: "second body")
                + RequestBytes.make("GET", "/third?x=3")
            try await connection.send(bytes)
            let first = try await connection.readResponse()
            let second = try await connection.readResponse()
            let third = try await connection.readResponse()
            #expect(first.status == 200 && second.status == 200 && third.status == 200)
            #expect(try first.jsonObject()["uri"] as? String == "/first/slow?ms=300")
            #expect(try second.jsonObject()["uri"] as? String == "/second")
            #expect(try second.jsonObject()["bodyLength"] as? Int == 11)
            #expect(try third.jsonObject()["uri"] as? String == "/third?x=3")
            #expect(upstream.requests.count == 3)
        }
    }

    @Test func twoRequestsInOneWriteGetTwoResponses() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/a") + RequestBytes.make("GET", "/b"))
            let a = try await connection.readResponse()
            let b = try await connection.readResponse()
            #expect(try a.jsonObject()["uri"] as? String == "/a")
            #expect(try b.jsonObject()["uri"] as? String == "/b")
        }
    }

    @Test func upstreamConnectionsAreReused() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            // Sequential requests on separate client connections, and on one client connection.
            for index in 0..<20 {
                let response = try await HTTPTestClient.get("/pool/\(index)", port: gateway.port)
                #expect(response.status == 200)
            }
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            for index in 0..<20 {
                try await connection.send(RequestBytes.make("POST", "/pool/k\(index)", body: "x"))
                #expect(try await connection.readResponse().status == 200)
            }
            #expect(upstream.requests.count == 40)
            #expect(upstream.acceptedConnections <= 2, "40 sequential requests opened \(upstream.acceptedConnections) upstream connections")
        }
    }

    @Test func aPooledConnectionToARestartedUpstreamIsReplacedTransparently() async throws {
        let first = try await TestUpstream.start()
        let port = first.port
        let config = TestConfig.publicCatchAll
        try await withGateway(config, ["UPSTREAM": first.baseURL]) { gateway in
            #expect(try await HTTPTestClient.get("/before", port: gateway.port).status == 200)
            // The pooled upstream connection dies with the upstream; a new one comes up on the same port.
            try await first.shutdown()
            let second = try await TestUpstream.start(port: port)
            do {
                for index in 0..<3 {
                    let response = try await HTTPTestClient.get("/after/\(index)", port: gateway.port)
                    #expect(response.status == 200, "request \(index) after the upstream restarted: \(response.status) \(response.bodyText)")
                }
                #expect(second.requests.count == 3)
            } catch {
                try? await second.shutdown()
                throw error
            }
            try? await second.shutdown()
        }
    }

    @Test func aClientThatHangsUpMidDownloadLeavesTheGatewayHealthy() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { upstream, gateway in
            for _ in 0..<3 {
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                try await connection.send(RequestBytes.make("GET", "/download?bytes=\(64 * 1024 * 1024)"))
                let head = try await connection.readHead()
                #expect(head.status == 200)
                connection.close()
            }
            for index in 0..<10 {
                let response = try await HTTPTestClient.get("/healthy/\(index)", port: gateway.port)
                #expect(response.status == 200)
            }
            #expect(upstream.requests(withTargetPrefix: "/healthy/").count == 10)
        }
    }
}
