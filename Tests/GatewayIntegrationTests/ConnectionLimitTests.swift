/// `server.max_connections` (issue 12 item 7): at the limit the gateway stops accepting, and a waiting
/// connection is served as soon as another one closes.
import Foundation
import Testing

@Suite("Connection limit")
struct ConnectionLimitTests {
    @Test func atTheLimitNewConnectionsWaitUntilOneCloses() async throws {
        let config = TestConfig.publicCatchAll.with { $0.server["max_connections"] = "3" }
        try await withUpstreamAndGateway(config) { _, gateway in
            #expect(gateway.gateway.server.maxConnections == 3)
            var held: [RawHTTPConnection] = []
            defer { held.forEach { $0.close() } }
            for index in 0..<3 {
                let connection = try await RawHTTPConnection.connect(port: gateway.port)
                try await connection.send(RequestBytes.make("GET", "/held/\(index)"))
                #expect(try await connection.readResponse().status == 200)
                held.append(connection)
            }
            #expect(gateway.gateway.server.openConnections.current == 3)

            // The fourth connects (the kernel's backlog takes it) but is not accepted: no answer.
            let waiting = try await RawHTTPConnection.connect(port: gateway.port)
            defer { waiting.close() }
            try await waiting.send(RequestBytes.make("GET", "/waiting"))
            #expect(await !waiting.receivesAnything(within: .milliseconds(700)), "a fourth connection was served at max_connections = 3")
            #expect(gateway.gateway.server.openConnections.current == 3)

            held.removeFirst().close()
            let response = try await waiting.readResponse(timeout: .seconds(5))
            #expect(response.status == 200)
        }
    }

    @Test func theDefaultFitsTheDescriptorLimit() async throws {
        try await withUpstreamAndGateway(.publicCatchAll) { _, gateway in
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            #expect(gateway.gateway.server.maxConnections <= Int(limit.rlim_cur))
            #expect(gateway.gateway.server.maxConnections <= 10_000)
        }
    }

    @Test func aConfiguredLimitThatDoesNotFitIsAStartupError() async throws {
        let config = TestConfig.publicCatchAll.with { $0.server["max_connections"] = "1000000" }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        // Only meaningful where the hard limit is below a million descriptors (as here: 20,000).
        guard limit.rlim_max < 1_000_000 else { return }
        let outcome = try await GatewayProcess.run(["serve", "--config", "${CONFIG}"], config: config.text, values: ["UPSTREAM": "http://127.0.0.1:9"])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("max_connections"))
        #expect(outcome.stderrLines.count == 1, "one line: \(outcome.stderr)")
    }
}
