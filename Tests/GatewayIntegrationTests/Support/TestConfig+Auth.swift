/// The auth suites' config: login, refresh and logout against TestUpstream's credential check, the signing key
/// and a SQLite store in the test's directory, and a route for each kind of protection.
extension TestConfig {
    /// `upstream`: a TestUpstream's base URL, both the `api` upstream and the login's credential check.
    static func auth(upstream: String) -> TestConfig {
        var config = TestConfig()
        config.tokens = [
            "secret_file": #""secret.key""#,
            "issuer": #""auth-gateway-tests""#,
            "audience": #""api-clients""#,
            "access_ttl": #""1m""#,
            "refresh_ttl": #""1h""#,
            "session_max_age": #""1d""#,
        ]
        config.renewal = ["window": #""1d""#, "grace": #""10s""#]
        config.store = ["url": #""sqlite:gateway.db""#]
        config.auth = [
            "claims": #"{ role = "/role", scope = "/scope" }"#,
            "refresh_delivery": #""body""#,
            "verify_url": quoted(upstream + "/auth/verify-credentials"),
        ]
        config.upstreams = [Upstream("api", targets: [upstream], ["timeout": #""5s""#])]
        config.routes = authRoutes
        return config
    }

    /// Routes used across the auth suites; TestUpstream answers on the last path segments so prefixes do not matter.
    static let authRoutes: [Route] = [
        Route("/api/", auth: "required"),
        Route("/opt/", auth: "optional", ["on_invalid": #""reject""#]),
        Route("/optanon/", auth: "optional", ["on_invalid": #""anonymous""#]),
        Route("/pub/", auth: "public"),
        Route("/admin/", auth: "required", ["require_claims": #"{ role = ["admin", "staff"] }"#]),
        Route("/write/", auth: "required", ["require_scopes": #"["read", "write"]"#]),
        Route("/norenew/", auth: "required", ["renew": "false"]),
        Route("/optnorenew/", auth: "optional", ["renew": "false"]),
        Route("/getonly/", auth: "required", ["methods": #"["GET"]"#]),
    ]
}
