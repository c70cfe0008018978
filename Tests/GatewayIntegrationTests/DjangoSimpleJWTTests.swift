/// Issue 17 / docs/http.md#tokens: a real Django REST framework API (Tests/django_upstream) with djangorestframework-simplejwt,
/// configured with the gateway's key, issuer, audience and user id claim, is the gateway's upstream and its login's
/// credential check. simplejwt's own JWTAuthentication authenticates the access tokens the gateway forwards (the
/// renewed ones too) and finds the user by the user id claim, which holds Django's primary key.
import Crypto
import Foundation
import Testing
@testable import GatewayCore

@Suite("djangorestframework-simplejwt behind the gateway")
struct DjangoSimpleJWTTests {
    /// One way of keying the gateway and simplejwt alike.
    struct Keying: Sendable, CustomTestStringConvertible {
        enum Algorithm: String, Sendable { case hs256 = "HS256", es256 = "ES256" }
        var algorithm: Algorithm
        var userIdClaim: String
        var testDescription: String { "\(algorithm.rawValue), USER_ID_CLAIM \(userIdClaim)" }
    }

    static let keyings = [
        Keying(algorithm: .hs256, userIdClaim: "user_id"),
        // A public key as simplejwt's VERIFYING_KEY, and a user id claim other than the default on both sides.
        Keying(algorithm: .es256, userIdClaim: "account_id"),
    ]
    static let issuer = "auth-gateway-django-tests"
    static let audience = "django-api"

    /// Signs a token's signing input with a key of the token's algorithm.
    enum Signer {
        case hmac(SymmetricKey)
        case es256(P256.Signing.PrivateKey)

        func signature(_ input: [UInt8]) throws -> [UInt8] {
            switch self {
            case .hmac(let key): Array(HMAC<SHA256>.authenticationCode(for: input, using: key))
            case .es256(let key): Array(try key.signature(for: input).rawRepresentation)
            }
        }

        /// `token` with its claims changed by `change` and signed again by this key (its header kept).
        func resign(_ token: String, _ change: (inout [String: JSONValue]) -> Void = { _ in }) throws -> String {
            var claims = try JWTParts.payload(token)
            change(&claims)
            let header = try #require(token.split(separator: ".").first)
            let input = String(header) + "." + Base64URL.encode(Array(JSONValue.object(claims).jsonText.utf8))
            return input + "." + Base64URL.encode(try signature(Array(input.utf8)))
        }
    }

    /// The Django API and the gateway in front of it, both keyed by `keying`.
    struct Scenario {
        var django: DjangoUpstream
        var gateway: AuthGateway
        /// The gateway's signing key.
        var signer: Signer
        /// Another key of the same algorithm.
        var stranger: Signer

        /// What Django's /api/whoami answers for `username` (primary key `id`) authenticated by the access token `jti`.
        func whoami(id: JSONValue, username: String, jti: String) -> JSONValue {
            .object(["id": id, "username": .string(username), "jti": .string(jti), "token_type": .string("access"),
                     "user_id_claim": id])
        }
    }

    /// The key files for `algorithm` in `directory`: the gateway's `[tokens]` keys, simplejwt's key file, the signers.
    static func keys(_ algorithm: Keying.Algorithm, in directory: TemporaryDirectory)
        throws -> (tokens: [String: String], djangoKeyFile: String, signer: Signer, stranger: Signer)
    {
        switch algorithm {
        case .hs256:
            let secret = Base64URL.encode((0..<64).map { _ in UInt8.random(in: .min ... .max) })
            let path = try directory.write("secret.key", secret + "\n")
            return (["algorithm": #""HS256""#, "secret_file": TestConfig.quoted(path)], path,
                    .hmac(SymmetricKey(data: Array(secret.utf8))), .hmac(SymmetricKey(size: .bits256)))
        case .es256:
            let key = P256.Signing.PrivateKey()
            let privatePath = try directory.write("es256.pem", key.pemRepresentation)
            let publicPath = try directory.write("es256.pub.pem", key.publicKey.pemRepresentation)
            return (["algorithm": #""ES256""#, "private_key_file": TestConfig.quoted(privatePath)], publicPath,
                    .es256(key), .es256(P256.Signing.PrivateKey()))
        }
    }

    /// Starts Django, then the gateway in front of it (`/api/` required with renewal, `forward_authorization`,
    /// access tokens of 1m, logins checked by Django), runs `body`, and stops both whatever happens.
    static func withScenario<T>(_ keying: Keying, clock: MovableClock, _ body: (Scenario) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let keys = try keys(keying.algorithm, in: directory)
        let django = try await DjangoUpstream.start(
            .init(algorithm: keying.algorithm.rawValue, keyFile: keys.djangoKeyFile, issuer: issuer, audience: audience,
                  userIdClaim: keying.userIdClaim),
            directory: directory)
        defer { django.stop() }

        var config = TestConfig()
        config.tokens = keys.tokens.merging([
            "issuer": TestConfig.quoted(issuer),
            "audience": TestConfig.quoted(audience),
            "user_id_claim": TestConfig.quoted(keying.userIdClaim),
            "access_ttl": #""1m""#,
            "refresh_ttl": #""1h""#,
        ]) { $1 }
        config.renewal = ["window": #""1d""#]
        config.store = ["url": #""sqlite:gateway.db""#]
        config.auth = ["verify_url": TestConfig.quoted(django.baseURL + "/auth/verify-credentials")]
        config.headers = ["forward_authorization": "true"]
        config.upstreams = [.init("api", targets: [django.baseURL], ["timeout": #""10s""#])]
        config.routes = [.init("/api/", auth: "required", ["renew": "true"])]
        let gateway = try await AuthGateway.start(config, clock: clock)
        do {
            let result = try await body(Scenario(django: django, gateway: gateway,
                                                 signer: keys.signer, stranger: keys.stranger))
            await gateway.stop()
            return result
        } catch {
            await gateway.stop()
            throw error
        }
    }

    /// Now on the wall clock Django checks `exp` and `iat` against, in whole seconds.
    static func realNow() -> UnixTime { UnixTime(seconds: Int64(Date().timeIntervalSince1970)) }

    /// The id of the user a login answered with (Django's primary key, as its credential check gave it).
    static func userID(_ login: LoginTokens) throws -> JSONValue {
        try #require(login.response.json?["user"]?["id"], "login: \(login.response.bodyText)")
    }

    @Test("Django authenticates the login token and the renewed token, and its view sees the user", arguments: keyings)
    func djangoAcceptsLoginAndRenewedTokens(_ keying: Keying) async throws {
        let clock = MovableClock()
        try await Self.withScenario(keying, clock: clock) { s in
            let bob = try await s.gateway.login("bob", "builder")
            let bobID = try Self.userID(bob)
            #expect(try JWTParts.payload(bob.access)[keying.userIdClaim] == bobID)
            let first = try await s.gateway.get("/api/whoami", token: bob.access)
            #expect(first.status == 200, "\(first.bodyText)\n\(s.django.stderr)")
            #expect(first.json == s.whoami(id: bobID, username: "bob", jti: try JWTParts.jti(bob.access)), "\(first.bodyText)")
            #expect(first.header("x-access-token") == nil)

            // Alice logs in on a gateway clock two minutes behind: her access token (1m) has expired for the gateway
            // and for Django alike once the clock is back. A renewal then mints a token that is valid in real time,
            // as Django judges it (iat not in the future, exp ahead).
            clock.set(UnixTime(seconds: Self.realNow().seconds - 120))
            let alice = try await s.gateway.login()
            let aliceID = try Self.userID(alice)
            #expect(aliceID != bobID)
            clock.set(Self.realNow())
            let expired = try await s.django.get("/api/whoami", token: alice.access)
            #expect(expired.status == 401, "Django must refuse the expired token itself: \(expired.bodyText)")
            #expect(expired.json == accessTokenNotValidBody("Token is expired"), "\(expired.bodyText)")

            let renewal = try await s.gateway.get("/api/whoami", token: alice.access)
            #expect(renewal.status == 200, "\(renewal.bodyText)\n\(s.django.stderr)")
            let renewed = try #require(renewal.header("x-access-token"), "no renewal: \(renewal.status) \(renewal.bodyText)")
            #expect(try JWTParts.jti(renewed) != JWTParts.jti(alice.access))
            #expect(renewal.json == s.whoami(id: aliceID, username: "alice", jti: try JWTParts.jti(renewed)), "\(renewal.bodyText)")

            // The renewed token is used like any other: Django authenticates it, nothing is renewed.
            let next = try await s.gateway.get("/api/whoami", token: renewed)
            #expect(next.status == 200, "\(next.bodyText)")
            #expect(next.json == s.whoami(id: aliceID, username: "alice", jti: try JWTParts.jti(renewed)), "\(next.bodyText)")
            #expect(next.header("x-access-token") == nil)

            // What Django was sent: through the gateway bob's token, the renewed token (never the expired one it
            // replaced), the renewed token again; the expired token only by the direct call.
            #expect(try await s.django.tokensReceived() == [bob.access, alice.access, renewed, renewed])
        }
    }

    @Test("tokens the gateway refuses (tampered, revoked session) never reach Django", arguments: keyings)
    func refusedTokensNeverReachDjango(_ keying: Keying) async throws {
        let clock = MovableClock()
        try await Self.withScenario(keying, clock: clock) { s in
            let alice = try await s.gateway.login()
            let tampered = JWTParts.tamperedSignature(alice.access)
            expectAccessTokenRefused(try await s.gateway.get("/api/whoami", token: tampered), message: "Token is invalid")
            let resigned = try s.stranger.resign(alice.access)
            expectAccessTokenRefused(try await s.gateway.get("/api/whoami", token: resigned), message: "Token is invalid")

            // An expired token of a session logged out: no renewal, a 401, and Django never hears of it.
            clock.set(UnixTime(seconds: Self.realNow().seconds - 120))
            let bob = try await s.gateway.login("bob", "builder")
            clock.set(Self.realNow())
            #expect(try await s.gateway.logout(access: bob.access).status == 204)
            expectAccessTokenRefused(try await s.gateway.get("/api/whoami", token: bob.access), message: "Token is blacklisted")

            // The same path does reach Django with a good token.
            let good = try await s.gateway.get("/api/whoami", token: alice.access)
            #expect(good.status == 200, "\(good.bodyText)\n\(s.django.stderr)")
            #expect(try await s.django.tokensReceived() == [alice.access])
        }
    }

    @Test("Django itself refuses another key, a tampered token, another issuer or audience, an unknown user, a refresh token",
          arguments: keyings)
    func djangoChecksTheTokens(_ keying: Keying) async throws {
        try await Self.withScenario(keying, clock: MovableClock()) { s in
            let alice = try await s.gateway.login()
            let aliceID = try Self.userID(alice)
            // The control: the gateway's token sent straight to Django is accepted.
            let direct = try await s.django.get("/api/whoami", token: alice.access)
            #expect(direct.status == 200, "\(direct.bodyText)\n\(s.django.stderr)")
            #expect(direct.json == s.whoami(id: aliceID, username: "alice", jti: try JWTParts.jti(alice.access)))
            // So is the same token signed again by the gateway's key: the re-signing below changes only what it says.
            #expect(try await s.django.get("/api/whoami", token: try s.signer.resign(alice.access)).status == 200)

            let refusals: [(what: String, token: String, message: String)] = [
                ("another key", try s.stranger.resign(alice.access), "Token is invalid"),
                ("a tampered signature", JWTParts.tamperedSignature(alice.access), "Token is invalid"),
                ("another issuer", try s.signer.resign(alice.access) { $0["iss"] = .string("someone-else") }, "Token is invalid"),
                ("another audience", try s.signer.resign(alice.access) { $0["aud"] = .string("another-api") }, "Token is invalid"),
                ("a refresh token", try #require(alice.refresh), "Token has wrong type"),
            ]
            for refusal in refusals {
                let response = try await s.django.get("/api/whoami", token: refusal.token)
                #expect(response.status == 401, "\(refusal.what): \(response.bodyText)")
                // simplejwt's own body is the one the gateway answers with (docs/http.md#error-bodies).
                #expect(response.json == accessTokenNotValidBody(refusal.message), "\(refusal.what): \(response.bodyText)")
            }

            // A well-signed token for a user Django does not have: the user is looked up by the user id claim.
            let stranger = try s.signer.resign(alice.access) { $0[keying.userIdClaim] = .integer(999_999) }
            let unknown = try await s.django.get("/api/whoami", token: stranger)
            #expect(unknown.status == 401, "\(unknown.bodyText)")
            #expect(unknown.json?["code"] == .string("user_not_found"), "\(unknown.bodyText)")
        }
    }
}
