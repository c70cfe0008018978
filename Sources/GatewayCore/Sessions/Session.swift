/// One login: who it is for, its refresh token lineage and its access token lineage (docs/http.md#tokens).
/// Token ids are jtis (tokens themselves are never stored).
public struct Session: Sendable, Equatable {
    public var id: String
    public var userID: JSONValue
    /// Extra claims copied into every access token of this session.
    public var claims: [String: JSONValue]
    public var createdAt: UnixTime
    /// Slides on refresh and renewal, never past `maxExpiresAt`.
    public var expiresAt: UnixTime
    public var maxExpiresAt: UnixTime
    public var revokedAt: UnixTime?
    public var refreshJTI: String
    /// The latest access token of the session.
    public var access: AccessLineage
    /// The access token the latest one replaced, and when (for `renewal.grace`).
    public var previousAccessJTI: String?
    public var accessReplacedAt: UnixTime?

    public init(id: String, userID: JSONValue, claims: [String: JSONValue], createdAt: UnixTime, expiresAt: UnixTime,
                maxExpiresAt: UnixTime, revokedAt: UnixTime? = nil, refreshJTI: String, access: AccessLineage,
                previousAccessJTI: String? = nil, accessReplacedAt: UnixTime? = nil) {
        self.id = id
        self.userID = userID
        self.claims = claims
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.maxExpiresAt = maxExpiresAt
        self.revokedAt = revokedAt
        self.refreshJTI = refreshJTI
        self.access = access
        self.previousAccessJTI = previousAccessJTI
        self.accessReplacedAt = accessReplacedAt
    }

    /// Not revoked and not expired at `now`.
    public func isAlive(at now: UnixTime) -> Bool {
        revokedAt == nil && now < expiresAt
    }

    public var subject: TokenIssuer.Subject {
        TokenIssuer.Subject(sessionID: id, userID: userID, claims: claims)
    }
}

/// An access token's identity and times (whole seconds, as its `iat` and `exp`), enough to re-mint the very
/// same token.
public struct AccessLineage: Sendable, Equatable {
    public var jti: String
    public var issuedAt: UnixTime
    public var expiresAt: UnixTime

    public init(jti: String, issuedAt: UnixTime, expiresAt: UnixTime) {
        self.jti = jti
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

extension AccessLineage {
    /// From a store's nullable columns (times in seconds); nil when any is missing.
    init?(storedJTI jti: String?, issuedAt: Int64?, expiresAt: Int64?) {
        guard let jti, let issuedAt, let expiresAt else { return nil }
        self.init(jti: jti, issuedAt: UnixTime(seconds: issuedAt), expiresAt: UnixTime(seconds: expiresAt))
    }
}

/// What a rotation replaced a refresh token with (docs/http.md#refresh): enough to give the very same answer again.
public struct RefreshReplacement: Sendable, Equatable {
    public var replacedAt: UnixTime
    /// The refresh token that replaced it and its expiry; nil for a rotation recorded before these were kept.
    public var successorRefreshJTI: String?
    public var successorExpiresAt: UnixTime?
    /// The access token the same refresh handed out.
    public var access: AccessLineage?

    public init(replacedAt: UnixTime, successorRefreshJTI: String?, successorExpiresAt: UnixTime?, access: AccessLineage?) {
        self.replacedAt = replacedAt
        self.successorRefreshJTI = successorRefreshJTI
        self.successorExpiresAt = successorExpiresAt
        self.access = access
    }
}
