/// The docs/http.md#error-bodies error bodies as values, and the check of a refused access token.
import GatewayCore
import Testing

/// The exact simplejwt body for a refused access token.
func accessTokenNotValidBody(_ message: String) -> JSONValue {
    .object([
        "detail": .string("Given token not valid for any token type"),
        "code": .string("token_not_valid"),
        "messages": .array([.object([
            "token_class": .string("AccessToken"),
            "token_type": .string("access"),
            "message": .string(message),
        ])]),
    ])
}

func refreshTokenNotValidBody(_ detail: String) -> JSONValue {
    .object(["detail": .string(detail), "code": .string("token_not_valid")])
}

let notAuthenticatedBody: JSONValue = .object([
    "detail": .string("Authentication credentials were not provided."), "code": .string("not_authenticated"),
])

let permissionDeniedBody: JSONValue = .object([
    "detail": .string("You do not have permission to perform this action."), "code": .string("permission_denied"),
])

let badAuthorizationHeaderBody: JSONValue = .object([
    "detail": .string("Authorization header must contain two space-delimited values"),
    "code": .string("bad_authorization_header"),
])

/// Asserts the docs/http.md#error-bodies 401 for an access token that is not valid (or expired and not renewable).
func expectAccessTokenRefused(_ response: HTTPTestResponse, message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.status == 401, "\(response.bodyText)", sourceLocation: sourceLocation)
    #expect(response.json == accessTokenNotValidBody(message), "\(response.bodyText)", sourceLocation: sourceLocation)
    #expect(response.header("www-authenticate") == #"Bearer realm="api", error="invalid_token""#, sourceLocation: sourceLocation)
    #expect(response.header("x-access-token") == nil, sourceLocation: sourceLocation)
}
