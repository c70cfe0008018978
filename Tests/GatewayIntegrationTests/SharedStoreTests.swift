/// Several gateways on one PostgreSQL store (docs/configuration.md `store.url`, §3, §5.3): a login made through one gateway
/// is renewed, refreshed and logged out through the other, and parallel renewals of one expired token spread
/// over both gateways still give one lineage. Two in-process gateways with the same signing key and clock.
import Foundation
import GatewayCore
import Testing

@Suite("Gateways sharing a PostgreSQL store",
       .enabled(if: ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"].map { !$0.isEmpty } ?? false,
                "needs AUTH_GATEWAY_TEST_POSTGRES_URL: run scripts/test, which starts PostgreSQL"))
struct SharedStoreTests {
    /// Gateways A and B in front of one upstream, on the test script's PostgreSQL, one key file, one clock.
    static func withTwoGateways(_ body: (TestUpstream, AuthGateway, AuthGateway) async throws -> Void) async throws {
        let url = try #require(ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"])
        let shared = try TemporaryDirectory()
        defer { shared.remove() }
        let clock = MovableClock()
        try await withUpstream { upstream in
            var config = TestConfig.auth(upstream: upstream.baseURL)
            config.store = ["url": TestConfig.quoted(url)]
            config.tokens["secret_file"] = TestConfig.quoted("\(shared.path)/secret.key")
            let a = try await AuthGateway.start(config, clock: clock, threads: 2)
            let b: AuthGateway
            do {
                b = try await AuthGateway.start(config, clock: clock, threads: 2)
            } catch {
                await a.stop()
                throw error
            }
            do {
                try await body(upstream, a, b)
            } catch {
                await a.stop()
                await b.stop()
                throw error
            }
            await a.stop()
            await b.stop()
        }
    }

    @Test("/readyz is 200 on both gateways while the shared store answers (docs/http.md#the-gateways-own-endpoints)")
    func readinessFollowsTheSharedStore() async throws {
        try await Self.withTwoGateways { _, a, b in
            for gateway in [a, b] {
                let ready = try await gateway.get("/readyz")
                #expect(ready.status == 200, "\(ready.bodyText)")
            }
        }
    }

    @Test("a login through A is renewed by B and refreshed through B; the replaced refresh token is dead on A")
    func sessionsFollowTheClientAcrossGateways() async throws {
        try await Self.withTwoGateways { _, a, b in
            let login = try await a.login()
            #expect(try await b.get("/api/echo", token: login.access).status == 200)

            a.clock.advance(.seconds(61))
            let renewed = try await b.get("/api/echo", token: login.access)
            #expect(renewed.status == 200, "\(renewed.bodyText)")
            let token = try #require(renewed.header("x-access-token"))
            #expect(try await a.session(of: token).access.jti == (try JWTParts.jti(token)), "B's renewal is in the shared store")
            #expect(try await a.get("/api/echo", token: token).status == 200)

            let refresh = try #require(login.refresh)
            let refreshed = try await b.refresh(refresh)
            #expect(refreshed.status == 200, "\(refreshed.bodyText)")
            // Rotation recorded by B is seen by A: the old refresh token is dead everywhere.
            let reused = try await a.refresh(refresh)
            #expect(reused.status == 401, "\(reused.bodyText)")
        }
    }

    @Test("a session logged out through A is neither renewed nor refreshed by B")
    func logoutThroughOneGatewayEndsTheSessionOnTheOther() async throws {
        try await Self.withTwoGateways { _, a, b in
            let login = try await b.login()
            let refresh = try #require(login.refresh)
            #expect(try await a.logout(refresh: refresh).status == 204)
            a.clock.advance(.seconds(61))
            let afterLogout = try await b.get("/api/echo", token: login.access)
            #expect(afterLogout.status == 401, "\(afterLogout.bodyText)")
            #expect(afterLogout.header("x-access-token") == nil)
            #expect(try await b.refresh(refresh).status == 401)
        }
    }

    @Test("60 parallel requests with one expired token, spread over two gateways: all 200, one new jti")
    func parallelRenewalsAcrossGatewaysGiveOneLineage() async throws {
        try await Self.withTwoGateways { _, a, b in
            let login = try await a.login()
            a.clock.advance(.seconds(61))
            let request = RequestBytes.make("GET", "/api/echo", headers: [("Authorization", "Bearer \(login.access)")])
            let results = try await withThrowingTaskGroup(of: (Int, String?, String).self) { group in
                for i in 0..<60 {
                    let port = i.isMultiple(of: 2) ? a.port : b.port
                    group.addTask {
                        let response = try await HTTPTestClient.exchange(request, port: port, timeout: .seconds(30))
                        return (response.status, response.header("x-access-token"), response.bodyText)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let failures = results.filter { $0.0 != 200 }
            #expect(failures.isEmpty, "\(failures.count) of 60 failed, e.g. \(failures.first.map { "\($0.0) \($0.2)" } ?? "")")
            let jtis = Set(try results.compactMap(\.1).map { try JWTParts.jti($0) })
            #expect(results.compactMap(\.1).count == 60)
            #expect(jtis.count == 1, "one lineage across both gateways: \(jtis)")
            let session = try await b.session(of: login.access)
            #expect(session.access.jti == jtis.first)
            #expect(session.previousAccessJTI == (try JWTParts.jti(login.access)), "exactly one step in the store")
        }
    }
}
