import NIOHTTP1
import Testing
@testable import GatewayCore

/// Three findings of the 2026-12-06 review (issue 13 item 6), each pinned by a test that failed before the fix.
struct ReviewFindingsTests {
    // MARK: Access-Control-Expose-Headers: *

    /// On a credentialed request `*` is a header literally named `*` (Fetch standard), so a browser could not
    /// read the renewed token unless the header is listed by name.
    @Test func theRenewalHeaderIsListedEvenWhenTheUpstreamExposesStar() {
        var headers = HTTPHeaders([("Access-Control-Expose-Headers", "*")])
        RenewalResponseHeaders(header: "X-Access-Token").add("t0ken", to: &headers)
        #expect(headers["access-control-expose-headers"] == ["*, X-Access-Token"])
        #expect(headers["x-access-token"] == ["t0ken"])
    }

    @Test func aHeaderAlreadyListedIsNotListedTwice() {
        var headers = HTTPHeaders([("Access-Control-Expose-Headers", "x-access-token, X-Custom")])
        RenewalResponseHeaders(header: "X-Access-Token").add("t0ken", to: &headers)
        #expect(headers["access-control-expose-headers"] == ["x-access-token, X-Custom"])
    }

    /// An upstream that sends a header of the renewal header's name itself: the client gets one value, the
    /// gateway's (two would read as one comma-joined token in a browser).
    @Test func theRenewedTokenReplacesAnUpstreamHeaderOfTheSameName() {
        var headers = HTTPHeaders([("X-Access-Token", "from-upstream")])
        RenewalResponseHeaders(header: "X-Access-Token").add("t0ken", to: &headers)
        #expect(headers["x-access-token"] == ["t0ken"])
        #expect(headers["access-control-expose-headers"] == ["X-Access-Token"])
    }

    // MARK: sub-second leeway

    @Test(arguments: ["500ms", "1500ms"])
    func aSubSecondLeewayIsAConfigErrorNotASilentZero(leeway: String) {
        let problems = ConfigReaderTests.problems(ConfigReaderTests.minimal(plus: "[tokens]\nleeway = \"\(leeway)\""))
        #expect(problems.contains { $0.key == "tokens.leeway" && $0.message.contains("must be a whole number of seconds") })
    }

    @Test func aWholeSecondLeewayParses() throws {
        let config = try ConfigReaderTests.parse(ConfigReaderTests.minimal(plus: "[tokens]\nleeway = \"2000ms\""))
        #expect(config.tokens.leeway == .seconds(2))
    }

    // MARK: failures of the auth path

    struct SomethingBroke: Error {}

    @Test func onlyAStoreFailureIs503() {
        #expect(GatewayError.answering(StoreUnavailable("down")).status == .serviceUnavailable)
        #expect(GatewayError.answering(StoreUnavailable("down")).codeString == "store_unavailable")
    }

    @Test func anyOtherFailureIsA500WithItsOwnCode() {
        let answer = GatewayError.answering(SomethingBroke())
        #expect(answer.status == .internalServerError)
        #expect(answer.codeString == "internal_error")
        #expect(answer.body(language: .english) == #"{"detail":"A server error occurred.","code":"internal_error"}"#)
    }

    @Test func aGatewayErrorAnswersItself() {
        #expect(GatewayError.answering(GatewayError.permissionDenied).status == .forbidden)
    }
}

/// Inputs scripts/fuzz found (Fuzz/crashes/), each pinned as a unit test.
struct FuzzFindingsTests {
    @Test func aJSONPointerSplitsOnSlashBytesEvenBeforeACombiningMark() throws {
        let pointer = try JSONPointer(parsing: "/a/\u{301}b")
        let document = JSONValue.object(["a": .object(["\u{301}b": .integer(1)])])
        #expect(pointer.resolve(in: document) == .integer(1))
    }

    @Test func aTildeBeforeACombiningMarkIsRefusedAndTildeZeroBeforeOneIsAccepted() throws {
        #expect(throws: (any Error).self) { try JSONPointer(parsing: "/~\u{301}") }
        let pointer = try JSONPointer(parsing: "/~0\u{301}")
        #expect(pointer.resolve(in: .object(["~\u{301}": .bool(true)])) == .bool(true))
    }
}

extension FuzzFindingsTests {
    /// A correctly signed token whose `exp` is within `leeway` of Int64.max trapped in `exp + leeway`.
    @Test func anExpNearTheLargestIntegerWithLeewayIsValidNotATrap() async throws {
        typealias Support = AuthTestSupport
        let tokens = Support.tokens(leeway: .seconds(30))
        let key = try await Support.hmacKey(tokens)
        var claims = Support.accessClaims()
        claims["exp"] = .integer(Int64.max - 5)
        let token = Support.craft(payload: Support.json(claims))
        let outcome = TokenVerifier(key: key, tokens: tokens).verify(Substring(token), as: .access, atSecond: Support.now)
        guard case .valid = outcome else {
            Issue.record("expected .valid, got \(outcome)")
            return
        }
    }
}
