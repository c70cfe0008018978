import NIOCore
import NIOHTTP1

/// The gateway's own endpoints (`/healthz`, `/readyz`, login/refresh/logout) and the per-route auth decision,
/// as the connection handler sees them.
public struct GatewayEndpoints: Sendable {
    public enum Endpoint: Sendable {
        case health, ready, login, refresh, logout
    }

    let authenticator: Authenticator
    let tokens: TokenEndpoints
    let paths: (login: String, refresh: String, logout: String)
    /// Throws when the store cannot be used.
    let readiness: @Sendable () async throws -> Void

    public init(authenticator: Authenticator, tokens: TokenEndpoints, auth: AuthConfig,
                readiness: @escaping @Sendable () async throws -> Void) {
        self.authenticator = authenticator
        self.tokens = tokens
        self.paths = (auth.loginPath, auth.refreshPath, auth.logoutPath)
        self.readiness = readiness
    }

    func match(_ path: Substring) -> Endpoint? {
        switch path {
        case "/healthz": .health
        case "/readyz": .ready
        case paths.login: .login
        case paths.refresh: .refresh
        case paths.logout: .logout
        default: nil
        }
    }

    func respond(_ endpoint: Endpoint, head: HTTPRequestHead, body: ByteBuffer) -> Deferred<LocalResponse> {
        switch endpoint {
        case .health, .ready:
            guard head.method == .GET || head.method == .HEAD else {
                return .later { throw GatewayError.methodNotAllowed }
            }
            if endpoint == .health { return .now(LocalResponse(status: .ok, json: #"{"status":"ok"}"#)) }
            return .later { [readiness] in
                do {
                    try await readiness()
                    return LocalResponse(status: .ok, json: #"{"status":"ready"}"#)
                } catch {
                    return LocalResponse(status: .serviceUnavailable, json: #"{"status":"store_unavailable"}"#)
                }
            }
        case .login:
            return .later { [tokens] in try await tokens.login(head, body: body) }
        case .refresh:
            return .later { [tokens] in try await tokens.refresh(head, body: body) }
        case .logout:
            return .later { [tokens] in try await tokens.logout(head, body: body) }
        }
    }

    func authorize(head: HTTPRequestHead, route: Route, isPreflight: Bool) -> Deferred<AuthOutcome> {
        authenticator.authorize(head, route: route, isPreflight: isPreflight)
    }
}
