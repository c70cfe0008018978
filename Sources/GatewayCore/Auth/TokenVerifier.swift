import Foundation
import JWTKit

/// Verifies access and refresh tokens synchronously (no store, no executor hop): the hot path.
/// The clock is a parameter, so time-dependent rules are tested without sleeping.
public struct TokenVerifier: Sendable {
    public enum Kind: String, Sendable {
        case access
        case refresh
    }

    public enum Outcome: Sendable, Equatable {
        case valid(TokenClaims)
        /// Everything verified except `exp`.
        case expired(TokenClaims)
        case invalid(Reason)
    }

    public enum Reason: String, Sendable, Equatable {
        /// `unknownKey`: the header names a `kid` none of the configured keys has (docs/operations.md#keys-kid-rotation-and-jwks).
        case malformed, algorithm, unknownKey, signature, tokenType, issuer, audience, notYetValid, claims
    }

    let key: SigningKey
    let issuer: String
    let audience: String
    let leewaySeconds: Int64
    let userIdClaim: String

    public init(key: SigningKey, tokens: TokensConfig) {
        self.key = key
        self.issuer = tokens.issuer
        self.audience = tokens.audience
        self.leewaySeconds = Int64(tokens.leeway.components.seconds)
        self.userIdClaim = tokens.userIdClaim
    }

    /// When a token with these claims counts as expired: `exp` plus the leeway, saturating (an `exp` near
    /// Int64.max must not trap; found by scripts/fuzz).
    func expiry(of claims: TokenClaims) -> Int64 {
        let (sum, overflow) = claims.expiresAt.addingReportingOverflow(leewaySeconds)
        return overflow ? .max : sum
    }

    /// Whether a token with these claims has expired at `now` (the leeway counted).
    func hasExpired(_ claims: TokenClaims, at now: UnixTime) -> Bool {
        now.seconds >= expiry(of: claims)
    }

    /// Verifies `token` as a `kind` token at `now`. Token times are whole seconds: `now` counts as its second.
    public func verify(_ token: Substring, as kind: Kind, now: UnixTime) -> Outcome {
        let bytes = token.utf8
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")),
              let secondDot = bytes[bytes.index(after: firstDot)...].firstIndex(of: UInt8(ascii: ".")),
              !bytes[bytes.index(after: secondDot)...].contains(UInt8(ascii: "."))
        else { return .invalid(.malformed) }
        let headerPart = bytes[..<firstDot]
        let payloadPart = bytes[bytes.index(after: firstDot)..<secondDot]
        let signaturePart = bytes[bytes.index(after: secondDot)...]

        // The headers our keys write are fixed strings (one per key); anything else is decoded, its alg pinned
        // and its kid looked up. A token without kid is tried against the current key only.
        let verifying: VerificationKey
        if let ours = key.keys.first(where: { headerPart.elementsEqual($0.headerSegment.utf8) }) {
            verifying = ours
        } else {
            guard let headerBytes = Base64URL.decode(headerPart),
                  case .object(let members)? = JSONValue.parse(headerBytes),
                  let header = JOSEHeader(members)
            else { return .invalid(.malformed) }
            guard header.alg == key.algorithm.rawValue else { return .invalid(.algorithm) }
            if let typ = header.typ, typ.uppercased() != "JWT" { return .invalid(.malformed) }
            if header.hasCrit { return .invalid(.malformed) }
            if let kid = header.kid {
                guard let named = key.key(kid: kid) else { return .invalid(.unknownKey) }
                verifying = named
            } else {
                verifying = key.current
            }
        }
        guard let signature = Base64URL.decode(signaturePart), !signature.isEmpty else { return .invalid(.malformed) }
        let signingInput = bytes[..<secondDot]
        guard (try? verifying.jwt.verify(signature, signs: Array(signingInput))) == true else { return .invalid(.signature) }

        guard let payloadBytes = Base64URL.decode(payloadPart),
              case .object(let payload)? = JSONValue.parse(payloadBytes)
        else { return .invalid(.malformed) }
        guard let claims = TokenClaims(payload: payload, userIdClaim: userIdClaim) else { return .invalid(.claims) }
        guard claims.tokenType == kind.rawValue else { return .invalid(.tokenType) }
        guard claims["iss"]?.stringValue == issuer || (issuer.isEmpty && claims["iss"] == nil) else {
            return .invalid(.issuer)
        }
        if !audience.isEmpty {
            let matches: Bool
            switch claims["aud"] {
            case .string(let a)?: matches = a == audience
            case .array(let list)?: matches = list.contains(.string(audience))
            default: matches = false
            }
            guard matches else { return .invalid(.audience) }
        }
        // Cannot overflow: `now.seconds` is at most Int64.max / 1000 and the leeway is bounded at validation.
        let latestStart = now.seconds + leewaySeconds
        if let nbf = claims.notBefore, nbf > latestStart { return .invalid(.notYetValid) }
        if let iat = claims.issuedAt, iat > latestStart { return .invalid(.notYetValid) }
        if hasExpired(claims, at: now) { return .expired(claims) }
        return .valid(claims)
    }

    /// The JOSE header members the verifier reads: `alg` a string; `typ` and `kid` strings when present (null
    /// counts as absent); `crit` present at all means an extension we do not understand.
    private struct JOSEHeader {
        let alg: String
        let typ: String?
        let kid: String?
        let hasCrit: Bool

        init?(_ members: [String: JSONValue]) {
            guard case .string(let alg)? = members["alg"] else { return nil }
            self.alg = alg
            func optionalString(_ name: String) -> String?? {
                switch members[name] {
                case nil, .null?: .some(nil)
                case .string(let s)?: .some(s)
                default: nil
                }
            }
            guard let typ = optionalString("typ"), let kid = optionalString("kid") else { return nil }
            self.typ = typ
            self.kid = kid
            hasCrit = members["crit"].map { $0 != .null } ?? false
        }
    }
}
