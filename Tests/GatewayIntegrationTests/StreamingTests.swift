/// Bodies stream both ways and memory does not grow with body size (docs/http.md#forwarding, issue 2 §5 and §8).
import Foundation
import Testing

@Suite("Streaming bodies", .serialized)
struct StreamingTests {
    static let hundredMiB = 100 * 1024 * 1024
    static let rssBudget = 32 * 1024 * 1024

    static let bigBodies = TestConfig.publicCatchAll.with { $0.server["max_body_bytes"] = #""200MiB""# }

    /// Growth of resident memory over `baseline`: the sampled peak, and VmHWM when it rose during the transfer.
    static func growth(baseline: ProcessMemory, sampledPeak: Int, after: ProcessMemory) -> Int {
        let hwmPeak = after.peakResident > baseline.peakResident ? after.peakResident : 0
        return max(sampledPeak, after.resident, hwmPeak) - baseline.resident
    }

    // MARK: in-process, framing both ways

    @Test func chunkedUploadOfUnknownLengthArrivesIntact() async throws {
        try await withUpstreamAndGateway(Self.bigBodies) { upstream, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            try await connection.send("POST /upload-chunked HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n")
            let count = 8 * 1024 * 1024 + 17
            let sent = try await connection.sendPatternBody(count: count, chunked: true, chunkSize: 100_000)
            let response = try await connection.readResponse(timeout: .seconds(30))
            #expect(response.status == 200)
            #expect(try response.jsonObject()["bodyLength"] as? Int == count)
            #expect(try response.jsonObject()["bodySHA256"] as? String == sent.sha256)
            #expect(upstream.lastRequest?.bodySHA256 == sent.sha256)
        }
    }

    @Test(arguments: [false, true])
    func downloadArrivesIntact(chunked: Bool) async throws {
        try await withUpstreamAndGateway(Self.bigBodies) { _, gateway in
            let connection = try await RawHTTPConnection.connect(port: gateway.port)
            defer { connection.close() }
            let count = 8 * 1024 * 1024 + 3
            try await connection.send(RequestBytes.make("GET", "/download?bytes=\(count)\(chunked ? "&chunked=1" : "")"))
            let head = try await connection.readHead()
            #expect(head.status == 200)
            if !chunked { #expect(head.contentLength == count) }
            let body = try await connection.readHashedBody(head: head, timeout: .seconds(30))
            #expect(body.ending == .complete)
            #expect(body.length == count)
            #expect(body.sha256 == PatternBytes.sha256(count: count))

            // The connection is still good for the next request.
            try await connection.send(RequestBytes.make("GET", "/after-download"))
            #expect(try await connection.readResponse().status == 200)
        }
    }

    // MARK: the real executable, 100 MiB each way

    @Test(.timeLimit(.minutes(3)))
    func hundredMiBUploadThroughTheGatewayProcessWithFlatMemory() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.bigBodies, ["UPSTREAM": upstream.baseURL]) { child, port in
                #expect(try await HTTPTestClient.get("/warm-up", port: port).status == 200)
                let baseline = try child.memory()
                let sampler = MemorySampler(pid: child.pid)

                let connection = try await RawHTTPConnection.connect(port: port)
                defer { connection.close() }
                try await connection.send(
                    "POST /upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/octet-stream\r\n"
                        + "Content-Length: \(Self.hundredMiB)\r\n\r\n"
                )
                let sent = try await connection.sendPatternBody(count: Self.hundredMiB, chunkSize: 256 * 1024)
                let response = try await connection.readResponse(timeout: .seconds(60))

                let peak = await sampler.stop()
                let after = try child.memory()
                let growth = Self.growth(baseline: baseline, sampledPeak: peak, after: after)

                #expect(response.status == 200)
                let json = try response.jsonObject()
                #expect(json["bodyLength"] as? Int == Self.hundredMiB)
                #expect(json["bodySHA256"] as? String == sent.sha256)
                #expect(upstream.lastRequest?.bodySHA256 == sent.sha256)
                #expect(growth < Self.rssBudget,
                        "gateway RSS grew by \(growth / 1024) KiB during a 100 MiB upload (baseline \(baseline), after \(after), sampled peak \(peak / 1024) KiB)")
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func hundredMiBDownloadThroughTheGatewayProcessWithFlatMemory() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.bigBodies, ["UPSTREAM": upstream.baseURL]) { child, port in
                #expect(try await HTTPTestClient.get("/warm-up", port: port).status == 200)
                let baseline = try child.memory()
                let sampler = MemorySampler(pid: child.pid)

                let connection = try await RawHTTPConnection.connect(port: port)
                defer { connection.close() }
                try await connection.send(RequestBytes.make("GET", "/download?bytes=\(Self.hundredMiB)"))
                let head = try await connection.readHead(timeout: .seconds(10))
                // A slow reader for a while: the gateway must hold the upstream back, not buffer.
                let body = try await connection.readHashedBody(
                    head: head, pauseAfter: 4 * 1024 * 1024, pause: .seconds(1.5), timeout: .seconds(90)
                )

                let peak = await sampler.stop()
                let after = try child.memory()
                let growth = Self.growth(baseline: baseline, sampledPeak: peak, after: after)

                #expect(head.status == 200)
                #expect(body.ending == .complete)
                #expect(body.length == Self.hundredMiB)
                #expect(body.sha256 == PatternBytes.sha256(count: Self.hundredMiB))
                #expect(growth < Self.rssBudget,
                        "gateway RSS grew by \(growth / 1024) KiB during a 100 MiB download (baseline \(baseline), after \(after), sampled peak \(peak / 1024) KiB)")
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func hundredMiBUploadToAStalledUpstreamHoldsTheClientBackInsteadOfBuffering() async throws {
        let upstream = try StallingUpstream(stall: .seconds(2))
        defer { upstream.close() }
        try await withGatewayProcess(Self.bigBodies, ["UPSTREAM": upstream.baseURL]) { child, port in
            #expect(try await HTTPTestClient.get("/warm-up", port: port).status == 200)
            let baseline = try child.memory()
            let sampler = MemorySampler(pid: child.pid)

            let connection = try await RawHTTPConnection.connect(port: port)
            defer { connection.close() }
            let start = ContinuousClock.now
            try await connection.send(
                "POST /stalled-upload HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: \(Self.hundredMiB)\r\n\r\n"
            )
            let sent = try await connection.sendPatternBody(count: Self.hundredMiB, chunkSize: 256 * 1024)
            let response = try await connection.readResponse(timeout: .seconds(60))
            let elapsed = ContinuousClock.now - start

            let peak = await sampler.stop()
            let after = try child.memory()
            let growth = Self.growth(baseline: baseline, sampledPeak: peak, after: after)

            #expect(response.status == 200)
            #expect(try response.jsonObject()["bodySHA256"] as? String == sent.sha256)
            #expect(upstream.received.last?.length == Self.hundredMiB)
            #expect(elapsed >= .seconds(2), "the upstream's stall was not felt (\(elapsed))")
            #expect(growth < Self.rssBudget,
                    "gateway RSS grew by \(growth / 1024) KiB while the upstream stalled a 100 MiB upload (baseline \(baseline), after \(after), sampled peak \(peak / 1024) KiB)")
        }
    }
}
