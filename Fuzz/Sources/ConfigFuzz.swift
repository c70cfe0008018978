import Foundation
import Logging
import NIOCore

/// The config reader (Config/ConfigReader.swift `parse(_:file:)`, docs/configuration.md) on any UTF-8 text (the file reader
/// refuses other bytes before `parse`).
///
/// - Any text: the process survives. toml++ runs uninstrumented with its assertions live (a failed one aborts),
///   and only behind `TOMLPreflight`, which must refuse every shape it would abort on (Fuzz/crashes/config-toml-*).
/// - A refused text: every problem names the file, has a message, and a line (when given) inside the text.
/// - An accepted config compiles into the runtime the listener uses (`GatewayRuntime`: route table, upstreams,
///   request builder) and renders as `gateway check` prints it; each route's own path matches that route,
///   and its upstream index names its upstream.
/// - Every accepted duration is usable where the gateway uses durations: as a NIO `TimeAmount` (nanoseconds
///   in Int64: idle and upstream timeouts, Proxy/ProxyHandler.swift) and added in milliseconds to the current
///   time (token and session lifetimes, Auth/TokenEndpoints.swift).
enum ConfigFuzz {
    static let reader = ConfigReader(environment: ["FUZZ_HOST": "127.0.0.1", "FUZZ_PORT": "8080", "FUZZ_EMPTY": "", "FUZZ_NESTED": "${FUZZ_HOST}"])
    static let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

    static func run(_ bytes: [UInt8]) {
        guard let text = String(bytes: bytes, encoding: .utf8) else { return }
        let config: GatewayConfig
        do {
            config = try reader.parse(text, file: "fuzz.conf")
        } catch {
            let lineCount = text.utf8.filter { $0 == 0x0A }.count + 1
            fuzzCheck(!error.problems.isEmpty, "a ConfigError without problems")
            for problem in error.problems {
                fuzzCheck(problem.file == "fuzz.conf", "problem names file \(problem.file)")
                fuzzCheck(!problem.message.isEmpty, "problem without a message: \(problem)")
                if let line = problem.line {
                    fuzzCheck((1...lineCount).contains(line), "problem on line \(line) of a \(lineCount)-line text: \(problem)")
                }
            }
            return
        }

        let runtime = GatewayRuntime(config: config, logger: logger)
        _ = runtime.routes.rendered(upstreams: config.upstreams)
        for route in config.routes {
            let matched = runtime.routes.match(Substring(route.path))
            fuzzCheck(matched?.path == route.path, "route \(route.path.debugDescription) matched \(String(describing: matched?.path))")
            fuzzCheck(matched.map { config.upstreams[$0.upstreamIndex].name == route.upstream } == true,
                      "route \(route.path.debugDescription) compiled to the wrong upstream")
        }
        checkDurations(config)
    }

    static func checkDurations(_ config: GatewayConfig) {
        let durations: [(String, Duration)] = [
            ("server.idle_timeout", config.server.idleTimeout), ("server.shutdown_timeout", config.server.shutdownTimeout),
            ("server.send_timeout", config.server.sendTimeout),
            ("tokens.access_ttl", config.tokens.accessTTL), ("tokens.refresh_ttl", config.tokens.refreshTTL),
            ("tokens.session_max_age", config.tokens.sessionMaxAge), ("tokens.leeway", config.tokens.leeway),
            ("renewal.window", config.renewal.window), ("renewal.grace", config.renewal.grace),
        ] + config.upstreams.flatMap { u in
            [("upstreams.connect_timeout", u.connectTimeout), ("upstreams.timeout", u.timeout), ("upstreams.read_timeout", u.readTimeout)]
        }
        for (key, duration) in durations {
            fuzzCheck(duration >= .zero, "\(key) accepted as negative \(duration)")
            // What the proxy does with the idle and upstream timeouts on every connection and request (TimeAmount
            // is Int64 nanoseconds, about 292 years: beyond that it traps; Fuzz/crashes/config-duration-*).
            _ = TimeAmount(duration)
            let nowMS = Int64(Date().timeIntervalSince1970 * 1000)
            fuzzCheck(!nowMS.addingReportingOverflow(Int64(duration.milliseconds)).overflow,
                      "\(key) = \(duration) overflows when added to the time in ms (Auth/TokenEndpoints.swift)")
        }
    }
}
