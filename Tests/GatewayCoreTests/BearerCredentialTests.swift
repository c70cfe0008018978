import NIOHTTP1
import Testing
@testable import GatewayCore

/// `BearerCredential(headers:)` (docs/http.md#tokens, docs/http.md#route-auth, docs/http.md#error-bodies): what the Authorization header(s) amount to.
struct BearerCredentialTests {
    static func credential(_ pairs: [(String, String)]) -> BearerCredential {
        BearerCredential(headers: HTTPHeaders(pairs))
    }

    @Test func noAuthorizationHeaderIsNone() {
        #expect(Self.credential([]) == .none)
        #expect(Self.credential([("Host", "example.com"), ("X-Authorization", "Bearer abc"), ("Authorizations", "Bearer abc")]) == .none)
    }

    @Test func bearerTokenIsTheToken() {
        #expect(Self.credential([("Authorization", "Bearer abc.def.ghi")]) == .token("abc.def.ghi"))
    }

    @Test(arguments: ["bearer", "BEARER", "BeArEr"])
    func schemeNameIsCaseInsensitive(scheme: String) {
        #expect(Self.credential([("Authorization", "\(scheme) abc.def.ghi")]) == .token("abc.def.ghi"))
    }

    @Test(arguments: ["authorization", "AUTHORIZATION", "AuThOrIzAtIoN"])
    func headerNameIsCaseInsensitive(name: String) {
        #expect(Self.credential([(name, "Bearer x")]) == .token("x"))
    }

    @Test func tokenIsTakenExactly() {
        // Case and every byte of the token are kept.
        #expect(Self.credential([("Authorization", "Bearer AbC-_.x=")]) == .token("AbC-_.x="))
    }

    @Test(arguments: ["Bearer", "bearer", "Bearer ", "Bearer  "])
    func bearerWithoutATokenIsMalformed(value: String) {
        #expect(Self.credential([("Authorization", value)]) == .malformed)
    }

    @Test(arguments: ["Bearer a b", "Bearer a b c", "bearer a\tb"])
    func bearerWithMoreThanOneTokenIsMalformed(value: String) {
        #expect(Self.credential([("Authorization", value)]) == .malformed)
    }

    @Test(arguments: ["Basic abc", "Token abc", "Digest username=\"x\"", "Bearerabc", "Bearer-x abc", "basic"])
    func anotherSchemeIsOtherScheme(value: String) {
        #expect(Self.credential([("Authorization", value)]) == .otherScheme)
    }

    @Test func twoAuthorizationHeadersAreDuplicated() {
        #expect(Self.credential([("Authorization", "Bearer a"), ("Authorization", "Bearer b")]) == .duplicated)
        #expect(Self.credential([("Authorization", "Bearer a"), ("authorization", "Bearer a")]) == .duplicated)
        #expect(Self.credential([("Authorization", "Basic x"), ("Host", "h"), ("AUTHORIZATION", "Bearer a")]) == .duplicated)
    }

    @Test func duplicatedWinsOverAMalformedFirstHeader() {
        #expect(Self.credential([("Authorization", "Bearer"), ("Authorization", "Bearer a")]) == .duplicated)
    }

    @Test(arguments: ["", "   "])
    func emptyHeaderCarriesNoCredentials(value: String) {
        #expect(BearerCredential(headers: ["Authorization": value]) == .none)
    }
}
