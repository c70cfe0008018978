/// The validated contents of `gateway.conf` (docs/configuration.md), with every default applied.
public struct GatewayConfig: Sendable {
    public var server = ServerConfig()
    public var tokens = TokensConfig()
    public var renewal = RenewalConfig()
    public var store = StoreConfig()
    public var auth = AuthConfig()
    public var headers = IdentityHeadersConfig()
    public var upstreams: [UpstreamConfig] = []
    public var routes: [RouteConfig] = []
    public var admin = AdminConfig()
    public var log = LogConfig()

    public init() {}
}

/// The operators' listener (docs/operations.md#metrics): `/metrics`, `/healthz`, `/readyz`; nil = off.
public struct AdminConfig: Sendable {
    public var listen: ListenAddress? = nil
}

/// Where the access log goes (docs/operations.md#access-log-and-request-ids).
public enum AccessLogDestination: Sendable, Hashable {
    case stdout, stderr, off
    case file(path: String)
}

/// The gateway's own log lines on stderr.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

public struct LogConfig: Sendable {
    public var access = AccessLogDestination.stdout
    public var format = LogFormat.text
}

public struct ServerConfig: Sendable {
    public var listen = ListenAddress(host: "127.0.0.1", port: 8080)
    public var maxHeaderBytes = 16 * 1024
    public var maxBodyBytes = 10 * 1024 * 1024
    public var idleTimeout: Duration = .seconds(60)
    public var shutdownTimeout: Duration = .seconds(10)
    /// Open client connections at most; nil = the default (10000, lowered to fit the descriptor limit).
    public var maxConnections: Int? = nil
    /// A client that reads nothing of its response for this long is closed.
    public var sendTimeout: Duration = .seconds(60)
    /// PEM certificate chain and private key: with both, the listener speaks TLS 1.2/1.3 (docs/http.md#tls-and-http2); "" = plaintext.
    public var tlsCertFile = ""
    public var tlsKeyFile = ""
    /// HTTP/2 inbound: ALPN `h2` over TLS, prior-knowledge h2c on a plaintext listener (docs/http.md#tls-and-http2).
    public var http2 = true

    /// Whether the listener speaks TLS (both files are set; the reader refuses one without the other).
    public var tls: Bool { !tlsCertFile.isEmpty && !tlsKeyFile.isEmpty }
}

public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum SigningAlgorithm: String, Sendable, CaseIterable {
    case hs256 = "HS256", hs384 = "HS384", hs512 = "HS512"
    case es256 = "ES256", rs256 = "RS256", eddsa = "EdDSA"

    public var isHMAC: Bool { self == .hs256 || self == .hs384 || self == .hs512 }
}

public struct TokensConfig: Sendable {
    public var issuer = "auth-gateway"
    public var audience = ""
    public var algorithm = SigningAlgorithm.hs256
    public var secretFile = "var/secret.key"
    public var privateKeyFile = ""
    /// Retired keys, verify only (docs/operations.md#keys-kid-rotation-and-jwks): HS* secrets, or PEM keys (private or public) for ES256/RS256/EdDSA.
    public var previousSecretFiles: [String] = []
    public var previousKeyFiles: [String] = []
    public var accessTTL: Duration = .seconds(5 * 60)
    public var refreshTTL: Duration = .seconds(24 * 3600)
    public var sessionMaxAge: Duration = .seconds(30 * 24 * 3600)
    public var leeway: Duration = .zero
    public var userIdClaim = "user_id"
    public var rotateRefresh = true
    public var blacklistAfterRotation = true
    /// A just-rotated refresh token presented again within this gets the first answer again (docs/http.md#refresh).
    public var refreshReuseInterval: Duration = .zero
}

public struct RenewalConfig: Sendable {
    public var enabled = true
    public var header = "X-Access-Token"
    public var window: Duration = .seconds(24 * 3600)
    public var grace: Duration = .seconds(10)
}

public enum StoreLocation: Sendable, Hashable {
    case sqlite(path: String)
    case postgres(url: String)
}

public struct StoreConfig: Sendable {
    public var location = StoreLocation.sqlite(path: "var/gateway.db")
    /// How often revocations made by other gateways are read (docs/operations.md#revocation); zero = never.
    public var revocationPoll: Duration = .seconds(1)
}

public enum RefreshDelivery: String, Sendable, CaseIterable {
    case body, cookie, both, none

    public var usesBody: Bool { self == .body || self == .both }
    public var usesCookie: Bool { self == .cookie || self == .both }
}

public enum SameSite: String, Sendable, CaseIterable {
    case strict = "Strict", lax = "Lax", none = "None"
}

public struct AuthConfig: Sendable {
    public var loginPath = "/auth/login"
    public var refreshPath = "/auth/refresh"
    public var logoutPath = "/auth/logout"
    public var verifyURL = "http://127.0.0.1:9000/auth/verify-credentials"
    /// `verify_url` unreachable within this: 502; no answer within `verifyTimeout`: 504.
    public var verifyConnectTimeout: Duration = .seconds(2)
    public var verifyTimeout: Duration = .seconds(10)
    public var userPointer = JSONPointer.root
    public var userIdPointer = try! JSONPointer(parsing: "/id")
    /// Extra claims copied into tokens: claim name → pointer into the user object, in a stable order.
    public var claims: [(name: String, pointer: JSONPointer)] = []
    public var refreshDelivery = RefreshDelivery.body
    public var cookieName = "refresh"
    public var cookiePath = "/auth"
    public var cookieSecure = true
    public var cookieSameSite = SameSite.strict
    /// Browser origins (`https://app.example.com`) whose pages may call login, refresh and logout across origins:
    /// their preflights are answered and the answers carry `Access-Control-Allow-Origin` and `-Credentials`.
    /// Empty: same-origin pages only. (Proxied routes' CORS stays the upstream's.)
    public var corsOrigins: [String] = []
}

public struct IdentityHeadersConfig: Sendable {
    public var userId = "X-Auth-User-Id"
    public var sessionId = "X-Auth-Session-Id"
    public var claims = "X-Auth-Claims"
    public var forwardAuthorization = true

    /// The configured identity header names (empty ones are disabled).
    public var names: [String] { [userId, sessionId, claims].filter { !$0.isEmpty } }
}

public struct UpstreamTarget: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String      // "http" or "https"
    public var authority: String   // host[:port] as written
    public var basePath: String    // "" or "/base" (no trailing slash)
    public var description: String { "\(scheme)://\(authority)\(basePath)" }
}

public struct UpstreamConfig: Sendable {
    public var name: String
    public var targets: [UpstreamTarget]
    public var host = ""
    public var connectTimeout: Duration = .seconds(2)
    public var timeout: Duration = .seconds(30)
    /// Upstream silent this long mid-body: the client connection is closed.
    public var readTimeout: Duration = .seconds(60)
}

public enum RouteAuth: String, Sendable, CaseIterable {
    case required, optional, `public`
}

public enum InvalidTokenPolicy: String, Sendable, CaseIterable {
    case reject, anonymous
}

/// A scalar a claim may be required to equal.
public enum ClaimValue: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case bool(Bool)

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .integer(let i): String(i)
        case .bool(let b): String(b)
        }
    }
}

public struct RouteConfig: Sendable {
    public var path: String
    public var methods: [String] = []
    public var upstream: String
    public var auth = RouteAuth.required
    public var renew = true
    public var requireClaims: [(name: String, allowed: [ClaimValue])] = []
    public var requireScopes: [String] = []
    public var stripPrefix = ""
    public var onInvalid = InvalidTokenPolicy.reject
    /// Tunnel `Upgrade: websocket` requests (docs/http.md#websocket).
    public var websocket = false
    /// 0-based index in the file, for messages.
    public var index = 0
}
