/// docs/operations.md#keys-kid-rotation-and-jwks: key rotation without logout, the JWKS document read by a third-party JWT library, revocations refused
/// at once on the gateway that made them and within `store.revocation_poll` on another sharing the store
/// (one SQLite file; the test script's PostgreSQL), and logout of every session of a user.
import Crypto
import Foundation
import Testing
@testable import GatewayCore

@Suite struct KeysAndRevocationTests {
    static let oldSecret = String(repeating: "o", count: 48)
    static let newSecret = String(repeating: "n", count: 48)

    /// docs/operations.md#keys-kid-rotation-and-jwks for HS*, computed here: the first 16 characters of base64url(SHA-256(secret)).
    static func hmacKID(_ secret: String) -> String {
        let base64 = Data(SHA256.hash(data: Array(secret.utf8))).base64EncodedString()
        return String(base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").prefix(16))
    }

    static func base64urlDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func message(_ response: HTTPTestResponse) -> String? {
        guard let object = try? response.jsonObject(), let messages = object["messages"] as? [[String: Any]] else { return nil }
        return messages.first?["message"] as? String
    }

    static func kid(_ token: String) throws -> String? {
        let header = try #require(token.split(separator: ".").first)
        let bytes = try #require(Self.base64urlDecode(header))
        return (try JSONSerialization.jsonObject(with: bytes) as? [String: Any])?["kid"] as? String
    }

    // MARK: - rotation

    @Test("rotating the key logs nobody out: old tokens verify, renew and refresh into tokens of the new key")
    func rotationKeepsSessions() async throws {
        let shared = try TemporaryDirectory()
        defer { shared.remove() }
        try (Self.oldSecret + "\n").write(toFile: shared.path + "/old.key", atomically: true, encoding: .utf8)
        try (Self.newSecret + "\n").write(toFile: shared.path + "/new.key", atomically: true, encoding: .utf8)
        let clock = MovableClock()
        try await withUpstream { upstream in
            var config = TestConfig.auth(upstream: upstream.baseURL)
            config.store = ["url": TestConfig.quoted("sqlite:\(shared.path)/gateway.db")]
            config.tokens["secret_file"] = TestConfig.quoted(shared.path + "/old.key")
            let before = try await AuthGateway.start(config, clock: clock)
            let login = try await before.login()
            await before.stop()
            let oldKid = try Self.kid(login.access)

            config.tokens["secret_file"] = TestConfig.quoted(shared.path + "/new.key")
            config.tokens["previous_secret_files"] = "[\(TestConfig.quoted(shared.path + "/old.key"))]"
            let after = try await AuthGateway.start(config, clock: clock)
            do {
                #expect(try await after.get("/api/echo", token: login.access).status == 200, "a token of the retired key")
                clock.advance(.seconds(61))
                let renewal = try await after.get("/api/echo", token: login.access)
                #expect(renewal.status == 200, "\(renewal.bodyText)")
                let renewed = try #require(renewal.header("x-access-token"))
                #expect(try Self.kid(renewed) != oldKid)
                #expect(try Self.kid(renewed) == Self.hmacKID(Self.newSecret))
                let refreshed = try await after.refresh(try #require(login.refresh))
                #expect(refreshed.status == 200, "\(refreshed.bodyText)")
                let access = try #require(try refreshed.jsonObject()["access"] as? String)
                #expect(try Self.kid(access) == Self.hmacKID(Self.newSecret))
            } catch {
                await after.stop()
                throw error
            }
            await after.stop()
        }
    }

    // MARK: - JWKS

    @Test("GET /.well-known/jwks.json: the ES256 key, and PyJWT verifies a gateway token with it by kid")
    func jwksVerifiesWithPyJWT() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try P256.Signing.PrivateKey().pemRepresentation.write(toFile: directory.path + "/es.pem", atomically: true, encoding: .utf8)
        try await withAuthGateway({
            $0.tokens["algorithm"] = #""ES256""#
            $0.tokens["private_key_file"] = TestConfig.quoted(directory.path + "/es.pem")
        }) { _, gw in
            let jwks = try await gw.get("/.well-known/jwks.json")
            #expect(jwks.status == 200)
            #expect(jwks.header("cache-control") == "public, max-age=300")
            #expect(!jwks.bodyText.contains("\"d\""))
            let login = try await gw.login()
            let script = """
                import json, sys, jwt
                token, document = sys.argv[1], json.loads(sys.argv[2])
                keys = {k["kid"]: k for k in document["keys"]}
                key = jwt.PyJWK.from_dict(keys[jwt.get_unverified_header(token)["kid"]])
                print(json.dumps(jwt.decode(token, key.key, algorithms=["ES256"], audience="api-clients")))
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, login.access, jwks.bodyText]
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            process.waitUntilExit()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "PyJWT with the JWKS: \(stderr)")
            #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("\"token_type\": \"access\""))
        }
    }

    @Test("GET /.well-known/jwks.json with an HS256 key is 404 not_found: a secret is never published")
    func jwksIsNotFoundForHMAC() async throws {
        try await withAuthGateway { _, gw in
            let response = try await gw.get("/.well-known/jwks.json")
            #expect(response.status == 404)
            #expect(response.bodyText.contains("not_found"))
        }
    }

    // MARK: - revocation

    @Test("logout with {\"all\": true} revokes every session of the user at once")
    func logoutOfAllSessions() async throws {
        try await withAuthGateway { _, gw in
            let first = try await gw.login(), second = try await gw.login()
            #expect(try await gw.get("/api/echo", token: second.access).status == 200)
            let logout = try await gw.request("POST", "/auth/logout", headers: [("Authorization", "Bearer \(first.access)")],
                                              body: #"{"all": true}"#)
            #expect(logout.status == 204, "\(logout.bodyText)")
            for tokens in [first, second] {
                let refused = try await gw.get("/api/echo", token: tokens.access)
                #expect(refused.status == 401)
                #expect(Self.message(refused) == "Token is blacklisted")
                #expect(try await gw.refresh(try #require(tokens.refresh)).status == 401)
            }
        }
    }

    /// Two gateways on one store at `storeURL` (the same key and clock); `revocation_poll` 200 ms.
    static func withTwoGateways(storeURL: String?, poll: String = "200ms",
                                _ body: (AuthGateway, AuthGateway) async throws -> Void) async throws {
        let shared = try TemporaryDirectory()
        defer { shared.remove() }
        let clock = MovableClock()
        try await withUpstream { upstream in
            var config = TestConfig.auth(upstream: upstream.baseURL)
            config.store = ["url": TestConfig.quoted(storeURL ?? "sqlite:\(shared.path)/gateway.db"), "revocation_poll": TestConfig.quoted(poll)]
            config.tokens["secret_file"] = TestConfig.quoted("\(shared.path)/secret.key")
            let a = try await AuthGateway.start(config, clock: clock, threads: 2)
            let b: AuthGateway
            do { b = try await AuthGateway.start(config, clock: clock, threads: 2) } catch {
                await a.stop()
                throw error
            }
            do { try await body(a, b) } catch {
                await a.stop()
                await b.stop()
                throw error
            }
            await a.stop()
            await b.stop()
        }
    }

    /// Whether `gateway` refuses `token` (401) within `timeout`, asking every 10 ms.
    static func refuses(_ gateway: AuthGateway, _ token: String, within timeout: Duration) async throws -> Bool {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            if try await gateway.get("/api/echo", token: token).status == 401 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    static var stores: [String] {
        ["sqlite"] + (ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"].map { _ in ["postgres"] } ?? [])
    }

    @Test("a logout on gateway A is refused at once on A and within the poll on B, valid or expired", arguments: stores)
    func revocationReachesTheOtherGateway(store: String) async throws {
        let url = store == "postgres" ? ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"] : nil
        try await Self.withTwoGateways(storeURL: url) { a, b in
            let login = try await a.login()
            // B has verified (and cached) the token before the logout.
            #expect(try await b.get("/api/echo", token: login.access).status == 200)
            #expect(try await a.logout(access: login.access).status == 204)
            let onA = try await a.get("/api/echo", token: login.access)
            #expect(onA.status == 401)
            #expect(Self.message(onA) == "Token is blacklisted")

            let refusedOnB = try await Self.refuses(b, login.access, within: .seconds(5))
            #expect(refusedOnB, "B still accepted the revoked session's token after 5 s (revocation_poll 200ms)")
            // Expired, it is not renewed either.
            b.clock.advance(.seconds(61))
            let expired = try await b.get("/api/echo", token: login.access)
            #expect(expired.status == 401)
            #expect(Self.message(expired) == "Token is blacklisted")
            #expect(expired.header("x-access-token") == nil)
        }
    }

    /// PostgreSQL tells the other gateway at once (LISTEN/NOTIFY): with a 30 s poll, B refuses within a second.
    @Test("on PostgreSQL a revocation reaches the other gateway by notification, long before its poll",
          .enabled(if: ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"] != nil, "needs PostgreSQL (scripts/test)"))
    func postgresNotifiesTheOtherGateway() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"])
        try await Self.withTwoGateways(storeURL: url, poll: "30s") { a, b in
            let first = try await a.login()
            let second = try await a.login()
            #expect(try await b.get("/api/echo", token: first.access).status == 200)
            // B's first poll ran at its start; give its LISTEN connection a moment to be in place.
            try await Task.sleep(for: .milliseconds(500))
            for login in [first, second] {
                #expect(try await a.logout(access: login.access).status == 204)
                let refusedOnB = try await Self.refuses(b, login.access, within: .seconds(3))
                #expect(refusedOnB, "B accepted the revoked session's token for 3 s: no notification (revocation_poll 30s)")
            }
        }
    }

    // MARK: - refresh duplicates (docs/http.md#refresh)

    @Test("within refresh_reuse_interval a replaced refresh token gets the first answer byte for byte; after it, reuse")
    func refreshDuplicates() async throws {
        try await withAuthGateway({ $0.tokens["refresh_reuse_interval"] = #""10s""# }) { _, gw in
            let login = try await gw.login()
            let refresh = try #require(login.refresh)
            // Two tabs at once, then a third a moment later.
            async let first = gw.refresh(refresh)
            async let second = gw.refresh(refresh)
            let answers = try await [first, second]
            #expect(answers.map(\.status) == [200, 200], "\(answers.map(\.bodyText))")
            #expect(answers[0].bodyText == answers[1].bodyText)
            gw.clock.advance(.seconds(5))
            let third = try await gw.refresh(refresh)
            #expect(third.status == 200)
            #expect(third.bodyText == answers[0].bodyText, "the same tokens, byte for byte")
            // The session lives on: the new tokens work.
            let newRefresh = try #require(try answers[0].jsonObject()["refresh"] as? String)
            #expect(try await gw.session(of: login.access).revokedAt == nil)

            gw.clock.advance(.seconds(6))
            let late = try await gw.refresh(refresh)
            #expect(late.status == 401, "past the interval a replaced token is reuse")
            #expect(try await gw.session(of: login.access).revokedAt != nil)
            #expect(try await gw.refresh(newRefresh).status == 401)
        }
    }

    @Test("refresh_reuse_interval = 0s (the default): a duplicate is reuse and revokes the session")
    func strictReuseByDefault() async throws {
        try await withAuthGateway { _, gw in
            let login = try await gw.login()
            let refresh = try #require(login.refresh)
            #expect(try await gw.refresh(refresh).status == 200)
            #expect(try await gw.refresh(refresh).status == 401)
            #expect(try await gw.session(of: login.access).revokedAt != nil)
        }
    }
}
