/// The verified payload of a token, with the registered claims the gateway reads pulled out.
public struct TokenClaims: Sendable, Equatable {
    /// Every claim as it was in the token.
    public let all: [String: JSONValue]
    public let tokenType: String
    public let expiresAt: Int64
    public let issuedAt: Int64?
    public let notBefore: Int64?
    public let jti: String?
    public let sessionID: String?
    /// The user id as a string: `sub`, else the configured user id claim.
    public let subject: String

    public subscript(name: String) -> JSONValue? { all[name] }

    /// Builds claims from a decoded payload; nil when a required claim is missing or of the wrong type.
    init?(payload: [String: JSONValue], userIdClaim: String) {
        guard case .string(let tokenType)? = payload["token_type"],
              let exp = TokenClaims.epochSeconds(payload["exp"])
        else { return nil }
        let subject = payload["sub"]?.identifierString ?? payload[userIdClaim]?.identifierString
        guard let subject, !subject.isEmpty else { return nil }
        if payload["iat"] != nil && TokenClaims.epochSeconds(payload["iat"]) == nil { return nil }
        if payload["nbf"] != nil && TokenClaims.epochSeconds(payload["nbf"]) == nil { return nil }
        if let jti = payload["jti"], jti.stringValue == nil { return nil }
        if let sid = payload["sid"], sid.stringValue == nil { return nil }
        self.all = payload
        self.tokenType = tokenType
        self.expiresAt = exp
        self.issuedAt = TokenClaims.epochSeconds(payload["iat"])
        self.notBefore = TokenClaims.epochSeconds(payload["nbf"])
        self.jti = payload["jti"]?.stringValue
        self.sessionID = payload["sid"]?.stringValue
        self.subject = subject
    }

    /// NumericDate (RFC 7519 §2): integer or fractional seconds.
    static func epochSeconds(_ value: JSONValue?) -> Int64? {
        switch value {
        case .integer(let i)?: i
        case .double(let d)? where d.isFinite && abs(d) < 1e15: Int64(d.rounded(.down))
        default: nil
        }
    }
}
