import Testing
@testable import GatewayCore

/// `RenewalPolicy.decide` (SPEC §5.3): latest advances, predecessor reuses within grace, everything else refused.
struct RenewalPolicyTests {
    /// window 1d, grace 10s.
    let policy = RenewalPolicy(window: .seconds(86_400), grace: .seconds(10))

    /// Times in ms; token times in s.
    static let login: Int64 = 1_750_000_000_000
    static let replacedAt: Int64 = login + 600_000
    /// The token that expired (the predecessor's exp), in seconds.
    static let expiredAt: Int64 = login / 1000 + 300
    static let successor = AccessLineage(jti: "A2", issuedAt: replacedAt / 1000, expiresAt: replacedAt / 1000 + 300)

    static func session(revokedAt: Int64? = nil, expiresAt: Int64 = login + 86_400_000) -> Session {
        Session(
            id: "sid-1", userID: .integer(42), claims: [:], createdAt: login, expiresAt: expiresAt,
            maxExpiresAt: login + 30 * 86_400_000, revokedAt: revokedAt, refreshJTI: "R1",
            access: successor, previousAccessJTI: "A1", accessReplacedAt: replacedAt
        )
    }

    @Test func configuredDurationsAreMilliseconds() {
        #expect(policy.windowMS == 86_400_000)
        #expect(policy.graceMS == 10_000)
        #expect(RenewalPolicy(window: .milliseconds(1500), grace: .milliseconds(250)).graceMS == 250)
    }

    @Test func latestTokenAdvances() {
        let now = Self.replacedAt + 400_000
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: Self.session(), now: now) == .advance)
    }

    @Test func predecessorWithinGraceReusesTheSuccessor() {
        for now in [Self.replacedAt, Self.replacedAt + 1, Self.replacedAt + 9_999] {
            #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: now) == .reuseSuccessor(Self.successor))
        }
    }

    @Test func predecessorExactlyAtTheGraceEdgeStillReuses() {
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 10_000)
            == .reuseSuccessor(Self.successor))
    }

    @Test func predecessorAfterGraceIsSuperseded() {
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 10_001)
            == .reject(.superseded))
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 3_600_000)
            == .reject(.superseded))
    }

    @Test func predecessorWithoutAReplacementTimeIsSuperseded() {
        var session = Self.session()
        session.accessReplacedAt = nil
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: session, now: Self.replacedAt) == .reject(.superseded))
    }

    @Test func olderTokenIsSuperseded() {
        #expect(policy.decide(tokenJTI: "A0", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 1) == .reject(.superseded))
        #expect(policy.decide(tokenJTI: "", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 1) == .reject(.superseded))
    }

    @Test func revokedSessionIsRefused() {
        let session = Self.session(revokedAt: Self.replacedAt)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: session, now: Self.replacedAt + 400_000)
            == .reject(.sessionRevoked))
        // Even within the grace of the predecessor.
        #expect(policy.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: session, now: Self.replacedAt + 1)
            == .reject(.sessionRevoked))
    }

    @Test func expiredSessionIsRefusedFromItsExpiryOn() {
        let end = Self.replacedAt + 500_000
        let session = Self.session(expiresAt: end)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: session, now: end - 1) == .advance)
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: session, now: end) == .reject(.sessionExpired))
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: session, now: end + 1) == .reject(.sessionExpired))
    }

    @Test func noSessionIsRefused() {
        #expect(policy.decide(tokenJTI: "A2", expiresAt: Self.successor.expiresAt, session: nil, now: Self.replacedAt + 400_000)
            == .reject(.noSession))
    }

    @Test func tokenExpiredExactlyWindowAgoStillRenews() {
        let exp = Self.successor.expiresAt
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: Self.session(expiresAt: .max), now: exp * 1000 + 86_400_000) == .advance)
        #expect(policy.withinWindow(expiresAt: exp, now: exp * 1000 + 86_400_000))
    }

    @Test func tokenExpiredLongerThanWindowAgoIsPastWindow() {
        let exp = Self.successor.expiresAt
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: Self.session(expiresAt: .max), now: exp * 1000 + 86_400_001)
            == .reject(.pastWindow))
        #expect(!policy.withinWindow(expiresAt: exp, now: exp * 1000 + 86_400_001))
        // Past the window beats every other reason.
        #expect(policy.decide(tokenJTI: "A2", expiresAt: exp, session: nil, now: exp * 1000 + 86_400_001) == .reject(.pastWindow))
    }

    @Test func zeroGraceStillReusesAtTheInstantOfReplacementOnly() {
        let strict = RenewalPolicy(window: .seconds(86_400), grace: .zero)
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt) == .reuseSuccessor(Self.successor))
        #expect(strict.decide(tokenJTI: "A1", expiresAt: Self.expiredAt, session: Self.session(), now: Self.replacedAt + 1) == .reject(.superseded))
    }
}
