import Testing
@testable import GatewayCore

/// `RenewalPolicy.decide` (docs/http.md#renewal): latest advances, predecessor reuses within grace, everything else refused.
struct RenewalPolicyTests {
    /// window 1d, grace 10s.
    let policy = RenewalPolicy(window: .seconds(86_400), grace: .seconds(10))

    static let login = UnixTime(milliseconds: 1_750_000_000_000)
    static let replacedAt = login + .seconds(600)
    /// The token that expired (the predecessor's exp), in seconds.
    static let expiredAt: Int64 = login.seconds + 300
    static let successor = AccessLineage(jti: "A2", issuedAt: replacedAt, expiresAt: replacedAt + .seconds(300))
    /// The successor's `exp`, in seconds (the claim).
    static let successorExp = successor.expiresAt.seconds

    static func session(revokedAt: UnixTime? = nil, expiresAt: UnixTime = login + .seconds(86_400)) -> Session {
        Session(
            id: "sid-1", userID: .integer(42), claims: [:], createdAt: login, expiresAt: expiresAt,
            maxExpiresAt: login + .seconds(30 * 86_400), revokedAt: revokedAt, refreshJTI: "R1",
            access: successor, previousAccessJTI: "A1", accessReplacedAt: replacedAt
        )
    }

    @Test func subSecondGraceCountsInMilliseconds() {
        let strict = RenewalPolicy(window: .seconds(86_400), grace: .milliseconds(250))
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(250))
            == .reuseSuccessor(Self.successor))
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(251))
            == .reject(.superseded))
    }

    @Test func latestTokenAdvances() {
        let now = Self.replacedAt + .milliseconds(400_000)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: Self.session(), now: now) == .advance)
    }

    @Test func predecessorWithinGraceReusesTheSuccessor() {
        for now in [Self.replacedAt, Self.replacedAt + .milliseconds(1), Self.replacedAt + .milliseconds(9_999)] {
            #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: now) == .reuseSuccessor(Self.successor))
        }
    }

    @Test func predecessorExactlyAtTheGraceEdgeStillReuses() {
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(10_000))
            == .reuseSuccessor(Self.successor))
    }

    @Test func predecessorAfterGraceIsSuperseded() {
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(10_001))
            == .reject(.superseded))
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(3_600_000))
            == .reject(.superseded))
    }

    @Test func predecessorWithoutAReplacementTimeIsSuperseded() {
        var session = Self.session()
        session.accessReplacedAt = nil
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: session, now: Self.replacedAt) == .reject(.superseded))
    }

    @Test func olderTokenIsSuperseded() {
        #expect(policy.decide(tokenJTI: "A0", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(1)) == .reject(.superseded))
        #expect(policy.decide(tokenJTI: "", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(1)) == .reject(.superseded))
    }

    @Test func revokedSessionIsRefused() {
        let session = Self.session(revokedAt: Self.replacedAt)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: session, now: Self.replacedAt + .milliseconds(400_000))
            == .reject(.sessionRevoked))
        // Even within the grace of the predecessor.
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: session, now: Self.replacedAt + .milliseconds(1))
            == .reject(.sessionRevoked))
    }

    @Test func expiredSessionIsRefusedFromItsExpiryOn() {
        let end = Self.replacedAt + .milliseconds(500_000)
        let session = Self.session(expiresAt: end)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: session, now: end - .milliseconds(1)) == .advance)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: session, now: end) == .reject(.sessionExpired))
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: session, now: end + .milliseconds(1)) == .reject(.sessionExpired))
    }

    @Test func noSessionIsRefused() {
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successorExp, session: nil, now: Self.replacedAt + .milliseconds(400_000))
            == .reject(.noSession))
    }

    @Test func tokenExpiredExactlyWindowAgoStillRenews() {
        let exp = Self.successorExp
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: Self.session(expiresAt: UnixTime(milliseconds: .max)), now: UnixTime(seconds: exp) + .milliseconds(86_400_000)) == .advance)
        #expect(policy.withinWindow(expiresAt: exp, now: UnixTime(seconds: exp) + .milliseconds(86_400_000)))
    }

    @Test func tokenExpiredLongerThanWindowAgoIsPastWindow() {
        let exp = Self.successorExp
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: Self.session(expiresAt: UnixTime(milliseconds: .max)), now: UnixTime(seconds: exp) + .milliseconds(86_400_001))
            == .reject(.pastWindow))
        #expect(!policy.withinWindow(expiresAt: exp, now: UnixTime(seconds: exp) + .milliseconds(86_400_001)))
        // Past the window beats every other reason.
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: nil, now: UnixTime(seconds: exp) + .milliseconds(86_400_001)) == .reject(.pastWindow))
    }

    @Test func zeroGraceStillReusesAtTheInstantOfReplacementOnly() {
        let strict = RenewalPolicy(window: .seconds(86_400), grace: .zero)
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt) == .reuseSuccessor(Self.successor))
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + .milliseconds(1)) == .reject(.superseded))
    }
}
