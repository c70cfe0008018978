/// The auth suites' gateway config, section by section (TOML may not repeat a table, so overrides are merged
/// per key). Values are raw TOML (strings quoted).
struct AuthTestConfig {
    var upstream: String
    var verifyURL: String?
    var server: [String: String] = ["listen": #""127.0.0.1:0""#]
    var tokens: [String: String] = [
        "secret_file": #""secret.key""#,
        "issuer": #""auth-gateway-tests""#,
        "audience": #""api-clients""#,
        "access_ttl": #""1m""#,
        "refresh_ttl": #""1h""#,
        "session_max_age": #""1d""#,
    ]
    var renewal: [String: String] = ["window": #""1d""#, "grace": #""10s""#]
    var store: [String: String] = ["url": #""sqlite:gateway.db""#]
    var auth: [String: String] = [
        "claims": #"{ role = "/role", scope = "/scope" }"#,
        "refresh_delivery": #""body""#,
    ]
    var headers: [String: String] = [:]
    var upstreamTimeout = "5s"
    /// `[[routes]]` tables (the body of each, without the header line).
    var routes: [String] = AuthTestConfig.standardRoutes

    /// Routes used across the suites; TestUpstream answers on the last path segments so prefixes do not matter.
    static let standardRoutes: [String] = [
        #"path = "/api/"\#nupstream = "api"\#nauth = "required""#,
        #"path = "/opt/"\#nupstream = "api"\#nauth = "optional"\#non_invalid = "reject""#,
        #"path = "/optanon/"\#nupstream = "api"\#nauth = "optional"\#non_invalid = "anonymous""#,
        #"path = "/pub/"\#nupstream = "api"\#nauth = "public""#,
        #"path = "/admin/"\#nupstream = "api"\#nauth = "required"\#nrequire_claims = { role = ["admin", "staff"] }"#,
        #"path = "/write/"\#nupstream = "api"\#nauth = "required"\#nrequire_scopes = ["read", "write"]"#,
        #"path = "/norenew/"\#nupstream = "api"\#nauth = "required"\#nrenew = false"#,
        #"path = "/optnorenew/"\#nupstream = "api"\#nauth = "optional"\#nrenew = false"#,
        #"path = "/getonly/"\#nupstream = "api"\#nauth = "required"\#nmethods = ["GET"]"#,
    ]

    init(upstream: String, verifyURL: String? = nil) {
        self.upstream = upstream
        self.verifyURL = verifyURL
    }

    init(_ upstream: TestUpstream) {
        self.init(upstream: upstream.baseURL)
    }

    var text: String {
        func table(_ name: String, _ values: [String: String]) -> String {
            guard !values.isEmpty else { return "" }
            return "[\(name)]\n" + values.keys.sorted().map { "\($0) = \(values[$0]!)" }.joined(separator: "\n") + "\n\n"
        }
        var auth = self.auth
        auth["verify_url"] = "\"\(verifyURL ?? upstream + "/auth/verify-credentials")\""
        var text = table("server", server) + table("tokens", tokens) + table("renewal", renewal) + table("store", store)
            + table("auth", auth) + table("headers", headers)
        text += """
            [[upstreams]]
            name = "api"
            targets = ["\(upstream)"]
            timeout = "\(upstreamTimeout)"


            """
        for route in routes { text += "[[routes]]\n\(route)\n\n" }
        return text
    }
}
