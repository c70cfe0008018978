import Testing
@testable import GatewayCore

/// `RefreshPolicy` (SPEC §4.2): the current refresh token rotates; a rotated one revokes the session under the
/// blacklist, or refreshes against the current id without it; a revoked, expired or unknown session refuses.
struct RefreshPolicyTests {
    static let login = UnixTime(milliseconds: 1_750_000_000_000)
    static let blacklisting = RefreshPolicy(blacklistAfterRotation: true)
    static let lenient = RefreshPolicy(blacklistAfterRotation: false)

    static func session(revokedAt: UnixTime? = nil, expiresAt: UnixTime = login + .seconds(3600)) -> Session {
        Session(id: "sid-1", userID: .integer(42), claims: [:], createdAt: login, expiresAt: expiresAt,
                maxExpiresAt: login + .seconds(86_400), revokedAt: revokedAt, refreshJTI: "R2",
                access: AccessLineage(jti: "A1", issuedAt: login, expiresAt: login + .seconds(300)))
    }

    @Test func theCurrentTokenRotatesOnConditionItIsStillCurrent() {
        for policy in [Self.blacklisting, Self.lenient] {
            #expect(policy.decide(tokenJTI: "R2", session: Self.session(), now: Self.login + .seconds(60)) == .rotate(expecting: "R2"))
        }
    }

    @Test func anotherTokenOfTheSessionAsksForTheRotationHistory() {
        #expect(Self.blacklisting.decide(tokenJTI: "R1", session: Self.session(), now: Self.login) == .readHistory)
    }

    @Test func aRotatedTokenRevokesTheSessionUnderTheBlacklist() {
        #expect(Self.blacklisting.afterHistory(wasReplaced: true, session: Self.session()) == .revokeSession)
    }

    @Test func aRotatedTokenWithoutTheBlacklistRotatesAgainstTheCurrentID() {
        #expect(Self.lenient.afterHistory(wasReplaced: true, session: Self.session()) == .rotate(expecting: "R2"))
    }

    @Test func aTokenTheSessionNeverHadIsInvalid() {
        for policy in [Self.blacklisting, Self.lenient] {
            #expect(policy.afterHistory(wasReplaced: false, session: Self.session()) == .reject(.invalid))
        }
    }

    @Test func noSessionIsInvalid() {
        #expect(Self.blacklisting.decide(tokenJTI: "R2", session: nil, now: Self.login) == .reject(.invalid))
    }

    @Test func aRevokedSessionIsBlacklistedWhateverTheToken() {
        let revoked = Self.session(revokedAt: Self.login + .seconds(1))
        #expect(Self.blacklisting.decide(tokenJTI: "R2", session: revoked, now: Self.login + .seconds(2)) == .reject(.blacklisted))
        #expect(Self.lenient.decide(tokenJTI: "R1", session: revoked, now: Self.login + .seconds(2)) == .reject(.blacklisted))
    }

    @Test func anExpiredSessionIsExpiredFromItsExpiryOn() {
        let end = Self.login + .seconds(3600)
        #expect(Self.blacklisting.decide(tokenJTI: "R2", session: Self.session(), now: end - .milliseconds(1)) == .rotate(expecting: "R2"))
        #expect(Self.blacklisting.decide(tokenJTI: "R2", session: Self.session(), now: end) == .reject(.expired))
    }
}
