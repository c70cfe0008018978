import Logging
import NIOCore
import NIOHTTP1

/// The gateway's login, refresh and logout endpoints (docs/http.md#the-gateways-own-endpoints), in simplejwt's wire format. Async throughout
/// (the store and the credential check are); the rules of refresh are `RefreshPolicy`'s.
public final class TokenEndpoints: Sendable {
    let auth: AuthConfig
    let tokens: TokensConfig
    let store: any SessionStore
    let issuer: TokenIssuer
    let verifier: TokenVerifier
    let refreshPolicy: RefreshPolicy
    /// This gateway's own revocations go in at once (docs/operations.md#revocation).
    let revocations: RevocationList
    let clock: WallClock
    let logger: Logger
    let metrics: GatewayMetrics
    /// POSTs the login body to `auth.verify_url` and returns the whole reply.
    let checkCredentials: @Sendable (_ body: ByteBuffer, _ contentType: String?, _ caller: Caller) async throws -> FetchedResponse

    public init(config: GatewayConfig, store: any SessionStore, issuer: TokenIssuer, verifier: TokenVerifier,
                revocations: RevocationList, clock: WallClock, logger: Logger, metrics: GatewayMetrics = GatewayMetrics(),
                checkCredentials: @escaping @Sendable (ByteBuffer, String?, Caller) async throws -> FetchedResponse) {
        self.auth = config.auth
        self.tokens = config.tokens
        self.store = store
        self.issuer = issuer
        self.verifier = verifier
        self.refreshPolicy = RefreshPolicy(blacklistAfterRotation: config.tokens.blacklistAfterRotation,
                                           reuseInterval: config.tokens.refreshReuseInterval)
        self.revocations = revocations
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.checkCredentials = checkCredentials
    }

    // MARK: login

    func login(_ head: HTTPRequestHead, body: ByteBuffer, caller: Caller) async throws -> LocalResponse {
        guard head.method == .POST else { throw GatewayError.methodNotAllowed }
        let reply: FetchedResponse
        do {
            reply = try await checkCredentials(body, head.headers.first(name: "content-type"), caller)
        } catch {
            throw error as? GatewayError ?? GatewayError.upstreamUnavailable
        }
        return try await completeLogin(reply)
    }

    /// A user id the gateway will put in tokens, logs and the `X-Auth-User-Id` header: not empty, and no
    /// control characters (a CR LF in it would start a new log line, or a new header if anything passed it on raw).
    static func isUsableUserID(_ id: String) -> Bool {
        !id.isEmpty && !id.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    private func completeLogin(_ reply: FetchedResponse) async throws -> LocalResponse {
        guard (200..<300).contains(reply.status.code) else {
            // The existing API's refusal goes back unchanged.
            var headers = HTTPHeaders()
            if let type = reply.headers.first(name: "content-type") { headers.add(name: "content-type", value: type) }
            return LocalResponse(status: reply.status, body: reply.body, headers: headers)
        }
        guard let document = JSONValue.parse(reply.body.readableBytesView),
              let user = auth.userPointer.resolve(in: document),
              let userID = auth.userIdPointer.resolve(in: user),
              userID.identifierString.map(TokenEndpoints.isUsableUserID) == true
        else {
            logger.error("verify_url answered 2xx without a usable user id", metadata: ["user_pointer": "\(auth.userPointer)", "user_id_pointer": "\(auth.userIdPointer)"])
            throw GatewayError.upstreamUnavailable
        }
        var claims: [String: JSONValue] = [:]
        for (name, pointer) in auth.claims {
            if let value = pointer.resolve(in: user) { claims[name] = value }
        }
        let now = clock.now()
        let maxExpiresAt = now + tokens.sessionMaxAge
        let expiresAt = min(now + tokens.refreshTTL, maxExpiresAt)
        let access = issuer.newAccessLineage(at: now)
        let session = Session(id: RandomID.make(), userID: userID, claims: claims, createdAt: now, expiresAt: expiresAt,
                              maxExpiresAt: maxExpiresAt, refreshJTI: RandomID.make(), access: access)
        let accessToken = try issuer.accessToken(for: session.subject, lineage: access).token
        let refreshToken = try issuer.refreshToken(for: session.subject, jti: session.refreshJTI, issuedAt: now, expiresAt: expiresAt)
        try await store.create(session)
        logger.info("login", metadata: ["sid": "\(session.id)", "user": "\(session.subject.userIDString)"])

        var token = [("access", JSONValue.string(accessToken))]
        if auth.refreshDelivery.usesBody { token.append(("refresh", .string(refreshToken))) }
        let json = "{\"user\":" + user.jsonText + ",\"token\":" + TokenEndpoints.object(token) + "}"
        var headers = HTTPHeaders()
        if auth.refreshDelivery.usesCookie {
            headers.add(name: "set-cookie", value: refreshCookie(refreshToken, maxAge: expiresAt.since(now)))
        }
        metrics.count(.login)
        var response = LocalResponse(status: .created, json: json, headers: headers)
        response.subject = .init(userID: session.subject.userIDString, sessionID: session.id)
        return response
    }

    // MARK: refresh

    func refresh(_ head: HTTPRequestHead, body: ByteBuffer) async throws -> LocalResponse {
        guard head.method == .POST else { throw GatewayError.methodNotAllowed }
        guard let presented = try refreshToken(in: head, body: body) else {
            return LocalResponse(status: .badRequest, json: #"{"refresh":["This field is required."]}"#)
        }
        let now = clock.now()
        let claims: TokenClaims
        switch verifier.verify(Substring(presented), as: .refresh, now: now) {
        case .valid(let c): claims = c
        case .expired: throw GatewayError.refreshTokenNotValid(.expired)
        case .invalid: throw GatewayError.refreshTokenNotValid(.invalid)
        }
        guard let sid = claims.sessionID, let jti = claims.jti else { throw GatewayError.refreshTokenNotValid(.invalid) }
        let session = try await store.session(id: sid)
        var decision = refreshPolicy.decide(tokenJTI: jti, session: session, now: now)
        if decision == .readHistory, let session {
            decision = refreshPolicy.afterHistory(replacement: try await store.replacement(ofRefreshJTI: jti, sessionID: sid),
                                                  session: session, now: now)
        }
        switch (decision, session) {
        case (.reject(let problem), _):
            throw GatewayError.refreshTokenNotValid(problem)
        case (.revokeSession, _):
            try await store.revoke(sessionID: sid, at: now)
            revocations.add(sid, revokedAt: now)
            logger.warning("rotated refresh token presented again: session revoked", metadata: ["sid": "\(sid)"])
            metrics.count(.reuseRevoked)
            throw GatewayError.refreshTokenNotValid(.blacklisted)
        case (.rotate(let expected), let session?):
            return try await rotate(session, presented: jti, expecting: expected, now: now)
        case (.repeatAnswer(let replacement), let session?):
            return try repeated(replacement, of: session, now: now)
        case (.readHistory, _), (.rotate, nil), (.repeatAnswer, nil):
            throw GatewayError.refreshTokenNotValid(.invalid)  // not reached: the policy asks for history only with a session
        }
    }

    /// The refresh itself: a new access token, and a new refresh token when rotating, on condition that the
    /// session's refresh id is still `expected`.
    private func rotate(_ session: Session, presented: String, expecting expected: String, now: UnixTime) async throws -> LocalResponse {
        let access = issuer.newAccessLineage(at: now)
        let newRefreshJTI = tokens.rotateRefresh ? RandomID.make() : nil
        let expiresAt = min(now + tokens.refreshTTL, session.maxExpiresAt)
        let change = SessionChange(newRefreshJTI: newRefreshJTI, newAccess: access, expiresAt: expiresAt)
        guard try await store.update(sessionID: session.id, expecting: .refreshJTI(expected), change: change, now: now) else {
            // Another refresh with this token won the race: this one is now a rotated token. Within
            // refresh_reuse_interval it gets the winner's answer (two tabs at once, docs/http.md#refresh).
            if refreshPolicy.reuseInterval > .zero,
               case .repeatAnswer(let replacement) = refreshPolicy.afterHistory(
                   replacement: try await store.replacement(ofRefreshJTI: presented, sessionID: session.id), session: session, now: now) {
                return try repeated(replacement, of: session, now: now)
            }
            throw GatewayError.refreshTokenNotValid(.blacklisted)
        }
        return try answer(session, access: access, refresh: newRefreshJTI.map { ($0, now, expiresAt) }, now: now)
    }

    /// The answer a rotation gave, again: the same tokens (same jti, iat and exp; the same bytes with HS*, RS256
    /// and EdDSA, whose signatures are deterministic — an ES256 signature differs, the token means the same).
    private func repeated(_ replacement: RefreshReplacement, of session: Session, now: UnixTime) throws -> LocalResponse {
        guard let access = replacement.access, let jti = replacement.successorRefreshJTI, let expiresAt = replacement.successorExpiresAt else {
            throw GatewayError.refreshTokenNotValid(.blacklisted)
        }
        return try answer(session, access: access, refresh: (jti, replacement.replacedAt, expiresAt), now: now)
    }

    /// 200 with the access token of `access`, and the refresh token `refresh` (jti, iat, exp) when rotating.
    private func answer(_ session: Session, access: AccessLineage, refresh: (jti: String, issuedAt: UnixTime, expiresAt: UnixTime)?,
                        now: UnixTime) throws -> LocalResponse {
        var fields = [("access", JSONValue.string(try issuer.accessToken(for: session.subject, lineage: access).token))]
        var headers = HTTPHeaders()
        if let refresh {
            let refreshToken = try issuer.refreshToken(for: session.subject, jti: refresh.jti, issuedAt: refresh.issuedAt, expiresAt: refresh.expiresAt)
            if auth.refreshDelivery.usesBody { fields.append(("refresh", .string(refreshToken))) }
            if auth.refreshDelivery.usesCookie {
                headers.add(name: "set-cookie", value: refreshCookie(refreshToken, maxAge: refresh.expiresAt.since(now)))
            }
        }
        metrics.count(.refresh)
        var response = LocalResponse(status: .ok, json: TokenEndpoints.object(fields), headers: headers)
        response.subject = .init(userID: session.subject.userIDString, sessionID: session.id)
        return response
    }

    // MARK: logout

    func logout(_ head: HTTPRequestHead, body: ByteBuffer) async throws -> LocalResponse {
        guard head.method == .POST else { throw GatewayError.methodNotAllowed }
        let now = clock.now()
        var sessions: [String] = []
        var sawToken = false
        switch BearerCredential(headers: head.headers) {
        case .token(let token):
            sawToken = true
            switch verifier.verify(token, as: .access, now: now) {
            case .valid(let c), .expired(let c): if let sid = c.sessionID { sessions.append(sid) }
            case .invalid: break
            }
        case .malformed:
            throw GatewayError.badAuthorizationHeader
        case .duplicated:
            throw GatewayError.badRequest
        case .none, .otherScheme:
            break
        }
        if let refresh = try refreshToken(in: head, body: body) {
            sawToken = true
            switch verifier.verify(Substring(refresh), as: .refresh, now: now) {
            case .valid(let c), .expired(let c): if let sid = c.sessionID, !sessions.contains(sid) { sessions.append(sid) }
            case .invalid: break
            }
        }
        guard !sessions.isEmpty else {
            throw sawToken ? GatewayError.accessTokenNotValid(.invalid) : GatewayError.notAuthenticated
        }
        var revoked = sessions
        if try Self.wantsAll(body) {
            // Every session of the user, found through the session the token names (docs/http.md#the-gateways-own-endpoints).
            for sid in sessions {
                revoked += try await store.revokeAll(sessionsOfUserIn: sid, at: now).filter { !revoked.contains($0) }
            }
        }
        for sid in sessions { try await store.revoke(sessionID: sid, at: now) }
        revocations.add(revoked.map { (sessionID: $0, revokedAt: now) })
        logger.info("logout", metadata: ["sid": "\(revoked.joined(separator: ","))"])
        metrics.count(.logout)
        var response = LocalResponse(status: .noContent, body: ByteBuffer(), headers: [:])
        if auth.refreshDelivery.usesCookie {
            response.headers.add(name: "set-cookie", value: refreshCookie("", maxAge: .zero))
        }
        return response
    }

    // MARK: helpers

    /// `{"all": true}` in a logout body. The body was read as a JSON object already (or is empty).
    private static func wantsAll(_ body: ByteBuffer) throws(GatewayError) -> Bool {
        guard body.readableBytes > 0, case .object(let object)? = JSONValue.parse(body.readableBytesView),
              let all = object["all"] else { return false }
        guard case .bool(let flag) = all else { throw .badRequest }
        return flag
    }

    /// The refresh token from a JSON body `{"refresh": "…"}`, else from the cookie (when cookies are in use).
    private func refreshToken(in head: HTTPRequestHead, body: ByteBuffer) throws(GatewayError) -> String? {
        if body.readableBytes > 0 {
            guard case .object(let object)? = JSONValue.parse(body.readableBytesView) else { throw .badRequest }
            if let value = object["refresh"] {
                guard let token = value.stringValue else { throw .refreshTokenNotValid(.invalid) }
                return token
            }
        }
        guard auth.refreshDelivery.usesCookie else { return nil }
        for header in head.headers["cookie"] {
            for pair in header.split(separator: ";") {
                let trimmed = pair.trimmingASCIISpaces()
                guard let eq = trimmed.firstIndex(of: "="), trimmed[..<eq] == auth.cookieName else { continue }
                let value = trimmed[trimmed.index(after: eq)...]
                if !value.isEmpty { return String(value) }
            }
        }
        return nil
    }

    /// `Max-Age` is whole seconds, rounded down.
    func refreshCookie(_ value: String, maxAge: Duration) -> String {
        var cookie = "\(auth.cookieName)=\(value); Path=\(auth.cookiePath); Max-Age=\(max(0, maxAge.components.seconds)); HttpOnly; SameSite=\(auth.cookieSameSite.rawValue)"
        if auth.cookieSecure { cookie += "; Secure" }
        return cookie
    }

    static func object(_ fields: [(String, JSONValue)]) -> String {
        "{" + fields.map { JSONText.quoted($0.0) + ":" + $0.1.jsonText }.joined(separator: ",") + "}"
    }
}
