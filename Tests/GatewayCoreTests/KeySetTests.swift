import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Testing
@testable import GatewayCore

/// docs/operations.md#keys-kid-rotation-and-jwks: key ids derived from the key alone, verification by `kid` among the current and previous keys,
/// the JWKS document, and the config rules for retired keys.
struct KeySetTests {
    typealias S = AuthTestSupport
    static let now: Int64 = 1_750_000_000
    static let subject = TokenIssuer.Subject(sessionID: "sid-1", userID: .integer(42), claims: [:])

    /// RFC 7638 §3.1's own example key and thumbprint.
    static let rfc7638Modulus = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    static let rfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

    @Test func theThumbprintOfRFC7638sExampleKey() {
        #expect(VerificationKey.thumbprint([("e", "AQAB"), ("kty", "RSA"), ("n", Self.rfc7638Modulus)]) == Self.rfc7638Thumbprint)
    }

    @Test func anRS256KeyFileGetsRFC7638sThumbprintAsItsKid() async throws {
        // The example key as a PEM public key: the kid comes out of the file, through n and e as the key holds them.
        let pem = try Insecure.RSA.PublicKey(modulus: Self.rfc7638Modulus, exponent: "AQAB").pemRepresentation
        let key = try await VerificationKey.asymmetric(pem: pem, algorithm: .rs256, source: "rfc7638.pem", mustBePrivate: false)
        #expect(key.kid == Self.rfc7638Thumbprint)
        let jwk = try #require(key.publicJWK.flatMap { JSONValue.parse(Array($0.utf8)) })
        #expect(jwk["n"] == .string(Self.rfc7638Modulus))
        #expect(jwk["e"] == .string("AQAB"))
        #expect(jwk["kid"] == .string(Self.rfc7638Thumbprint))
        #expect(jwk["use"] == .string("sig"))
        #expect(jwk["alg"] == .string("RS256"))
    }

    @Test func aRetiredKeyMayBePublicButTheCurrentOneMustBePrivate() async throws {
        let pem = try Insecure.RSA.PublicKey(modulus: Self.rfc7638Modulus, exponent: "AQAB").pemRepresentation
        await #expect(throws: SigningKey.LoadError.self) {
            try await VerificationKey.asymmetric(pem: pem, algorithm: .rs256, source: "public.pem", mustBePrivate: true)
        }
    }

    /// A folder with HS256 secrets `old.key` and `new.key`; tokens config whose current key is `current`.
    static func hmacFolder() throws -> String {
        let dir = try S.temporaryDirectory()
        try (S.secret + "\n").write(toFile: dir + "/old.key", atomically: true, encoding: .utf8)
        try (S.otherSecret + "\n").write(toFile: dir + "/new.key", atomically: true, encoding: .utf8)
        return dir
    }

    static func tokens(current: String, previous: [String] = []) -> TokensConfig {
        var tokens = S.tokens()
        tokens.secretFile = current
        tokens.previousSecretFiles = previous
        return tokens
    }

    @Test func aTokenOfARetiredKeyVerifiesByItsKidAndATokenOfAnUnknownKidDoesNot() async throws {
        let dir = try Self.hmacFolder()
        defer { S.removeDirectory(dir) }
        let old = try await SigningKey.load(Self.tokens(current: "old.key"), relativeTo: dir)
        let rotated = try await SigningKey.load(Self.tokens(current: "new.key", previous: ["old.key"]), relativeTo: dir)
        let unrelated = try await SigningKey.load(Self.tokens(current: "new.key"), relativeTo: dir)
        let oldToken = try TokenIssuer(key: old, tokens: Self.tokens(current: "old.key")).accessToken(for: Self.subject, jti: "a", issuedAt: Self.now, expiresAt: Self.now + 300)

        let verifier = TokenVerifier(key: rotated, tokens: Self.tokens(current: "new.key"))
        guard case .valid = verifier.verify(Substring(oldToken), as: .access, atSecond: Self.now) else {
            Issue.record("a token the retired key signed must verify after the rotation")
            return
        }
        // New tokens are signed with the current key, and name it.
        let newToken = try TokenIssuer(key: rotated, tokens: Self.tokens(current: "new.key")).accessToken(for: Self.subject, jti: "b", issuedAt: Self.now, expiresAt: Self.now + 300)
        #expect(S.segmentText(newToken, 0)?.contains(#""kid":"\#(SigningKeyTests.hmacKID(Array(S.otherSecret.utf8)))""#) == true)
        // Without the old key listed, its kid is unknown.
        #expect(TokenVerifier(key: unrelated, tokens: Self.tokens(current: "new.key")).verify(Substring(oldToken), as: .access, atSecond: Self.now)
            == .invalid(.unknownKey))
    }

    @Test func aTokenWithoutKidIsTriedAgainstTheCurrentKeyOnly() async throws {
        let dir = try Self.hmacFolder()
        defer { S.removeDirectory(dir) }
        let rotated = try await SigningKey.load(Self.tokens(current: "new.key", previous: ["old.key"]), relativeTo: dir)
        let verifier = TokenVerifier(key: rotated, tokens: Self.tokens(current: "new.key"))
        let byOld = S.craft(payload: S.json(S.accessClaims(now: Self.now)), secret: S.secret)
        let byNew = S.craft(payload: S.json(S.accessClaims(now: Self.now)), secret: S.otherSecret)
        #expect(verifier.verify(Substring(byOld), as: .access, atSecond: Self.now) == .invalid(.signature))
        guard case .valid = verifier.verify(Substring(byNew), as: .access, atSecond: Self.now) else {
            Issue.record("a kid-less token of the current key (a gateway before kid) must verify")
            return
        }
    }

    @Test func aKidOfAnotherKeyDoesNotLendItsKey() async throws {
        let dir = try Self.hmacFolder()
        defer { S.removeDirectory(dir) }
        let rotated = try await SigningKey.load(Self.tokens(current: "new.key", previous: ["old.key"]), relativeTo: dir)
        let verifier = TokenVerifier(key: rotated, tokens: Self.tokens(current: "new.key"))
        // Signed with the old secret but naming the new key's kid: checked against the new key, so refused.
        let header = #"{"alg":"HS256","kid":"\#(SigningKeyTests.hmacKID(Array(S.otherSecret.utf8)))","typ":"JWT"}"#
        let token = S.craft(header: header, payload: S.json(S.accessClaims(now: Self.now)), secret: S.secret)
        #expect(verifier.verify(Substring(token), as: .access, atSecond: Self.now) == .invalid(.signature))
    }

    @Test func theSameKeyListedTwiceIsAStartUpError() async throws {
        let dir = try Self.hmacFolder()
        defer { S.removeDirectory(dir) }
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(Self.tokens(current: "new.key", previous: ["new.key"]), relativeTo: dir)
        }
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(Self.tokens(current: "new.key", previous: ["missing.key"]), relativeTo: dir)
        }
    }

    @Test func jwksListsThePublicKeysCurrentFirstAndNothingForHMAC() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let current = P256.Signing.PrivateKey(), retired = P256.Signing.PrivateKey()
        try current.pemRepresentation.write(toFile: dir + "/current.pem", atomically: true, encoding: .utf8)
        // A retired key may be given as its public half only.
        try retired.publicKey.pemRepresentation.write(toFile: dir + "/retired.pem", atomically: true, encoding: .utf8)
        var tokens = S.tokens(algorithm: .es256)
        tokens.privateKeyFile = "current.pem"
        tokens.previousKeyFiles = ["retired.pem"]
        let key = try await SigningKey.load(tokens, relativeTo: dir)
        let document = try #require(key.jwks.flatMap { JSONValue.parse(Array($0.utf8)) })
        guard case .array(let keys)? = document["keys"], keys.count == 2 else {
            Issue.record("expected two keys: \(String(describing: key.jwks))")
            return
        }
        for (jwk, pair) in zip(keys, [current.publicKey, retired.publicKey]) {
            let point = pair.x963Representation
            #expect(jwk["kty"] == .string("EC"))
            #expect(jwk["crv"] == .string("P-256"))
            #expect(jwk["x"] == .string(S.base64url(point[1..<33])))
            #expect(jwk["y"] == .string(S.base64url(point[33..<65])))
            #expect(jwk["alg"] == .string("ES256"))
            #expect(jwk["use"] == .string("sig"))
            #expect(jwk["d"] == nil, "no private member")
        }
        #expect(keys[0]["kid"] == .string(key.current.kid))
        #expect(S.segmentText(key.headerSegment + ".e30.x", 0)?.contains(key.current.kid) == true)
        #expect(try await S.hmacKey(S.tokens()).jwks == nil)
    }

    @Test func aKeyOfAnotherCurveIsAStartUpError() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try P384.Signing.PrivateKey().pemRepresentation.write(toFile: dir + "/p384.pem", atomically: true, encoding: .utf8)
        var tokens = S.tokens(algorithm: .es256)
        tokens.privateKeyFile = "p384.pem"
        await #expect(throws: SigningKey.LoadError.self) { try await SigningKey.load(tokens, relativeTo: dir) }
    }

    @Test func aTokenOfAnotherAlgorithmFamilyIsRefused() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation.write(toFile: dir + "/rs.pem", atomically: true, encoding: .utf8)
        var rsTokens = S.tokens(algorithm: .rs256)
        rsTokens.privateKeyFile = "rs.pem"
        let rsKey = try await SigningKey.load(rsTokens, relativeTo: dir)
        let hsKey = try await S.hmacKey(S.tokens())
        let rsToken = try TokenIssuer(key: rsKey, tokens: rsTokens).accessToken(for: Self.subject, jti: "r", issuedAt: Self.now, expiresAt: Self.now + 300)
        let hsToken = try TokenIssuer(key: hsKey, tokens: S.tokens()).accessToken(for: Self.subject, jti: "h", issuedAt: Self.now, expiresAt: Self.now + 300)
        guard case .valid = TokenVerifier(key: rsKey, tokens: rsTokens).verify(Substring(rsToken), as: .access, atSecond: Self.now) else {
            Issue.record("an RS256 token must verify on its own gateway")
            return
        }
        #expect(TokenVerifier(key: rsKey, tokens: rsTokens).verify(Substring(hsToken), as: .access, atSecond: Self.now) == .invalid(.algorithm))
        #expect(TokenVerifier(key: hsKey, tokens: S.tokens()).verify(Substring(rsToken), as: .access, atSecond: Self.now) == .invalid(.algorithm))
    }

    @Test(arguments: [
        ("algorithm = \"ES256\"\nprivate_key_file = \"k.pem\"\nprevious_secret_files = [\"old.key\"]", "tokens.previous_secret_files"),
        ("previous_key_files = [\"old.pem\"]", "tokens.previous_key_files"),
    ])
    func retiredKeysOfTheWrongFamilyAreConfigErrors(tokens: String, key: String) {
        let problems = ConfigReaderTests.problems(ConfigReaderTests.minimal(plus: "[tokens]\n" + tokens))
        #expect(problems.contains { $0.key == key }, "\(problems)")
    }
}
