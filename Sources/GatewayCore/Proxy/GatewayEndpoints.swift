import NIOCore
import NIOHTTP1

/// Who sent a request, as the upstream and `verify_url` are told (docs/http.md#the-gateways-own-endpoints, docs/http.md#forwarding, docs/operations.md#access-log-and-request-ids).
public struct Caller: Sendable {
    /// The X-Forwarded-For to send: the client's chain with its address appended.
    var forwardedFor: String?
    var scheme = "http"
    var requestID: String
}

/// The gateway's own endpoints (`/healthz`, `/readyz`, `/.well-known/jwks.json`, login/refresh/logout) and the
/// per-route auth decision, as the connection handler sees them.
public struct GatewayEndpoints: Sendable {
    public enum Endpoint: Int, Sendable, CaseIterable {
        case health, ready, jwks, login, refresh, logout

        /// Its path: fixed, or as `[auth]` sets it.
        func path(_ auth: AuthConfig) -> String {
            switch self {
            case .health: "/healthz"
            case .ready: "/readyz"
            case .jwks: "/.well-known/jwks.json"
            case .login: auth.loginPath
            case .refresh: auth.refreshPath
            case .logout: auth.logoutPath
            }
        }
    }

    let authenticator: Authenticator
    let tokens: TokenEndpoints
    let paths: (login: String, refresh: String, logout: String)
    /// Throws when the store cannot be used.
    let readiness: @Sendable () async throws -> Void
    /// The public keys (docs/operations.md#keys-kid-rotation-and-jwks); nil with HS* keys.
    let jwks: String?
    /// `auth.cors_origins`: the origins whose pages may call login, refresh and logout from another origin.
    let corsOrigins: Set<String>

    public init(authenticator: Authenticator, tokens: TokenEndpoints, auth: AuthConfig, jwks: String?,
                readiness: @escaping @Sendable () async throws -> Void) {
        self.authenticator = authenticator
        self.jwks = jwks
        self.tokens = tokens
        self.paths = (auth.loginPath, auth.refreshPath, auth.logoutPath)
        self.corsOrigins = Set(auth.corsOrigins)
        self.readiness = readiness
    }

    func match(_ path: Substring) -> Endpoint? {
        switch path {
        case "/healthz": .health
        case "/readyz": .ready
        case "/.well-known/jwks.json": .jwks
        case paths.login: .login
        case paths.refresh: .refresh
        case paths.logout: .logout
        default: nil
        }
    }

    func respond(_ endpoint: Endpoint, head: HTTPRequestHead, body: ByteBuffer, caller: Caller) -> Deferred<LocalResponse> {
        if head.method == .OPTIONS, head.headers.contains(name: "access-control-request-method"),
           !corsHeaders(endpoint, head: head).isEmpty {
            return .now(Self.preflightAnswer)
        }
        switch endpoint {
        case .health, .ready, .jwks:
            guard head.method == .GET || head.method == .HEAD else {
                return .failed(.methodNotAllowed)
            }
            if endpoint == .health { return .now(Self.healthy) }
            if endpoint == .jwks {
                // A secret is never published: with HS* keys there is nothing here.
                guard let jwks else { return .failed(.notFound) }
                return .now(LocalResponse(status: .ok, json: jwks, headers: ["cache-control": "public, max-age=300"]))
            }
            return .later { [readiness] in await Self.readiness(readiness) }
        case .login:
            return .later { [tokens] in try await tokens.login(head, body: body, caller: caller) }
        case .refresh:
            return .later { [tokens] in try await tokens.refresh(head, body: body) }
        case .logout:
            return .later { [tokens] in try await tokens.logout(head, body: body) }
        }
    }

    /// What every answer of login, refresh and logout to a page of a listed origin carries (its preflight's
    /// included): that origin, allowed with credentials (the refresh cookie). Empty for other origins and
    /// endpoints, and without `auth.cors_origins`: the browser then keeps the answer from the page.
    func corsHeaders(_ endpoint: Endpoint, head: HTTPRequestHead) -> HTTPHeaders {
        guard !corsOrigins.isEmpty, endpoint == .login || endpoint == .refresh || endpoint == .logout,
              let origin = head.headers.first(name: "origin"), corsOrigins.contains(origin) else { return [:] }
        return ["access-control-allow-origin": origin, "access-control-allow-credentials": "true", "vary": "Origin"]
    }

    /// A listed origin's preflight of a POST to login, refresh or logout: 204, allowing the request headers a client
    /// of these endpoints sends; browsers keep the answer for ten minutes.
    static let preflightAnswer = LocalResponse(status: .noContent, json: "", headers: [
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": "Content-Type, Authorization, Accept-Language, X-Request-Id",
        "access-control-max-age": "600",
    ])

    /// `/healthz`, here and on the admin listener: the process serves.
    static let healthy = LocalResponse(status: .ok, json: #"{"status":"ok"}"#)

    /// `/readyz`, here and on the admin listener: 200 when `check` (a store round trip) succeeds, 503 when not.
    static func readiness(_ check: @Sendable () async throws -> Void) async -> LocalResponse {
        do {
            try await check()
            return LocalResponse(status: .ok, json: #"{"status":"ready"}"#)
        } catch {
            return LocalResponse(status: .serviceUnavailable, json: #"{"status":"store_unavailable"}"#)
        }
    }

    func authorize(head: HTTPRequestHead, route: Route, isPreflight: Bool) -> Deferred<AuthOutcome> {
        authenticator.authorize(head, route: route, isPreflight: isPreflight)
    }
}
