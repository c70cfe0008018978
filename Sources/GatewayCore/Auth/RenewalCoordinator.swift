import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Performs renewals against the store. Concurrent renewals of one token in this process share one store
/// write (coalesced by jti); across processes the store's compare-and-set decides.
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
            promise.completeWithTask { [self] in
                defer { _ = inFlight.withLockedValue { $0.removeValue(forKey: jti) } }
                return try await perform(jti: jti, expiresAt: claims.expiresAt, sessionID: sessionID, now: now)
            }
            return promise.futureResult
        }
    }

    private func perform(jti: String, expiresAt: Int64, sessionID: String, now: @Sendable () -> Int64) async throws -> Outcome {
        // Two rounds: when another gateway advanced the lineage between our read and our write,
        // the re-read sees this token as the predecessor and hands out that successor.
        for _ in 0..<2 {
            let nowMS = now()
            let session = try await store.session(id: sessionID)
            switch policy.decide(tokenJTI: jti, expiresAt: expiresAt, session: session, now: nowMS) {
            case .reject(let why):
                logger.debug("renewal refused", metadata: ["reason": "\(why.rawValue)", "sid": "\(sessionID)"])
                return .rejected(why)
            case .reuseSuccessor(let lineage):
                return .renewed(token: try issuer.accessToken(for: session!.subject, lineage: lineage), lineage: lineage)
            case .advance:
                let session = session!
                let lineage = issuer.newAccessLineage(at: nowMS)
                let change = SessionChange(newRefreshJTI: nil, newAccess: lineage, expiresAt: min(nowMS + refreshTTLMS, session.maxExpiresAt))
                if try await store.update(sessionID: sessionID, expecting: .accessJTI(jti), change: change, now: nowMS) {
                    return .renewed(token: try issuer.accessToken(for: session.subject, lineage: lineage), lineage: lineage)
                }
            }
        }
        return .rejected(.superseded)
    }
}
