/// docs/http.md#the-gateways-own-endpoints, docs/http.md#renewal on the PostgreSQL store (§2 `store.url`): the store is not a single point of logout. The gateway
/// reaches the test PostgreSQL through a TCP relay the test cuts: renewal answers 503 store_unavailable (not 401, and
/// within the store's deadline, not hanging), valid tokens keep working without waiting, /readyz says 503; once the
/// relay is restored, postgres-nio's pool reconnects and renewal and readiness come back by themselves.
/// Two outages: a database that is down (connections refused) and one that hangs (connections never answered).
/// The SQLite counterpart is StoreOutageTests.
import Foundation
import GatewayCore
import Testing

@Suite("PostgreSQL store outage",
       .enabled(if: ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"].map { !$0.isEmpty } ?? false,
                "needs AUTH_GATEWAY_TEST_POSTGRES_URL: run scripts/test, which starts PostgreSQL"))
struct PostgresOutageTests {
    /// The store gives up after 5 s (PostgresSessionStore's operation deadline); an answer later than this means the
    /// request hung on the outage instead.
    static let answerBound: Duration = .seconds(15)
    /// A request that needs no store answers well inside the store's 5 s deadline, so it did not wait on the store.
    static let hotPathBound: Duration = .seconds(3)
    /// How long the pool may take to reconnect once the database is reachable again (its backoff grows while cut).
    static let recoveryBound: Duration = .seconds(20)

    /// An in-process gateway (one event loop) whose store is the test PostgreSQL reached through a relay.
    static func withGatewayBehindRelay(_ body: (TCPRelay, AuthGateway) async throws -> Void) async throws {
        let url = try #require(ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"])
        let database = try PostgresURL(url)
        let relay = try TCPRelay(to: database.host, port: database.port)
        do {
            var relayed = try #require(URLComponents(string: url))
            relayed.host = "127.0.0.1"
            relayed.port = relay.port
            let relayedURL = try #require(relayed.string)
            try await withAuthGateway({ $0.store = ["url": TestConfig.quoted(relayedURL)] }) { _, gateway in
                try await body(relay, gateway)
            }
        } catch {
            await relay.close()
            throw error
        }
        await relay.close()
    }

    /// GET and how long the answer took; no answer within `answerBound` is an error that says so.
    static func get(_ gateway: AuthGateway, _ target: String, token: String? = nil) async throws -> (HTTPTestResponse, Duration) {
        let start = ContinuousClock.now
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        do {
            let response = try await gateway.request("GET", target, headers: headers, timeout: answerBound)
            return (response, ContinuousClock.now - start)
        } catch HTTPTestClientError.timedOut {
            throw HTTPTestClientError.timedOut("an answer to GET \(target) within \(answerBound): the request hangs on the outage")
        }
    }

    @Test("PostgreSQL cut off: renewal 503 store_unavailable within the deadline, valid tokens 200 without waiting, /readyz 503; then recovery",
          arguments: [TCPRelay.Outage.refused, .unanswered])
    func outageAndRecovery(_ outage: TCPRelay.Outage) async throws {
        try await Self.withGatewayBehindRelay { relay, gw in
            // While the relay forwards, the store works through it: login, renewal, readiness.
            let renewedBefore = try await gw.login()
            let expiring = try await gw.login()
            gw.clock.advance(.seconds(61))
            let valid = try await gw.login()

            let renewal = try await gw.get("/api/echo", token: renewedBefore.access)
            #expect(renewal.status == 200, "renewal through the relay: \(renewal.status) \(renewal.bodyText)")
            let renewedToken = try #require(renewal.header("x-access-token"))
            #expect(try await gw.session(of: renewedToken).access.jti == (try JWTParts.jti(renewedToken)))
            let readyBefore = try await gw.get("/readyz")
            #expect(readyBefore.status == 200, "\(readyBefore.bodyText)")
            #expect(relay.acceptedConnections > 0, "the gateway reaches PostgreSQL through the relay")
            // The cut must close connections the pool holds, not only refuse new ones.
            #expect(relay.openConnections > 0, "the pool keeps an idle connection through the relay")

            await relay.cut(outage)
            // The database is out of reach: nothing the gateway held open survives, nothing new gets through.
            #expect(relay.openConnections == 0)
            // Everything that needs the store is asked at once and waits on it; the valid token is sent while they
            // wait, on the same event loop (the gateway runs one), so a store call that blocked the loop would hold
            // it up too.
            let validRefresh = try #require(valid.refresh)
            async let renewalDuringOutage = Self.get(gw, "/api/echo", token: expiring.access)
            async let readinessDuringOutage = Self.get(gw, "/readyz")
            async let refreshDuringOutage = gw.refresh(validRefresh)
            async let logoutDuringOutage = gw.logout(access: valid.access)
            async let loginDuringOutage = gw.loginResponse()
            try await Task.sleep(for: .milliseconds(300))
            let (stillValid, validTime) = try await Self.get(gw, "/api/echo", token: valid.access)
            #expect(stillValid.status == 200, "valid tokens keep working without the store: \(stillValid.status) \(stillValid.bodyText)")
            #expect(stillValid.header("x-access-token") == nil)
            #expect(validTime < Self.hotPathBound, "a valid token waited \(validTime) on an unreachable store")
            let health = try await gw.get("/healthz")
            #expect(health.status == 200)

            let (refused, renewalTime) = try await renewalDuringOutage
            #expect(refused.status == 503, "an outage must not log users out: \(refused.status) \(refused.bodyText)")
            #expect(refused.errorCode == "store_unavailable", "\(refused.bodyText)")
            let body = try refused.jsonObject()
            #expect(Set(body.keys) == ["detail", "code"], "\(refused.bodyText)")
            #expect((body["detail"] as? String).map { !$0.isEmpty } == true, "\(refused.bodyText)")
            #expect(refused.header("content-type")?.hasPrefix("application/json") == true)
            #expect(refused.header("x-access-token") == nil)
            #expect(refused.header("www-authenticate") == nil, "503 is no authentication challenge")
            #expect(renewalTime < Self.answerBound, "renewal answered after \(renewalTime): it hung on the outage")

            let (notReady, notReadyTime) = try await readinessDuringOutage
            #expect(notReady.status == 503, "\(notReady.bodyText)")
            #expect(notReadyTime < Self.answerBound, "/readyz answered after \(notReadyTime)")

            StoreOutageTests.expectStoreUnavailable(
                try await [("refresh", refreshDuringOutage), ("logout", logoutDuringOutage), ("login", loginDuringOutage)])

            try relay.restore()

            // The pool reconnects on its own: readiness comes back without a restart.
            let restoredAt = ContinuousClock.now
            var (ready, _) = try await Self.get(gw, "/readyz")
            while ready.status != 200, ContinuousClock.now - restoredAt < Self.recoveryBound {
                try await Task.sleep(for: .milliseconds(200))
                (ready, _) = try await Self.get(gw, "/readyz")
            }
            #expect(ready.status == 200, "/readyz still \(ready.status) \(Self.recoveryBound) after the database came back")

            let token = try await StoreOutageTests.expectRenewalResumes(gw, expiring: expiring)
            #expect(try await gw.get("/api/echo", token: token).status == 200)

            // Neither the refresh token nor the session was harmed by the outage.
            let refreshedAfter = try await gw.refresh(validRefresh)
            #expect(refreshedAfter.status == 200, "\(refreshedAfter.bodyText)")
        }
    }
}
