// Micro-benchmarks of the auth hot path and of renewals against a real SQLite store.
// Run through scripts/bench-auth (release build, pinned to one core).
import Foundation
import GatewayCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

func measure(_ name: String, iterations: Int, _ body: () throws -> Void) rethrows {
    let start = ContinuousClock.now
    for _ in 0..<iterations { try body() }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(String(format: "%-46@ %10.0f /s  (%.2f µs each, %d runs)", name as NSString, Double(iterations) / seconds, seconds * 1e6 / Double(iterations), iterations))
}

let directory = NSTemporaryDirectory() + "microbench-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }
let toml = """
    [tokens]
    secret_file = "secret.key"
    [[upstreams]]
    name = "api"
    targets = ["http://127.0.0.1:9"]
    [[routes]]
    path = "/"
    upstream = "api"
    """
let config = try ConfigReader(environment: [:]).parse(toml, file: "microbench.conf")
let now = UnixTime(seconds: Int64(Date().timeIntervalSince1970))
let clock = WallClock.fixed(now)
let subject = TokenIssuer.Subject(sessionID: "0123456789abcdef0123456789abcdef", userID: .integer(42),
                                  claims: ["role": .string("admin"), "scope": .string("read write")])

for algorithm in [SigningAlgorithm.hs256, .es256] {
    var tokens = config.tokens
    tokens.algorithm = algorithm
    if algorithm == .es256 {
        let path = directory + "/es256.pem"
        // A P-256 key in PEM, made by scripts/bench-auth with openssl.
        guard CommandLine.arguments.count > 1 else { print("(ES256 skipped: pass a P-256 PEM key path)"); continue }
        tokens.privateKeyFile = CommandLine.arguments[1]
        _ = path
    }
    let key = try await SigningKey.load(tokens, relativeTo: directory)
    let issuer = TokenIssuer(key: key, tokens: tokens)
    let verifier = TokenVerifier(key: key, tokens: tokens)
    let lineage = AccessLineage(jti: "f00dfeedf00dfeedf00dfeedf00dfeed", issuedAt: now, expiresAt: now + .seconds(300))
    let token = try issuer.accessToken(for: subject, lineage: lineage).token
    let iterations = algorithm == .hs256 ? 200_000 : 20_000
    try measure("verify \(algorithm.rawValue) (no cache)", iterations: iterations) {
        guard case .valid = verifier.verify(Substring(token), as: .access, now: now) else { throw CancellationError() }
    }
    try measure("sign \(algorithm.rawValue) access token", iterations: iterations / 4) {
        _ = try issuer.accessToken(for: subject, lineage: lineage)
    }
    if algorithm == .hs256 {
        // The whole per-request auth decision for a repeated token (the cache-hit path).
        let route = RouteTable(compiling: config).routes[0]
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "api.example")
        headers.add(name: "Authorization", value: "Bearer \(token)")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/orders/42", headers: headers)
        // The revocation check (docs/operations.md#revocation) with no revocation known, and with 10,000 other sessions revoked.
        let someRevoked = RevocationList(tokens: tokens)
        someRevoked.add((0..<10_000).map { (sessionID: "revoked-\($0)", revokedAt: now) })
        for (label, revocations) in [("", RevocationList(tokens: tokens)), (", 10k revoked", someRevoked)] {
            let authenticator = Authenticator(verifier: verifier, renewal: nil, revocations: revocations, config: config, clock: clock)
            try measure("authorize, required route (repeated token\(label))", iterations: 500_000) {
                guard case .now(.authenticated) = authenticator.authorize(head, route: route, isPreflight: false) else { throw CancellationError() }
            }
        }
    }
}

// Renewals against a real SQLite store: distinct sessions, each renewed once (the advance path, one CAS write each),
// 64 at a time as concurrent requests would.
let store = try SQLiteSessionStore(path: directory + "/gateway.db")
let key = try await SigningKey.load(config.tokens, relativeTo: directory)
let issuer = TokenIssuer(key: key, tokens: config.tokens)
let coordinator = RenewalCoordinator(store: store, issuer: issuer, tokens: config.tokens, renewal: config.renewal, logger: Logger(label: "bench"))
let sessions = 4_000
var expired: [TokenClaims] = []
let verifier = TokenVerifier(key: key, tokens: config.tokens)
for i in 0..<sessions {
    let lineage = AccessLineage(jti: "jti-\(i)", issuedAt: now - .seconds(600), expiresAt: now - .seconds(300))
    let session = Session(id: "sid-\(i)", userID: .integer(Int64(i)), claims: [:], createdAt: now - .seconds(600),
                          expiresAt: now + .seconds(86_400), maxExpiresAt: now + .seconds(30 * 86_400),
                          refreshJTI: "r-\(i)", access: lineage)
    try await store.create(session)
    let token = try issuer.accessToken(for: session.subject, lineage: lineage).token
    guard case .expired(let claims) = verifier.verify(Substring(token), as: .access, now: now) else { fatalError("setup") }
    expired.append(claims)
}
let start = ContinuousClock.now
let allExpired = expired
try await withThrowingTaskGroup(of: Void.self) { tasks in
    var next = 0
    func launch() {
        let claims = allExpired[next]
        next += 1
        tasks.addTask {
            let outcome = try await coordinator.renew(claims, clock: clock)
            guard case .renewed = outcome else { throw CancellationError() }
        }
    }
    for _ in 0..<64 { launch() }
    while try await tasks.next() != nil { if next < sessions { launch() } }
}
let elapsed = ContinuousClock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(String(format: "%-46@ %10.0f /s  (%d sessions, 64 concurrent, SQLite WAL)", "renewal: advance one lineage step" as NSString, Double(sessions) / seconds, sessions))
try await store.close()
