/// Support for the auth integration suites (login, refresh, logout, route auth, identity headers, renewal,
/// store outage, restart): an in-process gateway with a clock the test moves, a config builder, and
/// small HTTP helpers over the raw test client.
import Foundation
import GatewayCore
import Glibc
import Logging
import NIOCore
import Synchronization
import Testing

// MARK: - a clock the test moves

/// Milliseconds since the epoch, moved by the test instead of by time passing.
final class MovableClock: Sendable {
    private let milliseconds: Mutex<Int64>

    /// Starts at the current wall-clock second (a whole second, so second/millisecond rounding is predictable).
    init() {
        let now = Int64(Date().timeIntervalSince1970) * 1000
        milliseconds = Mutex(now)
    }

    var now: Int64 { milliseconds.withLock { $0 } }
    var nowSeconds: Int64 { now / 1000 }

    func advance(_ duration: Duration) {
        let step = duration.milliseconds
        milliseconds.withLock { $0 += step }
    }

    func set(milliseconds value: Int64) {
        milliseconds.withLock { $0 = value }
    }

    /// The closure the gateway reads.
    var function: @Sendable () -> Int64 { { [self] in self.now } }
}

// MARK: - config

/// The auth suites' gateway config, section by section (TOML may not repeat a table, so overrides are merged
/// per key). Values are raw TOML (strings quoted).
struct AuthTestConfig {
    var upstream: String
    var verifyURL: String?
    var server: [String: String] = ["listen": #""127.0.0.1:0""#]
    var tokens: [String: String] = [
        "secret_file": #""secret.key""#,
        "issuer": #""auth-gateway-tests""#,
        "audience": #""api-clients""#,
        "access_ttl": #""1m""#,
        "refresh_ttl": #""1h""#,
        "session_max_age": #""1d""#,
    ]
    var renewal: [String: String] = ["window": #""1d""#, "grace": #""10s""#]
    var store: [String: String] = ["url": #""sqlite:gateway.db""#]
    var auth: [String: String] = [
        "claims": #"{ role = "/role", scope = "/scope" }"#,
        "refresh_delivery": #""body""#,
    ]
    var headers: [String: String] = [:]
    var upstreamTimeout = "5s"
    /// `[[routes]]` tables (the body of each, without the header line).
    var routes: [String] = AuthTestConfig.standardRoutes

    /// Routes used across the suites; TestUpstream answers on the last path segments so prefixes do not matter.
    static let standardRoutes: [String] = [
        #"path = "/api/"\#nupstream = "api"\#nauth = "required""#,
        #"path = "/opt/"\#nupstream = "api"\#nauth = "optional"\#non_invalid = "reject""#,
        #"path = "/optanon/"\#nupstream = "api"\#nauth = "optional"\#non_invalid = "anonymous""#,
        #"path = "/pub/"\#nupstream = "api"\#nauth = "public""#,
        #"path = "/admin/"\#nupstream = "api"\#nauth = "required"\#nrequire_claims = { role = ["admin", "staff"] }"#,
        #"path = "/write/"\#nupstream = "api"\#nauth = "required"\#nrequire_scopes = ["read", "write"]"#,
        #"path = "/norenew/"\#nupstream = "api"\#nauth = "required"\#nrenew = false"#,
        #"path = "/optnorenew/"\#nupstream = "api"\#nauth = "optional"\#nrenew = false"#,
        #"path = "/getonly/"\#nupstream = "api"\#nauth = "required"\#nmethods = ["GET"]"#,
    ]

    init(upstream: String, verifyURL: String? = nil) {
        self.upstream = upstream
        self.verifyURL = verifyURL
    }

    init(_ upstream: TestUpstream) {
        self.init(upstream: upstream.baseURL)
    }

    var text: String {
        func table(_ name: String, _ values: [String: String]) -> String {
            guard !values.isEmpty else { return "" }
            return "[\(name)]\n" + values.keys.sorted().map { "\($0) = \(values[$0]!)" }.joined(separator: "\n") + "\n\n"
        }
        var auth = self.auth
        auth["verify_url"] = "\"\(verifyURL ?? upstream + "/auth/verify-credentials")\""
        var text = table("server", server) + table("tokens", tokens) + table("renewal", renewal) + table("store", store)
            + table("auth", auth) + table("headers", headers)
        text += """
            [[upstreams]]
            name = "api"
            targets = ["\(upstream)"]
            timeout = "\(upstreamTimeout)"


            """
        for route in routes { text += "[[routes]]\n\(route)\n\n" }
        return text
    }
}

// MARK: - in-process gateway with a movable clock

final class AuthGateway: Sendable {
    let gateway: Gateway
    let port: Int
    let directory: TemporaryDirectory
    let clock: MovableClock

    private init(gateway: Gateway, port: Int, directory: TemporaryDirectory, clock: MovableClock) {
        self.gateway = gateway
        self.port = port
        self.directory = directory
        self.clock = clock
    }

    static func start(_ config: AuthTestConfig, clock: MovableClock = MovableClock(), threads: Int = 1) async throws -> AuthGateway {
        let started = try await InProcessGateway.start(config.text, threads: threads, clock: clock.function)
        return AuthGateway(gateway: started.gateway, port: started.port, directory: started.directory, clock: clock)
    }

    func stop() async {
        await gateway.server.shutdown(timeout: .seconds(1))
        await gateway.close()
        directory.remove()
    }

    var store: any SessionStore { gateway.store }
    var databasePath: String { directory.url.appendingPathComponent("gateway.db").path }

    // MARK: requests

    func request(_ method: String, _ target: String, headers: [(String, String)] = [], body: String? = nil,
                 timeout: Duration = .seconds(10)) async throws -> HTTPTestResponse {
        var all = headers
        if body != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
            all.append(("Content-Type", "application/json"))
        }
        let bytes = RequestBytes.make(method, target, headers: all, body: body.map { Array($0.utf8) })
        return try await HTTPTestClient.exchange(bytes, port: port, method: method, timeout: timeout)
    }

    func get(_ target: String, token: String? = nil, headers: [(String, String)] = []) async throws -> HTTPTestResponse {
        var all = headers
        if let token { all.insert(("Authorization", "Bearer \(token)"), at: 0) }
        return try await request("GET", target, headers: all)
    }

    /// POSTs credentials to the login path.
    func loginResponse(_ username: String = "alice", _ password: String = "wonderland") async throws -> HTTPTestResponse {
        try await request("POST", "/auth/login", body: #"{"username": "\#(username)", "password": "\#(password)"}"#)
    }

    /// Logs in and returns the tokens; fails the test when login does not give 201.
    func login(_ username: String = "alice", _ password: String = "wonderland",
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> LoginTokens {
        let response = try await loginResponse(username, password)
        try #require(response.status == 201, "login: \(response.status) \(response.bodyText)", sourceLocation: sourceLocation)
        let object = try response.jsonObject()
        let token = try #require(object["token"] as? [String: Any], sourceLocation: sourceLocation)
        let access = try #require(token["access"] as? String, sourceLocation: sourceLocation)
        return LoginTokens(access: access, refresh: token["refresh"] as? String ?? setCookieValue(response, name: "refresh"),
                           response: response)
    }

    func refresh(_ refreshToken: String) async throws -> HTTPTestResponse {
        try await request("POST", "/auth/refresh", body: #"{"refresh": "\#(refreshToken)"}"#)
    }

    func logout(access: String? = nil, refresh: String? = nil, cookie: String? = nil) async throws -> HTTPTestResponse {
        var headers: [(String, String)] = []
        if let access { headers.append(("Authorization", "Bearer \(access)")) }
        if let cookie { headers.append(("Cookie", cookie)) }
        return try await request("POST", "/auth/logout", headers: headers,
                                 body: refresh.map { #"{"refresh": "\#($0)"}"# })
    }

    // MARK: tokens

    /// The claims of `token` as verified by the gateway's own verifier at the test clock.
    func verify(_ token: String, as kind: TokenVerifier.Kind = .access) -> TokenVerifier.Outcome {
        gateway.verifier.verify(Substring(token), as: kind, now: clock.nowSeconds)
    }

    func session(of token: String) async throws -> Session {
        let sid = try #require(JWTParts.payload(token)["sid"]?.stringValue)
        return try #require(try await store.session(id: sid))
    }
}

struct LoginTokens: Sendable {
    var access: String
    var refresh: String?
    var response: HTTPTestResponse
}

/// Runs `body` with a fresh TestUpstream and an auth gateway in front of it; `configure` adjusts the config.
func withAuthGateway<T>(
    clock: MovableClock = MovableClock(), threads: Int = 1,
    _ configure: (inout AuthTestConfig) -> Void = { _ in },
    _ body: (TestUpstream, AuthGateway) async throws -> T
) async throws -> T {
    try await withUpstream { upstream in
        var config = AuthTestConfig(upstream)
        configure(&config)
        let gateway = try await AuthGateway.start(config, clock: clock, threads: threads)
        do {
            let result = try await body(upstream, gateway)
            await gateway.stop()
            return result
        } catch {
            await gateway.stop()
            throw error
        }
    }
}

// MARK: - JWT inspection (independent of the gateway's verifier)

enum JWTParts {
    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func base64URLDecode(_ text: String) -> Data? { base64URLDecode(Substring(text)) }

    /// The payload of a compact JWS, decoded as JSON values (integers stay integers).
    static func payload(_ token: String) throws -> [String: JSONValue] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(parts[1]),
              case .object(let object)? = JSONValue.parse(Array(data))
        else { throw HTTPTestClientError.malformedResponse("not a JWT: \(token)") }
        return object
    }

    static func header(_ token: String) throws -> [String: JSONValue] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(parts[0]),
              case .object(let object)? = JSONValue.parse(Array(data))
        else { throw HTTPTestClientError.malformedResponse("not a JWT: \(token)") }
        return object
    }

    /// `token` with one character in the middle of its signature changed (a bad signature, still well-formed).
    static func tamperedSignature(_ token: String) -> String {
        var characters = Array(token)
        let signatureStart = (characters.lastIndex(of: ".") ?? 0) + 1
        let index = signatureStart + (characters.count - signatureStart) / 2
        characters[index] = characters[index] == "A" ? "B" : "A"
        return String(characters)
    }

    static func jti(_ token: String) throws -> String {
        try #require(try payload(token)["jti"]?.stringValue)
    }
}

// MARK: - response helpers

/// The value of cookie `name` in the response's `Set-Cookie` headers, nil when absent.
func setCookieValue(_ response: HTTPTestResponse, name: String) -> String? {
    for header in response.headers("set-cookie") {
        let first = header.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let pair = first.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == name {
            return String(pair[1])
        }
    }
    return nil
}

/// The attributes of the `Set-Cookie` header for `name` (lower-cased names; values as sent).
func setCookieAttributes(_ response: HTTPTestResponse, name: String) -> [String: String]? {
    for header in response.headers("set-cookie") {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, first.hasPrefix(name + "=") else { continue }
        var attributes: [String: String] = [:]
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            attributes[pair[0].lowercased()] = pair.count > 1 ? pair[1] : ""
        }
        return attributes
    }
    return nil
}

extension HTTPTestResponse {
    /// The body as JSON values (integers stay integers).
    var json: JSONValue? { JSONValue.parse(body) }
}

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

/// Asserts the SPEC §5.2 401 for an access token that is not valid (or expired and not renewable).
func expectAccessTokenRefused(_ response: HTTPTestResponse, message: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.status == 401, "\(response.bodyText)", sourceLocation: sourceLocation)
    #expect(response.json == accessTokenNotValidBody(message), "\(response.bodyText)", sourceLocation: sourceLocation)
    #expect(response.header("www-authenticate") == #"Bearer realm="api", error="invalid_token""#, sourceLocation: sourceLocation)
    #expect(response.header("x-access-token") == nil, sourceLocation: sourceLocation)
}

/// The echo body of TestUpstream: the headers the upstream received.
struct EchoedRequest {
    var method: String
    var uri: String
    var headers: [(name: String, value: String)]

    init(_ response: HTTPTestResponse) throws {
        let object = try response.jsonObject()
        method = object["method"] as? String ?? ""
        uri = object["uri"] as? String ?? ""
        headers = (object["headers"] as? [[String]] ?? []).compactMap { $0.count == 2 ? (name: $0[0], value: $0[1]) : nil }
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    func header(_ name: String) -> String? { headers(name).first }
}

// MARK: - processes the tests start (sqlite3 holding a lock)

/// A `sqlite3` CLI process holding `BEGIN EXCLUSIVE` on a database until `release()`.
final class SQLiteLockHolder: Sendable {
    private let process: Process
    private let input: FileHandle
    private let output: PipeText

    private init(process: Process, input: FileHandle, output: PipeText) {
        self.process = process
        self.input = input
        self.output = output
    }

    /// Starts sqlite3 on `path`, takes the exclusive lock and waits until it reports holding it.
    static func lock(_ path: String) async throws -> SQLiteLockHolder {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        try? stdout.fileHandleForWriting.close()
        try? stdin.fileHandleForReading.close()
        let holder = SQLiteLockHolder(process: process, input: stdin.fileHandleForWriting, output: PipeText(stdout))
        // A write inside the transaction makes it a real writer on the WAL, then the marker says it holds.
        try holder.send("PRAGMA busy_timeout = 5000;\nBEGIN EXCLUSIVE;\nUPDATE sessions SET id = id WHERE 0;\nSELECT 'lock-held';\n")
        let held = await eventually(timeout: .seconds(10)) { holder.output.text.contains("lock-held") }
        guard held else {
            holder.kill()
            throw HTTPTestClientError.timedOut("sqlite3 to take the lock; output: \(holder.output.text)")
        }
        return holder
    }

    private func send(_ text: String) throws {
        try input.write(contentsOf: Data(text.utf8))
    }

    var transcript: String { output.text }

    /// Ends the transaction and the process, releasing the lock.
    func release() async {
        try? send("ROLLBACK;\n.quit\n")
        try? input.close()
        _ = await eventually(timeout: .seconds(10)) { !self.process.isRunning }
        kill()
    }

    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Collects a pipe's output on its own thread until EOF.
final class PipeText: Sendable {
    private let data = Mutex(Data())

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.withLock { $0.append(chunk) }
            }
        }
        thread.start()
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
