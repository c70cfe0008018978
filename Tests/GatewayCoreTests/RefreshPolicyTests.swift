import Testing
@testable import GatewayCore

/// `RefreshPolicy` (docs/http.md#refresh): the current refresh token rotates; a rotated one revokes the session under the
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

    /// R1 was replaced by R2 at login + 1 s, handing out access token A2.
    static let replacement = RefreshReplacement(
        replacedAt: login + .seconds(1), successorRefreshJTI: "R2", successorExpiresAt: login + .seconds(3601),
        access: AccessLineage(jti: "A2", issuedAt: login + .seconds(1), expiresAt: login + .seconds(301)))

    @Test func aDuplicateWithinTheReuseIntervalGetsTheSameAnswerAndAfterItIsReuse() {
        let tabs = RefreshPolicy(blacklistAfterRotation: true, reuseInterval: .seconds(5))
        for now in [Self.login + .seconds(1), Self.login + .seconds(6)] {
            #expect(tabs.afterHistory(replacement: Self.replacement, session: Self.session(), now: now) == .repeatAnswer(Self.replacement))
        }
        #expect(tabs.afterHistory(replacement: Self.replacement, session: Self.session(), now: Self.login + .milliseconds(6001)) == .revokeSession)
        // A rotation recorded without what it handed out cannot be repeated: reuse.
        var bare = Self.replacement
        bare.access = nil
        #expect(tabs.afterHistory(replacement: bare, session: Self.session(), now: Self.login + .seconds(2)) == .revokeSession)
        // Zero (the default) keeps strict reuse detection.
        #expect(Self.blacklisting.afterHistory(replacement: Self.replacement, session: Self.session(), now: Self.login + .seconds(1)) == .revokeSession)
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
        #expect(Self.blacklisting.afterHistory(replacement: Self.replacement, session: Self.session(), now: Self.login) == .revokeSession)
    }

    @Test func aRotatedTokenWithoutTheBlacklistRotatesAgainstTheCurrentID() {
        #expect(Self.lenient.afterHistory(replacement: Self.replacement, session: Self.session(), now: Self.login) == .rotate(expecting: "R2"))
    }

    @Test func aTokenTheSessionNeverHadIsInvalid() {
        for policy in [Self.blacklisting, Self.lenient] {
            #expect(policy.afterHistory(replacement: nil, session: Self.session(), now: Self.login) == .reject(.invalid))
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
