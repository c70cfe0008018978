import NIOCore

/// What auth decided for a proxied request.
public enum AuthDecision: Sendable {
    case forward(ForwardGrant)
    case deny(GatewayError)
    /// Denied, but with response headers that must still reach the client (a renewed token).
    case denyWithHeaders(GatewayError, [(String, String)])
}

/// What a request that passed auth carries upstream and back.
public struct ForwardGrant: Sendable {
    /// `Authorization` to send instead of the client's (the renewed token); nil keeps the client's header,
    /// "" removes it.
    public var authorization: String?
    /// Identity headers the gateway vouches for.
    public var identityHeaders: [(String, String)]
    /// Headers added to the upstream's response (the renewed access token and its CORS exposure).
    public var responseHeaders: [(String, String)]

    public static let anonymous = ForwardGrant(authorization: nil, identityHeaders: [], responseHeaders: [])
}

/// A value available now (the hot path) or later (it needs the store).
public enum Deferred<Value: Sendable>: Sendable {
    case now(Value)
    case later(EventLoopFuture<Value>)
}
