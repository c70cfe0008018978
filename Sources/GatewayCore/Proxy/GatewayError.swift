import NIOCore
import NIOHTTP1

/// A failure the gateway answers itself: status, simplejwt/DRF `code`, and JSON body, mapped in one place.
public struct GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: String, Sendable, Hashable {
        case notAuthenticated = "not_authenticated"
        case tokenNotValid = "token_not_valid"
        case badAuthorizationHeader = "bad_authorization_header"
        case permissionDenied = "permission_denied"
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case badRequest = "bad_request"
        case payloadTooLarge = "payload_too_large"
        case headerFieldsTooLarge = "request_header_fields_too_large"
        case upstreamUnavailable = "upstream_unavailable"
        case upstreamTimeout = "upstream_timeout"
        case storeUnavailable = "store_unavailable"
        case internalError = "internal_error"
    }

    /// Why a token was refused: the `message` of simplejwt's `messages` entry (or `detail` on the refresh endpoint).
    public enum TokenProblem: Sendable, Hashable {
        case invalid
        case expired
        case blacklisted
    }

    /// Which token the failure is about; simplejwt reports access-token failures with `messages`.
    enum TokenKind: Sendable, Hashable {
        case access
        case refresh
    }

    let code: Code
    let problem: TokenProblem?
    let tokenKind: TokenKind

    init(_ code: Code, problem: TokenProblem? = nil, tokenKind: TokenKind = .access) {
        self.code = code
        self.problem = problem
        self.tokenKind = tokenKind
    }

    public static let notAuthenticated = GatewayError(.notAuthenticated)
    public static let badAuthorizationHeader = GatewayError(.badAuthorizationHeader)
    public static let permissionDenied = GatewayError(.permissionDenied)
    public static let notFound = GatewayError(.notFound)
    public static let methodNotAllowed = GatewayError(.methodNotAllowed)
    public static let badRequest = GatewayError(.badRequest)
    public static let payloadTooLarge = GatewayError(.payloadTooLarge)
    public static let headerFieldsTooLarge = GatewayError(.headerFieldsTooLarge)
    public static let upstreamUnavailable = GatewayError(.upstreamUnavailable)
    public static let upstreamTimeout = GatewayError(.upstreamTimeout)
    public static let storeUnavailable = GatewayError(.storeUnavailable)
    /// A failure that is nobody's input and no dependency's outage: a bug. Logged with the request id.
    public static let internalError = GatewayError(.internalError)

    /// What a failure of the auth path or an endpoint answers: its own error when it is one, 503 when the
    /// session store failed, and 500 for anything else (never a 503 that would send clients to retry a bug).
    public static func answering(_ error: any Error) -> GatewayError {
        if let gatewayError = error as? GatewayError { return gatewayError }
        if error is StoreUnavailable { return .storeUnavailable }
        return .internalError
    }

    /// An access token refused on a proxied route (401 with simplejwt's `messages`).
    public static func accessTokenNotValid(_ problem: TokenProblem) -> GatewayError {
        GatewayError(.tokenNotValid, problem: problem, tokenKind: .access)
    }

    /// A refresh token refused by the refresh endpoint (401, `detail` is the problem itself).
    public static func refreshTokenNotValid(_ problem: TokenProblem) -> GatewayError {
        GatewayError(.tokenNotValid, problem: problem, tokenKind: .refresh)
    }

    /// The `code` string of the body; doubles as a metrics and log label.
    public var codeString: String { code.rawValue }

    public var description: String { problem.map { "\(code.rawValue) (\($0))" } ?? code.rawValue }

    public var status: HTTPResponseStatus {
        switch code {
        case .notAuthenticated, .tokenNotValid, .badAuthorizationHeader: .unauthorized
        case .permissionDenied: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .badRequest: .badRequest
        case .payloadTooLarge: .payloadTooLarge
        case .headerFieldsTooLarge: .requestHeaderFieldsTooLarge
        case .upstreamUnavailable: .badGateway
        case .upstreamTimeout: .gatewayTimeout
        case .storeUnavailable: .serviceUnavailable
        case .internalError: .internalServerError
        }
    }

    /// Whether the connection must be closed after this answer (the request stream can no longer be trusted).
    var closesConnection: Bool {
        switch code {
        case .badRequest, .headerFieldsTooLarge, .payloadTooLarge: true
        default: false
        }
    }

    /// Response headers that belong to this error besides the body's.
    func extraHeaders(realm: String = "api") -> [(String, String)] {
        switch code {
        case .tokenNotValid where tokenKind == .access:
            [("WWW-Authenticate", "Bearer realm=\"\(realm)\", error=\"invalid_token\"")]
        case .notAuthenticated, .badAuthorizationHeader, .tokenNotValid:
            // Every 401 names its scheme (RFC 9110 §15.5.2), as simplejwt's views do.
            [("WWW-Authenticate", "Bearer realm=\"\(realm)\"")]
        case .permissionDenied:
            [("WWW-Authenticate", "Bearer error=\"insufficient_scope\"")]
        default:
            []
        }
    }

    /// The JSON body in the client's language. `method` fills DRF's 405 message.
    func body(language: Language, method: String = "") -> String {
        let detail = language.detail(for: self, method: method)
        var json = "{\"detail\":" + JSONText.quoted(detail) + ",\"code\":\"" + code.rawValue + "\""
        if code == .tokenNotValid, tokenKind == .access {
            let message = language.tokenMessage(problem ?? .invalid)
            json += ",\"messages\":[{\"token_class\":\"AccessToken\",\"token_type\":\"access\",\"message\":"
                + JSONText.quoted(message) + "}]"
        }
        return json + "}"
    }
}

/// The language of error messages: English, or Korean when the client asks for it.
public enum Language: Sendable, Hashable {
    case english
    case korean

    /// Picks Korean when `ko` is the first language in `Accept-Language` the gateway speaks.
    public init(acceptLanguage: String?) {
        self = .english
        guard let header = acceptLanguage else { return }
        var best: (language: Language, quality: Double)? = nil
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let tag = parts.first?.trimmingASCIISpaces().lowercased() else { continue }
            var quality = 1.0
            for parameter in parts.dropFirst() {
                let p = parameter.trimmingASCIISpaces()
                if p.lowercased().hasPrefix("q="), let q = Double(p.dropFirst(2)) { quality = q }
            }
            let language: Language?
            if tag == "ko" || tag.hasPrefix("ko-") || tag.hasPrefix("ko_") {
                language = .korean
            } else if tag == "en" || tag.hasPrefix("en-") || tag.hasPrefix("en_") {
                language = .english
            } else {
                language = nil
            }
            if let language, quality > 0, quality > (best?.quality ?? 0) { best = (language, quality) }
        }
        if let best { self = best.language }
    }

    func tokenMessage(_ problem: GatewayError.TokenProblem) -> String {
        switch (self, problem) {
        case (.english, .invalid): "Token is invalid"
        case (.english, .expired): "Token is expired"
        case (.english, .blacklisted): "Token is blacklisted"
        // simplejwt's ko_KR catalog renders both invalid and expired with one sentence.
        case (.korean, .invalid), (.korean, .expired): "유효하지 않거나 만료된 토큰입니다"
        case (.korean, .blacklisted): "블랙리스트에 추가된 토큰입니다"
        }
    }

    func detail(for error: GatewayError, method: String) -> String {
        switch (error.code, self) {
        case (.notAuthenticated, .english): "Authentication credentials were not provided."
        case (.notAuthenticated, .korean): "자격 인증데이터(authentication credentials)가 제공되지 않았습니다."
        case (.tokenNotValid, _) where error.tokenKind == .refresh: tokenMessage(error.problem ?? .invalid)
        case (.tokenNotValid, .english): "Given token not valid for any token type"
        case (.tokenNotValid, .korean): "이 토큰은 모든 타입의 토큰에 대해 유효하지 않습니다"
        case (.badAuthorizationHeader, .english): "Authorization header must contain two space-delimited values"
        case (.badAuthorizationHeader, .korean): "인증 헤더에는 공백으로 구분 된 두 개의 값이 포함되어야 합니다"
        case (.permissionDenied, .english): "You do not have permission to perform this action."
        case (.permissionDenied, .korean): "이 작업을 수행할 권한(permission)이 없습니다."
        case (.notFound, .english): "Not found."
        case (.notFound, .korean): "찾을 수 없습니다."
        case (.methodNotAllowed, .english): "Method \"\(method)\" not allowed."
        case (.methodNotAllowed, .korean): "메소드(Method) \"\(method)\"는 허용되지 않습니다."
        case (.badRequest, .english): "Malformed request."
        case (.badRequest, .korean): "잘못된 요청입니다."
        case (.payloadTooLarge, .english): "Request body is too large."
        case (.payloadTooLarge, .korean): "요청 본문이 너무 큽니다."
        case (.headerFieldsTooLarge, .english): "Request header fields are too large."
        case (.headerFieldsTooLarge, .korean): "요청 헤더가 너무 큽니다."
        case (.upstreamUnavailable, .english): "The upstream service is unavailable."
        case (.upstreamUnavailable, .korean): "업스트림 서비스를 사용할 수 없습니다."
        case (.upstreamTimeout, .english): "The upstream service did not respond in time."
        case (.upstreamTimeout, .korean): "업스트림 서비스가 제시간에 응답하지 않았습니다."
        case (.storeUnavailable, .english): "The session store is unavailable; try again shortly."
        case (.storeUnavailable, .korean): "세션 저장소를 사용할 수 없습니다. 잠시 후 다시 시도하세요."
        case (.internalError, .english): "A server error occurred."
        case (.internalError, .korean): "서버 오류가 발생했습니다."
        }
    }
}

/// Minimal JSON text helpers for bodies and log lines the gateway writes itself.
enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    static func quoted(_ s: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `s` as a JSON string literal (RFC 8259 §7): `"` and `\` escaped, control characters as `\n`, `\r`,
    /// `\t` or `\u00XX`; everything else as it is.
    static func appendQuoted(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let digits: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(digits.utf8Start[Int(byte >> 4)])
                bytes.append(digits.utf8Start[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
