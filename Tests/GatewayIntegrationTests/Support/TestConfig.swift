/// A gateway config for a test, built section by section and rendered as the TOML the gateway reads: one
/// builder instead of the same text retyped in every suite. A test states only what it changes
/// (`config.server["idle_timeout"] = #""1s""#`); TOML may not repeat a table, so a change is a key, never more text.
/// Keys of the single tables and the options of upstreams and routes are raw TOML values (strings quoted).
struct TestConfig: Sendable {
    var server: [String: String] = ["listen": #""127.0.0.1:0""#]
    var tokens: [String: String] = [:]
    var renewal: [String: String] = [:]
    var store: [String: String] = [:]
    var auth: [String: String] = [:]
    var headers: [String: String] = [:]
    var admin: [String: String] = [:]
    var log: [String: String] = [:]
    var upstreams: [Upstream] = []
    var routes: [Route] = []

    /// An `[[upstreams]]` table.
    struct Upstream: Sendable {
        var name: String
        var targets: [String]
        /// Its other keys (`timeout`, `connect_timeout`, `read_timeout`, `host`), raw TOML.
        var options: [String: String]

        init(_ name: String, targets: [String], _ options: [String: String] = [:]) {
            self.name = name
            self.targets = targets
            self.options = options
        }
    }

    /// A `[[routes]]` table.
    struct Route: Sendable {
        var path: String
        var upstream: String
        /// As written in the file, so a test can write one the gateway refuses.
        var auth: String
        /// Its other keys (`strip_prefix`, `methods`, `renew`, `require_claims`…), raw TOML.
        var options: [String: String]

        init(_ path: String, upstream: String = "api", auth: String, _ options: [String: String] = [:]) {
            self.path = path
            self.upstream = upstream
            self.auth = auth
            self.options = options
        }
    }

    /// One upstream `api` at `${UPSTREAM}` (what `withUpstreamAndGateway` fills in) and `routes`.
    static func apiUpstream(_ routes: Route...) -> TestConfig {
        var config = TestConfig()
        config.upstreams = [Upstream("api", targets: ["${UPSTREAM}"])]
        config.routes = routes
        return config
    }

    /// One upstream `api` at `${UPSTREAM}` and one public route for everything.
    static var publicCatchAll: TestConfig { apiUpstream(Route("/", auth: "public")) }

    /// This config with `change` made: `.publicCatchAll.with { $0.server["idle_timeout"] = #""1s""# }`.
    func with(_ change: (inout TestConfig) -> Void) -> TestConfig {
        var changed = self
        change(&changed)
        return changed
    }

    /// `value` as a TOML basic string.
    static func quoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// The config file.
    var text: String {
        func keys(_ values: [String: String]) -> String {
            values.keys.sorted().map { "\($0) = \(values[$0]!)\n" }.joined()
        }
        func table(_ name: String, _ values: [String: String]) -> String {
            values.isEmpty ? "" : "[\(name)]\n" + keys(values) + "\n"
        }
        var text = table("server", server) + table("tokens", tokens) + table("renewal", renewal) + table("store", store)
            + table("auth", auth) + table("headers", headers) + table("admin", admin) + table("log", log)
        for upstream in upstreams {
            text += "[[upstreams]]\nname = \(Self.quoted(upstream.name))\n"
                + "targets = [\(upstream.targets.map(Self.quoted).joined(separator: ", "))]\n" + keys(upstream.options) + "\n"
        }
        for route in routes {
            text += "[[routes]]\npath = \(Self.quoted(route.path))\nupstream = \(Self.quoted(route.upstream))\n"
                + "auth = \(Self.quoted(route.auth))\n" + keys(route.options) + "\n"
        }
        return text
    }
}
