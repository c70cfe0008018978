@testable import GatewayCore

/// Token tests speak in NumericDate seconds, as the claims do: these spell a token's times as the `iat`/`exp`
/// numbers it will carry, and the verifier's clock as the second it reads.
extension TokenIssuer {
    func accessToken(for subject: Subject, jti: String, issuedAt: Int64, expiresAt: Int64) throws -> String {
        let lineage = AccessLineage(jti: jti, issuedAt: UnixTime(seconds: issuedAt), expiresAt: UnixTime(seconds: expiresAt))
        return try accessToken(for: subject, lineage: lineage).token
    }

    func refreshToken(for subject: Subject, jti: String, issuedAt: Int64, expiresAt: Int64) throws -> String {
        try refreshToken(for: subject, jti: jti, issuedAt: UnixTime(seconds: issuedAt), expiresAt: UnixTime(seconds: expiresAt))
    }
}

extension TokenVerifier {
    func verify(_ token: Substring, as kind: Kind, atSecond now: Int64) -> Outcome {
        verify(token, as: kind, now: UnixTime(seconds: now))
    }
}
