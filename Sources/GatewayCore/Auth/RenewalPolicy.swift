/// Decides what an expired-but-otherwise-valid access token gets (docs/http.md#renewal). Pure: the store is read elsewhere.
public struct RenewalPolicy: Sendable {
    /// How long after its `exp` a token may still renew.
    public let window: Duration
    /// How long the predecessor of the latest token still renews, to the same successor.
    public let grace: Duration

    public init(window: Duration, grace: Duration) {
        self.window = window
        self.grace = grace
    }

    public enum Decision: Sendable, Equatable {
        /// The token is the session's latest: mint a successor.
        case advance
        /// The token was just replaced: hand out the successor that replaced it (same jti).
        case reuseSuccessor(AccessLineage)
        case reject(Rejection)
    }

    public enum Rejection: String, Sendable, Equatable {
        case pastWindow, noSession, sessionRevoked, sessionExpired, superseded
    }

    /// Whether a token that expired at `expiresAt` (its `exp`, seconds) is still inside the window at `now`.
    public func withinWindow(expiresAt: Int64, now: UnixTime) -> Bool {
        now <= UnixTime(seconds: expiresAt) + window
    }

    public func decide(tokenJTI: String, expiresAt: Int64, session: Session?, now: UnixTime) -> Decision {
        guard withinWindow(expiresAt: expiresAt, now: now) else { return .reject(.pastWindow) }
        guard let session else { return .reject(.noSession) }
        if session.revokedAt != nil { return .reject(.sessionRevoked) }
        if now >= session.expiresAt { return .reject(.sessionExpired) }
        if tokenJTI == session.access.jti { return .advance }
        if tokenJTI == session.previousAccessJTI, let replacedAt = session.accessReplacedAt, now <= replacedAt + grace {
            return .reuseSuccessor(session.access)
        }
        return .reject(.superseded)
    }
}
