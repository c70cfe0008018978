/// Decides what a verified refresh token gets at the refresh endpoint (docs/http.md#refresh, simplejwt's rotation and
/// blacklist rules). Pure: the store is read and written by `TokenEndpoints`, which asks in two steps because
/// the rotation history is read only for a token that is not the session's current one.
public struct RefreshPolicy: Sendable {
    /// `tokens.blacklist_after_rotation`: a rotated token presented again ends the whole session.
    public let blacklistAfterRotation: Bool
    /// `tokens.refresh_reuse_interval`: within this after a rotation, the replaced token gets the same answer
    /// again (two tabs refreshing at once, docs/http.md#refresh); zero keeps strict reuse detection.
    public let reuseInterval: Duration

    public init(blacklistAfterRotation: Bool, reuseInterval: Duration = .zero) {
        self.blacklistAfterRotation = blacklistAfterRotation
        self.reuseInterval = reuseInterval
    }

    public enum Decision: Sendable, Equatable {
        /// Rotate the session, on condition that its refresh id is still `expecting` (compare-and-set).
        case rotate(expecting: String)
        /// The token is not the session's current one: whether it was rotated away decides (`afterHistory`).
        case readHistory
        /// Reuse of a rotated token: someone else may hold it. Revoke the session, answer `blacklisted`.
        case revokeSession
        /// A duplicate within `refresh_reuse_interval`: answer with the tokens this rotation handed out.
        case repeatAnswer(RefreshReplacement)
        case reject(GatewayError.TokenProblem)
    }

    /// The first step: the session the token names, as the store has it at `now`.
    public func decide(tokenJTI: String, session: Session?, now: UnixTime) -> Decision {
        guard let session else { return .reject(.invalid) }
        if session.revokedAt != nil { return .reject(.blacklisted) }
        if now >= session.expiresAt { return .reject(.expired) }
        return tokenJTI == session.refreshJTI ? .rotate(expecting: tokenJTI) : .readHistory
    }

    /// The second step, for a token that is not the current one: `replacement` is what the session's rotation
    /// history holds for it (nil: never this session's).
    public func afterHistory(replacement: RefreshReplacement?, session: Session, now: UnixTime) -> Decision {
        guard let replacement else { return .reject(.invalid) }
        if reuseInterval > .zero, now <= replacement.replacedAt + reuseInterval, replacement.successorRefreshJTI != nil,
           replacement.successorExpiresAt != nil, replacement.access != nil {
            return .repeatAnswer(replacement)
        }
        // Without the blacklist, a rotated token still refreshes: against the session's current id.
        return blacklistAfterRotation ? .revokeSession : .rotate(expecting: session.refreshJTI)
    }
}
