/// Mints access and refresh tokens (SPEC §3) for a session.
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

    /// A fresh access token identity issued at `now` (ms): new jti, `exp` = now + access_ttl.
    public func newAccessLineage(at now: Int64) -> AccessLineage {
        let issuedAt = now / 1000
        return AccessLineage(jti: RandomID.make(), issuedAt: issuedAt, expiresAt: issuedAt + tokens.accessTTL.components.seconds)
    }

    /// The access token of `lineage`: the same lineage always gives the same token (renewal's grace period).
    public func accessToken(for subject: Subject, lineage: AccessLineage) throws -> String {
        try accessToken(for: subject, jti: lineage.jti, issuedAt: lineage.issuedAt, expiresAt: lineage.expiresAt)
    }

    /// An access token; `jti`, `iat` and `exp` are given so a renewal in the grace period can re-mint the same token.
    public func accessToken(for subject: Subject, jti: String, issuedAt: Int64, expiresAt: Int64) throws -> String {
        var payload = PayloadWriter()
        payload.add("token_type", .string("access"))
        payload.add("exp", .integer(expiresAt))
        payload.add("iat", .integer(issuedAt))
        payload.add("jti", .string(jti))
        payload.add("iss", .string(tokens.issuer))
        if !tokens.audience.isEmpty { payload.add("aud", .string(tokens.audience)) }
        payload.add("sub", .string(subject.userIDString))
        payload.add(tokens.userIdClaim, subject.userID)
        payload.add("sid", .string(subject.sessionID))
        for name in subject.claims.keys.sorted() { payload.add(name, subject.claims[name]!) }
        return try sign(payload.finish())
    }

    public func refreshToken(for subject: Subject, jti: String, issuedAt: Int64, expiresAt: Int64) throws -> String {
        var payload = PayloadWriter()
        payload.add("token_type", .string("refresh"))
        payload.add("exp", .integer(expiresAt))
        payload.add("iat", .integer(issuedAt))
        payload.add("jti", .string(jti))
        payload.add("iss", .string(tokens.issuer))
        if !tokens.audience.isEmpty { payload.add("aud", .string(tokens.audience)) }
        payload.add("sid", .string(subject.sessionID))
        payload.add("sub", .string(subject.userIDString))
        payload.add(tokens.userIdClaim, subject.userID)
        return try sign(payload.finish())
    }

    private func sign(_ payloadJSON: String) throws -> String {
        let signingInput = key.headerSegment + "." + Base64URL.encode(Array(payloadJSON.utf8))
        let signature = try key.jwt.sign(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// A JSON object written in a fixed key order (compact, stable tokens).
    private struct PayloadWriter {
        private var text = "{"
        private var first = true

        mutating func add(_ name: String, _ value: JSONValue) {
            if !first { text += "," }
            first = false
            text += JSONText.quoted(name) + ":" + value.jsonText
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
