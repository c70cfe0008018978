import Foundation
import Glibc
import Logging
import Testing
@testable import GatewayCore

/// `store.url = "postgres://…"` (SPEC §2): the URL's forms and errors, and what only a shared store has —
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

    @Test(arguments: [
        ("postgres://gw@/db", "no host"),
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
            "\(error)".contains(message)
        }
    }

    @Test func configWithABadPostgresURLIsAStartupErrorWithoutThePassword() {
        let toml = """
            [store]
            url = "postgres://gw:hunter2@db/sessions?sslmode=maybe"

            [[upstreams]]
            name = "api"
            targets = ["http://127.0.0.1:9000"]

            [[routes]]
            path = "/"
            upstream = "api"
            auth = "public"
            """
        #expect {
            _ = try ConfigReader(environment: [:]).parse(toml, file: "gateway.conf")
        } throws: { error in
            let text = "\(error)"
            return text.contains("store.url") && text.contains("sslmode") && !text.contains("hunter2")
        }
    }

    // MARK: - a database that is not there

    @Test func refusedConnectionIsStoreUnavailableWithoutThePassword() async throws {
        let port = try Self.closedPort()
        let started = ContinuousClock.now
        await #expect {
            _ = try await PostgresTestDatabase.store("postgres://gw:hunter2@127.0.0.1:\(port)/db?sslmode=disable",
                                                     operationTimeout: .seconds(2))
        } throws: { error in
            error is StoreUnavailable && !"\(error)".contains("hunter2")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    /// A server that accepts and never answers: the store gives up at its deadline, it does not wait forever.
    @Test func silentServerIsStoreUnavailableAtTheDeadline() async throws {
        let listener = try Self.silentListener()
        defer { close(listener.fd) }
        let started = ContinuousClock.now
        await #expect(throws: StoreUnavailable.self) {
            _ = try await PostgresTestDatabase.store("postgres://gw@127.0.0.1:\(listener.port)/db?sslmode=disable",
                                                     operationTimeout: .seconds(1))
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(900) && waited < .seconds(5), "waited \(waited)")
    }

    @Test(.enabled(if: PostgresTestDatabase.isAvailable, PostgresTestDatabase.unavailableReason))
    func wrongPasswordIsStoreUnavailable() async throws {
        let admin = try #require(PostgresTestDatabase.adminURL)
        var components = try #require(URLComponents(string: admin))
        components.password = "not-the-password"
        let wrong = try #require(components.string)
        await #expect(throws: StoreUnavailable.self) {
            _ = try await PostgresTestDatabase.store(wrong, operationTimeout: .seconds(3))
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
            let now = T.login + 1000
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
            #expect(try await a.revoke(sessionID: "sid-1", at: now + 1))
            #expect(try await !b.update(sessionID: "sid-1", expecting: .refreshJTI(fromA.refreshJTI),
                                        change: T.change(refresh: "R-late", access: "A-late", at: now + 2), now: now + 2))
            try await a.close()
            try await b.close()
        }
    }

    // MARK: - helpers

    /// A loopback port nothing listens on (bound, then closed).
    static func closedPort() throws -> Int {
        let listener = try silentListener()
        close(listener.fd)
        return listener.port
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
