import Foundation
import GRDB
import NIOPosix

/// The embedded session store: one SQLite file in WAL mode, schema versioned by GRDB migrations.
/// Each operation is one transaction; updates are compare-and-set `UPDATE … WHERE` statements.
/// Times are stored as integers: milliseconds, but seconds for the access token's `iat`/`exp`.
public final class SQLiteSessionStore: SessionStore {
    private let pool: DatabasePool
    private let threads: NIOThreadPool
    public let path: String

    /// Opens (creating if needed, unless `create` is false) the database at `path` and migrates it.
    /// `create: false` is for the command line (docs/operations.md#sessions-from-the-command-line): a tool run, perhaps as another user, must not leave
    /// a database of its own where the gateway expects to create one.
    public init(path: String, create: Bool = true) throws {
        self.path = path
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw StoreUnavailable("cannot open SQLite store \(path): no such file (the gateway creates it when it starts)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        // Create the file 0600 first: SQLite gives its -wal and -shm files the same mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { Glibc.close(fd) }
        var config = Configuration()
        // A locked database is an outage to report (503), not a reason to hang requests.
        config.busyMode = .timeout(1)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit survives the process being killed (kill -9); fsync at checkpoints.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try SQLiteSessionStore.migrator.migrate(pool)
        } catch {
            throw StoreUnavailable("cannot open SQLite store \(path): \(error)")
        }
        threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sessions") { db in
            try db.execute(sql: """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY NOT NULL,
                    user_id TEXT NOT NULL,            -- JSON value as the upstream gave it
                    claims TEXT NOT NULL,             -- JSON object
                    created_at INTEGER NOT NULL,      -- ms since the epoch
                    expires_at INTEGER NOT NULL,
                    max_expires_at INTEGER NOT NULL,
                    revoked_at INTEGER,
                    refresh_jti TEXT NOT NULL,
                    access_jti TEXT NOT NULL,
                    access_iat INTEGER NOT NULL,      -- seconds
                    access_exp INTEGER NOT NULL,
                    previous_access_jti TEXT,
                    access_replaced_at INTEGER        -- ms
                );
                CREATE TABLE replaced_refresh_tokens (
                    jti TEXT PRIMARY KEY NOT NULL,
                    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                    replaced_at INTEGER NOT NULL
                );
                CREATE INDEX replaced_refresh_tokens_session ON replaced_refresh_tokens(session_id);
                CREATE INDEX sessions_expires_at ON sessions(expires_at);
                """)
        }
        // docs/operations.md#revocation: other gateways' revocations are read by time; a logout of all sessions finds them by user.
        migrator.registerMigration("v2-revocations") { db in
            try db.execute(sql: """
                CREATE INDEX sessions_revoked_at ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
                CREATE INDEX sessions_user_id ON sessions(user_id);
                """)
        }
        // docs/http.md#refresh: what each rotation handed out, to answer a duplicate the same way.
        migrator.registerMigration("v3-refresh-replacements") { db in
            try db.execute(sql: """
                ALTER TABLE replaced_refresh_tokens ADD COLUMN successor_refresh_jti TEXT;
                ALTER TABLE replaced_refresh_tokens ADD COLUMN successor_expires_at INTEGER;  -- ms
                ALTER TABLE replaced_refresh_tokens ADD COLUMN access_jti TEXT;
                ALTER TABLE replaced_refresh_tokens ADD COLUMN access_iat INTEGER;            -- seconds
                ALTER TABLE replaced_refresh_tokens ADD COLUMN access_exp INTEGER;
                """)
        }
        return migrator
    }

    public func create(_ session: Session) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO sessions (id, user_id, claims, created_at, expires_at, max_expires_at, revoked_at,
                    refresh_jti, access_jti, access_iat, access_exp, previous_access_jti, access_replaced_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                arguments: [
                    session.id, session.userID.jsonText, JSONValue.object(session.claims).jsonText,
                    session.createdAt.milliseconds, session.expiresAt.milliseconds, session.maxExpiresAt.milliseconds,
                    session.revokedAt?.milliseconds, session.refreshJTI, session.access.jti,
                    session.access.issuedAt.seconds, session.access.expiresAt.seconds,
                    session.previousAccessJTI, session.accessReplacedAt?.milliseconds,
                ])
        }
    }

    public func session(id: String) async throws -> Session? {
        try await read { db in try SQLiteSessionStore.fetchSession(db, id: id) }
    }

    static func fetchSession(_ db: Database, id: String) throws -> Session? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE id = ?", arguments: [id]) else { return nil }
        return SQLiteSessionStore.session(from: row)
    }

    public func replacement(ofRefreshJTI jti: String, sessionID: String) async throws -> RefreshReplacement? {
        try await read { db in
            try Row.fetchOne(db, sql: """
                SELECT replaced_at, successor_refresh_jti, successor_expires_at, access_jti, access_iat, access_exp
                FROM replaced_refresh_tokens WHERE jti = ? AND session_id = ?
                """, arguments: [jti, sessionID]).map { row in
                RefreshReplacement(
                    replacedAt: UnixTime(milliseconds: row["replaced_at"]), successorRefreshJTI: row["successor_refresh_jti"],
                    successorExpiresAt: (row["successor_expires_at"] as Int64?).map(UnixTime.init(milliseconds:)),
                    access: AccessLineage(storedJTI: row["access_jti"], issuedAt: row["access_iat"], expiresAt: row["access_exp"]))
            }
        }
    }

    public func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: UnixTime) async throws -> Bool {
        try await write { db in
            try SQLiteSessionStore.apply(change, to: sessionID, expecting: expectation, now: now, in: db)
        }
    }

    /// The compare-and-set of `update`: one transaction; true when the row matched and changed.
    static func apply(_ change: SessionChange, to sessionID: String, expecting expectation: SessionExpectation, now: UnixTime,
                      in db: Database) throws -> Bool {
        let now = now.milliseconds
        let (column, expected): (String, String) = switch expectation {
        case .refreshJTI(let jti): ("refresh_jti", jti)
        case .accessJTI(let jti): ("access_jti", jti)
        }
        if let newRefresh = change.newRefreshJTI {
            // Record the id being replaced, but only if the row still matches (same transaction).
            // With what replaced it, so a duplicate within refresh_reuse_interval gets the same answer (docs/http.md#refresh).
            try db.execute(sql: """
                INSERT OR IGNORE INTO replaced_refresh_tokens
                    (jti, session_id, replaced_at, successor_refresh_jti, successor_expires_at, access_jti, access_iat, access_exp)
                SELECT refresh_jti, id, ?, ?, MIN(?, max_expires_at), ?, ?, ? FROM sessions
                WHERE id = ? AND \(column) = ? AND revoked_at IS NULL AND expires_at > ? AND refresh_jti != ?
                """, arguments: [now, newRefresh, change.expiresAt.milliseconds, change.newAccess.jti,
                                 change.newAccess.issuedAt.seconds, change.newAccess.expiresAt.seconds,
                                 sessionID, expected, now, newRefresh])
        }
        try db.execute(sql: """
            UPDATE sessions SET
                refresh_jti = COALESCE(?, refresh_jti),
                previous_access_jti = access_jti,
                access_replaced_at = ?,
                access_jti = ?, access_iat = ?, access_exp = ?,
                expires_at = MIN(?, max_expires_at)
            WHERE id = ? AND \(column) = ? AND revoked_at IS NULL AND expires_at > ?
            """,
            arguments: [
                change.newRefreshJTI, now, change.newAccess.jti, change.newAccess.issuedAt.seconds,
                change.newAccess.expiresAt.seconds, change.expiresAt.milliseconds, sessionID, expected, now,
            ])
        return db.changesCount == 1
    }

    @discardableResult
    public func revoke(sessionID: String, at now: UnixTime) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now.milliseconds, sessionID])
            return db.changesCount == 1
        }
    }

    public func revokeAll(sessionsOfUserIn sessionID: String, at now: UnixTime) async throws -> [String] {
        try await revokeAll(whereUserID: "= (SELECT user_id FROM sessions WHERE id = ?)", [sessionID], at: now)
    }

    public func revokeAll(sessionsOf user: StoredUserIDs, at now: UnixTime) async throws -> [String] {
        try await revokeAll(whereUserID: "IN (\(Self.placeholders(user.texts.count)))", user.texts, at: now)
    }

    /// Revokes the sessions not revoked yet whose `user_id` meets `condition` (bound to `values`); returns their ids.
    private func revokeAll(whereUserID condition: String, _ values: [String], at now: UnixTime) async throws -> [String] {
        try await write { db in
            try String.fetchAll(db, sql: """
                UPDATE sessions SET revoked_at = ?
                WHERE user_id \(condition) AND revoked_at IS NULL
                RETURNING id
                """, arguments: StatementArguments([now.milliseconds]) + StatementArguments(values))
        }
    }

    public func sessions(of user: StoredUserIDs?, includeEnded: Bool, at now: UnixTime) async throws -> [Session] {
        let texts = user?.texts ?? []
        var conditions: [String] = [], values: [Int64] = []
        if user != nil { conditions.append("user_id IN (\(Self.placeholders(texts.count)))") }
        if !includeEnded {
            conditions.append("revoked_at IS NULL AND expires_at > ?")
            values.append(now.milliseconds)
        }
        let sql = "SELECT * FROM sessions " + (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY created_at, id"
        return try await read { [texts, values] db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(texts) + StatementArguments(values))
                .map(SQLiteSessionStore.session(from:))
        }
    }

    /// `?, ?, …`: `count` of them.
    private static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    public func revokedSince(_ since: UnixTime) async throws -> [(sessionID: String, revokedAt: UnixTime)] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?", arguments: [since.milliseconds])
                .map { (sessionID: $0["id"], revokedAt: UnixTime(milliseconds: $0["revoked_at"])) }
        }
    }

    public func ping() async throws {
        // A write, so a locked or read-only database reports as unavailable.
        try await write { db in try db.execute(sql: "UPDATE sessions SET id = id WHERE 0") }
    }

    public func close() async throws {
        try await threads.shutdownGracefully()
        try pool.close()
    }

    public func purge(endedBefore cutoff: UnixTime) async throws -> Int {
        let cutoff = cutoff.milliseconds
        return try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)", arguments: [cutoff, cutoff])
            return db.changesCount
        }
    }

    // MARK: helpers

    // GRDB's callback write and a synchronous read on a small thread pool of our own, awaited: lighter than GRDB's
    // async read and write (a reader-pool checkout and cancellation handling each). gateway-microbench's renewal
    // line, median of 3 on this (shared) machine: 1,855 -> 2,047 renewals/s.

    /// One transaction on GRDB's writer queue; this task waits without a thread.
    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, any Error>) in
            pool.asyncWrite({ db in try body(db) }, completion: { _, result in
                done.resume(with: result.mapError { StoreUnavailable("SQLite write failed: \($0)") })
            })
        }
    }

    /// A read on the store's own threads (SQLite blocks while it reads).
    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await threads.runIfActive { [pool] in try pool.read(body) }
        } catch {
            throw StoreUnavailable("SQLite read failed: \(error)")
        }
    }

    static func session(from row: Row) -> Session {
        let userText: String = row["user_id"]
        let claimsText: String = row["claims"]
        var claims: [String: JSONValue] = [:]
        if case .object(let object)? = JSONValue.parse(Array(claimsText.utf8)) { claims = object }
        return Session(
            id: row["id"],
            userID: JSONValue.parse(Array(userText.utf8)) ?? .string(userText),
            claims: claims,
            createdAt: UnixTime(milliseconds: row["created_at"]),
            expiresAt: UnixTime(milliseconds: row["expires_at"]),
            maxExpiresAt: UnixTime(milliseconds: row["max_expires_at"]),
            revokedAt: (row["revoked_at"] as Int64?).map(UnixTime.init(milliseconds:)),
            refreshJTI: row["refresh_jti"],
            access: AccessLineage(jti: row["access_jti"], issuedAt: UnixTime(seconds: row["access_iat"]),
                                  expiresAt: UnixTime(seconds: row["access_exp"])),
            previousAccessJTI: row["previous_access_jti"],
            accessReplacedAt: (row["access_replaced_at"] as Int64?).map(UnixTime.init(milliseconds:))
        )
    }
}
