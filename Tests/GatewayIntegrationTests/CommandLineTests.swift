/// The `gateway` executable's commands (docs/operations.md#commands): serve's start-up line and exit codes, `check`'s output.
import Foundation
import GatewayCore
import Testing

@Suite("Command line")
struct CommandLineTests {
    static let valid = TestConfig(
        upstreams: [
            .init("api", targets: ["http://127.0.0.1:9000"]),
            .init("static", targets: ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]),
        ],
        routes: [
            .init("/public/", upstream: "static", auth: "public", ["strip_prefix": #""/public""#]),
            .init("/api/", auth: "public", ["methods": #"["GET", "POST"]"#]),
        ]
    )

    @Test func serveLogsTheListeningAddressAndServes() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(.publicCatchAll, ["UPSTREAM": upstream.baseURL]) { child, port in
                #expect(port > 0)
                #expect(child.stderr.contains("listening on 127.0.0.1:\(port)"), "stderr:\n\(child.stderr)")
                let health = try await HTTPTestClient.get("/healthz", port: port)
                #expect(health.status == 200)
                let through = try await HTTPTestClient.get("/through", port: port)
                #expect(through.status == 200)
                #expect(upstream.lastRequest?.uri == "/through")
            }
        }
    }

    /// `scripts/bench` splits the gateway's CPU by thread name; profilers and `top -H` show the same names.
    @Test func serveNamesItsEventLoopAndTransportThreads() async throws {
        try await withUpstream { upstream in
            try await withGatewayProcess(.publicCatchAll, ["UPSTREAM": upstream.baseURL]) { child, port in
                let through = try await HTTPTestClient.get("/through", port: port)
                #expect(through.status == 200)
                let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/task")
                let names = tasks.compactMap { try? String(contentsOfFile: "/proc/\(child.pid)/task/\($0)/comm", encoding: .utf8) }
                    .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                #expect(names.contains("curl-0"), "threads: \(names)")
                #expect(names.contains { $0.hasPrefix("NIO-ELT-") }, "threads: \(names)")
            }
        }
    }

    /// Either listener on a taken port: exit 1 with one line in plain words, naming the address (and the key, for the
    /// admin listener), never NIO's internal function name or errno, and no `listening on` line before it.
    @Test(arguments: ["server.listen", "admin.listen"])
    func serveExitsOneWhenTheAddressIsInUse(setting: String) async throws {
        try await withUpstream { occupant in
            let taken = TestConfig.quoted("127.0.0.1:\(occupant.port)")
            let config = TestConfig.publicCatchAll.with {
                if setting == "admin.listen" { $0.admin["listen"] = taken } else { $0.server["listen"] = taken }
            }
            let outcome = try await GatewayProcess.run(["serve", "--config", "${CONFIG}"], config: config.text, values: ["UPSTREAM": occupant.baseURL])
            #expect(outcome.status == 1 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
            let named = setting == "admin.listen" ? " (admin.listen)" : ""
            let expected = "gateway: cannot listen on 127.0.0.1:\(occupant.port)\(named): address already in use"
            #expect(outcome.stderrLines.last == expected, "stderr:\n\(outcome.stderr)")
            #expect(!outcome.stderr.contains("bind(") && !outcome.stderr.contains("errno"), "stderr:\n\(outcome.stderr)")
            #expect(!outcome.stderr.contains("listening on"), "stderr:\n\(outcome.stderr)")
        }
    }

    @Test func versionPrintsTheRelease() async throws {
        let outcome = try await GatewayProcess.run(["--version"], config: nil)
        #expect(outcome.status == 0, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stdoutLines == [GatewayVersion.current], "stdout:\n\(outcome.stdout)")
    }

    @Test func serveExitsOneOnAnInvalidConfig() async throws {
        let config = TestConfig.publicCatchAll.with { $0.routes[0].options["bogus_key"] = "1" }
        let outcome = try await GatewayProcess.run(["serve", "--config", "${CONFIG}"], config: config.text, values: ["UPSTREAM": "http://127.0.0.1:9"])
        #expect(outcome.status == 1 && !outcome.signalled, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stderr.contains("bogus_key"))
        #expect(!outcome.stderr.contains("listening on"))
    }

    @Test func checkPrintsTheRouteTableForAValidConfig() async throws {
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: Self.valid.text)
        #expect(outcome.status == 0, "stderr:\n\(outcome.stderr)")
        let routeLines = outcome.stdoutLines.filter { $0.contains("/public/") || $0.contains("/api/") }
        #expect(routeLines.count == 2, "stdout:\n\(outcome.stdout)")
        let api = routeLines.first { $0.contains("/api/") } ?? ""
        #expect(api.contains("api") && api.contains("public") && api.contains("GET") && api.contains("POST"), "api row: \(api)")
        let staticRow = routeLines.first { $0.contains("/public/") } ?? ""
        #expect(staticRow.contains("static") && staticRow.contains("127.0.0.1:9001"), "static row: \(staticRow)")
    }

    @Test func checkNamesTheFileAndAnUnknownKey() async throws {
        let config = Self.valid.with { $0.routes[0].options = ["strip_prefx": #""/public""#] }
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1, "stdout:\n\(outcome.stdout)\nstderr:\n\(outcome.stderr)")
        let problem = outcome.stderrLines.first { $0.contains("routes[0].strip_prefx") }
        #expect(problem != nil, "no line names routes[0].strip_prefx; stderr:\n\(outcome.stderr)")
        #expect(problem?.contains("gateway.conf: routes[0].strip_prefx") == true, "the line does not name the file: \(problem ?? "")")
        #expect(outcome.stderrLines.count == 1, "one problem, one line; stderr:\n\(outcome.stderr)")
    }

    @Test func checkReportsABadValueAsDocumented() async throws {
        let config = Self.valid.with { $0.routes[1].auth = "requird" }
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1)
        let expected = #"gateway.conf: routes[1].auth: expected required, optional or public, got "requird""#
        #expect(outcome.stderrLines.contains { $0.hasSuffix(expected) || $0.contains(expected + " ") },
                "expected a line ending in \(expected); stderr:\n\(outcome.stderr)")
    }

    @Test func checkPrintsOneLinePerProblem() async throws {
        let config = Self.valid.with {
            $0.routes[1].auth = "requird"
            $0.routes[0].upstream = "nowhere"
            $0.server["idle_timeout"] = #""soon""#
        }
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1)
        let lines = outcome.stderrLines
        #expect(lines.count == 3, "stderr:\n\(outcome.stderr)")
        #expect(lines.contains { $0.contains("routes[1].auth") })
        #expect(lines.contains { $0.contains("routes[0].upstream") && $0.contains("nowhere") })
        #expect(lines.contains { $0.contains("server.idle_timeout") })
        #expect(lines.allSatisfy { $0.contains("gateway.conf") })
    }

    @Test func checkOfAMissingFileExitsOne() async throws {
        let outcome = try await GatewayProcess.run(["check", "--config", "/nonexistent/auth-gateway.conf"], config: nil)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("/nonexistent/auth-gateway.conf"))
    }

    /// toml++ fails an assertion on these (SIGABRT, exit 134, before ConfigReader refused them first).
    @Test(arguments: ["[{", "a=[}", "a = 1979-05-27 1\n", "a = 1979-05-27Tx:00"])
    func checkReportsTOMLTheParserWouldAbortOnAsInvalid(shape: String) async throws {
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: "# line 1\n" + shape)
        #expect(outcome.status == 1 && !outcome.signalled, "status \(outcome.status); stderr:\n\(outcome.stderr)")
        #expect(outcome.stderrLines.count == 1, "stderr:\n\(outcome.stderr)")
        let line = outcome.stderrLines.first ?? ""
        #expect(line.contains("gateway.conf: invalid TOML: ") && line.hasSuffix("(line 2)"), "stderr:\n\(outcome.stderr)")
    }

    @Test func checkReadsGatewayConfigFromTheEnvironmentThenTheWorkingDirectory() async throws {
        // ./gateway.conf in the working directory.
        let local = try await GatewayProcess.run(["check"], config: Self.valid.text)
        #expect(local.status == 0, "stderr:\n\(local.stderr)")
        #expect(local.stdout.contains("/api/"))

        // $GATEWAY_CONFIG wins over ./gateway.conf.
        let other = try TemporaryDirectory()
        defer { other.remove() }
        let path = try other.write("elsewhere.conf", Self.valid.with { $0.routes[1].path = "/from-env/" }.text)
        let fromEnvironment = try await GatewayProcess.run(["check"], config: Self.valid.text, environment: ["GATEWAY_CONFIG": path])
        #expect(fromEnvironment.status == 0, "stderr:\n\(fromEnvironment.stderr)")
        #expect(fromEnvironment.stdout.contains("/from-env/"))
    }

    @Test func environmentVariablesAreSubstituted() async throws {
        let config = Self.valid.with { $0.upstreams[0].targets = ["${TEST_API_TARGET}"] }
        let substituted = try await GatewayProcess.run(
            ["check", "--config", "${CONFIG}"], config: config.text, environment: ["TEST_API_TARGET": "http://10.1.2.3:8000"]
        )
        #expect(substituted.status == 0, "stderr:\n\(substituted.stderr)")
        #expect(substituted.stdout.contains("10.1.2.3:8000"))

        let missing = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: config.text)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("TEST_API_TARGET"), "stderr:\n\(missing.stderr)")
    }

    @Test func checkRejectsDuplicateRoutePathsAndBadSizes() async throws {
        let config = Self.valid.with {
            $0.routes[1].path = "/public/"
            $0.server["max_body_bytes"] = #""10 potatoes""#
        }
        let outcome = try await GatewayProcess.run(["check", "--config", "${CONFIG}"], config: config.text)
        #expect(outcome.status == 1)
        #expect(outcome.stderrLines.contains { $0.contains("routes[1].path") }, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stderrLines.contains { $0.contains("server.max_body_bytes") }, "stderr:\n\(outcome.stderr)")
    }

    @Test func theShippedGatewayConfIsValid() async throws {
        let shipped = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("gateway.conf")
        let text = try String(contentsOf: shipped, encoding: .utf8)
        let outcome = try await GatewayProcess.run(["check"], config: text)
        #expect(outcome.status == 0, "stderr:\n\(outcome.stderr)")
        #expect(outcome.stdout.contains("/api/"))
    }
}
