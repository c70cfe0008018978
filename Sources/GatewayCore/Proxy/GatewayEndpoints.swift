import NIOCore
import NIOHTTP1

/// Who sent a request, as the upstream and `verify_url` are told (SPEC §4, §5.4, §7.2).
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
    /// The public keys (SPEC §6.1); nil with HS* keys.
    let jwks: String?

    public init(authenticator: Authenticator, tokens: TokenEndpoints, auth: AuthConfig, jwks: String?,
                readiness: @escaping @Sendable () async throws -> Void) {
        self.authenticator = authenticator
        self.jwks = jwks
        self.tokens = tokens
        self.paths = (auth.loginPath, auth.refreshPath, auth.logoutPath)
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
