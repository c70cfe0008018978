import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import Synchronization

/// The shared session store for several gateways: PostgreSQL through postgres-nio's connection pool.
/// The rules are the SQLite store's: every change is a compare-and-set `UPDATE … WHERE` in one transaction on
/// the locked session row, so two gateways racing to renew or rotate the same session apply exactly one change.
/// Every call is bounded by `operationTimeout`: a database that does not answer is a 503, not a hung request.
public final class PostgresSessionStore: SessionStore {
    private let client: PostgresClient
    private let location: PostgresURL
    /// `NOTIFY` channel of revocations: every revoking statement notifies it, per session, on commit.
    static let revocationChannel = "auth_gateway_revoked"
    private let runner: Task<Void, Never>
    private let logger: Logger
    let operationTimeout: Duration

    /// Connects once (so a wrong password, a refused connection or a TLS failure is reported as itself), creates
    /// the tables when they do not exist, then serves through a pool. Throws `StoreUnavailable` when the database
    /// cannot be used.
    ///
    /// `operationTimeout` bounds every store call (a request waits on it); `startupTimeout` the first connection
    /// and the table check at start, where waiting longer for a database that is itself starting costs nothing.
    public init(url: String, logger: Logger, operationTimeout: Duration = .seconds(5),
                startupTimeout: Duration = .seconds(30)) async throws {
        let location = try PostgresURL(url)
        self.location = location
        // postgres-nio logs statements with their values at debug level: session rows stay out of the logs.
        var statements = logger
        statements.logLevel = max(logger.logLevel, .notice)
        var configuration = location.clientConfiguration()
        configuration.options.connectTimeout = operationTimeout
        configuration.options.maximumConnections = 16
        // The server gives up too, just before the gateway does: a statement, a lock wait or a transaction
        // abandoned at the deadline does not hold its connection and locks until it finishes on its own.
        configuration.options.additionalStartupParameters = PostgresSessionStore.serverTimeouts(operationTimeout)
        // Connection failures are logged (info and up) by the pool: a 503 at run time has its cause in the log.
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = statements
        self.operationTimeout = operationTimeout
        do {
            // The migration's own server-side limits are the start-up ones: gateways starting together on a fresh
            // database wait for each other's advisory lock longer than one request would.
            try await PostgresSessionStore.migrate(location, startupParameters: PostgresSessionStore.serverTimeouts(startupTimeout),
                                                   logger: statements, timeout: startupTimeout)
        } catch {
            throw StoreUnavailable("cannot use PostgreSQL store \(location.redacted): \(PostgresSessionStore.reason(error))")
        }
        let client = self.client
        runner = Task { await client.run() }
    }

    /// statement_timeout, lock_timeout and idle_in_transaction_session_timeout a little under `timeout`.
    static func serverTimeouts(_ timeout: Duration) -> [(String, String)] {
        let milliseconds = max(100, timeout.milliseconds * 9 / 10)
        return [("statement_timeout", "\(milliseconds)"), ("lock_timeout", "\(milliseconds)"),
                ("idle_in_transaction_session_timeout", "\(milliseconds)")]
    }

    /// On one connection of its own: creates or completes the schema unless it is current. Checking first matters: even
    /// `CREATE INDEX IF NOT EXISTS` takes a lock that would queue every other gateway's writes behind a
    /// starting one. A database user without DDL rights works once the tables exist.
    private static func migrate(_ location: PostgresURL, startupParameters: [(String, String)], logger: Logger,
                                timeout: Duration) async throws {
        var configuration = try location.connectionConfiguration()
        configuration.options.connectTimeout = TimeAmount(timeout)
        configuration.options.additionalStartupParameters = startupParameters
        let connection = try await withDeadline(timeout, "connect") { [configuration] in
            try await PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(),
                                                 configuration: configuration, id: 0, logger: logger)
        }
        do {
            try await withDeadline(timeout, "migrate") {
                if try await schemaIsCurrent(connection, logger: logger) { return }
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in PostgresSessionStore.schema {
                        // Read to the end: a statement's error (a lock wait cancelled) surfaces here, not as
                        // "current transaction is aborted" on the next one.
                        _ = try await PostgresSessionStore.count(connection.query(statement, logger: logger))
                    }
                }
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
    }

    /// Whether the last object of `schema` exists: then all of it does (every statement is idempotent, and they
    /// run in one transaction). A database made by an older gateway is completed once by the first newer one.
    private static func schemaIsCurrent(_ connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT to_regclass('auth_gateway_sessions_user_id') IS NOT NULL
            """, logger: logger)
        // Read to the end: the connection runs its next statement only after this one's rows are consumed.
        var exists = false
        for try await value in rows.decode(Bool.self) { exists = value }
        return exists
    }

    /// How many rows `rows` has, read to the end (so the connection is free for its next statement).
    private static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var count = 0
        for try await _ in rows { count += 1 }
        return count
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
        // docs/operations.md#revocation: other gateways' revocations are read by time; a logout of all sessions finds them by user.
        "CREATE INDEX IF NOT EXISTS auth_gateway_sessions_revoked_at ON auth_gateway_sessions(revoked_at) WHERE revoked_at IS NOT NULL",
        // docs/http.md#refresh: what each rotation handed out, to answer a duplicate the same way.
        "ALTER TABLE auth_gateway_replaced_refresh_tokens ADD COLUMN IF NOT EXISTS successor_refresh_jti TEXT",
        "ALTER TABLE auth_gateway_replaced_refresh_tokens ADD COLUMN IF NOT EXISTS successor_expires_at BIGINT",
        "ALTER TABLE auth_gateway_replaced_refresh_tokens ADD COLUMN IF NOT EXISTS access_jti TEXT",
        "ALTER TABLE auth_gateway_replaced_refresh_tokens ADD COLUMN IF NOT EXISTS access_iat BIGINT",
        "ALTER TABLE auth_gateway_replaced_refresh_tokens ADD COLUMN IF NOT EXISTS access_exp BIGINT",
        // Last: its presence says the whole schema above is in place (`schemaIsCurrent`).
        "CREATE INDEX IF NOT EXISTS auth_gateway_sessions_user_id ON auth_gateway_sessions(user_id)",
    ]

    public func create(_ session: Session) async throws {
        let userID = session.userID.jsonText, claims = JSONValue.object(session.claims).jsonText
        _ = try await bounded("create") { [client, logger] in
            try await client.query("""
                INSERT INTO auth_gateway_sessions (id, user_id, claims, created_at, expires_at, max_expires_at, revoked_at,
                    refresh_jti, access_jti, access_iat, access_exp, previous_access_jti, access_replaced_at)
                VALUES (\(session.id), \(userID), \(claims), \(session.createdAt.milliseconds),
                    \(session.expiresAt.milliseconds), \(session.maxExpiresAt.milliseconds),
                    \(session.revokedAt?.milliseconds), \(session.refreshJTI), \(session.access.jti),
                    \(session.access.issuedAt.seconds), \(session.access.expiresAt.seconds), \(session.previousAccessJTI),
                    \(session.accessReplacedAt?.milliseconds))
                """, logger: logger)
        }
    }

    public func session(id: String) async throws -> Session? {
        try await bounded("read") { [client, logger] in
            // Every row is read (one at most: the id is the key), so the connection goes back to the pool idle.
            try await Self.sessions(from: client.query(
                "SELECT \(unescaped: Self.sessionColumns) FROM auth_gateway_sessions WHERE id = \(id)", logger: logger)).first
        }
    }

    public func sessions(of user: StoredUserIDs?, includeEnded: Bool, at now: UnixTime) async throws -> [Session] {
        let texts = user?.texts, now = now.milliseconds
        // The filters as nullable binds keep the statement text constant (no SQL built from values).
        return try await bounded("read") { [client, logger] in
            try await Self.sessions(from: client.query("""
                SELECT \(unescaped: Self.sessionColumns) FROM auth_gateway_sessions
                WHERE (\(texts)::text[] IS NULL OR user_id = ANY(\(texts)))
                    AND (\(includeEnded) OR (revoked_at IS NULL AND expires_at > \(now)))
                ORDER BY created_at, id
                """, logger: logger))
        }
    }

    /// The columns `sessions(from:)` reads, in its order.
    private static let sessionColumns = """
        id, user_id, claims, created_at, expires_at, max_expires_at, revoked_at, refresh_jti,
        access_jti, access_iat, access_exp, previous_access_jti, access_replaced_at
        """

    /// The rows of a `SELECT sessionColumns`, read to the end, as sessions.
    private static func sessions(from rows: PostgresRowSequence) async throws -> [Session] {
        var sessions: [Session] = []
        for try await row in rows.decode(
            (String, String, String, Int64, Int64, Int64, Int64?, String, String, Int64, Int64, String?, Int64?).self
        ) {
            var claims: [String: JSONValue] = [:]
            if case .object(let object)? = JSONValue.parse(Array(row.2.utf8)) { claims = object }
            sessions.append(Session(
                id: row.0, userID: JSONValue.parse(Array(row.1.utf8)) ?? .string(row.1), claims: claims,
                createdAt: UnixTime(milliseconds: row.3), expiresAt: UnixTime(milliseconds: row.4),
                maxExpiresAt: UnixTime(milliseconds: row.5), revokedAt: row.6.map(UnixTime.init(milliseconds:)),
                refreshJTI: row.7,
                access: AccessLineage(jti: row.8, issuedAt: UnixTime(seconds: row.9), expiresAt: UnixTime(seconds: row.10)),
                previousAccessJTI: row.11, accessReplacedAt: row.12.map(UnixTime.init(milliseconds:))))
        }
        return sessions
    }

    public func replacement(ofRefreshJTI jti: String, sessionID: String) async throws -> RefreshReplacement? {
        try await bounded("read") { [client, logger] in
            let rows = try await client.query("""
                SELECT replaced_at, successor_refresh_jti, successor_expires_at, access_jti, access_iat, access_exp
                FROM auth_gateway_replaced_refresh_tokens WHERE jti = \(jti) AND session_id = \(sessionID)
                """, logger: logger)
            var found: RefreshReplacement?
            // Every row is read (one at most: the jti is the key), so the connection goes back to the pool idle.
            for try await row in rows.decode((Int64, String?, Int64?, String?, Int64?, Int64?).self) {
                found = RefreshReplacement(replacedAt: UnixTime(milliseconds: row.0), successorRefreshJTI: row.1,
                                           successorExpiresAt: row.2.map(UnixTime.init(milliseconds:)),
                                           access: AccessLineage(storedJTI: row.3, issuedAt: row.4, expiresAt: row.5))
            }
            return found
        }
    }

    public func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: UnixTime) async throws -> Bool {
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
                // The row is locked first: the history insert and the update below then see one version of it
                // (under READ COMMITTED each statement takes its own snapshot).
                _ = try await Self.count(connection.query(
                    "SELECT 1 FROM auth_gateway_sessions WHERE id = \(sessionID) FOR UPDATE", logger: logger))
                if let newRefresh = change.newRefreshJTI {
                    // Record the id being replaced, but only if the row still matches (same transaction).
                    // With what replaced it, so a duplicate within refresh_reuse_interval gets the same answer (6.3).
                    var record = PostgresQuery(unsafeSQL: """
                        INSERT INTO auth_gateway_replaced_refresh_tokens
                            (jti, session_id, replaced_at, successor_refresh_jti, successor_expires_at, access_jti, access_iat, access_exp)
                        SELECT refresh_jti, id, $2, $5, LEAST($6, max_expires_at), $7, $8, $9 FROM auth_gateway_sessions
                        WHERE \(matches) AND refresh_jti <> $5
                        ON CONFLICT (jti) DO NOTHING
                        """)
                    record.binds = Self.binds(sessionID, now, refreshExpected, accessExpected, newRefresh)
                    record.binds.append(change.expiresAt.milliseconds)
                    record.binds.append(change.newAccess.jti)
                    record.binds.append(change.newAccess.issuedAt.seconds)
                    record.binds.append(change.newAccess.expiresAt.seconds)
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
                update.binds.append(change.newAccess.issuedAt.seconds)
                update.binds.append(change.newAccess.expiresAt.seconds)
                update.binds.append(change.expiresAt.milliseconds)
                return try await Self.count(connection.query(update, logger: logger)) == 1
            }
        }
    }

    private static func binds(_ id: String, _ now: UnixTime, _ refresh: String?, _ access: String?, _ newRefresh: String?) -> PostgresBindings {
        var binds = PostgresBindings(capacity: 9)
        binds.append(id)
        binds.append(now.milliseconds)
        binds.append(refresh)
        binds.append(access)
        binds.append(newRefresh)
        return binds
    }

    @discardableResult
    public func revoke(sessionID: String, at now: UnixTime) async throws -> Bool {
        let now = now.milliseconds
        return try await bounded("revoke") { [client, logger] in
            try await Self.count(client.query("""
                WITH revoked AS (
                    UPDATE auth_gateway_sessions SET revoked_at = COALESCE(revoked_at, \(now)) WHERE id = \(sessionID) RETURNING id
                )
                SELECT revoked.id FROM revoked CROSS JOIN LATERAL (SELECT pg_notify('auth_gateway_revoked', revoked.id)) AS notified
                """, logger: logger)) == 1
        }
    }

    public func purge(endedBefore cutoff: UnixTime) async throws -> Int {
        let cutoff = cutoff.milliseconds
        return try await bounded("purge") { [client, logger] in
            try await Self.count(client.query("""
                DELETE FROM auth_gateway_sessions
                WHERE expires_at < \(cutoff) OR (revoked_at IS NOT NULL AND revoked_at < \(cutoff)) RETURNING id
                """, logger: logger))
        }
    }

    public func revokeAll(sessionsOfUserIn sessionID: String, at now: UnixTime) async throws -> [String] {
        try await revokeAll(whereUserID: "= (SELECT user_id FROM auth_gateway_sessions WHERE id = $2)", sessionID, at: now)
    }

    public func revokeAll(sessionsOf user: StoredUserIDs, at now: UnixTime) async throws -> [String] {
        try await revokeAll(whereUserID: "= ANY($2)", user.texts, at: now)
    }

    /// Revokes the sessions not revoked yet whose `user_id` meets `condition` (`$2` is `value`); returns their ids.
    private func revokeAll(whereUserID condition: String, _ value: some PostgresNonThrowingEncodable, at now: UnixTime) async throws -> [String] {
        // Each revoked session is announced to the other gateways on commit (LISTEN/NOTIFY, `listenForRevocations`).
        var query = PostgresQuery(unsafeSQL: """
            WITH revoked AS (
                UPDATE auth_gateway_sessions SET revoked_at = $1
                WHERE user_id \(condition) AND revoked_at IS NULL
                RETURNING id
            )
            SELECT revoked.id FROM revoked CROSS JOIN LATERAL (SELECT pg_notify('auth_gateway_revoked', revoked.id)) AS notified
            """)
        query.binds.append(now.milliseconds)
        query.binds.append(value)
        return try await bounded("revoke") { [client, logger, query] in
            let rows = try await client.query(query, logger: logger)
            var ids: [String] = []
            for try await id in rows.decode(String.self) { ids.append(id) }
            return ids
        }
    }

    /// LISTEN on a connection of its own (the pool's connections come and go). After a connection is lost the
    /// caller's polling covers the gap, and `wake` after each reconnection reads what was missed.
    public func listenForRevocations(wake: @escaping @Sendable () -> Void) async {
        var failing = false
        while !Task.isCancelled {
            do {
                var configuration = try location.connectionConfiguration()
                configuration.options.connectTimeout = TimeAmount(operationTimeout)
                let connection = try await Self.withDeadline(operationTimeout, "connect") { [configuration, logger] in
                    try await PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.any(),
                                                         configuration: configuration, id: 1, logger: logger)
                }
                // Closing the connection ends the notification sequence: that is how cancellation gets through.
                try await withTaskCancellationHandler {
                    try await connection.listen(on: Self.revocationChannel) { notifications in
                        if failing { logger.notice("revocation notifications from PostgreSQL again") }
                        failing = false
                        wake()
                        for try await _ in notifications { wake() }
                    }
                } onCancel: {
                    let closing: EventLoopFuture<Void> = connection.close()
                    _ = closing
                }
                try? await connection.close()
            } catch {
                if !failing && !Task.isCancelled {
                    logger.notice("no revocation notifications from PostgreSQL; polling only until it is back",
                                  metadata: ["error": "\(PostgresSessionStore.reason(error))"])
                }
                failing = true
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    public func revokedSince(_ since: UnixTime) async throws -> [(sessionID: String, revokedAt: UnixTime)] {
        let since = since.milliseconds
        return try await bounded("read") { [client, logger] in
            let rows = try await client.query(
                "SELECT id, revoked_at FROM auth_gateway_sessions WHERE revoked_at >= \(since)", logger: logger)
            var revoked: [(sessionID: String, revokedAt: UnixTime)] = []
            for try await (id, at) in rows.decode((String, Int64).self) { revoked.append((id, UnixTime(milliseconds: at))) }
            return revoked
        }
    }

    public func ping() async throws {
        // A write, so a read-only standby reports as unavailable, as a locked SQLite file does.
        _ = try await bounded("ping") { [client, logger] in
            try await client.query("UPDATE auth_gateway_sessions SET id = id WHERE false", logger: logger)
        }
    }

    public func close() async throws {
        runner.cancel()
        await runner.value
    }

    /// Runs `body` with the store's deadline; any failure becomes `StoreUnavailable` (docs/http.md#error-bodies: 503 `store_unavailable`).
    private func bounded<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await PostgresSessionStore.withDeadline(operationTimeout, what, body)
        } catch let error as StoreUnavailable {
            throw error
        } catch {
            throw StoreUnavailable("PostgreSQL \(what) failed: \(PostgresSessionStore.reason(error))")
        }
    }

    /// The answer of `body`, or `StoreUnavailable` at `timeout`, whichever comes first — even when the work does
    /// not stop when cancelled (postgres-nio's connection attempts): it is cancelled and left to end on its own.
    /// The caller's cancellation reaches the work; the timer ends with the work.
    static func withDeadline<T: Sendable>(_ timeout: Duration, _ what: String,
                                          _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = WorkHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let answer = FirstAnswer(continuation)
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    if answer.give(.failure(StoreUnavailable("PostgreSQL \(what): no answer within \(timeout)"))) {
                        work.cancel()
                    }
                }
                work.set(Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    timer.cancel()
                    answer.give(result)
                })
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// One line: PostgreSQL's own message and SQLSTATE, or the connection error; never the statement text.
    static func reason(_ error: any Error) -> String {
        if let failed = error as? PostgresTransactionError,
           let cause = failed.closureError ?? failed.beginError ?? failed.commitError ?? failed.rollbackError {
            return reason(cause)
        }
        let text: String
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                text = "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            } else if let underlying = error.underlying {
                text = "\(error.code): \(underlying)"
            } else {
                text = "\(error.code)"
            }
        } else {
            text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// The task doing a bounded call's work, cancellable from the timer or the caller.
private final class WorkHandle: Sendable {
    private let task = Mutex<(task: Task<Void, Never>?, cancelled: Bool)>((nil, false))

    func set(_ task: Task<Void, Never>) {
        let cancelled = self.task.withLock { state in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() }
    }

    func cancel() {
        task.withLock { state in
            state.cancelled = true
            return state.task
        }?.cancel()
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
        // Each part is percent-decoded exactly once (URLComponents' decoded accessors would let a second
        // decoding turn "50%25off" into no password at all).
        func decoded(_ part: String?, _ name: String) throws -> String? {
            guard let part else { return nil }
            guard let value = part.removingPercentEncoding else { throw Invalid(description: "the \(name) has a malformed %-escape") }
            return value
        }
        guard components.fragment == nil else { throw Invalid(description: "the URL has a #fragment") }
        guard let host = try decoded(components.percentEncodedHost, "host"), !host.isEmpty else {
            throw Invalid(description: "the URL names no host")
        }
        guard !host.contains(where: { $0 == "/" || $0 == "," }) else {
            throw Invalid(description: "one TCP host is supported (no socket directories, no host lists)")
        }
        if let port = components.port, !(1...65535).contains(port) { throw Invalid(description: "port \(port) is out of range") }
        // No user: the operating-system user, as libpq does.
        guard let user = try decoded(components.percentEncodedUser, "user").flatMap({ $0.isEmpty ? nil : $0 }) ?? PostgresURL.processUser else {
            throw Invalid(description: "the URL names no user")
        }
        let path = String(components.percentEncodedPath.drop(while: { $0 == "/" }))
        guard let database = try decoded(path, "database"), !database.isEmpty, !path.contains("/") else {
            throw Invalid(description: "the URL names no database (…/DBNAME)")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.user = user
        self.password = try decoded(components.percentEncodedPassword, "password")
        self.database = database
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
            case "password":
                // Named, not echoed: the value is a secret.
                throw Invalid(description: "give the password in the URL's user part (user:password@host), not as a parameter")
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

    /// TLS settings by `sslmode`: unverified for prefer and require (as libpq), verified for verify-full.
    private func tlsConfiguration() -> TLSConfiguration? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch tls {
        case .disable: return nil
        case .prefer, .require: configuration.certificateVerification = .none
        case .verifyFull: if let rootCertificatePath { configuration.trustRoots = .file(rootCertificatePath) }
        }
        return configuration
    }

    func clientConfiguration() -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch (self.tls, tlsConfiguration()) {
        case (.prefer, let configuration?): .prefer(configuration)
        case (_, let configuration?): .require(configuration)
        case (_, nil): .disable
        }
        return PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    /// For one connection of its own; loading the TLS context here reports a bad `sslrootcert` as itself.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        if let configuration = tlsConfiguration() {
            let context = try NIOSSLContext(configuration: configuration)
            tls = self.tls == .prefer ? .prefer(context) : .require(context)
        } else {
            tls = .disable
        }
        return PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
    }
}
