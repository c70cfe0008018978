import NIOCore

/// Where sessions live. Every change is a compare-and-set on the session row (never read-then-write),
/// so several gateways sharing one store apply the same rules.
public protocol SessionStore: Sendable {
    /// Stores a new session (atomic).
    func create(_ session: Session) async throws
    func session(id: String) async throws -> Session?
    /// Whether `jti` is a refresh token id this session replaced (rotation history).
    func wasReplaced(refreshJTI jti: String, sessionID: String) async throws -> Bool
    /// Applies `change` only if the session is alive at `now` and still matches `expectation`.
    /// Returns false when it did not (someone else changed it first, or it died).
    func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: Int64) async throws -> Bool
    /// Revokes the session (idempotent). Returns false when there is no such session.
    @discardableResult
    func revoke(sessionID: String, at now: Int64) async throws -> Bool
    /// Deletes sessions that expired or were revoked before `cutoff` (ms); returns how many.
    func purge(endedBefore cutoff: Int64) async throws -> Int
    /// `session(id:)` and `update(…)` answered on `eventLoop`: renewal's path, served without a Swift
    /// concurrency task (a request waits on it).
    func session(id: String, on eventLoop: any EventLoop) -> EventLoopFuture<Session?>
    func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: Int64,
                on eventLoop: any EventLoop) -> EventLoopFuture<Bool>
    /// Throws when the store cannot be used.
    func ping() async throws
    func close() async throws
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
    /// The slid expiry (ms).
    public var expiresAt: Int64

    public init(newRefreshJTI: String?, newAccess: AccessLineage, expiresAt: Int64) {
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
