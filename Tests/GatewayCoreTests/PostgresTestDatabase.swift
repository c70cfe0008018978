import Foundation
import Logging
import PostgresNIO
import Testing
@testable import GatewayCore

/// A database of its own per test, inside the throw-away cluster `scripts/test` starts
/// (`AUTH_GATEWAY_TEST_POSTGRES_URL`, an administrator's URL). Dropped afterwards.
enum PostgresTestDatabase {
    static let adminURL = ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"]
    static var isAvailable: Bool { adminURL.map { !$0.isEmpty } ?? false }
    static let unavailableReason: Comment = "needs AUTH_GATEWAY_TEST_POSTGRES_URL: run scripts/test, which starts PostgreSQL"

    /// Creates a fresh database and hands `body` its URL.
    static func with<T>(_ body: (String) async throws -> T) async throws -> T {
        let admin = try #require(adminURL)
        let name = "agw_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute("CREATE DATABASE \(name)", adminURL: admin)
        var components = try #require(URLComponents(string: admin))
        components.path = "/" + name
        let url = try #require(components.string)
        do {
            let result = try await body(url)
            try? await execute("DROP DATABASE \(name) WITH (FORCE)", adminURL: admin)
            return result
        } catch {
            try? await execute("DROP DATABASE \(name) WITH (FORCE)", adminURL: admin)
            throw error
        }
    }

    /// A login role of its own (password checked by SCRAM) with `privileges` on the store's tables in the
    /// database at `url`; `body` gets that database's URL for the role. The role is dropped afterwards.
    static func withRole(granted privileges: String, in url: String, _ body: (String) async throws -> Void) async throws {
        let admin = try #require(adminURL)
        let role = "agw_role_" + UUID().uuidString.lowercased().prefix(8)
        let password = UUID().uuidString
        try await execute("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'", adminURL: admin)
        var components = try #require(URLComponents(string: url))
        components.user = role
        components.password = password
        let roleURL = try #require(components.string)
        func drop() async {
            try? await execute("DROP OWNED BY \(role)", adminURL: url)
            try? await execute("DROP ROLE \(role)", adminURL: admin)
        }
        do {
            try await execute("GRANT \(privileges) ON auth_gateway_sessions, auth_gateway_replaced_refresh_tokens TO \(role)", adminURL: url)
            try await body(roleURL)
        } catch {
            await drop()
            throw error
        }
        await drop()
    }

    /// Runs one statement (database names cannot be bound parameters) on a connection of its own.
    static func execute(_ sql: String, adminURL: String) async throws {
        try await withClient(adminURL) { client in _ = try await client.query(PostgresQuery(unsafeSQL: sql)) }
    }

    /// Runs `body` with a client of its own on `url` (running while `body` runs).
    static func withClient<T: Sendable>(_ url: String, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = PostgresClient(configuration: try PostgresURL(url).clientConfiguration(),
                                    backgroundLogger: Logger(label: "postgres-test-client", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// The first column of the first row of `sql`, as an integer.
    static func integer(_ sql: String, url: String) async throws -> Int {
        try await withClient(url) { client in
            for try await value in try await client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return value }
            return 0
        }
    }

    /// A store on `url` with logging off. The deadline is long by default: on 2 loaded cores, SCRAM in a debug
    /// build and many parallel connections are slow, and only the deadline tests are about the deadline.
    /// A store on `url`. The start-up (connection, schema) has a bound of its own, 30 s unless a test sets it, as
    /// the gateway's does: on a loaded machine the schema's statements can take longer than a short request bound.
    static func store(_ url: String, operationTimeout: Duration = .seconds(30),
                      startupTimeout: Duration = .seconds(30)) async throws -> PostgresSessionStore {
        try await PostgresSessionStore(url: url, logger: Logger(label: "postgres-store-test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       operationTimeout: operationTimeout, startupTimeout: startupTimeout)
    }
}
