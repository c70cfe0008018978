/// An in-process gateway with a clock the test moves, and the requests the auth suites make to it (login,
/// refresh, logout, a GET with a token).
import Foundation
import GatewayCore
import Testing

final class AuthGateway: Sendable {
    let running: InProcessGateway
    let clock: MovableClock

    var gateway: Gateway { running.gateway }
    var port: Int { running.port }
    var directory: TemporaryDirectory { running.directory }

    private init(running: InProcessGateway, clock: MovableClock) {
        self.running = running
        self.clock = clock
    }

    static func start(_ config: TestConfig, clock: MovableClock = MovableClock(), threads: Int = 1) async throws -> AuthGateway {
        AuthGateway(running: try await InProcessGateway.start(config.text, threads: threads, clock: clock.wallClock), clock: clock)
    }

    func stop() async { await running.stop() }

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
        gateway.verifier.verify(Substring(token), as: kind, now: clock.now)
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
    _ configure: (inout TestConfig) -> Void = { _ in },
    _ body: (TestUpstream, AuthGateway) async throws -> T
) async throws -> T {
    try await withUpstream { upstream in
        var config = TestConfig.auth(upstream: upstream.baseURL)
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
