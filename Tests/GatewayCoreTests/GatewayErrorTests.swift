import Foundation
import NIOHTTP1
import Testing
@testable import GatewayCore

/// Error statuses, simplejwt/DRF bodies and `WWW-Authenticate` values (docs/http.md#the-gateways-own-endpoints, docs/http.md#route-auth, docs/http.md#error-bodies).
struct GatewayErrorTests {
    // MARK: - docs/http.md#error-bodies bodies, as documented

    static let notAuthenticatedEnglish =
        #"{"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}"#
    static let tokenInvalidEnglish =
        #"{"detail": "Given token not valid for any token type", "code": "token_not_valid", "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is invalid"}]}"#
    static let tokenExpiredEnglish =
        #"{"detail": "Given token not valid for any token type", "code": "token_not_valid", "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}]}"#
    static let badAuthorizationHeaderEnglish =
        #"{"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}"#
    static let permissionDeniedEnglish =
        #"{"detail": "You do not have permission to perform this action.", "code": "permission_denied"}"#
    static let tokenInvalidKorean =
        #"{"detail": "이 토큰은 모든 타입의 토큰에 대해 유효하지 않습니다", "code": "token_not_valid", "messages": [{"token_class": "AccessToken", "token_type": "access", "message": "유효하지 않거나 만료된 토큰입니다"}]}"#

    /// JSON text without the whitespace between tokens: DRF's compact rendering of the documented examples.
    static func compact(_ json: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        for c in json {
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
                out.append(c)
            } else if !c.isWhitespace {
                out.append(c)
            }
        }
        return out
    }

    static func object(_ json: String) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary)
    }

    @Test(arguments: [
        (GatewayError.notAuthenticated, notAuthenticatedEnglish),
        (.accessTokenNotValid(.invalid), tokenInvalidEnglish),
        (.accessTokenNotValid(.expired), tokenExpiredEnglish),
        (.badAuthorizationHeader, badAuthorizationHeaderEnglish),
        (.permissionDenied, permissionDeniedEnglish),
    ])
    func englishBodyIsTheDocumentedText(error: GatewayError, spec: String) throws {
        let body = error.body(language: .english)
        #expect(try Self.object(body) == Self.object(spec))
        #expect(body == Self.compact(spec))
    }

    @Test func koreanTokenNotValidBodyIsTheDocumentedText() throws {
        let body = GatewayError.accessTokenNotValid(.invalid).body(language: .korean)
        #expect(try Self.object(body) == Self.object(Self.tokenInvalidKorean))
        #expect(body == Self.compact(Self.tokenInvalidKorean))
    }

    @Test func koreanExpiredTokenUsesTheCatalogSentence() throws {
        // simplejwt's ko_KR catalog has one sentence for "invalid or expired".
        let body = GatewayError.accessTokenNotValid(.expired).body(language: .korean)
        #expect(body == Self.compact(Self.tokenInvalidKorean))
    }

    /// The code is the documented one, written here rather than read back from the error: compared with the error's own
    /// `codeString`, a body would agree with whatever the code had become.
    @Test(arguments: [
        (GatewayError.notAuthenticated, "not_authenticated"),
        (.accessTokenNotValid(.invalid), "token_not_valid"),
        (.accessTokenNotValid(.expired), "token_not_valid"),
        (.badAuthorizationHeader, "bad_authorization_header"),
        (.permissionDenied, "permission_denied"),
        (.notFound, "not_found"),
        (.methodNotAllowed, "method_not_allowed"),
        (.badRequest, "bad_request"),
        (.payloadTooLarge, "payload_too_large"),
        (.headerFieldsTooLarge, "request_header_fields_too_large"),
        (.upstreamUnavailable, "upstream_unavailable"),
        (.upstreamTimeout, "upstream_timeout"),
        (.storeUnavailable, "store_unavailable"),
        (.refreshTokenNotValid(.expired), "token_not_valid"),
    ])
    func codeDoesNotChangeWithTheLanguage(error: GatewayError, code: String) throws {
        let english = try Self.object(error.body(language: .english, method: "PUT"))
        let korean = try Self.object(error.body(language: .korean, method: "PUT"))
        #expect(english["code"] as? String == code)
        #expect(korean["code"] as? String == code)
        #expect(Set(english.allKeys.compactMap { $0 as? String }) == Set(korean.allKeys.compactMap { $0 as? String }))
    }

    @Test(arguments: [GatewayError.notAuthenticated, .badAuthorizationHeader, .permissionDenied, .accessTokenNotValid(.invalid)])
    func koreanDetailIsTranslated(error: GatewayError) throws {
        let english = try Self.object(error.body(language: .english))["detail"] as? String
        let korean = try #require(try Self.object(error.body(language: .korean))["detail"] as? String)
        #expect(korean != english)
        #expect(korean.unicodeScalars.contains { (0xAC00...0xD7A3).contains($0.value) })
    }

    // MARK: - Refresh endpoint (docs/http.md#the-gateways-own-endpoints)

    @Test(arguments: [
        (GatewayError.TokenProblem.expired, "Token is expired"),
        (.blacklisted, "Token is blacklisted"),
        (.invalid, "Token is invalid"),
    ])
    func refreshTokenErrorCarriesTheMessageAsDetail(problem: GatewayError.TokenProblem, detail: String) throws {
        let error = GatewayError.refreshTokenNotValid(problem)
        let body = error.body(language: .english)
        #expect(try Self.object(body) == Self.object(#"{"detail": "\#(detail)", "code": "token_not_valid"}"#))
        #expect(body == #"{"detail":"\#(detail)","code":"token_not_valid"}"#)
        #expect(error.status == .unauthorized)
    }

    @Test func refreshTokenErrorHasNoMessagesInKoreanEither() throws {
        let korean = try Self.object(GatewayError.refreshTokenNotValid(.invalid).body(language: .korean))
        #expect(korean["messages"] == nil)
        #expect(korean["code"] as? String == "token_not_valid")
    }

    // MARK: - Other bodies

    @Test func methodNotAllowedNamesTheMethod() throws {
        let detail = try Self.object(GatewayError.methodNotAllowed.body(language: .english, method: "DELETE"))["detail"] as? String
        #expect(detail == #"Method "DELETE" not allowed."#)
    }

    @Test(arguments: [
        GatewayError.notFound, .methodNotAllowed, .badRequest, .payloadTooLarge, .headerFieldsTooLarge,
        .upstreamUnavailable, .upstreamTimeout, .storeUnavailable,
    ])
    func gatewayFailureBodyHasDetailAndCodeOnly(error: GatewayError) throws {
        let object = try Self.object(error.body(language: .english, method: "GET"))
        #expect(Set(object.allKeys.compactMap { $0 as? String }) == ["detail", "code"])
        #expect((object["detail"] as? String)?.isEmpty == false)
    }

    @Test func detailIsEscapedAsJSON() throws {
        let body = GatewayError.methodNotAllowed.body(language: .english, method: "A\"B\\C\n")
        let detail = try Self.object(body)["detail"] as? String
        #expect(detail == "Method \"A\"B\\C\n\" not allowed.")
    }

    // MARK: - Statuses and codes

    @Test(arguments: [
        (GatewayError.notAuthenticated, HTTPResponseStatus.unauthorized, "not_authenticated"),
        (.accessTokenNotValid(.invalid), .unauthorized, "token_not_valid"),
        (.accessTokenNotValid(.expired), .unauthorized, "token_not_valid"),
        (.refreshTokenNotValid(.blacklisted), .unauthorized, "token_not_valid"),
        (.badAuthorizationHeader, .unauthorized, "bad_authorization_header"),
        (.permissionDenied, .forbidden, "permission_denied"),
        (.notFound, .notFound, "not_found"),
        (.methodNotAllowed, .methodNotAllowed, "method_not_allowed"),
        (.badRequest, .badRequest, "bad_request"),
        (.payloadTooLarge, .payloadTooLarge, "payload_too_large"),
        (.headerFieldsTooLarge, .requestHeaderFieldsTooLarge, "request_header_fields_too_large"),
        (.upstreamUnavailable, .badGateway, "upstream_unavailable"),
        (.upstreamTimeout, .gatewayTimeout, "upstream_timeout"),
        (.storeUnavailable, .serviceUnavailable, "store_unavailable"),
    ])
    func statusAndCode(error: GatewayError, status: HTTPResponseStatus, code: String) throws {
        #expect(error.status == status)
        #expect(error.codeString == code)
        #expect(try Self.object(error.body(language: .english))["code"] as? String == code)
    }

    // MARK: - WWW-Authenticate

    @Test func notAuthenticatedChallengesWithTheRealm() {
        #expect(GatewayError.notAuthenticated.extraHeaders().map { [$0.0, $0.1] }
            == [["WWW-Authenticate", #"Bearer realm="api""#]])
    }

    @Test(arguments: [GatewayError.TokenProblem.invalid, .expired])
    func invalidAccessTokenChallengesWithInvalidToken(problem: GatewayError.TokenProblem) {
        #expect(GatewayError.accessTokenNotValid(problem).extraHeaders().map { [$0.0, $0.1] }
            == [["WWW-Authenticate", #"Bearer realm="api", error="invalid_token""#]])
    }

    @Test func permissionDeniedChallengesWithInsufficientScope() {
        #expect(GatewayError.permissionDenied.extraHeaders().map { [$0.0, $0.1] }
            == [["WWW-Authenticate", #"Bearer error="insufficient_scope""#]])
    }

    @Test(arguments: [
        GatewayError.notFound, .methodNotAllowed, .badRequest, .payloadTooLarge, .headerFieldsTooLarge,
        .upstreamUnavailable, .upstreamTimeout, .storeUnavailable,
    ])
    func nonAuthErrorsDoNotChallenge(error: GatewayError) {
        #expect(error.extraHeaders().isEmpty)
    }

    @Test func every401NamesTheBearerScheme() {
        for error in [GatewayError.badAuthorizationHeader, .refreshTokenNotValid(.blacklisted), .refreshTokenNotValid(.expired)] {
            #expect(error.status == .unauthorized)
            #expect(error.extraHeaders().map { [$0.0, $0.1] } == [["WWW-Authenticate", #"Bearer realm="api""#]])
        }
    }
}
