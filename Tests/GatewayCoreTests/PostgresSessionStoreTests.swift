import Foundation
import Glibc
import Logging
import Testing
@testable import GatewayCore

/// `store.url = "postgres://…"` (docs/configuration.md): the URL's forms and errors, and what only a shared store has —
/// several gateways (store instances) on one database, and a database that does not answer. The rules every
/// store obeys run on PostgreSQL too, in `SessionStoreTests`.
struct PostgresSessionStoreTests {
    typealias T = SessionStoreTests

    // MARK: - the URL

    @Test func urlWithEveryPart() throws {
        let url = try PostgresURL("postgres://gw:p%40ss%3Aword@db.internal:6543/sessions?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.user == "gw")
        #expect(url.password == "p@ss:word")
        #expect(url.database == "sessions")
        #expect(url.tls == .verifyFull)
        #expect(url.rootCertificatePath == "/etc/ca.pem")
        #expect(url.redacted == "postgres://gw@db.internal:6543/sessions")
        #expect(!url.redacted.contains("p@ss"))
    }

    @Test func urlDefaultsFollowLibpq() throws {
        let url = try PostgresURL("postgresql://gw@127.0.0.1/db")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.tls == .prefer)
        // No user: the operating-system user, as libpq does.
        #expect(try PostgresURL("postgres://h:5432/db").user == PostgresURL.processUser)
        #expect(PostgresURL.processUser?.isEmpty == false)
        for mode in ["disable", "prefer", "require", "verify-full"] {
            #expect(try PostgresURL("postgres://gw@h/db?sslmode=\(mode)").tls.rawValue == mode)
        }
    }

    /// Each part is decoded once: a password that needs %-escapes arrives as written.
    @Test func urlPartsArePercentDecodedExactlyOnce() throws {
        let url = try PostgresURL("postgres://g%25w:50%25off%2541@h/d%25b")
        #expect(url.user == "g%w")
        #expect(url.password == "50%off%41")
        #expect(url.database == "d%b")
    }

    @Test(arguments: [
        ("postgres://gw@/db", "no host"),
        ("postgres://gw@h:99999/db", "out of range"),
        ("postgres://gw@h1,h2/db", "one TCP host"),
        ("postgres://gw@%2Fvar%2Frun%2Fpostgresql/db", "one TCP host"),
        ("postgres://gw@h/db#x", "fragment"),
        ("postgres://gw@h/db?password=hunter2", "user part"),
        ("postgres://gw@h:5432", "no database"),
        ("postgres://gw@h:5432/", "no database"),
        ("postgres://gw@h/db?sslmode=allow", "sslmode must be"),
        ("postgres://gw@h/db?sslmode=", "sslmode must be"),
        ("postgres://gw@h/db?search_path=x", "unknown URL parameter \"search_path\""),
        ("postgres://gw@h/db?sslrootcert=/ca.pem", "only used with sslmode=verify-full"),
        ("mysql://gw@h/db", "not a postgres://"),
    ])
    func urlErrorsNameTheProblem(_ text: String, _ message: String) {
        #expect {
            _ = try PostgresURL(text)
        } throws: { error in
            "\(error)".contains(message) && !"\(error)".contains("hunter2")
        }
    }

    /// The config error for a config whose store is `url`, or nil when it parses.
    static func configError(storeURL url: String) -> String? {
        let toml = """
            [store]
            url = "\(url)"

            [[upstreams]]
            name = "api"
            targets = ["http://127.0.0.1:9000"]

            [[routes]]
            path = "/"
            upstream = "api"
            auth = "public"
            """
        do {
            _ = try ConfigReader(environment: [:]).parse(toml, file: "gateway.conf")
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// A bad URL is a config error naming the key and the problem, and never echoing the password, wherever it
    /// was written (the user part, or libpq's `password=` parameter, which is refused).
    @Test(arguments: [
        ("postgres://gw:hunter2@db/sessions?sslmode=maybe", "sslmode"),
        ("postgres://gw@db/sessions?password=hunter2", "user part"),
    ])
    func configWithABadPostgresURLIsAStartupErrorWithoutThePassword(_ url: String, _ problem: String) throws {
        let text = try #require(Self.configError(storeURL: url))
        #expect(text.contains("store.url") && text.contains(problem), "\(text)")
        #expect(!text.contains("hunter2"), "\(text)")
    }

    /// Errors are one line with PostgreSQL's message and SQLSTATE, inside a transaction too: never the statement.
    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func storeErrorsAreOneLineWithoutTheStatement() async throws {
        try await PostgresTestDatabase.with { url in
            let store = try await PostgresTestDatabase.store(url)
            try await store.create(T.session())
            await #expect {
                try await store.create(T.session())  // the same id again
            } throws: { error in
                let text = "\(error)"
                return error is StoreUnavailable && text.contains("23505") && !text.contains("INSERT") && !text.contains("\n")
            }
            try await PostgresTestDatabase.execute("DROP TABLE auth_gateway_replaced_refresh_tokens", adminURL: url)
            let now = T.login + .milliseconds(1000)
            await #expect {
                _ = try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"),
                                           change: T.change(refresh: "R2", access: "A2", at: now), now: now)
            } throws: { error in
                let text = "\(error)"
                return text.contains("42P01") && !text.contains("INSERT") && !text.contains("\n")
            }
            try await store.close()
        }
    }

    /// A row locked elsewhere (another gateway's stuck transaction): the store answers at its deadline, and
    /// the server gives up the wait too, so the abandoned statement holds no connection and no lock queue.
    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func aLockHeldElsewhereEndsAtTheDeadlineOnTheServerToo() async throws {
        try await PostgresTestDatabase.with { url in
            let store = try await PostgresTestDatabase.store(url, operationTimeout: .seconds(1))
            try await store.create(T.session())
            try await PostgresTestDatabase.withClient(url) { holder in
                let (locked, lockTaken) = AsyncStream<Void>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await holder.withTransaction(logger: Logger(label: "holder", factory: { _ in SwiftLogNoOpLogHandler() })) { connection in
                            let holderLog = Logger(label: "holder", factory: { _ in SwiftLogNoOpLogHandler() })
                            for try await _ in try await connection.query(
                                "SELECT 1 FROM auth_gateway_sessions WHERE id = 'sid-1' FOR UPDATE", logger: holderLog) {}
                            lockTaken.yield()
                            try await Task.sleep(for: .seconds(4))
                        }
                    }
                    for await _ in locked { break }
                    let started = ContinuousClock.now
                    let now = T.login + .milliseconds(1000)
                    await #expect(throws: StoreUnavailable.self) {
                        _ = try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"),
                                                   change: T.change(refresh: "R2", access: "A2", at: now), now: now)
                    }
                    #expect(ContinuousClock.now - started < .seconds(3))
                    try await Task.sleep(for: .milliseconds(500))
                    let waiting = try await PostgresTestDatabase.integer(
                        "SELECT count(*)::bigint FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                        url: url)
                    #expect(waiting == 0, "the store's abandoned statement still waits for the lock on the server")
                    try await group.waitForAll()
                }
            }
            try await store.close()
        }
    }

    // MARK: - a database that is not there

    @Test func refusedConnectionIsStoreUnavailableWithoutThePassword() async throws {
        let port = try Self.refusingPort()
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresTestDatabase.store("postgres://gw:hunter2@127.0.0.1:\(port)/db?sslmode=disable",
                                                     operationTimeout: .seconds(2))
        } throws: { error in
            // The cause itself, not a timeout, and never the password.
            error is StoreUnavailable && "\(error)".contains("refused") && !"\(error)".contains("hunter2")
        }
        // Loose: the whole suite shares 2 cores, and the test's own tasks wait for a thread of the cooperative pool
        // (10.4 s seen once under the full suite; the refusal itself takes milliseconds).
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    /// A server that accepts and never answers: the store gives up at its deadline, it does not wait forever.
    @Test func silentServerIsStoreUnavailableAtTheDeadline() async throws {
        let listener = try Self.silentListener()
        defer { close(listener.fd) }
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresTestDatabase.store("postgres://gw@127.0.0.1:\(listener.port)/db?sslmode=disable",
                                                     operationTimeout: .seconds(1), startupTimeout: .seconds(1))
        } throws: { error in
            // The connection attempt's own timeout, or the store's deadline: either way a timeout, said so.
            error is StoreUnavailable && ("\(error)".contains("Connect timeout") || "\(error)".contains("no answer within"))
        }
        let waited = ContinuousClock.now - started
        // Bounded, not the pool's 60 s circuit breaker; loose, because the whole suite shares 2 cores and the
        // test's own tasks wait for a thread of the cooperative pool.
        #expect(waited >= .milliseconds(900) && waited < .seconds(20), "waited \(waited)")
    }

    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func wrongPasswordIsStoreUnavailable() async throws {
        // A role of its own, with a password checked by SCRAM (the test script's own user is trusted).
        try await PostgresTestDatabase.with { url in
            try await PostgresTestDatabase.store(url).close()  // the tables the role is granted on
            try await PostgresTestDatabase.withRole(granted: "SELECT", in: url) { roleURL in
                var components = try #require(URLComponents(string: roleURL))
                components.password = "not-the-password"
                let wrong = try #require(components.string)
                await #expect {
                    _ = try await PostgresTestDatabase.store(wrong, operationTimeout: .seconds(3))
                } throws: { error in
                    let text = "\(error)"
                    return error is StoreUnavailable && text.contains("28P01") && !text.contains("not-the-password")
                        && !text.contains("\n")
                }
            }
        }
    }

    /// `scripts/test` always starts PostgreSQL; there, its tests must not quietly fall away.
    @Test func postgresIsThereWhenTheTestScriptSaysSo() {
        if ProcessInfo.processInfo.environment["AUTH_GATEWAY_REQUIRE_POSTGRES"] == "1" {
            #expect(PostgresTestDatabase.isAvailable, "AUTH_GATEWAY_TEST_POSTGRES_URL is missing")
        }
    }

    /// Tables that exist are not touched again: a gateway whose database user may only read and write rows
    /// (the tables created by the first start or by a DBA) starts, and a starting gateway takes no lock that
    /// would queue other gateways' writes.
    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func aUserWithoutDDLRightsStartsOnceTheTablesExist() async throws {
        try await Self.withSessionAndRoleStore(granted: "SELECT, INSERT, UPDATE, DELETE") { _, limited in
            #expect(try await limited.session(id: "sid-1") == T.session())
            try await limited.ping()
        }
    }

    /// `ping` (what /readyz asks, docs/http.md#the-gateways-own-endpoints) is a write: a database this gateway can read but not write — a
    /// read-only role here, a hot standby in production — is not ready, though reads still work.
    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func pingFailsWhereTheStoreCanReadButNotWrite() async throws {
        try await Self.withSessionAndRoleStore(granted: "SELECT") { owner, reader in
            #expect(try await reader.session(id: "sid-1") == T.session())
            await #expect(throws: StoreUnavailable.self) { try await reader.ping() }
            try await owner.ping()
        }
    }

    /// A store that created the tables and `T.session()` in a database of its own, and a second store on that
    /// database as a role holding only `privileges` on the tables.
    static func withSessionAndRoleStore(
        granted privileges: String, _ body: (_ owner: PostgresSessionStore, _ role: PostgresSessionStore) async throws -> Void
    ) async throws {
        try await PostgresTestDatabase.with { url in
            let owner = try await PostgresTestDatabase.store(url)
            try await owner.create(T.session())
            try await PostgresTestDatabase.withRole(granted: privileges, in: url) { roleURL in
                let role = try await PostgresTestDatabase.store(roleURL)
                try await body(owner, role)
                try await role.close()
            }
            try await owner.close()
        }
    }

    // MARK: - several gateways on one database

    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func gatewaysStartingTogetherCreateTheSchemaOnce() async throws {
        try await PostgresTestDatabase.with { url in
            let stores = try await withThrowingTaskGroup(of: PostgresSessionStore.self) { group in
                for _ in 0..<6 { group.addTask { try await PostgresTestDatabase.store(url) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(stores.count == 6)
            try await stores[0].create(T.session())
            for store in stores {
                #expect(try await store.session(id: "sid-1") == T.session())
                try await store.ping()
                try await store.close()
            }
        }
    }

    /// Two gateways racing to renew one session (each with the same expectation): exactly one change lands,
    /// and both then read the winner's lineage.
    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func racingGatewaysHaveOneWinnerPerCompareAndSet() async throws {
        try await PostgresTestDatabase.with { url in
            let a = try await PostgresTestDatabase.store(url)
            let b = try await PostgresTestDatabase.store(url)
            try await a.create(T.session())
            let now = T.login + .milliseconds(1000)
            let outcomes = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for i in 0..<40 {
                    let store = i.isMultiple(of: 2) ? a : b
                    group.addTask {
                        let won = try await store.update(sessionID: "sid-1", expecting: .refreshJTI("R1"),
                                                         change: T.change(refresh: "R-\(i)", access: "A-\(i)", at: now), now: now)
                        return ("R-\(i)", won)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter(\.1).map(\.0)
            #expect(winners.count == 1)
            let fromA = try #require(try await a.session(id: "sid-1"))
            #expect(try await b.session(id: "sid-1") == fromA)
            #expect(fromA.refreshJTI == winners.first)
            #expect(try await b.wasReplaced(refreshJTI: "R1", sessionID: "sid-1"))
            // Revoked through one gateway: the other cannot change it any more.
            #expect(try await a.revoke(sessionID: "sid-1", at: now + .milliseconds(1)))
            #expect(try await !b.update(sessionID: "sid-1", expecting: .refreshJTI(fromA.refreshJTI),
                                        change: T.change(refresh: "R-late", access: "A-late", at: now + .milliseconds(2)), now: now + .milliseconds(2)))
            try await a.close()
            try await b.close()
        }
    }

    // MARK: - helpers

    /// A loopback port nothing listens on: a privileged one (tests' listeners get ephemeral ports), checked
    /// by a connection attempt that is refused.
    static func refusingPort() throws -> Int {
        for port in 1..<1024 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let refused = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) != 0 }
            } && errno == ECONNREFUSED
            close(fd)
            if refused { return port }
        }
        throw POSIXError(.EADDRINUSE)
    }

    /// A loopback socket that accepts connections (the kernel's backlog) and never reads or writes.
    static func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { close(fd); throw POSIXError(.EADDRNOTAVAIL) }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
