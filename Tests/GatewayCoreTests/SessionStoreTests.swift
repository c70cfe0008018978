import Logging
import Foundation
import GRDB
import NIOCore
import NIOPosix
import Testing
@testable import GatewayCore

/// The session stores (docs/http.md#tokens): round trips, compare-and-set updates, rotation history, revocation,
/// purging and `ping` as the readiness probe, on SQLite and on PostgreSQL alike; persistence, file mode and
/// locking on SQLite. One fresh database per test.
struct SessionStoreTests {
    typealias S = AuthTestSupport
    static let login = UnixTime(milliseconds: 1_750_000_000_000)
    static let day = Duration.seconds(86_400)

    static func session(id: String = "sid-1", userID: JSONValue = .integer(42), claims: [String: JSONValue] = [:]) -> Session {
        Session(
            id: id, userID: userID, claims: claims, createdAt: login, expiresAt: login + day,
            maxExpiresAt: login + day * 30, refreshJTI: "R1",
            access: AccessLineage(jti: "A1", issuedAt: login, expiresAt: login + .seconds(300))
        )
    }

    static func change(refresh: String? = nil, access: String, at now: UnixTime, expiresAt: UnixTime? = nil) -> SessionChange {
        let issuedAt = UnixTime(seconds: now.seconds)
        return SessionChange(
            newRefreshJTI: refresh,
            newAccess: AccessLineage(jti: access, issuedAt: issuedAt, expiresAt: issuedAt + .seconds(300)),
            expiresAt: expiresAt ?? now + day
        )
    }

    /// Which store a contract test runs on: every `SessionStore` obeys the same rules.
    enum StoreKind: String, CustomTestStringConvertible, CaseIterable, Sendable {
        case sqlite, postgres
        var testDescription: String { rawValue }
        /// PostgreSQL when the test script started one (it always does; see `PostgresTestDatabase`).
        static var available: [StoreKind] { PostgresTestDatabase.isAvailable ? allCases : [.sqlite] }
    }

    /// A store of `kind` on a fresh database (temp file; PostgreSQL database), handed to `body`, then closed and dropped.
    static func withStore(_ kind: StoreKind, _ body: (any SessionStore) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            try await withStore { store, _ in try await body(store) }
        case .postgres:
            try await PostgresTestDatabase.with { url in
                let store = try await PostgresTestDatabase.store(url)
                do {
                    try await body(store)
                } catch {
                    try? await store.close()
                    throw error
                }
                try await store.close()
            }
        }
    }

    /// A store on a fresh temp file, handed to `body`, closed and deleted afterwards.
    static func withStore(_ body: (SQLiteSessionStore, String) async throws -> Void) async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let path = dir + "/gateway.db"
        let store = try SQLiteSessionStore(path: path)
        do {
            try await body(store, path)
        } catch {
            try? await store.close()
            throw error
        }
        try? await store.close()
    }

    // MARK: - create / read

    @Test(arguments: StoreKind.available) func roundTripWithIntegerUserIdAndClaims(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            let session = Self.session(claims: [
                "role": .string("admin"), "scope": .string("read write"), "level": .integer(3),
                "flags": .array([.bool(true), .null]), "org": .object(["id": .integer(7)]),
            ])
            try await store.create(session)
            let read = try #require(try await store.session(id: "sid-1"))
            #expect(read == session)
            #expect(read.userID == .integer(42))
        }
    }

    @Test(arguments: StoreKind.available) func roundTripWithStringUserId(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            // A string that looks like a number stays a string.
            for (id, user) in [("s-a", JSONValue.string("u-7")), ("s-b", .string("42")), ("s-c", .string(""))] {
                let session = Self.session(id: id, userID: user)
                try await store.create(session)
                #expect(try await store.session(id: id) == session)
            }
        }
    }

    @Test(arguments: StoreKind.available) func optionalFieldsRoundTrip(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            var session = Self.session()
            session.revokedAt = Self.login + .milliseconds(5)
            session.previousAccessJTI = "A0"
            session.accessReplacedAt = Self.login + .milliseconds(3)
            try await store.create(session)
            #expect(try await store.session(id: "sid-1") == session)
        }
    }

    @Test(arguments: StoreKind.available) func unknownSessionIsNil(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            #expect(try await store.session(id: "nope") == nil)
        }
    }

    // MARK: - update: compare-and-set

    @Test(arguments: StoreKind.available) func updateSucceedsOnceWithTheRightExpectation(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            #expect(try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R3", access: "A3", at: now), now: now))
            let read = try #require(try await store.session(id: "sid-1"))
            #expect(read.refreshJTI == "R2")
            #expect(read.access.jti == "A2")
        }
    }

    @Test(arguments: StoreKind.available) func accessExpectationIsCompareAndSetToo(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: now), now: now))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A3", at: now), now: now))
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A2"), change: Self.change(access: "A3", at: now), now: now))
            #expect(try await store.session(id: "sid-1")?.access.jti == "A3")
        }
    }

    @Test(arguments: StoreKind.available) func wrongExpectationChangesNothing(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            let session = Self.session()
            try await store.create(session)
            let now = Self.login + .milliseconds(1000)
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("A1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .accessJTI("R1"), change: Self.change(access: "A2", at: now), now: now))
            #expect(try await !store.update(sessionID: "other", expecting: .refreshJTI("R1"), change: Self.change(access: "A2", at: now), now: now))
            #expect(try await store.session(id: "sid-1") == session)
        }
    }

    // MARK: - refresh rotation history

    @Test(arguments: StoreKind.available) func rotationRecordsTheReplacedRefreshJTI(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            try await store.create(Self.session(id: "sid-2"))
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            let now = Self.login + .milliseconds(1000)
            #expect(try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now))
            #expect(try await store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            #expect(try await !store.wasReplaced(refreshJTI: "R2", sessionID: "sid-1"))
            // Scoped to its session.
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-2"))
        }
    }

    /// docs/http.md#refresh: the history keeps what the rotation handed out (the successor's id and expiry, capped at the
    /// session's maximum like the session's own, and the access token), so a duplicate can get the same answer.
    @Test(arguments: StoreKind.available) func rotationRecordsWhatReplacedTheToken(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1500)
            let change = Self.change(refresh: "R2", access: "A2", at: now, expiresAt: Self.login + Self.day * 365)
            #expect(try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: change, now: now))
            let replacement = try #require(try await store.replacement(ofRefreshJTI: "R1", sessionID: "sid-1"))
            #expect(replacement == RefreshReplacement(replacedAt: now, successorRefreshJTI: "R2",
                                                      successorExpiresAt: Self.login + Self.day * 30, access: change.newAccess))
            #expect(try await store.replacement(ofRefreshJTI: "R2", sessionID: "sid-1") == nil)
        }
    }

    @Test(arguments: StoreKind.available) func failedCompareAndSetRecordsNothing(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("WRONG"), change: Self.change(refresh: "R9", access: "A9", at: now), now: now))
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            #expect(try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now))
            // A stale rotation must not put the current refresh token into the history.
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R3", access: "A3", at: now), now: now))
            #expect(try await !store.wasReplaced(refreshJTI: "R2", sessionID: "sid-1"))
            #expect(try await store.session(id: "sid-1")?.refreshJTI == "R2")
        }
    }

    @Test(arguments: StoreKind.available) func accessOnlyChangeDoesNotRotateTheRefreshToken(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: now), now: now))
            #expect(try await store.session(id: "sid-1")?.refreshJTI == "R1")
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
        }
    }

    // MARK: - access lineage and expiry

    @Test(arguments: StoreKind.available) func accessAdvanceMovesLatestToPrevious(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(400_000)
            let change = Self.change(access: "A2", at: now)
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: change, now: now))
            let read = try #require(try await store.session(id: "sid-1"))
            #expect(read.access == change.newAccess)
            #expect(read.previousAccessJTI == "A1")
            #expect(read.accessReplacedAt == now)
            #expect(read.expiresAt == change.expiresAt)
            #expect(read.createdAt == Self.login)
            #expect(read.maxExpiresAt == Self.login + Self.day * 30)

            let later = now + .milliseconds(5000)
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A2"), change: Self.change(access: "A3", at: later), now: later))
            let again = try #require(try await store.session(id: "sid-1"))
            #expect(again.previousAccessJTI == "A2")
            #expect(again.accessReplacedAt == later)
        }
    }

    @Test(arguments: StoreKind.available) func expiryIsCappedAtMaxExpiresAt(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            let change = Self.change(access: "A2", at: now, expiresAt: Self.login + Self.day * 365)
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: change, now: now))
            #expect(try await store.session(id: "sid-1")?.expiresAt == Self.login + Self.day * 30)
        }
    }

    @Test(arguments: StoreKind.available) func updateOnARevokedSessionFails(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            #expect(try await store.revoke(sessionID: "sid-1", at: now))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: now), now: now + .milliseconds(1)))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now + .milliseconds(1)))
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            #expect(try await store.session(id: "sid-1")?.access.jti == "A1")
        }
    }

    @Test(arguments: StoreKind.available) func updateOnAnExpiredSessionFails(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let end = Self.login + Self.day
            #expect(try await !store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: end), now: end))
            #expect(try await !store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: end + .milliseconds(1)), now: end + .milliseconds(1)))
            #expect(try await !store.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            // One millisecond earlier it is still alive.
            #expect(try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: end - .milliseconds(1)), now: end - .milliseconds(1)))
        }
    }

    // MARK: - revoke

    @Test(arguments: StoreKind.available) func revokeIsIdempotentAndKeepsTheFirstTime(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            #expect(try await store.revoke(sessionID: "sid-1", at: Self.login + .milliseconds(100)))
            #expect(try await store.revoke(sessionID: "sid-1", at: Self.login + .milliseconds(200)))
            #expect(try await store.session(id: "sid-1")?.revokedAt == Self.login + .milliseconds(100))
        }
    }

    @Test(arguments: StoreKind.available) func revokeOfAnUnknownSessionIsFalse(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            #expect(try await !store.revoke(sessionID: "nope", at: Self.login))
            #expect(try await store.session(id: "sid-1")?.revokedAt == nil)
        }
    }

    // MARK: - concurrency

    @Test(arguments: StoreKind.available) func fiftyConcurrentUpdatesWithOneExpectationHaveOneWinner(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session())
            let now = Self.login + .milliseconds(1000)
            let winners = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let ok = try await store.update(
                            sessionID: "sid-1", expecting: .accessJTI("A1"),
                            change: Self.change(refresh: "R-\(i)", access: "A-\(i)", at: now), now: now
                        )
                        return (i, ok)
                    }
                }
                var winners: [Int] = []
                for try await (i, ok) in group where ok { winners.append(i) }
                return winners
            }
            #expect(winners.count == 1)
            let read = try #require(try await store.session(id: "sid-1"))
            if let winner = winners.first {
                #expect(read.access.jti == "A-\(winner)")
                #expect(read.refreshJTI == "R-\(winner)")
            }
            #expect(read.previousAccessJTI == "A1")
        }
    }

    @Test func readsAndWritesOnAClosedStoreAreStoreUnavailable() async throws {
        try await Self.withStore { store, _ in
            try await store.create(Self.session())
            try await store.close()
            await #expect(throws: StoreUnavailable.self) { try await store.session(id: "sid-1") }
            let now = Self.login + .milliseconds(1000)
            await #expect(throws: StoreUnavailable.self) {
                try await store.update(sessionID: "sid-1", expecting: .accessJTI("A1"), change: Self.change(access: "A2", at: now), now: now)
            }
        }
    }

    // MARK: - durability and files

    @Test func dataSurvivesReopening() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let path = dir + "/gateway.db"
        let now = Self.login + .milliseconds(1000)
        let first = try SQLiteSessionStore(path: path)
        try await first.create(Self.session(claims: ["role": .string("admin")]))
        #expect(try await first.update(sessionID: "sid-1", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: now), now: now))
        try await first.create(Self.session(id: "sid-2", userID: .string("u-2")))
        #expect(try await first.revoke(sessionID: "sid-2", at: now))
        let before = try await first.session(id: "sid-1")
        try await first.close()

        let second = try SQLiteSessionStore(path: path)
        let after = try #require(try await second.session(id: "sid-1"))
        #expect(after == before)
        #expect(after.refreshJTI == "R2")
        #expect(after.claims == ["role": .string("admin")])
        #expect(try await second.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
        #expect(try await second.session(id: "sid-2")?.revokedAt == now)
        try await second.close()
    }

    @Test func databaseFileIsMode0600() async throws {
        try await Self.withStore { store, path in
            try await store.create(Self.session())
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                let m = try FileManager.default.attributesOfItem(atPath: path + suffix)[.posixPermissions] as? NSNumber
                #expect(m?.intValue == 0o600, "\(suffix)")
            }
        }
    }

    @Test func storeInAMissingFolderIsCreated() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let store = try SQLiteSessionStore(path: dir + "/var/db/gateway.db")
        try await store.create(Self.session())
        #expect(try await store.session(id: "sid-1") != nil)
        try await store.close()
    }

    @Test func unopenablePathThrowsStoreUnavailable() throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        try "a file".write(toFile: dir + "/plain", atomically: true, encoding: .utf8)
        #expect(throws: StoreUnavailable.self) {
            _ = try SQLiteSessionStore(path: dir + "/plain/gateway.db")
        }
    }

    // MARK: - ping

    @Test(arguments: StoreKind.available) func pingSucceedsOnAnOpenStore(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.ping()
        }
    }

    @Test func pingThrowsWhileAnotherConnectionHoldsAnExclusiveLockAndRecoversAfter() async throws {
        try await Self.withStore { store, path in
            try await store.create(Self.session())
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let locker = try DatabaseQueue(path: path, configuration: configuration)
            try await locker.writeWithoutTransaction { db in try db.execute(sql: "BEGIN EXCLUSIVE") }
            await #expect(throws: StoreUnavailable.self) {
                try await store.ping()
            }
            // Writes fail the same way: an outage, reported, not a hang.
            await #expect(throws: StoreUnavailable.self) {
                try await store.revoke(sessionID: "sid-1", at: Self.login)
            }
            try await locker.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            try locker.close()
            try await store.ping()
            #expect(try await store.revoke(sessionID: "sid-1", at: Self.login))
        }
    }

    @Test func pingThrowsAfterClose() async throws {
        let dir = try S.temporaryDirectory()
        defer { S.removeDirectory(dir) }
        let store = try SQLiteSessionStore(path: dir + "/gateway.db")
        try await store.close()
        await #expect(throws: (any Error).self) {
            try await store.ping()
        }
    }

    // MARK: - purge

    @Test(arguments: StoreKind.available) func purgeRemovesOnlySessionsThatEndedBeforeTheCutoff(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            try await store.create(Self.session(id: "live"))
            var expired = Self.session(id: "expired")
            expired.expiresAt = Self.login + .milliseconds(1000)
            try await store.create(expired)
            try await store.create(Self.session(id: "revoked"))
            try await store.revoke(sessionID: "revoked", at: Self.login + .milliseconds(2000))
            _ = try await store.update(sessionID: "revoked", expecting: .refreshJTI("R1"), change: Self.change(refresh: "R2", access: "A2", at: Self.login), now: Self.login)

            let removed = try await store.purge(endedBefore: Self.login + .milliseconds(5000))
            #expect(removed == 2)
            #expect(try await store.session(id: "live") != nil)
            #expect(try await store.session(id: "expired") == nil)
            #expect(try await store.session(id: "revoked") == nil)
            #expect(try await store.purge(endedBefore: Self.login + .milliseconds(5000)) == 0)
        }
    }

    @Test(arguments: StoreKind.available) func janitorSweepPurgesPastTheRetention(_ kind: StoreKind) async throws {
        try await Self.withStore(kind) { store in
            var ended = Self.session(id: "ended")
            ended.expiresAt = Self.login
            try await store.create(ended)
            let janitor = SessionJanitor(store: store, clock: .fixed(Self.login + Self.day - .milliseconds(1)), retention: .seconds(86_400), logger: Logger(label: "test"))
            await janitor.sweep()
            #expect(try await store.session(id: "ended") != nil, "kept within the retention")
            let later = SessionJanitor(store: store, clock: .fixed(Self.login + Self.day + .milliseconds(1)), retention: .seconds(86_400), logger: Logger(label: "test"))
            await later.sweep()
            #expect(try await store.session(id: "ended") == nil)
        }
    }
}
