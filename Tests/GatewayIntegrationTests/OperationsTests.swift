/// docs/operations.md#metrics, docs/operations.md#access-log-and-request-ids through the real listeners: the admin listener's metrics page moving with each kind of
/// request, accepted by Prometheus's own `promtool`; the access log's lines and keys; secrets kept out of both.
import Foundation
import GatewayCore
import Testing

/// A scraped metrics page: `name{labels}` (as written) to value.
struct MetricsPage {
    let text: String
    let samples: [String: Double]

    init(_ text: String) {
        self.text = text
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// The sample of `name` with exactly these labels (in any order); 0 when absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        for (key, value) in samples {
            guard key == name || key.hasPrefix(name + "{") else { continue }
            if MetricsPage.labels(of: key) == labels && MetricsPage.name(of: key) == name { return value }
        }
        return 0
    }

    static func name(of key: String) -> String { String(key.prefix { $0 != "{" }) }

    static func labels(of key: String) -> [String: String] {
        guard let open = key.firstIndex(of: "{"), key.hasSuffix("}") else { return [:] }
        var labels: [String: String] = [:]
        for pair in key[key.index(after: open)..<key.index(before: key.endIndex)].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
        }
        return labels
    }
}

extension AuthGateway {
    var adminPort: Int { gateway.adminAddress?.port ?? 0 }

    func metrics() async throws -> MetricsPage {
        let response = try await HTTPTestClient.get("/metrics", port: adminPort)
        #expect(response.status == 200)
        #expect(response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        return MetricsPage(response.bodyText)
    }

    /// The access log's lines so far, parsed (the writer runs on its own thread: waits for `count` lines).
    func accessLog(count: Int) async throws -> [[String: Any]] {
        let path = directory.url.appendingPathComponent("access.log").path
        var lines: [Substring] = []
        _ = await eventually(timeout: .seconds(5)) {
            lines = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n") ?? []
            return lines.count >= count
        }
        return try lines.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }
}

@Suite("Metrics and access log")
struct OperationsTests {
    static func configure(_ config: inout TestConfig) {
        config.admin = ["listen": #""127.0.0.1:0""#]
        config.log = ["access": #""access.log""#]
    }

    @Test("every auth outcome, session event and upstream outcome moves its counter; the page passes promtool")
    func countersMoveWithEachKindOfRequest() async throws {
        let deadUpstreamPort = try deadPort()
        try await withAuthGateway({ config in
            Self.configure(&config)
            config.upstreams.append(TestConfig.Upstream("dead", targets: ["http://127.0.0.1:\(deadUpstreamPort)"]))
            config.routes.append(TestConfig.Route("/dead/", upstream: "dead", auth: "public"))
        }) { _, gw in
            let login = try await gw.login()
            let bob = try await gw.login("bob", "builder")
            #expect(try await gw.get("/api/echo", token: login.access).status == 200)  // valid
            #expect(try await gw.get("/pub/echo").status == 200)  // public (with the 5 endpoint calls and /dead/: 7)
            #expect(try await gw.get("/opt/echo").status == 200)  // anonymous
            #expect(try await gw.get("/api/echo").status == 401)  // missing
            #expect(try await gw.get("/api/echo", token: "not.a.token").status == 401)  // invalid
            #expect(try await gw.get("/admin/echo", token: bob.access).status == 403)  // forbidden
            #expect(try await gw.get("/dead/echo").status == 502)  // public, upstream_unavailable
            let refreshed = try await gw.refresh(try #require(login.refresh))
            #expect(refreshed.status == 200)
            gw.clock.advance(.seconds(61))
            #expect(try await gw.get("/norenew/echo", token: bob.access).status == 401)  // expired
            #expect(try await gw.get("/api/echo", token: bob.access).status == 200)  // renewed
            #expect(try await gw.logout(access: bob.access).status == 204)
            #expect(try await gw.get("/api/echo", token: bob.access).status == 401)  // revoked
            #expect(try await gw.refresh(try #require(login.refresh)).status == 401)  // reuse: the session is revoked

            // A client connected while the page is read: the gauge counts it.
            let open = try await RawHTTPConnection.connect(port: gw.port)
            defer { open.close() }
            _ = await eventually { gw.gateway.server.openConnections.current >= 1 }
            let page = try await gw.metrics()
            for (outcome, expected) in [("public", 7.0), ("anonymous", 1), ("valid", 1), ("renewed", 1), ("missing", 1),
                                        ("invalid", 1), ("expired", 1), ("revoked", 1), ("forbidden", 1), ("store_unavailable", 0)] {
                #expect(page.value("gateway_auth_total", ["outcome": outcome]) == expected, "\(outcome)")
            }
            for (event, expected) in [("login", 2.0), ("refresh", 1), ("logout", 1), ("reuse_revoked", 1)] {
                #expect(page.value("gateway_sessions_total", ["event": event]) == expected, "\(event)")
            }
            #expect(page.value("gateway_renewals_total", ["result": "issued"]) == 1)
            #expect(page.value("gateway_requests_total", ["route": "/api/", "status": "200"]) == 2)
            #expect(page.value("gateway_requests_total", ["route": "/api/", "status": "401"]) == 3)
            #expect(page.value("gateway_requests_total", ["route": "/auth/login", "status": "201"]) == 2)
            #expect(page.value("gateway_requests_total", ["route": "/dead/", "status": "502"]) == 1)
            #expect(page.value("gateway_request_duration_seconds_count", ["route": "/api/"]) == 5)
            #expect(page.value("gateway_upstream_requests_total", ["upstream": "api", "outcome": "ok"]) == 4)
            #expect(page.value("gateway_upstream_requests_total", ["upstream": "dead", "outcome": "upstream_unavailable"]) == 1)
            #expect(page.value("gateway_upstream_duration_seconds_count", ["upstream": "api"]) == 4)
            #expect(page.value("gateway_revoked_sessions") == 2, "bob's logout and alice's reuse")
            #expect(page.value("gateway_open_connections") >= 1)
            #expect(page.value("gateway_store_errors_total") == 0)
            #expect(page.value("gateway_config_reloads_total", ["result": "success"]) == 0)
            try Self.promtoolAccepts(page.text)
        }
    }

    @Test("a renewal burst: issued 1, joined N-1")
    func renewalBurstIsOneIssuedAndTheRestJoined() async throws {
        try await withAuthGateway(threads: 2, Self.configure) { _, gw in
            let login = try await gw.login()
            gw.clock.advance(.seconds(61))
            let request = RequestBytes.make("GET", "/api/echo", headers: [("Authorization", "Bearer \(login.access)")])
            let port = gw.port
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<20 { group.addTask { try await HTTPTestClient.exchange(request, port: port).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 20))
            let page = try await gw.metrics()
            #expect(page.value("gateway_renewals_total", ["result": "issued"]) == 1)
            #expect(page.value("gateway_renewals_total", ["result": "joined"]) == 19)
            #expect(page.value("gateway_renewals_total", ["result": "refused"]) == 0)
            #expect(page.value("gateway_auth_total", ["outcome": "renewed"]) == 20)
        }
    }

    @Test("the admin listener answers /healthz and /readyz, and nothing of the public side")
    func adminListenerEndpoints() async throws {
        try await withAuthGateway(Self.configure) { _, gw in
            let health = try await HTTPTestClient.get("/healthz", port: gw.adminPort)
            let ready = try await HTTPTestClient.get("/readyz", port: gw.adminPort)
            let proxied = try await HTTPTestClient.get("/api/echo", port: gw.adminPort)
            let publicMetrics = try await HTTPTestClient.get("/metrics", port: gw.port)
            #expect(health.status == 200)
            #expect(ready.status == 200)
            #expect(proxied.status == 404)
            #expect(publicMetrics.status != 200, "metrics are never on the public listener")
        }
    }

    @Test("one access log line per request, every key of §7.2, ids matching the response")
    func accessLogLines() async throws {
        try await withAuthGateway(Self.configure) { upstream, gw in
            let login = try await gw.login()
            let ok = try await gw.get("/api/echo?page=2", token: login.access, headers: [("X-Request-Id", "trace-1")])
            _ = try await gw.get("/nowhere")
            let lines = try await gw.accessLog(count: 3)
            #expect(lines.count == 3)
            let keys: Set = ["time", "request_id", "remote_addr", "method", "path", "route", "status", "auth", "user_id", "sid",
                             "renewed", "upstream", "upstream_status", "duration_ms", "upstream_ms", "bytes_sent",
                             "bytes_received", "error"]
            for line in lines { #expect(Set(line.keys) == keys) }

            let loginLine = lines[0]
            #expect(loginLine["route"] as? String == "/auth/login")
            #expect(loginLine["status"] as? Int == 201)
            #expect(loginLine["auth"] as? String == "public")
            #expect(loginLine["user_id"] as? String == "42")
            #expect((loginLine["bytes_received"] as? Int ?? 0) > 0)

            let proxied = lines[1]
            #expect(proxied["request_id"] as? String == "trace-1")
            #expect(ok.header("x-request-id") == "trace-1")
            #expect(upstream.lastRequest?.header("x-request-id") == "trace-1")
            #expect(proxied["method"] as? String == "GET")
            #expect(proxied["path"] as? String == "/api/echo", "never the query")
            #expect(proxied["route"] as? String == "/api/")
            #expect(proxied["status"] as? Int == 200)
            #expect(proxied["upstream_status"] as? Int == 200)
            #expect(proxied["upstream"] as? String == "api")
            #expect(proxied["auth"] as? String == "valid")
            #expect(proxied["user_id"] as? String == "42")
            #expect(proxied["sid"] as? String == (try JWTParts.payload(login.access))["sid"]?.stringValue)
            #expect(proxied["renewed"] as? Bool == false)
            #expect(proxied["remote_addr"] as? String == "127.0.0.1")
            #expect(proxied["bytes_sent"] as? Int == ok.body.count)
            #expect(proxied["error"] is NSNull)
            #expect((proxied["duration_ms"] as? Double ?? -1) >= (proxied["upstream_ms"] as? Double ?? .infinity))
            let time = try #require(proxied["time"] as? String)
            #expect(ISO8601DateFormatter.withFractionalSeconds.date(from: time) != nil, "RFC 3339: \(time)")

            let notFound = lines[2]
            #expect(notFound["status"] as? Int == 404)
            #expect(notFound["route"] as? String == "none")
            #expect(notFound["error"] as? String == "not_found")
            #expect(notFound["auth"] is NSNull)
            #expect(notFound["upstream"] is NSNull)
            #expect(notFound["upstream_status"] is NSNull)
        }
    }

    @Test("a request refused before its head was read still gets an id, and a log line with its error")
    func aMalformedRequestIsAnsweredWithAnIdAndLogged() async throws {
        try await withAuthGateway(Self.configure) { _, gw in
            let connection = try await RawHTTPConnection.connect(port: gw.port)
            defer { connection.close() }
            try await connection.send("GET /api/echo HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
            let response = try await connection.readResponse()
            #expect(response.status == 400)
            let id = try #require(response.header("x-request-id"))
            #expect(id.count == 32)
            let line = try #require(try await gw.accessLog(count: 1).first)
            #expect(line["request_id"] as? String == id)
            #expect(line["status"] as? Int == 400)
            #expect(line["error"] as? String == "bad_request")
            #expect(line["route"] as? String == "none")
        }
    }

    @Test("a client that resets before the response head is logged as 499, and its upstream request as aborted")
    func aClientThatLeavesIsLoggedAs499() async throws {
        try await withAuthGateway({ config in
            Self.configure(&config)
            config.upstreams[0].options["timeout"] = #""30s""#
        }) { _, gw in
            let connection = try await RawHTTPConnection.connect(port: gw.port)
            // The upstream answers late (8 s; its timeout is 30 s here): on a loaded run the reset must still come
            // well before the answer, or the answer is written (and logged 200) first.
            try await connection.send(RequestBytes.make("GET", "/pub/slow?ms=8000"))
            try await Task.sleep(for: .milliseconds(300))
            // A reset: a plain close after a whole request reads as a half-close, which is still answered (docs/http.md#proxied-requests).
            connection.reset()
            let line = try #require(try await gw.accessLog(count: 1).first)
            #expect(line["status"] as? Int == 499)
            #expect(line["upstream"] as? String == "api")
            #expect(line["upstream_status"] is NSNull)
            let page = try await gw.metrics()
            #expect(page.value("gateway_upstream_requests_total", ["upstream": "api", "outcome": "aborted"]) == 1)
            #expect(page.value("gateway_requests_total", ["route": "/pub/", "status": "499"]) == 1)
        }
    }

    @Test("secrets never reach the log or the metrics: a query, a password, a cookie, a token")
    func secretsStayOut() async throws {
        try await withAuthGateway(Self.configure) { _, gw in
            let login = try await gw.loginResponse("alice", "wonderland")
            #expect(login.status == 201)
            let failed = try await gw.request("POST", "/auth/login", headers: [("Content-Type", "application/json")],
                                              body: #"{"username": "alice", "password": "MARKER-PASSWORD-91"}"#)
            #expect(failed.status == 401)
            let access = try #require((try login.jsonObject()["token"] as? [String: Any])?["access"] as? String)
            _ = try await gw.get("/api/echo?secret=MARKER-QUERY-92", token: access, headers: [("Cookie", "session=MARKER-COOKIE-93")])
            _ = try await gw.get("/api/echo", token: "MARKER-TOKEN-94.x.y")
            let lines = try await gw.accessLog(count: 4)
            let log = try String(contentsOfFile: gw.directory.url.appendingPathComponent("access.log").path, encoding: .utf8)
            let page = try await gw.metrics().text
            #expect(lines.count == 4)
            for marker in ["MARKER-PASSWORD-91", "MARKER-QUERY-92", "MARKER-COOKIE-93", "MARKER-TOKEN-94", access, "wonderland"] {
                #expect(!log.contains(marker), "\(marker) in the access log")
                #expect(!page.contains(marker), "\(marker) in the metrics")
            }
        }
    }

    @Test("the real binary: access lines on stdout, and with format = json its own stderr lines are JSON")
    func binaryWritesAccessLinesAndJSONLogs() async throws {
        let dead = try deadPort()
        let config = TestConfig.apiUpstream(TestConfig.Route("/", auth: "public")).with {
            $0.upstreams = [TestConfig.Upstream("api", targets: ["http://127.0.0.1:\(dead)"])]
            $0.admin = ["listen": #""127.0.0.1:0""#]
            $0.log = ["access": #""stdout""#, "format": #""json""#]
        }
        try await withGatewayProcess(config.text) { child, port in
            let response = try await HTTPTestClient.get("/anything?q=1", port: port, headers: [("X-Request-Id", "bin-1")])
            #expect(response.status == 502)
            var access: [String: Any]?
            var logged: [String: Any]?
            _ = await eventually(timeout: .seconds(5)) {
                access = child.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.first { $0["request_id"] as? String == "bin-1" }
                logged = child.stderr.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }.first { $0["message"] as? String == "upstream unavailable" }
                return access != nil && logged != nil
            }
            #expect(access?["status"] as? Int == 502)
            #expect(access?["error"] as? String == "upstream_unavailable")
            #expect(access?["path"] as? String == "/anything")
            #expect(logged?["level"] as? String == "info", "stderr:\n\(child.stderr)")
            #expect(logged?["time"] is String)
            #expect(child.stderr.contains("admin listening on 127.0.0.1:"))
        }
    }

    /// Prometheus's own checker (Debian's `prometheus` package; scripts/setup --tests installs it).
    static func promtoolAccepts(_ page: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["promtool", "check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(page.utf8))
        try input.fileHandleForWriting.close()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool check metrics:\n\(report)\n\(page)")
    }
}

extension ISO8601DateFormatter {
    static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
