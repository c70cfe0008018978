import Foundation
import Testing
@testable import GatewayCore

/// `TokenIssuer` (docs/http.md#tokens): the exact claims of access and refresh tokens, the JOSE header, determinism.
struct TokenIssuerTests {
    typealias S = AuthTestSupport
    let now = AuthTestSupport.now

    func issuer(_ tokens: TokensConfig = S.tokens()) async throws -> TokenIssuer {
        TokenIssuer(key: try await S.hmacKey(tokens), tokens: tokens)
    }

    static let subject = TokenIssuer.Subject(
        sessionID: "sid-1", userID: .integer(42),
        claims: ["role": .string("admin"), "scope": .string("read write"), "level": .integer(3)]
    )

    @Test func accessTokenClaimsAreExactlyTheDocumentedOnes() async throws {
        let token = try await issuer().accessToken(for: Self.subject, jti: "jti-1", issuedAt: now, expiresAt: now + 300)
        let payload = try #require(S.segmentObject(token, 1))
        #expect(payload == [
            "token_type": .string("access"),
            "exp": .integer(now + 300),
            "iat": .integer(now),
            "jti": .string("jti-1"),
            "iss": .string("auth-gateway"),
            "sub": .string("42"),
            "user_id": .integer(42),
            "sid": .string("sid-1"),
            "role": .string("admin"),
            "scope": .string("read write"),
            "level": .integer(3),
        ])
    }

    @Test func integerUserIdStaysAnIntegerInTheJSON() async throws {
        let token = try await issuer().accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        let text = try #require(S.segmentText(token, 1))
        #expect(text.contains(#""user_id":42"#))
        #expect(text.contains(#""sub":"42""#))
    }

    @Test func stringUserIdIsAStringInBothClaims() async throws {
        let subject = TokenIssuer.Subject(sessionID: "s", userID: .string("u-7"), claims: [:])
        let token = try await issuer().accessToken(for: subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        let payload = try #require(S.segmentObject(token, 1))
        #expect(payload["sub"] == .string("u-7"))
        #expect(payload["user_id"] == .string("u-7"))
    }

    @Test func audienceIsPresentOnlyWhenConfigured() async throws {
        let without = try await issuer().accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        #expect(try #require(S.segmentObject(without, 1))["aud"] == nil)
        let with = try await issuer(S.tokens(audience: "api.example"))
            .accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        #expect(try #require(S.segmentObject(with, 1))["aud"] == .string("api.example"))
    }

    @Test func configuredIssuerAndUserIdClaimAreUsed() async throws {
        let tokens = S.tokens(issuer: "https://login.example", userIdClaim: "uid")
        let token = try await issuer(tokens).accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        let payload = try #require(S.segmentObject(token, 1))
        #expect(payload["iss"] == .string("https://login.example"))
        #expect(payload["uid"] == .integer(42))
        #expect(payload["user_id"] == nil)
        #expect(payload["sub"] == .string("42"))
    }

    @Test func refreshTokenClaimsAreExactlyTheDocumentedOnes() async throws {
        let token = try await issuer().refreshToken(for: Self.subject, jti: "r-1", issuedAt: now, expiresAt: now + 86_400)
        let payload = try #require(S.segmentObject(token, 1))
        // No auth.claims in a refresh token.
        #expect(payload == [
            "token_type": .string("refresh"),
            "exp": .integer(now + 86_400),
            "iat": .integer(now),
            "jti": .string("r-1"),
            "iss": .string("auth-gateway"),
            "sid": .string("sid-1"),
            "sub": .string("42"),
            "user_id": .integer(42),
        ])
    }

    @Test func refreshTokenWithAudienceConfiguredStillVerifiesAsRefresh() async throws {
        // The verifier checks aud on every token kind, so the refresh token must carry it.
        let tokens = S.tokens(audience: "api.example")
        let key = try await S.hmacKey(tokens)
        let token = try TokenIssuer(key: key, tokens: tokens).refreshToken(for: Self.subject, jti: "r", issuedAt: now, expiresAt: now + 60)
        guard case .valid = TokenVerifier(key: key, tokens: tokens).verify(Substring(token), as: .refresh, atSecond: now) else {
            Issue.record("a refresh token issued with an audience configured must verify")
            return
        }
    }

    @Test func headerIsExactlyHS256JWT() async throws {
        let issuer = try await issuer()
        let access = try issuer.accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        let refresh = try issuer.refreshToken(for: Self.subject, jti: "r", issuedAt: now, expiresAt: now + 300)
        // docs/operations.md#keys-kid-rotation-and-jwks: kid = the first 16 characters of base64url(SHA-256(secret)).
        let kid = SigningKeyTests.hmacKID(Array(S.secret.utf8))
        #expect(S.segmentText(access, 0) == #"{"alg":"HS256","kid":"\#(kid)","typ":"JWT"}"#)
        #expect(S.segmentText(refresh, 0) == #"{"alg":"HS256","kid":"\#(kid)","typ":"JWT"}"#)
        #expect(access.split(separator: ".").first == Substring(S.base64url(#"{"alg":"HS256","kid":"\#(kid)","typ":"JWT"}"#)))
    }

    @Test func signatureIsHMACSHA256OfTheSigningInputWithTheFileKey() async throws {
        let token = try await issuer().accessToken(for: Self.subject, jti: "j", issuedAt: now, expiresAt: now + 300)
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        #expect(parts.count == 3)
        let expected = S.base64url(S.hmac(String(parts[0]) + "." + String(parts[1]), secret: S.secret, alg: "HS256"))
        #expect(String(parts[2]) == expected)
        #expect(!token.contains("="))
    }

    @Test func sameInputsGiveByteIdenticalTokens() async throws {
        let issuer = try await issuer()
        let a = try issuer.accessToken(for: Self.subject, jti: "jti-1", issuedAt: now, expiresAt: now + 300)
        let b = try issuer.accessToken(for: Self.subject, jti: "jti-1", issuedAt: now, expiresAt: now + 300)
        #expect(a == b)
        // Claims given in another dictionary order still give the same token.
        var reordered = TokenIssuer.Subject(sessionID: "sid-1", userID: .integer(42), claims: [:])
        for name in ["level", "scope", "role"] { reordered.claims[name] = Self.subject.claims[name] }
        #expect(try issuer.accessToken(for: reordered, jti: "jti-1", issuedAt: now, expiresAt: now + 300) == a)
        let r1 = try issuer.refreshToken(for: Self.subject, jti: "r", issuedAt: now, expiresAt: now + 300)
        let r2 = try issuer.refreshToken(for: Self.subject, jti: "r", issuedAt: now, expiresAt: now + 300)
        #expect(r1 == r2)
    }

    @Test func differentJtiOrTimesGiveDifferentTokens() async throws {
        let issuer = try await issuer()
        let a = try issuer.accessToken(for: Self.subject, jti: "jti-1", issuedAt: now, expiresAt: now + 300)
        #expect(try issuer.accessToken(for: Self.subject, jti: "jti-2", issuedAt: now, expiresAt: now + 300) != a)
        #expect(try issuer.accessToken(for: Self.subject, jti: "jti-1", issuedAt: now + 1, expiresAt: now + 300) != a)
        #expect(try issuer.accessToken(for: Self.subject, jti: "jti-1", issuedAt: now, expiresAt: now + 301) != a)
    }

    @Test func randomIDsAre32HexDigitsAndDistinct() {
        let ids = (0..<100).map { _ in RandomID.make() }
        #expect(Set(ids).count == 100)
        for id in ids {
            #expect(id.count == 32)
            #expect(id.allSatisfy { $0.isHexDigit })
        }
    }
}
