/// Mints access and refresh tokens (docs/http.md#tokens) for a session.
public struct TokenIssuer: Sendable {
    let key: SigningKey
    let tokens: TokensConfig

    public init(key: SigningKey, tokens: TokensConfig) {
        self.key = key
        self.tokens = tokens
    }

    /// The identity a session's tokens carry.
    public struct Subject: Sendable, Equatable {
        public var sessionID: String
        /// The user id as the upstream gave it (string or integer).
        public var userID: JSONValue
        /// Extra claims copied from the user object (`auth.claims`).
        public var claims: [String: JSONValue]

        public var userIDString: String { userID.identifierString ?? userID.jsonText }

        public init(sessionID: String, userID: JSONValue, claims: [String: JSONValue]) {
            self.sessionID = sessionID
            self.userID = userID
            self.claims = claims
        }
    }

    /// A minted token and the claims it carries, so nobody parses and verifies a token the gateway just made.
    public struct Issued: Sendable, Equatable {
        public let token: String
        public let claims: TokenClaims
    }

    /// The claims a minted token would not carry (the subject has no usable user id): a bug, answered 500.
    public struct Unissuable: Error, CustomStringConvertible {
        public var description: String { "a token for this subject would not verify (no usable user id)" }
    }

    /// A fresh access token identity issued at `now`: new jti, whole seconds, `exp` = `iat` + access_ttl.
    public func newAccessLineage(at now: UnixTime) -> AccessLineage {
        let issuedAt = UnixTime(seconds: now.seconds)
        return AccessLineage(jti: RandomID.make(), issuedAt: issuedAt, expiresAt: issuedAt + tokens.accessTTL)
    }

    /// The access token of `lineage`: `jti`, `iat` and `exp` come from it, so the same lineage always gives the
    /// same token (a renewal in the grace period re-mints the successor).
    public func accessToken(for subject: Subject, lineage: AccessLineage) throws -> Issued {
        var payload = PayloadWriter()
        payload.add("token_type", .string("access"))
        payload.add("exp", .integer(lineage.expiresAt.seconds))
        payload.add("iat", .integer(lineage.issuedAt.seconds))
        payload.add("jti", .string(lineage.jti))
        payload.add("iss", .string(tokens.issuer))
        if !tokens.audience.isEmpty { payload.add("aud", .string(tokens.audience)) }
        payload.add("sub", .string(subject.userIDString))
        // `user_id_claim = "sub"`: one `sub` (a string, RFC 7519 §4.1.2), never a duplicate member.
        if tokens.userIdClaim != "sub" { payload.add(tokens.userIdClaim, subject.userID) }
        payload.add("sid", .string(subject.sessionID))
        for (name, value) in subject.claims.sorted(by: { $0.key < $1.key }) { payload.add(name, value) }
        guard let claims = TokenClaims(payload: payload.claims, userIdClaim: tokens.userIdClaim) else { throw Unissuable() }
        return Issued(token: try sign(payload.finish()), claims: claims)
    }

    /// A refresh token; `iat` and `exp` are rounded down to whole seconds.
    public func refreshToken(for subject: Subject, jti: String, issuedAt: UnixTime, expiresAt: UnixTime) throws -> String {
        var payload = PayloadWriter()
        payload.add("token_type", .string("refresh"))
        payload.add("exp", .integer(expiresAt.seconds))
        payload.add("iat", .integer(issuedAt.seconds))
        payload.add("jti", .string(jti))
        payload.add("iss", .string(tokens.issuer))
        if !tokens.audience.isEmpty { payload.add("aud", .string(tokens.audience)) }
        payload.add("sid", .string(subject.sessionID))
        payload.add("sub", .string(subject.userIDString))
        if tokens.userIdClaim != "sub" { payload.add(tokens.userIdClaim, subject.userID) }
        return try sign(payload.finish())
    }

    private func sign(_ payloadJSON: String) throws -> String {
        // Always the current key: a refresh or renewal of a token a retired key signed moves it to the new one.
        let signingInput = key.current.headerSegment + "." + Base64URL.encode(Array(payloadJSON.utf8))
        let signature = try key.current.jwt.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// A JSON object written in a fixed key order (compact, stable tokens), and the same members as values.
    private struct PayloadWriter {
        private var text = "{"
        private var first = true
        private(set) var claims: [String: JSONValue] = [:]

        mutating func add(_ name: String, _ value: JSONValue) {
            if !first { text += "," }
            first = false
            text += JSONText.quoted(name) + ":" + value.jsonText
            claims[name] = value
        }

        mutating func finish() -> String { text + "}" }
    }
}

/// Random identifiers for sessions and token ids: 128 bits from the system's CSPRNG as 32 hex digits
/// (simplejwt's jti shape).
enum RandomID {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return RequestID.hex(generator.next()) + RequestID.hex(generator.next())
    }
}
