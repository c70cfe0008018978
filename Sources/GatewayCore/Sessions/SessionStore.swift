/// Where sessions live. Every change is a compare-and-set on the session row (never read-then-write),
/// so several gateways sharing one store apply the same rules.
///
/// One concurrency style: every call is `async` (both backends are: GRDB's pool and PostgresNIO's client).
/// The request path, which runs on event loops, turns an async step into a future in one place
/// (`Deferred.later`, run by `ProxyHandler`); nothing else converts.
public protocol SessionStore: Sendable {
    /// Stores a new session (atomic).
    func create(_ session: Session) async throws
    func session(id: String) async throws -> Session?
    /// How this session's rotation replaced the refresh token id `jti`; nil when it never did (rotation history).
    func replacement(ofRefreshJTI jti: String, sessionID: String) async throws -> RefreshReplacement?
    /// Applies `change` only if the session is alive at `now` and still matches `expectation`.
    /// Returns false when it did not (someone else changed it first, or it died).
    func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: UnixTime) async throws -> Bool
    /// Revokes the session (idempotent). Returns false when there is no such session.
    @discardableResult
    func revoke(sessionID: String, at now: UnixTime) async throws -> Bool
    /// Revokes every live session of the user whose session `sessionID` is (logout with `{"all": true}`);
    /// returns the ids it revoked.
    func revokeAll(sessionsOfUserIn sessionID: String, at now: UnixTime) async throws -> [String]
    /// Revokes every session of `user` not revoked yet (`gateway sessions revoke --user`, docs/operations.md#sessions-from-the-command-line), as
    /// `revokeAll(sessionsOfUserIn:at:)` does; returns the ids it revoked.
    func revokeAll(sessionsOf user: StoredUserIDs, at now: UnixTime) async throws -> [String]
    /// The sessions of `user` (nil: of every user), oldest first: the ones alive at `now`, and with `includeEnded`
    /// the revoked and expired ones too (`gateway sessions list`, docs/operations.md#sessions-from-the-command-line).
    func sessions(of user: StoredUserIDs?, includeEnded: Bool, at now: UnixTime) async throws -> [Session]
    /// Sessions revoked at or after `since`, by any gateway (docs/operations.md#revocation).
    func revokedSince(_ since: UnixTime) async throws -> [(sessionID: String, revokedAt: UnixTime)]
    /// Deletes sessions that expired or were revoked before `cutoff`; returns how many.
    func purge(endedBefore cutoff: UnixTime) async throws -> Int
    /// Throws when the store cannot be used.
    func ping() async throws
    func close() async throws
    /// Calls `wake` whenever some gateway revokes a session, and once after every (re)connection, so the caller
    /// reads revocations at once instead of at its next poll (docs/operations.md#revocation); runs until cancelled. A store without
    /// notifications returns at once: polling alone finds its revocations.
    func listenForRevocations(wake: @escaping @Sendable () -> Void) async
}

extension SessionStore {
    /// Whether `jti` is a refresh token id this session replaced.
    public func listenForRevocations(wake: @escaping @Sendable () -> Void) async {}

    public func wasReplaced(refreshJTI jti: String, sessionID: String) async throws -> Bool {
        try await replacement(ofRefreshJTI: jti, sessionID: sessionID) != nil
    }
}

/// What a session must still look like for an update to apply.
public enum SessionExpectation: Sendable, Equatable {
    /// The current refresh token id (refresh endpoint).
    case refreshJTI(String)
    /// The latest access token id (renewal).
    case accessJTI(String)
}

/// A new state of a session's lineages; the replaced ids are recorded by the store.
public struct SessionChange: Sendable, Equatable {
    /// A new refresh token id (rotation); the old one goes into the rotation history.
    public var newRefreshJTI: String?
    /// The new latest access token; the old latest becomes `previousAccessJTI` at `now`.
    public var newAccess: AccessLineage
    /// The slid expiry.
    public var expiresAt: UnixTime

    public init(newRefreshJTI: String?, newAccess: AccessLineage, expiresAt: UnixTime) {
        self.newRefreshJTI = newRefreshJTI
        self.newAccess = newAccess
        self.expiresAt = expiresAt
    }
}

/// The store could not be reached or failed: callers answer 503 `store_unavailable`, never 401.
public struct StoreUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
