/// Issue 4 §3: the store is not a single point of logout. A real SQLite file locked by another process:
/// renewal answers 503 store_unavailable (not 401), valid tokens keep working, /readyz says 503; once the
/// lock is gone renewal and readiness come back by themselves.
import Foundation
import GatewayCore
import Testing

@Suite("Store outage")
struct StoreOutageTests {
    @Test("a locked SQLite store: renewal 503 store_unavailable, valid tokens 200, /readyz 503; then recovery")
    func lockedStoreAndRecovery() async throws {
        try await withAuthGateway { _, gw in
            let expiring = try await gw.login()
            gw.clock.advance(.seconds(61))
            let valid = try await gw.login()
            #expect(try await gw.get("/readyz").status == 200)

            let lock = try await SQLiteLockHolder.lock(gw.databasePath)
            defer { lock.kill() }
            do {
                // The lock really makes the gateway's writes fail.
                await #expect(throws: (any Error).self, "the store still accepts writes under the lock") {
                    try await gw.store.ping()
                }

                let renewal = try await gw.get("/api/echo", token: expiring.access)
                #expect(renewal.status == 503, "an outage must not log users out: \(renewal.status) \(renewal.bodyText)")
                #expect(renewal.errorCode == "store_unavailable", "\(renewal.bodyText)")
                #expect(renewal.header("x-access-token") == nil)

                let stillValid = try await gw.get("/api/echo", token: valid.access)
                #expect(stillValid.status == 200, "valid tokens keep working without the store: \(stillValid.bodyText)")
                #expect(stillValid.header("x-access-token") == nil)

                let ready = try await gw.get("/readyz")
                #expect(ready.status == 503, "\(ready.bodyText)")

                let health = try await gw.get("/healthz")
                #expect(health.status == 200)

                // The token endpoints cannot write either: 503, never a refusal that logs the user out.
                let validRefresh: String = try #require(valid.refresh)
                async let refreshed = gw.refresh(validRefresh)
                async let loggedOut = gw.logout(access: valid.access)
                async let loggedIn = gw.loginResponse()
                Self.expectStoreUnavailable(try await [("refresh", refreshed), ("logout", loggedOut), ("login", loggedIn)])
            }
            await lock.release()

            _ = try await Self.expectRenewalResumes(gw, expiring: expiring)

            let ready = try await gw.get("/readyz")
            #expect(ready.status == 200, "\(ready.bodyText)")

            // Neither the refresh token nor the session was harmed by the outage.
            let refreshToken: String = try #require(valid.refresh)
            let refreshed = try await gw.refresh(refreshToken)
            #expect(refreshed.status == 200, "\(refreshed.bodyText)")
        }
    }

    /// The token endpoints during an outage: they cannot write either, so 503 store_unavailable — never a refusal
    /// that logs the user out. `responses` are (endpoint, response).
    static func expectStoreUnavailable(_ responses: [(String, HTTPTestResponse)], sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, response) in responses {
            #expect(response.status == 503, "\(name) during the outage: \(response.status) \(response.bodyText)",
                    sourceLocation: sourceLocation)
            #expect(response.errorCode == "store_unavailable", "\(name): \(response.bodyText)", sourceLocation: sourceLocation)
        }
    }

    /// Once the store is back, `expiring` (which the outage kept from being renewed) renews, one lineage step from
    /// it. Returns the new access token.
    static func expectRenewalResumes(_ gw: AuthGateway, expiring: LoginTokens,
                                     sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let renewed = try await gw.get("/api/echo", token: expiring.access)
        #expect(renewed.status == 200, "renewal resumes once the store is back: \(renewed.status) \(renewed.bodyText)",
                sourceLocation: sourceLocation)
        let token = try #require(renewed.header("x-access-token"), sourceLocation: sourceLocation)
        let session = try await gw.session(of: token)
        #expect(session.access.jti == (try JWTParts.jti(token)), sourceLocation: sourceLocation)
        #expect(session.previousAccessJTI == (try JWTParts.jti(expiring.access)), "one step, taken after the outage",
                sourceLocation: sourceLocation)
        return token
    }
}
