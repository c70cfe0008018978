import Foundation
import Logging
import NIOCore

/// The config reader (Config/ConfigReader.swift `parse(_:file:)`, SPEC §2) on any UTF-8 text (the file reader
/// refuses other bytes before `parse`).
///
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
        if !FuzzKnownIssues.strict && hitsTOMLAssertion(bytes) {
            return  // Fuzz/crashes/config-toml-*-aborts: reported, not fixed yet
        }
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

    /// Shapes that trip an assertion in toml++ (TOMLKit 0.6.0; `assert` aborts, in release builds too, as SwiftPM
    /// compiles C++ dependencies without NDEBUG), found by this target. Over bytes, ignoring strings and comments,
    /// so a few harmless inputs are skipped too.
    /// - `parse_key` (toml.hpp:15481): a table header `[`/`[[` at the start of a line (after a BOM, SP/HTAB) whose
    ///   first key byte, after SP/HTAB, is neither a bare-key character, a quote nor `]` (a newline counts): `[{`.
    /// - `parse_value` (toml.hpp:14994): `}` where an array expects a value, after `[` or `,` and any
    ///   whitespace, newlines and comments: `a=[}`.
    static func hitsTOMLAssertion(_ bytes: [UInt8]) -> Bool {
        func skipBlank(_ j: inout Int, newlines: Bool) {
            while j < bytes.count {
                let c = bytes[j]
                if c == 0x20 || c == 0x09 || (newlines && (c == 0x0A || c == 0x0D)) {
                    j += 1
                } else if newlines && c == UInt8(ascii: "#") {
                    while j < bytes.count, bytes[j] != 0x0A { j += 1 }
                } else {
                    return
                }
            }
        }
        var lineStart = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while lineStart < bytes.count {
            var j = lineStart
            skipBlank(&j, newlines: false)
            if j < bytes.count, bytes[j] == UInt8(ascii: "[") {
                j += 1
                if j < bytes.count, bytes[j] == UInt8(ascii: "[") { j += 1 }
                skipBlank(&j, newlines: false)
                if j < bytes.count {
                    let c = bytes[j]
                    let isBare = (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7A) || c == 0x2D || c == 0x5F
                    if !isBare && c != 0x22 && c != 0x27 && c != 0x5D { return true }
                }
            }
            guard let newline = bytes[lineStart...].firstIndex(of: 0x0A) else { break }
            lineStart = newline + 1
        }
        for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "[") || byte == UInt8(ascii: ",") {
            var j = i + 1
            skipBlank(&j, newlines: true)
            if j < bytes.count, bytes[j] == UInt8(ascii: "}") { return true }
        }
        return false
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
        // TimeAmount is Int64 nanoseconds: about 292 years.
        let limit = Int64.max / 1_000_000_000
        if !FuzzKnownIssues.strict && durations.contains(where: { $0.1.components.seconds >= limit }) {
            return  // Fuzz/crashes/config-duration-overflows-timeamount: reported, not fixed yet
        }
        for (key, duration) in durations {
            fuzzCheck(duration >= .zero, "\(key) accepted as negative \(duration)")
            // What the proxy does with the idle and upstream timeouts on every connection and request.
            _ = TimeAmount(duration)
            let nowMS = Int64(Date().timeIntervalSince1970 * 1000)
            fuzzCheck(!nowMS.addingReportingOverflow(Int64(duration.milliseconds)).overflow,
                      "\(key) = \(duration) overflows when added to the time in ms (Auth/TokenEndpoints.swift)")
        }
    }
}
