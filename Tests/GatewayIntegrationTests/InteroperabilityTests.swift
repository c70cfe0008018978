import Crypto
import Foundation
import Testing
@testable import GatewayCore

/// A third-party JWT library (PyJWT, installed by scripts/setup --tests) accepts the gateway's tokens
/// with the same key, issuer and audience — what djangorestframework-simplejwt does underneath.
@Suite struct InteroperabilityTests {
    static let verifierScript = """
        import json, sys, jwt
        token, key_file, alg, issuer, audience = sys.argv[1:6]
        key = open(key_file, "rb").read()
        if alg.startswith("HS") and key.endswith(b"\\n"):
            key = key[:-1]
        options = {"require": ["exp", "iat", "jti"]}
        claims = jwt.decode(token, key, algorithms=[alg], issuer=issuer, audience=audience or None, options=options)
        print(json.dumps(claims, sort_keys=True))
        """

    /// Runs PyJWT on `token`; returns the decoded claims or the error text.
    func pyjwtDecode(_ token: String, keyFile: String, algorithm: String, issuer: String, audience: String) throws -> (ok: Bool, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.verifierScript, token, keyFile, algorithm, issuer, audience]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus == 0, process.terminationStatus == 0 ? stdout : stderr)
    }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "interop-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func accessToken(_ tokens: TokensConfig, directory: String) async throws -> String {
        let key = try await SigningKey.load(tokens, relativeTo: directory)
        let issuer = TokenIssuer(key: key, tokens: tokens)
        let now = WallClock.system.now()
        let subject = TokenIssuer.Subject(sessionID: "s-1", userID: .integer(42), claims: ["role": .string("admin")])
        return try issuer.accessToken(for: subject, lineage: AccessLineage(jti: "j-1", issuedAt: now, expiresAt: now + .seconds(300))).token
    }

    @Test func pyjwtAcceptsHS256AccessTokens() async throws {
        let directory = try temporaryDirectory()
        var tokens = TokensConfig()
        tokens.secretFile = directory + "/secret.key"
        tokens.audience = "my-api"
        let token = try await accessToken(tokens, directory: directory)
        let result = try pyjwtDecode(token, keyFile: tokens.secretFile, algorithm: "HS256", issuer: "auth-gateway", audience: "my-api")
        #expect(result.ok, "PyJWT refused the token: \(result.output)")
        let claims = try #require(JSONValue.parse(Array(result.output.utf8)))
        #expect(claims["user_id"] == .integer(42))
        #expect(claims["sub"] == .string("42"))
        #expect(claims["token_type"] == .string("access"))
        #expect(claims["sid"] == .string("s-1"))
        #expect(claims["role"] == .string("admin"))
    }

    @Test func pyjwtRefusesHS256TokenUnderAnotherIssuerOrKey() async throws {
        let directory = try temporaryDirectory()
        var tokens = TokensConfig()
        tokens.secretFile = directory + "/secret.key"
        let token = try await accessToken(tokens, directory: directory)
        let wrongIssuer = try pyjwtDecode(token, keyFile: tokens.secretFile, algorithm: "HS256", issuer: "someone-else", audience: "")
        #expect(!wrongIssuer.ok)
        let otherKey = directory + "/other.key"
        try Data("\(String(repeating: "k", count: 64))\n".utf8).write(to: URL(fileURLWithPath: otherKey))
        let wrongKey = try pyjwtDecode(token, keyFile: otherKey, algorithm: "HS256", issuer: "auth-gateway", audience: "")
        #expect(!wrongKey.ok)
    }

    @Test func pyjwtAcceptsES256AccessTokens() async throws {
        let directory = try temporaryDirectory()
        let privateKey = P256.Signing.PrivateKey()
        let privatePath = directory + "/es256.pem"
        let publicPath = directory + "/es256.pub.pem"
        try Data(privateKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: privatePath))
        try Data(privateKey.publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: publicPath))
        var tokens = TokensConfig()
        tokens.algorithm = .es256
        tokens.privateKeyFile = privatePath
        let token = try await accessToken(tokens, directory: directory)
        let result = try pyjwtDecode(token, keyFile: publicPath, algorithm: "ES256", issuer: "auth-gateway", audience: "")
        #expect(result.ok, "PyJWT refused the token: \(result.output)")
        let tampered = try pyjwtDecode(token, keyFile: publicPath, algorithm: "HS256", issuer: "auth-gateway", audience: "")
        #expect(!tampered.ok)
    }
}
