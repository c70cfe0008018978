import Testing
@testable import GatewayCore

/// The verified-token cache matches a token by its exact bytes, never by String equality.
struct VerifiedTokenCacheTests {
    static let claims = TokenClaims(payload: ["token_type": .string("access"), "exp": .integer(2_000_000_000), "sub": .string("42")],
                                    userIdClaim: "user_id")!

    static func entry(_ token: String) -> VerifiedTokenCache.Entry {
        VerifiedTokenCache.Entry(token: token, claims: claims, encodedClaims: "e30")
    }

    @Test func aTokenIsFoundByItsBytesAlsoAsASliceOfALargerHeader() {
        let cache = VerifiedTokenCache()
        cache.insert(Self.entry("eyJ.K.sig"))
        let header = "Bearer eyJ.K.sig"
        let slice = header[header.index(header.startIndex, offsetBy: 7)...]
        #expect(cache.lookup(slice)?.token == "eyJ.K.sig")
        #expect(cache.lookup("eyJ.K.sih") == nil)
        #expect(cache.lookup("eyJ.K.si") == nil)
    }

    @Test func canonicallyEquivalentButDifferentBytesDoNotMatch() {
        // U+212A KELVIN SIGN is canonically equivalent to "K": equal as Strings, different as bytes.
        #expect("eyJ.\u{212A}.sig" == "eyJ.K.sig")
        #expect(!VerifiedTokenCache.sameBytes("eyJ.K.sig", "eyJ.\u{212A}.sig"))
        #expect(VerifiedTokenCache.sameBytes("eyJ.K.sig", "eyJ.K.sig"))
        #expect(VerifiedTokenCache.sameBytes("", ""))
        #expect(!VerifiedTokenCache.sameBytes("a", "b"))
    }

    @Test func aFullShardStartsOverInsteadOfGrowing() {
        let cache = VerifiedTokenCache(capacity: 4, shards: 1)
        for i in 0..<4 { cache.insert(Self.entry("token-\(i)")) }
        #expect((0..<4).allSatisfy { cache.lookup(Substring("token-\($0)")) != nil })
        cache.insert(Self.entry("token-4"))
        #expect(cache.lookup("token-4") != nil)
        #expect((0..<4).allSatisfy { cache.lookup(Substring("token-\($0)")) == nil })
    }
}
