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
    /// Answers whether the store can be used.
    let readiness: @Sendable (any EventLoop) -> EventLoopFuture<Void>

    public init(authenticator: Authenticator, tokens: TokenEndpoints, auth: AuthConfig,
                readiness: @escaping @Sendable (any EventLoop) -> EventLoopFuture<Void>) {
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

    func respond(_ endpoint: Endpoint, head: HTTPRequestHead, body: ByteBuffer, language: Language,
                 eventLoop: any EventLoop) -> EventLoopFuture<LocalResponse> {
        switch endpoint {
        case .health, .ready:
            guard head.method == .GET || head.method == .HEAD else {
                return eventLoop.makeFailedFuture(GatewayError.methodNotAllowed)
            }
            if endpoint == .health {
                return eventLoop.makeSucceededFuture(LocalResponse(status: .ok, json: #"{"status":"ok"}"#))
            }
            return readiness(eventLoop)
                .map { LocalResponse(status: .ok, json: #"{"status":"ready"}"#) }
                .recover { _ in LocalResponse(status: .serviceUnavailable, json: #"{"status":"store_unavailable"}"#) }
        case .login:
            return tokens.login(head, body: body, on: eventLoop)
        case .refresh:
            return tokens.refresh(head, body: body, on: eventLoop)
        case .logout:
            return tokens.logout(head, body: body, on: eventLoop)
        }
    }

    func authorize(head: HTTPRequestHead, route: Route, isPreflight: Bool, eventLoop: any EventLoop) -> Deferred<AuthDecision> {
        authenticator.authorize(head, route: route, isPreflight: isPreflight, on: eventLoop)
    }
}
