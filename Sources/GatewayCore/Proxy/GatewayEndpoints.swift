import NIOCore
import NIOHTTP1

/// The gateway's own endpoints (`/healthz`, `/readyz`, login/refresh/logout) and the per-route auth decision,
/// as the connection handler sees them.
public struct GatewayEndpoints: Sendable {
    public enum Endpoint: Sendable {
        case health
        case ready
    }

    /// Answers whether the store can be used; nil when there is no store to ask.
    public var readiness: (@Sendable (any EventLoop) -> EventLoopFuture<Bool>)?

    public init(readiness: (@Sendable (any EventLoop) -> EventLoopFuture<Bool>)? = nil) {
        self.readiness = readiness
    }

    func match(_ path: Substring) -> Endpoint? {
        switch path {
        case "/healthz": .health
        case "/readyz": .ready
        default: nil
        }
    }

    func respond(_ endpoint: Endpoint, head: HTTPRequestHead, body: ByteBuffer, language: Language,
                 eventLoop: any EventLoop) -> EventLoopFuture<LocalResponse> {
        guard head.method == .GET || head.method == .HEAD else {
            return eventLoop.makeFailedFuture(GatewayError.methodNotAllowed)
        }
        switch endpoint {
        case .health:
            return eventLoop.makeSucceededFuture(LocalResponse(status: .ok, json: #"{"status":"ok"}"#))
        case .ready:
            guard let readiness else {
                return eventLoop.makeSucceededFuture(LocalResponse(status: .ok, json: #"{"status":"ready"}"#))
            }
            return readiness(eventLoop).map { ready in
                ready
                    ? LocalResponse(status: .ok, json: #"{"status":"ready"}"#)
                    : LocalResponse(status: .serviceUnavailable, json: #"{"status":"store_unavailable"}"#)
            }.recover { _ in LocalResponse(status: .serviceUnavailable, json: #"{"status":"store_unavailable"}"#) }
        }
    }

    func authorize(head: HTTPRequestHead, route: Route, isPreflight: Bool, eventLoop: any EventLoop) -> Deferred<AuthDecision> {
        if isPreflight || route.auth == .public { return .now(.forward(.anonymous)) }
        if route.auth == .optional && !head.headers.contains(name: "authorization") { return .now(.forward(.anonymous)) }
        return .now(.deny(.notAuthenticated))
    }
}
