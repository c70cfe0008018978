/// Graceful shutdown of the real executable (docs/operations.md#commands serve): stop accepting, finish in-flight requests
/// within shutdown_timeout, exit 0.
import Foundation
import Glibc
import Testing

@Suite("Graceful shutdown")
struct ShutdownTests {
    static func config(shutdownTimeout: String) -> TestConfig {
        .publicCatchAll.with { $0.server["shutdown_timeout"] = TestConfig.quoted(shutdownTimeout) }
    }

    /// Connect attempts until one is refused; returns whether that happened within `timeout`.
    static func refusesConnections(port: Int, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            do {
                let probe = try await RawHTTPConnection.connect(port: port)
                probe.close()
            } catch {
                return true
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    @Test func sigtermDrainsAnInFlightRequestThenExitsZero() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.config(shutdownTimeout: "10s"), ["UPSTREAM": upstream.baseURL]) { child, port in
                let connection = try await RawHTTPConnection.connect(port: port)
                defer { connection.close() }
                // Slow enough that the drain is still under way on a loaded machine (2 cores, the suite in parallel).
                try await connection.send(RequestBytes.make("GET", "/in-flight/slow?ms=8000"))
                #expect(await eventually { upstream.requests.count == 1 }, "the slow request never reached the upstream")

                child.signal(SIGTERM)
                #expect(await Self.refusesConnections(port: port, within: .seconds(6)),
                        "the gateway still accepted connections after SIGTERM")
                #expect(child.isRunning, "the process had already exited, so the drain was not observed")

                let response = try await connection.readResponse(timeout: .seconds(15))
                #expect(response.status == 200)
                #expect(try response.jsonObject()["uri"] as? String == "/in-flight/slow?ms=8000")

                let outcome = try await child.waitForExit(timeout: .seconds(15))
                #expect(!outcome.signalled)
                #expect(outcome.status == 0, "stderr:\n\(outcome.stderr)")
            }
        }
    }

    @Test func sigtermWithAnIdleKeepAliveConnectionExitsPromptly() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.config(shutdownTimeout: "30s"), ["UPSTREAM": upstream.baseURL]) { child, port in
                let connection = try await RawHTTPConnection.connect(port: port)
                defer { connection.close() }
                try await connection.send(RequestBytes.make("GET", "/idle"))
                #expect(try await connection.readResponse().status == 200)

                let start = ContinuousClock.now
                child.signal(SIGTERM)
                let outcome = try await child.waitForExit(timeout: .seconds(40))
                let elapsed = ContinuousClock.now - start
                #expect(outcome.status == 0 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
                // Far below shutdown_timeout (30 s): an idle connection is closed at once, not waited for.
                #expect(elapsed < .seconds(10), "an idle keep-alive connection held shutdown for \(elapsed)")
                #expect(await connection.waitForPeerClose(timeout: .seconds(1)))
            }
        }
    }

    @Test func sigintAlsoExitsZero() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.config(shutdownTimeout: "10s"), ["UPSTREAM": upstream.baseURL]) { child, port in
                #expect(try await HTTPTestClient.get("/before", port: port).status == 200)
                child.signal(SIGINT)
                let outcome = try await child.waitForExit(timeout: .seconds(10))
                #expect(outcome.status == 0 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
            }
        }
    }

    @Test func shutdownTimeoutBoundsTheDrain() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(Self.config(shutdownTimeout: "500ms"), ["UPSTREAM": upstream.baseURL]) { child, port in
                let connection = try await RawHTTPConnection.connect(port: port)
                defer { connection.close() }
                try await connection.send(RequestBytes.make("GET", "/stuck/slow?ms=20000"))
                #expect(await eventually { upstream.requests.count == 1 })

                let start = ContinuousClock.now
                child.signal(SIGTERM)
                let outcome = try await child.waitForExit(timeout: .seconds(15))
                let elapsed = ContinuousClock.now - start
                #expect(outcome.status == 0 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
                // Far below the request's 20 s: the drain gave up at shutdown_timeout (loose for a loaded machine).
                #expect(elapsed < .seconds(8), "shutdown_timeout 500ms, but the process took \(elapsed) to exit")
                // The unfinished request gets no success.
                let head = try? await connection.readHead(timeout: .seconds(2))
                #expect(head == nil || head!.status >= 500)
            }
        }
    }
}
