import ExtrasBase64
import NIOCore
import NIOHTTP1

/// Applies a route's auth mode to a request (SPEC §5.1): forwards with identity, renews, or denies.
/// A valid token is decided synchronously, without the store.
public struct Authenticator: Sendable {
    let verifier: TokenVerifier
    let renewal: RenewalCoordinator?
    let renewalConfig: RenewalConfig
    let headers: IdentityHeadersConfig
    let clock: @Sendable () -> Int64
    let cache = VerifiedTokenCache()

    /// `clock` returns milliseconds since the epoch.
    public init(verifier: TokenVerifier, renewal: RenewalCoordinator?, config: GatewayConfig, clock: @escaping @Sendable () -> Int64) {
        self.verifier = verifier
        self.renewal = renewal
        self.renewalConfig = config.renewal
        self.headers = config.headers
        self.clock = clock
    }

    public func authorize(_ head: HTTPRequestHead, route: Route, isPreflight: Bool, on eventLoop: any EventLoop) -> Deferred<AuthDecision> {
        let credential = BearerCredential(headers: head.headers)
        if credential == .duplicated { return .now(.deny(.badRequest)) }
        if isPreflight || route.auth == .public { return .now(.forward(.anonymous)) }

        let token: Substring
        switch credential {
        case .none, .otherScheme, .duplicated:
            // Another scheme is passed upstream untouched on optional routes.
            return .now(route.auth == .required ? .deny(.notAuthenticated) : .forward(.anonymous))
        case .malformed:
            return .now(refuse(.badAuthorizationHeader, route: route))
        case .token(let t):
            token = t
        }

        let now = clock()
        let nowSeconds = now / 1000
        guard let entry = cache.lookup(token) ?? verifiedAndCached(token, now: nowSeconds) else {
            return .now(refuse(.accessTokenNotValid(.invalid), route: route))
        }
        // Same rule as the verifier's: expired once now >= exp + leeway.
        guard nowSeconds >= verifier.expiry(of: entry.claims) else {
            return .now(grant(entry.claims, encodedClaims: entry.encodedClaims, route: route, renewedToken: nil))
        }
        // Expired, and verified in every other respect: renewable, perhaps.
        let claims = entry.claims
        guard let renewal, renewalConfig.enabled, route.renew,
              renewal.policy.withinWindow(expiresAt: claims.expiresAt, now: now)
        else { return .now(refuse(.accessTokenNotValid(.expired), route: route)) }
        let clock = self.clock
        return .later(renewal.renew(claims, now: clock, on: eventLoop).map { [self] outcome in
            switch outcome {
            case .renewed(let newToken, _):
                // Every request that shared this renewal, and the client's next one, finds the new token cached.
                guard let renewed = cache.lookup(newToken[...]) ?? verifiedAndCached(newToken[...], now: clock() / 1000) else {
                    return refuse(.accessTokenNotValid(.invalid), route: route)
                }
                return grant(renewed.claims, encodedClaims: renewed.encodedClaims, route: route, renewedToken: newToken)
            case .rejected:
                return refuse(.accessTokenNotValid(.expired), route: route)
            }
        })
    }

    /// Verifies `token` and caches it when it verifies in every respect but perhaps `exp`: a burst of requests
    /// carrying one expired token then verifies it once, and so does the token a renewal just minted (a successor
    /// handed out again within `grace` may itself have expired by now; it is forwarded all the same, SPEC §5.3).
    private func verifiedAndCached(_ token: Substring, now nowSeconds: Int64) -> VerifiedTokenCache.Entry? {
        switch verifier.verify(token, as: .access, now: nowSeconds) {
        case .valid(let claims), .expired(let claims):
            let entry = VerifiedTokenCache.Entry(token: String(token), claims: claims, encodedClaims: Authenticator.encode(claims))
            cache.insert(entry)
            return entry
        case .invalid:
            return nil
        }
    }

    /// A refusal, or anonymous forwarding on an optional route with `on_invalid = "anonymous"`
    /// (the rejected Authorization header is then not passed on).
    private func refuse(_ error: GatewayError, route: Route) -> AuthDecision {
        if route.auth == .optional && route.onInvalid == .anonymous {
            return .forward(ForwardGrant(authorization: "", identityHeaders: [], responseHeaders: []))
        }
        return .deny(error)
    }

    static func encode(_ claims: TokenClaims) -> String {
        Base64URL.encode(Array(JSONValue.object(claims.all).jsonText.utf8))
    }

    private func grant(_ claims: TokenClaims, encodedClaims: String, route: Route, renewedToken: String?) -> AuthDecision {
        var responseHeaders: [(String, String)] = []
        if let renewedToken {
            responseHeaders = [(renewalConfig.header, renewedToken), ("Access-Control-Expose-Headers", renewalConfig.header)]
        }
        guard RoutePermissions.allows(claims, route: route) else {
            // The renewed token still reaches the client: the renewal happened even if this call is refused.
            return renewedToken == nil ? .deny(.permissionDenied) : .denyWithHeaders(.permissionDenied, responseHeaders)
        }
        var identity: [(String, String)] = []
        identity.reserveCapacity(3)
        if !headers.userId.isEmpty { identity.append((headers.userId, claims.subject)) }
        if !headers.sessionId.isEmpty, let sid = claims.sessionID { identity.append((headers.sessionId, sid)) }
        if !headers.claims.isEmpty { identity.append((headers.claims, encodedClaims)) }
        let authorization: String?
        if !headers.forwardAuthorization {
            authorization = ""
        } else if let renewedToken {
            authorization = "Bearer " + renewedToken
        } else {
            authorization = nil
        }
        return .forward(ForwardGrant(authorization: authorization, identityHeaders: identity, responseHeaders: responseHeaders))
    }
}
