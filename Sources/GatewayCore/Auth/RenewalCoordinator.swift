import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Performs renewals against the store. Concurrent renewals of one token in this process share one store
/// round (coalesced by jti); across processes the store's compare-and-set decides. Everything runs as
/// event-loop futures: the store answers on the requesting loop, with no Swift concurrency task between.
public final class RenewalCoordinator: Sendable {
    public enum Outcome: Sendable, Equatable {
        case renewed(token: String, lineage: AccessLineage)
        case rejected(RenewalPolicy.Rejection)
    }

    let store: any SessionStore
    let issuer: TokenIssuer
    let policy: RenewalPolicy
    let refreshTTLMS: Int64
    let logger: Logger
    private let inFlight = NIOLockedValueBox<[String: EventLoopFuture<Outcome>]>([:])

    public init(store: any SessionStore, issuer: TokenIssuer, tokens: TokensConfig, renewal: RenewalConfig, logger: Logger) {
        self.store = store
        self.issuer = issuer
        self.policy = RenewalPolicy(window: renewal.window, grace: renewal.grace)
        self.refreshTTLMS = Int64(tokens.refreshTTL.milliseconds)
        self.logger = logger
    }

    /// Renews the expired token with these claims; fails only when the store fails.
    public func renew(_ claims: TokenClaims, now: @escaping @Sendable () -> Int64, on eventLoop: any EventLoop) -> EventLoopFuture<Outcome> {
        guard let jti = claims.jti, let sessionID = claims.sessionID else {
            return eventLoop.makeSucceededFuture(.rejected(.noSession))
        }
        // The promise is made only by the request that starts the renewal; the others wait on its future.
        enum Role { case wait(EventLoopFuture<Outcome>), lead(EventLoopPromise<Outcome>) }
        let role = inFlight.withLockedValue { table -> Role in
            if let running = table[jti] { return .wait(running) }
            let promise = eventLoop.makePromise(of: Outcome.self)
            table[jti] = promise.futureResult
            return .lead(promise)
        }
        switch role {
        case .wait(let running):
            return running.hop(to: eventLoop)
        case .lead(let promise):
            // Two rounds: when another gateway advanced the lineage between our read and our write,
            // the re-read sees this token as the predecessor and hands out that successor.
            attempt(jti: jti, expiresAt: claims.expiresAt, sessionID: sessionID, now: now, roundsLeft: 2, on: eventLoop)
                .whenComplete { [inFlight] result in
                    _ = inFlight.withLockedValue { $0.removeValue(forKey: jti) }
                    promise.completeWith(result)
                }
            return promise.futureResult
        }
    }

    private func attempt(jti: String, expiresAt: Int64, sessionID: String, now: @escaping @Sendable () -> Int64,
                         roundsLeft: Int, on eventLoop: any EventLoop) -> EventLoopFuture<Outcome> {
        let nowMS = now()
        return store.session(id: sessionID, on: eventLoop).flatMap { [self] session -> EventLoopFuture<Outcome> in
            switch policy.decide(tokenJTI: jti, expiresAt: expiresAt, session: session, now: nowMS) {
            case .reject(let why):
                logger.debug("renewal refused", metadata: ["reason": "\(why.rawValue)", "sid": "\(sessionID)"])
                return eventLoop.makeSucceededFuture(.rejected(why))
            case .reuseSuccessor(let lineage):
                return eventLoop.makeCompletedFuture(withResultOf: { .renewed(token: try issuer.accessToken(for: session!.subject, lineage: lineage), lineage: lineage) })
            case .advance:
                let session = session!
                let lineage = issuer.newAccessLineage(at: nowMS)
                let change = SessionChange(newRefreshJTI: nil, newAccess: lineage, expiresAt: min(nowMS + refreshTTLMS, session.maxExpiresAt))
                return store.update(sessionID: sessionID, expecting: .accessJTI(jti), change: change, now: nowMS, on: eventLoop)
                    .flatMap { [self] applied -> EventLoopFuture<Outcome> in
                        if applied {
                            return eventLoop.makeCompletedFuture(withResultOf: { .renewed(token: try issuer.accessToken(for: session.subject, lineage: lineage), lineage: lineage) })
                        }
                        guard roundsLeft > 1 else { return eventLoop.makeSucceededFuture(.rejected(.superseded)) }
                        return attempt(jti: jti, expiresAt: expiresAt, sessionID: sessionID, now: now, roundsLeft: roundsLeft - 1, on: eventLoop)
                    }
            }
        }
    }
}
