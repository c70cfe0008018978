import Logging
import Synchronization

/// Performs renewals against the store: the one place renewal does I/O (the rules are `RenewalPolicy`'s).
/// Concurrent renewals of one token in this process share one store round (coalesced by jti); across processes
/// the store's compare-and-set decides.
public final class RenewalCoordinator: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The successor, minted with its claims.
        case renewed(TokenIssuer.Issued)
        case rejected(RenewalPolicy.Rejection)
    }

    let store: any SessionStore
    let issuer: TokenIssuer
    let policy: RenewalPolicy
    let refreshTTL: Duration
    let logger: Logger
    private let inFlight = Mutex<[String: Task<Outcome, any Error>]>([:])

    public init(store: any SessionStore, issuer: TokenIssuer, tokens: TokensConfig, renewal: RenewalConfig, logger: Logger) {
        self.store = store
        self.issuer = issuer
        self.policy = RenewalPolicy(window: renewal.window, grace: renewal.grace)
        self.refreshTTL = tokens.refreshTTL
        self.logger = logger
    }

    /// Renews the expired token with these claims; throws only when the store fails.
    public func renew(_ claims: TokenClaims, clock: WallClock) async throws -> Outcome {
        guard let jti = claims.jti, let sessionID = claims.sessionID else { return .rejected(.noSession) }
        // The task is made only by the request that starts the renewal; the others wait for its value.
        let task = inFlight.withLock { table in
            if let running = table[jti] { return running }
            let task = Task { [self] in
                defer { _ = inFlight.withLock { $0.removeValue(forKey: jti) } }
                // Two rounds: when another gateway advanced the lineage between our read and our write, the
                // re-read sees this token as the predecessor and hands out that successor.
                return try await attempt(jti: jti, expiresAt: claims.expiresAt, sessionID: sessionID, clock: clock, rounds: 2)
            }
            table[jti] = task
            return task
        }
        return try await task.value
    }

    private func attempt(jti: String, expiresAt: Int64, sessionID: String, clock: WallClock, rounds: Int) async throws -> Outcome {
        for _ in 0..<rounds {
            let now = clock.now()
            let session = try await store.session(id: sessionID)
            switch (policy.decide(tokenJTI: jti, expiresAt: expiresAt, session: session, now: now), session) {
            case (.reject(let why), _):
                logger.debug("renewal refused", metadata: ["reason": "\(why.rawValue)", "sid": "\(sessionID)"])
                return .rejected(why)
            case (_, nil):
                return .rejected(.noSession)  // not reached: the policy refuses without a session
            case (.reuseSuccessor(let lineage), let session?):
                return .renewed(try issuer.accessToken(for: session.subject, lineage: lineage))
            case (.advance, let session?):
                let lineage = issuer.newAccessLineage(at: now)
                let change = SessionChange(newRefreshJTI: nil, newAccess: lineage, expiresAt: min(now + refreshTTL, session.maxExpiresAt))
                if try await store.update(sessionID: sessionID, expecting: .accessJTI(jti), change: change, now: now) {
                    return .renewed(try issuer.accessToken(for: session.subject, lineage: lineage))
                }
            }
        }
        return .rejected(.superseded)
    }
}
