/// One login: who it is for, its refresh token lineage and its access token lineage (SPEC §3).
/// Times are milliseconds since the epoch; token ids are jtis (tokens themselves are never stored).
public struct Session: Sendable, Equatable {
    public var id: String
    public var userID: JSONValue
    /// Extra claims copied into every access token of this session.
    public var claims: [String: JSONValue]
    public var createdAt: Int64
    /// Slides on refresh and renewal, never past `maxExpiresAt`.
    public var expiresAt: Int64
    public var maxExpiresAt: Int64
    public var revokedAt: Int64?
    public var refreshJTI: String
    /// The latest access token of the session.
    public var access: AccessLineage
    /// The access token the latest one replaced, and when (for `renewal.grace`).
    public var previousAccessJTI: String?
    public var accessReplacedAt: Int64?

    public init(id: String, userID: JSONValue, claims: [String: JSONValue], createdAt: Int64, expiresAt: Int64,
                maxExpiresAt: Int64, revokedAt: Int64? = nil, refreshJTI: String, access: AccessLineage,
                previousAccessJTI: String? = nil, accessReplacedAt: Int64? = nil) {
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

    /// Not revoked and not expired at `now` (ms).
    public func isAlive(at now: Int64) -> Bool {
        revokedAt == nil && now < expiresAt
    }

    public var subject: TokenIssuer.Subject {
        TokenIssuer.Subject(sessionID: id, userID: userID, claims: claims)
    }
}

/// An access token's identity and times (seconds), enough to re-mint the very same token.
public struct AccessLineage: Sendable, Equatable {
    public var jti: String
    public var issuedAt: Int64
    public var expiresAt: Int64

    public init(jti: String, issuedAt: Int64, expiresAt: Int64) {
        self.jti = jti
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}
