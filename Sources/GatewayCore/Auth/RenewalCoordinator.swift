import Logging
import Synchronization

/// Performs renewals against the store: the one place renewal does I/O (the rules are `RenewalPolicy`'s).
/// Concurrent renewals of one token in this process share one store round (coalesced by jti); across processes
/// the store's compare-and-set decides.
public final class RenewalCoordinator: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The successor, minted with its claims.
        case renewed(Successor)
        case rejected(RenewalPolicy.Rejection)
    }

    /// A successor token with its identity, made once (`Identity.encodedClaims` is a JSON encoding): for the
    /// request that renewed, and for every later one answered from `RecentSuccessors`.
    public struct Successor: Sendable, Equatable {
        public let issued: TokenIssuer.Issued
        public let identity: Identity

        init(_ issued: TokenIssuer.Issued) {
            self.issued = issued
            self.identity = Identity(claims: issued.claims)
        }
    }

    let store: any SessionStore
    let issuer: TokenIssuer
    let policy: RenewalPolicy
    let refreshTTL: Duration
    let logger: Logger
    let metrics: GatewayMetrics
    /// Renewals running in this process, by jti, with the requests waiting for the leader's outcome.
    private let inFlight = Mutex<[String: [CheckedContinuation<Outcome?, any Error>]]>([:])
    /// Successors handed out lately, by the jti they replaced: the same expired token presented again within grace
    /// (another tab, the next request of a client that has not stored the new token yet) gets the same successor
    /// without a store round trip. `RecentSuccessors` says when an entry may be used.
    private let recent = Mutex(RecentSuccessors())

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
        if let successor = recentSuccessor(of: claims, at: clock.now()) { return .renewed(successor) }
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

    /// The successor this process handed out for this token within its grace, if it may be handed out again
    /// (`RecentSuccessors`); counted as joined.
    public func recentSuccessor(of claims: TokenClaims, at now: UnixTime) -> Successor? {
        guard let jti = claims.jti, let successor = recent.withLock({ $0.successor(of: jti, at: now) }) else { return nil }
        metrics.count(.joined)
        return successor
    }

    private func remember(_ successor: Successor, of jti: String, until: UnixTime, now: UnixTime) {
        recent.withLock { $0.remember(successor, of: jti, until: until, now: now) }
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
                let successor = Successor(try issuer.accessToken(for: session.subject, lineage: lineage))
                if let replacedAt = session.accessReplacedAt {
                    remember(successor, of: jti, until: min(replacedAt + policy.grace, session.expiresAt), now: now)
                }
                return .renewed(successor)
            case (.advance, let session?):
                let lineage = issuer.newAccessLineage(at: now)
                let change = SessionChange(newRefreshJTI: nil, newAccess: lineage, expiresAt: min(now + refreshTTL, session.maxExpiresAt))
                if try await store.update(sessionID: sessionID, expecting: .accessJTI(jti), change: change, now: now) {
                    metrics.count(.issued)
                    let successor = Successor(try issuer.accessToken(for: session.subject, lineage: lineage))
                    remember(successor, of: jti, until: min(now + policy.grace, change.expiresAt), now: now)
                    return .renewed(successor)
                }
            }
        }
        metrics.count(.refused)
        return .rejected(.superseded)
    }
}

/// The successors this process handed out within their grace: what `RenewalPolicy` would answer again for the
/// predecessor, kept so that answering it again needs no store read.
///
/// An entry is used while the grace of the renewal that replaced its token lasts and the session had not yet
/// expired, as the policy says; like the policy's own answer, the successor may have expired by then (docs/http.md#renewal).
/// When this process renews the successor in turn, the entry goes: its token is no longer the predecessor. A session
/// revoked in between is refused before renewal (`RevocationList`). What only the store would know is another
/// gateway's step on the same session (a refresh, or a renewal of the successor): until the grace ends the
/// predecessor then still gets the successor it was given before, as it would have from this gateway a moment
/// earlier.
struct RecentSuccessors: Sendable {
    /// Entries kept at most (each a token and its claims: about a kilobyte).
    static let capacity = 2048

    typealias Successor = RenewalCoordinator.Successor

    private var entries: [String: (successor: Successor, until: UnixTime)] = [:]
    /// The predecessor's jti by its successor's, to drop an entry when the successor is renewed here.
    private var predecessors: [String: String] = [:]

    func successor(of jti: String, at now: UnixTime) -> Successor? {
        guard let entry = entries[jti], now <= entry.until else { return nil }
        return entry.successor
    }

    mutating func remember(_ successor: Successor, of jti: String, until: UnixTime, now: UnixTime) {
        // `jti` was the session's latest and is renewed now: whatever it replaced is no longer the predecessor.
        if let older = predecessors.removeValue(forKey: jti) { entries.removeValue(forKey: older) }
        guard now <= until, let successorJTI = successor.issued.claims.jti else { return }
        if entries.count >= Self.capacity {
            entries = entries.filter { now <= $0.value.until }
            // Still full of live entries (a burst of many sessions renewing at once): start over, losing only
            // the shortcut.
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            predecessors = predecessors.filter { entries[$0.value] != nil }
        }
        entries[jti] = (successor, until)
        predecessors[successorJTI] = jti
    }
}
