import Testing
@testable import GatewayCore

/// `UnixTime`: milliseconds inside, NumericDate seconds at the token boundary, saturating at the ends.
struct UnixTimeTests {
    @Test func secondsRoundDownAlsoBeforeTheEpoch() {
        #expect(UnixTime(milliseconds: 1_750_000_000_999).seconds == 1_750_000_000)
        #expect(UnixTime(milliseconds: 0).seconds == 0)
        #expect(UnixTime(milliseconds: -1).seconds == -1)
        #expect(UnixTime(milliseconds: -1000).seconds == -1)
        #expect(UnixTime(seconds: 1_750_000_000).milliseconds == 1_750_000_000_000)
    }

    @Test func aTokensSecondsSaturateInsteadOfTrapping() {
        #expect(UnixTime(seconds: .max).milliseconds == .max)
        #expect(UnixTime(seconds: .min).milliseconds == .min)
    }

    @Test func addingADurationCountsWholeMillisecondsAndSaturates() {
        let t = UnixTime(milliseconds: 1000)
        #expect(t + .milliseconds(1500) == UnixTime(milliseconds: 2500))
        #expect(t + .microseconds(1999) == UnixTime(milliseconds: 1001))
        #expect(t - .seconds(2) == UnixTime(milliseconds: -1000))
        #expect(UnixTime(milliseconds: .max - 1) + .seconds(1) == UnixTime(milliseconds: .max))
        #expect(UnixTime(milliseconds: .min + 1) - .seconds(1) == UnixTime(milliseconds: .min))
    }

    @Test func sinceIsTheDurationBetween() {
        let a = UnixTime(milliseconds: 5_000), b = UnixTime(milliseconds: 3_500)
        #expect(a.since(b) == .milliseconds(1500))
        #expect(b.since(a) == .milliseconds(-1500))
    }

    @Test func aFixedClockAlwaysReadsItsTime() {
        let clock = WallClock.fixed(UnixTime(milliseconds: 42))
        #expect(clock.now() == UnixTime(milliseconds: 42))
        #expect(clock.now() == clock.now())
    }

    @Test func rfc3339IsUTCInWholeSeconds() {
        #expect(UnixTime(milliseconds: 1_750_000_000_999).rfc3339 == "2025-06-15T15:06:40Z")
        #expect(UnixTime(milliseconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
    }
}
