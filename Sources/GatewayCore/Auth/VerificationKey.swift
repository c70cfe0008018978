import Crypto
import CryptoExtras
import Foundation
import JWTKit

/// One key of the key set (docs/operations.md#keys-kid-rotation-and-jwks): jwt-kit's algorithm for it, its `kid`, derived from the key alone so
/// that gateways given the same files agree without talking, and (ES256/RS256/EdDSA) its public JWK.
struct VerificationKey: Sendable {
    let kid: String
    let jwt: any JWTAlgorithm
    /// The JOSE header of tokens this key signs: `{"alg":…,"kid":…,"typ":"JWT"}`, base64url.
    let headerSegment: String
    /// The public JWK as JSON (`kty`, the key's members, `kid`, `alg`, `use`); nil for HS*.
    let publicJWK: String?
    /// The file it came from, for messages.
    let source: String

    init(kid: String, jwt: any JWTAlgorithm, algorithm: SigningAlgorithm, publicJWK: String?, source: String) {
        self.kid = kid
        self.jwt = jwt
        self.headerSegment = Base64URL.encode(Array(#"{"alg":"\#(algorithm.rawValue)","kid":"\#(kid)","typ":"JWT"}"#.utf8))
        self.publicJWK = publicJWK
        self.source = source
    }

    typealias LoadError = SigningKey.LoadError

    /// An HS* secret: `kid` = the first 16 characters of base64url(SHA-256(secret)).
    static func hmac(_ secret: [UInt8], algorithm: SigningAlgorithm, source: String) async throws -> VerificationKey {
        let minimum = algorithm == .hs256 ? 32 : algorithm == .hs384 ? 48 : 64
        guard secret.count >= minimum else {
            throw LoadError(description: "\(source): the secret is \(secret.count) bytes; \(algorithm.rawValue) needs at least \(minimum) (RFC 7518 §3.2)")
        }
        let digest: DigestAlgorithm = algorithm == .hs256 ? .sha256 : algorithm == .hs384 ? .sha384 : .sha512
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        let kid = String(Base64URL.encode(Array(SHA256.hash(data: secret))).prefix(16))
        return VerificationKey(kid: kid, jwt: try await keys.getKey(), algorithm: algorithm, publicJWK: nil, source: source)
    }

    /// A PEM key for ES256 (P-256 only), RS256 (2048 bits or more) or EdDSA (Ed25519): private, or, for a retired
    /// key (`mustBePrivate` false), public too. `kid` = the RFC 7638 thumbprint of its public JWK.
    static func asymmetric(pem: String, algorithm: SigningAlgorithm, source: String, mustBePrivate: Bool) async throws -> VerificationKey {
        let keys = JWTKeyCollection()
        let members: [(String, String)]
        let kind = mustBePrivate ? "private" : "private or public"
        switch algorithm {
        case .es256:
            let point: Data
            if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
                await keys.add(ecdsa: try ES256PrivateKey(pem: pem))
                point = key.publicKey.x963Representation
            } else if !mustBePrivate, let key = try? P256.Signing.PublicKey(pemRepresentation: pem) {
                await keys.add(ecdsa: try ES256PublicKey(pem: pem))
                point = key.x963Representation
            } else {
                throw LoadError(description: "\(source): not a PEM P-256 \(kind) key (ES256 is P-256 only)")
            }
            // x963: 0x04 ‖ x ‖ y, 32 bytes each.
            members = [("crv", "P-256"), ("kty", "EC"), ("x", Base64URL.encode(point[1..<33])), ("y", Base64URL.encode(point[33..<65]))]
        case .rs256:
            let primitives: _RSA.Signing.PublicKey.Primitives
            if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem), key.keySizeInBits >= 2048 {
                await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256)
                primitives = try key.publicKey.getKeyPrimitives()
            } else if !mustBePrivate, let key = try? _RSA.Signing.PublicKey(pemRepresentation: pem), key.keySizeInBits >= 2048 {
                await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
                primitives = try key.getKeyPrimitives()
            } else {
                throw LoadError(description: "\(source): not a PEM RSA \(kind) key of 2048 bits or more")
            }
            members = [("e", Base64URL.encode(unsigned(primitives.publicExponent))), ("kty", "RSA"),
                       ("n", Base64URL.encode(unsigned(primitives.modulus)))]
        case .eddsa:
            let x: Data
            if let key = try? EdDSA.PrivateKey(pem: pem) {
                await keys.add(eddsa: key)
                x = key.publicKey.rawRepresentation
            } else if !mustBePrivate, let key = try? EdDSA.PublicKey(pem: pem) {
                await keys.add(eddsa: key)
                x = key.rawRepresentation
            } else {
                throw LoadError(description: "\(source): not a PEM Ed25519 \(kind) key")
            }
            members = [("crv", "Ed25519"), ("kty", "OKP"), ("x", Base64URL.encode(x))]
        case .hs256, .hs384, .hs512:
            throw LoadError(description: "\(source): \(algorithm.rawValue) takes a secret file, not a PEM key")
        }
        let kid = thumbprint(members)
        let jwk = "{" + (members + [("kid", kid), ("alg", algorithm.rawValue), ("use", "sig")])
            .map { JSONText.quoted($0.0) + ":" + JSONText.quoted($0.1) }.joined(separator: ",") + "}"
        return VerificationKey(kid: kid, jwt: try await keys.getKey(), algorithm: algorithm, publicJWK: jwk, source: source)
    }

    /// RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace, base64url.
    /// `members` must already be in that order (their values are base64url or fixed names: nothing to escape).
    static func thumbprint(_ members: [(String, String)]) -> String {
        let json = "{" + members.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}"
        return Base64URL.encode(Array(SHA256.hash(data: Array(json.utf8))))
    }

    /// An unsigned big-endian integer without leading zero bytes (RFC 7518 §6.3.1: `n` and `e`).
    static func unsigned(_ bytes: Data) -> [UInt8] {
        let trimmed = bytes.drop(while: { $0 == 0 })
        return trimmed.isEmpty ? [0] : Array(trimmed)
    }
}
