/// The JavaScript clients (clients/js: authFetch, and installRenewal on the page's own axios) and the demo page in
/// headless Chromium, through the real gateway executable in front of the real demo upstream
/// (scripts/demo_upstream.py): silent renewal (docs/http.md#renewal) as a browser sees it, in one tab and across tabs, for 20
/// requests at once, from another origin (a page of an `auth.cors_origins` origin logs in, refreshes with the HttpOnly
/// refresh cookie and logs out through the gateway; the API's CORS answered by the upstream, the renewal header
/// exposed by the gateway), and the one login prompt after a logout or a revocation.
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
    /// /public/); `pageOrigin`: a page on that origin may log in, refresh and log out (`auth.cors_origins`), and
    /// the refresh token goes in an HttpOnly cookie (the default `cookie_path = "/auth"`).
    static func config(upstream: String, pageOrigin: String? = nil) -> TestConfig {
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
        if let pageOrigin {
            config.auth["refresh_delivery"] = #""cookie""#
            config.auth["cors_origins"] = "[\(TestConfig.quoted(pageOrigin))]"
        }
        config.log = ["access": #""off""#]
        config.upstreams = [.init("api", targets: [upstream])]
        config.routes = [.init("/api/", auth: "required"), .init("/public/", auth: "public"), .init("/demo/", auth: "public")]
        return config
    }

    /// The demo upstream and the gateway in front of it; `body` gets the gateway's base URL.
    /// `pageOrigin`: the origin of the application's page, allowed by the API and in `auth.cors_origins`.
    static func withDemoStack<T>(pageOrigin: String? = nil, _ body: (String) async throws -> T) async throws -> T {
        try await withDemoUpstream(corsOrigins: pageOrigin.map { [$0] } ?? []) { upstream in
            try await withGatewayProcess(config(upstream: upstream.baseURL, pageOrigin: pageOrigin)) { _, port in
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
        /// A POST to login or refresh as the page saw it (`error`: the browser kept the answer from it, CORS).
        struct Post: Decodable {
            var status: Int?
            var error: String?
            var access: String?
            var refreshInBody: Bool?
            /// 400 `{"refresh": ["This field is required."]}`: no refresh token came.
            var refreshRequired: Bool?
        }
        /// A call the browser refused (CORS) shows as an error.
        struct Refusable: Decodable {
            var status: Int?
            var error: String?
        }
        /// The refresh cookie as the browser keeps it (DevTools), for a given URL; its value only as a digest.
        struct Cookie: Decodable {
            var path: String
            var httpOnly: Bool
            var secure: Bool
            var sameSite: String?
            var valueDigest: String
        }
        struct Session: Decodable {
            var cookieAfterLogin: Cookie?
            var cookieForApi: Cookie?
            var fresh: BrowserFlow.Call
            var renewal: BrowserFlow.Call
            var storedAfterRenewal: String?
            var refreshWithoutCredentials: Post
            var refresh: Post
            var cookieAfterRefresh: Cookie?
            var afterRefresh: BrowserFlow.Call
            var documentCookie: DocumentCookie
            var otherOriginCall: Refusable
            var logoutStatus: Int
            var cookieAfterLogout: Cookie?
            var refreshAfterLogout: Post
            var afterLogout: Refusable
            var prompts: [String]
            var afterLogoutOutside: LoginRequired.Refusal
        }
        /// `document.cookie` on a page (of the page's origin) under the cookie's path, and the cookie DevTools says
        /// the browser would send there.
        struct DocumentCookie: Decodable {
            var cookie: Cookie?
            var text: String
        }
        var otherOriginLogin: Post
        var login: Post
        /// Absent when the login failed.
        var session: Session?
    }

    @Test(arguments: Client.allCases)
    func crossOriginLoginRenewalRefreshAndLogout(_ client: Client) async throws {
        // The application's page is served from another port (another demo upstream): a listed origin for the
        // gateway's login, refresh and logout (auth.cors_origins), an allowed one for the API (the upstream).
        let result = try await withDemoUpstream { pageServer in
            try await Self.withDemoStack(pageOrigin: pageServer.baseURL) { gateway in
                try await BrowserFlow.run("cross-origin", Self.flowArguments(gateway: gateway, client: client) + ["--page", pageServer.baseURL],
                                          as: CrossOrigin.self)
            }
        }
        // An origin not in cors_origins cannot read the login's answer: fetch rejects, axios has no response.
        #expect(result.otherOriginLogin.error != nil && result.otherOriginLogin.status == nil,
                "a login from an origin not in cors_origins was readable: \(result.otherOriginLogin)")

        // The page's own origin logs in through the gateway, with credentials.
        #expect(result.login.status == 201, "login from the page's origin: \(result.login)")
        #expect(result.login.refreshInBody != true, "refresh_delivery = cookie put the refresh token in the body")
        let session = try #require(result.session, "the cross-origin login failed: \(result.login)")
        let login = try #require(result.login.access)
        let cookie = try #require(session.cookieAfterLogin, "the login's refresh cookie was not kept (credentials, Allow-Credentials)")
        #expect(cookie.path == "/auth" && cookie.httpOnly && cookie.secure && cookie.sameSite == "Strict", "\(cookie)")

        // The API: the cookie's path keeps the refresh token from it, credentials or not.
        #expect(session.cookieForApi == nil)
        #expect(session.fresh.status == 200)
        #expect(session.fresh.body?.cookieNames == [])
        #expect(session.fresh.renewed == nil)

        // Renewed across origins: the header is readable because the gateway lists it in Access-Control-Expose-Headers.
        #expect(session.renewal.status == 200)
        let renewed = try #require(session.renewal.renewed, "the renewal header was not readable from the other origin")
        #expect(renewed != login)
        #expect(session.storedAfterRenewal == renewed)

        // Refresh: the cookie goes along only with credentials (without, the gateway's readable 400: no token).
        #expect(session.refreshWithoutCredentials.status == 400 && session.refreshWithoutCredentials.refreshRequired == true,
                "\(session.refreshWithoutCredentials)")
        #expect(session.refresh.status == 200, "refresh with the cookie: \(session.refresh)")
        #expect(session.refresh.refreshInBody == false)
        let refreshed = try #require(session.refresh.access, "no access token readable in the refresh's answer")
        #expect(refreshed != renewed)
        let rotated = try #require(session.cookieAfterRefresh, "the rotated refresh cookie was not kept")
        #expect(rotated.valueDigest != cookie.valueDigest, "rotate_refresh: the cookie was not replaced")
        #expect(session.afterRefresh.status == 200)
        #expect(session.afterRefresh.body?.claims?.jti == (try JWTParts.jti(refreshed)), "the upstream did not see the refreshed token")

        // HttpOnly: a script on a page the cookie applies to (its path, any port of the host) does not see it.
        #expect(session.documentCookie.cookie?.httpOnly == true, "no refresh cookie applies to the page: \(session.documentCookie)")
        #expect(!session.documentCookie.text.contains("refresh"), "document.cookie: \(session.documentCookie.text)")

        // An origin the API does not allow gets nothing: CORS is the upstream's answer, not a blanket one.
        #expect(session.otherOriginCall.error != nil, "a call from an origin not allowed went through: \(session.otherOriginCall)")

        // Logout from the page's origin, with credentials: 204, the cookie cleared, the session over.
        #expect(session.logoutStatus == 204)
        #expect(session.cookieAfterLogout == nil, "the refresh cookie outlived the logout")
        #expect(session.refreshAfterLogout.status == 400 && session.refreshAfterLogout.refreshRequired == true,
                "\(session.refreshAfterLogout)")
        #expect(session.afterLogoutOutside == LoginRequired.Refusal(status: 401, code: "token_not_valid"))
        // The gateway's own refusals on API routes (this 401 token_not_valid) carry no CORS header: the browser
        // keeps them from the page, so across origins a client sees a network error where onLoginRequired
        // should run. auth.cors_origins covers login, refresh and logout only.
        withKnownIssue("the gateway's own 401 on a proxied route is unreadable across origins") {
            #expect(session.afterLogout.status == 401, "\(session.afterLogout)")
            #expect(session.prompts == ["token_not_valid"])
        }
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
