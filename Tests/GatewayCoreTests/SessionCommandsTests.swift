import Testing
@testable import GatewayCore

/// `gateway sessions list|revoke` (docs/operations.md#sessions-from-the-command-line): listing by user, of everyone and with the ended ones, revoking by user
/// and by session, on SQLite and on PostgreSQL alike (the store contract suite's stores); which stored user ids an
/// operator's `--user` matches; the `--json` line and the table.
struct SessionCommandsTests {
    typealias Store = SessionStoreTests
    static let login = SessionStoreTests.login

    /// A session of `user` created `minutes` after `login`.
    static func session(_ id: String, user: JSONValue, minutes: Int64 = 0) -> Session {
        var session = Store.session(id: id, userID: user)
        session.createdAt = login + .seconds(60 * minutes)
        return session
    }

    static func ids(_ sessions: [Session]) -> [String] { sessions.map(\.id) }

    // MARK: - which user ids `--user` matches

    @Test func aCanonicalIntegerMatchesTheIntegerAndTheStringForm() {
        #expect(StoredUserIDs(matching: "42").texts == ["42", #""42""#])
        #expect(StoredUserIDs(matching: "-3").texts == ["-3", #""-3""#])
    }

    @Test func anythingElseMatchesTheStringOnly() {
        #expect(StoredUserIDs(matching: "u-7").texts == [#""u-7""#])
        #expect(StoredUserIDs(matching: "042").texts == [#""042""#])
        #expect(StoredUserIDs(matching: "+42").texts == [#""+42""#])
        #expect(StoredUserIDs(matching: #"a"b"#).texts == [#""a\"b""#])
    }

    @Test func theTextsAreTheStoresOwn() {
        // The store keys sessions by `JSONValue.jsonText` of the id the API gave.
        #expect(StoredUserIDs(matching: "42").texts == [JSONValue.integer(42).jsonText, JSONValue.string("42").jsonText])
    }

    // MARK: - list

    @Test(arguments: Store.StoreKind.available) func listByUserFindsTheIntegerAndTheStringIdOldestFirst(_ kind: Store.StoreKind) async throws {
        try await Store.withStore(kind) { store in
            try await store.create(Self.session("as-string", user: .string("42"), minutes: 2))
            try await store.create(Self.session("as-integer", user: .integer(42), minutes: 1))
            try await store.create(Self.session("other", user: .string("u-7"), minutes: 3))
            try await store.create(Self.session("near", user: .integer(420), minutes: 4))
            let now = Self.login + .seconds(600)
            let of42 = try await store.sessions(of: StoredUserIDs(matching: "42"), includeEnded: false, at: now)
            #expect(Self.ids(of42) == ["as-integer", "as-string"])
            #expect(of42.first?.userID == .integer(42) && of42.last?.userID == .string("42"))
            #expect(Self.ids(try await store.sessions(of: StoredUserIDs(matching: "u-7"), includeEnded: false, at: now)) == ["other"])
            #expect(try await store.sessions(of: StoredUserIDs(matching: "7"), includeEnded: false, at: now).isEmpty)
            #expect(Self.ids(try await store.sessions(of: nil, includeEnded: false, at: now)) == ["as-integer", "as-string", "other", "near"])
        }
    }

    @Test(arguments: Store.StoreKind.available) func listLeavesOutRevokedAndExpiredSessionsUnlessAsked(_ kind: Store.StoreKind) async throws {
        try await Store.withStore(kind) { store in
            var expired = Self.session("expired", user: .integer(42), minutes: 1)
            expired.expiresAt = Self.login + .seconds(300)
            try await store.create(expired)
            try await store.create(Self.session("revoked", user: .integer(42), minutes: 2))
            try await store.create(Self.session("live", user: .integer(42), minutes: 3))
            try await store.revoke(sessionID: "revoked", at: Self.login + .seconds(400))
            let now = Self.login + .seconds(600)
            for user in [StoredUserIDs(matching: "42"), nil] {
                #expect(Self.ids(try await store.sessions(of: user, includeEnded: false, at: now)) == ["live"])
                let all = try await store.sessions(of: user, includeEnded: true, at: now)
                #expect(Self.ids(all) == ["expired", "revoked", "live"])
                #expect(all.map(\.revokedAt) == [nil, Self.login + .seconds(400), nil])
            }
        }
    }

    // MARK: - revoke

    @Test(arguments: Store.StoreKind.available) func revokeByUserEndsEveryUnrevokedSessionOfBothFormsOnly(_ kind: Store.StoreKind) async throws {
        try await Store.withStore(kind) { store in
            try await store.create(Self.session("a", user: .integer(42)))
            try await store.create(Self.session("b", user: .string("42")))
            try await store.create(Self.session("earlier", user: .integer(42)))
            try await store.create(Self.session("other", user: .integer(43)))
            try await store.revoke(sessionID: "earlier", at: Self.login + .seconds(1))
            let commands = SessionCommands(store: store, clock: .fixed(Self.login + .seconds(2)))
            #expect(try await commands.revoke(.user(StoredUserIDs(matching: "42"))) == 2)
            #expect(try await commands.revoke(.user(StoredUserIDs(matching: "42"))) == 0, "nothing left to revoke")
            #expect(try await store.session(id: "a")?.revokedAt == Self.login + .seconds(2))
            #expect(try await store.session(id: "b")?.revokedAt == Self.login + .seconds(2))
            #expect(try await store.session(id: "earlier")?.revokedAt == Self.login + .seconds(1), "the first revocation time stays")
            #expect(try await store.session(id: "other")?.revokedAt == nil)
            // Other gateways learn of it as of a logout (docs/operations.md#revocation).
            #expect(Set(try await store.revokedSince(Self.login + .seconds(2)).map(\.sessionID)) == ["a", "b"])
        }
    }

    @Test(arguments: Store.StoreKind.available) func revokeBySessionCountsOnlyASessionItRevoked(_ kind: Store.StoreKind) async throws {
        try await Store.withStore(kind) { store in
            try await store.create(Self.session("one", user: .integer(42)))
            try await store.create(Self.session("two", user: .integer(42)))
            let commands = SessionCommands(store: store, clock: .fixed(Self.login + .seconds(5)))
            #expect(try await commands.revoke(.session("one")) == 1)
            #expect(try await commands.revoke(.session("one")) == 0)
            #expect(try await commands.revoke(.session("missing")) == 0)
            #expect(try await store.session(id: "one")?.revokedAt == Self.login + .seconds(5))
            #expect(try await store.session(id: "two")?.revokedAt == nil)
        }
    }

    /// The logout of every session (docs/http.md#the-gateways-own-endpoints `{"all": true}`) shares the statement with `revoke --user`; it keeps
    /// matching the stored id exactly, as the token's session has it.
    @Test(arguments: Store.StoreKind.available) func logoutOfAllSessionsMatchesTheStoredIdExactly(_ kind: Store.StoreKind) async throws {
        try await Store.withStore(kind) { store in
            try await store.create(Self.session("a", user: .integer(42)))
            try await store.create(Self.session("b", user: .integer(42)))
            try await store.create(Self.session("string", user: .string("42")))
            try await store.create(Self.session("done", user: .integer(42)))
            try await store.revoke(sessionID: "done", at: Self.login)
            let revoked = try await store.revokeAll(sessionsOfUserIn: "a", at: Self.login + .seconds(1))
            #expect(Set(revoked) == ["a", "b"])
            #expect(try await store.session(id: "string")?.revokedAt == nil)
            #expect(try await store.revokeAll(sessionsOfUserIn: "missing", at: Self.login).isEmpty)
        }
    }

    // MARK: - output

    @Test func aJSONLineHasTheFiveKeysInOrderWithRFC3339Times() {
        var session = Self.session("s-1", user: .integer(42))
        #expect(SessionCommands.jsonLine(session)
            == #"{"sid":"s-1","user_id":42,"created_at":"2025-06-15T15:06:40Z","expires_at":"2025-06-16T15:06:40Z","revoked_at":null}"#)
        session.userID = .string("u-7")
        session.revokedAt = Self.login + .milliseconds(90_500)
        #expect(SessionCommands.jsonLine(session)
            == #"{"sid":"s-1","user_id":"u-7","created_at":"2025-06-15T15:06:40Z","expires_at":"2025-06-16T15:06:40Z","revoked_at":"2025-06-15T15:08:10Z"}"#)
        #expect(JSONValue.parse(Array(SessionCommands.jsonLine(session).utf8)) != nil)
    }

    @Test func theTableAlignsColumnsAndNamesEachSessionsState() {
        var revoked = Self.session("s-revoked", user: .string("u-7"))
        revoked.revokedAt = Self.login + .seconds(10)
        var expired = Self.session("s-2", user: .integer(42))
        expired.expiresAt = Self.login + .seconds(60)
        let lines = SessionCommands.table([Self.session("s-1", user: .integer(42)), revoked, expired], now: Self.login + .seconds(120))
        #expect(lines == [
            "SID        USER  STATE    CREATED               EXPIRES               REVOKED",
            "s-1        42    live     2025-06-15T15:06:40Z  2025-06-16T15:06:40Z  -",
            "s-revoked  u-7   revoked  2025-06-15T15:06:40Z  2025-06-16T15:06:40Z  2025-06-15T15:06:50Z",
            "s-2        42    expired  2025-06-15T15:06:40Z  2025-06-15T15:07:40Z  -",
        ])
        #expect(SessionCommands.table([], now: Self.login) == ["SID  USER  STATE  CREATED  EXPIRES  REVOKED"])
    }
}
