import Testing
@testable import GatewayCore

/// The verified-token cache matches a token by its exact bytes, never by String equality.
struct VerifiedTokenCacheTests {
    static let claims = TokenClaims(payload: ["token_type": .string("access"), "exp": .integer(2_000_000_000), "sub": .string("42")],
                                    userIdClaim: "user_id")!

    static func entry(_ token: String) -> VerifiedTokenCache.Entry {
        VerifiedTokenCache.Entry(token: token, identity: Identity(claims: claims, encodedClaims: "e30"))
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

    static func entry(_ token: String, claimsBytes: Int) -> VerifiedTokenCache.Entry {
        VerifiedTokenCache.Entry(token: token, identity: Identity(claims: claims, encodedClaims: String(repeating: "x", count: claimsBytes)))
    }

    @Test func aFullShardStartsOverInsteadOfGrowing() {
        let cache = VerifiedTokenCache(budgetBytes: 4096, shards: 1)
        let fits = 4096 / Self.entry("token-0").estimatedBytes
        for i in 0..<fits { cache.insert(Self.entry("token-\(i)")) }
        #expect((0..<fits).allSatisfy { cache.lookup(Substring("token-\($0)")) != nil })
        cache.insert(Self.entry("token-\(fits)"))
        #expect(cache.lookup(Substring("token-\(fits)")) != nil)
        #expect((0..<fits).allSatisfy { cache.lookup(Substring("token-\($0)")) == nil })
        #expect(cache.count == 1)
    }

    @Test func theCacheIsBoundedByBytesWhateverTheEntrySizes() {
        let cache = VerifiedTokenCache(budgetBytes: 64 * 1024, shards: 4)
        for i in 0..<5_000 {
            cache.insert(Self.entry("token-\(i)", claimsBytes: (i * 37) % 700))
            #expect(cache.estimatedBytes <= 64 * 1024, "after \(i + 1) inserts")
        }
        #expect(cache.count > 0)
    }

    @Test func largeEntriesTakeMoreOfTheBudgetThanSmallOnes() {
        let small = VerifiedTokenCache(budgetBytes: 8192, shards: 1)
        let large = VerifiedTokenCache(budgetBytes: 8192, shards: 1)
        for i in 0..<5 {
            small.insert(Self.entry("token-\(i)", claimsBytes: 10))
            large.insert(Self.entry("token-\(i)", claimsBytes: 400))
        }
        #expect(small.count == 5)
        #expect(large.count < 5)
        #expect(large.count > 0)
    }

    @Test func anOutsizedEntryIsNotCachedAndEvictsNothing() {
        let cache = VerifiedTokenCache(budgetBytes: 4096, shards: 1)
        cache.insert(Self.entry("small"))
        cache.insert(Self.entry("huge", claimsBytes: 4096))
        #expect(cache.lookup("huge") == nil)
        #expect(cache.lookup("small") != nil)
    }

    @Test func replacingAnEntryDoesNotCountItTwice() {
        let cache = VerifiedTokenCache(budgetBytes: 4096, shards: 1)
        cache.insert(Self.entry("same"))
        let once = cache.estimatedBytes
        cache.insert(Self.entry("same"))
        #expect(cache.estimatedBytes == once)
    }
}
