/// Decides what an expired-but-otherwise-valid access token gets (SPEC §5.3). Pure: the store is read elsewhere.
public struct RenewalPolicy: Sendable {
    /// How long after its `exp` a token may still renew (ms).
    public let windowMS: Int64
    /// How long the predecessor of the latest token still renews, to the same successor (ms).
    public let graceMS: Int64

    public init(window: Duration, grace: Duration) {
        self.windowMS = Int64(window.milliseconds)
        self.graceMS = Int64(grace.milliseconds)
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

    /// Whether a token that expired at `expiresAt` (s) is still inside the window at `now` (ms).
    public func withinWindow(expiresAt: Int64, now: Int64) -> Bool {
        now - expiresAt * 1000 <= windowMS
    }

    public func decide(tokenJTI: String, expiresAt: Int64, session: Session?, now: Int64) -> Decision {
        guard withinWindow(expiresAt: expiresAt, now: now) else { return .reject(.pastWindow) }
        guard let session else { return .reject(.noSession) }
        if session.revokedAt != nil { return .reject(.sessionRevoked) }
        if now >= session.expiresAt { return .reject(.sessionExpired) }
        if tokenJTI == session.access.jti { return .advance }
        if tokenJTI == session.previousAccessJTI, let replacedAt = session.accessReplacedAt, now - replacedAt <= graceMS {
            return .reuseSuccessor(session.access)
        }
        return .reject(.superseded)
    }
}
