/// The JavaScript clients (clients/js: authFetch, and installRenewal on the page's own axios) and the demo page in
/// headless Chromium, through the real gateway executable in front of the real demo upstream
/// (scripts/demo_upstream.py): silent renewal (docs/http.md#renewal) as a browser sees it, in one tab and across tabs, for 20
/// requests at once, from another origin (CORS answered by the upstream, the renewal header exposed by the gateway;
/// the HttpOnly refresh cookie), and the one login prompt after a logout or a revocation.
import Foundation
import Testing

// Serialized: seven Chromiums at once (55 s instead of 113 s for the suite) load 2 cores enough to fail the timing
// tests of other suites (deadlines, PostgreSQL outages) that run beside them.
@Suite("Browser: the JavaScript clients in headless Chromium", .serialized,
       .enabled(if: BrowserFlow.canRun, BrowserFlow.unavailableReason))
struct BrowserTests {
    enum Client: String, CaseIterable, Sendable {
        case fetch, axios
    }

    /// Access tokens live 3 s, no leeway: each flow waits access_ttl + 1 s for a token to expire. (2 s leaves a
    /// loaded run too little: token times are whole seconds, so a fresh token may have just over 1 s left.)
    static let accessTTL = 3

    /// The gateway in front of `upstream` (the API, its credential check, and the pages under /demo/ and
    /// /public/); `cookie`: the refresh token goes in an HttpOnly cookie for every path of the host.
    static func config(upstream: String, cookie: Bool = false) -> TestConfig {
        var config = TestConfig()
        config.tokens = [
            "secret_file": #""secret.key""#,
            "access_ttl": TestConfig.quoted("\(accessTTL)s"),
            "leeway": #""0s""#,
        ]
        config.renewal = ["grace": #""10s""#]
        config.store = ["url": #""sqlite:gateway.db""#]
        config.auth = [
            "verify_url": TestConfig.quoted(upstream + "/auth/verify-credentials"),
            "claims": #"{ role = "/role", scope = "/scope" }"#,
        ]
        if cookie {
            // Path "/" so that the browser's API calls carry it too, and the upstream's echo can tell it came.
            config.auth["refresh_delivery"] = #""cookie""#
            config.auth["cookie_path"] = #""/""#
        }
        config.log = ["access": #""off""#]
        config.upstreams = [.init("api", targets: [upstream])]
        config.routes = [.init("/api/", auth: "required"), .init("/public/", auth: "public"), .init("/demo/", auth: "public")]
        return config
    }

    /// The demo upstream and the gateway in front of it; `body` gets the gateway's base URL.
    static func withDemoStack<T>(corsOrigins: [String] = [], cookie: Bool = false,
                               _ body: (String) async throws -> T) async throws -> T {
        try await withDemoUpstream(corsOrigins: corsOrigins) { upstream in
            try await withGatewayProcess(config(upstream: upstream.baseURL, cookie: cookie)) { _, port in
                try await body("http://127.0.0.1:\(port)")
            }
        }
    }

    static func flowArguments(gateway: String, client: Client) -> [String] {
        ["--gateway", gateway, "--client", client.rawValue, "--ttl", String(accessTTL)]
    }

    struct SameOrigin: Decodable {
        var loginToken: String
        var fresh: BrowserFlow.Call
        var renewal: BrowserFlow.Call
        var storedAfterRenewal: String?
        var otherTab: BrowserFlow.Call
        var afterOtherTab: BrowserFlow.Call
        var storedAfterOtherTab: String?
        var beforeParallel: String?
        var parallelStatuses: [Int]
        var parallelRenewed: [String?]
        var storedAfterParallel: String?
        var prompts: [String]
    }

    @Test(arguments: Client.allCases)
    func sameOriginRenewal(_ client: Client) async throws {
        let result = try await Self.withDemoStack { gateway in
            try await BrowserFlow.run("same-origin", Self.flowArguments(gateway: gateway, client: client), as: SameOrigin.self)
        }
        #expect(result.fresh.status == 200)
        #expect(result.fresh.renewed == nil, "a valid token was renewed")
        #expect(result.fresh.body?.userId == "42")

        // Past access_ttl: 200, and the stored token is the header's.
        #expect(result.renewal.status == 200)
        let renewed = try #require(result.renewal.renewed, "no X-Access-Token after access_ttl")
        #expect(renewed != result.loginToken)
        #expect(result.storedAfterRenewal == renewed, "the stored token is not the renewed one")
        #expect(result.renewal.body?.claims?.jti == (try JWTParts.jti(renewed)), "the upstream did not see the new token")

        // Another tab renewed: this tab sends that tab's token. Had it sent its own older one, the gateway would
        // answer with that same successor again (the grace rule); sending the other tab's gets no renewal at all,
        // or (if it has expired meanwhile on a slow run) a successor of its own.
        let otherTabs = try #require(result.otherTab.renewed, "the other tab's call was not renewed")
        #expect(result.storedAfterOtherTab == otherTabs || result.storedAfterOtherTab == result.afterOtherTab.renewed)
        #expect(result.afterOtherTab.status == 200)
        if let again = result.afterOtherTab.renewed {
            #expect(try JWTParts.jti(again) != (try JWTParts.jti(otherTabs)), "this tab sent its own, older token")
        } else {
            #expect(result.afterOtherTab.body?.claims?.jti == (try JWTParts.jti(otherTabs)))
        }

        // 20 calls at once with one expired token: all 200, one new token (one jti), and it is the stored one.
        #expect(result.parallelStatuses == Array(repeating: 200, count: 20))
        let successors = try result.parallelRenewed.map { try JWTParts.jti(try #require($0, "a parallel answer without the renewal header")) }
        #expect(Set(successors).count == 1, "several lineages: \(Set(successors))")
        let stored = try #require(result.storedAfterParallel)
        #expect(stored != result.beforeParallel)
        #expect(try JWTParts.jti(stored) == successors.first)
        #expect(result.prompts.isEmpty)
    }

    struct CrossOrigin: Decodable {
        struct Login: Decodable {
            var status: Int
            var access: String
            var refreshInBody: Bool
        }
        /// A call the browser refused (CORS) shows as an error.
        struct Refusable: Decodable {
            var status: Int?
            var error: String?
        }
        var login: Login
        var withoutCredentials: BrowserFlow.Call
        var fresh: BrowserFlow.Call
        var renewal: BrowserFlow.Call
        var storedAfterRenewal: String?
        var documentCookie: String
        var otherOriginCall: Refusable
    }

    @Test(arguments: Client.allCases)
    func crossOriginRenewalAndRefreshCookie(_ client: Client) async throws {
        // The application's page is served from another port (another demo upstream); the API allows that origin.
        let result = try await withDemoUpstream { pageServer in
            try await Self.withDemoStack(corsOrigins: [pageServer.baseURL], cookie: true) { gateway in
                try await BrowserFlow.run("cross-origin", Self.flowArguments(gateway: gateway, client: client) + ["--page", pageServer.baseURL],
                                          as: CrossOrigin.self)
            }
        }
        #expect(result.login.status == 201)
        #expect(!result.login.refreshInBody, "refresh_delivery = cookie put the refresh token in the body")

        // The cookie goes along only with credentials: "include" (axios: withCredentials).
        #expect(result.withoutCredentials.status == 200)
        #expect(result.withoutCredentials.body?.cookieNames == [])
        #expect(result.fresh.status == 200)
        #expect(result.fresh.body?.cookieNames?.contains("refresh") == true, "the refresh cookie was not sent")
        #expect(result.fresh.renewed == nil)

        // Renewed across origins: the header is readable because the gateway lists it in Access-Control-Expose-Headers.
        #expect(result.renewal.status == 200)
        let renewed = try #require(result.renewal.renewed, "the renewal header was not readable from the other origin")
        #expect(renewed != result.login.access)
        #expect(result.storedAfterRenewal == renewed)
        #expect(result.renewal.body?.cookieNames?.contains("refresh") == true)

        // HttpOnly: the page's script never sees it (its path is "/" and cookies ignore ports, so it would).
        #expect(!result.documentCookie.contains("refresh"), "document.cookie: \(result.documentCookie)")

        // An origin the API does not allow gets nothing: CORS is the upstream's answer, not a blanket one.
        #expect(result.otherOriginCall.error != nil, "a call from an origin not allowed went through: \(result.otherOriginCall)")
    }

    struct LoginRequired: Decodable {
        struct Refusal: Decodable, Equatable {
            var status: Int
            var code: String?
        }
        var logoutStatus: Int
        var afterLogout: [Refusal]
        var promptsAfterLogout: [String]
        var storedAfterLogout: String?
        var withoutToken: [Refusal]
        var promptsWithoutToken: [String]
        var revokeStatus: Int
        var afterRevoke: [Refusal]
        var promptsAfterRevoke: [String]
        var storedAfterRevoke: String?
    }

    @Test(arguments: Client.allCases)
    func logoutAndRevocationAskForALoginOnce(_ client: Client) async throws {
        let result = try await Self.withDemoStack { gateway in
            try await BrowserFlow.run("login-required", Self.flowArguments(gateway: gateway, client: client), as: LoginRequired.self)
        }
        let blacklisted = Array(repeating: LoginRequired.Refusal(status: 401, code: "token_not_valid"), count: 5)
        // Logged out through the client, token kept by the application: 5 calls at once, one prompt.
        #expect(result.logoutStatus == 204)
        #expect(result.afterLogout == blacklisted)
        #expect(result.promptsAfterLogout == ["token_not_valid"])
        #expect(result.storedAfterLogout == nil)
        // Calls before the next login carry no token: no new prompt.
        #expect(result.withoutToken == Array(repeating: LoginRequired.Refusal(status: 401, code: "not_authenticated"), count: 3))
        #expect(result.promptsWithoutToken == ["token_not_valid"])
        // A new login, its session revoked elsewhere: one more prompt.
        #expect(result.revokeStatus == 204)
        #expect(result.afterRevoke == blacklisted)
        #expect(result.promptsAfterRevoke == ["token_not_valid", "token_not_valid"])
        #expect(result.storedAfterRevoke == nil)
    }

    struct DemoPage: Decodable {
        struct Row: Decodable {
            var kind: String?
            var status: String?
            var cells: [String]
        }
        var firstToken: String?
        var stored: String?
        var rows: [Row]
    }

    @Test func demoPageShowsARenewal() async throws {
        let result = try await Self.withDemoStack { gateway in
            try await BrowserFlow.run("demo-page", ["--gateway", gateway, "--ttl", String(Self.accessTTL)], as: DemoPage.self)
        }
        let summary = result.rows.map { "\($0.kind ?? "?") \($0.status ?? "?"): \($0.cells.joined(separator: " | "))" }.joined(separator: "\n")
        #expect(result.rows.map(\.kind) == ["login", "request", "renewal"], "timeline:\n\(summary)")
        #expect(result.rows.map(\.status) == ["201", "200", "200"], "timeline:\n\(summary)")
        let first = try #require(result.firstToken)
        let stored = try #require(result.stored)
        #expect(stored != first)
        // The renewal row names the new token, and says the one sent had expired.
        let renewal = try #require(result.rows.last)
        #expect(renewal.cells.last?.contains(String(try JWTParts.jti(stored).prefix(8))) == true, "timeline:\n\(summary)")
        #expect(renewal.cells.contains { $0.contains("expired") }, "timeline:\n\(summary)")
    }
}
