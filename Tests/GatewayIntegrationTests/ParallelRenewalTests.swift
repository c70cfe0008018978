/// Issue 4 §2 / §5: many parallel requests carrying one expired token all succeed and all receive one lineage.
import Foundation
import GatewayCore
import Testing

@Suite("Parallel renewal")
struct ParallelRenewalTests {
    @Test("100 concurrent requests with one expired token: all 200, one jti, one lineage step in the store")
    func hundredParallelRenewals() async throws {
        try await withAuthGateway(threads: 2) { upstream, gw in
            let login = try await gw.login()
            let originalJTI = try JWTParts.jti(login.access)
            gw.clock.advance(.seconds(61))
            let port = gw.port
            let request = RequestBytes.make("GET", "/api/echo", headers: [("Authorization", "Bearer \(login.access)")])

            let results = try await withThrowingTaskGroup(of: (Int, String?, String).self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        // A separate connection each.
                        let response = try await HTTPTestClient.exchange(request, port: port, timeout: .seconds(30))
                        return (response.status, response.header("x-access-token"), response.bodyText)
                    }
                }
                var all: [(Int, String?, String)] = []
                for try await result in group { all.append(result) }
                return all
            }

            #expect(results.count == 100)
            let failures = results.filter { $0.0 != 200 }
            #expect(failures.isEmpty, "\(failures.count) of 100 failed, e.g. \(failures.first.map { "\($0.0) \($0.2)" } ?? "")")
            let tokens = results.compactMap(\.1)
            #expect(tokens.count == 100, "every response carries the renewed token")
            let jtis = Set(try tokens.map { try JWTParts.jti($0) })
            #expect(jtis.count == 1, "one lineage: \(jtis.count) distinct jtis")
            let renewedJTI = try #require(jtis.first)
            #expect(renewedJTI != originalJTI)
            for token in Set(tokens) {
                guard case .valid = gw.verify(token) else {
                    Issue.record("a returned token does not verify")
                    continue
                }
            }

            let session = try await gw.session(of: login.access)
            #expect(session.previousAccessJTI == originalJTI, "exactly one lineage step: the predecessor is the original token")
            #expect(session.access.jti == renewedJTI)

            // Every forwarded request carried that one renewed token.
            let forwarded = upstream.requests.filter { $0.uri == "/api/echo" }
            #expect(forwarded.count == 100)
            let jtisUpstream = Set(try forwarded.map { request -> String in
                let authorization = try #require(request.header("authorization"))
                return try JWTParts.jti(String(authorization.dropFirst("Bearer ".count)))
            })
            #expect(jtisUpstream == [renewedJTI])
        }
    }
}
