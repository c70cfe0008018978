import Crypto
import CryptoExtras
import Foundation
import Testing
@testable import GatewayCore

/// `SigningKey.load(_:relativeTo:)` (docs/configuration.md [tokens]): HS secrets created or read, PEM keys for ES256/RS256/EdDSA.
struct SigningKeyTests {
    typealias S = AuthTestSupport
    static let probe = Array("header.payload".utf8)

    func tokens(_ algorithm: SigningAlgorithm, secretFile: String = "secret.key", privateKeyFile: String = "") -> TokensConfig {
        var tokens = S.tokens(algorithm: algorithm)
        tokens.secretFile = secretFile
        tokens.privateKeyFile = privateKeyFile
        return tokens
    }

    static func hmacSHA256(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    static func headerJSON(_ key: SigningKey) -> String? {
        S.base64urlDecode(key.headerSegment).map { String(decoding: $0, as: UTF8.self) }
    }

    /// docs/operations.md#keys-kid-rotation-and-jwks for HS*, computed here: the first 16 characters of base64url(SHA-256(secret)).
    static func hmacKID(_ secret: [UInt8]) -> String {
        String(S.base64url(Array(SHA256.hash(data: secret))).prefix(16))
    }

    /// RFC 7638 for the members given in lexicographic order, computed here.
    static func thumbprint(_ json: String) -> String {
        S.base64url(Array(SHA256.hash(data: Array(json.utf8))))
    }

    /// Runs openssl with `arguments`; throws when it fails.
    static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SigningKey.LoadError(description: "openssl \(arguments) exited \(process.terminationStatus)")
        }
    }

    // MARK: - HS*: created when missing

    @Test func missingHS256SecretIsCreatedWithMode0600And64RandomBytes() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let key = try await SigningKey.load(tokens(.hs256, secretFile: "var/secret.key"), relativeTo: dir)
        let path = dir + "/var/secret.key"
        #expect(key.algorithm == .hs256)

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let content = try #require(FileManager.default.contents(atPath: path).map { [UInt8]($0) })
        #expect(content.count == 87)
        #expect(content.last == UInt8(ascii: "\n"))
        let text = String(decoding: content.dropLast(), as: UTF8.self)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(text.count == 86)
        #expect(text.allSatisfy { alphabet.contains($0) })
        #expect(S.base64urlDecode(text)?.count == 64)

        // The key is the text (not the decoded bytes), minus the newline.
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array(content.dropLast()), Self.probe))
    }

    @Test func secondLoadReadsTheSameKeyAndLeavesTheFileAlone() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let first = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        let before = FileManager.default.contents(atPath: dir + "/secret.key")
        let second = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        #expect(FileManager.default.contents(atPath: dir + "/secret.key") == before)
        #expect(try first.current.jwt.sign(Self.probe) == second.current.jwt.sign(Self.probe))
    }

    @Test func twoCreatedSecretsDiffer() async throws {
        let a = try S.temporaryDirectory(), b = try S.temporaryDirectory()
        defer { S.removeDirectory(a); S.removeDirectory(b) }
        _ = try await SigningKey.load(tokens(.hs256), relativeTo: a)
        _ = try await SigningKey.load(tokens(.hs256), relativeTo: b)
        let sa = FileManager.default.contents(atPath: a + "/secret.key")
        let sb = FileManager.default.contents(atPath: b + "/secret.key")
        #expect(sa != nil && sa != sb)
    }

    @Test func createdSecretIsLongEnoughForHS512() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let key = try await SigningKey.load(tokens(.hs512), relativeTo: dir)
        #expect(key.algorithm == .hs512)
        #expect(FileManager.default.contents(atPath: dir + "/secret.key")?.count == 87)
    }

    @Test func absoluteSecretPathIsNotResolvedAgainstTheDirectory() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let path = dir + "/abs.key"
        try (S.secret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.hs256, secretFile: path), relativeTo: "/nonexistent-dir")
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array(S.secret.utf8), Self.probe))
    }

    // MARK: - HS*: the key is the content minus one trailing newline

    @Test func keyIsTheContentMinusOneTrailingNewline() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try (S.secret + "\n").write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array(S.secret.utf8), Self.probe))
    }

    @Test func onlyOneTrailingNewlineIsRemoved() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try (S.secret + "\n\n").write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array((S.secret + "\n").utf8), Self.probe))
    }

    @Test func contentWithoutNewlineIsTheKeyAsIs() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try S.secret.write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array(S.secret.utf8), Self.probe))
    }

    @Test func leadingAndInnerWhitespaceIsKept() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let secret = "  " + S.secret + " \t"
        try (secret + "\n").write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        #expect(try key.current.jwt.sign(Self.probe) == Self.hmacSHA256(Array(secret.utf8), Self.probe))
    }

    // MARK: - HS*: too short

    @Test(arguments: [(SigningAlgorithm.hs256, 32), (.hs384, 48), (.hs512, 64)])
    func secretShorterThanTheHashIsRefused(algorithm: SigningAlgorithm, minimum: Int) async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try (String(repeating: "x", count: minimum - 1) + "\n").write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(algorithm), relativeTo: dir)
        }
        try (String(repeating: "x", count: minimum) + "\n").write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(algorithm), relativeTo: dir)
        #expect(key.algorithm == algorithm)
    }

    @Test func emptySecretFileIsRefused() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        for content in ["", "\n"] {
            try content.write(toFile: dir + "/secret.key", atomically: true, encoding: .utf8)
            await #expect(throws: SigningKey.LoadError.self) {
                try await SigningKey.load(tokens(.hs256), relativeTo: dir)
            }
        }
    }

    @Test func secretPathThatIsADirectoryIsRefused() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/secret.key", withIntermediateDirectories: true)
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(.hs256), relativeTo: dir)
        }
    }

    @Test func secretThatCannotBeCreatedIsRefused() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try "a file".write(toFile: dir + "/plain", atomically: true, encoding: .utf8)
        await #expect(throws: (any Error).self) {
            try await SigningKey.load(tokens(.hs256, secretFile: "plain/secret.key"), relativeTo: dir)
        }
    }

    @Test func headerSegmentNamesTheAlgorithm() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        for algorithm in [SigningAlgorithm.hs256, .hs384, .hs512] {
            let key = try await SigningKey.load(tokens(algorithm), relativeTo: dir)
            let secret = try SigningKey.readSecret(at: dir + "/secret.key")
            #expect(Self.headerJSON(key) == #"{"alg":"\#(algorithm.rawValue)","kid":"\#(Self.hmacKID(secret))","typ":"JWT"}"#)
        }
    }

    // MARK: - PEM keys

    @Test func es256LoadsFromAPEMFile() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let privateKey = P256.Signing.PrivateKey()
        try privateKey.pemRepresentation.write(toFile: dir + "/es256.pem", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.es256, privateKeyFile: "es256.pem"), relativeTo: dir)
        #expect(key.algorithm == .es256)
        let point = privateKey.publicKey.x963Representation
        let kid = Self.thumbprint(#"{"crv":"P-256","kty":"EC","x":"\#(S.base64url(point[1..<33]))","y":"\#(S.base64url(point[33..<65]))"}"#)
        #expect(Self.headerJSON(key) == #"{"alg":"ES256","kid":"\#(kid)","typ":"JWT"}"#)
        // The signature is the JOSE r||s form, made with this very key.
        let signature = try key.current.jwt.sign(Self.probe)
        #expect(signature.count == 64)
        let ecdsa = try P256.Signing.ECDSASignature(rawRepresentation: signature)
        #expect(privateKey.publicKey.isValidSignature(ecdsa, for: Self.probe))
    }

    @Test func es256LoadsAnOpenSSLSEC1Key() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try Self.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir + "/ec.pem"])
        let key = try await SigningKey.load(tokens(.es256, privateKeyFile: dir + "/ec.pem"))
        #expect(key.algorithm == .es256)
    }

    @Test func rs256LoadsFromAPEMFile() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let privateKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        try privateKey.pemRepresentation.write(toFile: dir + "/rs256.pem", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.rs256, privateKeyFile: "rs256.pem"), relativeTo: dir)
        #expect(key.algorithm == .rs256)
        let primitives = try privateKey.publicKey.getKeyPrimitives()
        let kid = Self.thumbprint(#"{"e":"\#(S.base64url(primitives.publicExponent))","kty":"RSA","n":"\#(S.base64url(primitives.modulus.drop(while: { $0 == 0 })))"}"#)
        #expect(Self.headerJSON(key) == #"{"alg":"RS256","kid":"\#(kid)","typ":"JWT"}"#)
        let signature = _RSA.Signing.RSASignature(rawRepresentation: try key.current.jwt.sign(Self.probe))
        #expect(privateKey.publicKey.isValidSignature(signature, for: SHA256.hash(data: Self.probe), padding: .insecurePKCS1v1_5))
    }

    @Test func rs256RefusesAnRSAKeyUnder2048Bits() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try Self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", dir + "/small.pem"])
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(.rs256, privateKeyFile: "small.pem"), relativeTo: dir)
        }
    }

    @Test func eddsaLoadsFromAPEMFile() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let privateKey = Curve25519.Signing.PrivateKey()
        // PKCS#8 "PRIVATE KEY", what jwt-kit's EdDSA.PrivateKey(pem:) and `openssl genpkey -algorithm ed25519` use.
        let pem = privateKey.pemRepresentation
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        try pem.write(toFile: dir + "/ed.pem", atomically: true, encoding: .utf8)
        let key = try await SigningKey.load(tokens(.eddsa, privateKeyFile: "ed.pem"), relativeTo: dir)
        #expect(key.algorithm == .eddsa)
        let kid = Self.thumbprint(#"{"crv":"Ed25519","kty":"OKP","x":"\#(S.base64url(privateKey.publicKey.rawRepresentation))"}"#)
        #expect(Self.headerJSON(key) == #"{"alg":"EdDSA","kid":"\#(kid)","typ":"JWT"}"#)
        let signature = try key.current.jwt.sign(Self.probe)
        #expect(privateKey.publicKey.isValidSignature(signature, for: Self.probe))
    }

    @Test func eddsaLoadsAnOpenSSLKey() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try Self.openssl(["genpkey", "-algorithm", "ed25519", "-out", dir + "/ed.pem"])
        let key = try await SigningKey.load(tokens(.eddsa, privateKeyFile: "ed.pem"), relativeTo: dir)
        #expect(key.algorithm == .eddsa)
    }

    @Test func asymmetricTokensRoundTripThroughIssuerAndVerifier() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try P256.Signing.PrivateKey().pemRepresentation.write(toFile: dir + "/a.pem", atomically: true, encoding: .utf8)
        try Curve25519.Signing.PrivateKey().pemRepresentation.write(toFile: dir + "/b.pem", atomically: true, encoding: .utf8)
        let subject = TokenIssuer.Subject(sessionID: "s", userID: .integer(1), claims: [:])
        for algorithm in [SigningAlgorithm.es256, .eddsa] {
            let config = tokens(algorithm, privateKeyFile: algorithm == .es256 ? "a.pem" : "b.pem")
            let key = try await SigningKey.load(config, relativeTo: dir)
            let token = try TokenIssuer(key: key, tokens: config).accessToken(for: subject, jti: "j", issuedAt: S.now, expiresAt: S.now + 60)
            guard case .valid = TokenVerifier(key: key, tokens: config).verify(Substring(token), as: .access, atSecond: S.now) else {
                Issue.record("\(algorithm) token must verify with its own key")
                continue
            }
        }
    }

    @Test(arguments: [SigningAlgorithm.es256, .rs256, .eddsa])
    func garbagePEMIsRefused(algorithm: SigningAlgorithm) async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n"
        try garbage.write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(algorithm, privateKeyFile: "key.pem"), relativeTo: dir)
        }
        try "hello, not PEM\n".write(toFile: dir + "/key.pem", atomically: true, encoding: .utf8)
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(algorithm, privateKeyFile: "key.pem"), relativeTo: dir)
        }
    }

    @Test func keyOfTheWrongTypeIsRefused() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try Curve25519.Signing.PrivateKey().pemRepresentation.write(toFile: dir + "/ed.pem", atomically: true, encoding: .utf8)
        try P256.Signing.PrivateKey().pemRepresentation.write(toFile: dir + "/ec.pem", atomically: true, encoding: .utf8)
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(.es256, privateKeyFile: "ed.pem"), relativeTo: dir)
        }
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(.eddsa, privateKeyFile: "ec.pem"), relativeTo: dir)
        }
        await #expect(throws: SigningKey.LoadError.self) {
            try await SigningKey.load(tokens(.rs256, privateKeyFile: "ec.pem"), relativeTo: dir)
        }
    }

    @Test(arguments: [SigningAlgorithm.es256, .rs256, .eddsa])
    func unreadableKeyPathIsRefused(algorithm: SigningAlgorithm) async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/a-directory", withIntermediateDirectories: true)
        for path in ["missing.pem", "a-directory", "", dir + "/nope/key.pem"] {
            await #expect(throws: SigningKey.LoadError.self, "private_key_file \"\(path)\"") {
                try await SigningKey.load(tokens(algorithm, privateKeyFile: path), relativeTo: dir)
            }
        }
    }
}
