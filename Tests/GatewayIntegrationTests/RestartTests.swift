/// Issue 3 §6: sessions committed before a `kill -9` survive a restart of the real `gateway` executable on the
/// same key and SQLite files.
import Foundation
import GatewayCore
import Glibc
import Testing

@Suite("Restart")
struct RestartTests {
    /// The key and the database in `directory`, which outlives each gateway process.
    static func config(directory: TemporaryDirectory, upstream: TestUpstream) -> TestConfig {
        var config = TestConfig.apiUpstream(.init("/api/", auth: "required"))
        config.server["shutdown_timeout"] = #""1s""#
        config.tokens = ["secret_file": TestConfig.quoted("\(directory.path)/secret.key"), "issuer": #""auth-gateway-tests""#]
        config.store = ["url": TestConfig.quoted("sqlite:\(directory.path)/gateway.db")]
        config.auth = ["verify_url": TestConfig.quoted("\(upstream.baseURL)/auth/verify-credentials")]
        config.upstreams[0].targets = [upstream.baseURL]
        return config
    }

    static func post(_ path: String, port: Int, body: String) async throws -> HTTPTestResponse {
        try await HTTPTestClient.exchange(
            RequestBytes.make("POST", path, headers: [("Content-Type", "application/json")], body: body), port: port)
    }

    @Test("kill -9, restart on the same files: the refresh token still refreshes and the access token still verifies")
    func sessionsSurviveKill() async throws {
        let files = try TemporaryDirectory()
        defer { files.remove() }
        try await withUpstream { upstream in
            let config = Self.config(directory: files, upstream: upstream)

            // First life: log in and rotate once (a committed write), then die without any chance to flush.
            let (access, rotatedAway, current) = try await withGatewayProcess(config) { child, port in
                let login = try await Self.post("/auth/login", port: port, body: #"{"username": "alice", "password": "wonderland"}"#)
                try #require(login.status == 201, "\(login.bodyText)")
                let first = try #require(login.json?["token"]?["refresh"]?.stringValue)
                let refreshed = try await Self.post("/auth/refresh", port: port, body: #"{"refresh": "\#(first)"}"#)
                try #require(refreshed.status == 200, "\(refreshed.bodyText)")
                let second = try #require(refreshed.json?["refresh"]?.stringValue)
                let access = try #require(refreshed.json?["access"]?.stringValue)

                child.signal(SIGKILL)
                let outcome = try await child.waitForExit(timeout: .seconds(10))
                #expect(outcome.signalled, "the gateway should have died of SIGKILL: \(outcome.stderr)")
                return (access, first, second)
            }
            #expect(FileManager.default.fileExists(atPath: files.path + "/gateway.db"))

            // Second life on the same key and database.
            try await withGatewayProcess(config) { _, port in
                let call = try await HTTPTestClient.get("/api/echo", port: port, headers: [("Authorization", "Bearer \(access)")])
                #expect(call.status == 200, "the access token from before the kill: \(call.bodyText)")
                #expect(upstream.lastRequest?.headers("x-auth-user-id") == ["42"])

                let refreshed = try await Self.post("/auth/refresh", port: port, body: #"{"refresh": "\#(current)"}"#)
                #expect(refreshed.status == 200, "the refresh token from before the kill: \(refreshed.bodyText)")
                let newAccess = try #require(refreshed.json?["access"]?.stringValue)
                let again = try await HTTPTestClient.get("/api/echo", port: port, headers: [("Authorization", "Bearer \(newAccess)")])
                #expect(again.status == 200)

                // The rotation history survived as well: the token rotated away before the kill is blacklisted.
                let reused = try await Self.post("/auth/refresh", port: port, body: #"{"refresh": "\#(rotatedAway)"}"#)
                #expect(reused.status == 401)
                #expect(reused.json == refreshTokenNotValidBody("Token is blacklisted"), "\(reused.bodyText)")
            }
        }
    }
}
