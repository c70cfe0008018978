import NIOHTTP1

/// Applies a route's auth mode to a request (docs/http.md#route-auth) and returns a typed outcome. A valid token is decided at
/// once, without the store; only an expired token that may renew takes the `later` step, through the one
/// `RenewalCoordinator`.
public struct Authenticator: Sendable {
    let verifier: TokenVerifier
    let renewal: RenewalCoordinator?
    let renewalEnabled: Bool
    let revocations: RevocationList
    let clock: WallClock
    let cache = VerifiedTokenCache()

    public init(verifier: TokenVerifier, renewal: RenewalCoordinator?, revocations: RevocationList, config: GatewayConfig,
                clock: WallClock) {
        self.verifier = verifier
        self.renewal = renewal
        self.renewalEnabled = config.renewal.enabled
        self.revocations = revocations
        self.clock = clock
    }

    public func authorize(_ head: HTTPRequestHead, route: Route, isPreflight: Bool) -> Deferred<AuthOutcome> {
        let credential = BearerCredential(headers: head.headers)
        if credential == .duplicated { return .now(.denied(.badRequest)) }
        if isPreflight || route.auth == .public { return .now(.anonymous(keepsAuthorization: true)) }

        let token: Substring
        switch credential {
        case .none, .otherScheme, .duplicated:
            // Another scheme is passed upstream untouched on optional routes.
            return .now(route.auth == .required ? .denied(.notAuthenticated) : .anonymous(keepsAuthorization: true))
        case .malformed:
            return .now(refuse(.badAuthorizationHeader, route: route))
        case .token(let t):
            token = t
        }

        let now = clock.now()
        guard let identity = cache.lookup(token)?.identity ?? verifiedAndCached(token, now: now) else {
            return .now(refuse(.accessTokenNotValid(.invalid), route: route))
        }
        // A revoked session's tokens are refused, expired or not, whatever the cache holds (docs/operations.md#revocation).
        if let sid = identity.claims.sessionID, revocations.contains(sid) {
            return .now(refuse(.accessTokenNotValid(.blacklisted), route: route))
        }
        guard verifier.hasExpired(identity.claims, at: now) else {
            return .now(grant(identity, route: route, renewedToken: nil))
        }
        // Expired, and verified in every other respect: renewable, perhaps.
        let claims = identity.claims
        guard let renewal, renewalEnabled, route.renew, renewal.policy.withinWindow(expiresAt: claims.expiresAt, now: now) else {
            return .now(refuse(.accessTokenNotValid(.expired), route: route))
        }
        // The same expired token renewed a moment ago (a parallel tab, a client's next request): its successor is
        // known here, with no store round trip and no task.
        if let successor = renewal.recentSuccessor(of: claims, at: now) {
            return .now(grant(successor.identity, route: route, renewedToken: successor.issued.token))
        }
        return .later { [self] in
            switch try await renewal.renew(claims, clock: clock) {
            case .renewed(let successor):
                // Every request that shared this renewal, and the client's next one, finds the new token cached.
                cache.insert(VerifiedTokenCache.Entry(token: successor.issued.token, identity: successor.identity))
                return grant(successor.identity, route: route, renewedToken: successor.issued.token)
            case .rejected(.sessionRevoked):
                return refuse(.accessTokenNotValid(.blacklisted), route: route)
            case .rejected:
                return refuse(.accessTokenNotValid(.expired), route: route)
            }
        }
    }

    /// Verifies `token` and caches it when it verifies in every respect but perhaps `exp`: a burst of requests
    /// carrying one expired token then verifies it once (a successor handed out again within `grace` may itself
    /// have expired by now; it is forwarded all the same, docs/http.md#renewal).
    private func verifiedAndCached(_ token: Substring, now: UnixTime) -> Identity? {
        switch verifier.verify(token, as: .access, now: now) {
        case .valid(let claims), .expired(let claims):
            let identity = Identity(claims: claims)
            cache.insert(VerifiedTokenCache.Entry(token: String(token), identity: identity))
            return identity
        case .invalid:
            return nil
        }
    }

    /// A refusal, or anonymous forwarding on an optional route with `on_invalid = "anonymous"` (the rejected
    /// Authorization header is then not passed on).
    private func refuse(_ error: GatewayError, route: Route) -> AuthOutcome {
        route.auth == .optional && route.onInvalid == .anonymous ? .anonymous(keepsAuthorization: false) : .denied(error)
    }

    private func grant(_ identity: Identity, route: Route, renewedToken: String?) -> AuthOutcome {
        // A renewed token reaches the client even when the route then refuses: the renewal happened.
        guard RoutePermissions.allows(identity.claims, route: route) else { return .denied(.permissionDenied, renewedToken: renewedToken) }
        return renewedToken.map { .renewed(identity, token: $0) } ?? .authenticated(identity)
    }
}
