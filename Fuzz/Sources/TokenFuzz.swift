import Crypto
import Foundation

/// Token verification (Auth/TokenVerifier.swift, Auth/SigningKey.swift, Auth/TokenClaims.swift,
/// Auth/TokenIssuer.swift, Auth/VerifiedTokenCache.swift; docs/http.md#tokens) with a fixed HS256 key, under two configs
/// (no audience, no leeway; and an audience with 30 s of leeway). The first byte picks the mode, the config
/// and the token kind:
///
/// 0. Any bytes as a token. The outcome must equal a model of docs/http.md#tokens computed apart: three segments, the
///    JOSE header ours or an HS256 one (`typ` JWT if present, no `crit`), the signature equal to an
///    HMAC-SHA256 computed here with swift-crypto (so nothing verifies without the key), then the claims
///    rules in order (shape, token_type, iss, aud, nbf/iat, exp with leeway). A cached entry is never
///    returned for bytes other than its token.
/// 1. The rest of the input as a payload (and optionally a header), signed here: the same model, now past the
///    signature check, so the claims logic is fuzzed on any JSON.
/// 2. A valid token whose signature bytes are edited (flipped, cut, extended, replaced) and re-encoded: always
///    `invalid(signature)` (or malformed when nothing is left), and never a cache hit.
/// 3. Round trip: a subject (user id, session id, jti, extra claims) from the input is issued as access and
///    refresh tokens, which verify as valid with the same claims.
///
/// JSON itself (strict RFC 8259, one name per member) is the json target's subject: the model reads header and
/// payload with `JSONValue.parse`.
///
/// The base64url codec is the dependency's (swift-extras-base64); it must decode everything a plain RFC 4648
/// decoder does, to the same bytes.
enum TokenFuzz {
    static let now: Int64 = 1_750_000_000
    static let secret = Array("fuzz-secret-0123456789-abcdefghijklmnopqrstuvwxyz".utf8)
    /// docs/operations.md#keys-kid-rotation-and-jwks: the key's id, the first 16 characters of base64url(SHA-256(secret)), computed here.
    static let ourKID = String(FuzzBase64URL.encode(Array(SHA256.hash(data: secret))).prefix(16))
    static let ourHeader = FuzzBase64URL.encode(Array(#"{"alg":"HS256","kid":"\#(ourKID)","typ":"JWT"}"#.utf8))

    struct Setup: Sendable {
        let tokens: TokensConfig
        let verifier: TokenVerifier
        let issuer: TokenIssuer
    }

    static let setups: [Setup] = {
        var plain = TokensConfig()
        plain.secretFile = "secret.key"
        var strict = plain
        strict.issuer = "https://issuer.example"
        strict.audience = "api"
        strict.leeway = .seconds(30)
        strict.userIdClaim = "uid"
        let keyConfig = plain
        let key = fuzzBlocking { try await loadKey(keyConfig) }
        return [plain, strict].map { Setup(tokens: $0, verifier: TokenVerifier(key: key, tokens: $0), issuer: TokenIssuer(key: key, tokens: $0)) }
    }()

    static func loadKey(_ tokens: TokensConfig) async throws -> SigningKey {
        let directory = FileManager.default.temporaryDirectory.path + "/gateway-fuzz-key-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/" + tokens.secretFile, contents: Data(secret + [0x0A]))
        return try await SigningKey.load(tokens, relativeTo: directory)
    }

    /// Valid tokens (setup index, kind, token), some of them expired.
    static let validTokens: [(Int, TokenVerifier.Kind, String)] = {
        var out: [(Int, TokenVerifier.Kind, String)] = []
        for (i, setup) in setups.enumerated() {
            let subject = TokenIssuer.Subject(sessionID: "sid-\(i)", userID: .integer(42), claims: ["role": .string("admin")])
            for exp in [now + 300, now - 100] {
                out.append((i, .access, try! setup.issuer.accessToken(for: subject, jti: "jti-a\(exp)", issuedAt: now - 500, expiresAt: exp)))
                out.append((i, .refresh, try! setup.issuer.refreshToken(for: subject, jti: "jti-r\(exp)", issuedAt: now - 500, expiresAt: exp)))
            }
        }
        return out
    }()

    static let cache: VerifiedTokenCache = {
        let cache = VerifiedTokenCache(budgetBytes: 64 * 1024, shards: 4)
        for (i, kind, token) in validTokens {
            switch setups[i].verifier.verify(Substring(token), as: kind, atSecond: now) {
            case .valid(let claims), .expired(let claims): cache.insert(.init(token: token, identity: Identity(claims: claims, encodedClaims: "")))
            case .invalid(let reason): fatalError("set-up token did not verify: \(reason)")
            }
        }
        return cache
    }()

    nonisolated(unsafe) static var notedNonCanonical = false

    static func run(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes)
        let selector = reader.byte()
        let setup = setups[Int(selector >> 2 & 1)]
        let kind: TokenVerifier.Kind = selector & 8 == 0 ? .access : .refresh
        switch selector & 3 {
        case 0:
            let token = String(decoding: reader.remaining(), as: UTF8.self)
            verifyAndCheck(Substring(token), setup, kind)
            if let hit = cache.lookup(Substring(token)) {
                fuzzCheck(hit.token.utf8.elementsEqual(token.utf8), "cache hit for \(token.debugDescription) returned \(hit.token.debugDescription)")
            }
        case 1:
            signed(&reader, setup, kind)
        case 2:
            mutatedSignature(&reader)
        default:
            roundTrip(&reader, setup)
        }
    }

    // MARK: the model

    enum Expected: Equatable {
        case valid, expired
        case invalid(TokenVerifier.Reason)
    }

    /// The header's members as docs/operations.md#keys-kid-rotation-and-jwks reads them: `alg` a string; `typ` and `kid` strings when present (null
    /// is absent, anything else malformed); `crit` present and not null is malformed.
    private struct JOSEHeader {
        let alg: String
        let typ: String?
        let kid: String?
        let crit: Bool

        init?(_ members: [String: JSONValue]) {
            guard case .string(let alg)? = members["alg"] else { return nil }
            var optional: [String: String] = [:]
            for name in ["typ", "kid"] {
                switch members[name] {
                case nil, .null?: break
                case .string(let s)?: optional[name] = s
                default: return nil
                }
            }
            (self.alg, typ, kid) = (alg, optional["typ"], optional["kid"])
            crit = members["crit"] != nil && members["crit"] != .null
        }
    }

    static func identifier(_ v: JSONValue?) -> String? {
        switch v {
        case .string(let s)?: s
        case .integer(let i)?: String(i)
        default: nil
        }
    }

    static func epoch(_ v: JSONValue?) -> Int64? {
        switch v {
        case .integer(let i)?: i
        case .double(let d)? where d.isFinite && abs(d) < 1e15: Int64(d.rounded(.down))
        default: nil
        }
    }

    static func model(_ token: [UInt8], _ setup: Setup, _ kind: TokenVerifier.Kind) -> (Expected, [String: JSONValue]?) {
        let parts = fuzzSplit(token, on: UInt8(ascii: "."))
        guard parts.count == 3 else { return (.invalid(.malformed), nil) }
        for part in parts {
            if let plain = FuzzBase64URL.decode(part) {
                fuzzCheck(Base64URL.decode(part) == plain, "segment \(String(decoding: part, as: UTF8.self).debugDescription) decodes to \(String(describing: Base64URL.decode(part))), RFC 4648 gives \(plain)")
            }
        }
        if parts[0] != Array(ourHeader.utf8) {
            guard let headerBytes = Base64URL.decode(parts[0]),
                  case .object(let members)? = JSONValue.parse(headerBytes), let header = JOSEHeader(members)
            else { return (.invalid(.malformed), nil) }
            guard header.alg == "HS256" else { return (.invalid(.algorithm), nil) }
            if let typ = header.typ, fuzzASCIILowercased(typ.utf8) != Array("jwt".utf8) { return (.invalid(.malformed), nil) }
            if header.crit { return (.invalid(.malformed), nil) }
            // One key configured: a kid is either its own or unknown (docs/operations.md#keys-kid-rotation-and-jwks); no kid means the current key.
            if let kid = header.kid, kid != ourKID { return (.invalid(.unknownKey), nil) }
        }
        guard let signature = Base64URL.decode(parts[2]), !signature.isEmpty else { return (.invalid(.malformed), nil) }
        let mac = HMAC<SHA256>.authenticationCode(for: parts[0] + [UInt8(ascii: ".")] + parts[1], using: SymmetricKey(data: secret))
        guard signature == Array(mac) else { return (.invalid(.signature), nil) }
        guard let payloadBytes = Base64URL.decode(parts[1]),
              case .object(let p)? = JSONValue.parse(payloadBytes)
        else { return (.invalid(.malformed), nil) }

        guard case .string(let tokenType)? = p["token_type"], let exp = epoch(p["exp"]) else { return (.invalid(.claims), p) }
        let subject = identifier(p["sub"]) ?? identifier(p[setup.tokens.userIdClaim])
        guard let subject, !subject.isEmpty else { return (.invalid(.claims), p) }
        for name in ["iat", "nbf"] where p[name] != nil && epoch(p[name]) == nil { return (.invalid(.claims), p) }
        for name in ["jti", "sid"] where p[name] != nil && p[name]?.stringValue == nil { return (.invalid(.claims), p) }
        guard tokenType == kind.rawValue else { return (.invalid(.tokenType), p) }
        guard p["iss"] == .string(setup.tokens.issuer) else { return (.invalid(.issuer), p) }
        let audience = setup.tokens.audience
        if !audience.isEmpty {
            switch p["aud"] {
            case .string(let a)? where a == audience: break
            case .array(let list)? where list.contains(.string(audience)): break
            default: return (.invalid(.audience), p)
            }
        }
        let leeway = setup.tokens.leeway.components.seconds
        if let nbf = epoch(p["nbf"]), nbf > now + leeway { return (.invalid(.notYetValid), p) }
        if let iat = epoch(p["iat"]), iat > now + leeway { return (.invalid(.notYetValid), p) }
        // exp + leeway saturates at Int64.max: a correctly signed token with `exp` near it never expires
        // (Fuzz/crashes/token-exp-plus-leeway-overflows; it trapped once).
        let (sum, overflow) = exp.addingReportingOverflow(leeway)
        let deadline = overflow ? Int64.max : sum
        return (now >= deadline ? .expired : .valid, p)
    }

    static func verifyAndCheck(_ token: Substring, _ setup: Setup, _ kind: TokenVerifier.Kind) {
        let (expected, payload) = model(Array(token.utf8), setup, kind)
        let outcome = setup.verifier.verify(token, as: kind, atSecond: now)
        let got: Expected
        switch outcome {
        case .valid(let claims), .expired(let claims):
            if case .valid = outcome { got = .valid } else { got = .expired }
            fuzzCheck(claims.all == payload, "claims \(claims.all) are not the payload \(String(describing: payload))")
            noteNonCanonical(token)
        case .invalid(let reason):
            got = .invalid(reason)
        }
        fuzzCheck(got == expected, "\(kind) token \(String(token).debugDescription) verified as \(outcome); the docs/http.md#tokens model gives \(expected)")
    }

    /// The codec accepts several spellings of one signature (unused low bits, `=` padding). Not an invariant
    /// (the bytes are what is signed), but worth a line in the log once.
    static func noteNonCanonical(_ token: Substring) {
        guard !notedNonCanonical, let signature = token.split(separator: ".", omittingEmptySubsequences: false).last,
              let bytes = Base64URL.decode(signature.utf8), FuzzBase64URL.encode(bytes) != String(signature)
        else { return }
        notedNonCanonical = true
        FileHandle.standardError.write(Data("==fuzz== note: a non-canonical signature spelling verifies: \(String(token).debugDescription)\n".utf8))
    }

    // MARK: modes

    static func signed(_ reader: inout FuzzReader, _ setup: Setup, _ kind: TokenVerifier.Kind) {
        let headers = [ourHeader, FuzzBase64URL.encode(Array(#"{"alg":"HS256"}"#.utf8)),
                       FuzzBase64URL.encode(Array(#"{"typ":"jwt","alg":"HS256","kid":"\#(choiceKID(reader.byte()))"}"#.utf8))]
        let choice = reader.byte()
        let header = choice % 4 == 3 ? FuzzBase64URL.encode(reader.chunk(upTo: 0)) : headers[Int(choice % 4)]
        let signingInput = header + "." + FuzzBase64URL.encode(reader.remaining())
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: SymmetricKey(data: secret))
        verifyAndCheck(Substring(signingInput + "." + FuzzBase64URL.encode(Array(mac))), setup, kind)
    }

    /// Our key's id or a stranger's.
    static func choiceKID(_ byte: UInt8) -> String { byte & 1 == 0 ? ourKID : "k1" }

    static func mutatedSignature(_ reader: inout FuzzReader) {
        let (index, kind, token) = validTokens[reader.index(below: validTokens.count)]
        let parts = token.split(separator: ".")
        let original = FuzzBase64URL.decode(parts[2].utf8)!
        var signature = original
        for _ in 0...(reader.byte() % 4) {
            let position = Int(reader.byte())
            let value = reader.byte()
            switch reader.byte() % 4 {
            case 0: if !signature.isEmpty { signature[position % signature.count] ^= value | 1 }
            case 1: signature = Array(signature.prefix(position % (signature.count + 1)))
            case 2: signature.append(value)
            default: signature = Array(reader.chunk(upTo: 0))
            }
        }
        guard signature != original else { return }
        let mutated = String(parts[0]) + "." + String(parts[1]) + "." + FuzzBase64URL.encode(signature)
        let outcome = setups[index].verifier.verify(Substring(mutated), as: kind, atSecond: now)
        let expected: TokenVerifier.Outcome = signature.isEmpty ? .invalid(.malformed) : .invalid(.signature)
        fuzzCheck(outcome == expected, "signature bytes \(original) changed to \(signature): \(outcome), expected \(expected)")
        fuzzCheck(cache.lookup(Substring(mutated)) == nil, "a token with changed signature bytes is a cache hit")
    }

    static func roundTrip(_ reader: inout FuzzReader, _ setup: Setup) {
        let flags = reader.byte()
        let userID: JSONValue = flags & 1 == 0 ? .integer(reader.int64()) : .string(String(decoding: reader.chunk(upTo: 0xFF), as: UTF8.self))
        guard TokenEndpoints.isUsableUserID(userID.identifierString ?? "") else { return }
        let sid = String(decoding: reader.chunk(upTo: 0xFF), as: UTF8.self)
        let jti = String(decoding: reader.chunk(upTo: 0xFF), as: UTF8.self)
        var claims: [String: JSONValue] = [:]
        if case .object(let object)? = JSONValue.parse(reader.remaining()) {
            let reserved = TokenClaimNames.reserved(userIdClaim: setup.tokens.userIdClaim)
            claims = object.filter { !reserved.contains($0.key) }
        }
        let subject = TokenIssuer.Subject(sessionID: sid, userID: userID, claims: claims)
        let tokens: [(TokenVerifier.Kind, String)] = [
            (.access, try! setup.issuer.accessToken(for: subject, jti: jti, issuedAt: now - 5, expiresAt: now + 300)),
            (.refresh, try! setup.issuer.refreshToken(for: subject, jti: jti, issuedAt: now - 5, expiresAt: now + 300)),
        ]
        for (kind, token) in tokens {
            guard case .valid(let c) = setup.verifier.verify(Substring(token), as: kind, atSecond: now) else {
                fuzzCheck(false, "issued \(kind) token for \(subject) does not verify: \(setup.verifier.verify(Substring(token), as: kind, atSecond: now))")
                return
            }
            fuzzCheck(c.tokenType == kind.rawValue && c.subject == subject.userIDString && c.sessionID == sid && c.jti == jti
                      && c.expiresAt == now + 300 && c.issuedAt == now - 5 && c[setup.tokens.userIdClaim] == userID,
                      "issued \(kind) token for \(subject) verified with other claims: \(c.all)")
            if kind == .access {
                for (name, value) in claims {
                    fuzzCheck(c[name] == value, "claim \(name.debugDescription) = \(value) came back as \(String(describing: c[name]))")
                }
            }
        }
    }
}
