import Crypto
import Foundation
import Testing
@testable import GatewayCore

/// Helpers shared by the token/session tests: base64url, temp folders, HS keys and hand-made tokens
/// built with swift-crypto directly (so verifier tests do not depend on the issuer).
enum AuthTestSupport {
    static let secret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz" // 49 bytes: enough for HS256/HS384
    static let otherSecret = "another-secret-9876543210-zyxwvutsrqponmlkjihgfedcba"
    static let now: Int64 = 1_750_000_000

    static func base64url(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func base64url(_ text: String) -> String { base64url(Array(text.utf8)) }

    static func base64urlDecode(_ text: some StringProtocol) -> [UInt8]? {
        var s = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s).map { [UInt8]($0) }
    }

    /// A fresh, empty folder under the system temp folder.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/auth-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    static func tokens(
        algorithm: SigningAlgorithm = .hs256, issuer: String = "auth-gateway", audience: String = "",
        leeway: Duration = .zero, userIdClaim: String = "user_id"
    ) -> TokensConfig {
        var tokens = TokensConfig()
        tokens.algorithm = algorithm
        tokens.issuer = issuer
        tokens.audience = audience
        tokens.leeway = leeway
        tokens.userIdClaim = userIdClaim
        tokens.secretFile = "secret.key"
        return tokens
    }

    /// Writes `secret` (plus a newline) into a temp folder and loads it as the HS key of `tokens`.
    static func hmacKey(_ tokens: TokensConfig, secret: String = AuthTestSupport.secret) async throws -> SigningKey {
        let dir = try temporaryDirectory()
        defer { removeDirectory(dir) }
        try (secret + "\n").write(toFile: dir + "/" + tokens.secretFile, atomically: true, encoding: .utf8)
        return try await SigningKey.load(tokens, relativeTo: dir)
    }

    static func hmac(_ input: String, secret: String, alg: String) -> [UInt8] {
        let key = SymmetricKey(data: Array(secret.utf8))
        let data = Array(input.utf8)
        switch alg {
        case "HS384": return Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
        case "HS512": return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        default: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        }
    }

    /// header.payload.signature where the signature is HMAC-`alg` over the first two segments.
    static func craft(
        header: String = #"{"alg":"HS256","typ":"JWT"}"#, payload: String,
        secret: String = AuthTestSupport.secret, alg: String = "HS256"
    ) -> String {
        let input = base64url(header) + "." + base64url(payload)
        return input + "." + base64url(hmac(input, secret: secret, alg: alg))
    }

    /// The claims of a well-formed access token, valid at `now` for five minutes.
    static func accessClaims(now: Int64 = AuthTestSupport.now) -> [String: JSONValue] {
        [
            "token_type": .string("access"), "exp": .integer(now + 300), "iat": .integer(now),
            "jti": .string("jti-1"), "iss": .string("auth-gateway"), "sub": .string("42"),
            "user_id": .integer(42), "sid": .string("sid-1"),
        ]
    }

    static func json(_ object: [String: JSONValue]) -> String { JSONValue.object(object).jsonText }

    /// The decoded JSON object of a token segment (0 = header, 1 = payload).
    static func segmentObject(_ token: String, _ index: Int) -> [String: JSONValue]? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = base64urlDecode(parts[index]),
              case .object(let object)? = JSONValue.parse(bytes) else { return nil }
        return object
    }

    static func segmentText(_ token: String, _ index: Int) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let bytes = base64urlDecode(parts[index]) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// `TokenVerifier.verify(_:as:now:)` (docs/http.md#tokens): every rejection rule, expiry, leeway. The clock is passed in.
struct TokenVerifierTests {
    typealias S = AuthTestSupport
    let now = AuthTestSupport.now

    func verifier(_ tokens: TokensConfig = S.tokens()) async throws -> TokenVerifier {
        TokenVerifier(key: try await S.hmacKey(tokens), tokens: tokens)
    }

    func verify(_ token: String, as kind: TokenVerifier.Kind = .access, at now: Int64? = nil, tokens: TokensConfig = S.tokens()) async throws -> TokenVerifier.Outcome {
        try await verifier(tokens).verify(Substring(token), as: kind, atSecond: now ?? self.now)
    }

    func crafted(_ change: (inout [String: JSONValue]) -> Void = { _ in }) -> String {
        var claims = S.accessClaims(now: now)
        change(&claims)
        return S.craft(payload: S.json(claims))
    }

    static func isInvalid(_ outcome: TokenVerifier.Outcome) -> Bool {
        if case .invalid = outcome { return true }
        return false
    }

    // MARK: - valid tokens

    @Test func tokenFromTheIssuerIsValidWithItsClaims() async throws {
        let tokens = S.tokens()
        let key = try await S.hmacKey(tokens)
        let issuer = TokenIssuer(key: key, tokens: tokens)
        let subject = TokenIssuer.Subject(sessionID: "sid-9", userID: .integer(42), claims: ["role": .string("admin")])
        let token = try issuer.accessToken(for: subject, jti: "jti-9", issuedAt: now, expiresAt: now + 300)
        let outcome = TokenVerifier(key: key, tokens: tokens).verify(Substring(token), as: .access, atSecond: now)
        guard case .valid(let claims) = outcome else {
            Issue.record("expected .valid, got \(outcome)")
            return
        }
        #expect(claims.tokenType == "access")
        #expect(claims.expiresAt == now + 300)
        #expect(claims.issuedAt == now)
        #expect(claims.jti == "jti-9")
        #expect(claims.sessionID == "sid-9")
        #expect(claims.subject == "42")
        #expect(claims["user_id"] == .integer(42))
        #expect(claims["role"] == .string("admin"))
        #expect(claims["iss"] == .string("auth-gateway"))
    }

    @Test func refreshTokenFromTheIssuerIsValidAsRefresh() async throws {
        let tokens = S.tokens()
        let key = try await S.hmacKey(tokens)
        let subject = TokenIssuer.Subject(sessionID: "sid-9", userID: .string("u-7"), claims: [:])
        let token = try TokenIssuer(key: key, tokens: tokens).refreshToken(for: subject, jti: "r-1", issuedAt: now, expiresAt: now + 86400)
        let outcome = TokenVerifier(key: key, tokens: tokens).verify(Substring(token), as: .refresh, atSecond: now)
        guard case .valid(let claims) = outcome else {
            Issue.record("expected .valid, got \(outcome)")
            return
        }
        #expect(claims.tokenType == "refresh")
        #expect(claims.jti == "r-1")
        #expect(claims.subject == "u-7")
    }

    @Test func handCraftedTokenIsValid() async throws {
        let outcome = try await verify(crafted())
        guard case .valid(let claims) = outcome else {
            Issue.record("expected .valid, got \(outcome)")
            return
        }
        #expect(claims.all == S.accessClaims(now: now))
    }

    @Test func headerWithOtherKeyOrderButTheConfiguredAlgIsValid() async throws {
        let token = S.craft(header: #"{"typ":"JWT","alg":"HS256"}"#, payload: S.json(S.accessClaims(now: now)))
        guard case .valid = try await verify(token) else {
            Issue.record("a header that is not byte-identical to ours but says HS256 must still verify")
            return
        }
    }

    // MARK: - signature and algorithm

    @Test func flippedSignatureByteIsInvalid() async throws {
        let token = crafted()
        let dot = token.lastIndex(of: ".")!
        var chars = Array(token)
        let first = token.distance(from: token.startIndex, to: dot) + 1
        chars[first] = chars[first] == "A" ? "B" : "A"
        #expect(try await verify(String(chars)) == .invalid(.signature))
    }

    @Test func flippedPayloadByteIsInvalid() async throws {
        // The payload changed after signing: the signature no longer matches.
        let good = crafted()
        let parts = good.split(separator: ".")
        var claims = S.accessClaims(now: now)
        claims["user_id"] = .integer(1)
        claims["sub"] = .string("1")
        let forged = S.base64url(#"{"alg":"HS256","typ":"JWT"}"#) + "." + S.base64url(S.json(claims)) + "." + parts[2]
        #expect(try await verify(forged) == .invalid(.signature))
    }

    @Test func tokenSignedWithAnotherKeyIsInvalid() async throws {
        let token = S.craft(payload: S.json(S.accessClaims(now: now)), secret: S.otherSecret)
        #expect(try await verify(token) == .invalid(.signature))
    }

    @Test func hs512HeaderOnAnHS256ConfigIsInvalid() async throws {
        let token = S.craft(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: S.json(S.accessClaims(now: now)), alg: "HS512")
        #expect(try await verify(token) == .invalid(.algorithm))
    }

    @Test func hs256HeaderOnAnHS512ConfigIsInvalid() async throws {
        var tokens = S.tokens(algorithm: .hs512)
        tokens.secretFile = "secret.key"
        let secret64 = String(repeating: "k", count: 64)
        let key = try await S.hmacKey(tokens, secret: secret64)
        let verifier = TokenVerifier(key: key, tokens: tokens)
        let hs256 = S.craft(payload: S.json(S.accessClaims(now: now)), secret: secret64, alg: "HS256")
        #expect(verifier.verify(Substring(hs256), as: .access, atSecond: now) == .invalid(.algorithm))
        let hs512 = S.craft(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: S.json(S.accessClaims(now: now)), secret: secret64, alg: "HS512")
        guard case .valid = verifier.verify(Substring(hs512), as: .access, atSecond: now) else {
            Issue.record("an HS512 token on an HS512 config must verify")
            return
        }
    }

    @Test func algNoneWithEmptySignatureIsInvalid() async throws {
        let token = S.base64url(#"{"alg":"none","typ":"JWT"}"#) + "." + S.base64url(S.json(S.accessClaims(now: now))) + "."
        #expect(Self.isInvalid(try await verify(token)))
    }

    @Test func algNoneWithSomeSignatureIsInvalid() async throws {
        // Even carrying a signature that is a correct HMAC of its signing input.
        let token = S.craft(header: #"{"alg":"none","typ":"JWT"}"#, payload: S.json(S.accessClaims(now: now)))
        #expect(try await verify(token) == .invalid(.algorithm))
        let junk = S.base64url(#"{"alg":"none"}"#) + "." + S.base64url(S.json(S.accessClaims(now: now))) + "." + S.base64url("sig")
        #expect(Self.isInvalid(try await verify(junk)))
    }

    @Test func algNoneInLowerAndUpperCaseIsInvalid() async throws {
        for alg in ["None", "NONE", "hs256"] {
            let token = S.craft(header: #"{"alg":"\#(alg)","typ":"JWT"}"#, payload: S.json(S.accessClaims(now: now)))
            #expect(try await verify(token) == .invalid(.algorithm), "alg \(alg)")
        }
    }

    // MARK: - token_type, iss, aud

    @Test func refreshTokenVerifiedAsAccessIsInvalid() async throws {
        let token = crafted { $0["token_type"] = .string("refresh") }
        #expect(try await verify(token, as: .access) == .invalid(.tokenType))
    }

    @Test func accessTokenVerifiedAsRefreshIsInvalid() async throws {
        #expect(try await verify(crafted(), as: .refresh) == .invalid(.tokenType))
    }

    @Test func issuedRefreshAndAccessTokensAreNotInterchangeable() async throws {
        let tokens = S.tokens()
        let key = try await S.hmacKey(tokens)
        let issuer = TokenIssuer(key: key, tokens: tokens)
        let verifier = TokenVerifier(key: key, tokens: tokens)
        let subject = TokenIssuer.Subject(sessionID: "s", userID: .integer(1), claims: [:])
        let access = try issuer.accessToken(for: subject, jti: "a", issuedAt: now, expiresAt: now + 60)
        let refresh = try issuer.refreshToken(for: subject, jti: "r", issuedAt: now, expiresAt: now + 60)
        #expect(verifier.verify(Substring(refresh), as: .access, atSecond: now) == .invalid(.tokenType))
        #expect(verifier.verify(Substring(access), as: .refresh, atSecond: now) == .invalid(.tokenType))
    }

    @Test func missingTokenTypeIsInvalid() async throws {
        #expect(Self.isInvalid(try await verify(crafted { $0["token_type"] = nil })))
    }

    @Test func wrongIssuerIsInvalid() async throws {
        #expect(try await verify(crafted { $0["iss"] = .string("someone-else") }) == .invalid(.issuer))
    }

    @Test func missingIssuerIsInvalid() async throws {
        #expect(try await verify(crafted { $0["iss"] = nil }) == .invalid(.issuer))
    }

    @Test func wrongAudienceIsInvalid() async throws {
        let tokens = S.tokens(audience: "api.example")
        #expect(try await verify(crafted { $0["aud"] = .string("other.example") }, tokens: tokens) == .invalid(.audience))
    }

    @Test func missingAudienceIsInvalidWhenAudienceIsConfigured() async throws {
        let tokens = S.tokens(audience: "api.example")
        #expect(try await verify(crafted(), tokens: tokens) == .invalid(.audience))
    }

    @Test func matchingAudienceIsValid() async throws {
        let tokens = S.tokens(audience: "api.example")
        guard case .valid = try await verify(crafted { $0["aud"] = .string("api.example") }, tokens: tokens) else {
            Issue.record("aud equal to the configured audience must verify")
            return
        }
    }

    @Test func audienceArrayContainingTheAudienceIsValid() async throws {
        let tokens = S.tokens(audience: "api.example")
        let token = crafted { $0["aud"] = .array([.string("other.example"), .string("api.example")]) }
        guard case .valid = try await verify(token, tokens: tokens) else {
            Issue.record("an aud array containing the configured audience must verify")
            return
        }
    }

    @Test func audienceArrayWithoutTheAudienceIsInvalid() async throws {
        let tokens = S.tokens(audience: "api.example")
        let token = crafted { $0["aud"] = .array([.string("other.example"), .string("api")]) }
        #expect(try await verify(token, tokens: tokens) == .invalid(.audience))
        #expect(try await verify(crafted { $0["aud"] = .array([]) }, tokens: tokens) == .invalid(.audience))
    }

    // MARK: - nbf / iat

    @Test func notBeforeInTheFutureIsInvalid() async throws {
        #expect(try await verify(crafted { $0["nbf"] = .integer(now + 10) }) == .invalid(.notYetValid))
    }

    @Test func notBeforeNowOrInThePastIsValid() async throws {
        for nbf in [now, now - 100] {
            guard case .valid = try await verify(crafted { $0["nbf"] = .integer(nbf) }) else {
                Issue.record("nbf \(nbf - now)s from now must verify")
                return
            }
        }
    }

    @Test func notBeforeWithinLeewayIsValid() async throws {
        let tokens = S.tokens(leeway: .seconds(30))
        guard case .valid = try await verify(crafted { $0["nbf"] = .integer(now + 30) }, tokens: tokens) else {
            Issue.record("nbf within leeway must verify")
            return
        }
        #expect(try await verify(crafted { $0["nbf"] = .integer(now + 31) }, tokens: tokens) == .invalid(.notYetValid))
    }

    @Test func issuedInTheFutureBeyondLeewayIsInvalid() async throws {
        #expect(try await verify(crafted { $0["iat"] = .integer(now + 60) }) == .invalid(.notYetValid))
        let tokens = S.tokens(leeway: .seconds(60))
        guard case .valid = try await verify(crafted { $0["iat"] = .integer(now + 60) }, tokens: tokens) else {
            Issue.record("iat within leeway must verify")
            return
        }
    }

    // MARK: - malformed input

    @Test(arguments: ["", "abc", "a.b", "a..", "..", "...", "a.b.c.d"])
    func notThreePartsOrGarbageIsInvalid(token: String) async throws {
        #expect(Self.isInvalid(try await verify(token)))
    }

    @Test func validTokenWithAFourthPartIsInvalid() async throws {
        #expect(try await verify(crafted() + ".extra") == .invalid(.malformed))
        #expect(try await verify(crafted() + ".") == .invalid(.malformed))
    }

    @Test func badBase64IsInvalid() async throws {
        let token = crafted()
        let parts = token.split(separator: ".").map(String.init)
        #expect(Self.isInvalid(try await verify("!!!." + parts[1] + "." + parts[2])))
        #expect(Self.isInvalid(try await verify(parts[0] + ".%%%." + parts[2])))
        #expect(Self.isInvalid(try await verify(parts[0] + "." + parts[1] + ".***")))
        // The standard alphabet ('+', '/') is not base64url.
        #expect(Self.isInvalid(try await verify(parts[0].replacingOccurrences(of: "J", with: "+") + "." + parts[1] + "." + parts[2])))
    }

    @Test func payloadThatIsNotJSONIsInvalid() async throws {
        let token = S.craft(payload: "not json at all")
        #expect(try await verify(token) == .invalid(.malformed))
        #expect(Self.isInvalid(try await verify(S.craft(payload: #"["an","array"]"#))))
    }

    @Test func headerThatIsNotJSONIsInvalid() async throws {
        let token = S.craft(header: "{alg:HS256", payload: S.json(S.accessClaims(now: now)))
        #expect(try await verify(token) == .invalid(.malformed))
    }

    /// RFC 7519 §4: a claims set naming one claim twice is refused, signature or not (Foundation's JSONDecoder
    /// kept the first `exp` and ignored the second).
    @Test func aPayloadNamingAClaimTwiceIsMalformed() async throws {
        let claims = S.json(S.accessClaims(now: now))
        let twice = "{\"exp\":\(now - 3600)," + claims.dropFirst()
        #expect(try await verify(S.craft(payload: twice)) == .invalid(.malformed))
        let once = try await verify(S.craft(payload: claims))
        #expect(!Self.isInvalid(once), "the same claims once each verify: \(once)")
    }

    @Test func aHeaderNamingAMemberTwiceIsMalformed() async throws {
        let payload = S.json(S.accessClaims(now: now))
        #expect(try await verify(S.craft(header: #"{"alg":"HS256","alg":"HS256","typ":"JWT"}"#, payload: payload)) == .invalid(.malformed))
        let nullKid = try await verify(S.craft(header: #"{"alg":"HS256","typ":"JWT","kid":null}"#, payload: payload))
        #expect(!Self.isInvalid(nullKid), "a null kid counts as absent: \(nullKid)")
        #expect(try await verify(S.craft(header: #"{"alg":"HS256","typ":7}"#, payload: payload)) == .invalid(.malformed))
        #expect(try await verify(S.craft(header: #"{"alg":"HS256","crit":["exp"]}"#, payload: payload)) == .invalid(.malformed))
    }

    @Test func emptySignatureIsInvalid() async throws {
        let token = S.base64url(#"{"alg":"HS256","typ":"JWT"}"#) + "." + S.base64url(S.json(S.accessClaims(now: now))) + "."
        #expect(try await verify(token) == .invalid(.malformed))
    }

    @Test func missingExpIsInvalid() async throws {
        #expect(try await verify(crafted { $0["exp"] = nil }) == .invalid(.claims))
    }

    @Test func expAsAStringIsInvalid() async throws {
        #expect(try await verify(crafted { $0["exp"] = .string("\(now + 300)") }) == .invalid(.claims))
    }

    @Test func missingSubjectIsInvalid() async throws {
        #expect(Self.isInvalid(try await verify(crafted {
            $0["sub"] = nil
            $0["user_id"] = nil
        })))
    }

    // MARK: - expiry and leeway

    @Test func oneSecondBeforeExpIsValid() async throws {
        let token = crafted()
        guard case .valid = try await verify(token, at: now + 299) else {
            Issue.record("a token one second before exp must be valid")
            return
        }
    }

    @Test func atExpIsExpiredNotInvalid() async throws {
        let outcome = try await verify(crafted(), at: now + 300)
        guard case .expired(let claims) = outcome else {
            Issue.record("expected .expired at exactly exp, got \(outcome)")
            return
        }
        #expect(claims.jti == "jti-1")
        #expect(claims.sessionID == "sid-1")
    }

    @Test func afterExpIsExpired() async throws {
        for later in [now + 301, now + 86_400 * 365] {
            guard case .expired = try await verify(crafted(), at: later) else {
                Issue.record("expected .expired \(later - now)s after issue")
                return
            }
        }
    }

    @Test func expiredTokenThatFailsAnotherRuleIsInvalidNotExpired() async throws {
        let late = now + 1000
        let otherKey = S.craft(payload: S.json(S.accessClaims(now: now)), secret: S.otherSecret)
        #expect(try await verify(otherKey, at: late) == .invalid(.signature))
        #expect(try await verify(crafted { $0["iss"] = .string("x") }, at: late) == .invalid(.issuer))
        #expect(try await verify(crafted { $0["token_type"] = .string("refresh") }, at: late) == .invalid(.tokenType))
    }

    @Test func leewayExtendsValidity() async throws {
        let tokens = S.tokens(leeway: .seconds(30))
        guard case .valid = try await verify(crafted(), at: now + 300, tokens: tokens),
              case .valid = try await verify(crafted(), at: now + 329, tokens: tokens)
        else {
            Issue.record("a token within leeway of its exp must be valid")
            return
        }
        guard case .expired = try await verify(crafted(), at: now + 330, tokens: tokens) else {
            Issue.record("a token past exp + leeway must be expired")
            return
        }
    }
}
