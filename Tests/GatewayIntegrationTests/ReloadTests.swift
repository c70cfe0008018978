/// docs/operations.md#reload reload: new routes and keys for the next request (keep-alive connections opened before included),
/// requests in flight finish on what they started with, a bad file changes nothing and says why, and SIGHUP on
/// the real binary reloads without ending it.
import Foundation
import Glibc
import GatewayCore
import Testing

extension InProcessGateway {
    /// The file the gateway reloads from: in its directory, so relative paths resolve as at start.
    var configPath: String { directory.url.appendingPathComponent("gateway.conf").path }

    /// Writes `text` (placeholders filled as at start) as the gateway's config file and reloads from it.
    @discardableResult
    func reload(_ text: String, _ values: [String: String] = [:]) async throws -> ReloadOutcome {
        var all = values
        all["TMP"] = directory.path
        _ = try directory.write("gateway.conf", ConfigText.inProcess(ConfigText.fill(text, all)))
        return await gateway.reload(from: configPath, reader: ConfigReader(environment: [:]))
    }
}

@Suite("Reload")
struct ReloadTests {
    static func get(_ connection: RawHTTPConnection, _ target: String, token: String? = nil) async throws -> HTTPTestResponse {
        try await connection.send(RequestBytes.make("GET", target, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []))
        return try await connection.readResponse()
    }

    static let before = TestConfig.apiUpstream(Route("/a/", auth: "public"), Route("/c/", auth: "public"))
    typealias Route = TestConfig.Route

    @Test("routes added, removed and changed take effect for the next request, on a connection opened before too")
    func routesChange() async throws {
        try await withUpstreamAndGateway(Self.before) { upstream, gw in
            let kept = try await RawHTTPConnection.connect(port: gw.port)
            defer { kept.close() }
            #expect(try await Self.get(kept, "/a/echo").status == 200)
            #expect(try await Self.get(kept, "/b/echo").status == 404)
            #expect(try await Self.get(kept, "/c/echo").status == 200)

            let after = TestConfig.apiUpstream(Route("/b/", auth: "public"), Route("/c/", auth: "required"))
            #expect(try await gw.reload(after.text, ["UPSTREAM": upstream.baseURL]) == .reloaded)
            #expect(gw.gateway.reloads == (success: 1, failure: 0))

            for connection in [kept, try await RawHTTPConnection.connect(port: gw.port)] {
                #expect(try await Self.get(connection, "/a/echo").status == 404, "removed")
                #expect(try await Self.get(connection, "/b/echo").status == 200, "added")
                #expect(try await Self.get(connection, "/c/echo").status == 401, "now required")
                if connection !== kept { connection.close() }
            }
        }
    }

    @Test("a request in flight during a reload finishes on the routes it started with")
    func inFlightRequestFinishes() async throws {
        try await withUpstreamAndGateway(Self.before) { upstream, gw in
            let connection = try await RawHTTPConnection.connect(port: gw.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/a/slow?ms=1500"))
            #expect(await eventually { upstream.requests.count == 1 }, "the slow request never reached the upstream")

            let after = TestConfig.apiUpstream(Route("/b/", auth: "public"))
            #expect(try await gw.reload(after.text, ["UPSTREAM": upstream.baseURL]) == .reloaded)
            #expect(try await HTTPTestClient.get("/a/echo", port: gw.port).status == 404, "new requests see the new routes")

            let response = try await connection.readResponse(timeout: .seconds(10))
            #expect(response.status == 200)
            #expect(try response.jsonObject()["uri"] as? String == "/a/slow?ms=1500")
            #expect(try await Self.get(connection, "/a/echo").status == 404, "the next request on it sees the new ones")
        }
    }

    @Test("a bad file changes nothing, names each problem and counts as a failure")
    func badFilesChangeNothing() async throws {
        try await withUpstreamAndGateway(Self.before) { upstream, gw in
            let good = TestConfig.apiUpstream(Route("/b/", auth: "public"))
            let bad: [(what: String, text: String, mentions: [String])] = [
                ("invalid TOML", good.text + "\n[[routes]\n", ["invalid TOML"]),
                ("unknown keys", good.with { $0.server["listne"] = #""x""#; $0.renewal["enabeld"] = "true" }.text,
                 ["server.listne", "renewal.enabeld"]),
                ("an unreadable key file", good.with { $0.tokens["previous_secret_files"] = #"["missing.key"]"# }.text,
                 ["missing.key"]),
                ("a changed listen address", good.with { $0.server["listen"] = #""127.0.0.1:1""# }.text, ["server.listen"]),
                ("a changed store", good.with { $0.store["url"] = #""sqlite:other.db""# }.text, ["store.url"]),
                ("a changed listen address and store",
                 good.with { $0.server["listen"] = #""127.0.0.1:1""#; $0.store["url"] = #""sqlite:other.db""# }.text,
                 ["server.listen", "store.url"]),
            ]
            for (index, file) in bad.enumerated() {
                let outcome = try await gw.reload(file.text, ["UPSTREAM": upstream.baseURL])
                guard case .failed(let problems) = outcome else {
                    Issue.record("\(file.what): reloaded")
                    continue
                }
                #expect(problems.count == file.mentions.count, "\(file.what): \(problems)")
                for (problem, mention) in zip(problems, file.mentions) {
                    #expect(problem.contains(mention), "\(file.what): \(problem)")
                }
                #expect(gw.gateway.reloads == (success: 0, failure: index + 1))
                #expect(try await HTTPTestClient.get("/a/echo", port: gw.port).status == 200, "\(file.what): old routes kept")
                #expect(try await HTTPTestClient.get("/b/echo", port: gw.port).status == 404, "\(file.what)")
            }
            #expect(!FileManager.default.fileExists(atPath: gw.directory.path + "/other.db"), "the refused store was not opened")
            #expect(try await gw.reload(good.text, ["UPSTREAM": upstream.baseURL]) == .reloaded)
            #expect(try await HTTPTestClient.get("/b/echo", port: gw.port).status == 200)
        }
    }

    @Test("key rotation by reload: old tokens verify, renew and refresh onto the new key; new tokens carry its kid")
    func keyRotation() async throws {
        let keys = try TemporaryDirectory()
        defer { keys.remove() }
        let oldKey = keys.path + "/old.key", newKey = keys.path + "/new.key"
        try (KeysAndRevocationTests.oldSecret + "\n").write(toFile: oldKey, atomically: true, encoding: .utf8)
        try (KeysAndRevocationTests.newSecret + "\n").write(toFile: newKey, atomically: true, encoding: .utf8)
        let clock = MovableClock()
        try await withAuthGateway(clock: clock, { $0.tokens["secret_file"] = TestConfig.quoted(oldKey) }) { upstream, gw in
            var config = TestConfig.auth(upstream: upstream.baseURL)
            let kept = try await RawHTTPConnection.connect(port: gw.port)
            defer { kept.close() }
            let login = try await gw.login()
            let oldKid = try #require(try KeysAndRevocationTests.kid(login.access))
            #expect(oldKid == KeysAndRevocationTests.hmacKID(KeysAndRevocationTests.oldSecret))
            #expect(try await Self.get(kept, "/api/echo", token: login.access).status == 200)

            config.tokens["secret_file"] = TestConfig.quoted(newKey)
            config.tokens["previous_secret_files"] = "[\(TestConfig.quoted(oldKey))]"
            #expect(try await gw.running.reload(config.text) == .reloaded)
            let newKid = KeysAndRevocationTests.hmacKID(KeysAndRevocationTests.newSecret)
            #expect(try await Self.get(kept, "/api/echo", token: login.access).status == 200, "a token of the retired key")
            #expect(try KeysAndRevocationTests.kid(try await gw.login().access) == newKid)

            clock.advance(.seconds(61))
            let renewal = try await Self.get(kept, "/api/echo", token: login.access)
            #expect(renewal.status == 200, "\(renewal.bodyText)")
            #expect(try KeysAndRevocationTests.kid(try #require(renewal.header("x-access-token"))) == newKid)
            let refreshed = try await gw.refresh(try #require(login.refresh))
            #expect(refreshed.status == 200, "\(refreshed.bodyText)")
            #expect(try KeysAndRevocationTests.kid(try #require(try refreshed.jsonObject()["access"] as? String)) == newKid)

            // Dropping the retired key: its tokens stop verifying with the next reload.
            config.tokens["previous_secret_files"] = "[]"
            #expect(try await gw.running.reload(config.text) == .reloaded)
            #expect(try await Self.get(kept, "/api/echo", token: login.access).status == 401)
            #expect(gw.gateway.reloads == (success: 2, failure: 0))
        }
    }

    @Test("a reload moves the access log to its new file and counts in gateway_config_reloads_total")
    func reloadMovesTheAccessLogAndCounts() async throws {
        let start = Self.before.with {
            $0.admin = ["listen": #""127.0.0.1:0""#]
            $0.log = ["access": #""first.log""#]
        }
        try await withUpstreamAndGateway(start) { upstream, gw in
            #expect(try await HTTPTestClient.get("/a/one", port: gw.port).status == 200)
            let moved = start.with { $0.log = ["access": #""second.log""#] }
            #expect(try await gw.reload(moved.text, ["UPSTREAM": upstream.baseURL]) == .reloaded)
            #expect(try await gw.reload("not toml [", ["UPSTREAM": upstream.baseURL]) != .reloaded)
            #expect(try await HTTPTestClient.get("/a/two", port: gw.port).status == 200)
            func lines(_ name: String) -> String {
                (try? String(contentsOfFile: gw.directory.url.appendingPathComponent(name).path, encoding: .utf8)) ?? ""
            }
            _ = await eventually(timeout: .seconds(5)) { lines("second.log").contains("/a/two") }
            #expect(lines("first.log").contains("\"path\":\"/a/one\""))
            #expect(!lines("first.log").contains("/a/two"))
            #expect(lines("second.log").contains("\"path\":\"/a/two\""))
            let admin = try #require(gw.gateway.adminAddress?.port)
            let page = MetricsPage(try await HTTPTestClient.get("/metrics", port: admin).bodyText)
            #expect(page.value("gateway_config_reloads_total", ["result": "success"]) == 1)
            #expect(page.value("gateway_config_reloads_total", ["result": "failure"]) == 1)
        }
    }

    @Test("log.format cannot change by reload: the process's log handler is chosen once")
    func logFormatNeedsARestart() async throws {
        try await withUpstreamAndGateway(Self.before) { upstream, gw in
            let json = Self.before.with { $0.log = ["access": #""off""#, "format": #""json""#] }
            guard case .failed(let problems) = try await gw.reload(json.text, ["UPSTREAM": upstream.baseURL]) else {
                Issue.record("a reload that changes log.format must fail")
                return
            }
            #expect(problems.count == 1 && problems[0].contains("log.format"), "\(problems)")
        }
    }

    @Test("SIGHUP on the real binary: a good file is reloaded, a bad one refused with its reasons, and it keeps serving")
    func sighupReloadsTheRunningBinary() async throws {
        try await withUpstream { upstream in
            let values = ["UPSTREAM": upstream.baseURL]
            try await withGatewayProcess(Self.before, values) { child, port in
                let kept = try await RawHTTPConnection.connect(port: port)
                defer { kept.close() }
                #expect(try await Self.get(kept, "/b/echo").status == 404)

                let after = TestConfig.apiUpstream(Route("/b/", auth: "public"))
                _ = try child.directory.write("gateway.conf", ConfigText.fill(after.text, values))
                let signalled = ContinuousClock.now
                child.signal(SIGHUP)
                #expect(await eventually(timeout: .seconds(10)) { child.stderr.contains("config reloaded") }, "stderr:\n\(child.stderr)")
                print("SIGHUP to `config reloaded`: \(ContinuousClock.now - signalled)")
                #expect(child.isRunning)
                #expect(try await Self.get(kept, "/b/echo").status == 200)
                #expect(try await HTTPTestClient.get("/a/echo", port: port).status == 404)

                let misspelt = after.with { $0.server["listne"] = #""x""#; $0.renewal["enabeld"] = "true" }
                _ = try child.directory.write("gateway.conf", ConfigText.fill(misspelt.text, values))
                child.signal(SIGHUP)
                #expect(await eventually(timeout: .seconds(10)) { child.stderr.contains("config reload failed: ") }, "stderr:\n\(child.stderr)")
                let failures = child.stderr.split(separator: "\n").filter { $0.contains("config reload failed: ") }
                #expect(failures.count == 2, "one line per problem: \(failures)")
                #expect(failures.contains { $0.contains("server.listne") } && failures.contains { $0.contains("renewal.enabeld") })
                #expect(try await Self.get(kept, "/b/echo").status == 200, "the refused file changed nothing")

                child.signal(SIGTERM)
                let outcome = try await child.waitForExit(timeout: .seconds(10))
                #expect(outcome.status == 0 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
            }
        }
    }
}
