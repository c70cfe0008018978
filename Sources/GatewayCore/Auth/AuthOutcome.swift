/// What auth decided for a proxied request (docs/http.md#route-auth). Auth never builds header lines: the upstream request
/// builder turns an outcome into what the upstream sees, and `RenewalResponseHeaders` adds a renewed token to
/// what the client sees.
public enum AuthOutcome: Sendable, Equatable {
    /// Forwarded without identity. `keepsAuthorization`: the client's `Authorization` goes upstream unchanged
    /// (public routes, preflights, another scheme on an optional route); false drops it (a refused token on an
    /// optional route with `on_invalid = "anonymous"`).
    case anonymous(keepsAuthorization: Bool)
    case authenticated(Identity)
    /// Authenticated by a token renewed in flight: `token` replaces the client's upstream and goes back to it.
    case renewed(Identity, token: String)
    /// Refused. `renewedToken`: a renewal happened before the refusal (the route's permissions refused the
    /// renewed identity); the client gets the token all the same.
    case denied(GatewayError, renewedToken: String?)

    public static func denied(_ error: GatewayError) -> AuthOutcome { .denied(error, renewedToken: nil) }
}

/// Who a request is: the verified claims of its access token.
public struct Identity: Sendable, Equatable {
    public let claims: TokenClaims
    /// base64url(JSON of the claims): the `X-Auth-Claims` value, computed once per verified token.
    public let encodedClaims: String

    init(claims: TokenClaims) {
        self.init(claims: claims, encodedClaims: Base64URL.encode(Array(JSONValue.object(claims.all).jsonText.utf8)))
    }

    init(claims: TokenClaims, encodedClaims: String) {
        self.claims = claims
        self.encodedClaims = encodedClaims
    }
}

/// A value available now (the hot path) or after an async step (the store, the credential check). The request
/// path runs on event loops; `ProxyHandler` is the one place that runs a `later` step and brings its result
/// back to the connection's loop.
public enum Deferred<Value: Sendable>: Sendable {
    case now(Value)
    case later(@Sendable () async throws -> Value)
    /// Refused at once (an endpoint asked with the wrong method, say).
    case failed(GatewayError)
}
