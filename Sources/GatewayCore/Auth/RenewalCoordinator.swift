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
    let metrics: GatewayMetrics
    /// Renewals running in this process, by jti, with the requests waiting for the leader's outcome.
    private let inFlight = Mutex<[String: [CheckedContinuation<Outcome?, any Error>]]>([:])

    public init(store: any SessionStore, issuer: TokenIssuer, tokens: TokensConfig, renewal: RenewalConfig, logger: Logger,
                metrics: GatewayMetrics = GatewayMetrics()) {
        self.metrics = metrics
        self.store = store
        self.issuer = issuer
        self.policy = RenewalPolicy(window: renewal.window, grace: renewal.grace)
        self.refreshTTL = tokens.refreshTTL
        self.logger = logger
    }

    /// Renews the expired token with these claims; throws only when the store fails. The first request for a
    /// jti leads (it does the store round on its own task, so on its connection's event loop); the others wait
    /// for its outcome instead of starting rounds of their own.
    public func renew(_ claims: TokenClaims, clock: WallClock) async throws -> Outcome {
        guard let jti = claims.jti, let sessionID = claims.sessionID else { return .rejected(.noSession) }
        while true {
            let leads = inFlight.withLock { table in
                guard table[jti] == nil else { return false }
                table[jti] = []
                return true
            }
            if leads {
                let result: Result<Outcome, any Error>
                // Two rounds: when another gateway advanced the lineage between our read and our write, the
                // re-read sees this token as the predecessor and hands out that successor.
                do { result = .success(try await attempt(jti: jti, expiresAt: claims.expiresAt, sessionID: sessionID, clock: clock, rounds: 2)) } catch { result = .failure(error) }
                let waiting = inFlight.withLock { $0.removeValue(forKey: jti) } ?? []
                for waiter in waiting { waiter.resume(with: result.map { Optional($0) }) }
                return try result.get()
            }
            // nil: the leader finished between our look and our joining; go again (the store then shows this
            // token as the predecessor and the same successor comes back).
            if let outcome = try await follow(jti) {
                // A follower never does a store step of its own: it joins the leader's successor, or shares its refusal.
                if case .renewed = outcome { metrics.count(.joined) } else { metrics.count(.refused) }
                return outcome
            }
        }
    }

    private func follow(_ jti: String) async throws -> Outcome? {
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Outcome?, any Error>) in
            let joined = inFlight.withLock { table in
                guard table[jti] != nil else { return false }
                table[jti]!.append(waiter)
                return true
            }
            if !joined { waiter.resume(returning: nil) }
        }
    }

    private func attempt(jti: String, expiresAt: Int64, sessionID: String, clock: WallClock, rounds: Int) async throws -> Outcome {
        for _ in 0..<rounds {
            let now = clock.now()
            let session = try await store.session(id: sessionID)
            switch (policy.decide(tokenJTI: jti, expiresAt: expiresAt, session: session, now: now), session) {
            case (.reject(let why), _):
                logger.debug("renewal refused", metadata: ["reason": "\(why.rawValue)", "sid": "\(sessionID)"])
                metrics.count(.refused)
                return .rejected(why)
            case (_, nil):
                return .rejected(.noSession)  // not reached: the policy refuses without a session
            case (.reuseSuccessor(let lineage), let session?):
                metrics.count(.joined)
                return .renewed(try issuer.accessToken(for: session.subject, lineage: lineage))
            case (.advance, let session?):
                let lineage = issuer.newAccessLineage(at: now)
                let change = SessionChange(newRefreshJTI: nil, newAccess: lineage, expiresAt: min(now + refreshTTL, session.maxExpiresAt))
                if try await store.update(sessionID: sessionID, expecting: .accessJTI(jti), change: change, now: now) {
                    metrics.count(.issued)
                    return .renewed(try issuer.accessToken(for: session.subject, lineage: lineage))
                }
            }
        }
        metrics.count(.refused)
        return .rejected(.superseded)
    }
}
