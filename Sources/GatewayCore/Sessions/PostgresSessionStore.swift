import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The shared session store for several gateways: PostgreSQL through postgres-nio's connection pool.
/// The rules are the SQLite store's, row for row: every change is a compare-and-set `UPDATE … WHERE` in
/// one transaction, so two gateways racing to renew or rotate the same session apply exactly one change
/// (PostgreSQL re-checks the `WHERE` of a blocked `UPDATE` against the row the winner committed).
/// Every call is bounded by `operationTimeout`: a database that does not answer is a 503, not a hung request.
public final class PostgresSessionStore: SessionStore {
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    let operationTimeout: Duration

    /// Connects, and creates the tables when they do not exist (under an advisory lock, so gateways
    /// starting together do not race). Throws `StoreUnavailable` when the database cannot be used.
    public init(url: String, logger: Logger, operationTimeout: Duration = .seconds(5)) async throws {
        let location = try PostgresURL(url)
        var configuration = location.clientConfiguration
        configuration.options.connectTimeout = operationTimeout
        configuration.options.maximumConnections = 16
        let quiet = {  // the pool's connection chatter stays out of info logs
            var quiet = logger
            quiet.logLevel = max(logger.logLevel, .notice)
            return quiet
        }()
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        self.client = client
        // postgres-nio logs statements and their values at debug level: session rows stay out of the logs.
        self.logger = quiet
        self.operationTimeout = operationTimeout
        runner = Task { await client.run() }
        do {
            try await bounded("migrate") {
                try await client.withTransaction(logger: quiet) { connection in
                    for statement in PostgresSessionStore.schema {
                        try await connection.query(statement, logger: quiet)
                    }
                }
            }
        } catch {
            runner.cancel()  // not awaited: a connection attempt in progress may outlast the deadline
            throw StoreUnavailable("cannot use PostgreSQL store \(location.redacted): \(error)")
        }
    }

    /// The schema: the SQLite store's tables with PostgreSQL types. Idempotent.
    static let schema: [PostgresQuery] = [
        // Serialises concurrent start-ups until COMMIT (CREATE … IF NOT EXISTS alone can race in PostgreSQL).
        "SELECT pg_advisory_xact_lock(7308327661244785)",
        """
        CREATE TABLE IF NOT EXISTS auth_gateway_sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            claims TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            max_expires_at BIGINT NOT NULL,
            revoked_at BIGINT,
            refresh_jti TEXT NOT NULL,
            access_jti TEXT NOT NULL,
            access_iat BIGINT NOT NULL,
            access_exp BIGINT NOT NULL,
            previous_access_jti TEXT,
            access_replaced_at BIGINT
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS auth_gateway_replaced_refresh_tokens (
            jti TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES auth_gateway_sessions(id) ON DELETE CASCADE,
            replaced_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS auth_gateway_replaced_refresh_tokens_session ON auth_gateway_replaced_refresh_tokens(session_id)",
        "CREATE INDEX IF NOT EXISTS auth_gateway_sessions_expires_at ON auth_gateway_sessions(expires_at)",
    ]

    public func create(_ session: Session) async throws {
        let userID = session.userID.jsonText, claims = JSONValue.object(session.claims).jsonText
        try await bounded("create") { [client, logger] in
            try await client.query("""
                INSERT INTO auth_gateway_sessions (id, user_id, claims, created_at, expires_at, max_expires_at, revoked_at,
                    refresh_jti, access_jti, access_iat, access_exp, previous_access_jti, access_replaced_at)
                VALUES (\(session.id), \(userID), \(claims), \(session.createdAt), \(session.expiresAt),
                    \(session.maxExpiresAt), \(session.revokedAt), \(session.refreshJTI), \(session.access.jti),
                    \(session.access.issuedAt), \(session.access.expiresAt), \(session.previousAccessJTI),
                    \(session.accessReplacedAt))
                """, logger: logger)
        }
    }

    public func session(id: String) async throws -> Session? {
        try await bounded("read") { [client, logger] in
            let rows = try await client.query("""
                SELECT id, user_id, claims, created_at, expires_at, max_expires_at, revoked_at, refresh_jti,
                    access_jti, access_iat, access_exp, previous_access_jti, access_replaced_at
                FROM auth_gateway_sessions WHERE id = \(id)
                """, logger: logger)
            for try await row in rows.decode(
                (String, String, String, Int64, Int64, Int64, Int64?, String, String, Int64, Int64, String?, Int64?).self
            ) {
                var claims: [String: JSONValue] = [:]
                if case .object(let object)? = JSONValue.parse(Array(row.2.utf8)) { claims = object }
                return Session(
                    id: row.0, userID: JSONValue.parse(Array(row.1.utf8)) ?? .string(row.1), claims: claims,
                    createdAt: row.3, expiresAt: row.4, maxExpiresAt: row.5, revokedAt: row.6, refreshJTI: row.7,
                    access: AccessLineage(jti: row.8, issuedAt: row.9, expiresAt: row.10),
                    previousAccessJTI: row.11, accessReplacedAt: row.12)
            }
            return nil
        }
    }

    public func wasReplaced(refreshJTI jti: String, sessionID: String) async throws -> Bool {
        try await bounded("read") { [client, logger] in
            let rows = try await client.query("""
                SELECT 1 FROM auth_gateway_replaced_refresh_tokens WHERE jti = \(jti) AND session_id = \(sessionID)
                """, logger: logger)
            for try await _ in rows { return true }
            return false
        }
    }

    public func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: Int64) async throws -> Bool {
        let (refreshExpected, accessExpected): (String?, String?) = switch expectation {
        case .refreshJTI(let jti): (jti, nil)
        case .accessJTI(let jti): (nil, jti)
        }
        // The expectation as two nullable binds keeps the statement text constant (no SQL built from values).
        let matches = """
            id = $1 AND revoked_at IS NULL AND expires_at > $2
                AND ($3::text IS NULL OR refresh_jti = $3) AND ($4::text IS NULL OR access_jti = $4)
            """
        return try await bounded("update") { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                if let newRefresh = change.newRefreshJTI {
                    // Record the id being replaced, but only if the row still matches (same transaction).
                    var record = PostgresQuery(unsafeSQL: """
                        INSERT INTO auth_gateway_replaced_refresh_tokens (jti, session_id, replaced_at)
                        SELECT refresh_jti, id, $2 FROM auth_gateway_sessions
                        WHERE \(matches) AND refresh_jti <> $5
                        ON CONFLICT (jti) DO NOTHING
                        """)
                    record.binds = Self.binds(sessionID, now, refreshExpected, accessExpected, newRefresh)
                    try await connection.query(record, logger: logger)
                }
                var update = PostgresQuery(unsafeSQL: """
                    UPDATE auth_gateway_sessions SET
                        refresh_jti = COALESCE($5, refresh_jti),
                        previous_access_jti = access_jti,
                        access_replaced_at = $2,
                        access_jti = $6, access_iat = $7, access_exp = $8,
                        expires_at = LEAST($9, max_expires_at)
                    WHERE \(matches)
                    RETURNING id
                    """)
                update.binds = Self.binds(sessionID, now, refreshExpected, accessExpected, change.newRefreshJTI)
                update.binds.append(change.newAccess.jti)
                update.binds.append(change.newAccess.issuedAt)
                update.binds.append(change.newAccess.expiresAt)
                update.binds.append(change.expiresAt)
                var changed = 0
                for try await _ in try await connection.query(update, logger: logger) { changed += 1 }
                return changed == 1
            }
        }
    }

    private static func binds(_ id: String, _ now: Int64, _ refresh: String?, _ access: String?, _ newRefresh: String?) -> PostgresBindings {
        var binds = PostgresBindings(capacity: 9)
        binds.append(id)
        binds.append(now)
        binds.append(refresh)
        binds.append(access)
        binds.append(newRefresh)
        return binds
    }

    @discardableResult
    public func revoke(sessionID: String, at now: Int64) async throws -> Bool {
        try await bounded("revoke") { [client, logger] in
            var found = false
            for try await _ in try await client.query("""
                UPDATE auth_gateway_sessions SET revoked_at = COALESCE(revoked_at, \(now)) WHERE id = \(sessionID) RETURNING id
                """, logger: logger) { found = true }
            return found
        }
    }

    public func purge(endedBefore cutoff: Int64) async throws -> Int {
        try await bounded("purge") { [client, logger] in
            var count = 0
            for try await _ in try await client.query("""
                DELETE FROM auth_gateway_sessions
                WHERE expires_at < \(cutoff) OR (revoked_at IS NOT NULL AND revoked_at < \(cutoff)) RETURNING id
                """, logger: logger) { count += 1 }
            return count
        }
    }

    public func session(id: String, on eventLoop: any EventLoop) -> EventLoopFuture<Session?> {
        eventLoop.makeFutureWithTask { try await self.session(id: id) }
    }

    public func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: Int64,
                       on eventLoop: any EventLoop) -> EventLoopFuture<Bool> {
        eventLoop.makeFutureWithTask {
            try await self.update(sessionID: sessionID, expecting: expectation, change: change, now: now)
        }
    }

    public func ping() async throws {
        // A write, so a read-only standby reports as unavailable, as a locked SQLite file does.
        try await bounded("ping") { [client, logger] in
            try await client.query("UPDATE auth_gateway_sessions SET id = id WHERE false", logger: logger)
        }
    }

    public func close() async throws {
        runner.cancel()
        await runner.value
    }

    /// Runs `body` with the store's deadline; any failure becomes `StoreUnavailable` (SPEC: 503 `store_unavailable`).
    /// The answer comes at the deadline even if the work does not stop when cancelled (a connection attempt
    /// in progress): it is cancelled and left to finish on its own.
    private func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = operationTimeout
        let outcome = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let answer = FirstAnswer(continuation)
            let work = Task {
                do {
                    answer.give(.success(try await body()))
                } catch let error as StoreUnavailable {
                    answer.give(.failure(error))
                } catch {
                    answer.give(.failure(StoreUnavailable("PostgreSQL \(what) failed: \(String(reflecting: error))")))
                }
            }
            Task {
                try? await Task.sleep(for: timeout)
                if answer.give(.failure(StoreUnavailable("PostgreSQL \(what): no answer within \(timeout)"))) { work.cancel() }
            }
        }
        return outcome
    }
}

/// Resumes a continuation with the first result given; later ones are dropped.
private final class FirstAnswer<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    /// True when this was the first answer.
    @discardableResult
    func give(_ result: Result<T, any Error>) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(with: result)
        return true
    }
}

/// `postgres://user:password@host:port/database?sslmode=…` (libpq's URL form; `postgresql://` too; without a
/// user, the operating-system user's name, as libpq).
/// `sslmode` follows libpq: `disable`; `prefer` (the default: TLS when the server offers it, certificate not
/// checked); `require` (TLS or fail, certificate not checked); `verify-full` (TLS, certificate chain and host
/// name checked, against `sslrootcert=PATH` when given, else the system's roots). Anything else is an error.
public struct PostgresURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable { case disable, prefer, require, verifyFull = "verify-full" }
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var rootCertificatePath: String?

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://"),
              let components = URLComponents(string: text) else {
            throw Invalid(description: "not a postgres://user:pass@host:port/db URL")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "the URL names no host") }
        // No user: the operating-system user, as libpq does.
        guard let user = components.user.flatMap({ $0.isEmpty ? nil : $0 }) ?? PostgresURL.processUser else {
            throw Invalid(description: "the URL names no user")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw Invalid(description: "the URL names no database (…/DBNAME)") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password?.removingPercentEncoding
        self.database = database.removingPercentEncoding ?? database
        self.tls = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw Invalid(description: "sslmode must be disable, prefer, require or verify-full, got \"\(item.value ?? "")\"")
                }
                tls = mode
            case "sslrootcert":
                guard let path = item.value, !path.isEmpty else { throw Invalid(description: "sslrootcert needs a file path") }
                rootCertificatePath = path
            default:
                throw Invalid(description: "unknown URL parameter \"\(item.name)\" (known: sslmode, sslrootcert)")
            }
        }
        if rootCertificatePath != nil, tls != .verifyFull {
            throw Invalid(description: "sslrootcert is only used with sslmode=verify-full")
        }
    }

    static var processUser: String? {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    /// The URL without its password, for messages and logs.
    public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    var clientConfiguration: PostgresClient.Configuration {
        var unverified = TLSConfiguration.makeClientConfiguration()
        unverified.certificateVerification = .none
        let tls: PostgresClient.Configuration.TLS
        switch self.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(unverified)
        case .require: tls = .require(unverified)
        case .verifyFull:
            var verified = TLSConfiguration.makeClientConfiguration()
            if let rootCertificatePath { verified.trustRoots = .file(rootCertificatePath) }
            tls = .require(verified)
        }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}
