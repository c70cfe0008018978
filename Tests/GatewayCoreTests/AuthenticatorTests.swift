import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import GatewayCore

/// `Authenticator.authorize` (docs/http.md#route-auth–§5.3): route auth modes, error mapping, identity headers, renewal.
struct AuthenticatorTests {
    typealias S = AuthTestSupport

    /// Milliseconds since the epoch, moved by the test.
    final class TestClock: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Int64
        init(_ ms: Int64) { value = ms }
        var ms: Int64 {
            get { lock.withLock { value } }
            set { lock.withLock { value = newValue } }
        }
        func advance(by delta: Int64) { lock.withLock { value += delta } }
    }

    static let login: Int64 = 1_750_000_000_000
    static let day: Int64 = 86_400_000

    /// Everything an authorize call needs, over a temp folder (secret file and session store).
    final class Fixture: @unchecked Sendable {
        let dir: String
        let config: GatewayConfig
        let table: RouteTable
        let key: SigningKey
        let issuer: TokenIssuer
        let verifier: TokenVerifier
        let clock: TestClock
        let store: SQLiteSessionStore?
        let coordinator: RenewalCoordinator?
        let revocations = RevocationList(retention: .seconds(360))
        let authenticator: Authenticator
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

        init(_ toml: String, renewal withRenewal: Bool = false, now: Int64 = AuthenticatorTests.login) async throws {
            dir = try S.temporaryDirectory()
            config = try ConfigReader(environment: [:]).parse(toml, file: "gateway.conf")
            table = RouteTable(compiling: config)
            key = try await SigningKey.load(config.tokens, relativeTo: dir)
            issuer = TokenIssuer(key: key, tokens: config.tokens)
            verifier = TokenVerifier(key: key, tokens: config.tokens)
            clock = TestClock(now)
            if withRenewal {
                let store = try SQLiteSessionStore(path: dir + "/gateway.db")
                self.store = store
                coordinator = RenewalCoordinator(store: store, issuer: issuer, tokens: config.tokens, renewal: config.renewal, logger: Logger(label: "auth-tests"))
            } else {
                store = nil
                coordinator = nil
            }
            let clock = self.clock
            authenticator = Authenticator(verifier: verifier, renewal: coordinator, revocations: revocations, config: config,
                                          clock: WallClock { UnixTime(milliseconds: clock.ms) })
        }

        func shutdown() async throws {
            try? await store?.close()
            try await group.shutdownGracefully()
            S.removeDirectory(dir)
        }

        func route(_ path: String) throws -> Route {
            try #require(table.match(Substring(path)))
        }

        static let subject = TokenIssuer.Subject(sessionID: "sid-1", userID: .integer(42), claims: ["role": .string("admin")])

        /// The session the tokens below belong to, logged in at `login`.
        func session(subject: TokenIssuer.Subject = Fixture.subject) -> Session {
            Session(
                id: subject.sessionID, userID: subject.userID, claims: subject.claims, createdAt: UnixTime(milliseconds: login),
                expiresAt: UnixTime(milliseconds: login + day), maxExpiresAt: UnixTime(milliseconds: login + 30 * day),
                refreshJTI: "R1", access: AccessLineage(jti: "A1", issuedAt: UnixTime(milliseconds: login),
                                                        expiresAt: UnixTime(milliseconds: login + 300_000))
            )
        }

        /// The session's first access token (jti A1, five minutes from `login`).
        func accessToken(subject: TokenIssuer.Subject = Fixture.subject) throws -> String {
            try issuer.accessToken(for: subject, lineage: session(subject: subject).access).token
        }

        func authorize(_ path: String = "/api/x", method: HTTPMethod = .GET, headers: [(String, String)], preflight: Bool = false) throws -> Deferred<AuthOutcome> {
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: HTTPHeaders(headers))
            return authenticator.authorize(head, route: try route(path), isPreflight: preflight)
        }

        /// A forwarding outcome as the upstream and the client see it: through the real request builder and
        /// renewal response step of this config.
        func grant(_ outcome: AuthOutcome?, sourceLocation: SourceLocation = #_sourceLocation) -> Grant? {
            let builder = UpstreamRequestBuilder(headers: config.headers)
            let renewalResponse = RenewalResponseHeaders(header: config.renewal.header)
            var responseHeaders = HTTPHeaders()
            switch outcome {
            case .anonymous?, .authenticated?:
                break
            case .renewed(_, let token)?:
                renewalResponse.add(token, to: &responseHeaders)
            case .denied?, nil:
                Issue.record("expected forwarding, got \(String(describing: outcome))", sourceLocation: sourceLocation)
                return nil
            }
            return Grant(authorization: builder.authorization(for: outcome!),
                         identityHeaders: builder.identityHeaders(for: outcome!).map { ($0.name, $0.value) },
                         responseHeaders: responseHeaders.map { ($0.name, $0.value) })
        }
    }

    /// What a forwarded request carries upstream and back.
    struct Grant {
        /// nil keeps the client's `Authorization`, "" drops it.
        var authorization: String?
        var identityHeaders: [(String, String)]
        var responseHeaders: [(String, String)]
    }

    static func toml(route: String = "", tokens: String = "", renewal: String = "", headers: String = "", moreRoutes: String = "") -> String {
        """
        [tokens]
        secret_file = "secret.key"
        \(tokens)

        [renewal]
        \(renewal)

        [headers]
        \(headers)

        [[upstreams]]
        name = "api"
        targets = ["http://127.0.0.1:9000"]

        [[routes]]
        path = "/api/"
        upstream = "api"
        \(route)

        [[routes]]
        path = "/public/"
        upstream = "api"
        auth = "public"

        [[routes]]
        path = "/opt/"
        upstream = "api"
        auth = "optional"

        [[routes]]
        path = "/opt-anon/"
        upstream = "api"
        auth = "optional"
        on_invalid = "anonymous"

        [[routes]]
        path = "/admin/"
        upstream = "api"
        require_claims = { role = ["staff", "root"] }

        [[routes]]
        path = "/scoped/"
        upstream = "api"
        require_scopes = ["read"]

        [[routes]]
        path = "/norenew/"
        upstream = "api"
        renew = false
        \(moreRoutes)
        """
    }

    // MARK: - decision helpers

    static func immediate(_ deferred: Deferred<AuthOutcome>, sourceLocation: SourceLocation = #_sourceLocation) -> AuthOutcome? {
        guard case .now(let decision) = deferred else {
            Issue.record("expected a decision now, got a future", sourceLocation: sourceLocation)
            return nil
        }
        return decision
    }

    static func denial(_ decision: AuthOutcome?, sourceLocation: SourceLocation = #_sourceLocation) -> GatewayError? {
        guard case .denied(let error, _)? = decision else {
            Issue.record("expected deny, got \(String(describing: decision))", sourceLocation: sourceLocation)
            return nil
        }
        return error
    }

    static func isAnonymous(_ grant: Grant?, authorization: String?) -> Bool {
        guard let grant else { return false }
        return grant.authorization == authorization && grant.identityHeaders.isEmpty && grant.responseHeaders.isEmpty
    }

    static func header(_ name: String, in pairs: [(String, String)]) -> [String] {
        pairs.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
    }

    /// Runs `body` with a fixture and always shuts it down.
    static func with(
        _ toml: String = AuthenticatorTests.toml(), renewal: Bool = false,
        _ body: (Fixture) async throws -> Void
    ) async throws {
        let fixture = try await Fixture(toml, renewal: renewal)
        do {
            try await body(fixture)
        } catch {
            try? await fixture.shutdown()
            throw error
        }
        try await fixture.shutdown()
    }

    // MARK: - public routes and preflight

    @Test(arguments: ["Garbage", "Bearer not.a.token", "Bearer", "Bearer a b", "Basic abc"])
    func publicRouteForwardsAnonymouslyWhateverTheAuthorization(value: String) async throws {
        try await Self.with { f in
            let grant = f.grant(Self.immediate(try f.authorize("/public/x", headers: [("Authorization", value)])))
            // Authorization untouched (nil), nothing verified, no identity.
            #expect(Self.isAnonymous(grant, authorization: nil))
        }
    }

    @Test func publicRouteWithAValidTokenVerifiesNothing() async throws {
        try await Self.with { f in
            let grant = f.grant(Self.immediate(try f.authorize("/public/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(Self.isAnonymous(grant, authorization: nil))
        }
    }

    @Test func corsPreflightIsNeverAuthenticated() async throws {
        try await Self.with { f in
            let grant = f.grant(Self.immediate(try f.authorize("/api/x", method: .OPTIONS, headers: [("Origin", "https://a.example")], preflight: true)))
            #expect(Self.isAnonymous(grant, authorization: nil))
        }
    }

    // MARK: - required routes

    @Test func requiredWithoutTokenIsNotAuthenticated() async throws {
        try await Self.with { f in
            let error = Self.denial(Self.immediate(try f.authorize(headers: [])))
            #expect(error == .notAuthenticated)
            #expect(error?.status == .unauthorized)
        }
    }

    @Test(arguments: ["Basic x", "Token abc", "Digest a=b"])
    func requiredWithAnotherSchemeIsNotAuthenticated(value: String) async throws {
        try await Self.with { f in
            let decision = try f.authorize(headers: [("Authorization", value)])
            #expect(Self.denial(Self.immediate(decision)) == .notAuthenticated)
        }
    }

    @Test(arguments: ["Bearer", "bearer ", "Bearer a b"])
    func bearerWithoutExactlyOneTokenIsBadAuthorizationHeader(value: String) async throws {
        try await Self.with { f in
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", value)])))
            #expect(error == .badAuthorizationHeader)
            #expect(error?.status == .unauthorized)
        }
    }

    @Test func twoAuthorizationHeadersAreBadRequest() async throws {
        try await Self.with { f in
            let token = try f.accessToken()
            for path in ["/api/x", "/opt/x", "/opt-anon/x"] {
                let error = Self.denial(Self.immediate(try f.authorize(path, headers: [("Authorization", "Bearer " + token), ("authorization", "Bearer " + token)])))
                #expect(error == .badRequest, "\(path)")
                #expect(error?.status == .badRequest)
            }
        }
    }

    @Test(arguments: ["garbage", "a.b.c", "a.b.c.d"])
    func invalidTokenIsTokenNotValidInvalid(token: String) async throws {
        try await Self.with { f in
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)])))
            #expect(error == .accessTokenNotValid(.invalid))
            #expect(error?.status == .unauthorized)
        }
    }

    @Test func tamperedOrRefreshTokenIsTokenNotValidInvalid() async throws {
        try await Self.with { f in
            let token = try f.accessToken()
            let refresh = try f.issuer.refreshToken(for: Fixture.subject, jti: "R1", issuedAt: UnixTime(milliseconds: Self.login),
                                                    expiresAt: UnixTime(milliseconds: Self.login + Self.day))
            let forged = S.craft(payload: S.json(S.segmentObject(token, 1)!), secret: S.otherSecret)
            for candidate in [refresh, forged, token + "x"] {
                let decision = try f.authorize(headers: [("Authorization", "Bearer " + candidate)])
                #expect(Self.denial(Self.immediate(decision)) == .accessTokenNotValid(.invalid))
            }
        }
    }

    @Test func validTokenForwardsWithIdentityHeaders() async throws {
        try await Self.with { f in
            let token = try f.accessToken()
            let grant = try #require(f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)]))))
            // The client's header is kept as it was.
            #expect(grant.authorization == nil)
            #expect(grant.responseHeaders.isEmpty)
            #expect(Self.header("X-Auth-User-Id", in: grant.identityHeaders) == ["42"])
            #expect(Self.header("X-Auth-Session-Id", in: grant.identityHeaders) == ["sid-1"])
            let claimsHeader = try #require(Self.header("X-Auth-Claims", in: grant.identityHeaders).first)
            #expect(!claimsHeader.contains("=") && !claimsHeader.contains("+") && !claimsHeader.contains("/"))
            let decoded = try #require(S.base64urlDecode(claimsHeader))
            #expect(JSONValue.parse(decoded) == .object(try #require(S.segmentObject(token, 1))))
            #expect(grant.identityHeaders.count == 3)
        }
    }

    @Test func stringUserIdIsSentAsIs() async throws {
        try await Self.with { f in
            let subject = TokenIssuer.Subject(sessionID: "s-9", userID: .string("u-7"), claims: [:])
            let grant = f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken(subject: subject))])))
            #expect(Self.header("X-Auth-User-Id", in: grant?.identityHeaders ?? []) == ["u-7"])
            #expect(Self.header("X-Auth-Session-Id", in: grant?.identityHeaders ?? []) == ["s-9"])
        }
    }

    @Test func configuredIdentityHeaderNamesAreUsedAndEmptyOnesDisabled() async throws {
        let toml = Self.toml(headers: #"user_id = "X-User"\#nsession_id = ""\#nclaims = "X-Claims""#)
        try await Self.with(toml) { f in
            let grant = try #require(f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())]))))
            #expect(grant.identityHeaders.map(\.0) == ["X-User", "X-Claims"])
            #expect(Self.header("X-User", in: grant.identityHeaders) == ["42"])
        }
    }

    @Test func forwardAuthorizationFalseRemovesTheHeader() async throws {
        try await Self.with(Self.toml(headers: "forward_authorization = false")) { f in
            let grant = f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(grant?.authorization == "")
            #expect(Self.header("X-Auth-User-Id", in: grant?.identityHeaders ?? []) == ["42"])
        }
    }

    @Test func failedRequireClaimsIsPermissionDenied() async throws {
        try await Self.with { f in
            let error = Self.denial(Self.immediate(try f.authorize("/admin/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(error == .permissionDenied)
            #expect(error?.status == .forbidden)
            let staff = TokenIssuer.Subject(sessionID: "s", userID: .integer(1), claims: ["role": .string("staff")])
            _ = f.grant(Self.immediate(try f.authorize("/admin/x", headers: [("Authorization", "Bearer " + f.accessToken(subject: staff))])))
        }
    }

    @Test func failedRequireScopesIsPermissionDenied() async throws {
        try await Self.with { f in
            let decision = try f.authorize("/scoped/x", headers: [("Authorization", "Bearer " + f.accessToken())])
            #expect(Self.denial(Self.immediate(decision)) == .permissionDenied)
            let reader = TokenIssuer.Subject(sessionID: "s", userID: .integer(1), claims: ["scope": .string("write read")])
            _ = f.grant(Self.immediate(try f.authorize("/scoped/x", headers: [("Authorization", "Bearer " + f.accessToken(subject: reader))])))
        }
    }

    // MARK: - optional routes

    @Test func optionalWithoutTokenIsAnonymous() async throws {
        try await Self.with { f in
            let decision = try f.authorize("/opt/x", headers: [])
            #expect(Self.isAnonymous(f.grant(Self.immediate(decision)), authorization: nil))
        }
    }

    @Test func optionalWithAnotherSchemePassesItOnUntouched() async throws {
        try await Self.with { f in
            let decision = try f.authorize("/opt/x", headers: [("Authorization", "Basic abc")])
            #expect(Self.isAnonymous(f.grant(Self.immediate(decision)), authorization: nil))
        }
    }

    @Test func optionalWithAValidTokenForwardsWithIdentity() async throws {
        try await Self.with { f in
            let grant = f.grant(Self.immediate(try f.authorize("/opt/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(grant?.authorization == nil)
            #expect(Self.header("X-Auth-User-Id", in: grant?.identityHeaders ?? []) == ["42"])
        }
    }

    @Test func optionalRejectWithAnInvalidTokenIsTokenNotValid() async throws {
        try await Self.with { f in
            let decision = try f.authorize("/opt/x", headers: [("Authorization", "Bearer a.b.c")])
            #expect(Self.denial(Self.immediate(decision)) == .accessTokenNotValid(.invalid))
            let bare = try f.authorize("/opt/x", headers: [("Authorization", "Bearer")])
            #expect(Self.denial(Self.immediate(bare)) == .badAuthorizationHeader)
        }
    }

    @Test func optionalAnonymousWithAnInvalidTokenForwardsWithoutTheHeader() async throws {
        try await Self.with { f in
            for value in ["Bearer a.b.c", "Bearer", "Bearer a b"] {
                let grant = f.grant(Self.immediate(try f.authorize("/opt-anon/x", headers: [("Authorization", value)])))
                #expect(Self.isAnonymous(grant, authorization: ""), "\(value)")
            }
        }
    }

    @Test func optionalAnonymousWithAnExpiredUnrenewableTokenForwardsWithoutTheHeader() async throws {
        try await Self.with { f in
            f.clock.ms = Self.login + 400_000
            let grant = f.grant(Self.immediate(try f.authorize("/opt-anon/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(Self.isAnonymous(grant, authorization: ""))
        }
    }

    // MARK: - expired tokens without renewal

    @Test func expiredTokenWithoutRenewalIsTokenNotValidExpired() async throws {
        try await Self.with { f in
            let token = try f.accessToken()
            f.clock.ms = Self.login + 299_999
            _ = f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)])))
            f.clock.ms = Self.login + 300_000
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)])))
            #expect(error == .accessTokenNotValid(.expired))
            #expect(error?.status == .unauthorized)
        }
    }

    @Test func aTokenThatVerifiedBeforeStillExpiresAtItsExp() async throws {
        // Repeated requests with one token (a verified-token cache may answer them) give the same
        // identity, and stop working at exp (+ leeway) exactly as a first verification would.
        try await Self.with(Self.toml(tokens: #"leeway = "10s""#)) { f in
            let token = try f.accessToken()
            let first = try #require(f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)]))))
            f.clock.ms = Self.login + 309_999
            let second = try #require(f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)]))))
            #expect(first.identityHeaders.map(\.0) == second.identityHeaders.map(\.0))
            #expect(first.identityHeaders.map(\.1) == second.identityHeaders.map(\.1))
            // A verified token still obeys each route's own requirements.
            let scoped = try f.authorize("/scoped/x", headers: [("Authorization", "Bearer " + token)])
            #expect(Self.denial(Self.immediate(scoped)) == .permissionDenied)
            f.clock.ms = Self.login + 310_000
            let decision = try f.authorize(headers: [("Authorization", "Bearer " + token)])
            #expect(Self.denial(Self.immediate(decision)) == .accessTokenNotValid(.expired))
        }
    }

    @Test func expiredTokenOnARenewFalseRouteIsTokenNotValidExpired() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 400_000
            let error = Self.denial(Self.immediate(try f.authorize("/norenew/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(error == .accessTokenNotValid(.expired))
            // Nothing was renewed.
            #expect(try await f.store!.session(id: "sid-1")?.access.jti == "A1")
        }
    }

    @Test func expiredTokenWithRenewalDisabledIsTokenNotValidExpired() async throws {
        try await Self.with(Self.toml(renewal: "enabled = false"), renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 400_000
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(error == .accessTokenNotValid(.expired))
        }
    }

    @Test func expiredLongerThanTheWindowIsRefusedWithoutTheStore() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 300_000 + Self.day + 1
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(error == .accessTokenNotValid(.expired))
        }
    }

    // MARK: - renewal

    @Test func expiredTokenOnALiveSessionIsRenewed() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            let old = try f.accessToken()
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + old)]) else {
                Issue.record("an expired renewable token must be decided later (store)")
                return
            }
            let grant = try #require(f.grant(try await work()))
            let renewed = try #require(Self.header("X-Access-Token", in: grant.responseHeaders).first)
            #expect(renewed != old)
            #expect(Self.header("Access-Control-Expose-Headers", in: grant.responseHeaders) == ["X-Access-Token"])
            #expect(grant.authorization == "Bearer " + renewed)

            let nowS = (Self.login + 400_000) / 1000
            guard case .valid(let claims) = f.verifier.verify(Substring(renewed), as: .access, now: UnixTime(seconds: nowS)) else {
                Issue.record("the renewed token must be valid now")
                return
            }
            #expect(claims.sessionID == "sid-1")
            #expect(claims.subject == "42")
            #expect(claims["role"] == .string("admin"))
            #expect(claims.jti != "A1")
            #expect(claims.issuedAt == nowS)
            #expect(claims.expiresAt == nowS + 300)

            // Identity comes from the renewed token.
            #expect(Self.header("X-Auth-User-Id", in: grant.identityHeaders) == ["42"])
            let claimsHeader = try #require(Self.header("X-Auth-Claims", in: grant.identityHeaders).first)
            #expect(JSONValue.parse(try #require(S.base64urlDecode(claimsHeader)))?["jti"] == claims["jti"])

            // The store's lineage advanced, and the session slid to now + refresh_ttl.
            let session = try #require(try await f.store!.session(id: "sid-1"))
            #expect(session.access.jti == claims.jti)
            #expect(session.previousAccessJTI == "A1")
            #expect(session.accessReplacedAt == UnixTime(milliseconds: Self.login + 400_000))
            #expect(session.expiresAt == UnixTime(milliseconds: Self.login + 400_000 + Self.day))
        }
    }

    @Test func renewalUsesTheConfiguredHeaderName() async throws {
        try await Self.with(Self.toml(renewal: #"header = "X-New-Token""#), renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())]) else {
                Issue.record("expected a renewal")
                return
            }
            let grant = try #require(f.grant(try await work()))
            #expect(Self.header("X-New-Token", in: grant.responseHeaders).count == 1)
            #expect(Self.header("X-Access-Token", in: grant.responseHeaders).isEmpty)
            #expect(Self.header("Access-Control-Expose-Headers", in: grant.responseHeaders) == ["X-New-Token"])
        }
    }

    @Test func renewalWithForwardAuthorizationFalseStillRemovesTheHeader() async throws {
        try await Self.with(Self.toml(headers: "forward_authorization = false"), renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())]) else {
                Issue.record("expected a renewal")
                return
            }
            let grant = try #require(f.grant(try await work()))
            #expect(grant.authorization == "")
            #expect(Self.header("X-Access-Token", in: grant.responseHeaders).count == 1)
        }
    }

    @Test func sameExpiredTokenWithinGraceGetsTheSameSuccessor() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            let old = try f.accessToken()
            f.clock.ms = Self.login + 400_000
            func renew() async throws -> String? {
                switch try f.authorize(headers: [("Authorization", "Bearer " + old)]) {
                case .later(let work):
                    guard case .renewed(_, let token) = try await work() else { return nil }
                    return token
                case .now(.renewed(_, let token)):
                    return token
                default:
                    return nil
                }
            }
            let first = try #require(try await renew())
            f.clock.advance(by: 5_000)
            let second = try #require(try await renew())
            #expect(first == second)
            // After the grace period the old token is superseded: 401, log in again.
            f.clock.advance(by: 6_000)
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + old)]) else {
                Issue.record("expected a store round trip")
                return
            }
            #expect(Self.denial(try await work()) == .accessTokenNotValid(.expired))
        }
    }

    /// Within grace, the successor this process handed out is handed out again without the store (and at once:
    /// no task); after grace the store decides again.
    @Test func theSameExpiredTokenAgainWithinGraceNeedsNoStore() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            let old = try f.accessToken()
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + old)]),
                  case .renewed(_, let first) = try await work() else {
                Issue.record("the first renewal needs the store")
                return
            }
            try await f.store!.close()  // from here on, any store read fails
            f.clock.advance(by: 5_000)
            guard case .now(.renewed(_, let again)) = try f.authorize(headers: [("Authorization", "Bearer " + old)]) else {
                Issue.record("within grace the known successor is answered at once")
                return
            }
            #expect(again == first)
            f.clock.advance(by: 6_000)
            guard case .later(let late) = try f.authorize(headers: [("Authorization", "Bearer " + old)]) else {
                Issue.record("after grace the store decides")
                return
            }
            await #expect(throws: (any Error).self) { try await late() }
        }
    }

    /// Once this process renews the successor too, the first token is two steps back: the store decides (and
    /// refuses it), as the policy says.
    @Test func aTokenTwoStepsBackIsNotAnsweredFromMemory() async throws {
        // A grace longer than the access tokens' life: only the renewal of the successor ends the shortcut.
        try await Self.with(Self.toml(renewal: #"grace = "1h""#), renewal: true) { f in
            try await f.store!.create(f.session())
            let old = try f.accessToken()
            f.clock.ms = Self.login + 400_000
            func renew(_ token: String) async throws -> Deferred<AuthOutcome> { try f.authorize(headers: [("Authorization", "Bearer " + token)]) }
            guard case .later(let first) = try await renew(old), case .renewed(_, let successor) = try await first() else {
                Issue.record("the first renewal")
                return
            }
            f.clock.advance(by: 301_000)  // the successor has expired in turn (access_ttl 5m)
            guard case .later(let second) = try await renew(successor), case .renewed = try await second() else {
                Issue.record("the successor renews")
                return
            }
            guard case .later(let third) = try await renew(old) else {
                Issue.record("two steps back: not from memory")
                return
            }
            #expect(Self.denial(try await third()) == .accessTokenNotValid(.expired))
        }
    }

    /// Twenty renewals of one expired token started at once; returns how many distinct tokens they got
    /// (nil when one of them did not renew).
    static func parallelRenewalsDistinctTokens() async throws -> Int? {
        let f = try await Fixture(toml(), renewal: true)
        do {
            let count = try await parallelRenewalsDistinctTokens(f)
            try await f.shutdown()
            return count
        } catch {
            try? await f.shutdown()
            throw error
        }
    }

    private static func parallelRenewalsDistinctTokens(_ f: Fixture) async throws -> Int? {
        try await f.store!.create(f.session())
        let old = try f.accessToken()
        f.clock.ms = login + 400_000
        var works: [@Sendable () async throws -> AuthOutcome] = []
        for _ in 0..<20 {
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + old)]) else { return nil }
            works.append(work)
        }
        // Started together, as twenty requests on the event loops would.
        let outcomes = try await withThrowingTaskGroup(of: AuthOutcome.self) { group in
            for work in works { group.addTask(operation: work) }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var tokens: Set<String> = []
        for outcome in outcomes {
            guard case .renewed(_, let token) = outcome else { return nil }
            tokens.insert(token)
        }
        return tokens.count
    }

    /// docs/http.md#renewal: many parallel requests that carry one expired token all succeed and all receive one
    /// lineage. Run in a child process: a crash (e.g. a leaked NIO promise in debug builds) fails this
    /// test instead of killing the whole test run.
    @Test func parallelRenewalsOfOneTokenShareOneLineage() async throws {
        await #expect(processExitsWith: .success) {
            guard try await AuthenticatorTests.parallelRenewalsDistinctTokens() == 1 else { exit(2) }
        }
    }

    /// docs/operations.md#revocation: the store's revocation answers a renewal with `blacklisted` (the list may have forgotten it).
    @Test func expiredTokenOfARevokedSessionIsRefused() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            #expect(try await f.store!.revoke(sessionID: "sid-1", at: UnixTime(milliseconds: Self.login + 1000)))
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())]) else {
                Issue.record("expected a store round trip")
                return
            }
            let error = Self.denial(try await work())
            #expect(error == .accessTokenNotValid(.blacklisted))
        }
    }

    @Test func expiredTokenWithoutASessionIsRefused() async throws {
        try await Self.with(renewal: true) { f in
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())]) else {
                Issue.record("expected a store round trip")
                return
            }
            #expect(Self.denial(try await work()) == .accessTokenNotValid(.expired))
        }
    }

    @Test func renewedTokenOnAForbiddenRouteStillReachesTheClient() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            f.clock.ms = Self.login + 400_000
            guard case .later(let work) = try f.authorize("/admin/x", headers: [("Authorization", "Bearer " + f.accessToken())]) else {
                Issue.record("expected a renewal")
                return
            }
            guard case .denied(let error, let renewed?) = try await work() else {
                Issue.record("expected a refusal carrying the renewed token")
                return
            }
            #expect(error == .permissionDenied)
            guard case .valid(let claims) = f.verifier.verify(Substring(renewed), as: .access, now: UnixTime(milliseconds: Self.login + 400_000)) else {
                Issue.record("the renewed token must be valid now")
                return
            }
            #expect(claims.jti != "A1")
        }
    }

    // MARK: - revoked sessions (docs/operations.md#revocation)

    @Test func aValidTokenOfARevokedSessionIsBlacklistedAlsoWhenCached() async throws {
        try await Self.with { f in
            let token = try f.accessToken()
            _ = f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)])))
            f.revocations.add("sid-1", revokedAt: UnixTime(milliseconds: Self.login + 1000))
            let error = Self.denial(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + token)])))
            #expect(error == .accessTokenNotValid(.blacklisted))
            #expect(error?.body(language: .english, method: "GET").contains("Token is blacklisted") == true)
            // Another session of the same user is untouched.
            let other = TokenIssuer.Subject(sessionID: "sid-2", userID: .integer(42), claims: [:])
            #expect(f.grant(Self.immediate(try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken(subject: other))]))) != nil)
        }
    }

    @Test func anExpiredTokenOfARevokedSessionIsBlacklistedWithoutTheStore() async throws {
        try await Self.with(renewal: true) { f in
            try await f.store!.create(f.session())
            f.revocations.add("sid-1", revokedAt: UnixTime(milliseconds: Self.login + 1000))
            f.clock.ms = Self.login + 400_000
            let decision = try f.authorize(headers: [("Authorization", "Bearer " + f.accessToken())])
            #expect(Self.denial(Self.immediate(decision)) == .accessTokenNotValid(.blacklisted))
            #expect(try await f.store!.session(id: "sid-1")?.access.jti == "A1", "no renewal")
        }
    }

    @Test func aRevokedTokenOnAnAnonymousOptionalRouteGoesOnWithoutIt() async throws {
        try await Self.with { f in
            f.revocations.add("sid-1", revokedAt: UnixTime(milliseconds: Self.login))
            let grant = f.grant(Self.immediate(try f.authorize("/opt-anon/x", headers: [("Authorization", "Bearer " + f.accessToken())])))
            #expect(Self.isAnonymous(grant, authorization: ""))
        }
    }
}
