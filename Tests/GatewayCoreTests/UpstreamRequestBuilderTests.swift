import Foundation
import NIOHTTP1
import Testing
@testable import GatewayCore

/// The request the upstream sees (docs/http.md#forwarding): hop-by-hop headers dropped, identity headers stripped,
/// X-Forwarded-* and X-Request-Id set, Host chosen, the URL built byte for byte.
struct UpstreamRequestBuilderTests {
    static let builder = UpstreamRequestBuilder(headers: IdentityHeadersConfig())
    static let identity = Identity(claims: TokenClaims(
        payload: ["token_type": .string("access"), "exp": .integer(2_000_000_000), "sub": .string("42"), "sid": .string("s-1")],
        userIdClaim: "user_id")!)
    static let authority = "127.0.0.1:9000"

    static func head(_ headers: [(String, String)], method: HTTPMethod = .GET, uri: String = "/api/x") -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    static func context(
        clientAddress: String? = "192.0.2.7", scheme: String = "http",
        auth: AuthOutcome = .anonymous(keepsAuthorization: true), configuredHost: String = ""
    ) -> UpstreamRequestBuilder.Context {
        var context = UpstreamRequestBuilder.Context()
        context.clientAddress = clientAddress
        context.scheme = scheme
        context.auth = auth
        context.configuredHost = configuredHost
        context.requestID = "generated-id"
        return context
    }

    static func lines(
        _ headers: [(String, String)], context: UpstreamRequestBuilder.Context = context()
    ) -> [String] {
        builder.headerLines(for: head(headers), targetAuthority: authority, context: context).lines
    }

    /// The lines for header `name` (any case), as curl would get them.
    static func lines(named name: String, in lines: [String]) -> [String] {
        lines.filter { line in
            let end = line.firstIndex(where: { $0 == ":" || $0 == ";" }) ?? line.endIndex
            return line[..<end].lowercased() == name.lowercased()
        }
    }

    // MARK: - Hop-by-hop

    @Test func hopByHopHeadersAreDropped() {
        let lines = Self.lines([
            ("Host", "gw.example"),
            ("Connection", "keep-alive, X-Hop-Secret"),
            ("X-Hop-Secret", "s3cret"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Anything", "x"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("X-Kept", "yes"),
        ])
        for name in [
            "Connection", "X-Hop-Secret", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Proxy-Anything",
            "TE", "Trailer", "Transfer-Encoding", "Upgrade",
        ] {
            #expect(Self.lines(named: name, in: lines).isEmpty, "\(name) was forwarded")
        }
        #expect(lines.contains("X-Kept: yes"))
    }

    /// Some upstream servers (CGI, WSGI) read `_` as `-`: `Content_Length` would frame the body for them.
    @Test func underscoreSpellingsOfFramingAndHopByHopHeadersAreDropped() {
        let lines = Self.lines([
            ("Transfer_Encoding", "chunked"), ("Content_Length", "5"), ("content_length", "7"), ("HOST_", "x"),
            ("Host_Name", "kept"), ("Connection", "keep-alive"), ("Keep_Alive", "1"), ("Proxy_Authorization", "x"),
            ("X_Custom_Name", "kept"), ("Host", "client.test"),
        ])
        #expect(Self.lines(named: "Transfer_Encoding", in: lines).isEmpty)
        #expect(Self.lines(named: "Content_Length", in: lines).isEmpty)
        #expect(Self.lines(named: "Keep_Alive", in: lines).isEmpty)
        #expect(Self.lines(named: "Proxy_Authorization", in: lines).isEmpty)
        #expect(Self.lines(named: "Host_Name", in: lines) == ["Host_Name: kept"])
        #expect(Self.lines(named: "X_Custom_Name", in: lines) == ["X_Custom_Name: kept"])
        #expect(Self.lines(named: "Host", in: lines) == ["Host: client.test"])
    }

    @Test func headersNamedByConnectionAreDroppedInAnyCaseAndAcrossSeveralConnectionHeaders() {
        let lines = Self.lines([
            ("connection", "X-One"),
            ("Connection", " x-two ,X-THREE"),
            ("x-one", "1"),
            ("X-Two", "2"),
            ("x-three", "3"),
            ("X-Four", "4"),
        ])
        #expect(Self.lines(named: "X-One", in: lines).isEmpty)
        #expect(Self.lines(named: "X-Two", in: lines).isEmpty)
        #expect(Self.lines(named: "X-Three", in: lines).isEmpty)
        #expect(lines.contains("X-Four: 4"))
    }

    // MARK: - Identity headers

    @Test func identityHeadersAreRemovedInAnySpellingAndOthersKeptInOrder() {
        let lines = Self.lines([
            ("Accept", "application/json"),
            ("x-auth-user-id", "1"),
            ("X-Custom", "a"),
            ("X_AUTH_USER_ID", "2"),
            ("X-Auth_User-Id", "3"),
            ("x_auth_session_id", "forged"),
            ("X-AUTH-CLAIMS", "e30"),
            ("Cookie", "k=v"),
            ("X-Custom", "b"),
        ])
        #expect(lines.filter { $0.lowercased().replacingOccurrences(of: "_", with: "-").hasPrefix("x-auth-") }.isEmpty)
        #expect(Array(lines.prefix(4)) == ["Accept: application/json", "X-Custom: a", "Cookie: k=v", "X-Custom: b"])
    }

    @Test func gatewayIdentityReplacesTheClientsClaim() {
        let lines = Self.lines(
            [("X-Auth-User-Id", "1"), ("x_auth_user_id", "admin")],
            context: Self.context(auth: .authenticated(Self.identity)))
        #expect(Self.lines(named: "X-Auth-User-Id", in: lines) == ["X-Auth-User-Id: 42"])
        #expect(Self.lines(named: "X-Auth-Session-Id", in: lines) == ["X-Auth-Session-Id: s-1"])
        #expect(Self.lines(named: "X-Auth-Claims", in: lines) == ["X-Auth-Claims: " + Self.identity.encodedClaims])
        #expect(Self.lines(named: "x_auth_user_id", in: lines).isEmpty)
    }

    @Test func anonymousRequestsCarryNoIdentity() {
        for auth in [AuthOutcome.anonymous(keepsAuthorization: true), .anonymous(keepsAuthorization: false)] {
            let lines = Self.lines([("X-Auth-User-Id", "1")], context: Self.context(auth: auth))
            #expect(lines.filter { $0.lowercased().hasPrefix("x-auth-") }.isEmpty, "\(auth)")
        }
    }

    @Test func configuredIdentityNamesAreUsedAndEmptyOnesNotSent() {
        var headers = IdentityHeadersConfig()
        headers.userId = "X-User"
        headers.sessionId = ""
        let lines = UpstreamRequestBuilder(headers: headers).headerLines(
            for: Self.head([]), targetAuthority: Self.authority, context: Self.context(auth: .renewed(Self.identity, token: "new"))
        ).lines
        #expect(Self.lines(named: "X-User", in: lines) == ["X-User: 42"])
        #expect(lines.filter { $0.lowercased().contains("session") }.isEmpty)
        #expect(Self.lines(named: "X-Auth-Claims", in: lines).count == 1)
    }

    @Test func builderNormalisesConfiguredIdentityNamesToo() {
        var headers = IdentityHeadersConfig()
        headers.userId = "X_Remote_User"
        let builder = UpstreamRequestBuilder(headers: headers)
        let lines = builder.headerLines(
            for: Self.head([("x-remote-user", "root"), ("X-Other", "1")]), targetAuthority: Self.authority, context: Self.context()
        ).lines
        #expect(Self.lines(named: "x-remote-user", in: lines).isEmpty)
        #expect(lines.contains("X-Other: 1"))
    }

    // MARK: - Authorization

    @Test func clientAuthorizationIsKeptWhenNotReplaced() {
        let lines = Self.lines([("Authorization", "Bearer old")])
        #expect(Self.lines(named: "Authorization", in: lines) == ["Authorization: Bearer old"])
    }

    @Test func anAuthenticatedRequestKeepsTheClientsAuthorization() {
        let lines = Self.lines([("Authorization", "Bearer old")], context: Self.context(auth: .authenticated(Self.identity)))
        #expect(Self.lines(named: "Authorization", in: lines) == ["Authorization: Bearer old"])
    }

    @Test func renewedAuthorizationReplacesTheClients() {
        let lines = Self.lines([("Authorization", "Bearer old")], context: Self.context(auth: .renewed(Self.identity, token: "new")))
        #expect(Self.lines(named: "Authorization", in: lines) == ["Authorization: Bearer new"])
    }

    @Test func aRefusedTokenOnAnAnonymousRouteIsNotPassedOn() {
        let lines = Self.lines([("Authorization", "Bearer old")], context: Self.context(auth: .anonymous(keepsAuthorization: false)))
        #expect(Self.lines(named: "Authorization", in: lines).isEmpty)
    }

    @Test func forwardAuthorizationFalseDropsTheTokenRenewedOrNot() {
        var headers = IdentityHeadersConfig()
        headers.forwardAuthorization = false
        let builder = UpstreamRequestBuilder(headers: headers)
        for auth in [AuthOutcome.authenticated(Self.identity), .renewed(Self.identity, token: "new")] {
            let lines = builder.headerLines(for: Self.head([("Authorization", "Bearer old")]), targetAuthority: Self.authority,
                                            context: Self.context(auth: auth)).lines
            #expect(Self.lines(named: "Authorization", in: lines).isEmpty, "\(auth)")
            #expect(Self.lines(named: "X-Auth-User-Id", in: lines) == ["X-Auth-User-Id: 42"])
        }
        // Another scheme on an optional route is the client's business, passed on as it came.
        let other = builder.headerLines(for: Self.head([("Authorization", "Basic abc")]), targetAuthority: Self.authority,
                                        context: Self.context()).lines
        #expect(Self.lines(named: "Authorization", in: other) == ["Authorization: Basic abc"])
    }

    // MARK: - X-Forwarded-*

    @Test func forwardedForIsAppendedToTheClientsValue() {
        let lines = Self.lines([("X-Forwarded-For", "203.0.113.1, 10.0.0.1")])
        #expect(Self.lines(named: "X-Forwarded-For", in: lines) == ["X-Forwarded-For: 203.0.113.1, 10.0.0.1, 192.0.2.7"])
    }

    @Test func severalForwardedForHeadersAreJoinedInOrderThenAppended() {
        let lines = Self.lines([("X-Forwarded-For", "203.0.113.1"), ("x-forwarded-for", "10.0.0.1")])
        #expect(Self.lines(named: "X-Forwarded-For", in: lines) == ["X-Forwarded-For: 203.0.113.1, 10.0.0.1, 192.0.2.7"])
    }

    @Test func forwardedForIsTheClientWhenAbsent() {
        let lines = Self.lines([])
        #expect(Self.lines(named: "X-Forwarded-For", in: lines) == ["X-Forwarded-For: 192.0.2.7"])
    }

    @Test func forwardedProtoIsReplaced() {
        let lines = Self.lines([("X-Forwarded-Proto", "https")], context: Self.context(scheme: "http"))
        #expect(Self.lines(named: "X-Forwarded-Proto", in: lines) == ["X-Forwarded-Proto: http"])
    }

    @Test func forwardedHostIsReplacedByTheClientsHost() {
        let lines = Self.lines([("Host", "gw.example:8080"), ("X-Forwarded-Host", "evil.example")])
        #expect(Self.lines(named: "X-Forwarded-Host", in: lines) == ["X-Forwarded-Host: gw.example:8080"])
    }

    @Test func clientsForwardedHostIsNeverPassedOn() {
        let lines = Self.lines([("X-Forwarded-Host", "evil.example")])
        #expect(!lines.contains { $0.contains("evil.example") })
    }

    // MARK: - X-Request-Id

    @Test func theRequestsIdIsSentAndTheClientsHeaderIsNotCopied() {
        let lines = Self.lines([("X-Request-Id", "abc-123"), ("x-request-id", "second")])
        #expect(Self.lines(named: "X-Request-Id", in: lines) == ["X-Request-Id: generated-id"])
    }

    @Test func aClientsValidRequestIdIsTheRequestsId() {
        #expect(RequestID.of(HTTPHeaders([("X-Request-Id", "abc-123")])) == "abc-123")
        #expect(RequestID.of(HTTPHeaders([("x-request-id", "first"), ("X-Request-Id", "second")])) == "first")
        let longest = String(repeating: "a", count: 200)
        #expect(RequestID.of(HTTPHeaders([("X-Request-Id", longest)])) == longest)
    }

    /// docs/operations.md#access-log-and-request-ids: at most 200 visible ASCII characters; anything else is replaced, never passed on or logged.
    @Test(arguments: ["", String(repeating: "a", count: 201), "has space", "tab\there", "é", "quote\"ok\"x\u{7F}"])
    func anInvalidClientRequestIdIsReplaced(id: String) {
        let decided = RequestID.of(HTTPHeaders([("X-Request-Id", id)]))
        #expect(decided != id)
        #expect(decided.count == 32 && decided.allSatisfy(\.isHexDigit))
    }

    @Test func withoutAClientIdEachRequestGetsANewOne() {
        let first = RequestID.of(HTTPHeaders())
        let second = RequestID.of(HTTPHeaders())
        #expect(first.count == 32 && first.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(first != second)
    }

    @Test func generatedRequestIdHasLeadingZerosKept() {
        // 200 draws: every one must be exactly 32 lowercase hex digits, however small its halves.
        for _ in 0..<200 {
            let id = RequestID.generate()
            #expect(id.count == 32 && id.allSatisfy { "0123456789abcdef".contains($0) }, "\(id)")
        }
    }

    // MARK: - Host

    @Test func hostIsTheConfiguredHost() {
        let lines = Self.lines([("Host", "gw.example")], context: Self.context(configuredHost: "api.internal"))
        #expect(Self.lines(named: "Host", in: lines) == ["Host: api.internal"])
    }

    @Test func hostIsTheClientsWhenNoneIsConfigured() {
        let lines = Self.lines([("Host", "gw.example")])
        #expect(Self.lines(named: "Host", in: lines) == ["Host: gw.example"])
    }

    @Test func hostIsTheTargetAuthorityWhenTheClientSentNone() {
        let lines = Self.lines([])
        #expect(Self.lines(named: "Host", in: lines) == ["Host: 127.0.0.1:9000"])
    }

    // MARK: - curl line forms

    @Test func emptyHeaderValueUsesCurlsSemicolonForm() {
        let lines = Self.lines([("X-Empty", ""), ("X-Full", "v")])
        #expect(lines.contains("X-Empty;"))
        #expect(!lines.contains("X-Empty:"))
        #expect(lines.contains("X-Full: v"))
    }

    // MARK: - URL

    @Test(arguments: [
        (UpstreamTarget(scheme: "http", authority: "127.0.0.1:9000", basePath: ""), "/api/x", "a=1&b=%2F?c" as String?,
         "http://127.0.0.1:9000/api/x?a=1&b=%2F?c"),
        (UpstreamTarget(scheme: "https", authority: "api.internal", basePath: "/v1"), "/users/%2e%2e/me", nil,
         "https://api.internal/v1/users/%2e%2e/me"),
        (UpstreamTarget(scheme: "http", authority: "[::1]:81", basePath: "/base"), "/", "", "http://[::1]:81/base/?"),
        (UpstreamTarget(scheme: "http", authority: "h", basePath: ""), "/caf%C3%A9", "q=%20+x", "http://h/caf%C3%A9?q=%20+x"),
    ])
    func urlIsTargetPlusPathPlusQueryByteForByte(target: UpstreamTarget, path: String, query: String?, expected: String) {
        #expect(UpstreamRequestBuilder.url(target: target, path: Substring(path), query: query.map { Substring($0) }) == expected)
    }
}
