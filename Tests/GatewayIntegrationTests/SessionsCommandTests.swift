/// `gateway sessions list|revoke` (docs/operations.md#sessions-from-the-command-line), the real executable against the store of a running `gateway serve`
/// (SQLite in WAL mode; the test script's PostgreSQL): logins through the gateway are listed, a revocation from the
/// command line is refused by the running gateway within its `store.revocation_poll` as a logout is (docs/operations.md#revocation),
/// and a store that cannot be opened is one line and exit 1.
import Foundation
import Testing

@Suite("gateway sessions (command line)")
struct SessionsCommandTests {
    static let postgresURL = ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }

    /// SQLite, and PostgreSQL when the test script started one (required when AUTH_GATEWAY_REQUIRE_POSTGRES=1).
    static var stores: [String] {
        let required = ProcessInfo.processInfo.environment["AUTH_GATEWAY_REQUIRE_POSTGRES"] == "1"
        return ["sqlite"] + (postgresURL != nil || required ? ["postgres"] : [])
    }

    /// The auth config on `store`, revocations read every 200 ms. A PostgreSQL store is shared with other suites:
    /// the tests only look at their own user's sessions.
    static func config(_ store: String, upstream: TestUpstream) throws -> TestConfig {
        var config = TestConfig.auth(upstream: upstream.baseURL)
        let url = store == "postgres" ? try #require(postgresURL, "AUTH_GATEWAY_TEST_POSTGRES_URL is missing") : "sqlite:gateway.db"
        config.store = ["url": TestConfig.quoted(url), "revocation_poll": #""200ms""#]
        return config
    }

    /// Runs `gateway <arguments> --config <the running gateway's config>`.
    static func gateway(_ arguments: [String], configOf child: GatewayProcess) async throws -> ProcessOutcome {
        try await GatewayProcess.run(arguments + ["--config", child.configPath], config: nil)
    }

    static func login(_ user: String, port: Int) async throws -> (access: String, sid: String) {
        let request = RequestBytes.make("POST", "/auth/login", headers: [("Content-Type", "application/json")],
                                        body: #"{"username": "\#(user)", "password": "numbered"}"#)
        let response = try await HTTPTestClient.exchange(request, port: port, method: "POST")
        try #require(response.status == 201, "login: \(response.status) \(response.bodyText)")
        let access = try #require((try response.jsonObject()["token"] as? [String: Any])?["access"] as? String)
        return (access, try #require(try JWTParts.payload(access)["sid"]?.stringValue))
    }

    static func get(_ token: String, port: Int) async throws -> HTTPTestResponse {
        try await HTTPTestClient.get("/api/echo", port: port, headers: [("Authorization", "Bearer \(token)")])
    }

    /// Polls until the gateway refuses `token` as blacklisted, for at most 5 s (revocation_poll is 200 ms).
    static func refusedAsBlacklisted(_ token: String, port: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let response = try await get(token, port: port)
            if response.status == 401 && KeysAndRevocationTests.message(response) == "Token is blacklisted" { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The `--json` lines as objects; each must have exactly the five keys.
    static func jsonLines(_ outcome: ProcessOutcome) throws -> [[String: Any]] {
        try outcome.stdoutLines.map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(Set(object.keys) == ["sid", "user_id", "created_at", "expires_at", "revoked_at"], "\(line)")
            return object
        }
    }

    static func date(_ value: Any?) -> Date? {
        (value as? String).flatMap { try? Date($0, strategy: .iso8601) }
    }

    @Test("list shows a user's logins; revoke --session and --user end them on the running gateway", arguments: stores)
    func listAndRevokeWhileTheGatewayRuns(store: String) async throws {
        let id = Int64.random(in: 1_000_000_000...9_000_000_000)
        try await withUpstream { upstream in
            try await withGatewayProcess(try Self.config(store, upstream: upstream)) { child, port in
                let first = try await Self.login("user-\(id)", port: port)
                let second = try await Self.login("user-\(id)", port: port)
                #expect(try await Self.get(first.access, port: port).status == 200)

                let listed = try await Self.gateway(["sessions", "list", "--user", "\(id)", "--json"], configOf: child)
                #expect(listed.status == 0, "stderr:\n\(listed.stderr)")
                let sessions = try Self.jsonLines(listed)
                #expect(Set(sessions.compactMap { $0["sid"] as? String }) == [first.sid, second.sid], "\(listed.stdout)")
                for session in sessions {
                    #expect((session["user_id"] as? NSNumber)?.int64Value == id, "the integer id as the API gave it")
                    #expect(session["revoked_at"] is NSNull)
                    let created = try #require(Self.date(session["created_at"]), "\(session)")
                    let expires = try #require(Self.date(session["expires_at"]), "\(session)")
                    #expect(abs(created.timeIntervalSinceNow) < 120 && expires > created)
                }

                let one = try await Self.gateway(["sessions", "revoke", "--session", first.sid], configOf: child)
                #expect(one.status == 0, "stderr:\n\(one.stderr)")
                #expect(one.stdout == "revoked 1 session(s)\n")
                #expect(try await Self.refusedAsBlacklisted(first.access, port: port),
                        "the gateway still accepted the revoked session's token after 5 s (revocation_poll 200ms)")
                #expect(try await Self.get(second.access, port: port).status == 200, "the other session lives on")

                let rest = try await Self.gateway(["sessions", "revoke", "--user", "\(id)"], configOf: child)
                #expect(rest.status == 0, "stderr:\n\(rest.stderr)")
                #expect(rest.stdout == "revoked 1 session(s)\n")
                #expect(try await Self.refusedAsBlacklisted(second.access, port: port))

                let live = try await Self.gateway(["sessions", "list", "--user", "\(id)", "--json"], configOf: child)
                #expect(live.status == 0 && live.stdout.isEmpty, "\(live.stdout)\(live.stderr)")
                let ended = try await Self.gateway(["sessions", "list", "--user", "\(id)", "--include-ended", "--json"], configOf: child)
                let all = try Self.jsonLines(ended)
                #expect(Set(all.compactMap { $0["sid"] as? String }) == [first.sid, second.sid], "\(ended.stdout)")
                #expect(all.allSatisfy { Self.date($0["revoked_at"]) != nil }, "\(ended.stdout)")

                let table = try await Self.gateway(["sessions", "list", "--user", "\(id)", "--include-ended"], configOf: child)
                #expect(table.status == 0)
                #expect(table.stdoutLines.first?.hasPrefix("SID") == true, "\(table.stdout)")
                #expect(table.stdoutLines.dropFirst().filter { $0.contains(" revoked ") }.count == 2, "\(table.stdout)")
            }
        }
    }

    @Test("a SQLite store that does not exist: one line, exit 1, and nothing is created")
    func missingSQLiteStoreIsOneLineAndExitOne() async throws {
        var config = TestConfig.auth(upstream: "http://127.0.0.1:9")
        config.store = ["url": #""sqlite:no-such-dir/gateway.db""#]
        for arguments in [["sessions", "list", "--all"], ["sessions", "revoke", "--session", "s"]] {
            let child = try GatewayProcess.launch(arguments + ["--config", "${CONFIG}"], config: config.text)
            defer { child.cleanUp() }
            let outcome = try await child.waitForExit()
            #expect(outcome.status == 1 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
            #expect(outcome.stderrLines.count == 1 && outcome.stderr.contains("no-such-dir/gateway.db"), "stderr:\n\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: child.directory.path + "/no-such-dir"))
        }
    }

    @Test("a PostgreSQL store that refuses connections: one line, exit 1")
    func unreachablePostgresIsOneLineAndExitOne() async throws {
        var config = TestConfig.auth(upstream: "http://127.0.0.1:9")
        config.store = ["url": TestConfig.quoted("postgres://gateway@127.0.0.1:\(try deadPort())/db?sslmode=disable")]
        let outcome = try await GatewayProcess.run(["sessions", "revoke", "--user", "42", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stderrLines.count == 1 && outcome.stderr.contains("PostgreSQL"), "stderr:\n\(outcome.stderr)")
        #expect(outcome.stdout.isEmpty)
    }

    @Test("an invalid config is exit 1 naming the problem, as gateway check does")
    func invalidConfigIsExitOne() async throws {
        let config = TestConfig.auth(upstream: "http://127.0.0.1:9").with { $0.store["bogus_key"] = "1" }
        let outcome = try await GatewayProcess.run(["sessions", "list", "--all", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stderr.contains("bogus_key"))
    }

    @Test("exactly one of --user/--all (list) and --user/--session (revoke), else a usage error (exit 64)",
          arguments: [["list"], ["list", "--user", "1", "--all"], ["revoke"], ["revoke", "--user", "1", "--session", "s"]])
    func targetsAreExclusive(arguments: [String]) async throws {
        let outcome = try await GatewayProcess.run(["sessions"] + arguments + ["--config", "${CONFIG}"],
                                                   config: TestConfig.auth(upstream: "http://127.0.0.1:9").text)
        #expect(outcome.status == 64, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stderr.contains("exactly one of"), "stderr:\n\(outcome.stderr)")
        #expect(outcome.stdout.isEmpty)
    }
}
